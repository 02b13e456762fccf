"""hosted_accounts core against fake passwd/group databases and a fake useradd.

Covers validation (every problem in one message, nothing run), system accounts and
reserved uids refused, uid/group/home conflicts, creation with the exact useradd
command line, home mode only on homes this run created, check mode, and partial
useradd failures.
"""
import collections
import stat

import pytest

from ansible_collections.sharedhost.hosting.plugins.module_utils.hosted_accounts import (
    AccountError,
    ensure_accounts,
    parse_home_mode,
    parse_users,
    useradd_argv,
)

Pw = collections.namedtuple("Pw", "pw_name pw_passwd pw_uid pw_gid pw_gecos pw_dir pw_shell")
Gr = collections.namedtuple("Gr", "gr_name gr_passwd gr_gid gr_mem")
Stat = collections.namedtuple("Stat", "st_mode st_uid")


class FakeSystem(object):
    """passwd, group, a file system of homes, and a useradd that behaves like shadow's."""

    def __init__(self):
        self.passwd = [
            Pw("root", "x", 0, 0, "root", "/root", "/bin/bash"),
            Pw("www-data", "x", 33, 33, "www-data", "/var/www", "/usr/sbin/nologin"),
            Pw("nobody", "x", 65534, 65534, "nobody", "/nonexistent", "/usr/sbin/nologin"),
            Pw("carol", "x", 1001, 1001, "Carol", "/home/carol", "/bin/bash"),
        ]
        self.groups = [Gr("root", "x", 0, []), Gr("www-data", "x", 33, []), Gr("nogroup", "x", 65534, []),
                       Gr("carol", "x", 1001, []), Gr("staff", "x", 50, [])]
        self.paths = {"/home/carol": Stat(stat.S_IFDIR | 0o700, 1001)}
        self.commands = []
        self.chmods = []
        self.fail_for = set()

    # pwd / grp
    def getpwall(self):
        return list(self.passwd)

    def getgrall(self):
        return list(self.groups)

    def getpwnam(self, name):
        for entry in self.passwd:
            if entry.pw_name == name:
                return entry
        raise KeyError(name)

    def getgrgid(self, gid):
        for entry in self.groups:
            if entry.gr_gid == gid:
                return entry
        raise KeyError(gid)

    # file system
    def lstat(self, path):
        return self.paths.get(path)

    def chmod(self, path, mode):
        self.chmods.append((path, mode))
        self.paths[path] = Stat(stat.S_IFDIR | mode, self.paths[path].st_uid)

    # useradd
    def run(self, argv):
        self.commands.append(list(argv))
        name = argv[-1]
        if name in self.fail_for:
            return 1, "", "useradd: cannot lock /etc/passwd; try again later.\n"
        opts = dict(zip(argv[1:-1], argv[2:]))
        if "--uid" in opts:
            uid = int(opts["--uid"])
        else:
            low = int(opts["--key"].split("=")[1])
            used = set(e.pw_uid for e in self.passwd)
            uid = low
            while uid in used:
                uid += 1
        gid = uid if uid not in set(g.gr_gid for g in self.groups) else max(g.gr_gid for g in self.groups) + 1
        home = opts["--home-dir"]
        self.passwd.append(Pw(name, "x", uid, gid, opts.get("--comment", ""), home, opts["--shell"]))
        self.groups.append(Gr(name, "x", gid, []))
        if home not in self.paths:
            self.paths[home] = Stat(stat.S_IFDIR | 0o755, uid)
        return 0, "", ""

    def ensure(self, users, **kwargs):
        return ensure_accounts(users, run_command=self.run, pwd_module=self, grp_module=self,
                               lstat=self.lstat, chmod=self.chmod, **kwargs)


@pytest.fixture
def system():
    return FakeSystem()


def test_creates_missing_accounts_with_the_exact_useradd_command(system):
    users = [{"name": "alice", "vhosts": ["alice.test"], "backend": "apache", "limits": {"memory": "512M"}},
             {"name": "bob", "uid": "20001", "comment": "Bob's shop", "shell": "/bin/sh", "home": "/srv/hosted/bob/"},
             {"name": "carol", "ports": 2}]
    result = system.ensure(users)
    assert system.commands == [
        ["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", "--key", "UID_MIN=1000",
         "--home-dir", "/home/alice", "alice"],
        ["useradd", "--create-home", "--user-group", "--shell", "/bin/sh", "--comment", "Bob's shop",
         "--uid", "20001", "--home-dir", "/srv/hosted/bob", "bob"],
    ]
    assert result["changed"] and result["created"] == ["alice", "bob"]
    assert list(result["accounts"]) == ["alice", "bob", "carol"]
    assert result["accounts"]["alice"] == {"uid": 1000, "gid": 1000, "group": "alice", "home": "/home/alice",
                                           "shell": "/bin/bash", "created": True}
    assert result["accounts"]["bob"]["uid"] == 20001 and result["accounts"]["bob"]["shell"] == "/bin/sh"
    assert result["accounts"]["carol"] == {"uid": 1001, "gid": 1001, "group": "carol", "home": "/home/carol",
                                           "shell": "/bin/bash", "created": False}
    assert system.chmods == [("/home/alice", 0o750), ("/srv/hosted/bob", 0o750)]
    assert result["errors"] == [] and result["warnings"] == []


def test_second_run_changes_nothing(system):
    users = [{"name": "alice"}, {"name": "bob"}]
    system.ensure(users)
    system.commands[:] = []
    system.chmods[:] = []
    again = system.ensure(users)
    assert not again["changed"] and again["created"] == [] and system.commands == [] and system.chmods == []
    assert [a["created"] for a in again["accounts"].values()] == [False, False]


def test_check_mode_runs_nothing_and_reports_null_ids(system):
    result = system.ensure([{"name": "alice", "uid": 5000}, {"name": "carol"}], check_mode=True)
    assert system.commands == [] and system.chmods == []
    assert result["changed"] and result["created"] == ["alice"]
    assert result["accounts"]["alice"] == {"uid": None, "gid": None, "group": "alice", "home": "/home/alice",
                                           "shell": "/bin/bash", "created": True}
    assert result["accounts"]["carol"]["uid"] == 1001


def test_system_accounts_and_reserved_uids_are_refused_and_nothing_runs(system):
    with pytest.raises(AccountError) as caught:
        system.ensure([{"name": "alice"}, {"name": "www-data"}, {"name": "root"}, {"name": "nobody"}])
    problems = caught.value.problems
    assert len(problems) == 3
    assert "www-data" in problems[0] and "uid 33" in problems[0] and "min_uid 1000" in problems[0]
    assert "root" in problems[1] and "uid 0" in problems[1]
    assert "nobody" in problems[2] and "reserved" in problems[2]
    assert system.commands == []


def test_min_uid_is_configurable(system):
    with pytest.raises(AccountError) as caught:
        system.ensure([{"name": "carol"}, {"name": "dave", "uid": 1500}], min_uid=2000)
    assert len(caught.value.problems) == 2
    result = system.ensure([{"name": "dave"}], min_uid=2000)
    assert result["accounts"]["dave"]["uid"] == 2000
    assert ["--key", "UID_MIN=2000"] == system.commands[0][5:7]


def test_every_problem_is_reported_at_once(system):
    users = [
        {"name": "Alice"},                              # upper case
        {"name": "x" * 33},                             # too long
        {"name": "1abc"},                               # digit first
        "bob",                                          # not a mapping
        {"name": "dave", "uid": "12x"},                 # bad uid
        {"name": "dave"},                               # duplicate of a (bad) entry still counts
        {"name": "erin", "uid": 1001},                  # carol's uid
        {"name": "frank", "uid": 3000},
        {"name": "gina", "uid": 3000},                  # same uid as frank
        {"name": "staff"},                              # group exists
        {"name": "hal", "home": "/home/carol"},          # carol's home
        {"name": "ivan", "home": "/srv/x"},
        {"name": "judy", "home": "/srv/x/"},             # same home as ivan
        {"name": "ken", "shell": "bash"},                # relative shell
        {"name": "leo", "comment": "a:b"},              # colon in GECOS
        {"name": "max", "home": "relative"},
        {"name": "ned", "state": "gone"},
        {"name": "carol", "uid": 1002},                 # existing account, other uid
        {"name": "oli", "uid": 99},                     # below min_uid
        {"name": "pat", "uid": 65534},                  # reserved
        {"name": "quinn", "uid": True},
    ]
    with pytest.raises(AccountError) as caught:
        system.ensure(users, home_mode="abc")
    problems = caught.value.problems
    expected_fragments = [
        "home_mode", "users[0]", "users[1]", "users[2]", "users[3]", "users[4] (dave)", "users[5] (dave): duplicate",
        "users[6] (erin): requested uid 1001 is already used by the account carol",
        "users[8] (gina): requested uid 3000 is also requested for frank",
        "users[9] (staff): a group named staff already exists",
        "users[10] (hal): home /home/carol is the home of the existing account carol",
        "users[12] (judy): home /srv/x is also requested for ivan",
        "users[13] (ken): shell", "users[14] (leo): comment", "users[15] (max): home", "users[16] (ned): state",
        "users[17] (carol): the existing account carol has uid 1001, not the requested 1002",
        "users[18] (oli): requested uid 99 is below min_uid", "users[19] (pat): requested uid 65534 is a reserved",
        "users[20] (quinn): uid",
    ]
    for fragment in expected_fragments:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) == len(expected_fragments)
    assert system.commands == [] and system.chmods == []
    assert "frank" not in " ".join(p for p in problems if p.startswith("users[7]"))


def test_existing_home_of_a_new_user_is_never_touched(system):
    system.paths["/home/pre"] = Stat(stat.S_IFDIR | 0o711, 123)
    result = system.ensure([{"name": "pre"}, {"name": "fresh"}], home_mode="0700")
    assert result["created"] == ["pre", "fresh"]
    assert system.chmods == [("/home/fresh", 0o700)]
    assert system.paths["/home/pre"] == Stat(stat.S_IFDIR | 0o711, 123)
    assert any("/home/pre already exists and is left untouched (owner uid 123, mode 0711)" in w
               for w in result["warnings"])


def test_existing_accounts_are_never_modified_differences_are_warnings(system):
    result = system.ensure([{"name": "carol", "shell": "/bin/zsh", "home": "/srv/carol", "comment": "new"}])
    assert system.commands == [] and not result["changed"]
    assert result["accounts"]["carol"]["shell"] == "/bin/bash" and result["accounts"]["carol"]["home"] == "/home/carol"
    assert len(result["warnings"]) == 2


def test_absent_entries_are_skipped_never_removed(system):
    result = system.ensure([{"name": "carol", "state": "absent"}, {"name": "zed", "state": "absent"},
                            {"name": "www-data", "state": "absent"}])
    assert result == {"changed": False, "accounts": {}, "created": [], "warnings": [], "errors": []}
    assert system.commands == []


def test_a_failing_useradd_does_not_stop_the_others(system):
    system.fail_for.add("bob")
    result = system.ensure([{"name": "alice"}, {"name": "bob"}, {"name": "dave"}])
    assert result["created"] == ["alice", "dave"] and result["changed"]
    assert len(result["errors"]) == 1 and "useradd bob failed (rc 1): useradd: cannot lock" in result["errors"][0]
    assert "bob" not in result["accounts"]


def test_gid_without_group_entry_gives_null_group(system):
    system.passwd.append(Pw("orphan", "x", 4000, 4444, "", "/home/orphan", "/bin/sh"))
    result = system.ensure([{"name": "orphan"}])
    assert result["accounts"]["orphan"]["group"] is None and result["accounts"]["orphan"]["gid"] == 4444


@pytest.mark.parametrize("value, mode", [("0750", 0o750), ("750", 0o750), ("2770", 0o2770), (0o700, 0o700),
                                         (488, 0o750), (" 0755 ", 0o755)])
def test_home_mode_forms(value, mode):
    assert parse_home_mode(value) == mode


@pytest.mark.parametrize("value", ["rwx", "0800", "07777777", True, None, -1, 0o10000])
def test_bad_home_modes(value):
    with pytest.raises(AccountError):
        parse_home_mode(value)


def test_min_uid_must_be_positive(system):
    with pytest.raises(AccountError) as caught:
        system.ensure([], min_uid=0)
    assert "min_uid" in str(caught.value)


def test_users_must_be_a_list():
    parsed, problems = parse_users({"name": "alice"})
    assert parsed == [] and problems == ["users must be a list, got dict"]


def test_useradd_argv_with_every_option():
    entry = {"name": "a", "uid": 7000, "comment": "", "shell": "/bin/sh", "home": "/h/a"}
    assert useradd_argv(entry, 1000, "/usr/sbin/useradd") == [
        "/usr/sbin/useradd", "--create-home", "--user-group", "--shell", "/bin/sh", "--comment", "",
        "--uid", "7000", "--home-dir", "/h/a", "a"]
