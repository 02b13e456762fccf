"""Every vhost answers through its frontend with its owner's content: on each self-contained host,
and through the frontend host for the users of both backend hosts."""
import pytest

from conftest import ADDRESS, http, placement, registry, sh

ROUTES = [(host, user["name"], vhost) for host, users in sorted(placement().items()) if host.startswith("srv")
          for user in users for vhost in user["vhosts"]]
TIERED = [("fe-1", host, user["name"], vhost) for host, users in sorted(placement().items()) if host.startswith("be")
          for user in users for vhost in user["vhosts"]]


@pytest.mark.parametrize("server, user, vhost", ROUTES)
def test_self_contained_hosts_route_their_own_users(server, user, vhost):
    status, body = http(server, vhost)
    assert status == "200", body
    if user == "ann":
        assert "backend of ann" in body


@pytest.mark.parametrize("frontend, backend_host, user, vhost", TIERED)
def test_the_frontend_host_routes_to_the_users_backend_host(frontend, backend_host, user, vhost):
    status, body = http(frontend, vhost.upper())
    assert status == "200" and "backend of %s" % user in body, body
    port = registry(backend_host)["users"][user]["ports"][0]
    assert "%s http://%s:%d" % (vhost, ADDRESS[backend_host], port) in sh(frontend, "cat /etc/apache2/sharedhost/vhosts.map")[1]


def test_a_vhost_of_another_host_is_unknown_here():
    assert http("srv-a", "ben.multi.test")[0] == "404"
    assert http("fe-1", "ann.multi.test")[0] == "404"


@pytest.mark.parametrize("backend_host", ["be-1", "be-2"])
def test_backend_hosts_serve_on_their_internal_address_as_the_owner(backend_host):
    for user in placement()[backend_host]:
        port = registry(backend_host)["users"][user["name"]]["ports"][0]
        _rc, out = sh(backend_host, "ss -Hltnp 'sport = :%d'" % port)
        assert "%s:%d" % (ADDRESS[backend_host], port) in out, out
        _rc, owners = sh(backend_host, "ps -o user= -p $(systemctl show -P MainPID sharedhost-backend@%s)" % user["name"])
        assert owners.split() == [user["name"]]
