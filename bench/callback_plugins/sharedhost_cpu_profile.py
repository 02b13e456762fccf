# Copyright: sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-task CPU profile of a run against podman test hosts on this machine (benches only).

For every task: wall time, CPU time spent inside the podman test hosts (their
containers' cgroups) and busy time of the whole machine (/proc/stat), so the
controller's share is the difference. At the end the totals and the tasks
with the most machine CPU are written to $SHAREDHOST_CPU_PROFILE.
"""
from __future__ import annotations

DOCUMENTATION = r"""
name: sharedhost_cpu_profile
type: aggregate
short_description: CPU per task inside the podman test hosts and on the whole machine (benches only)
description:
  - Writes the run's totals and its most CPU-hungry tasks to the file named by E(SHAREDHOST_CPU_PROFILE).
requirements:
  - enable in ansible.cfg or with E(ANSIBLE_CALLBACKS_ENABLED)
options: {}
"""

import glob
import os
import time

from ansible.plugins.callback import CallbackBase

# The test hosts' cgroups: cgroup v1 cpuacct (this machine) or cgroup v2 (podman's machine.slice scopes).
V1_USAGE = "/sys/fs/cgroup/cpuacct/libpod_parent/libpod-*/cpuacct.usage"
V2_STAT = "/sys/fs/cgroup/machine.slice/libpod-*.scope/cpu.stat"


def hosts_cpu():
    """CPU seconds used so far by every running podman container."""
    total = 0.0
    for path in glob.glob(V1_USAGE):
        with open(path) as handle:
            total += int(handle.read()) / 1e9
    for path in glob.glob(V2_STAT):
        with open(path) as handle:
            total += int(handle.readline().split()[1]) / 1e6  # usage_usec
    return total


def machine_busy():
    """CPU seconds the machine's CPUs were busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as handle:
        ticks = [int(value) for value in handle.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def snapshot():
    return time.monotonic(), hosts_cpu(), machine_busy()


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "sharedhost_cpu_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started = snapshot()
        self.current = None
        self.tasks = []

    def _close_task(self):
        if self.current:
            name, begin = self.current
            end = snapshot()
            self.tasks.append((name,) + tuple(after - before for after, before in zip(end, begin)))
            self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_task()
        self.current = (task.get_name(), snapshot())

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self._close_task()
        wall, inside, busy = (after - before for after, before in zip(snapshot(), self.started))
        lines = ["total: wall %.1f s, test hosts %.1f CPU-s, machine busy %.1f CPU-s (%.2f cores)"
                 % (wall, inside, busy, busy / wall if wall else 0.0),
                 "   wall  hosts-CPU  machine-CPU  task"]
        for name, task_wall, task_inside, task_busy in sorted(self.tasks, key=lambda row: -row[3])[:40]:
            lines.append("%7.2f  %9.2f  %11.2f  %s" % (task_wall, task_inside, task_busy, name))
        with open(os.environ.get("SHAREDHOST_CPU_PROFILE", "cpu-profile.txt"), "w") as handle:
            handle.write("\n".join(lines) + "\n")
