"""Attack 2: while bob's backend is down (restart, crash, maintenance) alice starts a
web server of her own on bob's port from a login shell; then bob's backend starts."""
from conftest import (
    ATTACKER, HOLD_SECONDS, VICTIM, assert_no_connection, audit, audit_remediate_and_recheck, bob_serves,
    first_login_after_reload, holders, now, port_of, record, restore_backends, socket_bind_for_sessions,
    stop_attacker, uid_of, unit, wait_bob_serves, wait_port_taken)
from sharedhost_verify import wait_until

LOG = "/home/%s/.hijack-http.log" % ATTACKER


def test_server_from_a_login_shell_on_bobs_port(host):
    bob_port = port_of(host, VICTIM)
    alice, bob = uid_of(host, ATTACKER), uid_of(host, VICTIM)
    title = "2 login-shell server"
    pids = []
    try:
        host.check_output("systemctl stop %s", unit(VICTIM))
        wait_until(lambda: holders(host, bob_port) == [], timeout=20, message="bob's port to be free")
        # alice, in a login shell (a PAM session like SSH), backgrounds python's web server
        # on bob's port; timeout(1) bounds it should every clean-up fail.
        command = "cd ~; nohup timeout %d python3 -m http.server %d --bind 127.0.0.1 >%s 2>&1 </dev/null & echo $!" % (
            HOLD_SECONDS, bob_port, LOG)
        first_login_after_reload(host)
        pids.append(int(host.check_output("runuser -l %s -c %s", ATTACKER, command).strip()))
        wait_until(lambda: alice in holders(host, bob_port) or "Error" in host.run("cat %s", LOG).stdout,
                   timeout=20, step=0.5, message="alice's server to bind or fail")
        log = host.run("cat %s", LOG).stdout
        since = now(host)

        if socket_bind_for_sessions(host):
            # Her session is in user-UID.slice, whose SocketBindDeny=any makes bind() fail.
            assert "PermissionError: [Errno 1] Operation not permitted" in log, log
            host.check_output("systemctl start %s", unit(VICTIM))
            wait_bob_serves(host, message="bob to serve")
            result = audit(host)
            assert not result.failed and result.result["squatters"] == [], result
            record(host, title, "socket_bind", "bind EPERM",
                   "with bob stopped, alice runs 'python3 -m http.server %d --bind 127.0.0.1' in the background from a "
                   "login shell (runuser -l): PermissionError EPERM, her session scope is in user-%d.slice "
                   "(SocketBindDeny=any); bob starts and serves; audit clean" % (bob_port, alice))
            return

        assert holders(host, bob_port) == [alice], log
        server = [int(p) for p in host.check_output("pgrep -u %s -P %s", ATTACKER, str(pids[0])).split()]
        pids.extend(server)
        host.run("systemctl start --no-block %s", unit(VICTIM))
        wait_port_taken(host, VICTIM, bob_port, since)
        dropped = assert_no_connection(host, ["127.0.0.1:%d" % bob_port])
        assert not bob_serves(host, timeout=3)
        assert "GET" not in host.run("cat %s", LOG).stdout  # not one request reached alice's server

        found = audit(host)
        assert found.failed, found
        squatter = found.squatter(bob_port, "127.0.0.1")
        assert (squatter["expected_user"], squatter["actual_user"], squatter["pids"]) == (VICTIM, ATTACKER, server)
        assert "http.server %d" % bob_port in squatter["command"], squatter
        fixed, _second = audit_remediate_and_recheck(host)
        stopped = "stopped pid %d (alice) squatting on port %d of bob" % (server[0], bob_port)
        assert stopped in fixed.result["remediation"], fixed
        assert holders(host, bob_port) == [bob]
        record(host, title, "nftables", "bound, no handshake",
               "with bob stopped, alice runs 'python3 -m http.server %d --bind 127.0.0.1' in the background from a "
               "login shell: it binds, bob's start fails (EADDRINUSE); root's connect timed out (%d SYN-ACKs dropped), "
               "no request in her server's log; audit failed naming alice, pid %d; remediation stopped it and "
               "restarted bob; bob serves, 2nd audit clean" % (bob_port, dropped, server[0]))
    finally:
        stop_attacker(host, pids, marker="http.server")
        restore_backends(host)
