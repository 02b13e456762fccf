"""Rules of the pure allocator: stickiness, determinism, quarantine, every bad input."""
import pytest

from ansible_collections.sharedhost.hosting.plugins.module_utils.port_allocator import (
    AllocationError,
    plan,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import (
    empty_registry,
    validate_registry,
)

RANGE = {"start": 20000, "end": 20009}
DAY = 86400


def run(registry, users, **kwargs):
    kwargs.setdefault("port_range", RANGE)
    kwargs.setdefault("now", 1000000)
    result = plan(registry, users, **kwargs)
    # Whatever the plan returns must itself be a valid registry.
    validate_registry(result.registry)
    return result


def users(*names, **counts):
    return [{"name": n, "ports": counts.get(n, 1)} for n in names]


def problems_of(excinfo):
    return " | ".join(excinfo.value.problems)


class TestNewAllocations:
    def test_lowest_free_ports_in_list_order(self):
        result = run(empty_registry(), users("carol", "alice", "bob", bob=2))
        assert result.ports == {"carol": [20000], "alice": [20001], "bob": [20002, 20003]}
        assert result.allocated == result.ports
        assert result.released == {}
        assert result.changed
        assert result.free == 6

    def test_same_request_twice_changes_nothing(self):
        first = run(empty_registry(), users("alice", "bob"))
        second = run(first.registry, users("alice", "bob"))
        assert not second.changed
        assert second.allocated == {} and second.released == {}
        assert second.registry == first.registry

    def test_skips_reserved_ports_and_spans(self):
        result = run(empty_registry(), users("a", "b", "c"), reserved=[20000, "20002-20004"])
        assert result.ports == {"a": [20001], "b": [20005], "c": [20006]}

    def test_skips_ports_held_by_live_listeners(self):
        result = run(empty_registry(), users("a", "b"), busy_ports={20000, 20001, 80})
        assert result.ports == {"a": [20002], "b": [20003]}

    def test_count_alias_and_digit_strings(self):
        result = run(empty_registry(), [{"name": "a", "count": "2"}, {"name": "b", "port": "20009"}])
        assert result.ports == {"a": [20000, 20001], "b": [20009]}

    def test_other_keys_are_ignored(self):
        entry = {"name": "alice", "vhosts": ["alice.test"], "backend": "apache", "limits": {"memory": "512M"}}
        assert run(empty_registry(), [entry]).ports == {"alice": [20000]}


class TestStickiness:
    def test_order_of_users_does_not_move_ports(self):
        first = run(empty_registry(), users("alice", "bob", "carol"))
        again = run(first.registry, users("carol", "bob", "alice"))
        assert again.ports == first.ports and not again.changed

    def test_range_change_keeps_ports_that_still_fit(self):
        first = run(empty_registry(), users("alice", "bob"))
        moved = run(first.registry, users("bob", "alice", "carol"),
                    port_range={"start": 19990, "end": 20100})
        # carol gets the lowest free port of the new range, the others stay.
        assert moved.ports == {"alice": [20000], "bob": [20001], "carol": [19990]}

    def test_range_shrink_that_strands_a_port_is_an_error(self):
        first = run(empty_registry(), users("alice", "bob"))
        with pytest.raises(AllocationError) as excinfo:
            run(first.registry, users("alice", "bob"), port_range={"start": 20001, "end": 20009})
        assert "'alice' holds port 20000, outside the new port range 20001-20009" in problems_of(excinfo)

    def test_range_shrink_also_protects_users_not_in_the_request(self):
        first = run(empty_registry(), users("alice", "bob"))
        with pytest.raises(AllocationError) as excinfo:
            run(first.registry, users("bob"), port_range={"start": 20001, "end": 20009})
        assert "'alice' (not in this request)" in problems_of(excinfo)

    def test_port_that_becomes_reserved_is_an_error(self):
        first = run(empty_registry(), users("alice"))
        with pytest.raises(AllocationError) as excinfo:
            run(first.registry, users("alice"), reserved=[20000])
        assert "'alice' holds port 20000, which is now reserved" in problems_of(excinfo)

    def test_growing_count_adds_ports_and_keeps_old_ones(self):
        first = run(empty_registry(), users("alice", "bob"))
        grown = run(first.registry, users("alice", "bob", alice=3))
        assert grown.ports == {"alice": [20000, 20002, 20003], "bob": [20001]}
        assert grown.allocated == {"alice": [20002, 20003]}

    def test_lowering_count_releases_highest_ports_into_quarantine(self):
        first = run(empty_registry(), users("alice", alice=3))
        lowered = run(first.registry, users("alice"), now=2000000)
        assert lowered.ports == {"alice": [20000]}
        assert lowered.released == {"alice": [20001, 20002]}
        assert [q["port"] for q in lowered.active_quarantine] == [20001, 20002]


class TestPinnedPorts:
    def test_pinned_ports_are_honoured_before_automatic_ones(self):
        result = run(empty_registry(), [{"name": "a"}, {"name": "b", "port": 20000}])
        assert result.ports == {"a": [20001], "b": [20000]}

    def test_pinned_port_of_another_user_is_an_error(self):
        first = run(empty_registry(), users("alice"))
        with pytest.raises(AllocationError) as excinfo:
            run(first.registry, [{"name": "alice"}, {"name": "bob", "port": 20000}])
        assert "'bob': pinned port 20000 already belongs to user 'alice'" in problems_of(excinfo)

    def test_pinned_port_outside_range_or_reserved(self):
        with pytest.raises(AllocationError) as excinfo:
            run(empty_registry(), [{"name": "a", "port": 30000}, {"name": "b", "port": 20005},
                                   {"name": "c", "port": 80}], reserved=[20005])
        text = problems_of(excinfo)
        assert "users[0] (a): pinned port 30000 is outside the port range 20000-20009" in text
        assert "users[1] (b): pinned port 20005 is reserved" in text
        assert "users[2] (c): pinned port 80 is outside 1025-65535" in text

    def test_changing_the_pin_moves_only_that_user_and_reports_it(self):
        first = run(empty_registry(), users("alice"))
        moved = run(first.registry, [{"name": "alice", "port": 20005}])
        assert moved.ports == {"alice": [20005]}
        assert moved.allocated == {"alice": [20005]} and moved.released == {"alice": [20000]}

    def test_pin_in_another_users_quarantine_is_an_error(self):
        first = run(empty_registry(), users("alice"))
        gone = run(first.registry, [{"name": "alice", "state": "absent"}], now=5000)
        with pytest.raises(AllocationError) as excinfo:
            run(gone.registry, [{"name": "bob", "port": 20000}], now=5000 + 10)
        assert "pinned port 20000 is in quarantine after its release by 'alice' until %d" % (5000 + DAY) \
            in problems_of(excinfo)


class TestReleaseAndQuarantine:
    def test_absent_user_releases_into_quarantine_and_port_is_not_reused(self):
        first = run(empty_registry(), users("alice", "bob"))
        gone = run(first.registry, [{"name": "alice", "state": "absent"}, {"name": "bob"}], now=5000)
        assert gone.released == {"alice": [20000]}
        assert "alice" not in gone.ports
        carol = run(gone.registry, users("bob", "carol"), now=5000 + DAY - 1)
        assert carol.ports["carol"] == [20002]

    def test_port_is_free_again_after_the_quarantine(self):
        first = run(empty_registry(), users("alice"))
        gone = run(first.registry, [{"name": "alice", "state": "absent"}], now=5000)
        later = run(gone.registry, users("carol"), now=5000 + DAY)
        assert later.ports == {"carol": [20000]}
        assert later.registry["quarantine"] == []

    def test_zero_quarantine_frees_at_once(self):
        first = run(empty_registry(), users("alice"))
        gone = run(first.registry, [{"name": "alice", "state": "absent"}, {"name": "bob"}], now=5000,
                   quarantine_seconds=0)
        # Released and handed out again in the same run: no quarantine asked for.
        assert gone.ports == {"bob": [20000]} and gone.registry["quarantine"] == []

    def test_returning_user_gets_own_port_back(self):
        first = run(empty_registry(), users("alice", "bob"))
        gone = run(first.registry, [{"name": "alice", "state": "absent"}], now=5000)
        back = run(gone.registry, users("bob", "carol", "alice"), now=6000)
        assert back.ports["alice"] == [20000]
        assert back.ports["carol"] == [20002]

    def test_expired_quarantine_is_not_pruned_by_a_no_op_run(self):
        first = run(empty_registry(), users("alice", "bob"))
        gone = run(first.registry, [{"name": "alice", "state": "absent"}, {"name": "bob"}], now=5000)
        later = run(gone.registry, users("bob"), now=5000 + 2 * DAY)
        assert not later.changed and later.registry == gone.registry
        assert later.active_quarantine == []

    def test_absent_unknown_user_is_a_no_op(self):
        first = run(empty_registry(), users("alice"))
        assert not run(first.registry, [{"name": "alice"}, {"name": "zed", "state": "absent"}]).changed

    def test_authoritative_releases_users_not_listed(self):
        first = run(empty_registry(), users("alice", "bob", "carol"))
        kept = run(first.registry, users("bob"))
        assert not kept.changed and set(kept.ports) == {"alice", "bob", "carol"}
        pruned = run(first.registry, users("bob"), authoritative=True)
        assert pruned.ports == {"bob": [20001]}
        assert pruned.released == {"alice": [20000], "carol": [20002]}


class TestBadInput:
    @pytest.mark.parametrize("name", ["Alice", "1abc", "a b", "", "x" * 33, "al$", "ali.ce", None, 5])
    def test_invalid_user_names(self, name):
        with pytest.raises(AllocationError) as excinfo:
            run(empty_registry(), [{"name": "ok"}, {"name": name}])
        assert "users[1]: invalid user name %r" % (name,) in problems_of(excinfo)

    def test_duplicate_users_name_both_places(self):
        with pytest.raises(AllocationError) as excinfo:
            run(empty_registry(), users("alice", "bob", "alice"))
        assert "users[2] (alice): duplicate entry for user 'alice' (first at users[0])" in problems_of(excinfo)

    @pytest.mark.parametrize("count", [0, -1, True, "two", 1.5])
    def test_count_below_one_or_not_a_number(self, count):
        with pytest.raises(AllocationError) as excinfo:
            run(empty_registry(), [{"name": "alice", "ports": count}])
        assert "users[0] (alice): number of ports must be an integer >= 1" in problems_of(excinfo)

    def test_both_ports_and_count(self):
        with pytest.raises(AllocationError, match="not both"):
            run(empty_registry(), [{"name": "alice", "ports": 1, "count": 1}])

    def test_bad_state_and_non_mapping_entries(self):
        with pytest.raises(AllocationError) as excinfo:
            run(empty_registry(), [{"name": "a", "state": "gone"}, "bob"])
        text = problems_of(excinfo)
        assert "users[0] (a): state must be one of present, absent, got 'gone'" in text
        assert "users[1]: expected a mapping" in text

    @pytest.mark.parametrize("port_range, message", [
        ({"start": 1024, "end": 2000}, "port_range.start 1024 is outside 1025-65535"),
        ({"start": 2000, "end": 65536}, "port_range.end 65536 is outside 1025-65535"),
        ({"start": 3000, "end": 2000}, "port_range start 3000 is greater than end 2000"),
        ({"start": "x", "end": 2000}, "port_range.start must be an integer"),
        ([20000, 20001], "port_range must be a mapping"),
    ])
    def test_bad_ranges(self, port_range, message):
        with pytest.raises(AllocationError) as excinfo:
            run(empty_registry(), users("a"), port_range=port_range)
        assert message in problems_of(excinfo)

    @pytest.mark.parametrize("reserved", [["abc"], [0], ["20005-20001"], [70000], [None]])
    def test_bad_reserved_entries(self, reserved):
        with pytest.raises(AllocationError, match="reserved entry"):
            run(empty_registry(), users("a"), reserved=reserved)

    def test_every_problem_is_reported_at_once(self):
        with pytest.raises(AllocationError) as excinfo:
            run(empty_registry(), [{"name": "Bad"}, {"name": "ok", "ports": 0}, {"name": "x", "port": 1}])
        assert len(excinfo.value.problems) == 3

    def test_exhaustion_names_unserved_users_and_free_count(self):
        with pytest.raises(AllocationError) as excinfo:
            run(empty_registry(), users("a", "b", "c", a=4, b=4, c=4), reserved=[20009])
        text = problems_of(excinfo)
        assert "port range 20000-20009 exhausted: cannot serve c (needs 3 more)" in text
        assert "0 port(s) free" in text and "1 reserved in range" in text

    def test_exhaustion_counts_quarantine(self):
        first = run(empty_registry(), users("a", a=10))
        gone = run(first.registry, [{"name": "a", "state": "absent"}], now=5000)
        with pytest.raises(AllocationError, match=r"cannot serve b \(needs 1 more\); 0 port\(s\) free.*10 in quarantine"):
            run(gone.registry, users("b"), now=5001)
