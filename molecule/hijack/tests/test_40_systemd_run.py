"""Attack 4a: a process of alice's outside her login sessions and outside her backend
unit (systemd-run --uid=alice: a transient service in system.slice, which the user
slice's socket-bind restrictions do not cover) takes bob's port while bob is down."""
from conftest import (
    ATTACKER, HOLD_SECONDS, SQUAT_PATH, VICTIM, assert_no_connection, audit, audit_remediate_and_recheck,
    bob_serves, holders, install_squat, now, outcome, port_of, read_state, record, restore_backends,
    socket_bind_for_sessions, state_path, stop_attacker, uid_of, unit, wait_bob_serves, wait_port_taken, wait_state)
from sharedhost_verify import wait_until

RUN_UNIT = "hijack-alice-run"


def test_systemd_run_process_on_bobs_port(host):
    bob_port = port_of(host, VICTIM)
    alice, bob = uid_of(host, ATTACKER), uid_of(host, VICTIM)
    target = "127.0.0.1:%d" % bob_port
    title = "4a systemd-run --uid"
    state = None
    try:
        install_squat(host)
        host.run("rm -f %s", state_path("run"))
        host.check_output("systemctl stop %s", unit(VICTIM))
        wait_until(lambda: holders(host, bob_port) == [], timeout=20, message="bob's port to be free")
        host.check_output("systemd-run --quiet --collect --unit %s --uid %s /usr/bin/python3 %s %s %s %s",
                          RUN_UNIT, ATTACKER, SQUAT_PATH, state_path("run"), str(HOLD_SECONDS), target)
        state = wait_state(host, "run")
        assert state["uid"] == alice and "system.slice/%s.service" % RUN_UNIT in state["cgroup"], state
        result = outcome(state, target)
        since = now(host)

        if result == "EPERM":  # socket-bind restrictions would reach system.slice too
            host.check_output("systemctl start %s", unit(VICTIM))
            wait_bob_serves(host)
            record(host, title, "socket_bind", "bind EPERM", "systemd-run --uid=alice: bind() EPERM")
            return
        assert result == "bound" and holders(host, bob_port) == [alice], state
        host.run("systemctl start --no-block %s", unit(VICTIM))
        wait_port_taken(host, VICTIM, bob_port, since)
        dropped = assert_no_connection(host, [target])
        assert read_state(host, "run")["accepted"] == []
        assert not bob_serves(host, timeout=3)

        found = audit(host)
        assert found.failed, found
        squatter = found.squatter(bob_port, "127.0.0.1")
        assert (squatter["expected_user"], squatter["actual_user"], squatter["pids"]) == (VICTIM, ATTACKER,
                                                                                          [state["pid"]])
        audit_remediate_and_recheck(host)
        assert holders(host, bob_port) == [bob]
        record(host, title, "nftables", "bound, no handshake",
               "with bob stopped, a 'systemd-run --uid=alice' process (system.slice%s) binds %s and bob's start fails "
               "(EADDRINUSE); root's connect timed out (%d SYN-ACKs dropped), 0 connections reached alice; audit "
               "failed naming alice, pid %d; remediation stopped it and restarted bob; bob serves, 2nd audit clean"
               % (": the user slice's SocketBindDeny= does not apply" if socket_bind_for_sessions(host) else "",
                  target, dropped, state["pid"]))
    finally:
        host.run("systemctl stop %s.service", RUN_UNIT)
        if state:
            stop_attacker(host, [state["pid"]])
        restore_backends(host)
