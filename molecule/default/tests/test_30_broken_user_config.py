"""One user's broken config: that backend fails with a clear message; everybody else keeps serving."""
from sharedhost_verify import http, wait_until, write_as


def test_broken_include_fails_only_that_backend(host, users):
    include = "/home/alice/sharedhost/apache.conf"
    original = host.file(include).content_string
    try:
        write_as(host, "alice", include, original + "ThisIsNotADirective on\n")
        host.run("systemctl restart sharedhost-backend@alice.service")
        wait_until(lambda: host.run("systemctl is-failed sharedhost-backend@alice.service").stdout.strip()
                   == "failed", timeout=60, message="alice's backend to give up")
        status = host.run("systemctl status --no-pager -n 20 sharedhost-backend@alice.service").stdout
        assert "ThisIsNotADirective" in status and "apache.conf" in status
        journal = host.run("journalctl --no-pager -u sharedhost-backend@alice.service -n 30").stdout
        assert "ThisIsNotADirective" in journal
        # Every other backend and the frontend keep serving.
        for user in users:
            if user["name"] != "alice":
                assert http(host, user["vhosts"][0])[0] == "200"
        assert http(host, "alice.example.test")[0] == "503"
    finally:
        write_as(host, "alice", include, original)
        host.run("systemctl reset-failed sharedhost-backend@alice.service")
        host.run("systemctl start sharedhost-backend@alice.service")
    wait_until(lambda: http(host, "alice.example.test")[0] == "200", timeout=30, message="alice to serve again")


def test_listen_on_another_users_port_is_refused_by_the_guard(host, users):
    bob_port = host.run("python3 -c \"import json; print(json.load(open('/var/lib/sharedhost/ports.json'))"
                        "['users']['bob']['ports'][0])\"").stdout.strip()
    include = "/home/alice/sharedhost/apache.conf"
    original = host.file(include).content_string
    try:
        write_as(host, "alice", include, original + "Listen 127.0.0.1:%s\n" % bob_port)
        host.run("systemctl restart sharedhost-backend@alice.service")
        status = host.run("systemctl status --no-pager -n 20 sharedhost-backend@alice.service").stdout
        assert "refusing to start alice's backend" in status
        assert "Listen 127.0.0.1:%s" % bob_port in status
        assert http(host, "bob.example.test")[0] == "200"
    finally:
        write_as(host, "alice", include, original)
        host.run("systemctl reset-failed sharedhost-backend@alice.service")
        host.run("systemctl start sharedhost-backend@alice.service")
    wait_until(lambda: http(host, "alice.example.test")[0] == "200", timeout=30, message="alice to serve again")
