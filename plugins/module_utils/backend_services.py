# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile the systemd units of all hosted users' backends with a constant number of systemctl calls.

Plain Python so that unit tests call it directly:

- ``parse_show`` turns ``systemctl show`` output into per-unit states,
- ``plan`` is a pure function from those states to the actions,
- ``reconcile`` runs the plan through an injected command runner, waits
  (bounded) for the jobs, and finds the units that did not reach their state.

Facts about systemctl this relies on (checked on systemd 252 and 257):

- ``systemctl show -p A,B u1 u2`` prints one block per unit, in argument order,
  separated by blank lines; the properties come in systemd's own order, not the
  requested one. An instance of a template that is not loaded yet is loaded for
  the call (LoadState=loaded, UnitFileState=disabled); a unit without a unit
  file prints LoadState=not-found and an empty UnitFileState. Id is the unit's
  main name, so an alias prints its target's Id. A name systemd refuses (a
  template without instance) stops the whole call with rc 1 after the blocks
  of the units before it, hence the strict name validation.
- ``start``/``stop``/``try-restart``/``try-reload-or-restart`` with several units
  enqueue one job per unit and go on when one unit is refused (not found,
  masked): the others still run. A Type=simple unit whose process exits right
  away still counts as a successful start (exit code 0), so failures are found by
  reading the states afterwards, after a short settle time.
- ``enable`` and ``disable`` with several units are all-or-nothing: one unit
  that does not exist fails the whole call and nothing is enabled. Not-found and
  masked units are therefore never passed, and a failing call is retried unit by
  unit to isolate the culprit.
- ``disable`` also removes alias symlinks of a unit, even of a static one, so
  only units that are actually enabled are disabled; running units that are not
  enabled are stopped with ``stop``.
- ``disable`` without ``--runtime`` leaves an ``enabled-runtime`` unit enabled.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\-]+\.(service|socket|timer)$")
SHOW_PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState", "Result",
                   "NeedDaemonReload", "Job", "NRestarts")
# A command line with thousands of unit names stays far below ARG_MAX, but keep
# one call bounded anyway.
SHOW_CHUNK = 2000

RUNNING = ("active", "reloading")
STARTING = ("activating",)
# Unit file states `systemctl enable` turns into "enabled".
ENABLEABLE = ("disabled", "linked", "linked-runtime")
TRANSITIONAL = ("activating", "deactivating", "reloading", "refreshing")

DEFAULT_WAIT_TIMEOUT = 30
DEFAULT_SETTLE_SECONDS = 1.0
JOURNAL_LINES = 10


class ServiceError(Exception):
    """The request is refused (``problems`` lists every reason) or systemctl failed unexpectedly."""

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super(ServiceError, self).__init__("; ".join(self.problems))


class InvalidRequest(ServiceError):
    """Bad unit names or contradicting lists; raised before anything runs."""


def _unique(items):
    seen = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result


def validate(present=None, absent=None, restart=None, reload=None):
    """Return the four lists without duplicates; raise ServiceError listing every bad entry."""
    lists = {"present": present or [], "absent": absent or [], "restart": restart or [], "reload": reload or []}
    problems = []
    for option in ("present", "absent", "restart", "reload"):
        for index, unit in enumerate(lists[option]):
            if not isinstance(unit, str) or not UNIT_RE.match(unit):
                problems.append("%s[%d]: invalid unit name %r (expected letters, digits and :_.@- ending in "
                                ".service, .socket or .timer)" % (option, index, unit))
            elif "@" in unit and (unit.startswith("@") or unit.split("@", 1)[1].startswith(".")):
                # systemctl show refuses a template outright, which would spoil the one call for all units.
                problems.append("%s[%d]: %r is a template or has no prefix; name an instance such as "
                                "name@instance.service" % (option, index, unit))
    if not problems:
        both = sorted(set(lists["present"]) & set(lists["absent"]))
        for unit in both:
            problems.append("%s is listed in both present and absent" % unit)
    if problems:
        raise InvalidRequest(problems)
    return dict((key, _unique(value)) for key, value in lists.items())


def show_argv(units, systemctl="systemctl"):
    return [systemctl, "show", "--no-pager", "--property=" + ",".join(SHOW_PROPERTIES)] + list(units)


def _parse_blocks(text):
    blocks = []
    current = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


def _state(block):
    restarts = block.get("NRestarts", "")
    return {
        "id": block.get("Id", ""),
        "load": block.get("LoadState", ""),
        "active": block.get("ActiveState", ""),
        "sub": block.get("SubState", ""),
        "file": block.get("UnitFileState", ""),
        "result": block.get("Result", ""),
        "job": block.get("Job", ""),
        "need_reload": block.get("NeedDaemonReload", "") == "yes",
        "restarts": int(restarts) if restarts.isdigit() else 0,
    }


def parse_show(text, units):
    """Map each unit to its state from the output of one ``systemctl show`` call.

    Blocks are matched by position (an alias prints its target's Id). If systemctl
    skipped a unit (an error on stderr), blocks are matched by Id instead, and a unit
    without a block raises ServiceError.
    """
    units = list(units)
    blocks = _parse_blocks(text)
    if len(blocks) == len(units):
        return dict((unit, _state(block)) for unit, block in zip(units, blocks))
    by_id = dict((block.get("Id"), block) for block in blocks)
    missing = [unit for unit in units if unit not in by_id]
    if missing:
        raise ServiceError("systemctl show printed %d blocks for %d units; no state for %s"
                           % (len(blocks), len(units), ", ".join(missing)))
    return dict((unit, _state(by_id[unit])) for unit in units)


def is_running(state):
    return state["active"] in RUNNING


def is_loaded(state):
    return state["load"] == "loaded"


def plan(states, present, absent, restart, reload):
    """The actions that bring the units from ``states`` to what is asked. Pure.

    Returns a dict of unit lists (in request order): enable, start, restart,
    reload, disable (``disable --now``: enabled units, stopped at the same time),
    stop (running units that are not enabled), stopped (every unit that is
    running and will be stopped) and unstartable (unit -> reason: present units
    that systemd cannot start, such as not-found or masked ones).
    """
    enable, start, unstartable = [], [], {}
    for unit in present:
        state = states[unit]
        if not is_loaded(state):
            unstartable[unit] = state["load"] or "unknown"
            continue
        if state["file"] in ENABLEABLE:
            enable.append(unit)
        if state["active"] not in RUNNING + STARTING:
            start.append(unit)

    disable, stop, stopped = [], [], []
    for unit in absent:
        state = states[unit]
        running = state["active"] in RUNNING + STARTING
        if state["file"] == "enabled":
            disable.append(unit)
        elif running:
            stop.append(unit)
        if running:
            stopped.append(unit)

    skip = set(start) | set(absent) | set(unstartable)
    do_restart = [unit for unit in restart if unit not in skip and is_running(states[unit])]
    skip |= set(do_restart)
    do_reload = [unit for unit in reload if unit not in skip and is_running(states[unit])]
    return {
        "enable": enable,
        "start": start,
        "restart": do_restart,
        "reload": do_reload,
        "disable": disable,
        "stop": stop,
        "stopped": stopped,
        "unstartable": unstartable,
    }


def plan_has_changes(actions):
    return any(actions[key] for key in ("enable", "start", "restart", "reload", "disable", "stop"))


def is_busy(state):
    """The unit has a pending job or is between states. A unit waiting to be restarted
    after a crash (SubState auto-restart, auto-restart-queued) is not busy: it is failing."""
    if state["job"]:
        return True
    return state["active"] in TRANSITIONAL and not state["sub"].startswith("auto-restart")


def is_settled(states):
    """No unit is busy."""
    return not any(is_busy(state) for state in states.values())


def find_failures(before, after, present, absent, restarted, reloaded, started, unstartable):
    """Units not in their wanted state after the run: unit -> short state."""
    failed = {}
    for unit in present:
        state = after[unit]
        if unit in unstartable:
            failed[unit] = unstartable[unit]
            continue
        restarts_before = 0 if unit in started or unit in restarted else before[unit]["restarts"]
        if not is_running(state):
            failed[unit] = state["active"]
        elif state["restarts"] > restarts_before:
            failed[unit] = "crashed"
    for unit in _unique(list(restarted) + list(reloaded)):
        if unit in failed or unit in present:
            continue
        state = after[unit]
        if not is_running(state):
            failed[unit] = state["active"]
        elif state["restarts"] > (0 if unit in restarted else before[unit]["restarts"]):
            failed[unit] = "crashed"
    for unit in absent:
        state = after[unit]
        if state["active"] in RUNNING + STARTING:
            failed[unit] = state["active"]
    return failed


def compute_changed(before, after, acted, restarted, reloaded):
    """Changed if a unit acted on changed its enablement or its active state, or was restarted/reloaded."""
    if restarted or reloaded:
        return True
    for unit in acted:
        if before[unit]["file"] != after[unit]["file"]:
            return True
        old, new = before[unit]["active"], after[unit]["active"]
        if old == "reloading":
            old = "active"
        if new == "reloading":
            new = "active"
        if old != new:
            return True
    return False


class Systemd(object):
    """systemctl and journalctl through an injected runner ``run(argv) -> (rc, out, err)``."""

    def __init__(self, run, systemctl="systemctl", journalctl="journalctl", sleep=time.sleep, clock=time.monotonic):
        self.run = run
        self.systemctl = systemctl
        self.journalctl = journalctl
        self.sleep = sleep
        self.clock = clock
        self.calls = []

    def _run(self, argv):
        self.calls.append(list(argv))
        return self.run(argv)

    def show(self, units):
        states = {}
        for offset in range(0, len(units), SHOW_CHUNK):
            chunk = units[offset:offset + SHOW_CHUNK]
            rc, out, err = self._run(show_argv(chunk, self.systemctl))
            if rc != 0 and not out.strip():
                raise ServiceError("systemctl show failed (rc %d): %s" % (rc, (err or "").strip()))
            try:
                states.update(parse_show(out, chunk))
            except ServiceError as exc:
                # systemctl show stops at the first unit it refuses (rc 1, earlier blocks printed).
                raise ServiceError("%s (rc %d: %s)" % (exc, rc, (err or "").strip()))
        return states

    def verb(self, verb, units, *flags):
        return self._run([self.systemctl, verb] + list(flags) + list(units))

    def journal(self, unit, lines=JOURNAL_LINES):
        if not self.journalctl:
            return ""
        rc, out, err = self._run([self.journalctl, "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"])
        return (out if rc == 0 else err or out or "").rstrip("\n")


def _message(rc, out, err):
    return ((err or "").strip() or (out or "").strip() or "exit code %d" % rc)


def _batch_or_each(systemd, verb, units, flags, errors):
    """Run one all-or-nothing verb for all units; on failure retry unit by unit.

    Returns the units for which it worked; errors gets unit -> message.
    """
    if not units:
        return []
    rc, out, err = systemd.verb(verb, units, *flags)
    if rc == 0:
        return list(units)
    done = []
    for unit in units:
        rc, out, err = systemd.verb(verb, [unit], *flags)
        if rc == 0:
            done.append(unit)
        else:
            errors[unit] = "systemctl %s: %s" % (verb, _message(rc, out, err))
    return done


def wait_until_settled(systemd, units, timeout, settle_until=None):
    """Poll ``systemctl show`` until no unit has a pending job or is between states.

    Waits at least until ``settle_until`` (a clock value) first, so a unit that dies
    right after a successful start is seen dead. Returns (states, settled).
    """
    deadline = systemd.clock() + max(timeout, 0)
    if settle_until is not None:
        remaining = min(settle_until, deadline) - systemd.clock()
        if remaining > 0:
            systemd.sleep(remaining)
    interval = 0.1
    while True:
        states = systemd.show(units)
        if is_settled(states):
            return states, True
        now = systemd.clock()
        if now >= deadline:
            return states, False
        systemd.sleep(min(interval, deadline - now))
        interval = min(interval * 2, 1.0)


def _failure_record(state, reason, journal, error=""):
    return {
        "state": reason,
        "load_state": state["load"],
        "sub_state": state["sub"],
        "result": state["result"],
        "journal": journal,
        "error": error,
    }


def reconcile(systemd, present=None, absent=None, restart=None, reload=None, daemon_reload=False,
              check_mode=False, wait_timeout=DEFAULT_WAIT_TIMEOUT, settle_seconds=DEFAULT_SETTLE_SECONDS,
              journal_lines=JOURNAL_LINES):
    """Bring the units to their state; return the module result (plus ``warnings``).

    Raises ServiceError for invalid input or when systemctl cannot be queried
    (InvalidRequest, a subclass, before anything ran). Units that do
    not reach their state are returned in ``failed_units``; the caller decides
    whether that fails the task.
    """
    lists = validate(present, absent, restart, reload)
    present, absent, restart, reload = lists["present"], lists["absent"], lists["restart"], lists["reload"]
    warnings = []

    if daemon_reload and not check_mode:
        rc, out, err = systemd.verb("daemon-reload", [])
        if rc != 0:
            raise ServiceError("systemctl daemon-reload failed: %s" % _message(rc, out, err))

    units = _unique(present + absent + restart + reload)
    before = systemd.show(units) if units else {}
    actions = plan(before, present, absent, restart, reload)

    stale = [unit for unit in units if before[unit]["need_reload"]]
    if stale and not daemon_reload:
        warnings.append("unit files changed on disk but systemd has not reloaded them (use daemon_reload): %s"
                        % ", ".join(stale))

    result = {
        "enabled": list(actions["enable"]),
        "started": list(actions["start"]),
        "restarted": list(actions["restart"]),
        "reloaded": list(actions["reload"]),
        "stopped": list(actions["stopped"]),
        "disabled": list(actions["disable"]),
    }

    if check_mode:
        # In check mode the tasks before this one wrote no unit files: a unit that does
        # not exist yet is predicted to be created, then enabled and started.
        unknown = [unit for unit, reason in actions["unstartable"].items() if reason == "not-found"]
        if unknown:
            warnings.append("check mode: assuming the missing units %s are created before this task"
                            % ", ".join(unknown))
            result["enabled"] = [u for u in present if u in result["enabled"] or u in unknown]
            result["started"] = [u for u in present if u in result["started"] or u in unknown]
        failed = dict((unit, _failure_record(before[unit], reason, ""))
                      for unit, reason in actions["unstartable"].items() if unit not in unknown)
        result.update({
            "changed": plan_has_changes(actions) or bool(unknown),
            "failed_units": failed,
            "states": dict((unit, before[unit]["active"]) for unit in units),
            "warnings": warnings,
        })
        return result

    errors = {}
    # Stop first: it frees the ports of users leaving this host.
    result["disabled"] = _batch_or_each(systemd, "disable", actions["disable"], ["--now", "--no-block"], errors)
    if actions["stop"]:
        systemd.verb("stop", actions["stop"], "--no-block")
    result["enabled"] = _batch_or_each(systemd, "enable", actions["enable"], [], errors)
    started = actions["start"]
    if started:
        # One job per unit; a unit that is refused does not keep the others from starting.
        systemd.verb("start", started, "--no-block")
    if actions["restart"]:
        systemd.verb("try-restart", actions["restart"], "--no-block")
    if actions["reload"]:
        systemd.verb("try-reload-or-restart", actions["reload"], "--no-block")

    if plan_has_changes(actions) or not is_settled(before):
        settle_until = None
        if started or actions["restart"] or actions["reload"]:
            settle_until = systemd.clock() + max(settle_seconds, 0)
        after, settled = wait_until_settled(systemd, units, wait_timeout, settle_until)
        if not settled:
            busy = [unit for unit in units if is_busy(after[unit])]
            warnings.append("units still changing state after %ss: %s" % (wait_timeout, ", ".join(busy)))
    else:
        after = before

    reasons = find_failures(before, after, present, absent, actions["restart"], actions["reload"],
                            started, actions["unstartable"])
    for unit in errors:
        reasons.setdefault(unit, after[unit]["active"])
    failed = {}
    for unit in units:
        if unit not in reasons:
            continue
        state = after[unit]
        journal = systemd.journal(unit, journal_lines) if state["load"] != "not-found" else ""
        failed[unit] = _failure_record(state, reasons[unit], journal, errors.get(unit, ""))

    result["stopped"] = [unit for unit in actions["stopped"] if unit in result["disabled"] or unit in actions["stop"]]
    acted = _unique(result["disabled"] + actions["stop"] + result["enabled"] + started)
    result.update({
        "changed": compute_changed(before, after, acted, actions["restart"], actions["reload"]),
        "failed_units": failed,
        "states": dict((unit, after[unit]["active"]) for unit in units),
        "warnings": warnings,
    })
    return result
