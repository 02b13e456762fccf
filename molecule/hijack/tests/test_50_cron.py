"""Attack 4b: a cron job of alice's (her own crontab, installed with crontab(1) as her
when the session starts, see conftest.attacker_session) tries bob's port on 127.0.0.1 and
on ::1 and an unallocated port, while bob serves. Debian's cron opens no logind session
(pam_systemd is not in common-session-noninteractive), so the job runs in cron.service,
outside her user slice."""
from conftest import (
    ATTACKER, CRON_GO, STRAY_PORTS, VICTIM, assert_no_connection, audit, audit_remediate_and_recheck, bob_serves,
    cron_targets, outcome, port_of, read_state, record, remove_cron_attack, restore_backends,
    socket_bind_for_sessions, stop_attacker, uid_of, wait_state)


def test_cron_job_on_bobs_port(host):
    bob_port = port_of(host, VICTIM)
    local, v6, stray = cron_targets(host)
    title = "4b cron job"
    state = None
    try:
        host.check_output("runuser -u %s -- touch %s", ATTACKER, CRON_GO)
        # cron started the job at a full minute after the session began (again after each
        # reboot); it waits for the go file, so at most a minute passes here.
        state = wait_state(host, "cron", timeout=75)
        assert state["uid"] == uid_of(host, ATTACKER) and "cron.service" in state["cgroup"], state
        results = dict((t, outcome(state, t)) for t in (local, v6, stray))
        assert results[local] == "EADDRINUSE", results  # bob holds it
        assert bob_serves(host)
        if results[v6] == "EPERM":
            assert results[stray] == "EPERM"
            record(host, title, "socket_bind", "bind EPERM", "cron job of alice's: bind() EPERM")
            return
        assert results[v6] == "bound" and results[stray] == "bound", results
        dropped = assert_no_connection(host, [v6, stray])
        assert read_state(host, "cron")["accepted"] == []
        found = audit(host)
        assert found.failed, found
        squatter = found.squatter(bob_port, "::1")
        assert (squatter["expected_user"], squatter["actual_user"], squatter["pids"]) == (VICTIM, ATTACKER,
                                                                                          [state["pid"]])
        assert found.stray(STRAY_PORTS[0], "127.0.0.1")["pids"] == [state["pid"]]
        audit_remediate_and_recheck(host, kill_strays=True)
        record(host, title, "nftables", "bound, no handshake",
               "a job in alice's crontab (runs in cron.service%s): %s EADDRINUSE (bob's), %s and %s bound; connects "
               "timed out (%d SYN-ACKs dropped), 0 connections reached alice; audit failed naming alice, pid %d, as "
               "squatter and stray; remediation with kill_strays stopped it; bob serves, 2nd audit clean"
               % (", outside her user slice: no SocketBindDeny" if socket_bind_for_sessions(host) else "",
                  local, v6, stray, dropped, state["pid"]))
    finally:
        remove_cron_attack(host)  # the crontab too, or cron would start the attack again
        if state:
            stop_attacker(host, [state["pid"]])
        restore_backends(host)
