# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout summary: one readable line per host from the facts the roles leave behind."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

HEADER = ("host", "part", "status", "users", "ports", "changed by this run", "enforcement")
UNIT_RE = re.compile(r"^sharedhost-backend@(.+)\.service$")


def _names(items, limit=4):
    items = sorted(items)
    if len(items) > limit:
        return "%s +%d" % (",".join(items[:limit]), len(items) - limit)
    return ",".join(items)


def _units(units):
    return [UNIT_RE.sub(r"\1", unit) for unit in units or []]


def _ports(ports_by_user):
    ports = sorted(port for ports in (ports_by_user or {}).values() for port in ports)
    if not ports:
        return "-"
    if len(ports) == 1:
        return str(ports[0])
    return "%d in %d-%d" % (len(ports), ports[0], ports[-1])


def _changes(facts):
    parts = []
    allocation = facts.get("port_allocations_result") or {}
    for key, label in (("allocated", "new ports"), ("released", "released")):
        if allocation.get(key):
            parts.append("%s: %s" % (label, _names(allocation[key])))
    if facts.get("backends_changed_users"):
        parts.append("configs: %s" % _names(facts["backends_changed_users"]))
    services = facts.get("init_scripts_services") or {}
    for key in ("started", "restarted", "stopped"):
        if services.get(key):
            parts.append("%s: %s" % (key, _names(_units(services[key]))))
    if services.get("failed_units"):
        parts.append("FAILED units: %s" % _names(_units(services["failed_units"])))  # a dict keyed by unit
    if (facts.get("frontend_map_result") or {}).get("changed"):
        parts.append("routes published")
    departed = facts.get("sharedhost_departed_users") or []
    if departed:
        parts.append("moved away: %s" % _names(entry["name"] for entry in departed))
    return "; ".join(parts) or "nothing"


def summary_rows(hosts, facts_of, parts):
    """Rows (tuples of text) for ``hosts``; ``facts_of(host)`` gives a host's variables as a dict-like."""
    rows = []
    for host in hosts:
        facts = facts_of(host)
        part = parts.get(host, "server")
        failure = facts.get("sharedhost_rollout_failure")
        if failure:
            status = "FAILED"
        elif facts.get("sharedhost_rollout_done"):
            status = "ok"
        else:
            status = "not started"
        users = [entry.get("name", "?") for entry in facts.get("sharedhost_users") or []
                 if isinstance(entry, dict) and entry.get("state", "present") == "present"]
        if part == "frontend":
            users_text = "%d routes" % len(facts.get("frontend_routes") or [])
            ports_text = "-"
        else:
            users_text = str(len(users))
            present = set(users)
            ports_text = _ports(dict((name, ports) for name, ports in (facts.get("port_allocations_ports") or {}).items()
                                     if name in present))
        changes = "-" if status == "not started" else _changes(facts)
        enforcement = "+".join(facts.get("port_allocations_enforcement_active") or []) or "-"
        rows.append((host, part, status, users_text, ports_text, changes, enforcement))
        if failure:
            rows.append(("", "", "", "", "", "why: %s" % " ".join(str(failure).split()), ""))
    return rows


def render_table(rows, header=HEADER):
    """Fixed-width text table, the last column left unpadded."""
    table = [tuple(header)] + [tuple(row) for row in rows]
    widths = [max(len(row[col]) for row in table) for col in range(len(header))]
    lines = []
    for index, row in enumerate(table):
        cells = [row[col].ljust(widths[col]) for col in range(len(header) - 1)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


AUDIT_HEADER = ("host", "allocated ports", "serving", "squatters", "strays", "missing", "remediation")


def audit_rows(hosts, result_of):
    """One row per audited host from its port_audit result (after remediation when there was one)."""
    rows = []
    for host in hosts:
        result = result_of(host)
        if not result or "summary" not in result:
            rows.append((host, "-", "-", "-", "-", "-", "not audited (unreachable or failed)"))
            continue
        final = result.get("after") or result
        summary = final["summary"]
        rows.append((host, str(summary["allocated_ports"]), str(summary["serving"]), str(summary["squatters"]),
                     str(summary["strays"]), str(summary["missing"]),
                     "%d action(s)" % len(result.get("remediation") or []) if result.get("remediation") else "-"))
    return rows


def audit_violators(hosts, result_of):
    """Hosts whose final audit found squatters or strays."""
    bad = []
    for host in hosts:
        result = result_of(host) or {}
        final = result.get("after") or result
        if final.get("summary", {}).get("violations", 0) > 0:
            bad.append(host)
    return bad
