# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hosted-user entry of the inventory: validation and defaults.

One place knows what a valid ``sharedhost_users`` entry is, so every role
and the pre-flight check report the same problems with the same words, and
templates can rely on every key being present after ``normalize_users``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.sharedhost.hosting.plugins.module_utils.input_checks import named_entries

BACKEND_KINDS = ("apache", "command")
STATES = ("present", "absent")
KNOWN_KEYS = frozenset((
    "name", "vhosts", "backend", "command", "modperl", "ports", "count", "port", "state", "limits",
    "uid", "comment", "shell", "home", "https_redirect", "socket",
))
# Where socket backends listen (socket: true): one directory per user, owned by the
# user, group-accessible to the frontend only. The allocator gives such users no port.
SOCKET_DIR = "/var/lib/sharedhost/sockets"
SOCKET_NAME = "http.sock"
LIMIT_KEYS = ("memory", "tasks", "cpu", "nofile", "nproc")
# RFC 1123 host names, compared case-insensitively; no wildcards: the frontend
# map is an exact lookup, and a wildcard would silently match nothing.
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$")
MEMORY_RE = re.compile(r"^(\d+[KMGT]?|\d{1,3}%|infinity)$")
CPU_RE = re.compile(r"^\d{1,5}%$")

DEFAULT_LIMITS = {"memory": "512M", "tasks": 256, "cpu": "100%", "nofile": 1024, "nproc": 256}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _limit_problems(where, limits):
    problems = []
    if not isinstance(limits, dict):
        return ["%s: limits must be a mapping, got %r" % (where, limits)]
    for key in sorted(set(limits) - set(LIMIT_KEYS)):
        problems.append("%s: unknown limit %r (known: %s)" % (where, key, ", ".join(LIMIT_KEYS)))
    if "memory" in limits and not MEMORY_RE.match(str(limits["memory"])):
        problems.append("%s: limits.memory %r is not a size like 512M, a percentage, or infinity"
                        % (where, limits["memory"]))
    if "cpu" in limits and not CPU_RE.match(str(limits["cpu"])):
        problems.append("%s: limits.cpu %r is not a percentage like 50%%" % (where, limits["cpu"]))
    for key in ("tasks", "nofile", "nproc"):
        if key in limits and not (_is_int(limits[key]) and limits[key] >= 1):
            problems.append("%s: limits.%s must be an integer >= 1, got %r" % (where, key, limits[key]))
    return problems


def _command_problems(where, command, socket):
    if not isinstance(command, str) or not command.strip():
        return ["%s: backend 'command' needs a 'command' line" % where]
    if socket and "{socket}" not in command:
        return ["%s: command %r has no {socket} placeholder, so it cannot listen on its socket (%s/<user>/%s)"
                % (where, command, SOCKET_DIR, SOCKET_NAME)]
    if socket and "{port}" in command:
        return ["%s: command %r uses {port}, but a socket backend gets no port (use {socket})" % (where, command)]
    if not socket and "{port}" not in command:
        return ["%s: command %r has no {port} placeholder, so it cannot listen on its allocated port"
                % (where, command)]
    return []


def socket_path(name):
    """The Unix socket a socket backend (socket: true) listens on, which the frontend connects to."""
    return "%s/%s/%s" % (SOCKET_DIR, name, SOCKET_NAME)


def user_problems(users):
    """Every problem of a ``sharedhost_users`` list, as sentences naming the entry."""
    if not isinstance(users, list):
        return ["sharedhost_users must be a list, got %s" % type(users).__name__]
    problems = []
    vhost_owner = {}
    for _index, where, entry in named_entries(users, problems, "sharedhost_users"):
        name = entry["name"]
        for key in sorted(set(entry) - KNOWN_KEYS):
            problems.append("%s: unknown key %r (known: %s)" % (where, key, ", ".join(sorted(KNOWN_KEYS))))
        state = entry.get("state", "present")
        if state not in STATES:
            problems.append("%s: state must be present or absent, got %r" % (where, state))
        backend = entry.get("backend", "apache")
        if backend not in BACKEND_KINDS:
            problems.append("%s: backend must be one of %s, got %r" % (where, ", ".join(BACKEND_KINDS), backend))
        socket = entry.get("socket", False)
        if not isinstance(socket, bool):
            problems.append("%s: socket must be true or false, got %r" % (where, socket))
            socket = False
        if backend == "command":
            problems.extend(_command_problems(where, entry.get("command"), socket))
        elif "command" in entry:
            problems.append("%s: 'command' is only used with backend: command" % where)
        if socket and backend != "command":
            problems.append("%s: socket needs backend: command (an app server that listens on a Unix socket)" % where)
        if socket and any(key in entry for key in ("ports", "count", "port")):
            problems.append("%s: a socket backend gets no TCP port; remove ports/count/port or socket" % where)
        if "modperl" in entry and not isinstance(entry["modperl"], bool):
            problems.append("%s: modperl must be true or false, got %r" % (where, entry["modperl"]))
        if "https_redirect" in entry and not isinstance(entry["https_redirect"], bool):
            problems.append("%s: https_redirect must be true or false, got %r" % (where, entry["https_redirect"]))
        if entry.get("modperl") and backend != "apache":
            problems.append("%s: modperl needs backend: apache" % where)
        if "limits" in entry:
            problems.extend(_limit_problems(where, entry["limits"]))

        vhosts = entry.get("vhosts", [])
        if isinstance(vhosts, str) or not isinstance(vhosts, list):
            problems.append("%s: vhosts must be a list of host names, got %r" % (where, vhosts))
            continue
        for vhost in vhosts:
            if not isinstance(vhost, str) or not HOSTNAME_RE.match(vhost.lower()):
                problems.append("%s: invalid vhost %r (a host name like www.example.com; no wildcards, "
                                "no ports, no schemes)" % (where, vhost))
                continue
            key = vhost.lower().rstrip(".")
            if state != "present":
                continue  # a leaving user's names are being unrouted, not claimed
            if key in vhost_owner:
                other = vhost_owner[key]
                if other == name:
                    problems.append("%s: vhost %r is listed twice for %s" % (where, vhost, name))
                else:
                    problems.append("vhost %r is claimed by both %s and %s" % (key, other, name))
                continue
            vhost_owner[key] = name
    return problems


def normalize_users(users, default_limits=None):
    """Entries with every key filled in; call after user_problems() found nothing."""
    limits_base = dict(DEFAULT_LIMITS)
    limits_base.update(default_limits or {})
    result = []
    for entry in users:
        user = dict(entry)
        user.setdefault("state", "present")
        user.setdefault("backend", "apache")
        user.setdefault("modperl", False)
        user.setdefault("https_redirect", False)
        user.setdefault("command", None)
        user.setdefault("socket", False)
        user["socket_path"] = socket_path(user["name"]) if user["socket"] else None
        if "count" in user and "ports" not in user:
            user["ports"] = user.pop("count")
        user.setdefault("ports", 1)
        user.setdefault("port", None)
        user["vhosts"] = [v.lower().rstrip(".") for v in user.get("vhosts", [])]
        limits = dict(limits_base)
        limits.update(user.get("limits") or {})
        user["limits"] = limits
        user.setdefault("home", "/home/%s" % user["name"])
        result.append(user)
    return result
