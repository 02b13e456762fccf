"""Each vhost reaches its owner's backend, which runs under the owner's UID on its allocated port."""

from sharedhost_verify import http, listeners, owners_content, registry


def test_every_vhost_reaches_its_owners_content(host, users):
    for user in users:
        for vhost in user["vhosts"] + [v.upper() for v in user["vhosts"]]:
            status, body = http(host, vhost)
            assert status == "200", (vhost, status, body)
            assert owners_content(user) in body, (vhost, body)


def test_unknown_host_gets_404_and_never_a_users_site(host, users):
    status, body = http(host, "nobody.example.test")
    assert status == "404" and "No site is configured" in body
    status, _body = http(host, "127.0.0.1")
    assert status == "404"


def test_proxy_headers_reach_the_backend(host):
    # carol's python http.server logs request headers nowhere, so ask alice's Apache
    # access log for the forwarded client address after one request.
    http(host, "alice.example.test", "/?proxy-header-check")
    log = host.file("/var/log/sharedhost/alice/access.log").content_string
    line = [entry for entry in log.splitlines() if "proxy-header-check" in entry][-1]
    assert line.startswith("127.0.0.1 ")  # %{X-Forwarded-For}i of a request from 127.0.0.1


def test_listeners_match_the_allocations(host, users):
    ports = dict((name, entry["ports"]) for name, entry in registry(host)["users"].items())
    owners = listeners(host)
    for user in users:
        if user.get("socket"):
            assert user["name"] not in ports  # a socket backend holds no TCP port
            continue
        uid = host.user(user["name"]).uid
        for port in ports[user["name"]]:
            assert owners.get(port) == uid, (user["name"], port, owners.get(port))
    # The map routes each vhost to the user's first port, or to the user's socket.
    routes = host.file("/etc/apache2/sharedhost/vhosts.map").content_string
    for user in users:
        for vhost in user["vhosts"]:
            if user.get("socket"):
                target = "unix:/var/lib/sharedhost/sockets/%s/http.sock|http://localhost" % user["name"]
            else:
                target = "http://127.0.0.1:%d" % ports[user["name"]][0]
            assert "%s %s" % (vhost, target) in routes


def test_backend_processes_run_as_their_owner_never_root(host, users):
    for user in users:
        unit = "sharedhost-backend@%s.service" % user["name"]
        assert host.service(unit).is_enabled and host.service(unit).is_running
        pids = host.run("systemctl show -p ControlGroup --value %s", unit).stdout.strip()
        procs = host.run("cat /sys/fs/cgroup%s/cgroup.procs 2>/dev/null || "
                         "cat /sys/fs/cgroup/systemd%s/cgroup.procs", pids, pids).stdout.split()
        assert procs, unit
        for pid in procs:
            owner = host.run("ps -o user= -p %s", pid).stdout.strip()
            if owner:  # the process may have exited meanwhile
                assert owner == user["name"], (unit, pid, owner)


def test_admin_config_is_root_owned_and_user_include_is_the_users(host, users):
    for user in users:
        if user.get("backend", "apache") != "apache":
            continue
        main = host.file("/etc/sharedhost/backends/%s/httpd.conf" % user["name"])
        assert main.user == "root" and main.mode == 0o644
        include = host.file("/home/%s/sharedhost/apache.conf" % user["name"])
        assert include.user == user["name"]
        assert 'IncludeOptional "/home/%s/sharedhost/apache.conf"' % user["name"] in main.content_string
