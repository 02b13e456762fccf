"""Lifecycle through the playbook: a vhost conflict changes nothing; removing a user unroutes and
stops only them and keeps their files; adding them back is a zero-change re-run away."""
import copy

from conftest import run_site
from sharedhost_verify import http, registry


def test_vhost_conflict_fails_before_any_change(host, users):
    before_registry = host.file("/var/lib/sharedhost/ports.json").content_string
    before_map = host.file("/etc/apache2/sharedhost/vhosts.map").content_string
    conflicting = copy.deepcopy(users) + [{"name": "mallory", "vhosts": ["Alice.Example.Test"]}]
    output = run_site(host, conflicting, expect_failure=True)
    assert "vhost 'alice.example.test' is claimed by both alice and mallory" in output
    assert host.file("/var/lib/sharedhost/ports.json").content_string == before_registry
    assert host.file("/etc/apache2/sharedhost/vhosts.map").content_string == before_map
    assert not host.user("mallory").exists


def frontend_workers(host):
    main = host.run("cat /run/apache2/apache2.pid").stdout.strip()
    return main, sorted(host.run("pgrep -P %s", main).stdout.split())


def test_removing_a_user_unroutes_and_stops_only_them(host, users):
    carol_port = registry(host)["users"]["carol"]["ports"][0]
    workers = frontend_workers(host)
    removed = copy.deepcopy(users)
    [u for u in removed if u["name"] == "carol"][0]["state"] = "absent"
    run_site(host, removed)
    unit = host.service("sharedhost-backend@carol.service")
    assert not unit.is_running and not unit.is_enabled
    assert http(host, "carol.example.test")[0] == "404"
    doc = registry(host)
    assert "carol" not in doc["users"]
    assert [q["port"] for q in doc["quarantine"] if q["user"] == "carol"] == [carol_port]
    assert host.file("/home/carol/public_html/index.html").exists  # files are never deleted
    for user in users:
        if user["name"] != "carol":
            assert http(host, user["vhosts"][0])[0] == "200"
    # The route went away by publishing the map alone: no reload, no new workers.
    assert frontend_workers(host) == workers


def test_adding_a_user_back_publishes_the_route_without_restarting_frontend_workers(host, users):
    carol_port = [q["port"] for q in registry(host)["quarantine"] if q["user"] == "carol"][0]
    workers = frontend_workers(host)
    run_site(host, users)
    assert registry(host)["users"]["carol"]["ports"] == [carol_port]  # its own port back
    status, body = http(host, "carol.example.test")
    assert status == "200" and "backend of carol" in body
    assert frontend_workers(host) == workers


def test_invalid_frontend_config_is_refused_and_the_running_frontend_stays(host, users):
    live = host.file("/etc/apache2/sharedhost/frontend.conf").content_string
    before = frontend_workers(host)
    output = run_site(host, users, expect_failure=True, extra_args=["-e", '{"frontend_server_name": "two words"}'])
    assert "ServerName takes one argument" in output  # apache2ctl -t's own message
    assert "failed to validate" in output
    assert host.file("/etc/apache2/sharedhost/frontend.conf").content_string == live
    assert frontend_workers(host) == before
    for user in users:
        assert http(host, user["vhosts"][0])[0] == "200"
