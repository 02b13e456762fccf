"""The port_allocation module run through real ansible-playbook against localhost.

Normal, check and diff modes, a second run reporting changed=false, a refused
request that writes nothing, and eight concurrent ansible-playbook runs.
"""
import json
import os
import subprocess
import sys

import pytest

from ansible_cli import BIN, ansible_doc, ansible_env, local_task


def playbook(tmp_path, args, *flags, name="play.yml"):
    """Run one port_allocation task on localhost; return (rc, task result)."""
    return local_task(tmp_path, "sharedhost.hosting.port_allocation", args, *flags, name=name)


@pytest.fixture
def args(tmp_path):
    return {
        "registry": str(tmp_path / "state" / "ports.json"),
        "port_range": {"start": 45000, "end": 45999},
        "users": [{"name": "alice", "vhosts": ["alice.test"]}, {"name": "bob", "ports": 2}],
        "skip_listening": False,
    }


def test_normal_run_then_no_change(tmp_path, args):
    rc, result = playbook(tmp_path, args)
    assert rc == 0 and result["changed"] is True
    assert result["ports"] == {"alice": [45000], "bob": [45001, 45002]}
    assert result["allocated"] == result["ports"] and result["released"] == {}
    assert result["free_ports"] == 997
    with open(args["registry"]) as handle:
        assert json.load(handle)["users"]["bob"]["ports"] == [45001, 45002]
    rc, again = playbook(tmp_path, args)
    assert rc == 0 and again["changed"] is False and again["ports"] == result["ports"]


def test_check_mode_writes_nothing(tmp_path, args):
    rc, result = playbook(tmp_path, args, "--check")
    assert rc == 0 and result["changed"] is True
    assert result["ports"] == {"alice": [45000], "bob": [45001, 45002]}
    assert not os.path.exists(os.path.dirname(args["registry"]))


def test_diff_mode_shows_registry_before_and_after(tmp_path, args):
    playbook(tmp_path, args)
    args["users"].append({"name": "carol"})
    rc, result = playbook(tmp_path, args, "--diff")
    assert rc == 0 and result["changed"]
    diff = result["diff"][0] if isinstance(result["diff"], list) else result["diff"]
    assert '"carol"' not in diff["before"] and '"carol"' in diff["after"]
    assert diff["after_header"] == args["registry"]


def test_refused_request_names_the_entry_and_writes_nothing(tmp_path, args):
    playbook(tmp_path, args)
    with open(args["registry"], "rb") as handle:
        before = handle.read()
    args["users"] = [{"name": "alice"}, {"name": "bob", "ports": 2}, {"name": "Eve!"}, {"name": "alice"}]
    rc, result = playbook(tmp_path, args)
    assert rc != 0 and result["failed"]
    assert "users[2]: invalid user name 'Eve!'" in result["msg"]
    assert "users[3] (alice): duplicate entry for user 'alice' (first at users[0])" in result["msg"]
    with open(args["registry"], "rb") as handle:
        assert handle.read() == before


def test_eight_concurrent_playbook_runs_share_the_registry_safely(tmp_path):
    registry = str(tmp_path / "ports.json")
    procs = []
    for index in range(8):
        args = {"registry": registry, "port_range": {"start": 46000, "end": 46999}, "skip_listening": False,
                "users": [{"name": "run%d_user%d" % (index, n)} for n in range(10)] + [{"name": "common"}]}
        path = tmp_path / ("p%d.yml" % index)
        path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                     "tasks": [{"sharedhost.hosting.port_allocation": args}]}]))
        procs.append(subprocess.Popen([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(path)],
                                      env=ansible_env(ANSIBLE_PYTHON_INTERPRETER=sys.executable),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with open(registry) as handle:
        users = json.load(handle)["users"]
    ports = [p for entry in users.values() for p in entry["ports"]]
    assert len(users) == 81 and len(ports) == len(set(ports)) == 81
    assert sorted(ports) == list(range(46000, 46081))


def test_ansible_doc_renders():
    proc = ansible_doc("sharedhost.hosting.port_allocation")
    assert proc.returncode == 0, proc.stderr
    for needle in ("quarantine_seconds", "authoritative", "EXAMPLES", "RETURN VALUES", "check_mode"):
        assert needle in proc.stdout
