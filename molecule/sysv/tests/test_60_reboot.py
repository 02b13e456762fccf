"""A restart of the container is a real rc boot: the owner rules are loaded, every
backend comes back under its owner and every vhost routes, with no Ansible run."""
from conftest import PID_DIR, all_running, main_pid, session_ids
from sharedhost_verify import http, listeners, registry, restart_container, socket_path, wait_until


def test_everything_comes_back_after_a_restart_of_the_host(host, users):
    names = [u["name"] for u in users]
    boot_before = host.check_output("cat /run/sharedhost-rc-booted")
    restart_container(host)
    assert host.check_output("cat /run/sharedhost-rc-booted") != boot_before
    wait_until(lambda: all_running(host, names), timeout=60, message="all backends after the reboot")
    assert host.run("nft list chain inet sharedhost output").rc == 0
    wait_until(lambda: http(host, users[0]["vhosts"][0])[0] == "200", timeout=30, message="the frontend")
    ports = dict((name, entry["ports"]) for name, entry in registry(host)["users"].items())
    owners = listeners(host)
    for user in users:
        account = host.user(user["name"])
        if user.get("socket"):
            assert host.socket("unix://%s" % socket_path(user["name"])).is_listening
        else:
            assert owners.get(ports[user["name"]][0]) == account.uid
        for ruid, euid, rgid, egid in session_ids(host, main_pid(host, user["name"])):
            assert (ruid, euid, rgid, egid) == (account.uid, account.uid, account.gid, account.gid)
        for vhost in user["vhosts"]:
            status, body = http(host, vhost)
            assert status == "200" and user["name"] in body
    assert host.file(PID_DIR).user == "root"
