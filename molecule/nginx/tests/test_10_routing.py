"""Through nginx on port 80: every vhost and alias reaches its owner (case, trailing dot and port
ignored), unknown names get the 404 message, the forwarded headers arrive, backend connections are pooled."""

import time

from conftest import assert_only, assert_serving, logged, record
from sharedhost_verify import http


def test_nginx_alone_serves_port_80(host):
    assert_only(host, "nginx")
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    assert not host.file("/usr/sbin/policy-rc.d").exists  # the installation's policy is gone again


def test_every_vhost_and_alias_reaches_its_owner(host, users):
    assert_serving(host, users)
    status, body = http(host, "Bob.Example.Test.")
    assert status == "200" and "Hello from the mod_perl handler of bob " in body


def test_unknown_host_gets_404_never_a_users_site(host):
    for name in ("nobody.example.test", "127.0.0.1", "alice.example.test.evil", "xalice.example.test"):
        status = host.run("curl -s -o /dev/null -w '%%{http_code}' -H 'Host: %s' http://127.0.0.1/", name).stdout
        assert status == "404", name
    # No Host header at all (HTTP/1.0)
    raw = host.run("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 python3 -c \"import socket,sys;"
                   "s=socket.create_connection(('127.0.0.1',80));s.sendall(sys.stdin.buffer.read());"
                   "print(s.recv(4096).decode())\"").stdout
    assert raw.startswith("HTTP/1.1 404") and "No site is configured" in raw


def test_forwarded_headers_reach_the_backend(host, header_log):
    marker = "fwd-check-%d" % time.time()
    host.check_output("curl -s -o /dev/null -H 'Host: WWW.Alice.Example.Test:80' "
                      "-H 'X-Forwarded-For: 192.0.2.7' 'http://127.0.0.1/?%s'", marker)
    line = logged(host, marker)[-1]
    # path|X-Forwarded-For|X-Forwarded-Host|X-Forwarded-Proto|Host|client port
    assert line[1] == "192.0.2.7, 127.0.0.1"
    assert line[2] == "WWW.Alice.Example.Test:80"
    assert line[3] == "http"
    assert line[4] == "WWW.Alice.Example.Test:80"  # the Host header as the client sent it


def test_backend_connections_are_pooled(host, header_log):
    marker = "pool-%d-" % time.time()
    host.check_output("for i in $(seq 200); do curl -s -o /dev/null -H 'Host: alice.example.test' "
                      "\"http://127.0.0.1/?%s$i\" || exit 1; done", marker)
    ports = [line[5] for line in logged(host, marker)]
    assert len(ports) == 200
    distinct = len(set(ports))
    record("backend connections for 200 client connections", distinct)
    assert distinct <= 10, distinct  # one new connection per request without pooling


def test_the_socket_backend_is_reached_through_its_unix_socket(host):
    # dave (socket: true) has no port: his upstream is his socket, which nginx's workers (www-data) may use.
    routes = host.file("/etc/nginx/sharedhost/routes.conf").content_string
    assert "server unix:/var/lib/sharedhost/sockets/dave/http.sock;" in routes
    status, body = http(host, "dave.example.test", "/?via-nginx")
    assert status == "200" and "dedicated command backend of dave" in body
    assert "dave" not in host.file("/var/lib/sharedhost/ports.json").content_string
