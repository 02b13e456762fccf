"""hosted_accounts against real useradd and NSS: podman test hosts (Debian 12 and 13 when both images exist).

One playbook per host set: accounts are created (an existing home is left exactly as it
was), a second run changes nothing, check mode creates nothing, system accounts
(www-data, root) are refused with nothing created, and a bad entry fails the whole call
before anything is created.
"""
import pytest

from ansible_cli import ansible_doc
from podman_test_hosts import run_playbook, sh, start_hosts, stop_hosts

MOD = "sharedhost.hosting.hosted_accounts"
USERS = [
    {"name": "alice", "vhosts": ["alice.example.test"], "backend": "apache", "ports": 1,
     "limits": {"memory": "512M"}},
    {"name": "bob", "uid": 20001, "comment": "Bob's shop", "shell": "/bin/sh", "home": "/srv/hosted/bob"},
    {"name": "pre"},
    {"name": "gone", "state": "absent"},
]


@pytest.fixture(scope="module")
def hosts():
    names = start_hosts("ha-pytest")
    try:
        for name in names:
            sh(name, "mkdir -p /home/pre /srv/hosted && echo keep > /home/pre/file && chown -R 123:123 /home/pre"
                     " && chmod 0711 /home/pre")
        yield names
    finally:
        stop_hosts(names)


def test_accounts_on_real_hosts(hosts, tmp_path):
    tasks = [
        # 0: create
        {MOD: {"users": USERS, "home_mode": "0700"}},
        # 1: again
        {MOD: {"users": USERS, "home_mode": "0700"}},
        # 2: check mode with one new user
        {MOD: {"users": USERS + [{"name": "carl"}]}, "check_mode": True},
        # 3: system accounts are refused, and the valid new user in the same call is not created
        {MOD: {"users": [{"name": "dan"}, {"name": "www-data"}, {"name": "root"}]}, "ignore_errors": True},
        # 4: invalid and conflicting entries, all reported at once
        {MOD: {"users": [{"name": "erin"}, {"name": "Bad"}, {"name": "fred", "uid": 20001},
                         {"name": "erin"}]}, "ignore_errors": True},
    ]
    results = run_playbook(tmp_path, hosts, tasks)
    for host in hosts:
        r = results[host]
        first = r[0]
        assert not first.get("failed"), first
        assert first["changed"] is True and first["created"] == ["alice", "bob", "pre"]
        accounts = first["accounts"]
        assert list(accounts) == ["alice", "bob", "pre"]
        assert accounts["bob"] == {"uid": 20001, "gid": 20001, "group": "bob", "home": "/srv/hosted/bob",
                                   "shell": "/bin/sh", "created": True}
        assert accounts["alice"]["uid"] >= 1000 and accounts["alice"]["group"] == "alice"
        assert accounts["alice"]["home"] == "/home/alice" and accounts["alice"]["shell"] == "/bin/bash"
        assert any("/home/pre already exists and is left untouched (owner uid 123, mode 0711)" in w
                   for w in first["warnings"])

        second = r[1]
        assert second["changed"] is False and second["created"] == []
        assert dict((n, dict(a, created=True)) for n, a in second["accounts"].items()) == accounts

        checked = r[2]
        assert checked["changed"] is True and checked["created"] == ["carl"]
        assert checked["accounts"]["carl"]["uid"] is None and checked["accounts"]["carl"]["gid"] is None

        refused = r[3]
        assert refused["failed"] is True
        assert "www-data" in refused["msg"] and "uid 33" in refused["msg"] and "root" in refused["msg"]
        assert len(refused["problems"]) == 2

        invalid = r[4]
        assert invalid["failed"] is True and len(invalid["problems"]) == 3
        assert "Bad" in invalid["msg"] and "uid 20001 is already used by the account bob" in invalid["msg"]
        assert "duplicate" in invalid["msg"]

        state = sh(host, "getent passwd alice bob pre; "
                         "for u in carl dan erin fred gone; do getent passwd $u || echo no-$u; done; "
                         "stat -c '%a %u:%g %n' /home/alice /srv/hosted/bob /home/pre /home/pre/file; "
                         "cat /home/pre/file; ls -A /home/pre")
        lines = state.splitlines()
        assert lines[1] == "bob:x:20001:20001:Bob's shop:/srv/hosted/bob:/bin/sh"
        assert lines[3:8] == ["no-carl", "no-dan", "no-erin", "no-fred", "no-gone"]
        uid = accounts["alice"]["uid"]
        assert lines[8] == "700 %d:%d /home/alice" % (uid, accounts["alice"]["gid"])
        assert lines[9] == "700 20001:20001 /srv/hosted/bob"
        # The home that existed before was not touched: owner, mode, content.
        assert lines[10] == "711 123:123 /home/pre"
        assert lines[11:] == ["644 123:123 /home/pre/file", "keep", "file"]


def test_ansible_doc_renders():
    proc = ansible_doc(MOD)
    assert proc.returncode == 0, proc.stderr
    for needle in ("users", "min_uid", "home_mode", "accounts", "created", "EXAMPLES", "RETURN VALUES"):
        assert needle in proc.stdout
