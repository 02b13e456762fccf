# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The whole inventory as one rollout: which host plays which part, and what is wrong with it.

A *layout* is plain data taken from the inventory (see the rollout_layout
filter)::

    {"servers": ["web1"], "backends": ["be1", "be2"], "frontends": ["fe1"],
     "hosts": {"be1": {"users": [...], "address": "10.0.0.11"}, ...}}

``servers`` are self-contained shared hosts (frontend and backends on one
machine); ``frontends`` route to the users' backends on ``backends``. A host's
``fleet`` (default "default") scopes the cross-host rules: hosts of different
fleets, such as staging and production, may carry the same users and vhosts,
and a frontend routes only to the backend hosts of its own fleet. The
pre-flight check runs on it before any host changes, and the frontends build
their routes from it and the backend hosts' port registries.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import (
    RegistryError,
    validate_registry,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils.user_spec import user_problems

ROLES = ("servers", "backends", "frontends")
GROUPS = {"servers": "sharedhost_servers", "backends": "sharedhost_backends", "frontends": "sharedhost_frontends"}


def _is_ip(value):
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def layout_problems(layout):
    """Every problem of the whole inventory, as sentences naming hosts, users and vhosts."""
    problems = []
    hosts = layout.get("hosts", {})
    member = {}
    for role in ROLES:
        for host in layout.get(role, []):
            member.setdefault(host, []).append(role)
    for host in sorted(member):
        if len(member[host]) > 1:
            problems.append("host %s is in more than one of %s (a host is either a self-contained server, "
                            "a backend host or a frontend host)"
                            % (host, ", ".join(GROUPS[role] for role in member[host])))
    if not member:
        problems.append("no hosts in %s, %s or %s" % tuple(GROUPS[role] for role in ROLES))
    if layout.get("backends") and not layout.get("frontends"):
        problems.append("%s has hosts (%s) but %s has none: nothing would route to their users"
                        % (GROUPS["backends"], ", ".join(layout["backends"]), GROUPS["frontends"]))
    if layout.get("frontends") and not layout.get("backends"):
        problems.append("%s has hosts (%s) but %s has none: they would have nothing to route to"
                        % (GROUPS["frontends"], ", ".join(layout["frontends"]), GROUPS["backends"]))

    for host in layout.get("backends", []) + layout.get("frontends", []):
        address = hosts.get(host, {}).get("address")
        if not _is_ip(address):
            problems.append("%s: sharedhost_internal_address must be the host's IP address on the network between "
                            "frontends and backends, got %r" % (host, address))
    for host in layout.get("frontends", []):
        if hosts.get(host, {}).get("users"):
            problems.append("%s: frontend hosts serve no users of their own; put sharedhost_users on a host of %s"
                            % (host, GROUPS["backends"]))

    user_host = {}
    vhost_owner = {}
    for host in layout.get("servers", []) + layout.get("backends", []):
        fleet = hosts.get(host, {}).get("fleet") or "default"
        users = hosts.get(host, {}).get("users")
        if users is None:
            users = []
        problems.extend("%s: %s" % (host, problem) for problem in user_problems(users))
        if not isinstance(users, list):
            continue
        for entry in users:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                continue
            if entry.get("state", "present") != "present":
                continue
            name = entry["name"]
            if entry.get("socket") is True and host in layout.get("backends", []):
                problems.append("%s: user %s has socket: true, but a Unix socket is reachable only by a frontend on the "
                                "same host; put the user on a host of %s or give them a port" % (host, name, GROUPS["servers"]))
            if (fleet, name) in user_host and user_host[fleet, name] != host:
                problems.append("user %s is placed on both %s and %s" % (name, user_host[fleet, name], host))
            user_host.setdefault((fleet, name), host)
            vhosts = entry.get("vhosts", [])
            if not isinstance(vhosts, list):
                continue
            for vhost in vhosts:
                if not isinstance(vhost, str):
                    continue
                key = vhost.lower().rstrip(".")
                owner = vhost_owner.setdefault((fleet, key), (name, host))
                if owner[1] != host:
                    problems.append("vhost %s is claimed by %s on %s and by %s on %s"
                                    % (key, owner[0], owner[1], name, host))
    return problems


def _registry_ports(host, content):
    """{user: ports} of a backend host's registry (JSON text), failing closed on a bad one."""
    try:
        doc = validate_registry(json.loads(content), source="port registry of %s" % host)
    except ValueError as exc:
        raise RegistryError("port registry of %s is not JSON: %s" % (host, exc))
    return dict((name, entry["ports"]) for name, entry in doc["users"].items())


def tier_backends(layout, registries, fleet=None):
    """The frontend role's ``frontend_backends`` for a frontend host of the tiered layout.

    ``registries`` maps each backend host to the text of its port registry.
    Every backend host contributes its inventory users (a user who moved away
    is routed to the new host only) with the ports its registry holds.
    """
    result = []
    for host in layout.get("backends", []):
        if fleet is not None and (layout["hosts"].get(host, {}).get("fleet") or "default") != fleet:
            continue
        if host not in registries:
            raise RegistryError("no port registry was read from backend host %s" % host)
        info = layout["hosts"].get(host, {})
        result.append({"host": host, "address": info.get("address"), "users": info.get("users") or [],
                       "ports": _registry_ports(host, registries[host])})
    return result


def departed_users(layout, host, registry_text):
    """Users in ``host``'s registry who are now placed on another host of the layout,
    as ``sharedhost_users`` entries with ``state: absent``.

    They moved: once the frontends route to their new host, the old host stops
    their backend and releases their ports (the account and files stay).
    """
    if not registry_text:
        return []
    here = set()
    elsewhere = set()
    fleet = layout["hosts"].get(host, {}).get("fleet") or "default"
    for other in layout.get("servers", []) + layout.get("backends", []):
        if (layout["hosts"].get(other, {}).get("fleet") or "default") != fleet:
            continue
        for entry in layout["hosts"].get(other, {}).get("users") or []:
            if other == host:
                here.add(entry["name"])  # listed here in any state: the roles handle it already
            elif entry.get("state", "present") == "present":
                elsewhere.add(entry["name"])
    allocated = _registry_ports(host, registry_text)
    return [{"name": name, "state": "absent"}
            for name in sorted(allocated) if name in elsewhere and name not in here]
