"""The audit: squatters, missing backends and strays from registry + live listeners."""
import os
import socket

from ansible_collections.sharedhost.hosting.plugins.module_utils.port_audit import audit, socket_processes
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import empty_registry
from ansible_collections.sharedhost.hosting.plugins.module_utils.proc_net import read_listeners

UIDS = {"alice": 1000, "bob": 1001, "carol": 1002}
NAMES = dict((uid, name) for name, uid in UIDS.items())


def registry(**users):
    doc = empty_registry()
    doc["users"] = dict((name, {"ports": ports}) for name, ports in users.items())
    return doc


def listener(port, uid, address="127.0.0.1", inode=None):
    return {"family": "tcp", "address": address, "port": port, "uid": uid, "inode": inode or port}


def test_clean_host_has_no_violations():
    result = audit(registry(alice=[20000], bob=[20001]), [listener(20000, 1000), listener(20001, 1001)],
                   UIDS, NAMES, (20000, 20099))
    assert result["summary"] == {"allocated_ports": 2, "serving": 2, "squatters": 0, "missing": 0, "strays": 0,
                                 "violations": 0}


def test_squatter_is_named_with_expected_and_actual_user_and_process():
    holders = {20001: [{"pid": 4242, "command": "apache2 -f /etc/sharedhost/backends/alice/httpd.conf"}]}
    result = audit(registry(alice=[20000], bob=[20001]), [listener(20000, 1000), listener(20001, 1000)],
                   UIDS, NAMES, (20000, 20099), holders)
    assert result["squatters"] == [{"port": 20001, "address": "127.0.0.1", "expected_user": "bob",
                                    "actual_user": "alice", "actual_uid": 1000, "pids": [4242],
                                    "command": "apache2 -f /etc/sharedhost/backends/alice/httpd.conf"}]
    assert result["missing"] == [{"port": 20001, "user": "bob"}]
    assert result["summary"]["violations"] == 1


def test_owner_on_v4_and_squatter_on_v6_is_still_a_squatter():
    result = audit(registry(bob=[20001]), [listener(20001, 1001), listener(20001, 1000, "::1", inode=9)],
                   UIDS, NAMES, (20000, 20099))
    assert [s["address"] for s in result["squatters"]] == ["::1"]
    assert result["missing"] == []


def test_strays_only_inside_the_range_and_unknown_uids_by_number():
    result = audit(registry(alice=[20000]), [listener(20000, 1000), listener(20050, 1002), listener(20050, 4000, "::"),
                                             listener(80, 0), listener(30000, 1000)],
                   UIDS, NAMES, (20000, 20099))
    assert [(s["port"], s["actual_user"]) for s in result["strays"]] == [(20050, "carol"), (20050, "4000")]


def test_without_a_range_only_allocated_ports_are_audited():
    result = audit(registry(alice=[20000]), [listener(20050, 1002)], UIDS, NAMES, None)
    assert result["strays"] == [] and result["missing"] == [{"port": 20000, "user": "alice"}]


def test_missing_account_makes_its_ports_missing():
    result = audit(registry(zed=[20000]), [listener(20000, 1000)], dict(UIDS, zed=None), NAMES, (20000, 20099))
    assert result["missing"] == [{"port": 20000, "user": "zed"}]
    assert result["squatters"][0]["expected_user"] == "zed"


def test_socket_processes_finds_our_own_listener():
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        mine = [entry for entry in read_listeners() if entry["port"] == port][0]
        holders = socket_processes()
        assert os.getpid() in [p["pid"] for p in holders[mine["inode"]]]
    finally:
        sock.close()


def _squatter(port=20001, owner="bob", user="alice", uid=1000, pids=(4242,)):
    return {"port": port, "address": "127.0.0.1", "expected_user": owner, "actual_user": user, "actual_uid": uid,
            "pids": list(pids), "command": "x"}


def test_remediation_stops_the_offenders_own_backend_unit_and_restarts_the_owner():
    from ansible_collections.sharedhost.hosting.plugins.module_utils.port_audit import remediation_plan
    units = {4242: "sharedhost-backend@alice.service", 4343: "cron.service"}
    result = {"squatters": [_squatter(), _squatter(port=20002, pids=(4343,))], "strays": []}
    plan = remediation_plan(result, 1000, False, "sharedhost-backend@{user}.service", units.get)
    assert plan == [
        ("stop_unit", "sharedhost-backend@alice.service",
         "stopped sharedhost-backend@alice.service (pid 4242, alice) squatting on port 20001 of bob"),
        ("kill", 4343, "stopped pid 4343 (alice) squatting on port 20002 of bob"),  # cron itself stays
        ("restart", "sharedhost-backend@bob.service", "restarted sharedhost-backend@bob.service"),
    ]


def test_remediation_without_visible_processes_or_of_system_accounts_only_notes():
    from ansible_collections.sharedhost.hosting.plugins.module_utils.port_audit import remediation_plan
    result = {"squatters": [_squatter(pids=()), _squatter(port=20003, user="www-data", uid=33)],
              "strays": [{"port": 20999, "address": "0.0.0.0", "actual_user": "alice", "actual_uid": 1000,
                          "pids": [5], "command": "nc"}]}
    plan = remediation_plan(result, 1000, False, "sharedhost-backend@{user}.service", lambda pid: None)
    assert [step[0] for step in plan] == ["note", "note"]  # strays untouched without kill_strays, nobody restarted
    assert "CAP_SYS_PTRACE" in plan[0][2] and "system account" in plan[1][2]
    plan = remediation_plan(result, 1000, True, "sharedhost-backend@{user}.service", lambda pid: None)
    assert plan[-1] == ("kill", 5, "stopped pid 5 (alice) on unallocated port 20999")


def test_unit_of_reads_the_cgroup(tmp_path):
    from ansible_collections.sharedhost.hosting.plugins.module_utils.port_audit import unit_of
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cgroup").write_text("0::/system.slice/system-sharedhost\\x2dbackend.slice/"
                                           "sharedhost-backend@alice.service\n")
    (tmp_path / "8").mkdir()
    (tmp_path / "8" / "cgroup").write_text("0::/user.slice/user-1000.slice/session-3.scope\n")
    assert unit_of(7, str(tmp_path)) == "sharedhost-backend@alice.service"
    assert unit_of(8, str(tmp_path)) is None
    assert unit_of(9, str(tmp_path)) is None
