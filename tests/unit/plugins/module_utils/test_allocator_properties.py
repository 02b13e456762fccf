"""Hypothesis properties of the allocator over random sequences of requests.

Properties: no port is ever in two users' hands; a second identical call
changes nothing; present users keep their ports across re-orderings,
additions and removals of others; a released port goes to nobody else
before its quarantine ends.
"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.sharedhost.hosting.plugins.module_utils.port_allocator import (
    AllocationError,
    plan,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import (
    empty_registry,
    validate_registry,
)

START, END = 20000, 20029
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hal"]
QUARANTINE = 1000

entry = st.fixed_dictionaries(
    {"name": st.sampled_from(NAMES), "ports": st.integers(1, 3)},
    optional={"state": st.sampled_from(["present", "present", "absent"]),
              "port": st.integers(START, END)},
)
request = st.lists(entry, max_size=6, unique_by=lambda e: e["name"])
step = st.tuples(request, st.booleans(), st.integers(0, 2 * QUARANTINE), st.randoms(use_true_random=False))


def holdings(registry):
    return dict((name, set(e["ports"])) for name, e in registry["users"].items())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=12), st.sampled_from([0, QUARANTINE]))
def test_allocator_invariants(steps, quarantine_seconds):
    registry = empty_registry()
    now = 0
    released_at = {}  # port -> (former owner, time of release)
    for users, authoritative, advance, rnd in steps:
        now += advance
        kwargs = dict(port_range={"start": START, "end": END}, now=now,
                      quarantine_seconds=quarantine_seconds, authoritative=authoritative)
        try:
            result = plan(registry, users, **kwargs)
        except AllocationError:
            continue  # refused requests change nothing: registry stays as it was
        after = validate_registry(result.registry)  # raises if a port is held twice
        before_hold, after_hold = holdings(registry), holdings(after)

        # Present users hold exactly what they asked for; absent ones nothing.
        for user in users:
            if user.get("state", "present") == "present":
                assert len(after_hold[user["name"]]) == user["ports"]
                if "port" in user:
                    assert user["port"] in after_hold[user["name"]]
            else:
                assert user["name"] not in after_hold
        if authoritative:
            assert set(after_hold) == set(u["name"] for u in users if u.get("state", "present") == "present")

        # Sticky: a user who is still present, without a new pin and with no lower count, keeps every port.
        for name, ports in before_hold.items():
            wanted = [u for u in users if u["name"] == name]
            if wanted and wanted[0].get("state", "present") == "present" and "port" not in wanted[0] \
                    and wanted[0]["ports"] >= len(ports):
                assert ports <= after_hold[name]
            if not wanted and not authoritative:
                assert after_hold[name] == ports

        # Quarantine: a port released by one user goes to no other before it ends.
        for name, ports in after_hold.items():
            for port in ports - before_hold.get(name, set()):
                if port in released_at:
                    former, when = released_at[port]
                    assert former == name or now >= when + quarantine_seconds
        for name, ports in before_hold.items():
            for port in ports - after_hold.get(name, set()):
                released_at[port] = (name, now)

        # Idempotent, also when the same users come in another order.
        shuffled = list(users)
        rnd.shuffle(shuffled)
        again = plan(after, shuffled, **kwargs)
        assert not again.changed and again.registry == after
        assert again.allocated == {} and again.released == {}
        registry = after


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(NAMES), unique=True, min_size=1), st.randoms(use_true_random=False))
def test_new_allocations_are_deterministic_and_lowest_first(names, rnd):
    users = [{"name": n} for n in names]
    first = plan(empty_registry(), users, port_range={"start": START, "end": END})
    second = plan(empty_registry(), users, port_range={"start": START, "end": END})
    assert first.registry == second.registry
    assert sorted(p for ps in first.ports.values() for p in ps) == list(range(START, START + len(names)))
    # Re-ordered on the next run: nothing moves.
    shuffled = list(users)
    rnd.shuffle(shuffled)
    assert not plan(first.registry, shuffled, port_range={"start": START, "end": END}).changed
