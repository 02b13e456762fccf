# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the whole inventory: layout, pre-flight problems, tiered routes, moved users
(see module_utils/rollout_layout.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from ansible.errors import AnsibleFilterError
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import RegistryError
from ansible_collections.sharedhost.hosting.plugins.module_utils.rollout_summary import (
    AUDIT_HEADER,
    audit_rows,
    audit_violators,
    render_table,
    summary_rows,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils.rollout_layout import (
    GROUPS,
    ROLES,
    departed_users,
    layout_problems,
    tier_backends,
)


def rollout_layout(groups, hostvars):
    """Plain data of the inventory's sharedhost groups: hosts per part, users and address per host."""
    layout = {"hosts": {}}
    for role in ROLES:
        layout[role] = sorted(groups.get(GROUPS[role], []))
        for host in layout[role]:
            hvars = hostvars[host]
            layout["hosts"][host] = {
                "users": hvars.get("sharedhost_users"),
                "address": hvars.get("sharedhost_internal_address"),
                "fleet": hvars.get("sharedhost_fleet") or "default",
            }
    return layout


def _registry_texts(slurped):
    """{host: registry text} from the results of a slurp looped (delegated) over backend hosts."""
    texts = {}
    for result in slurped:
        texts[result["item"]] = base64.b64decode(result["content"]).decode("utf-8")
    return texts


def rollout_tier_backends(layout, slurped, fleet=None):
    try:
        return tier_backends(layout, _registry_texts(slurped), fleet)
    except RegistryError as exc:
        raise AnsibleFilterError(str(exc))


def rollout_departed(layout, host, registry_b64=None):
    text = base64.b64decode(registry_b64).decode("utf-8") if registry_b64 else ""
    try:
        return departed_users(layout, host, text)
    except RegistryError as exc:
        raise AnsibleFilterError(str(exc))


def rollout_summary(hosts, hostvars, groups):
    """Lines of the rollout summary table for ``hosts`` (see module_utils/rollout_summary.py)."""
    parts = {}
    for role, part in (("servers", "server"), ("backends", "backend"), ("frontends", "frontend")):
        for host in groups.get(GROUPS[role], []):
            parts[host] = part

    def facts_of(host):
        hvars = hostvars[host]
        keys = ("sharedhost_rollout_failure", "sharedhost_rollout_done", "sharedhost_users", "frontend_routes",
                "port_allocations_ports", "port_allocations_result", "backends_changed_users",
                "init_scripts_services", "frontend_map_result", "sharedhost_departed_users",
                "port_allocations_enforcement_active")
        return dict((key, hvars.get(key)) for key in keys)

    return render_table(summary_rows(hosts, facts_of, parts))


def _audit_of(hostvars):
    return lambda host: hostvars[host].get("sharedhost_audit") if host in hostvars else None


def audit_summary(hosts, hostvars):
    """Lines of the audit table, one per host."""
    return render_table(audit_rows(hosts, _audit_of(hostvars)), AUDIT_HEADER)


def audit_violators_filter(hosts, hostvars):
    return audit_violators(hosts, _audit_of(hostvars))


class FilterModule(object):
    def filters(self):
        return {
            "rollout_layout": rollout_layout,
            "rollout_problems": layout_problems,
            "rollout_tier_backends": rollout_tier_backends,
            "rollout_departed": rollout_departed,
            "rollout_summary": rollout_summary,
            "audit_summary": audit_summary,
            "audit_violators": audit_violators_filter,
        }
