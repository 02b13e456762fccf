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
