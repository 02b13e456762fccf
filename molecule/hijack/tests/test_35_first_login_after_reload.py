"""Attack 3d: alice's first login session after a systemd daemon-reload (every converge
that changes a unit, every systemctl enable/disable, package upgrades do one) binds an
unallocated port of the range at once. Where the user slice's SocketBindDeny= holds, the
first session in the slice after a reload is not held by it for its first milliseconds
(measured on Debian 13: the first bind, about 20 ms after the session started, went
through in most tries; the next one failed with EPERM); the nftables owner rule and the
audit still hold."""
from conftest import (
    ATTACKER, STRAY_PORTS, assert_no_connection, audit, audit_remediate_and_recheck, bob_serves, outcome, record,
    restore_backends, socket_bind_for_sessions, squat_from_login_shell, stop_attacker, uid_of)

TRIES = 3


def test_first_login_after_a_daemon_reload(host):
    target = "127.0.0.1:%d" % STRAY_PORTS[0]
    title = "3d login post-reload"
    states = []
    try:
        for _try in range(TRIES):
            host.check_output("systemctl daemon-reload")
            state = squat_from_login_shell(host, "reload", [target], after_reload_session=False)
            states.append(state)
            if outcome(state, target) == "bound":
                break
        results = [outcome(state, target) for state in states]
        assert bob_serves(host)
        if results[-1] != "bound":
            assert socket_bind_for_sessions(host) and set(results) == {"EPERM"}, results
            record(host, title, "socket_bind", "bind EPERM",
                   "daemon-reload, then at once a login session of alice binds %s: EPERM in %d of %d tries (the "
                   "window after a reload was not hit); audit clean" % (target, len(results), len(results)))
            return
        squatter = states[-1]
        assert squatter["uid"] == uid_of(host, ATTACKER)
        dropped = assert_no_connection(host, [target])
        found = audit(host)
        assert found.failed, found
        stray = found.stray(STRAY_PORTS[0], "127.0.0.1")
        assert (stray["actual_user"], stray["pids"]) == (ATTACKER, [squatter["pid"]]), stray
        audit_remediate_and_recheck(host, kill_strays=True)
        if socket_bind_for_sessions(host):
            note = ("SocketBindDeny= of user-%d.slice did not hold for the first session after the reload (try %d "
                    "of %d, earlier tries: %s)" % (squatter["uid"], len(results), TRIES, ", ".join(results[:-1]) or
                                                   "none"))
        else:
            note = "no socket-bind support here, same as 3c"
        record(host, title, "nftables", "bound, no handshake",
               "daemon-reload, then at once a login session of alice binds %s: bound; %s; root's connect timed out "
               "(%d SYN-ACKs dropped); audit failed naming the stray of alice, pid %d; remediation with kill_strays "
               "stopped it; 2nd audit clean" % (target, note, dropped, squatter["pid"]))
    finally:
        stop_attacker(host, [state["pid"] for state in states])
        restore_backends(host)
