"""Attack 1 again WITH THE GUARD TURNED OFF (site.yml with backends_listen_guard=false):
the kernel layers alone must keep alice from serving bob's port. Where systemd enforces
socket-bind restrictions her backend unit cannot bind it at all (EPERM); elsewhere her
Apache may bind it first, but the nftables owner rule drops every answer of hers, so she
never receives a byte of bob's traffic, and the audit's remediation gives bob his port back."""
import json

import pytest

from conftest import (
    ATTACKER, VICTIM, all_hosts, assert_no_connection, audit, audit_remediate_and_recheck, bob_serves, holders,
    journal, now, port_of, record, restore_backends, run_site, socket_bind_for_backends, uid_of, unit,
    wait_bob_serves, wait_port_taken)
from sharedhost_verify import platform, restart_container, wait_until, write_as

INCLUDE = "/home/%s/sharedhost/apache.conf" % ATTACKER


def spec(host, user):
    return json.loads(host.file("/etc/sharedhost/backends/%s/backend.json" % user).content_string)


@pytest.fixture(scope="module")
def guard_off():
    """One site.yml run on every test host turns the guard off, as an admin would type it
    (-e backends_listen_guard=false, a string the role must read as a boolean); one more
    run turns it back on."""
    hosts = all_hosts()
    names = [platform(h) for h in hosts]
    run_site(names, "backends_listen_guard=false")
    for each in hosts:
        assert spec(each, ATTACKER)["guard"] is False  # not the string "false" (which the launcher reads as on)
    yield
    run_site(names, {})
    for each in hosts:
        assert spec(each, ATTACKER)["guard"] is True
        wait_bob_serves(each, message="bob to serve with the guard back on")


def test_reboot_race_without_the_guard_is_stopped_by_the_kernel(host, guard_off):
    bob_port, alice_port = port_of(host, VICTIM), port_of(host, ATTACKER)
    alice, bob = uid_of(host, ATTACKER), uid_of(host, VICTIM)
    original = host.file(INCLUDE).content_string
    directive = "Listen 127.0.0.1:%d" % bob_port
    title = "1b reboot, no guard"
    try:
        write_as(host, ATTACKER, INCLUDE, original + directive + "\n")
        host.check_output("systemctl disable %s", unit(VICTIM))
        since = now(host)
        restart_container(host)

        def settled():
            return [alice] == holders(host, bob_port) == holders(host, alice_port) or \
                "could not bind to address 127.0.0.1:%d" % bob_port in journal(host, ATTACKER, since)
        wait_until(settled, timeout=60, message="alice's backend to bind both ports or fail to bind bob's")
        assert "refusing" not in journal(host, ATTACKER, since)  # the guard is really off

        if socket_bind_for_backends(host):
            # systemd's SocketBindAllow=/Deny= on alice's unit: bind() fails with EPERM.
            log = journal(host, ATTACKER, since)
            denied = "(1)Operation not permitted: AH00072: make_sock: could not bind to address 127.0.0.1:%d"
            assert denied % bob_port in log, log
            wait_until(lambda: host.run("systemctl is-failed %s", unit(ATTACKER)).stdout.strip() == "failed",
                       timeout=60, message="alice's unit to give up")
            assert alice not in holders(host, bob_port)
            host.check_output("systemctl enable --now %s", unit(VICTIM))
            wait_bob_serves(host, message="bob to serve after starting second")
            result = audit(host)
            assert not result.failed and result.result["squatters"] == [], result
            record(host, title, "socket_bind", "bind EPERM",
                   "the same reboot with backends_listen_guard=false: alice's Apache got (1)Operation not "
                   "permitted (EPERM) binding 127.0.0.1:%d (SocketBindAllow= of her unit), her unit failed after "
                   "its restarts and never held the port; bob started after the boot serves; audit clean" % bob_port)
            return

        # No socket-bind support: alice's Apache holds her port and bob's.
        assert holders(host, bob_port) == [alice] and holders(host, alice_port) == [alice]
        apache_pids = sorted(int(p) for p in host.check_output("pgrep -u %s -x apache2", ATTACKER).split())
        access = "/var/log/sharedhost/%s/access.log" % ATTACKER
        before = host.run("wc -l < %s", access).stdout.strip()
        dropped = assert_no_connection(host, ["127.0.0.1:%d" % bob_port])
        assert not bob_serves(host, timeout=3)  # bob's vhost times out; it never shows alice's site
        assert host.run("wc -l < %s", access).stdout.strip() == before  # alice received nothing

        host.check_output("systemctl enable %s", unit(VICTIM))
        host.run("systemctl start --no-block %s", unit(VICTIM))
        wait_port_taken(host, VICTIM, bob_port, since)

        found = audit(host)
        assert found.failed, found
        squatter = found.squatter(bob_port, "127.0.0.1")
        assert squatter["expected_user"] == VICTIM and squatter["actual_user"] == ATTACKER, squatter
        assert squatter["actual_uid"] == alice and set(squatter["pids"]) <= set(apache_pids), (squatter, apache_pids)
        assert squatter["pids"] and "apache2" in squatter["command"], squatter
        assert any("alice" in line and str(bob_port) in line for line in found.report), found.report

        fixed, _second = audit_remediate_and_recheck(host)
        assert holders(host, bob_port) == [bob]
        afterwards = host.run("systemctl show -p ActiveState,SubState,NRestarts %s", unit(ATTACKER)).stdout.split()
        record(host, title, "nftables", "bound, no handshake",
               "the same reboot with backends_listen_guard=false: alice's Apache bound 127.0.0.1:%d first and bob's "
               "start failed (EADDRINUSE); root's connect timed out (%d SYN-ACKs dropped by the owner rule), 0 "
               "requests in alice's access log, bob's vhost timed out instead of showing alice's site; audit failed "
               "naming alice, pid(s) %s; remediation stopped them and restarted bob; bob serves, 2nd audit clean "
               "(alice's unit afterwards: %s)" % (bob_port, dropped, ",".join(map(str, squatter["pids"])),
                                                  " ".join(afterwards)))
        assert fixed.result["remediation"]
    finally:
        write_as(host, ATTACKER, INCLUDE, original)
        restore_backends(host)
        assert holders(host, bob_port) == [bob]
