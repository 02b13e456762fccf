# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hosts without systemd: rlimits in place of a unit's limits, and the backends
reconciled through the LSB script /etc/init.d/sharedhost-backends.

- ``rlimits`` turns a user's normalized limits into the numbers the init script
  sets as root (``ulimit``) before it drops to the user;
- ``reconcile`` brings every backend to its wanted state with a constant number
  of init script calls (one ``states`` call before, one per action, one after)
  and reports ``changed`` from the states before and after.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.sharedhost.hosting.plugins.module_utils.backend_services import (
    InvalidRequest,
    ServiceError,
)

SCRIPT = "/etc/init.d/sharedhost-backends"
LOG_DIR = "/var/log/sharedhost-backends"
UNIT_RE = re.compile(r"^sharedhost-backend@([a-z_][a-z0-9_.-]*)\.service$")
USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]*$")
SIZE_RE = re.compile(r"^(\d+)([KMGT]?)$")
SIZE_FACTORS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def rlimits(limits, address_space_factor=8):
    """{nofile, nproc, address_space_kb} for a user's normalized limits.

    nproc is the smaller of nproc and tasks (RLIMIT_NPROC counts the user's
    threads too, like TasksMax=). The address space is ``memory`` times
    ``address_space_factor`` (a threaded server reserves far more address space
    than it ever uses: thread stacks, malloc arenas), in KiB; ``unlimited`` for
    a percentage, ``infinity`` or a factor of 0. The cpu quota has no rlimit.
    """
    nproc = min(int(limits["nproc"]), int(limits["tasks"]))
    match = SIZE_RE.match(str(limits["memory"]))
    if match and address_space_factor:
        size = int(match.group(1)) * SIZE_FACTORS[match.group(2)] * address_space_factor
        address_space = str(max(int(size // 1024), 1))
    else:
        address_space = "unlimited"
    return {"nofile": int(limits["nofile"]), "nproc": nproc, "address_space_kb": address_space}


def user_of(unit):
    """The user of a backend unit name (sharedhost-backend@USER.service), or a plain user name."""
    match = UNIT_RE.match(unit)
    if match:
        return match.group(1)
    if USER_RE.match(unit):
        return unit
    return None


def parse_states(output):
    """{user: 'running'|'stopped'} from the init script's ``states`` lines."""
    states = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) == 2 and words[1] in ("running", "stopped"):
            states[words[0]] = words[1]
    return states


# The systemd mode's ActiveState words, so results read the same on both.
ACTIVE = {"running": "active", "stopped": "inactive"}


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


class InitScript(object):
    """The LSB script through an injected runner ``run(argv) -> (rc, out, err)``."""

    def __init__(self, run, script=SCRIPT, log_dir=LOG_DIR, sleep=time.sleep, read=None):
        self._run = run
        self.script = script
        self.log_dir = log_dir
        self.sleep = sleep
        self._read = read or _read_tail
        self.calls = []

    def run(self, action, users):
        argv = [self.script, action] + list(users)
        self.calls.append(argv)
        return self._run(argv)

    def states(self, users):
        if not users:
            return {}
        rc, out, err = self.run("states", users)
        states = parse_states(out)
        missing = [user for user in users if user not in states]
        if rc != 0 or missing:
            raise ServiceError("%s states failed (rc %d): %s" % (self.script, rc, (err or out).strip()))
        return states

    def log_tail(self, user, lines=10):
        return self._read("%s/%s.log" % (self.log_dir, user), lines)


def _read_tail(path, lines):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(handle.tell() - 8192, 0))
            text = handle.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return ""
    return "\n".join(text.splitlines()[-lines:])


def validate(present, absent, restart, reload):
    """User names of each list (unit names are mapped to their user); InvalidRequest lists every problem."""
    lists = {}
    problems = []
    for key, names in (("present", present), ("absent", absent), ("restart", restart), ("reload", reload)):
        users = []
        for name in names or []:
            user = user_of(str(name))
            if user is None:
                problems.append("%s: %r is neither a backend unit (sharedhost-backend@USER.service) nor a user name"
                                % (key, name))
            else:
                users.append(user)
        lists[key] = _unique(users)
    both = sorted(set(lists["present"]) & set(lists["absent"]))
    if both:
        problems.append("in both present and absent: %s" % ", ".join(both))
    if problems:
        raise InvalidRequest(problems)
    return lists


def reconcile(script, present=None, absent=None, restart=None, reload=None, check_mode=False, settle_seconds=1.0,
              name=None):
    """Bring the backends to their state through the init script; return the module result.

    ``name`` maps a user back to the name the caller used (unit names in, unit
    names out, like the systemd mode). ``changed`` is true when a state differs
    before and after, or a running backend was restarted or reloaded.
    """
    lists = validate(present, absent, restart, reload)
    name = name or (lambda user: user)
    users = _unique(lists["present"] + lists["absent"] + lists["restart"] + lists["reload"])
    before = script.states(users)
    start = [u for u in lists["present"] if before[u] != "running"]
    stop = [u for u in lists["absent"] if before[u] == "running"]
    restart_now = [u for u in lists["restart"] if before[u] == "running" and u not in lists["absent"]]
    reload_now = [u for u in lists["reload"]
                  if before[u] == "running" and u not in lists["absent"] and u not in restart_now]
    result = {
        "enabled": [],
        "disabled": [],
        "started": [name(u) for u in start],
        "stopped": [name(u) for u in stop],
        "restarted": [name(u) for u in restart_now],
        "reloaded": [name(u) for u in reload_now],
        "warnings": [],
    }
    if check_mode:
        result.update({
            "changed": bool(start or stop or restart_now or reload_now),
            "failed_units": {},
            "states": dict((name(u), ACTIVE[before[u]]) for u in users),
        })
        return result

    errors = {}
    # Stop first: it frees the ports of users leaving this host.
    for action, batch in (("stop", stop), ("start", start), ("restart", restart_now), ("reload", reload_now)):
        if batch:
            rc, out, err = script.run(action, batch)
            if rc != 0:
                for user in batch:
                    errors[user] = "%s %s: %s" % (script.script, action, (out + err).strip())
    if start or restart_now or reload_now:
        script.sleep(max(settle_seconds, 0))
    after = script.states(users) if (start or stop or restart_now or reload_now) else before

    failed = {}
    for user in users:
        wanted = "stopped" if user in lists["absent"] else "running"
        if user not in lists["present"] and user not in lists["absent"] and before[user] != "running":
            continue  # restart/reload of a backend that was not running: nothing wanted
        if after[user] != wanted:
            failed[name(user)] = {
                "state": ACTIVE[after[user]],
                "load_state": "",
                "sub_state": "",
                "result": "",
                "journal": script.log_tail(user),
                "error": errors.get(user, ""),
            }
    changed = any(before[u] != after[u] for u in users) or bool(restart_now or reload_now)
    result.update({
        "changed": changed,
        "failed_units": failed,
        "states": dict((name(u), ACTIVE[after[u]]) for u in users),
    })
    return result


def service_argvs(action, unit, systemd=True):
    """The commands that stop (``stop_unit``) or restart (``restart``) one backend unit.

    With systemd: ``systemctl`` (a restart first clears the start limit the unit
    may have spent); on a SysV host: the init script for the unit's user.
    """
    verb = "stop" if action == "stop_unit" else "restart"
    if not systemd:
        user = user_of(unit)
        if user is None:
            raise ValueError("not a backend unit: %r" % unit)
        return [[SCRIPT, verb, user]]
    argvs = [["systemctl", "reset-failed", unit]] if verb == "restart" else []
    return argvs + [["systemctl", verb, unit]]
