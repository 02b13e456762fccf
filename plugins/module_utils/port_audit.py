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
