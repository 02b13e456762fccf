"""One allocation run on a real registry file: check mode, nothing written on error, concurrency."""
import multiprocessing
import os
import socket

import pytest

from ansible_collections.sharedhost.hosting.plugins.module_utils.allocation_runner import run_allocation
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_allocator import AllocationError
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import (
    RegistryError,
    load,
    validate_registry,
)

RANGE = {"start": 20000, "end": 20999}


def snapshot(directory):
    """Every file below directory with its bytes: proves 'nothing on the host changed'."""
    found = {}
    for root, _dirs, files in os.walk(str(directory)):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as handle:
                found[full] = handle.read()
    return found


def test_first_run_creates_directory_registry_and_lock(tmp_path):
    path = str(tmp_path / "var" / "lib" / "sharedhost" / "ports.json")
    result = run_allocation(path, [{"name": "alice"}], RANGE, busy_ports=set())
    assert result["changed"] and result["ports"] == {"alice": [20000]}
    assert os.path.exists(path) and os.path.exists(path + ".lock")
    assert result["_diff"]["before"] == "" and '"alice"' in result["_diff"]["after"]
    again = run_allocation(path, [{"name": "alice"}], RANGE, busy_ports=set())
    assert not again["changed"] and again["_diff"]["before"] == again["_diff"]["after"]


def test_empty_request_on_a_new_host_still_creates_the_registry(tmp_path):
    path = str(tmp_path / "ports.json")
    assert run_allocation(path, [], RANGE, busy_ports=set())["changed"]
    assert not run_allocation(path, [], RANGE, busy_ports=set())["changed"]


def test_check_mode_computes_the_same_answer_and_writes_nothing(tmp_path):
    path = str(tmp_path / "state" / "ports.json")
    checked = run_allocation(path, [{"name": "alice"}, {"name": "bob", "ports": 2}], RANGE,
                             check_mode=True, busy_ports=set())
    assert not os.path.exists(str(tmp_path / "state"))
    real = run_allocation(path, [{"name": "alice"}, {"name": "bob", "ports": 2}], RANGE, busy_ports=set())
    assert checked["ports"] == real["ports"] and checked["changed"] and real["changed"]
    before = snapshot(tmp_path)
    checked = run_allocation(path, [{"name": "alice", "state": "absent"}, {"name": "carol"}], RANGE,
                             check_mode=True, busy_ports=set())
    assert checked["changed"] and checked["released"] == {"alice": [20000]}
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("users, port_range", [
    ([{"name": "alice"}, {"name": "alice"}], RANGE),
    ([{"name": "Not Valid"}], RANGE),
    ([{"name": "carol", "ports": 0}], RANGE),
    ([{"name": "carol", "port": 1000}], RANGE),
    ([{"name": "carol", "port": 20000}], RANGE),  # bob's pinned port
    ([{"name": "carol", "ports": 2000}], RANGE),  # exhaustion
    ([{"name": "bob"}], {"start": 20500, "end": 20999}),  # strands bob
    ([{"name": "bob"}], {"start": 30000, "end": 20000}),
])
def test_bad_input_writes_nothing(tmp_path, users, port_range):
    path = str(tmp_path / "ports.json")
    run_allocation(path, [{"name": "bob"}], RANGE, busy_ports=set())
    before = snapshot(tmp_path)
    with pytest.raises(AllocationError):
        run_allocation(path, users, port_range, busy_ports=set())
    assert snapshot(tmp_path) == before


def test_bad_input_on_a_new_host_creates_nothing(tmp_path):
    with pytest.raises(AllocationError):
        run_allocation(str(tmp_path / "new" / "ports.json"), [{"name": "x", "ports": 0}], RANGE)
    assert os.listdir(str(tmp_path)) == []


def test_corrupt_registry_is_never_replaced(tmp_path):
    path = tmp_path / "ports.json"
    path.write_text('{"format": "sharedhost.hosting/ports", "version": 1, "users": {"a": {"ports": "x"}}}')
    before = snapshot(tmp_path)
    with pytest.raises(RegistryError, match="user 'a' has no 'ports' list"):
        run_allocation(str(path), [{"name": "alice"}], RANGE, busy_ports=set())
    after = snapshot(tmp_path)
    # Only the (empty) lock file may appear: the lock is taken before the registry is read.
    assert after.pop(str(path) + ".lock", b"") == b""
    assert after == before


def test_live_listener_ports_are_skipped(tmp_path):
    """A real socket listening in the range is seen through /proc/net/tcp and skipped."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = run_allocation(str(tmp_path / "ports.json"), [{"name": "alice"}],
                                {"start": port, "end": min(port + 5, 65535)})
        assert result["ports"]["alice"] != [port]
        unskipped = run_allocation(str(tmp_path / "other.json"), [{"name": "alice"}],
                                   {"start": port, "end": min(port + 5, 65535)}, skip_listening=False)
        assert unskipped["ports"]["alice"] == [port]
    finally:
        sock.close()


def _allocate_worker(args):
    path, index = args
    # Each worker brings its own users plus some shared by all of them.
    users = [{"name": "w%d_u%d" % (index, n)} for n in range(15)] + [{"name": "shared%d" % n} for n in range(5)]
    result = run_allocation(path, users, RANGE, busy_ports=set(), lock_timeout=60)
    return result["ports"]


def test_concurrent_runs_never_hand_one_port_to_two_users(tmp_path):
    path = str(tmp_path / "ports.json")
    workers = 12
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        views = pool.map(_allocate_worker, [(path, i) for i in range(workers)])
    doc, _existed = load(path)
    validate_registry(doc)  # no port held twice, else this raises
    ports = [p for entry in doc["users"].values() for p in entry["ports"]]
    assert len(ports) == len(set(ports)) == workers * 15 + 5
    # Every worker saw a consistent map in which its own users were already present.
    for view in views:
        assert set(view["shared0"]) == set(doc["users"]["shared0"]["ports"])
        flat = [p for ps in view.values() for p in ps]
        assert len(flat) == len(set(flat))
