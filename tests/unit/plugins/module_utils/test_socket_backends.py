"""Unix-socket backends (socket: true): validated, given no port, routed to their socket."""
import pytest

from ansible_collections.sharedhost.hosting.plugins.filter.users import proxy_url, route_map, vhost_map
from ansible_collections.sharedhost.hosting.plugins.module_utils.allocation_runner import run_allocation
from ansible_collections.sharedhost.hosting.plugins.module_utils.user_spec import normalize_users, user_problems

RANGE = {"start": 20000, "end": 20999}
DAVE = {"name": "dave", "vhosts": ["Dave.Test"], "backend": "command", "socket": True,
        "command": "starman --listen {socket} app.psgi"}


def test_a_socket_backend_entry_is_valid_and_normalised_with_its_socket():
    assert user_problems([DAVE]) == []
    user = normalize_users([DAVE])[0]
    assert user["socket"] is True
    assert user["socket_path"] == "/var/lib/sharedhost/sockets/dave/http.sock"
    assert normalize_users([{"name": "alice"}])[0]["socket_path"] is None


@pytest.mark.parametrize("entry, message", [
    (dict(DAVE, socket="yes"), "(dave): socket must be true or false, got 'yes'"),
    (dict(DAVE, backend="apache", command=None), "socket needs backend: command"),
    (dict(DAVE, command="starman --listen 127.0.0.1:{port}"), "has no {socket} placeholder"),
    (dict(DAVE, command="app --unix {socket} --port {port}"), "uses {port}, but a socket backend gets no port"),
    (dict(DAVE, ports=2), "a socket backend gets no TCP port"),
    (dict(DAVE, port=20100), "a socket backend gets no TCP port"),
    ({"name": "carol", "backend": "command", "command": "server {socket}"}, "has no {port} placeholder"),
])
def test_bad_socket_entries_are_named(entry, message):
    problems = user_problems([entry])
    assert any(message in problem for problem in problems), problems


def test_the_allocator_gives_a_socket_user_no_port_and_releases_an_old_one(tmp_path):
    path = str(tmp_path / "ports.json")
    first = run_allocation(path, [{"name": "alice"}, {"name": "dave"}], RANGE, busy_ports=set())
    assert first["ports"] == {"alice": [20000], "dave": [20001]}
    # dave moves to a socket: his port goes into quarantine, nobody else gets it yet.
    moved = run_allocation(path, [{"name": "alice"}, DAVE, {"name": "erin"}], RANGE, busy_ports=set(), now=100)
    assert moved["ports"] == {"alice": [20000], "dave": [], "erin": [20002]}
    assert moved["released"] == {"dave": [20001]}
    again = run_allocation(path, [{"name": "alice"}, DAVE, {"name": "erin"}], RANGE, busy_ports=set(), now=200)
    assert not again["changed"] and again["ports"] == moved["ports"]
    # An absent socket user is simply gone from the map.
    gone = run_allocation(path, [{"name": "alice"}, dict(DAVE, state="absent")], RANGE, busy_ports=set())
    assert "dave" not in gone["ports"]


def test_routes_point_a_socket_backend_at_its_socket():
    users = normalize_users([{"name": "alice", "vhosts": ["alice.test"]}, DAVE])
    lines = vhost_map(users, {"alice": [20000], "dave": []})
    assert lines == ["alice.test 127.0.0.1:20000", "dave.test unix:/var/lib/sharedhost/sockets/dave/http.sock"]
    assert route_map([{"address": "127.0.0.1", "users": [DAVE], "ports": {"dave": []}}]) == lines[1:]


def test_proxy_urls_of_both_target_forms():
    assert proxy_url("127.0.0.1:20000") == "http://127.0.0.1:20000"
    assert proxy_url("[fd00::1]:20000") == "http://[fd00::1]:20000"
    assert proxy_url("unix:/var/lib/sharedhost/sockets/dave/http.sock") == \
        "unix:/var/lib/sharedhost/sockets/dave/http.sock|http://localhost"
