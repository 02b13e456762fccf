# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One allocation run on the managed host: lock, read, plan, write.

This is everything the port_allocation module does, as plain Python so that
unit, concurrency and crash tests call it directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.sharedhost.hosting.plugins.module_utils import port_registry
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_allocator import (
    parse_range,
    parse_reserved,
    parse_users,
    plan,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils.proc_net import (
    listening_ports,
    read_listeners,
)

DEFAULT_REGISTRY = "/var/lib/sharedhost/ports.json"


def run_allocation(registry_path, users, port_range, reserved=None, quarantine_seconds=86400,
                   authoritative=False, skip_listening=True, lock_timeout=60.0,
                   check_mode=False, now=None, busy_ports=None, want_diff=True):
    """Allocate for all users of this host in one locked transaction.

    Returns a dict ready to be the module's result (without ``diff``, which
    carries ``before``/``after`` texts under the key ``_diff``).
    Raises port_allocator.AllocationError or port_registry.RegistryError
    before anything is written.
    """
    # Input errors need no registry: report them before touching the host at all.
    start, end = parse_range(port_range)
    request = parse_users(users, start, end, parse_reserved(reserved))

    directory = os.path.dirname(os.path.abspath(registry_path))
    if not check_mode and not os.path.isdir(directory):
        os.makedirs(directory, 0o755)

    with port_registry.RegistryLock(registry_path, timeout=lock_timeout, shared=check_mode):
        before, existed = port_registry.load(registry_path)
        if busy_ports is None:
            busy_ports = listening_ports(read_listeners()) if skip_listening else set()
        result = plan(before, users, port_range, reserved=reserved,
                      now=time.time() if now is None else now, busy_ports=busy_ports,
                      quarantine_seconds=quarantine_seconds, authoritative=authoritative)
        # A fresh host with nothing to allocate still gets its (empty) registry,
        # so later runs and the audit know this host is managed.
        changed = result.changed or not existed
        # Serialising a 10,000-user registry costs real time: only when it is used.
        after_text = port_registry.dumps(result.registry) if (changed and not check_mode) or want_diff else None
        if changed and not check_mode:
            port_registry.write_atomic(registry_path, after_text)
        diff = None
        if want_diff:
            diff = {"before": port_registry.dumps(before) if existed else "", "after": after_text,
                    "before_header": registry_path, "after_header": registry_path}

    ports = result.ports
    # Present socket backends are served, with no port: [] keeps them in the map.
    ports.update((user["name"], []) for user in request if user["socket"])
    return {
        "changed": changed,
        "ports": ports,
        "allocated": result.allocated,
        "released": result.released,
        "quarantine": result.active_quarantine,
        "free_ports": result.free,
        "registry": registry_path,
        "warnings": result.warnings,
        "_diff": diff,
    }
