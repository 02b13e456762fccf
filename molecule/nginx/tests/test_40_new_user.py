"""Adding a user publishes the route after one converge (nginx reloaded gracefully); removing it unroutes."""

from conftest import run_site
from sharedhost_verify import http

ERIN = {"name": "erin", "vhosts": ["erin.example.test"], "backend": "apache"}


def test_a_new_users_route_is_published_and_removed(host, users):
    pid = host.file("/run/nginx.pid").content_string.strip()
    assert http(host, "erin.example.test")[0] == "404"
    run_site(host, users=users + [ERIN])
    status, body = http(host, "Erin.Example.Test")
    assert status == "200" and "dedicated apache backend of erin" in body, (status, body)
    assert host.file("/run/nginx.pid").content_string.strip() == pid  # a reload, not a restart
    assert "erin.example.test sharedhost_127_0_0_1_" in host.file("/etc/nginx/sharedhost/routes.conf").content_string
    run_site(host, users=users + [dict(ERIN, state="absent")])
    assert http(host, "erin.example.test")[0] == "404"
    assert http(host, "alice.example.test")[0] == "200"
