"""After a restart of the host nginx (and only nginx) comes back on port 80 and routes, with no Ansible run."""

from conftest import assert_only, assert_serving
from sharedhost_verify import http, restart_container, wait_until


def test_nginx_comes_back_after_a_restart(host, users):
    restart_container(host)
    wait_until(lambda: all(http(host, u["vhosts"][0])[0] == "200" for u in users), timeout=90,
               message="every user through the frontend after the restart")
    assert_only(host, "nginx")
    assert_serving(host, users)
