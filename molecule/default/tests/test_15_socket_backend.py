"""dave's app server listens on a Unix socket: routed by the frontend, closed to other users, no TCP port."""
from sharedhost_verify import http, listeners, registry, socket_path

SOCKET_DIR = "/var/lib/sharedhost/sockets/dave"


def as_user(host, user, command, *args):
    return host.run("runuser -u %s -- " + command, user, *args)


def test_the_socket_is_routed_and_no_port_is_allocated(host):
    status, body = http(host, "dave.example.test", "/?via-socket")
    assert status == "200" and "dedicated command backend of dave" in body
    assert "dave" not in registry(host)["users"]
    dave = host.user("dave").uid
    assert dave not in listeners(host).values()  # no TCP listener of dave's anywhere
    assert host.socket("unix://%s" % socket_path("dave")).is_listening


def test_the_socket_directory_is_daves_and_only_the_frontends_group_may_enter(host):
    directory = host.file(SOCKET_DIR)
    assert directory.is_directory and directory.user == "dave" and directory.group == "www-data"
    assert directory.mode == 0o2750
    assert host.file(socket_path("dave")).user == "dave"
    # The app server runs as dave, never root.
    pids = host.run("pgrep -f 'starman.*%s'", socket_path("dave")).stdout.split()
    assert pids
    for pid in pids:
        assert host.run("ps -o user= -p %s", pid).stdout.strip() in ("dave", "")


def test_another_user_can_neither_connect_nor_replace_the_socket(host):
    path = socket_path("dave")
    connect = as_user(host, "alice", "curl -s -m 5 --unix-socket %s http://dave.example.test/", path)
    assert connect.rc != 0 and "dave" not in connect.stdout
    probe = as_user(host, "alice", "python3 -c %s", "import socket; s = socket.socket(socket.AF_UNIX); s.connect(%r)" % path)
    assert probe.rc != 0 and "PermissionError" in probe.stderr
    for attempt in ("rm -f %s" % path, "mv %s %s.old" % (path, path), "touch %s/evil" % SOCKET_DIR,
                    "ln -s /tmp/evil.sock %s/other.sock" % SOCKET_DIR):
        result = as_user(host, "alice", attempt)
        assert result.rc != 0, attempt
    plant = as_user(host, "bob", "python3 -c %s",
                    "import socket; socket.socket(socket.AF_UNIX).bind(%r)" % (SOCKET_DIR + "/planted.sock"))
    assert plant.rc != 0 and "PermissionError" in plant.stderr
    assert not host.file(SOCKET_DIR + "/planted.sock").exists and host.file(path).exists
    # The frontend's group can connect (that is how the frontend reaches dave).
    frontend = as_user(host, "www-data", "curl -s -m 5 --unix-socket %s http://dave.example.test/", path)
    assert frontend.rc == 0 and "backend of dave" in frontend.stdout


def test_a_restart_clears_the_stale_socket_and_the_route_comes_back(host):
    host.check_output("systemctl restart sharedhost-backend@dave.service")
    for _attempt in range(30):
        if http(host, "dave.example.test")[0] == "200":
            break
        host.run("sleep 0.5")
    assert http(host, "dave.example.test")[0] == "200"
