#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: port_audit
short_description: Compare live TCP listeners with the port registry and find squatters, missing backends and strays
version_added: "0.1.0"
description:
  - Reads the port registry written by M(sharedhost.hosting.port_allocation) and the live TCP listeners of the host
    with their owning uid from C(/proc/net/tcp) and C(/proc/net/tcp6), and maps socket inodes to processes
    through C(/proc/<pid>/fd).
  - A B(squatter) is a listener on an allocated port whose uid is not the port owner's.
    A B(stray) is a listener on an unallocated port of O(port_range).
    A user is B(missing) a port when nothing of theirs listens on it.
  - Optionally remediates. Processes of squatters (and with O(kill_strays) of strays) that belong to hosted users
    (uid >= O(min_uid)) are stopped, then the rightful owners' backend units are restarted. A squatter that is the
    offender's own backend unit is stopped with C(systemctl stop), so C(Restart=) does not bring it back; other
    processes (sessions, cron jobs) are signalled. Processes of system accounts are never killed, only reported.
  - On hosts without systemd the owners' backends are restarted (and an offender's backend stopped) through the
    init script C(/etc/init.d/sharedhost-backends) of the P(sharedhost.hosting.init_scripts#role) role.
  - Fails when a stop or restart fails, with the audit in the result.
author:
  - sharedhost.hosting contributors (@sharedhost-hosting)
options:
  registry:
    description: Path of the port registry on the managed host.
    type: path
    default: /var/lib/sharedhost/ports.json
  port_range:
    description:
      - The managed port range; listeners on unallocated ports inside it are strays.
      - Without it only allocated ports are audited.
    type: dict
    suboptions:
      start:
        description: First port of the range.
        type: int
        required: true
      end:
        description: Last port of the range.
        type: int
        required: true
  remediate:
    description: Stop squatters' processes and restart the rightful owners' backend units.
    type: bool
    default: false
  kill_strays:
    description: With O(remediate), also stop the processes of strays.
    type: bool
    default: false
  min_uid:
    description: Only processes with at least this uid (hosted users) are ever stopped.
    type: int
    default: 1000
  unit_template:
    description: Name of a user's backend unit, with C({user}) for the user name.
    type: str
    default: sharedhost-backend@{user}.service
attributes:
  check_mode:
    support: full
    description: Reports what remediation would do without stopping or restarting anything.
  diff_mode:
    support: none
    description: Remediation stops processes and restarts units; no file changes, so no diff.
  platform:
    support: full
    platforms: posix
    description: Linux only (reads C(/proc)).
"""

EXAMPLES = r"""
- name: Audit the ports of this host
  sharedhost.hosting.port_audit:
    port_range: {start: 20000, end: 29999}
  register: __audit

- name: Stop squatters and bring the rightful owners back
  sharedhost.hosting.port_audit:
    port_range: {start: 20000, end: 29999}
    remediate: true
"""

RETURN = r"""
squatters:
  description: Listeners on allocated ports held by another uid than the owner's.
  returned: always
  type: list
  elements: dict
  sample: [{"port": 20001, "address": "127.0.0.1", "expected_user": "bob", "actual_user": "alice",
            "actual_uid": 1000, "pids": [4242], "command": "python3 -m http.server 20001"}]
missing:
  description: Allocated ports on which their owner has no listener.
  returned: always
  type: list
  elements: dict
  sample: [{"port": 20001, "user": "bob"}]
strays:
  description: Listeners on unallocated ports of the range.
  returned: always
  type: list
  elements: dict
  sample: [{"port": 20999, "address": "0.0.0.0", "actual_user": "alice", "actual_uid": 1000, "pids": [4343],
            "command": "nc -l 20999"}]
summary:
  description: Counts of allocated ports, serving ports, squatters, missing, strays and violations (squatters + strays).
  returned: always
  type: dict
  sample: {"allocated_ports": 3, "serving": 2, "squatters": 1, "missing": 1, "strays": 0, "violations": 1}
remediation:
  description: What was (or in check mode would be) done, in order.
  returned: always
  type: list
  elements: str
  sample: ["stopped pid 4242 (alice) squatting on port 20001 of bob", "restarted sharedhost-backend@bob.service"]
after:
  description: The audit repeated after remediation (same keys as the top level), when remediation did something.
  returned: when remediation changed something
  type: dict
"""

import os
import pwd
import signal
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sharedhost.hosting.plugins.module_utils import port_audit, port_registry, sysv_init
from ansible_collections.sharedhost.hosting.plugins.module_utils.allocation_runner import DEFAULT_REGISTRY
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_audit import audit, socket_processes
from ansible_collections.sharedhost.hosting.plugins.module_utils.proc_net import read_listeners


def run_audit(params):
    registry, _existed = port_registry.load(params["registry"])
    user_uids = {}
    for name in registry["users"]:
        try:
            user_uids[name] = pwd.getpwnam(name).pw_uid
        except KeyError:
            user_uids[name] = None
    uid_names = dict((entry.pw_uid, entry.pw_name) for entry in pwd.getpwall())
    port_range = params["port_range"]
    bounds = (port_range["start"], port_range["end"]) if port_range else None
    return audit(registry, read_listeners(), user_uids, uid_names, bounds, socket_processes())


def stop_process(pid, timeout=5.0):
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def remediate(module, result):
    """Carry out the plan of module_utils.port_audit.remediation_plan; (sentences, failures)."""
    params = module.params
    plan = port_audit.remediation_plan(result, params["min_uid"], params["kill_strays"], params["unit_template"])
    actions, failures = [], []
    for action, target, sentence in plan:
        actions.append(sentence)
        if module.check_mode or action == "note":
            continue
        if action == "kill":
            stop_process(target)
            continue
        # systemd: reset-failed first (its start limit is spent after the squatter won); SysV: the init script.
        try:
            argvs = sysv_init.service_argvs(action, target, systemd=os.path.isdir("/run/systemd/system"))
        except ValueError as exc:
            failures.append("%s: %s" % (target, exc))
            continue
        for argv in argvs[:-1]:
            module.run_command(argv)
        rc, _out, err = module.run_command(argvs[-1])
        if rc != 0:
            failures.append("%s of %s failed: %s" % ("stop" if action == "stop_unit" else "restart", target, err.strip()))
    return actions, failures


def main():
    module = AnsibleModule(
        argument_spec=dict(
            registry=dict(type="path", default=DEFAULT_REGISTRY),
            port_range=dict(type="dict", options=dict(
                start=dict(type="int", required=True),
                end=dict(type="int", required=True),
            )),
            remediate=dict(type="bool", default=False),
            kill_strays=dict(type="bool", default=False),
            min_uid=dict(type="int", default=1000),
            unit_template=dict(type="str", default="sharedhost-backend@{user}.service"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run_audit(module.params)
    except port_registry.RegistryError as exc:
        module.fail_json(msg=str(exc))
    actions, failures = remediate(module, result) if module.params["remediate"] else ([], [])
    result["remediation"] = actions
    changed = any(not action.startswith(("not stopping", "cannot stop")) for action in actions)
    if changed and not module.check_mode:
        time.sleep(1.0)  # let the restarted backends bind before looking again
        result["after"] = run_audit(module.params)
    if failures:
        module.fail_json(msg="remediation failed: %s" % "; ".join(failures), changed=changed, **result)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
