#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backend_services
short_description: Reconcile the systemd units of all hosted users' backends with a constant number of systemctl calls
version_added: "0.1.0"
description:
  - Enables and starts, stops and disables, restarts and reloads the systemd units of every hosted user's backend
    of the managed host in one call.
  - The number of C(systemctl) calls does not grow with the number of units. The states are read with one
    C(systemctl show) call, then at most one call each of C(disable --now), C(stop), C(enable), C(start),
    C(try-restart) and C(try-reload-or-restart) runs with all the units concerned, and one more
    C(systemctl show) (repeated while jobs are still running, up to O(wait_timeout)) reads the result.
    Only failing units cost one C(journalctl) call each.
  - Start, restart and reload jobs are queued without blocking (C(--no-block)), one job per unit, so a unit that
    fails or hangs does not keep the others from starting.
  - A unit that does not reach its wanted state is reported in RV(failed_units) with its last journal lines, and as
    a warning. The task fails only with O(strict=true), so one hosted user's broken configuration does not
    fail a whole host's rollout.
  - C(enable) and C(disable) are all-or-nothing in C(systemctl); if such a call fails, it is repeated unit by
    unit so that only the culprit fails.
  - On hosts without systemd (O(init_system=sysv)) the same lists are reconciled through the LSB script
    C(/etc/init.d/sharedhost-backends) of the P(sharedhost.hosting.init_scripts#role) role instead, also with a
    constant number of calls (C(states) before and after, one call per action with all users concerned).
  - Unit names must consist of letters, digits and C(:_.@-) and end in C(.service), C(.socket) or C(.timer).
    Templates without an instance (C(name@.service)) are refused. All names are validated first, and any bad
    name fails the task before anything runs.
author:
  - sharedhost.hosting contributors (!UNKNOWN)
options:
  present:
    description:
      - Units that must be enabled and running.
      - A unit whose file state is C(disabled) or C(linked) is enabled; C(static), C(indirect), C(alias) and
        other states are left as they are.
      - A unit that systemd cannot load (not found, masked) is reported in RV(failed_units).
    type: list
    elements: str
    default: []
  absent:
    description:
      - Units that must be stopped and disabled. A unit that does not exist is fine and needs nothing.
      - Enabled units are disabled and stopped (C(systemctl disable --now)); running units that are not enabled
        (static, disabled, or whose unit file is gone) are stopped (C(systemctl stop)).
      - A unit may not be in both O(present) and O(absent).
    type: list
    elements: str
    default: []
  restart:
    description:
      - Units whose configuration changed and that must be restarted if they are running
        (C(systemctl try-restart)).
      - Units started by this run, units in O(absent), and units that are not running are not restarted.
    type: list
    elements: str
    default: []
  reload:
    description:
      - Like O(restart), but reloads gracefully where the unit supports it (C(systemctl try-reload-or-restart),
        which is C(reload-or-restart) for running units only).
      - Units also in O(restart) are only restarted.
    type: list
    elements: str
    default: []
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) before reading the units' states, after unit files were changed.
      - Without it, units whose files changed on disk are named in a warning.
      - Not run in check mode.
    type: bool
    default: false
  strict:
    description:
      - If V(false), units that do not reach their wanted state are reported in RV(failed_units) and as warnings,
        and the task does not fail.
      - If V(true), the task fails listing them (after all other units were handled).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for queued start, restart, reload and stop jobs to finish before the states are
        judged. Units still starting then are reported in RV(failed_units) with the state C(activating).
    type: int
    default: 30
  init_system:
    description:
      - V(systemd) reconciles systemd units with C(systemctl).
      - V(sysv) reconciles the backends through O(sysv_script), for hosts whose PID 1 is not systemd. Names are
        backend units (C(sharedhost-backend@USER.service)) or user names; there is nothing to enable or disable
        (the init script starts every user that has a data file), so RV(enabled) and RV(disabled) stay empty.
        O(daemon_reload) and O(wait_timeout) do not apply.
    type: str
    choices: [systemd, sysv]
    default: systemd
    version_added: "0.4.0"
  sysv_script:
    description: The LSB script used with O(init_system=sysv).
    type: path
    default: /etc/init.d/sharedhost-backends
    version_added: "0.4.0"
  settle_seconds:
    description:
      - After starting, restarting or reloading units, wait at least this long before judging them, so a
        backend that dies right after a successful start (for example a C(Type=simple) service with a broken
        configuration) is reported in RV(failed_units). Only spent when something was started, restarted or reloaded.
    type: float
    default: 1.0
attributes:
  check_mode:
    support: full
    description:
      - Reads the states and returns the planned actions; nothing that changes state is run.
      - Units that do not exist yet are assumed to be created by an earlier task, and planned to be enabled
        and started.
  diff_mode:
    support: none
    description: The returned unit lists show what was done.
  platform:
    support: full
    platforms: posix
    description:
      - Needs systemd (C(systemctl), and C(journalctl) for the journal lines of failed units), or with
        O(init_system=sysv) the init script of the P(sharedhost.hosting.init_scripts#role) role.
notes:
  - A service whose main process keeps crashing with C(Restart=) set is reported as failed with the state
    C(activating) (sub-state C(auto-restart)), or C(crashed) if it was restarted by systemd during the run.
seealso:
  - module: sharedhost.hosting.hosted_accounts
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Start every hosted user's backend, restart those whose configuration changed
  sharedhost.hosting.backend_services:
    present:
      - sharedhost-backend@alice.service
      - sharedhost-backend@bob.service
      - sharedhost-backend@carol.service
    absent:
      - sharedhost-backend@dave.service
    restart:
      - sharedhost-backend@bob.service
    daemon_reload: "{{ __units is changed }}"
  become: true
  register: __services

- name: Report broken backends
  ansible.builtin.debug:
    msg: "{{ item.key }} is {{ item.value.state }}: {{ item.value.journal }}"
  loop: "{{ __services.failed_units | dict2items }}"

- name: Fail if any backend does not run
  sharedhost.hosting.backend_services:
    present:
      - sharedhost-backend@alice.service
      - sharedhost-backend@bob.service
    reload:
      - sharedhost-backend@bob.service
    strict: true
"""

RETURN = r"""
enabled:
  description: Units enabled by this run (in check mode, that would be enabled).
  returned: always
  type: list
  elements: str
  sample: [sharedhost-backend@alice.service]
started:
  description:
    - Units a start was queued for by this run (in check mode, would be). Those that did not come up are
      also in RV(failed_units).
  returned: always
  type: list
  elements: str
  sample: [sharedhost-backend@alice.service]
restarted:
  description: Running units of O(restart) that were restarted (in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: [sharedhost-backend@bob.service]
reloaded:
  description: Running units of O(reload) that were reloaded or restarted (in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: []
stopped:
  description: Running units of O(absent) that were stopped (in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: [sharedhost-backend@dave.service]
disabled:
  description: Enabled units of O(absent) that were disabled (in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: [sharedhost-backend@dave.service]
failed_units:
  description:
    - Units that did not reach their wanted state, with the reason and the last 10 lines of their journal.
    - Units of O(present), O(restart) or O(reload) that are not active, kept crashing, or cannot be loaded;
      units of O(absent) that still run; units for which C(systemctl enable) or C(disable) failed.
    - In check mode, only units that cannot be started (for example masked ones).
    - Not called C(failed), because Ansible reads a true C(failed) key of a result as the task's own failure.
  returned: always
  type: dict
  sample:
    sharedhost-backend@carol.service:
      state: failed
      load_state: loaded
      sub_state: failed
      result: exit-code
      journal: "sharedhost-backend@carol.service: Main process exited, code=exited, status=1/FAILURE"
      error: ""
  contains:
    state:
      description:
        - The unit's ActiveState after the run (C(failed), C(inactive), C(activating), ...), C(crashed) if
          systemd restarted it during the run, or the LoadState (C(not-found), C(masked), ...) of a unit that
          cannot be loaded.
      type: str
    load_state:
      description: The unit's LoadState.
      type: str
    sub_state:
      description: The unit's SubState.
      type: str
    result:
      description: The unit's Result (for example C(exit-code), C(timeout), C(start-limit-hit)).
      type: str
    journal:
      description: The last lines of the unit's journal (C(journalctl -u UNIT -n 10 -o cat)).
      type: str
    error:
      description: The error of a failed C(systemctl enable) or C(disable) for this unit, else empty.
      type: str
states:
  description: The ActiveState of every unit named in any option after the run (in check mode, before).
  returned: always
  type: dict
  sample: {"sharedhost-backend@alice.service": active, "sharedhost-backend@dave.service": inactive}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sharedhost.hosting.plugins.module_utils.backend_services import (
    DEFAULT_SETTLE_SECONDS,
    DEFAULT_WAIT_TIMEOUT,
    InvalidRequest,
    ServiceError,
    Systemd,
    reconcile,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils import sysv_init

INVOCATION_ECHO_LIMIT = 200


def main():
    module = AnsibleModule(
        argument_spec=dict(
            present=dict(type="list", elements="str", default=[]),
            absent=dict(type="list", elements="str", default=[]),
            restart=dict(type="list", elements="str", default=[]),
            reload=dict(type="list", elements="str", default=[]),
            daemon_reload=dict(type="bool", default=False),
            strict=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
            settle_seconds=dict(type="float", default=DEFAULT_SETTLE_SECONDS),
            init_system=dict(type="str", default="systemd", choices=["systemd", "sysv"]),
            sysv_script=dict(type="path", default=sysv_init.SCRIPT),
        ),
        supports_check_mode=True,
    )
    params = module.params

    def run(argv):
        return module.run_command(argv, use_unsafe_shell=False, environ_update={"SYSTEMD_PAGER": "", "LC_ALL": "C"})

    if params["init_system"] == "sysv":
        result = reconcile_sysv(module, run)
    else:
        result = reconcile_systemd(module, run)
    finish(module, result)


def reconcile_sysv(module, run):
    params = module.params
    script = sysv_init.InitScript(run, script=params["sysv_script"])
    # Answer in the names the caller used (unit names in, unit names out).
    names = {}
    for key in ("present", "absent", "restart", "reload"):
        for item in params[key]:
            names.setdefault(sysv_init.user_of(item), item)
    return reconciled(module, script, sysv_init.reconcile, name=lambda user: names.get(user, user))


def reconcile_systemd(module, run):
    params = module.params
    systemctl = module.get_bin_path("systemctl", required=True)
    journalctl = module.get_bin_path("journalctl")
    systemd = Systemd(run, systemctl=systemctl, journalctl=journalctl)
    return reconciled(module, systemd, reconcile, daemon_reload=params["daemon_reload"],
                      wait_timeout=params["wait_timeout"])


def reconciled(module, manager, how, **extra):
    """how(manager, ...) with the module's sets of units; its result, or the module fails with the problems
    (and the commands run so far, when it failed half-way)."""
    params = module.params
    try:
        return how(manager, present=params["present"], absent=params["absent"], restart=params["restart"],
                   reload=params["reload"], check_mode=module.check_mode, settle_seconds=params["settle_seconds"],
                   **extra)
    except InvalidRequest as exc:
        module.fail_json(msg="backend services refused, nothing was changed: %s" % exc, problems=exc.problems)
    except ServiceError as exc:
        module.fail_json(msg=str(exc), problems=exc.problems, commands=manager.calls)


def finish(module, result):
    params = module.params
    warnings = result.pop("warnings")
    failed = result["failed_units"]
    for unit in sorted(failed):
        record = failed[unit]
        warnings.append("%s is %s%s%s" % (
            unit, record["state"],
            " (%s)" % record["error"] if record["error"] else "",
            ": " + record["journal"].splitlines()[-1] if record["journal"] else ""))
    if sum(len(params[key]) for key in ("present", "absent", "restart", "reload")) > INVOCATION_ECHO_LIMIT:
        result["invocation"] = {"module_args": dict(
            params, **dict((key, "<%d units>" % len(params[key])) for key in ("present", "absent", "restart", "reload")))}
    if failed and params["strict"]:
        module.fail_json(msg="units not in their wanted state: %s" % ", ".join(
            "%s (%s)" % (unit, failed[unit]["state"]) for unit in sorted(failed)), **result)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
