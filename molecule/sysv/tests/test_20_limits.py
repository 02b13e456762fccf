"""rlimits set by root before the drop to the user: the configured ones, and the user cannot raise them."""
import re

from conftest import main_pid

# alice's limits in the example inventory (memory 256M, nproc and tasks 128, nofile 1024),
# the address space is memory x init_scripts_sysv_address_space_factor (8).
ALICE = {"Max open files": (1024, 1024), "Max processes": (128, 128),
         "Max address space": (8 * 256 * 1024 * 1024, 8 * 256 * 1024 * 1024)}


def limits(host, pid):
    table = {}
    for line in host.file("/proc/%d/limits" % pid).content_string.splitlines()[1:]:
        match = re.match(r"^(.*?)\s{2,}(\S+)\s+(\S+)", line)
        if match:
            table[match.group(1)] = tuple(int(v) if v.isdigit() else v for v in match.group(2, 3))
    return table


def test_backend_has_the_configured_soft_and_hard_limits(host):
    table = limits(host, main_pid(host, "alice"))
    for name, expected in ALICE.items():
        assert table[name] == expected, (name, table[name])


def test_children_inherit_them(host):
    pid = main_pid(host, "alice")
    children = host.run("pgrep -P %s", str(pid)).stdout.split()
    assert children
    assert limits(host, int(children[0]))["Max open files"] == (1024, 1024)


def test_the_user_cannot_raise_a_hard_limit(host):
    pid = main_pid(host, "alice")
    raised = host.run("runuser -u alice -- prlimit --pid %s --nofile=1024:99999", str(pid))
    assert raised.rc != 0
    assert limits(host, pid)["Max open files"] == (1024, 1024)
    # Nor from inside the limits the backend has (a shell with the backend's rlimits).
    shell = host.run("runuser -u alice -- prlimit --nofile=1024:1024 --nproc=128:128 sh -c 'ulimit -Hn 99999'")
    assert shell.rc != 0


def test_every_user_has_the_default_or_own_limits(host):
    bob = limits(host, main_pid(host, "bob"))
    assert bob["Max open files"] == (1024, 1024) and bob["Max processes"] == (256, 256)
    assert bob["Max address space"] == (8 * 512 * 1024 * 1024,) * 2
