"""Attack 1, the seed scenario: alice copies bob's port into her own backend config and
wins the race at boot (bob's backend is made to start after hers). The start-time guard
refuses her backend; bob, started after the boot, serves."""
from conftest import ATTACKER, VICTIM, audit, holders, port_of, record, restore_backends, uid_of, unit, wait_bob_serves
from sharedhost_verify import http, restart_container, wait_until, write_as

INCLUDE = "/home/%s/sharedhost/apache.conf" % ATTACKER


def test_reboot_race_is_refused_by_the_guard(host):
    bob_port = port_of(host, VICTIM)
    original = host.file(INCLUDE).content_string
    directive = "Listen 127.0.0.1:%d" % bob_port
    try:
        write_as(host, ATTACKER, INCLUDE, original + directive + "\n")
        host.check_output("systemctl disable %s", unit(VICTIM))
        restart_container(host)
        wait_until(lambda: host.run("systemctl show -p ExecMainStatus --value %s", unit(ATTACKER)).stdout.strip()
                   == "78", timeout=60, message="alice's backend to be refused")
        status = host.run("systemctl status --no-pager -n 20 %s", unit(ATTACKER)).stdout
        assert "refusing to start alice's backend" in status, status
        assert directive in status and INCLUDE in status, status
        assert host.run("systemctl is-failed %s", unit(ATTACKER)).stdout.strip() == "failed"  # not retried
        assert uid_of(host, ATTACKER) not in holders(host, bob_port)

        host.check_output("systemctl enable --now %s", unit(VICTIM))
        wait_bob_serves(host, message="bob to serve after starting second")
        assert holders(host, bob_port) == [uid_of(host, VICTIM)]
        assert http(host, "alice.example.test")[0] == "503"

        result = audit(host)
        assert not result.failed, result  # no squatter: nothing to remediate
        assert result.result["squatters"] == [] and result.result["strays"] == []
        assert {"port": port_of(host, ATTACKER), "user": ATTACKER} in result.result["missing"]
        record(host, "1a reboot race", "guard", "unit refused",
               "alice adds '%s' to her apache.conf, reboot with her backend first: her unit refused (exit 78, "
               "directive and file:line in its status, not retried), she never bound %d; bob started after the boot "
               "serves; audit clean (alice missing)" % (directive, bob_port))
    finally:
        write_as(host, ATTACKER, INCLUDE, original)
        restore_backends(host)
