#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: port_allocation
short_description: Allocate dedicated backend ports to all hosted users of a host in one call
version_added: "0.1.0"
description:
  - Hands every hosted user of the managed host their dedicated TCP ports from a port range above 1024,
    and records them in a registry file on the managed host.
  - All users of a host are handled in one call, so the cost grows with the data, not with the number of tasks.
  - Allocation is sticky. A present user keeps every port they hold, whatever the order of the users
    or a change of the range; a range change that would strand an allocation is an error, never a silent move.
  - New ports are deterministic. Users are served in list order, each with the lowest port of the range that
    is not allocated, reserved, in quarantine, or held by a live listener on the host
    (read from C(/proc/net/tcp) and C(/proc/net/tcp6)).
  - A released port stays in quarantine for O(quarantine_seconds) before another user can get it, so stale
    processes of its former owner never receive the new owner's traffic. A returning user gets their own
    quarantined ports back first.
  - The registry is read and written under an exclusive lock on C(<registry>.lock), so concurrent runs on the
    same host serialise. Writes are atomic (temporary file, fsync, rename) and the previous version is kept
    as C(<registry>.bak).
  - Bad input (invalid or duplicate user names, counts below 1, ports outside 1025-65535 or outside the range,
    reserved pinned ports, an exhausted range, a corrupt or unknown-version registry) fails with a message
    naming every offending entry, and nothing is written.
author:
  - sharedhost.hosting contributors (@sharedhost-hosting)
options:
  users:
    description:
      - The hosted users of this host, each a mapping.
      - C(name) (required) is the POSIX user name (lowercase letter or C(_) first, then lowercase letters,
        digits, C(_) or C(-), at most 32 characters).
      - C(ports) (alias C(count), default C(1)) is the number of dedicated ports the user gets.
      - C(port) optionally pins the user's port; it must lie in O(port_range), must not be reserved, and must
        not belong to (or be in quarantine after) another user.
      - C(state) is C(present) (default) or C(absent); C(absent) releases the user's ports into quarantine.
      - C(socket=true) marks a backend that listens on a Unix socket instead of a port; such a user gets no port
        (any port they held is released into quarantine) and appears in RV(ports) with an empty list.
      - Other keys (for example C(vhosts) or C(backend)) are ignored, so the inventory's user entries can be
        passed unchanged.
    type: list
    elements: dict
    required: true
  port_range:
    description:
      - The range new ports are taken from, both ends included, within 1025-65535.
    type: dict
    default: {start: 20000, end: 29999}
    suboptions:
      start:
        description: First port of the range.
        type: int
        required: true
      end:
        description: Last port of the range.
        type: int
        required: true
  reserved:
    description:
      - Ports never handed out, as port numbers or C(start-end) spans (strings).
    type: list
    elements: raw
    default: []
  registry:
    description:
      - Path of the registry on the managed host. Its directory is created if missing.
    type: path
    default: /var/lib/sharedhost/ports.json
  authoritative:
    description:
      - If V(true), users in the registry but not in O(users) are released into quarantine.
      - If V(false), they keep their ports and still appear in RV(ports).
    type: bool
    default: false
  quarantine_seconds:
    description:
      - How long a released port is kept from other users. V(0) disables the quarantine.
    type: int
    default: 86400
  skip_listening:
    description:
      - Skip ports that a live listener already holds on the host when handing out new ports.
    type: bool
    default: true
  lock_timeout:
    description:
      - Seconds to wait for a concurrent run to release the registry lock before failing.
    type: int
    default: 60
attributes:
  check_mode:
    support: full
    description: Computes the same answer without writing; no lock file is created.
  diff_mode:
    support: full
    description: Shows the registry document before and after.
  platform:
    support: full
    platforms: posix
    description: Reads C(/proc/net/tcp) on Linux; elsewhere no live listener is seen.
notes:
  - The registry lives on the managed host because that is where the ports are used and where a reboot happens.
"""

EXAMPLES = r"""
- name: Allocate ports for every hosted user of this host
  sharedhost.hosting.port_allocation:
    users:
      - name: alice
      - name: bob
        ports: 2
      - name: carol
        port: 20500
      - name: dave
        state: absent
    port_range:
      start: 20000
      end: 29999
    reserved:
      - 20080
      - "20100-20199"
  register: __allocation

- name: Pass the inventory's user entries unchanged and release anybody not listed
  sharedhost.hosting.port_allocation:
    users: "{{ sharedhost_users }}"
    authoritative: true
    quarantine_seconds: 604800
"""

RETURN = r"""
ports:
  description: Every user in the registry after the run, with their ports; present socket backends with none.
  returned: always
  type: dict
  sample: {"alice": [20000], "bob": [20001, 20002]}
allocated:
  description: Ports newly given to each user by this run.
  returned: always
  type: dict
  sample: {"bob": [20002]}
released:
  description: Ports taken from each user by this run and put into quarantine.
  returned: always
  type: dict
  sample: {"dave": [20003]}
quarantine:
  description: Ports in quarantine after the run, with their former owner and the epoch second they become free.
  returned: always
  type: list
  elements: dict
  sample: [{"port": 20003, "user": "dave", "released_at": 1764201600, "until": 1764288000}]
free_ports:
  description: How many ports of the range could still be handed out.
  returned: always
  type: int
  sample: 9996
registry:
  description: Path of the registry file.
  returned: always
  type: str
  sample: /var/lib/sharedhost/ports.json
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.sharedhost.hosting.plugins.module_utils.allocation_runner import (
    DEFAULT_REGISTRY,
    run_allocation,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_allocator import AllocationError
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import RegistryError


INVOCATION_ECHO_LIMIT = 200


def main():
    module = AnsibleModule(
        argument_spec=dict(
            users=dict(type="list", elements="dict", required=True),
            port_range=dict(type="dict", default={"start": 20000, "end": 29999}, options=dict(
                start=dict(type="int", required=True),
                end=dict(type="int", required=True),
            )),
            reserved=dict(type="list", elements="raw", default=[]),
            registry=dict(type="path", default=DEFAULT_REGISTRY),
            authoritative=dict(type="bool", default=False),
            quarantine_seconds=dict(type="int", default=86400),
            skip_listening=dict(type="bool", default=True),
            lock_timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["quarantine_seconds"] < 0:
        module.fail_json(msg="quarantine_seconds must be >= 0, got %d" % params["quarantine_seconds"])
    try:
        result = run_allocation(
            registry_path=params["registry"],
            users=params["users"],
            port_range=params["port_range"],
            reserved=params["reserved"],
            quarantine_seconds=params["quarantine_seconds"],
            authoritative=params["authoritative"],
            skip_listening=params["skip_listening"],
            lock_timeout=params["lock_timeout"],
            check_mode=module.check_mode,
            want_diff=module._diff,
        )
    except AllocationError as exc:
        module.fail_json(msg="port allocation refused, nothing was changed: %s" % exc, problems=exc.problems)
    except (RegistryError, OSError) as exc:
        module.fail_json(msg=to_native(exc))

    diff = result.pop("_diff")
    for warning in result.pop("warnings"):
        module.warn(warning)
    if diff is not None and result["changed"]:
        result["diff"] = diff
    if len(params["users"]) > INVOCATION_ECHO_LIMIT:
        # Echoing thousands of user entries back (and scanning them for no_log
        # values) doubled the run time of a 10,000-user call; the controller
        # already has the arguments.
        result["invocation"] = {"module_args": dict(params, users="<%d user entries>" % len(params["users"]))}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
