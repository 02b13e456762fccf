"""The start-time guard: alice's own config that Listens on bob's port is refused at
start (the init script, as at boot), and bob keeps serving his own content."""
from conftest import SCRIPT, main_pid, states
from sharedhost_verify import http, listeners, registry, wait_until, write_as

ALICE_CONF = "/home/alice/sharedhost/apache.conf"


def test_a_backend_listening_on_another_users_port_is_refused(host):
    ports = registry(host)["users"]
    bob_port = ports["bob"]["ports"][0]
    original = host.file(ALICE_CONF).content_string
    try:
        write_as(host, "alice", ALICE_CONF, original + "\nListen 127.0.0.1:%d\n" % bob_port)
        # The reboot race: bob is down when alice starts.
        assert host.run("%s stop bob alice", SCRIPT).rc == 0
        started = host.run("%s start alice", SCRIPT)
        assert started.rc != 0
        assert states(host, ["alice"]) == {"alice": "stopped"}
        log = host.file("/var/log/sharedhost-backends/alice.log").content_string
        assert "refusing to start alice's backend" in log and str(bob_port) in log
        assert bob_port not in listeners(host)
        assert host.run("%s start bob", SCRIPT).rc == 0
        wait_until(lambda: http(host, "bob.example.test")[0] == "200", timeout=30, message="bob back")
        status, body = http(host, "bob.example.test")
        assert "Hello from the mod_perl handler of bob " in body
        assert listeners(host)[bob_port] == host.user("bob").uid
        # Self-service refuses it too and leaves the (stopped) backend alone.
        assert host.run("runuser -u alice -- sharedhost-ctl start").rc != 0
    finally:
        write_as(host, "alice", ALICE_CONF, original)
        host.run("%s start alice bob", SCRIPT)
    wait_until(lambda: http(host, "alice.example.test")[0] == "200", timeout=30, message="alice back")
    assert main_pid(host, "bob")
