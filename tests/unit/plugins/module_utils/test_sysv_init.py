"""sysv_init: rlimits from a user's limits, and reconcile() against a simulated init script
that behaves like roles/init_scripts/files/sharedhost-backends.init (a "states" line per user,
one call per action, a backend whose configuration is refused does not come up)."""
import pytest

from ansible_collections.sharedhost.hosting.plugins.module_utils.backend_services import (
    InvalidRequest,
    ServiceError,
)
from ansible_collections.sharedhost.hosting.plugins.module_utils.sysv_init import (
    InitScript,
    parse_states,
    reconcile,
    rlimits,
    user_of,
)

LIMITS = {"memory": "512M", "tasks": 256, "cpu": "100%", "nofile": 1024, "nproc": 256}


def test_rlimits_of_the_default_limits():
    assert rlimits(LIMITS) == {"nofile": 1024, "nproc": 256, "address_space_kb": str(8 * 512 * 1024)}


@pytest.mark.parametrize("memory, factor, expected", [
    ("1G", 1, str(1024 * 1024)),
    ("2048K", 2, "4096"),
    ("1048576", 1, "1024"),
    ("100", 1, "1"),  # never 0: ulimit -v 0 would mean no address space at all
    ("50%", 4, "unlimited"),
    ("infinity", 4, "unlimited"),
    ("512M", 0, "unlimited"),
])
def test_rlimits_address_space(memory, factor, expected):
    assert rlimits(dict(LIMITS, memory=memory), factor)["address_space_kb"] == expected


def test_rlimits_nproc_is_the_smaller_of_tasks_and_nproc():
    assert rlimits(dict(LIMITS, tasks=64))["nproc"] == 64
    assert rlimits(dict(LIMITS, nproc=32))["nproc"] == 32


@pytest.mark.parametrize("name, user", [
    ("sharedhost-backend@alice.service", "alice"),
    ("bob", "bob"),
    ("sharedhost-backend@.service", None),
    ("other@alice.service", None),
    ("-rf", None),
    ("a b", None),
])
def test_user_of(name, user):
    assert user_of(name) == user


def test_parse_states_ignores_other_lines():
    assert parse_states("alice running\nbob stopped\nnoise here too\n\n") == {"alice": "running", "bob": "stopped"}


class FakeScript(object):
    """The init script's behaviour: states, start (refused configs die), stop, restart, reload."""

    def __init__(self, running=(), broken=()):
        self.running = set(running)
        self.broken = set(broken)
        self.calls = []
        self.reloads = []

    def __call__(self, argv):
        self.calls.append(argv)
        action, users = argv[1], argv[2:]
        if action == "states":
            return 0, "".join("%s %s\n" % (u, "running" if u in self.running else "stopped") for u in users), ""
        rc = 0
        for user in users:
            if action in ("start", "restart"):
                if user in self.broken:
                    self.running.discard(user)
                    rc = 1
                else:
                    self.running.add(user)
            elif action == "stop":
                self.running.discard(user)
            elif action == "reload":
                self.reloads.append(user)
        return rc, "", ""


def script_for(fake):
    return InitScript(fake, script="/etc/init.d/sharedhost-backends", sleep=lambda _s: None,
                      read=lambda path, lines: "refused: Listen 127.0.0.1:20001 is bob's" if "carol" in path else "")


def actions(fake):
    return [call[1:] for call in fake.calls if call[1] != "states"]


def test_starts_the_stopped_and_stops_the_absent_with_one_call_each():
    fake = FakeScript(running={"alice", "dave"})
    result = reconcile(script_for(fake), present=["sharedhost-backend@alice.service", "sharedhost-backend@bob.service",
                                                  "sharedhost-backend@erin.service"],
                       absent=["sharedhost-backend@dave.service"])
    assert actions(fake) == [["stop", "dave"], ["start", "bob", "erin"]]
    assert result["changed"] is True
    assert result["started"] == ["bob", "erin"]
    assert result["stopped"] == ["dave"]
    assert result["failed_units"] == {}
    assert result["states"] == {"alice": "active", "bob": "active", "erin": "active", "dave": "inactive"}
    assert len(fake.calls) == 4  # states, stop, start, states: constant in the number of users


def test_nothing_to_do_is_not_changed_and_reads_once():
    fake = FakeScript(running={"alice", "bob"})
    result = reconcile(script_for(fake), present=["alice", "bob"], absent=["dave"], restart=["carol"])
    assert result["changed"] is False
    assert actions(fake) == []
    assert len(fake.calls) == 1
    assert result["failed_units"] == {}  # carol was not running: a restart wants nothing


def test_restart_and_reload_only_running_backends_not_started_now():
    fake = FakeScript(running={"alice", "bob"})
    result = reconcile(script_for(fake), present=["alice", "bob", "carol"], restart=["alice", "carol"],
                       reload=["alice", "bob"])
    assert actions(fake) == [["start", "carol"], ["restart", "alice"], ["reload", "bob"]]
    assert result["restarted"] == ["alice"]
    assert result["reloaded"] == ["bob"]
    assert result["changed"] is True


def test_a_backend_that_does_not_come_up_is_reported_with_its_log():
    fake = FakeScript(broken={"carol"})
    result = reconcile(script_for(fake), present=["sharedhost-backend@carol.service", "alice"],
                       name=lambda u: "sharedhost-backend@%s.service" % u)
    failed = result["failed_units"]
    assert list(failed) == ["sharedhost-backend@carol.service"]
    assert failed["sharedhost-backend@carol.service"]["state"] == "inactive"
    assert "bob's" in failed["sharedhost-backend@carol.service"]["journal"]
    assert "start" in failed["sharedhost-backend@carol.service"]["error"]
    assert result["changed"] is True  # alice came up


def test_check_mode_plans_and_runs_nothing():
    fake = FakeScript(running={"dave"})
    result = reconcile(script_for(fake), present=["alice"], absent=["dave"], check_mode=True)
    assert actions(fake) == []
    assert result["changed"] is True
    assert result["started"] == ["alice"] and result["stopped"] == ["dave"]
    assert fake.running == {"dave"}


def test_invalid_names_and_conflicts_refused_before_anything_runs():
    fake = FakeScript()
    with pytest.raises(InvalidRequest) as info:
        reconcile(script_for(fake), present=["alice", "x y"], absent=["alice"])
    assert len(info.value.problems) == 2
    assert fake.calls == []


def test_a_script_that_cannot_tell_states_fails():
    def broken(argv):
        return 2, "", "usage"
    with pytest.raises(ServiceError):
        reconcile(InitScript(broken, sleep=lambda _s: None), present=["alice"])


def test_service_argvs_systemd_and_sysv():
    from ansible_collections.sharedhost.hosting.plugins.module_utils.sysv_init import SCRIPT, service_argvs
    unit = "sharedhost-backend@bob.service"
    assert service_argvs("restart", unit) == [["systemctl", "reset-failed", unit], ["systemctl", "restart", unit]]
    assert service_argvs("stop_unit", unit) == [["systemctl", "stop", unit]]
    assert service_argvs("restart", unit, systemd=False) == [[SCRIPT, "restart", "bob"]]
    assert service_argvs("stop_unit", unit, systemd=False) == [[SCRIPT, "stop", "bob"]]
    with pytest.raises(ValueError):
        service_argvs("restart", "other thing.service", systemd=False)
