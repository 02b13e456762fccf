"""Validation and defaults of sharedhost_users entries (used by every role and the pre-flight)."""
import pytest

from ansible_collections.sharedhost.hosting.plugins.module_utils.user_spec import (
    normalize_users,
    user_problems,
)
from ansible_collections.sharedhost.hosting.plugins.filter.users import vhost_map


def test_valid_example_has_no_problems():
    users = [
        {"name": "alice", "vhosts": ["alice.example.test", "WWW.Alice.example.test"], "limits": {"memory": "256M"}},
        {"name": "bob", "vhosts": ["bob.example.test"], "modperl": True},
        {"name": "carol", "vhosts": ["carol.example.test"], "backend": "command",
         "command": "python3 -m http.server {port}"},
        {"name": "dave", "state": "absent", "vhosts": ["alice.example.test"]},
    ]
    assert user_problems(users) == []


def test_vhost_claimed_by_two_users_names_both():
    problems = user_problems([
        {"name": "alice", "vhosts": ["shop.example.test"]},
        {"name": "bob", "vhosts": ["Shop.Example.Test."]},
    ])
    assert problems == ["vhost 'shop.example.test' is claimed by both alice and bob"]


@pytest.mark.parametrize("entry, message", [
    ({"name": "alice", "vhosts": "alice.test"}, "vhosts must be a list"),
    ({"name": "alice", "vhosts": ["*.alice.test"]}, "invalid vhost '*.alice.test'"),
    ({"name": "alice", "vhosts": ["alice.test:8080"]}, "invalid vhost 'alice.test:8080'"),
    ({"name": "alice", "vhosts": ["a.test", "A.test"]}, "vhost 'A.test' is listed twice for alice"),
    ({"name": "alice", "backend": "nginx"}, "backend must be one of apache, command"),
    ({"name": "alice", "backend": "command"}, "backend 'command' needs a 'command' line"),
    ({"name": "alice", "backend": "command", "command": "gunicorn app"}, "has no {port} placeholder"),
    ({"name": "alice", "command": "x {port}"}, "'command' is only used with backend: command"),
    ({"name": "alice", "modperl": "yes"}, "modperl must be true or false"),
    ({"name": "alice", "https_redirect": "yes"}, "https_redirect must be true or false"),
    ({"name": "alice", "backend": "command", "command": "x {port}", "modperl": True}, "modperl needs backend: apache"),
    ({"name": "alice", "limits": {"memory": "lots"}}, "limits.memory 'lots' is not a size"),
    ({"name": "alice", "limits": {"cpu": "half"}}, "limits.cpu 'half' is not a percentage"),
    ({"name": "alice", "limits": {"nproc": 0}}, "limits.nproc must be an integer >= 1"),
    ({"name": "alice", "limits": {"swap": 1}}, "unknown limit 'swap'"),
    ({"name": "alice", "vhost": ["a.test"]}, "unknown key 'vhost'"),
    ({"name": "alice", "state": "gone"}, "state must be present or absent"),
    ({"name": "Alice"}, "sharedhost_users[0]: invalid user name 'Alice'"),
    ("alice", "expected a mapping"),
])
def test_each_problem_names_the_entry(entry, message):
    problems = user_problems([entry])
    assert any(message in p for p in problems), problems
    assert all(p.startswith("sharedhost_users[0]") for p in problems)


def test_duplicate_users():
    assert user_problems([{"name": "a"}, {"name": "a"}]) == [
        "sharedhost_users[1] (a): duplicate entry for user 'a' (first at sharedhost_users[0])"]


def test_not_a_list():
    assert user_problems({"name": "a"}) == ["sharedhost_users must be a list, got dict"]


def test_normalize_fills_every_key():
    users = normalize_users([{"name": "alice", "vhosts": ["Alice.Test."], "limits": {"nproc": 10}},
                             {"name": "bob", "count": 2}], {"memory": "128M"})
    alice, bob = users
    assert alice["vhosts"] == ["alice.test"] and alice["backend"] == "apache" and alice["state"] == "present"
    assert alice["limits"] == {"memory": "128M", "tasks": 256, "cpu": "100%", "nofile": 1024, "nproc": 10}
    assert alice["home"] == "/home/alice" and alice["modperl"] is False and alice["https_redirect"] is False and alice["ports"] == 1
    assert bob["ports"] == 2 and "count" not in bob


def test_vhost_map_points_every_vhost_at_the_first_port():
    users = normalize_users([{"name": "alice", "vhosts": ["b.test", "A.test"]},
                             {"name": "bob", "vhosts": ["c.test"], "state": "absent"},
                             {"name": "carol", "vhosts": []}])
    assert vhost_map(users, {"alice": [20001, 20002], "bob": [20003], "carol": [20004]}) == [
        "a.test 127.0.0.1:20001", "b.test 127.0.0.1:20001"]
