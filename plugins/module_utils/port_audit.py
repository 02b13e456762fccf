# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live listeners against the port registry: squatters, missing backends, strays.

Pure functions over data read from /proc, so tests feed them whatever they
like; ``socket_processes`` is the only part that reads /proc/<pid>/fd.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os


def socket_processes(proc_root="/proc"):
    """Socket inode -> list of {pid, command} of the processes holding it."""
    holders = {}
    try:
        pids = [name for name in os.listdir(proc_root) if name.isdigit()]
    except OSError:
        return holders
    for pid in pids:
        fd_dir = os.path.join(proc_root, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to read
        command = None
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if not target.startswith("socket:["):
                continue
            if command is None:
                command = _command_of(proc_root, pid)
            inode = int(target[8:-1])
            holders.setdefault(inode, []).append({"pid": int(pid), "command": command})
    return holders


def _command_of(proc_root, pid):
    try:
        with open(os.path.join(proc_root, pid, "cmdline"), "rb") as handle:
            raw = handle.read()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def audit(registry, listeners, user_uids, uid_names, port_range, holders=None):
    """Compare the registry with live listeners.

    registry: a validated registry document; listeners: from proc_net;
    user_uids: user name -> uid (None when the account is missing);
    uid_names: uid -> user name; port_range: (start, end) or None for
    "allocated ports only"; holders: from socket_processes().
    """
    holders = holders or {}
    owner_of = {}
    for name, entry in registry["users"].items():
        for port in entry["ports"]:
            owner_of[port] = name
    start, end = port_range if port_range else (None, None)

    def in_scope(port):
        return port in owner_of or (start is not None and start <= port <= end)

    def describe(listener):
        procs = holders.get(listener["inode"], [])
        return {
            "port": listener["port"],
            "address": listener["address"],
            "actual_user": uid_names.get(listener["uid"], str(listener["uid"])),
            "actual_uid": listener["uid"],
            "pids": sorted(set(p["pid"] for p in procs)),
            "command": procs[0]["command"] if procs else "",
        }

    squatters, strays = [], []
    listening = {}
    seen = set()
    for listener in sorted(listeners, key=lambda item: (item["port"], item["address"])):
        port = listener["port"]
        if not in_scope(port):
            continue
        key = (port, listener["address"], listener["uid"], listener["inode"])
        if key in seen:
            continue
        seen.add(key)
        listening.setdefault(port, []).append(listener)
        owner = owner_of.get(port)
        if owner is None:
            strays.append(describe(listener))
        elif user_uids.get(owner) != listener["uid"]:
            item = describe(listener)
            item["expected_user"] = owner
            squatters.append(item)

    missing = []
    for port in sorted(owner_of):
        owner = owner_of[port]
        ok = [entry for entry in listening.get(port, []) if entry["uid"] == user_uids.get(owner)]
        if not ok:
            missing.append({"port": port, "user": owner})

    return {
        "squatters": squatters,
        "missing": missing,
        "strays": strays,
        "summary": {
            "allocated_ports": len(owner_of),
            "serving": len(owner_of) - len(missing),
            "squatters": len(squatters),
            "missing": len(missing),
            "strays": len(strays),
            "violations": len(squatters) + len(strays),
        },
    }


def unit_of(pid, proc_root="/proc"):
    """The systemd service a process runs in (from its cgroup), or None (a session, cron, not readable)."""
    try:
        with open(os.path.join(proc_root, str(pid), "cgroup")) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return None
    for line in lines:
        path = line.split(":", 2)[-1]
        last = path.rstrip("/").rsplit("/", 1)[-1]
        if last.endswith(".service") and "/user@" not in path:
            return last
    return None


def remediation_plan(result, min_uid, kill_strays, unit_template, unit_of_pid=unit_of):
    """What remediation does, in order: [(action, target, sentence)].

    action is "stop_unit" (the squatter is the offender's own backend unit:
    killing its process would only let Restart= bring it back), "kill" (any
    other process: a session, a cron job, a transient service; the service it
    runs in, cron for one, stays), "restart" (a rightful owner's backend) or
    "note" (nothing can be done: a system account's process, or no process
    visible).
    """
    plan, owners, stopped_units = [], set(), set()
    targets = [(item, "squatting on port %d of %s" % (item["port"], item["expected_user"]))
               for item in result["squatters"]]
    if kill_strays:
        targets += [(item, "on unallocated port %d" % item["port"]) for item in result["strays"]]
    for item, why in targets:
        if item["actual_uid"] < min_uid:
            plan.append(("note", None, "not stopping %s (uid %d, a system account) %s"
                         % (item["actual_user"], item["actual_uid"], why)))
            continue
        if not item["pids"]:
            plan.append(("note", None, "cannot stop the process of %s %s: no process holding the socket is "
                         "visible (root needs CAP_SYS_PTRACE to read other users' /proc/PID/fd)"
                         % (item["actual_user"], why)))
            continue
        own_unit = unit_template.format(user=item["actual_user"])
        for pid in item["pids"]:
            if unit_of_pid(pid) != own_unit:
                plan.append(("kill", pid, "stopped pid %d (%s) %s" % (pid, item["actual_user"], why)))
            elif own_unit not in stopped_units:
                stopped_units.add(own_unit)
                plan.append(("stop_unit", own_unit, "stopped %s (pid %d, %s) %s"
                             % (own_unit, pid, item["actual_user"], why)))
        if "expected_user" in item:
            owners.add(item["expected_user"])
    for owner in sorted(owners):
        unit = unit_template.format(user=owner)
        if unit not in stopped_units:
            plan.append(("restart", unit, "restarted %s" % unit))
    return plan
