"""After a reboot every backend comes back under its owner on its port, with no Ansible run."""
from conftest import backends_active
from sharedhost_verify import http, listeners, registry, restart_container, socket_path, wait_until


def test_everything_comes_back_after_a_restart_of_the_host(host, users):
    names = [u["name"] for u in users]
    restart_container(host)
    wait_until(lambda: backends_active(host, names), timeout=90, message="all backends after the reboot")
    wait_until(lambda: http(host, users[0]["vhosts"][0])[0] == "200", timeout=30, message="the frontend")
    ports = dict((name, entry["ports"]) for name, entry in registry(host)["users"].items())
    owners = listeners(host)
    for user in users:
        if user.get("socket"):
            assert host.socket("unix://%s" % socket_path(user["name"])).is_listening
        else:
            assert owners.get(ports[user["name"]][0]) == host.user(user["name"]).uid
        for vhost in user["vhosts"]:
            status, body = http(host, vhost)
            assert status == "200" and user["name"] in body
