"""The whole inventory as one rollout: pre-flight problems, tiered routes, users who moved."""
import json

import pytest
from hypothesis import given, strategies as st

from ansible_collections.sharedhost.hosting.plugins.filter.users import route_map
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import RegistryError
from ansible_collections.sharedhost.hosting.plugins.module_utils.rollout_layout import (
    departed_users,
    layout_problems,
    tier_backends,
)


def layout(servers=(), backends=(), frontends=(), **hosts):
    return {"servers": list(servers), "backends": list(backends), "frontends": list(frontends),
            "hosts": dict((name, dict({"users": None, "address": None}, **info)) for name, info in hosts.items())}


def user(name, *vhosts, **extra):
    return dict({"name": name, "vhosts": list(vhosts)}, **extra)


def registry(**users):
    return json.dumps({"format": "sharedhost.hosting/ports", "version": 1, "quarantine": [],
                       "users": dict((name, {"ports": ports}) for name, ports in users.items())})


TIERED = layout(
    servers=["web1", "web2"], backends=["be1", "be2"], frontends=["fe1"],
    web1={"users": [user("alice", "alice.test")]},
    web2={"users": [user("bob", "bob.test")]},
    be1={"users": [user("carol", "carol.test", "www.carol.test")], "address": "10.0.0.11"},
    be2={"users": [user("dave", "dave.test")], "address": "10.0.0.12"},
    fe1={"address": "10.0.0.10"},
)


def test_a_sound_inventory_has_no_problems():
    assert layout_problems(TIERED) == []


def test_every_problem_is_reported_at_once_naming_hosts_users_and_vhosts():
    bad = layout(
        servers=["web1", "web2"], backends=["be1"], frontends=["fe1"],
        web1={"users": [user("alice", "shop.test"), {"vhosts": ["x.test"]}]},
        web2={"users": [user("alice", "alice2.test"), user("bob", "SHOP.test.")]},
        be1={"users": [user("carol", "carol.test")], "address": "be1.example"},
        fe1={"address": "10.0.0.10", "users": [user("erin", "erin.test")]},
    )
    problems = layout_problems(bad)
    assert "web1: sharedhost_users[1]: invalid user name None (POSIX: lowercase letter or '_' first, then " \
           "lowercase letters, digits, '_' or '-', at most 32 characters)" in problems
    assert "user alice is placed on both web1 and web2" in problems
    assert "vhost shop.test is claimed by alice on web1 and by bob on web2" in problems
    assert any(p.startswith("be1: sharedhost_internal_address must be") and "'be1.example'" in p for p in problems)
    assert any(p.startswith("fe1: frontend hosts serve no users") for p in problems)
    assert len(problems) == 5


def test_groups_that_need_each_other():
    assert layout_problems(layout(backends=["be1"], be1={"address": "10.0.0.1", "users": []})) == [
        "sharedhost_backends has hosts (be1) but sharedhost_frontends has none: nothing would route to their users"]
    assert layout_problems(layout(frontends=["fe1"], fe1={"address": "10.0.0.1"})) == [
        "sharedhost_frontends has hosts (fe1) but sharedhost_backends has none: they would have nothing to route to"]
    assert layout_problems(layout()) == ["no hosts in sharedhost_servers, sharedhost_backends or sharedhost_frontends"]


def test_a_host_in_two_parts_is_refused():
    problems = layout_problems(layout(servers=["h1"], backends=["h1"], frontends=["fe1"],
                                      h1={"address": "10.0.0.1", "users": []}, fe1={"address": "10.0.0.2"}))
    assert problems == ["host h1 is in more than one of sharedhost_servers, sharedhost_backends (a host is either "
                        "a self-contained server, a backend host or a frontend host)"]


def test_a_leaving_user_may_be_listed_where_it_left_and_where_it_is_now():
    moved = layout(servers=["web1", "web2"],
                   web1={"users": [user("alice", "alice.test", state="absent")]},
                   web2={"users": [user("alice", "alice.test")]})
    assert layout_problems(moved) == []


def test_hosts_of_different_fleets_may_carry_the_same_users_and_vhosts():
    twins = layout(servers=["staging", "prod"],
                   staging={"users": [user("alice", "alice.test")], "fleet": "staging"},
                   prod={"users": [user("alice", "alice.test")]})
    assert layout_problems(twins) == []
    assert departed_users(twins, "staging", registry(alice=[20000])) == []
    twins["hosts"]["staging"]["fleet"] = "default"
    assert len(layout_problems(twins)) == 2


def test_tier_backends_routes_each_user_to_the_host_it_is_placed_on():
    registries = {"be1": registry(carol=[20000], dave=[20001]),  # dave moved to be2, not yet released
                  "be2": registry(dave=[20000])}
    backends = tier_backends(TIERED, registries)
    assert [b["address"] for b in backends] == ["10.0.0.11", "10.0.0.12"]
    assert route_map(backends) == ["carol.test 10.0.0.11:20000", "dave.test 10.0.0.12:20000",
                                   "www.carol.test 10.0.0.11:20000"]


def test_tier_backends_fails_closed_on_a_missing_or_corrupt_registry():
    with pytest.raises(RegistryError, match="no port registry was read from backend host be2"):
        tier_backends(TIERED, {"be1": registry(carol=[20000])})
    with pytest.raises(RegistryError, match="port registry of be2 is not JSON"):
        tier_backends(TIERED, {"be1": registry(carol=[20000]), "be2": "{"})


def test_ipv6_backend_addresses_are_bracketed():
    assert route_map([{"address": "fd00::11", "users": [user("carol", "carol.test")], "ports": {"carol": [20005]}}]) \
        == ["carol.test [fd00::11]:20005"]


def test_departed_users_are_those_now_placed_on_another_host():
    text = registry(carol=[20000], dave=[20001], gone=[20002])
    # dave is on be2 now; "gone" is in no inventory at all: never touched by a move.
    assert departed_users(TIERED, "be1", text) == [{"name": "dave", "state": "absent"}]
    assert departed_users(TIERED, "be2", registry(dave=[20000])) == []
    assert departed_users(TIERED, "be1", "") == []


@given(st.lists(st.sampled_from(["web1", "web2", "be1", "be2"]), min_size=1, max_size=6),
       st.lists(st.sampled_from(["h%d.test" % n for n in range(5)]), max_size=6))
def test_no_user_and_no_vhost_on_two_hosts_passes_the_check(placements, vhosts):
    """Whatever the placement, a user or vhost on two hosts is reported, and only then."""
    hosts = dict((name, {"users": [], "address": "10.0.0.%d" % n}) for n, name in enumerate(["web1", "web2", "be1", "be2", "fe1"]))
    for index, host in enumerate(placements):
        entry = user("u%d" % (index % 3), *([vhosts[index]] if index < len(vhosts) else []))
        if entry["name"] not in [u["name"] for u in hosts[host]["users"]]:
            hosts[host]["users"].append(entry)
    lay = {"servers": ["web1", "web2"], "backends": ["be1", "be2"], "frontends": ["fe1"], "hosts": hosts}
    user_hosts, vhost_hosts = {}, {}
    for host in ("web1", "web2", "be1", "be2"):
        for entry in hosts[host]["users"]:
            user_hosts.setdefault(entry["name"], set()).add(host)
            for vhost in entry["vhosts"]:
                vhost_hosts.setdefault(vhost, set()).add(host)
    expect_user = any(len(h) > 1 for h in user_hosts.values())
    expect_vhost = any(len(h) > 1 for h in vhost_hosts.values())
    problems = layout_problems(lay)
    assert any(" is placed on both " in p for p in problems) == expect_user
    assert any(p.startswith("vhost ") and " on " in p for p in problems) == expect_vhost


def test_a_socket_backend_on_a_tiered_backend_host_is_refused():
    sock = user("erin", "erin.test", backend="command", socket=True, command="starman --listen {socket}")
    tiered = layout(backends=["be1"], frontends=["fe1"], be1={"users": [sock], "address": "10.0.0.11"},
                    fe1={"address": "10.0.0.10"})
    assert layout_problems(tiered) == [
        "be1: user erin has socket: true, but a Unix socket is reachable only by a frontend on the same host; "
        "put the user on a host of sharedhost_servers or give them a port"]
    assert layout_problems(layout(servers=["web1"], web1={"users": [sock]})) == []
