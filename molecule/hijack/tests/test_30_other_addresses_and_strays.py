"""Attack 3, with bob serving: alice binds bob's port on ::1 and on 0.0.0.0, and squats
unallocated ports of the range (strays) on 127.0.0.1 and 0.0.0.0, from a login shell."""
from conftest import (
    ATTACKER, STRAY_PORTS, VICTIM, assert_no_connection, audit, audit_remediate_and_recheck, bob_serves, outcome,
    port_of, read_state, record, restore_backends, socket_bind_for_sessions, squat_from_login_shell, stop_attacker,
    uid_of)


def test_ipv6_wildcard_and_stray_binds(host):
    bob_port = port_of(host, VICTIM)
    alice = uid_of(host, ATTACKER)
    v6, wildcard = "[::1]:%d" % bob_port, "0.0.0.0:%d" % bob_port
    strays = ["127.0.0.1:%d" % STRAY_PORTS[0], "0.0.0.0:%d" % STRAY_PORTS[1]]
    state = None
    try:
        assert bob_serves(host)
        state = squat_from_login_shell(host, "addresses", [v6, wildcard] + strays)
        assert state["uid"] == alice
        results = dict((t, outcome(state, t)) for t in [v6, wildcard] + strays)
        assert bob_serves(host)  # bob keeps serving throughout

        if socket_bind_for_sessions(host):
            assert set(results.values()) == {"EPERM"}, (results, state["cgroup"])
            result = audit(host)
            assert not result.failed and result.result["squatters"] == [] and result.result["strays"] == [], result
            where = "from a login shell, her session in user-%d.slice; bob serves; audit clean" % alice
            record(host, "3a bind ::1", "socket_bind", "bind EPERM", "%s: EPERM %s" % (v6, where))
            record(host, "3b bind 0.0.0.0", "socket_bind", "bind EPERM", "%s: EPERM %s" % (wildcard, where))
            record(host, "3c strays", "socket_bind", "bind EPERM", "%s: EPERM %s" % (" and ".join(strays), where))
            return

        # 0.0.0.0:bob conflicts with bob's own 127.0.0.1 socket; ::1 and the strays bind.
        assert results == {v6: "bound", wildcard: "EADDRINUSE", strays[0]: "bound", strays[1]: "bound"}, results
        dropped = assert_no_connection(host, [t.replace("0.0.0.0", "127.0.0.1") for t in [v6] + strays])
        assert read_state(host, "addresses")["accepted"] == []  # not one connection reached alice
        assert bob_serves(host)

        found = audit(host)
        assert found.failed, found
        squatter = found.squatter(bob_port, "::1")
        assert (squatter["expected_user"], squatter["actual_user"], squatter["pids"]) == (VICTIM, ATTACKER,
                                                                                          [state["pid"]])
        for target, address in zip(strays, ("127.0.0.1", "0.0.0.0")):
            stray = found.stray(int(target.rsplit(":", 1)[1]), address)
            assert (stray["actual_user"], stray["pids"]) == (ATTACKER, [state["pid"]]), stray
        assert found.result["summary"]["squatters"] == 1 and found.result["summary"]["strays"] == 2

        fixed, _second = audit_remediate_and_recheck(host, kill_strays=True)
        assert any("stopped pid %d (alice) on unallocated port" % state["pid"] in a
                   for a in fixed.result["remediation"]), fixed
        record(host, "3a bind ::1", "nftables", "bound, no handshake",
               "%s from a login shell binds (bob's 127.0.0.1 socket is unaffected, bob serves); root's connect timed "
               "out; audit failed naming alice, pid %d, as squatter; remediated, 2nd audit clean" % (v6, state["pid"]))
        record(host, "3b bind 0.0.0.0", "(in use)", "bind EADDRINUSE",
               "%s while bob serves: EADDRINUSE, bob's own socket conflicts (no enforcement layer involved); with bob "
               "down this is attack 2" % wildcard)
        record(host, "3c strays", "nftables", "bound, no handshake",
               "%s from a login shell: both bind; connects to them and to [::1] (3a) timed out (%d SYN-ACKs dropped "
               "by the owner rule); audit failed naming 2 strays of alice, pid %d; remediation with kill_strays "
               "stopped it; 2nd audit clean" % (" and ".join(strays), dropped, state["pid"]))
    finally:
        if state:
            stop_attacker(host, [state["pid"]])
        restore_backends(host)
