# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure allocation logic: registry document + request -> new registry document.

Nothing here touches the host; ``allocate`` in port_allocation_run does the
locking and IO. Rules (see docs/architecture.md):

* sticky: a present user keeps every port they hold, whatever the order of
  the request or the range, unless the admin lowers their count or pins
  another port (both reported as released);
* deterministic: new ports go in request order to the lowest port of the range
  that is not allocated, reserved, quarantined or held by a live listener;
* a released port stays in quarantine for ``quarantine_seconds`` before it can
  go to another user; its former owner gets it back first if they return;
* every problem is collected and raised at once, before anything is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sharedhost.hosting.plugins.module_utils.input_checks import (
    ProblemsError,
    as_int as _as_int,
    named_entries,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import (
    REGISTRY_FORMAT,
    REGISTRY_VERSION,
)

USER_PORT_MIN = 1025
USER_PORT_MAX = 65535
STATES = ("present", "absent")


class AllocationError(ProblemsError):
    """The request cannot be satisfied; ``problems`` lists every reason."""


def parse_range(port_range):
    """Validate {start, end}; return (start, end) or raise AllocationError."""
    if not isinstance(port_range, dict):
        raise AllocationError(["port_range must be a mapping with start and end, got %r" % (port_range,)])
    start, end = _as_int(port_range.get("start")), _as_int(port_range.get("end"))
    problems = []
    for key, value in (("start", start), ("end", end)):
        if value is None:
            problems.append("port_range.%s must be an integer, got %r" % (key, port_range.get(key)))
        elif not USER_PORT_MIN <= value <= USER_PORT_MAX:
            problems.append("port_range.%s %d is outside %d-%d (ports up to 1024 are privileged)"
                            % (key, value, USER_PORT_MIN, USER_PORT_MAX))
    if not problems and start > end:
        problems.append("port_range start %d is greater than end %d" % (start, end))
    if problems:
        raise AllocationError(problems)
    return start, end


def parse_reserved(reserved):
    """Reserved entries are ports or 'a-b' spans; return the set of ports."""
    ports = set()
    problems = []
    for item in reserved or []:
        single = _as_int(item)
        span = re.match(r"^\s*(\d+)\s*-\s*(\d+)\s*$", item) if isinstance(item, str) else None
        if single is not None:
            low = high = single
        elif span:
            low, high = int(span.group(1)), int(span.group(2))
        else:
            problems.append("reserved entry %r is neither a port nor a 'start-end' span" % (item,))
            continue
        if not (1 <= low <= high <= USER_PORT_MAX):
            problems.append("reserved entry %r is not a valid port or span within 1-65535" % (item,))
            continue
        ports.update(range(low, high + 1))
    if problems:
        raise AllocationError(problems)
    return ports


def parse_users(users, start, end, reserved):
    """Validate the user entries; return a list of dicts name/count/port/state.

    Keys other than name, ports (alias count), port, state and socket are ignored
    so that the inventory's full user entries (vhosts, backend, ...) can be passed.
    A user with ``socket: true`` is handled like an absent one: no port.
    """
    if not isinstance(users, list):
        raise AllocationError(["users must be a list, got %s" % type(users).__name__])
    problems = []
    parsed = []
    for _index, where, entry in named_entries(users, problems):
        name = entry["name"]

        if entry.get("socket") is True:
            # A Unix-socket backend holds no TCP port: any port it held is released
            # into quarantine, as for a user who left.
            served = entry.get("state", "present") == "present"
            parsed.append({"name": name, "count": 0, "port": None, "state": "absent", "socket": served})
            continue
        if "ports" in entry and "count" in entry:
            problems.append("%s: give the number of ports as 'ports' or 'count', not both" % where)
            continue
        raw_count = entry.get("ports", entry.get("count", 1))
        count = _as_int(raw_count)
        if count is None or count < 1:
            problems.append("%s: number of ports must be an integer >= 1, got %r" % (where, raw_count))
            continue

        state = entry.get("state", "present")
        if state not in STATES:
            problems.append("%s: state must be one of %s, got %r" % (where, ", ".join(STATES), state))
            continue

        pin = entry.get("port")
        if pin is not None:
            raw_pin = pin
            pin = _as_int(pin)
            if pin is None:
                problems.append("%s: pinned port must be an integer, got %r" % (where, raw_pin))
                continue
            if not USER_PORT_MIN <= pin <= USER_PORT_MAX:
                problems.append("%s: pinned port %d is outside %d-%d" % (where, pin, USER_PORT_MIN, USER_PORT_MAX))
                continue
            if not start <= pin <= end:
                problems.append("%s: pinned port %d is outside the port range %d-%d" % (where, pin, start, end))
                continue
            if pin in reserved:
                problems.append("%s: pinned port %d is reserved" % (where, pin))
                continue
        parsed.append({"name": name, "count": count, "port": pin, "state": state, "socket": False})
    if problems:
        raise AllocationError(problems)
    return parsed


class Plan(object):
    """The outcome of one allocation: the new document and what changed."""

    def __init__(self, registry, changed, allocated, released, free, active_quarantine, warnings):
        self.registry = registry
        self.changed = changed
        self.allocated = allocated
        self.released = released
        self.free = free
        self.active_quarantine = active_quarantine
        self.warnings = warnings

    @property
    def ports(self):
        return dict((name, list(entry["ports"])) for name, entry in self.registry["users"].items())


def _fmt_ports(ports):
    return ", ".join(str(p) for p in sorted(ports))


def plan(registry, users, port_range, reserved=None, now=0, busy_ports=frozenset(),
         quarantine_seconds=86400, authoritative=False):
    """Compute the allocation. ``registry`` must already be validated.

    Raises AllocationError listing every problem; returns a Plan otherwise.
    """
    start, end = parse_range(port_range)
    reserved_ports = parse_reserved(reserved)
    request = parse_users(users, start, end, reserved_ports)

    holdings = dict((name, set(entry["ports"])) for name, entry in registry["users"].items())
    owner = {}
    for name, ports in holdings.items():
        for port in ports:
            owner[port] = name
    quarantine = dict((q["port"], dict(q)) for q in registry["quarantine"])
    allocated = {}
    released = {}
    problems = []

    def release(name, ports):
        for port in ports:
            holdings[name].discard(port)
            owner.pop(port, None)
            quarantine[port] = {"port": port, "user": name, "released_at": int(now)}
        if ports:
            released.setdefault(name, []).extend(sorted(ports))
        if not holdings[name]:
            del holdings[name]

    def grant(name, port):
        holdings.setdefault(name, set()).add(port)
        owner[port] = name
        quarantine.pop(port, None)
        allocated.setdefault(name, []).append(port)

    def quarantined_for_others(port, name):
        entry = quarantine.get(port)
        return (entry is not None and entry["user"] != name
                and entry["released_at"] + quarantine_seconds > now)

    # 1. Releases: explicit absent users, and in authoritative mode everybody not listed.
    wanted = dict((u["name"], u) for u in request)
    for user in request:
        if user["state"] == "absent" and user["name"] in holdings:
            release(user["name"], sorted(holdings[user["name"]]))
    if authoritative:
        for name in sorted(holdings):
            if name not in wanted:
                release(name, sorted(holdings[name]))

    present = [u for u in request if u["state"] == "present"]

    # 2. Existing allocations must still fit: never move one silently.
    for user in present:
        for port in sorted(holdings.get(user["name"], ())):
            if not start <= port <= end:
                problems.append("user %r holds port %d, outside the new port range %d-%d; widen the range "
                                "or release the user first (allocations are never moved silently)"
                                % (user["name"], port, start, end))
            elif port in reserved_ports:
                problems.append("user %r holds port %d, which is now reserved; unreserve it or release "
                                "the user first (allocations are never moved silently)" % (user["name"], port))
    # Users kept by a non-authoritative run are checked too: the range is for all of them.
    for name in sorted(holdings):
        if name in wanted:
            continue
        outside = [p for p in holdings[name] if not start <= p <= end]
        if outside:
            problems.append("user %r (not in this request) holds port(s) %s outside the port range %d-%d; "
                            "release them or widen the range" % (name, _fmt_ports(outside), start, end))

    # 3. Pinned ports, before any automatic allocation can take them.
    for user in present:
        pin, name = user["port"], user["name"]
        if pin is None or owner.get(pin) == name:
            continue
        if pin in owner:
            problems.append("user %r: pinned port %d already belongs to user %r" % (name, pin, owner[pin]))
        elif quarantined_for_others(pin, name):
            entry = quarantine[pin]
            problems.append("user %r: pinned port %d is in quarantine after its release by %r until %d"
                            % (name, pin, entry["user"], entry["released_at"] + quarantine_seconds))
        else:
            grant(name, pin)
    if problems:
        raise AllocationError(problems)

    # 4. Lowered counts (or a new pin) release the surplus, highest ports first.
    for user in present:
        held = holdings.get(user["name"], set())
        surplus = len(held) - user["count"]
        if surplus > 0:
            keep_first = sorted(held, key=lambda p: (p != user["port"], p))
            release(user["name"], keep_first[user["count"]:])

    def usable(port):
        return start <= port <= end and port not in reserved_ports and port not in owner

    # 5. Returning users get their own quarantined ports back first.
    for user in present:
        name = user["name"]
        need = user["count"] - len(holdings.get(name, ()))
        if need <= 0:
            continue
        own = sorted(p for p, q in quarantine.items() if q["user"] == name and usable(p))
        for port in own[:need]:
            grant(name, port)

    # 6. Fresh ports: one ascending sweep over the range serves everybody.
    def free_ports():
        for port in range(start, end + 1):
            if usable(port) and port not in busy_ports and not quarantined_for_others(port, None):
                yield port

    sweep = free_ports()
    unserved = []
    for user in present:
        name = user["name"]
        need = user["count"] - len(holdings.get(name, ()))
        while need > 0:
            port = next(sweep, None)
            if port is None:
                break
            grant(name, port)
            need -= 1
        if need > 0:
            unserved.append((name, need))
    if unserved:
        still_free = sum(1 for _port in free_ports())
        in_quarantine = sum(1 for p in quarantine if quarantined_for_others(p, None) and start <= p <= end)
        busy = sum(1 for p in busy_ports if usable(p))
        raise AllocationError([
            "port range %d-%d exhausted: cannot serve %s; %d port(s) free after the others were served "
            "(%d in quarantine, %d reserved in range, %d busy with a live listener)"
            % (start, end, ", ".join("%s (needs %d more)" % item for item in unserved), still_free,
               in_quarantine, sum(1 for p in reserved_ports if start <= p <= end), busy)])

    # 7. Build the new document; expired quarantine is pruned only when writing anyway.
    def document(prune):
        entries = [q for q in quarantine.values()
                   if not prune or q["released_at"] + quarantine_seconds > now]
        users_doc = {}
        for name in sorted(holdings):
            previous = registry["users"].get(name, {})
            entry = dict(previous)
            entry["ports"] = sorted(holdings[name])
            users_doc[name] = entry
        doc = dict(registry)
        doc.update({"format": REGISTRY_FORMAT, "version": REGISTRY_VERSION, "users": users_doc,
                    "quarantine": sorted(entries, key=lambda q: q["port"])})
        return doc

    unpruned = document(prune=False)
    changed = unpruned != registry
    new_registry = document(prune=True) if changed else registry

    active = [dict(q, until=q["released_at"] + quarantine_seconds)
              for q in new_registry["quarantine"] if q["released_at"] + quarantine_seconds > now]
    warnings = []
    for user in present:
        if user["port"] is not None and user["port"] in busy_ports and user["port"] in allocated.get(user["name"], []):
            warnings.append("user %r: pinned port %d already has a live listener on this host"
                            % (user["name"], user["port"]))
    free = sum(1 for _port in free_ports())
    return Plan(new_registry, changed,
                dict((n, sorted(p)) for n, p in allocated.items()),
                dict((n, sorted(p)) for n, p in released.items()),
                free, active, warnings)
