"""A SysV host: the backends run under their owners' UID and GID, every vhost routes,
the owner rules are loaded, and the rc links order nftables < backends < frontend."""
import re

from conftest import PID_DIR, SCRIPT, main_pid, session_ids
from sharedhost_verify import http, listeners, owners_content, registry, socket_path


def test_pid1_is_sysvinit_not_systemd(host):
    assert host.run("cat /proc/1/comm").stdout.strip() == "init"
    assert not host.file("/run/systemd/system").exists
    assert not host.file("/etc/systemd/system/sharedhost-backend@.service").exists


def test_every_vhost_reaches_its_owners_content(host, users):
    for user in users:
        for vhost in user["vhosts"]:
            status, body = http(host, vhost)
            assert status == "200", (vhost, status, body)
            assert owners_content(user) in body, (vhost, body)


def test_backends_run_under_their_owners_uid_and_gid_never_root(host, users):
    for user in users:
        account = host.user(user["name"])
        pid = main_pid(host, user["name"])
        assert pid, user["name"]
        ids = session_ids(host, pid)
        assert ids, user["name"]
        for ruid, euid, rgid, egid in ids:
            assert (ruid, euid) == (account.uid, account.uid), (user["name"], ids)
            assert (rgid, egid) == (account.gid, account.gid), (user["name"], ids)


def test_listeners_are_the_owners(host, users):
    ports = dict((name, entry["ports"]) for name, entry in registry(host)["users"].items())
    owners = listeners(host)
    for user in users:
        if user.get("socket"):  # no port: its socket, owned by the user
            assert host.file(socket_path(user["name"])).user == user["name"]
            assert host.socket("unix://%s" % socket_path(user["name"])).is_listening
            continue
        assert owners.get(ports[user["name"]][0]) == host.user(user["name"]).uid, user["name"]


def test_pid_files_are_roots_alone(host, users):
    directory = host.file(PID_DIR)
    assert directory.user == "root" and directory.mode == 0o755
    for user in users:
        pidfile = host.file("%s/%s.pid" % (PID_DIR, user["name"]))
        assert pidfile.user == "root" and not pidfile.mode & 0o022
        denied = host.run("runuser -u %s -- sh -c 'echo 1 > %s/%s.pid'", user["name"], PID_DIR, user["name"])
        assert denied.rc != 0


def test_owner_rules_are_loaded(host):
    out = host.check_output("nft list chain inet sharedhost output")
    assert "@port_owner" in out and "drop" in out
    assert host.run("/etc/init.d/sharedhost-nftables status").rc == 0


def test_rc_links_order_rules_backends_frontend(host):
    rcs = host.check_output("ls /etc/rcS.d")
    assert re.search(r"^S\d\dsharedhost-nftables$", rcs, re.M), rcs
    rc2 = host.check_output("ls /etc/rc2.d").split()
    order = dict((name[3:], int(name[1:3])) for name in rc2 if name.startswith("S"))
    assert order["sharedhost-backends"] < order["apache2"], rc2
    rc0 = host.check_output("ls /etc/rc0.d")
    assert re.search(r"^K\d\dsharedhost-backends$", rc0, re.M), rc0
    assert host.file(SCRIPT).user == "root" and host.file(SCRIPT).mode == 0o755


def test_audit_runs_from_cron(host):
    cron = host.file("/etc/cron.d/sharedhost-port-audit")
    assert cron.exists and "sharedhost-port-audit" in cron.content_string
    assert host.run("pgrep -x cron").rc == 0
