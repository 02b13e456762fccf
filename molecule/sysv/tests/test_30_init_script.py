"""The init script acts on all users or on one named user, and a pid file can never make
it signal another user's process."""
from conftest import PID_DIR, SCRIPT, alive, all_running, main_pid, states
from sharedhost_verify import http, wait_until


def names(users):
    return [u["name"] for u in users]


def test_status_of_all_and_of_one(host, users):
    out = host.run("%s status", SCRIPT)
    assert out.rc == 0, out.stdout
    for name in names(users):
        assert "%s: running" % name in out.stdout
    one = host.run("%s status bob", SCRIPT)
    assert one.rc == 0 and one.stdout.strip().startswith("bob: running")


def test_stop_and_start_one_user_touch_only_that_user(host, users):
    others = dict((n, main_pid(host, n)) for n in names(users) if n != "alice")
    assert host.run("%s stop alice", SCRIPT).rc == 0
    assert states(host, ["alice"]) == {"alice": "stopped"}
    assert host.run("%s status alice", SCRIPT).rc == 3
    assert host.run("pgrep -u alice").rc == 1  # nothing of alice's backend is left
    assert http(host, "alice.example.test")[0] != "200"
    for name, pid in others.items():
        assert main_pid(host, name) == pid and alive(host, pid), name
    assert http(host, "bob.example.test")[0] == "200"

    assert host.run("%s start alice", SCRIPT).rc == 0
    wait_until(lambda: http(host, "alice.example.test")[0] == "200", timeout=30, message="alice back")
    for name, pid in others.items():
        assert main_pid(host, name) == pid, name


def test_restart_one_user(host):
    before = main_pid(host, "carol")
    bob = main_pid(host, "bob")
    assert host.run("%s restart carol", SCRIPT).rc == 0
    assert main_pid(host, "carol") != before
    assert main_pid(host, "bob") == bob
    wait_until(lambda: http(host, "carol.example.test")[0] == "200", timeout=30, message="carol back")


def test_a_forged_pid_file_cannot_kill_another_users_process(host, users):
    bob = main_pid(host, "bob")
    # The user cannot write the init script's pid file at all ...
    assert host.run("runuser -u alice -- sh -c 'echo %s > %s/alice.pid'", str(bob), PID_DIR).rc != 0
    # ... but Apache's own pid file is hers: it does not count.
    host.run("runuser -u alice -- sh -c 'echo %s > /run/sharedhost/alice/httpd.pid'", str(bob))
    # Even a pid file that names bob's backend (a stale file whose pid was reused) is no
    # reason to signal it: the process must belong to alice.
    alice = main_pid(host, "alice")
    host.check_output("echo %s > %s/alice.pid", str(bob), PID_DIR)
    host.run("%s stop alice", SCRIPT)
    host.run("%s reload alice", SCRIPT)
    assert alive(host, bob) and main_pid(host, "bob") == bob
    assert http(host, "bob.example.test")[0] == "200"
    # alice's real backend was not found through that pid file, so it still runs: put it back.
    host.check_output("echo %s > %s/alice.pid", str(alice), PID_DIR)
    assert host.run("%s stop alice", SCRIPT).rc == 0
    assert not alive(host, alice) and alive(host, bob)
    assert host.run("%s start alice", SCRIPT).rc == 0
    wait_until(lambda: all_running(host, names(users)), timeout=30, message="every backend")


def test_self_service_acts_on_the_users_own_backend(host):
    bob = main_pid(host, "bob")
    out = host.run("runuser -u alice -- sharedhost-ctl status")
    assert out.rc == 0 and "alice: running" in out.stdout
    before = main_pid(host, "alice")
    assert host.run("runuser -u alice -- sharedhost-ctl restart").rc == 0
    assert main_pid(host, "alice") != before
    assert main_pid(host, "bob") == bob
    wait_until(lambda: http(host, "alice.example.test")[0] == "200", timeout=30, message="alice back")
    # A graceful reload (logrotate's postrotate) keeps the main process.
    pid = main_pid(host, "alice")
    assert host.run("/usr/local/sbin/sharedhost-ctl --user alice reload").rc == 0
    assert main_pid(host, "alice") == pid
