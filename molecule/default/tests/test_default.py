"""Testinfra checks that the Molecule test hosts are usable systemd machines."""


def test_systemd_is_pid1(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"


def test_system_booted(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded")


def test_python3_present(host):
    assert host.exists("python3")
    assert host.run("python3 -c 'import apt'").rc == 0


def test_cgroup2_hierarchy_on_cgroup2_hosts(host):
    fstype = host.run("stat -fc %T /sys/fs/cgroup").stdout.strip()
    if host.system_info.release.startswith("13") or host.system_info.codename == "trixie":
        assert fstype == "cgroup2fs"
    else:
        assert fstype in ("tmpfs", "cgroup2fs")
