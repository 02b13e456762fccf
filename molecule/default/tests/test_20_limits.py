"""Limits come from outside the backend: its code cannot raise them, and a fork loop stops at the user's limit."""
import base64

from sharedhost_verify import http


def main_pid(host, name):
    return host.run("systemctl show -p MainPID --value sharedhost-backend@%s.service", name).stdout.strip()


def test_backend_limits_are_set_and_cannot_be_raised(host, users):
    alice = [u for u in users if u["name"] == "alice"][0]
    pid = main_pid(host, "alice")
    limits = host.file("/proc/%s/limits" % pid).content_string
    nofile = [line for line in limits.splitlines() if line.startswith("Max open files")][0].split()
    nproc = [line for line in limits.splitlines() if line.startswith("Max processes")][0].split()
    assert nofile[3:5] == [str(alice["limits"]["nofile"])] * 2
    assert nproc[2:4] == [str(alice["limits"]["nproc"])] * 2
    # The backend's own user cannot raise its hard limits.
    wanted = "%d:%d" % (alice["limits"]["nofile"] * 4, alice["limits"]["nofile"] * 4)
    raised = host.run("runuser -u alice -- prlimit --pid %s --nofile=%s", pid, wanted)
    assert raised.rc != 0
    # Nor can code started in the user's session.
    assert host.run("runuser -l alice -c %s", "ulimit -Hn %d" % (alice["limits"]["nofile"] * 4)).rc != 0
    unit = host.run("systemctl show -p MemoryMax -p TasksMax -p CPUQuotaPerSecUSec sharedhost-backend@alice.service")
    assert "MemoryMax=268435456" in unit.stdout and "TasksMax=%d" % alice["limits"]["tasks"] in unit.stdout


FORK_LOOP = (
    "import os, time\n"
    "made = failed = 0\n"
    "for _ in range(%d):\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError:\n"
    "        failed += 1\n"
    "        continue\n"
    "    if pid == 0:\n"
    "        time.sleep(20)\n"
    "        os._exit(0)\n"
    "    made += 1\n"
    "print(made, failed)\n"
)


def test_fork_loop_stops_at_the_users_limit_and_others_keep_serving(host, users):
    alice = [u for u in users if u["name"] == "alice"][0]
    limit = alice["limits"]["nproc"]
    script = base64.b64encode((FORK_LOOP % (3 * limit)).encode()).decode()
    host.check_output("echo %s | base64 -d > /tmp/forkloop.py && chmod 644 /tmp/forkloop.py", script)
    try:
        # Bounded: at most 3 * limit forks, each child sleeps 20 s; run in alice's login session.
        made, failed = map(int, host.check_output("runuser -l alice -c 'python3 /tmp/forkloop.py'").split())
        assert failed > 0, "no fork failed: the process limit is not applied"
        assert made < limit
        for user in users:
            if user["name"] != "alice":
                status, _body = http(host, user["vhosts"][0])
                assert status == "200"
    finally:
        host.run("pkill -u alice -f /tmp/forkloop.py")
