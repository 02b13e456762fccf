"""Helpers of the SysV verification: the example users, and their backends as the
init script sees them (pid files in the root-owned /run/sharedhost-backends)."""

import pytest

from sharedhost_verify import example_users

SCRIPT = "/etc/init.d/sharedhost-backends"
PID_DIR = "/run/sharedhost-backends"


@pytest.fixture(scope="session")
def users():
    return example_users()


def main_pid(host, name):
    """The backend's main pid from the init script's pid file, or None."""
    result = host.run("cat %s/%s.pid", PID_DIR, name)
    text = result.stdout.strip()
    return int(text) if result.rc == 0 and text.isdigit() else None


def alive(host, pid):
    return host.run("test -d /proc/%s", str(pid)).rc == 0


def session_ids(host, pid):
    """(uid, gid) of every process of the backend's session (start-stop-daemon setsid()s it)."""
    sid = host.run("ps -o sid= -p %s", str(pid)).stdout.strip()
    assert sid.isdigit() and sid != "0", (pid, sid)
    out = host.run("ps -o ruid=,euid=,rgid=,egid= -s %s", sid).stdout
    return [tuple(int(v) for v in line.split()) for line in out.splitlines() if line.strip()]


def states(host, names):
    out = host.run(" ".join([SCRIPT, "states"] + list(names))).stdout  # names are plain words
    return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)


def all_running(host, names):
    return states(host, names) == dict((n, "running") for n in names)
