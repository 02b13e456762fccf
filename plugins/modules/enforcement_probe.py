#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: enforcement_probe
short_description: Find out by trying which port-ownership enforcement layers hold on a host
version_added: "0.1.0"
description:
  - Makes an unprivileged process attempt what each enforcement layer must forbid, and reports per layer whether
    the attempt was stopped. Nothing is assumed from versions.
  - B(nftables) owner rules. The probe user listens on an unallocated, free port of O(port_range) and root connects
    to it. The layer is active when no connection completes.
  - B(socket_bind) (systemd C(SocketBindAllow=)/C(SocketBindDeny=)). A transient unit of the probe user may bind
    one port and tries another. The layer is active when that bind fails with EPERM. It needs systemd built with
    C(+BPF_FRAMEWORK) on cgroup v2; elsewhere systemd ignores the settings silently.
  - The probes leave nothing behind. Their processes are stopped, the transient units are collected.
author:
  - sharedhost.hosting contributors (@sharedhost-hosting)
options:
  port_range:
    description: The managed port range, as for M(sharedhost.hosting.port_allocation).
    type: dict
    required: true
    suboptions:
      start:
        description: First port of the range.
        type: int
        required: true
      end:
        description: Last port of the range.
        type: int
        required: true
  allocated:
    description: Ports allocated to users; the probes never use them.
    type: list
    elements: int
    default: []
  layers:
    description: The layers to probe.
    type: list
    elements: str
    choices: [nftables, socket_bind]
    default: [nftables, socket_bind]
  probe_user:
    description: Unprivileged account the probes run as; it must own no port.
    type: str
    default: nobody
attributes:
  check_mode:
    support: full
    description: The probes change nothing on the host, so they run in check mode too.
  diff_mode:
    support: none
    description: Nothing on the host is changed that a diff could show.
  platform:
    support: full
    platforms: posix
    description: Linux with systemd.
"""

EXAMPLES = r"""
- name: Find out which enforcement layers hold
  sharedhost.hosting.enforcement_probe:
    port_range: {start: 20000, end: 29999}
    allocated: "{{ port_allocations_ports.values() | flatten }}"
  register: __layers
"""

RETURN = r"""
layers:
  description: Per probed layer, whether it is active and what the probe saw.
  returned: always
  type: dict
  sample:
    nftables: {active: true, detail: "nobody listened on unallocated port 29999 but no connection completed (timed out)"}
    socket_bind: {active: false, detail: "SocketBindDeny= is ignored here (binding denied port 29998: bound)"}
active:
  description: Names of the layers that held.
  returned: always
  type: list
  elements: str
  sample: [nftables]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sharedhost.hosting.plugins.module_utils.enforcement_probe import (
    free_port,
    probe_owner_rules,
    probe_socket_bind,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            port_range=dict(type="dict", required=True, options=dict(
                start=dict(type="int", required=True),
                end=dict(type="int", required=True),
            )),
            allocated=dict(type="list", elements="int", default=[]),
            layers=dict(type="list", elements="str", choices=["nftables", "socket_bind"],
                        default=["nftables", "socket_bind"]),
            probe_user=dict(type="str", default="nobody"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    start, end = params["port_range"]["start"], params["port_range"]["end"]
    taken = set(params["allocated"])
    first = free_port(start, end, taken)
    second = free_port(start, end, taken | set([first])) if first is not None else None
    if second is None:
        module.fail_json(msg="no two free, unallocated ports left in %d-%d to probe with" % (start, end))
    layers = {}
    if "nftables" in params["layers"]:
        layers["nftables"] = probe_owner_rules(first, params["probe_user"])
    if "socket_bind" in params["layers"]:
        layers["socket_bind"] = probe_socket_bind(first, second, params["probe_user"])
    module.exit_json(changed=False, layers=layers,
                     active=sorted(name for name, layer in layers.items() if layer["active"]))


if __name__ == "__main__":
    main()
