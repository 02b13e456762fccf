"""The audit on a SysV host: alice's hand-started server on bob's port (while bob is down)
is found, and remediation kills it and brings bob's backend back through the init script."""
from conftest import SCRIPT, states
from sharedhost_verify import http, listeners, platform, registry, run_playbook, wait_until


def test_a_squatter_is_found_killed_and_the_owner_restarted(host):
    bob_port = registry(host)["users"]["bob"]["ports"][0]
    assert host.run("%s stop bob", SCRIPT).rc == 0
    host.check_output("runuser -u alice -- setsid -f python3 -m http.server %s --bind 127.0.0.1 "
                      ">/dev/null 2>&1 </dev/null", str(bob_port))
    wait_until(lambda: listeners(host).get(bob_port) == host.user("alice").uid, timeout=20, message="the squatter")
    # The owner rules already keep bob's traffic from her: no handshake completes.
    assert http(host, "bob.example.test", timeout=3)[0] != "200"

    try:
        out = run_playbook("audit.yml", ["--limit", platform(host)], expect_failure=True)
        assert "squatter" in out
        run_playbook("audit.yml", ["--limit", platform(host), "-e", "sharedhost_audit_remediate=true"])
        wait_until(lambda: states(host, ["bob"]) == {"bob": "running"}, timeout=30, message="bob restarted")
        wait_until(lambda: http(host, "bob.example.test")[0] == "200", timeout=30, message="bob serving")
        assert listeners(host)[bob_port] == host.user("bob").uid
        assert host.run("pgrep -u alice -f 'http.server %s'" % bob_port).rc == 1
    finally:
        host.run("pkill -u alice -f 'http.server %s'" % bob_port)
        host.run("%s start bob", SCRIPT)
