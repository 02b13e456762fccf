"""backend_services core: parsing real `systemctl show` output, the pure planner, and
reconcile() against a simulated systemd that behaves like the real one where it matters
(all-or-nothing enable/disable, one job per unit for start, Type=simple units that die
after a "successful" start, crash loops, hanging starts, alias Ids).
"""
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.sharedhost.hosting.plugins.module_utils.backend_services import (
    SHOW_CHUNK,
    SHOW_PROPERTIES,
    InvalidRequest,
    ServiceError,
    Systemd,
    compute_changed,
    is_settled,
    parse_show,
    plan,
    reconcile,
    validate,
)

# ---------------------------------------------------------------------------
# Real output, captured on the Debian 12 (systemd 252) and 13 (systemd 257) test hosts.
# Note the property order: systemd prints its own order (Result first), not the requested one.

SHOW_BOOKWORM = """Result=success
Id=demo@a.service
LoadState=loaded
ActiveState=inactive
SubState=dead
UnitFileState=disabled

Result=success
Id=demo@bad.service
LoadState=loaded
ActiveState=inactive
SubState=dead
UnitFileState=disabled

Result=success
Id=nonexist.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=

Result=success
Id=nonexist@x.service
LoadState=not-found
ActiveState=inactive
SubState=dead
UnitFileState=

Result=success
Id=plain.service
LoadState=loaded
ActiveState=inactive
SubState=dead
UnitFileState=static

Result=success
Id=cron.service
LoadState=loaded
ActiveState=active
SubState=running
UnitFileState=enabled
"""

SHOW_TRIXIE_FULL = """NRestarts=0
Result=exit-code
Id=demo@bad.service
LoadState=loaded
ActiveState=failed
SubState=failed
UnitFileState=enabled
NeedDaemonReload=no
Job=

NRestarts=3
Result=exit-code
Id=crash@1.service
LoadState=loaded
ActiveState=activating
SubState=auto-restart
UnitFileState=static
NeedDaemonReload=yes
Job=

NRestarts=0
Result=success
Id=slow@1.service
LoadState=loaded
ActiveState=activating
SubState=start-pre
UnitFileState=disabled
NeedDaemonReload=no
Job=497

Result=success
Id=demo@m.service
LoadState=masked
ActiveState=inactive
SubState=dead
UnitFileState=masked
NeedDaemonReload=no
Job=

Result=success
Id=web.socket
LoadState=loaded
ActiveState=active
SubState=listening
UnitFileState=enabled
NeedDaemonReload=no
Job=
"""


def test_parse_real_bookworm_output_by_position():
    units = ["demo@a.service", "demo@bad.service", "nonexist.service", "nonexist@x.service",
             "plain.service", "cron.service"]
    states = parse_show(SHOW_BOOKWORM, units)
    assert list(states) == units
    # A template instance that was never loaded is loaded by show itself.
    assert states["demo@a.service"]["load"] == "loaded" and states["demo@a.service"]["file"] == "disabled"
    assert states["nonexist@x.service"]["load"] == "not-found" and states["nonexist@x.service"]["file"] == ""
    assert states["plain.service"]["file"] == "static"
    assert states["cron.service"]["active"] == "active" and states["cron.service"]["sub"] == "running"
    # Properties not asked for (old output) default to harmless values.
    assert states["cron.service"]["job"] == "" and states["cron.service"]["restarts"] == 0
    assert states["cron.service"]["need_reload"] is False


def test_parse_real_trixie_output_with_jobs_restarts_and_socket():
    units = ["demo@bad.service", "crash@1.service", "slow@1.service", "demo@m.service", "web.socket"]
    states = parse_show(SHOW_TRIXIE_FULL, units)
    assert states["demo@bad.service"]["result"] == "exit-code"
    assert states["crash@1.service"]["restarts"] == 3 and states["crash@1.service"]["need_reload"] is True
    assert states["slow@1.service"]["job"] == "497"
    assert states["demo@m.service"]["load"] == "masked"
    assert states["web.socket"]["restarts"] == 0 and states["web.socket"]["sub"] == "listening"
    assert not is_settled(states)  # slow@1 has a job
    del states["slow@1.service"]
    assert is_settled(states)  # a crash loop waiting for its restart is settled (and failing)


def test_a_queued_restart_job_is_not_settled_even_if_the_unit_looks_stopped():
    # Seen on systemd 257 right after `try-restart --no-block`: inactive/dead with Job=648.
    assert not is_settled({"a": make_state(active="inactive", job="648")})
    assert not is_settled({"a": make_state(active="deactivating", sub="stop-sigterm")})
    assert is_settled({"a": make_state(active="failed"), "b": make_state(active="active")})


def test_parse_alias_is_matched_by_position_not_id():
    text = "Id=plain.service\nLoadState=loaded\nActiveState=active\n\nId=other.service\nLoadState=loaded\n"
    states = parse_show(text, ["alias1.service", "other.service"])
    assert states["alias1.service"]["id"] == "plain.service"


def test_parse_falls_back_to_ids_when_the_block_count_differs():
    text = "Id=a.service\nLoadState=loaded\n\nId=c.service\nLoadState=not-found\n"
    states = parse_show(text + "\nId=junk.service\n", ["a.service", "c.service"])
    assert states["c.service"]["load"] == "not-found" and states["a.service"]["load"] == "loaded"
    with pytest.raises(ServiceError) as caught:
        parse_show(text, ["a.service", "b.service", "c.service"])
    assert "b.service" in str(caught.value)


def test_parse_tolerates_extra_blank_lines_and_crlf_free_values():
    text = "\n\nId=a.service\nActiveState=active\nSubState=running\n\n\n\nId=b.service\nActiveState=failed\n\n"
    states = parse_show(text, ["a.service", "b.service"])
    assert states["a.service"]["active"] == "active" and states["b.service"]["active"] == "failed"


# ---------------------------------------------------------------------------
# validate


def test_validate_lists_every_bad_name_and_conflict():
    with pytest.raises(InvalidRequest) as caught:
        validate(present=["ok@a.service", "bad name.service", "x.mount", 5],
                 absent=["ok@a.service", "../etc.service"], restart=["y.target"], reload=["-v"])
    problems = caught.value.problems
    assert len(problems) == 6
    assert any("present[1]" in p for p in problems) and any("present[2]" in p for p in problems)
    assert any("present[3]" in p for p in problems) and any("absent[1]" in p for p in problems)
    assert any("restart[0]" in p for p in problems) and any("reload[0]" in p for p in problems)


def test_validate_refuses_templates_because_systemctl_show_refuses_them():
    with pytest.raises(InvalidRequest) as caught:
        validate(present=["demo@.service", "@x.service", "demo@a.service"], restart=["web@.socket"])
    assert len(caught.value.problems) == 3
    assert "template" in caught.value.problems[0]


def test_validate_conflict_between_present_and_absent():
    with pytest.raises(InvalidRequest) as caught:
        validate(present=["a.service", "b.timer"], absent=["b.timer", "a.service"])
    assert caught.value.problems == ["a.service is listed in both present and absent",
                                     "b.timer is listed in both present and absent"]


def test_validate_accepts_all_unit_kinds_and_dedups_in_order():
    lists = validate(present=["b@x:y_z.service", "a.socket", "b@x:y_z.service", "t.timer"], absent=None)
    assert lists == {"present": ["b@x:y_z.service", "a.socket", "t.timer"], "absent": [], "restart": [],
                     "reload": []}


# ---------------------------------------------------------------------------
# plan: every combination of state and request, against an independent oracle

LOADS = ["loaded", "not-found", "masked", "bad-setting"]
ACTIVES = [("active", "running"), ("inactive", "dead"), ("failed", "failed"), ("activating", "start"),
           ("activating", "auto-restart"), ("deactivating", "stop-sigterm"), ("reloading", "reload")]
FILES = ["enabled", "disabled", "static", "", "masked", "enabled-runtime", "linked", "indirect", "alias",
         "generated"]
ROLES = ["present", "absent", "none"]


def make_state(load="loaded", active="inactive", sub="dead", file="disabled", job="", restarts=0, result="success"):
    return {"id": "", "load": load, "active": active, "sub": sub, "file": file, "result": result, "job": job,
            "need_reload": False, "restarts": restarts}


def oracle(state, role, in_restart, in_reload):
    """What should happen to one unit, written from the option documentation."""
    running = state["active"] in ("active", "reloading")
    alive = running or state["active"] == "activating"
    expected = set()
    if role == "present":
        if state["load"] != "loaded":
            return {"unstartable"}
        if state["file"] in ("disabled", "linked"):
            expected.add("enable")
        if not alive:
            expected.add("start")
    if role == "absent":
        if state["file"] == "enabled":
            expected.add("disable")
        elif alive:
            expected.add("stop")
        if alive:
            expected.add("stopped")
    if role != "absent" and "start" not in expected and running:
        if in_restart:
            expected.add("restart")
        elif in_reload:
            expected.add("reload")
    return expected


def actions_of(result, unit):
    found = set(key for key in ("enable", "start", "restart", "reload", "disable", "stop", "stopped")
                if unit in result[key])
    if unit in result["unstartable"]:
        found.add("unstartable")
    return found


@pytest.mark.parametrize("load", LOADS)
def test_plan_every_combination_matches_the_oracle(load):
    checked = 0
    for (active, sub), file, role, in_restart, in_reload in itertools.product(
            ACTIVES, FILES, ROLES, (False, True), (False, True)):
        if load == "not-found" and file:
            continue  # systemd prints an empty UnitFileState for units without a file
        if load == "masked" and file != "masked":
            continue
        state = make_state(load=load, active=active, sub=sub, file=file)
        unit = "u.service"
        result = plan({unit: state}, [unit] if role == "present" else [], [unit] if role == "absent" else [],
                      [unit] if in_restart else [], [unit] if in_reload else [])
        assert actions_of(result, unit) == oracle(state, role, in_restart, in_reload), \
            (state, role, in_restart, in_reload)
        checked += 1
    assert checked > 0


def test_plan_typical_first_run_and_second_run():
    units = ["demo@a.service", "demo@b.service", "demo@c.service"]
    fresh = dict((u, make_state()) for u in units)
    first = plan(fresh, units, [], [], [])
    assert first["enable"] == units and first["start"] == units
    running = dict((u, make_state(active="active", sub="running", file="enabled")) for u in units)
    second = plan(running, units, [], ["demo@b.service"], ["demo@c.service"])
    assert second["enable"] == second["start"] == [] and second["restart"] == ["demo@b.service"]
    assert second["reload"] == ["demo@c.service"]


def test_plan_does_not_restart_or_reload_what_it_starts_and_restart_beats_reload():
    states = {"a.service": make_state(), "b.service": make_state(active="active", sub="running", file="enabled")}
    result = plan(states, ["a.service", "b.service"], [], ["a.service", "b.service"], ["a.service", "b.service"])
    assert result["start"] == ["a.service"] and result["restart"] == ["b.service"] and result["reload"] == []


def test_plan_restart_of_units_not_managed_here_and_of_stopped_ones():
    states = {"run.service": make_state(active="active", sub="running", file="static"),
              "dead.service": make_state(active="failed"),
              "gone.service": make_state(load="not-found", file="")}
    result = plan(states, [], [], ["run.service", "dead.service", "gone.service"], [])
    assert result["restart"] == ["run.service"]
    assert result["start"] == [] and result["unstartable"] == {}


def test_plan_absent_units_that_do_not_exist_need_nothing_but_running_leftovers_are_stopped():
    states = {"gone.service": make_state(load="not-found", file=""),
              "deleted-but-running.service": make_state(load="not-found", file="", active="active"),
              "static.service": make_state(active="active", file="static"),
              "enabled-idle.service": make_state(file="enabled"),
              "runtime.service": make_state(active="active", file="enabled-runtime")}
    result = plan(states, [], list(states), ["static.service"], [])
    assert result["disable"] == ["enabled-idle.service"]
    assert result["stop"] == ["deleted-but-running.service", "static.service", "runtime.service"]
    assert result["stopped"] == result["stop"]
    assert result["restart"] == []


def test_plan_keeps_request_order():
    units = ["z.service", "a.service", "m.service"]
    states = dict((u, make_state()) for u in units)
    assert plan(states, units, [], [], [])["start"] == units


unit_state = st.builds(
    make_state,
    load=st.sampled_from(LOADS), active=st.sampled_from([pair[0] for pair in ACTIVES]),
    sub=st.sampled_from(["dead", "running", "auto-restart", "start"]), file=st.sampled_from(FILES))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["u%d.service" % i for i in range(8)]),
                       st.tuples(unit_state, st.sampled_from(ROLES), st.booleans(), st.booleans()),
                       max_size=8))
def test_plan_of_many_units_is_the_union_of_single_unit_plans(request):
    states = dict((u, v[0]) for u, v in request.items())
    present = [u for u, v in request.items() if v[1] == "present"]
    absent = [u for u, v in request.items() if v[1] == "absent"]
    restart = [u for u, v in request.items() if v[2]]
    reload = [u for u, v in request.items() if v[3]]
    result = plan(states, present, absent, restart, reload)
    for unit, (state, role, in_restart, in_reload) in request.items():
        assert actions_of(result, unit) == oracle(state, role, in_restart, in_reload)
    # Nothing is started and stopped, restarted twice, or restarted after a start.
    assert not set(result["start"]) & set(result["stopped"])
    assert not set(result["restart"]) & set(result["reload"])
    assert not set(result["start"]) & (set(result["restart"]) | set(result["reload"]))


def test_compute_changed_compares_enablement_and_active_state_of_acted_units_only():
    before = {"a": make_state(file="disabled", active="active"), "b": make_state(active="activating")}
    after = {"a": make_state(file="disabled", active="reloading"), "b": make_state(active="active")}
    assert not compute_changed(before, after, ["a"], [], [])
    assert compute_changed(before, after, ["a", "b"], [], [])
    assert compute_changed(before, before, [], ["a"], [])
    assert compute_changed(before, before, [], [], ["a"])
    failed_again = {"a": make_state(active="failed")}
    assert not compute_changed(failed_again, failed_again, ["a"], [], [])


# ---------------------------------------------------------------------------
# reconcile against a simulated systemd


class FakeClock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds


class FakeSystemd(object):
    """Enough of systemd's behaviour, as observed on systemd 252/257.

    kinds: ok (sleep infinity), fail (exits at once: start "succeeds", then failed),
    slow (activating with a job for 2 s), hang (activating with a job forever),
    crashloop (Restart=on-failure: flaps between active and auto-restart).
    """

    def __init__(self, clock):
        self.clock = clock
        self.units = {}
        self.commands = []
        self.pid = 100

    def add(self, name, kind="ok", file="disabled", active="inactive", load="loaded"):
        self.units[name] = {"kind": kind, "file": file, "active": active, "sub": "running" if active == "active"
                            else "dead", "load": load, "result": "success", "job": "", "pid": 0,
                            "restarts": 0, "since": 0.0, "reloads": 0, "need_reload": False}
        if active == "active":
            self.units[name]["pid"] = self._new_pid()

    def _new_pid(self):
        self.pid += 1
        return self.pid

    def _unit(self, name):
        if name not in self.units:
            self.units[name] = {"kind": None, "file": "", "active": "inactive", "sub": "dead", "load": "not-found",
                                "result": "success", "job": "", "pid": 0, "restarts": 0, "since": 0.0,
                                "reloads": 0, "need_reload": False}
        return self.units[name]

    def _evolve(self, unit):
        """Advance a unit's state to the current time."""
        elapsed = self.clock() - unit["since"]
        if unit["active"] == "activating" and unit["kind"] == "slow" and elapsed >= 2:
            unit.update(active="active", sub="running", job="", pid=self._new_pid())
        if unit["kind"] == "fail" and unit["active"] == "active" and elapsed >= 0.05:
            unit.update(active="failed", sub="failed", result="exit-code", pid=0)
        if unit["kind"] == "crashloop" and unit["active"] in ("active", "activating") and unit["sub"] != "start":
            cycle = int(elapsed / 0.3)
            unit["restarts"] = cycle // 2
            if cycle % 2:
                unit.update(active="activating", sub="auto-restart", result="exit-code")
            else:
                unit.update(active="active", sub="running")

    def _start(self, unit):
        unit.update(since=self.clock(), restarts=0, result="success")
        if unit["kind"] in ("slow", "hang"):
            unit.update(active="activating", sub="start", job=str(self._new_pid()))
        else:
            unit.update(active="active", sub="running", pid=self._new_pid())

    def __call__(self, argv):
        self.commands.append(list(argv))
        tool, verb = argv[0], argv[1] if len(argv) > 1 else ""
        names = [a for a in argv[2:] if not a.startswith("-")]
        flags = [a for a in argv[2:] if a.startswith("-")]
        if tool == "journalctl":
            name = argv[argv.index("-u") + 1]
            return 0, "%s: Main process exited, code=exited, status=1/FAILURE\n" % name, ""
        assert tool == "systemctl"
        if verb == "show":
            blocks = []
            for name in names:
                unit = self._unit(name)
                self._evolve(unit)
                blocks.append("\n".join([
                    "NRestarts=%d" % unit["restarts"], "Result=%s" % unit["result"], "Id=%s" % name,
                    "LoadState=%s" % unit["load"], "ActiveState=%s" % unit["active"], "SubState=%s" % unit["sub"],
                    "UnitFileState=%s" % unit["file"],
                    "NeedDaemonReload=%s" % ("yes" if unit["need_reload"] else "no"), "Job=%s" % unit["job"]]))
            return 0, "\n\n".join(blocks) + "\n", ""
        if verb == "daemon-reload":
            for unit in self.units.values():
                unit["need_reload"] = False
            return 0, "", ""
        if verb in ("enable", "disable"):
            bad = [n for n in names if self._unit(n)["load"] in ("not-found", "masked")]
            if bad:  # all-or-nothing, like the real one
                return 1, "", "Failed to %s unit: Unit file %s does not exist.\n" % (verb, bad[0])
            for name in names:
                unit = self._unit(name)
                if verb == "enable" and unit["file"] in ("disabled", "linked"):
                    unit["file"] = "enabled"
                if verb == "disable" and unit["file"] == "enabled":
                    unit["file"] = "disabled"
                if verb == "disable" and "--now" in flags:
                    unit.update(active="inactive", sub="dead", pid=0, job="")
            return 0, "", ""
        rc, errors = 0, []
        for name in names:  # one job per unit; a refused unit does not stop the others
            unit = self._unit(name)
            self._evolve(unit)
            if unit["load"] != "loaded" and verb != "stop":
                rc = 5
                errors.append("Failed to %s %s: Unit %s not found." % (verb, name, name))
                continue
            if verb == "stop":
                unit.update(active="inactive", sub="dead", pid=0, job="")
            elif verb == "start":
                if unit["active"] not in ("active", "activating"):
                    self._start(unit)
            elif verb == "try-restart":
                if unit["active"] in ("active", "reloading"):
                    self._start(unit)
            elif verb == "try-reload-or-restart":
                if unit["active"] in ("active", "reloading"):
                    unit["reloads"] += 1
            else:
                raise AssertionError("unexpected systemctl verb %s" % verb)
        return rc, "", "\n".join(errors)

    def state_changing(self):
        return [c for c in self.commands if c[0] == "systemctl" and c[1] not in ("show",)]


@pytest.fixture
def env():
    clock = FakeClock()
    fake = FakeSystemd(clock)
    systemd = Systemd(fake, sleep=clock.sleep, clock=clock)
    return clock, fake, systemd


def test_first_run_enables_and_starts_all_second_run_changes_nothing(env):
    clock, fake, systemd = env
    units = ["demo@%d.service" % i for i in range(5)]
    for unit in units:
        fake.add(unit)
    result = reconcile(systemd, present=units)
    assert result["changed"] and result["enabled"] == units and result["started"] == units
    assert result["failed_units"] == {} and set(result["states"].values()) == {"active"}
    verbs = [c[1] for c in fake.commands]
    assert verbs == ["show", "enable", "start", "show"]
    assert "--no-block" in fake.commands[2]
    fake.commands[:] = []
    again = reconcile(systemd, present=units)
    assert not again["changed"] and again["enabled"] == again["started"] == []
    assert [c[1] for c in fake.commands] == ["show"]


def test_a_failing_unit_is_reported_with_its_journal_and_does_not_stop_the_others(env):
    clock, fake, systemd = env
    fake.add("demo@a.service")
    fake.add("demo@bad.service", kind="fail")
    fake.add("demo@c.service")
    result = reconcile(systemd, present=["demo@a.service", "demo@bad.service", "demo@c.service"])
    assert result["states"] == {"demo@a.service": "active", "demo@bad.service": "failed",
                                "demo@c.service": "active"}
    failed = result["failed_units"]["demo@bad.service"]
    assert failed["state"] == "failed" and failed["result"] == "exit-code"
    assert "status=1/FAILURE" in failed["journal"]
    assert list(result["failed_units"]) == ["demo@bad.service"]
    journal_calls = [c for c in fake.commands if c[0] == "journalctl"]
    assert journal_calls == [["journalctl", "-u", "demo@bad.service", "-n", "10", "--no-pager", "-o", "cat"]]
    # The failure is only visible after the settle time: the start itself "succeeded".
    assert clock.now >= 1001.0
    again = reconcile(systemd, present=["demo@a.service", "demo@bad.service", "demo@c.service"])
    assert not again["changed"] and again["started"] == ["demo@bad.service"]
    assert "demo@bad.service" in again["failed_units"]


def test_without_settle_time_a_quick_death_goes_unnoticed(env):
    clock, fake, systemd = env
    fake.add("demo@bad.service", kind="fail")
    result = reconcile(systemd, present=["demo@bad.service"], settle_seconds=0)
    assert result["failed_units"] == {}  # documents why settle_seconds exists


def test_restart_restarts_only_listed_running_units_and_not_just_started_ones(env):
    clock, fake, systemd = env
    fake.add("a.service", file="enabled", active="active")
    fake.add("b.service", file="enabled", active="active")
    fake.add("c.service")
    pids = dict((u, fake.units[u]["pid"]) for u in ("a.service", "b.service"))
    result = reconcile(systemd, present=["a.service", "b.service", "c.service"], restart=["b.service", "c.service"])
    assert result["restarted"] == ["b.service"] and result["started"] == ["c.service"]
    assert fake.units["a.service"]["pid"] == pids["a.service"]
    assert fake.units["b.service"]["pid"] != pids["b.service"]
    assert result["changed"]
    restarts = [c for c in fake.commands if c[1] == "try-restart"]
    assert restarts == [["systemctl", "try-restart", "--no-block", "b.service"]]


def test_reload_uses_try_reload_or_restart_and_counts_as_a_change(env):
    clock, fake, systemd = env
    fake.add("a.service", file="enabled", active="active")
    fake.add("b.service", file="enabled", active="active")
    result = reconcile(systemd, present=["a.service", "b.service"], reload=["a.service", "b.service"],
                       restart=["b.service"])
    assert result["reloaded"] == ["a.service"] and result["restarted"] == ["b.service"] and result["changed"]
    assert fake.units["a.service"]["reloads"] == 1 and fake.units["b.service"]["reloads"] == 0


def test_absent_stops_and_disables_and_missing_units_are_fine(env):
    clock, fake, systemd = env
    fake.add("old@a.service", file="enabled", active="active")
    fake.add("old@b.service", file="static", active="active")
    fake.add("old@c.service", file="disabled")
    result = reconcile(systemd, absent=["old@a.service", "old@b.service", "old@c.service", "never.service"])
    assert result["disabled"] == ["old@a.service"]
    assert result["stopped"] == ["old@a.service", "old@b.service"]
    assert result["changed"] and result["failed_units"] == {}
    assert fake.units["old@a.service"]["file"] == "disabled"
    assert set(result["states"].values()) == {"inactive"}
    assert fake.state_changing() == [["systemctl", "disable", "--now", "--no-block", "old@a.service"],
                                     ["systemctl", "stop", "--no-block", "old@b.service"]]
    fake.commands[:] = []
    again = reconcile(systemd, absent=["old@a.service", "old@b.service", "old@c.service", "never.service"])
    assert not again["changed"] and fake.state_changing() == []


def test_check_mode_plans_and_runs_nothing_that_changes_state(env):
    clock, fake, systemd = env
    fake.add("a.service")
    fake.add("b.service", file="enabled", active="active")
    fake.add("c.service", file="enabled", active="active")
    fake.add("m.service", load="masked", file="masked")
    result = reconcile(systemd, present=["a.service", "b.service", "m.service", "new.service"],
                       absent=["c.service"], restart=["b.service"], daemon_reload=True, check_mode=True)
    assert fake.state_changing() == []
    assert result["changed"]
    # A unit that does not exist yet is assumed to be created by an earlier task.
    assert result["enabled"] == ["a.service", "new.service"]
    assert result["started"] == ["a.service", "new.service"]
    assert result["restarted"] == ["b.service"]
    assert result["disabled"] == ["c.service"] and result["stopped"] == ["c.service"]
    assert list(result["failed_units"]) == ["m.service"]
    assert result["failed_units"]["m.service"]["state"] == "masked"
    assert any("new.service" in w for w in result["warnings"])
    noop = reconcile(systemd, present=["b.service"], check_mode=True)
    assert not noop["changed"]


def test_enable_is_retried_unit_by_unit_when_the_batch_fails(env):
    clock, fake, systemd = env
    fake.add("a.service")
    fake.add("b.service")
    fake.add("x.service")
    # The unit file vanishes between show and enable: the batch fails as a whole.
    original = fake.__call__

    def racing(argv):
        if argv[1] == "enable":
            fake.units["x.service"]["load"] = "not-found"
        return original(argv)
    systemd.run = racing
    result = reconcile(systemd, present=["a.service", "x.service", "b.service"])
    assert result["enabled"] == ["a.service", "b.service"]
    assert fake.units["a.service"]["file"] == "enabled" and fake.units["b.service"]["file"] == "enabled"
    assert "does not exist" in result["failed_units"]["x.service"]["error"]
    enables = [c for c in fake.commands if c[1] == "enable"]
    assert len(enables) == 4  # one batch, then one per unit


def test_not_found_and_masked_present_units_are_reported_not_passed_to_systemctl(env):
    clock, fake, systemd = env
    fake.add("a.service")
    fake.add("m.service", load="masked", file="masked")
    result = reconcile(systemd, present=["a.service", "m.service", "gone.service"])
    assert result["started"] == ["a.service"]
    assert result["failed_units"]["m.service"]["state"] == "masked"
    assert result["failed_units"]["gone.service"]["state"] == "not-found"
    assert result["failed_units"]["gone.service"]["journal"] == ""
    for command in fake.state_changing():
        assert "m.service" not in command and "gone.service" not in command


def test_slow_units_are_waited_for_and_hanging_ones_time_out(env):
    clock, fake, systemd = env
    fake.add("slow.service", kind="slow")
    fake.add("hang.service", kind="hang")
    fake.add("ok.service")
    start = clock.now
    result = reconcile(systemd, present=["slow.service", "hang.service", "ok.service"], wait_timeout=5)
    assert 5 <= clock.now - start <= 6
    assert result["states"] == {"slow.service": "active", "hang.service": "activating", "ok.service": "active"}
    assert list(result["failed_units"]) == ["hang.service"]
    assert any("still changing state" in w and "hang.service" in w for w in result["warnings"])
    shows = [c for c in fake.commands if c[1] == "show"]
    assert len(shows) <= 12  # polling backs off


def test_slow_unit_alone_costs_only_the_wait(env):
    clock, fake, systemd = env
    fake.add("slow.service", kind="slow")
    start = clock.now
    result = reconcile(systemd, present=["slow.service"])
    assert result["failed_units"] == {} and 2 <= clock.now - start < 4


def test_crash_looping_unit_is_reported(env):
    clock, fake, systemd = env
    fake.add("loop.service", kind="crashloop")
    fake.add("ok.service")
    result = reconcile(systemd, present=["loop.service", "ok.service"], settle_seconds=1.0)
    assert list(result["failed_units"]) == ["loop.service"]
    assert result["failed_units"]["loop.service"]["state"] in ("crashed", "activating")


def test_present_unit_in_auto_restart_is_not_started_again_but_reported(env):
    clock, fake, systemd = env
    fake.add("loop.service", kind="crashloop", file="enabled")
    fake._start(fake.units["loop.service"])
    clock.sleep(0.4)  # now in auto-restart
    fake.commands[:] = []
    result = reconcile(systemd, present=["loop.service"])
    assert result["started"] == [] and fake.state_changing() == []
    assert result["failed_units"]["loop.service"]["state"] == "activating"
    assert result["failed_units"]["loop.service"]["sub_state"] == "auto-restart"


def test_the_number_of_systemctl_calls_does_not_grow_with_the_units(env):
    clock, fake, systemd = env
    present = ["web@u%03d.service" % i for i in range(300)]
    restart = present[:100]
    absent = ["old@u%03d.service" % i for i in range(100)]
    for unit in present[:150]:
        fake.add(unit, file="enabled", active="active")
    for unit in present[150:]:
        fake.add(unit)
    for unit in absent:
        fake.add(unit, file="enabled", active="active")
    result = reconcile(systemd, present=present, absent=absent, restart=restart, reload=present[100:150],
                       daemon_reload=True)
    assert len(result["started"]) == 150 and len(result["restarted"]) == 100 and len(result["reloaded"]) == 50
    assert len(result["disabled"]) == 100
    verbs = [c[1] for c in fake.commands]
    assert verbs == ["daemon-reload", "show", "disable", "enable", "start", "try-restart", "try-reload-or-restart",
                     "show"]


def test_show_is_chunked_for_huge_unit_lists(env):
    clock, fake, systemd = env
    units = ["w@u%05d.service" % i for i in range(SHOW_CHUNK + 5)]
    for unit in units:
        fake.add(unit, file="enabled", active="active")
    result = reconcile(systemd, present=units)
    assert not result["changed"] and len(result["states"]) == len(units)
    assert [len(c) - 4 for c in fake.commands] == [SHOW_CHUNK, 5]
    assert fake.commands[0][:4] == ["systemctl", "show", "--no-pager", "--property=" + ",".join(SHOW_PROPERTIES)]


def test_stale_unit_files_are_named_unless_daemon_reload(env):
    clock, fake, systemd = env
    fake.add("a.service", file="enabled", active="active")
    fake.units["a.service"]["need_reload"] = True
    result = reconcile(systemd, present=["a.service"])
    assert any("daemon_reload" in w and "a.service" in w for w in result["warnings"])
    result = reconcile(systemd, present=["a.service"], daemon_reload=True)
    assert result["warnings"] == [] and not result["changed"]  # running daemon-reload alone is no change
    assert fake.commands[-2][1] == "daemon-reload"


def test_invalid_request_runs_nothing(env):
    clock, fake, systemd = env
    with pytest.raises(InvalidRequest):
        reconcile(systemd, present=["ok.service", "rm -rf.service"], daemon_reload=True)
    assert fake.commands == []


def test_absent_unit_that_keeps_running_is_reported(env):
    clock, fake, systemd = env
    fake.add("stubborn.service", file="static", active="active")
    original = fake.__call__

    def ignoring_stop(argv):
        if argv[1] == "stop":
            fake.commands.append(list(argv))
            return 0, "", ""
        return original(argv)
    systemd.run = ignoring_stop
    result = reconcile(systemd, absent=["stubborn.service"])
    assert result["failed_units"]["stubborn.service"]["state"] == "active"
    assert not result["changed"]


def test_show_failure_without_output_is_an_error(env):
    clock, fake, systemd = env
    systemd.run = lambda argv: (1, "", "Failed to connect to bus: No such file or directory")
    with pytest.raises(ServiceError) as caught:
        reconcile(systemd, present=["a.service"])
    assert "Failed to connect to bus" in str(caught.value)
    assert not isinstance(caught.value, InvalidRequest)


def test_show_that_stops_half_way_names_the_missing_units_and_systemctls_message(env):
    clock, fake, systemd = env
    systemd.run = lambda argv: (1, "Id=a.service\nLoadState=loaded\n",
                                "Failed to get properties: Unit name b@.service is neither a valid invocation ID "
                                "nor unit name.\n")
    with pytest.raises(ServiceError) as caught:
        reconcile(systemd, present=["a.service", "b@x.service", "c.service"])
    message = str(caught.value)
    assert "b@x.service, c.service" in message and "Failed to get properties" in message


def test_nothing_requested_runs_nothing(env):
    clock, fake, systemd = env
    result = reconcile(systemd)
    assert fake.commands == [] and not result["changed"] and result["states"] == {}
