"""nginx_routes and nginx_string, and the nginx frontend's routes template rendered with them: both route
target forms of the contract (ADDRESS:PORT incl. [IPv6]:PORT, and unix:/absolute/path.sock)."""
import os
import re

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sharedhost.hosting.plugins.filter.nginx import nginx_routes, nginx_string
from ansible_collections.sharedhost.hosting.plugins.filter.users import route_map

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
TEMPLATES = os.path.join(ROOT, "roles", "frontend", "templates")

ROUTES = [
    "alice.test 127.0.0.1:20000",
    "www.alice.test 127.0.0.1:20000",
    "bob.test [fd00::12]:20001",
    "carol.test unix:/run/sharedhost/carol/backend.sock",
]


def test_one_upstream_per_distinct_target_and_map_entries_to_its_name():
    result = nginx_routes(ROUTES)
    assert result["upstreams"] == [
        {"name": "sharedhost_127_0_0_1_20000", "server": "127.0.0.1:20000", "target": "127.0.0.1:20000"},
        {"name": "sharedhost_fd00_12_20001", "server": "[fd00::12]:20001", "target": "[fd00::12]:20001"},
        {"name": "sharedhost_unix_run_sharedhost_carol_backend_sock",
         "server": "unix:/run/sharedhost/carol/backend.sock", "target": "unix:/run/sharedhost/carol/backend.sock"},
    ]
    assert result["map"] == [
        ["alice.test", "sharedhost_127_0_0_1_20000"],
        ["bob.test", "sharedhost_fd00_12_20001"],
        ["carol.test", "sharedhost_unix_run_sharedhost_carol_backend_sock"],
        ["www.alice.test", "sharedhost_127_0_0_1_20000"],
    ]
    assert result["map_hash_max_size"] == 2048 and result["map_hash_bucket_size"] == 64


def test_names_stay_unique_when_sanitized_targets_collide():
    result = nginx_routes(["a.test unix:/run/a-b.sock", "b.test unix:/run/a_b.sock"])
    names = [u["name"] for u in result["upstreams"]]
    assert len(set(names)) == 2 and names[0] == "sharedhost_unix_run_a_b_sock"
    assert names[1] == "sharedhost_unix_run_a_b_sock_2"


def test_route_map_output_goes_through_unchanged():
    backends = [{"address": "127.0.0.1", "ports": {"alice": [20000]},
                 "users": [{"name": "alice", "vhosts": ["Alice.Test.", "www.alice.test"]}]},
                {"address": "::1", "ports": {"bob": [20001]}, "users": [{"name": "bob", "vhosts": ["bob.test"]}]}]
    result = nginx_routes(route_map(backends))
    assert [u["server"] for u in result["upstreams"]] == ["127.0.0.1:20000", "[::1]:20001"]
    assert [e[0] for e in result["map"]] == ["alice.test", "bob.test", "www.alice.test"]


def test_hash_sizes_grow_with_the_map():
    many = ["v%05d.bench.test 127.0.0.1:20000" % n for n in range(10000)]
    result = nginx_routes(many)
    assert result["map_hash_max_size"] >= 20000 and len(result["upstreams"]) == 1
    long_name = "x" * 200 + ".test"
    assert nginx_routes(["%s 127.0.0.1:1" % long_name])["map_hash_bucket_size"] >= len(long_name) + 32


@pytest.mark.parametrize("line", [
    "a.test localhost:20000",            # a name, not a literal
    "a.test 127.0.0.1",                  # no port
    "a.test 127.0.0.1:0",
    "a.test 127.0.0.1:70000",
    "a.test ::1:20000",                  # IPv6 without brackets
    "a.test [::g]:20000",
    "a.test unix:run/a.sock",            # relative
    "a.test unix:/run/a.sock;evil",      # would end the directive
    "a.test unix:/run/../etc/a.sock",
    "a.test unix:/run/a b.sock",
    "A.test 127.0.0.1:20000",            # not lowercased
    "a.test;x 127.0.0.1:20000",
    "a.test",
])
def test_anything_else_is_refused(line):
    with pytest.raises(AnsibleFilterError):
        nginx_routes([line])


def test_nginx_string_is_literal():
    assert nginx_string("No site here.") == '"No site here."'
    assert nginx_string('say "hi" \\ costs $5') == '"say \\"hi\\" \\\\ costs ${sharedhost_dollar}5"'


def render(name, **variables):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True, keep_trailing_newline=True)
    env.filters["comment"] = lambda text: "#\n# %s\n#" % text
    env.filters["sharedhost.hosting.nginx_routes"] = nginx_routes
    env.filters["sharedhost.hosting.nginx_string"] = nginx_string
    env.filters["regex_replace"] = lambda value, pattern, replacement: re.sub(pattern, replacement, value)
    env.tests["match"] = lambda value, pattern: re.match(pattern, value) is not None
    return env.get_template(name).render(ansible_managed="Ansible managed", **variables)


def test_routes_template_renders_both_target_forms():
    text = render("nginx-routes.conf.j2", frontend_routes=ROUTES, frontend_nginx_keepalive=8,
                  __frontend_redirects=["bob.test"])
    assert "map $host $sharedhost_https {\n    default 0;\n    bob.test 1;\n}" in text
    assert "~^/\\.well-known/acme-challenge/ 1;" in text
    assert "map $host $sharedhost_backend {\n    default \"\";\n    alice.test sharedhost_127_0_0_1_20000;\n" in text
    assert "    carol.test sharedhost_unix_run_sharedhost_carol_backend_sock;\n" in text
    assert ("upstream sharedhost_127_0_0_1_20000 {\n    server 127.0.0.1:20000;\n    keepalive 8;\n"
            "    keepalive_timeout 20s;\n}\n") in text
    assert "upstream sharedhost_fd00_12_20001 {\n    server [fd00::12]:20001;\n" in text
    assert ("upstream sharedhost_unix_run_sharedhost_carol_backend_sock {\n"
            "    server unix:/run/sharedhost/carol/backend.sock;\n") in text
    assert text.count("\nupstream ") == 3


FRONTEND_VARS = dict(frontend_server_name="host1", frontend_proxy_timeout=60, frontend_buffered_logs=True,
                     frontend_not_found_message="No site is configured for this host name.",
                     frontend_tls_protocols="-all +TLSv1.2 +TLSv1.3", frontend_tls_ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
TLS_RESULT = {"default": None, "sites": [
    {"vhost": "alice.test", "aliases": ["www.alice.test"], "certificate_file": "/tls/alice.crt",
     "private_key_file": "/tls/alice.key"},
    {"vhost": "bob.test", "aliases": [], "certificate_file": "/tls/bob.crt", "private_key_file": "/tls/bob.key"}]}


def test_frontend_template_proxies_with_pooled_connections_and_answers_404():
    text = render("nginx-frontend.conf.j2", __frontend_tls_on=False, **FRONTEND_VARS)
    assert "443" not in text and "sharedhost_redirect" not in text
    assert "listen 80 default_server;" in text
    assert "proxy_pass http://$sharedhost_backend;" in text
    assert "proxy_http_version 1.1;" in text and 'proxy_set_header Connection "";' in text
    assert 'return 404 "No site is configured for this host name.\n";' in text
    for header in ("Host $http_host", "X-Forwarded-For $proxy_add_x_forwarded_for",
                   "X-Forwarded-Host $http_host", "X-Forwarded-Proto $scheme"):
        assert "proxy_set_header %s;" % header in text
    assert "proxy_read_timeout 60s;" in text
    assert "/var/log/nginx/sharedhost-access.log" in text and "/var/log/nginx/sharedhost-error.log" in text


def test_frontend_template_buffers_the_access_log_only_when_asked():
    for tls in (False, True):
        variables = dict(FRONTEND_VARS, __frontend_tls_on=tls, __frontend_redirects=[], frontend_tls_result=TLS_RESULT)
        buffered = render("nginx-frontend.conf.j2", **variables)
        logs = [line.strip() for line in buffered.splitlines() if line.strip().startswith("access_log ")]
        assert logs and all(line == "access_log /var/log/nginx/sharedhost-access.log combined buffer=64k flush=1s;"
                            for line in logs), logs
        variables["frontend_buffered_logs"] = False
        plain = render("nginx-frontend.conf.j2", **variables)
        assert "buffer=" not in plain and "access_log /var/log/nginx/sharedhost-access.log;" in plain


def test_frontend_template_with_tls_serves_each_certificate_and_redirects():
    text = render("nginx-frontend.conf.j2", __frontend_tls_on=True, __frontend_redirects=["bob.test"],
                  frontend_tls_result=TLS_RESULT, **FRONTEND_VARS)
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text and "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;" in text
    assert "return 301 https://$host$request_uri;" in text
    # The catch-all on 443 answers 421 with the first certificate; one server per certificate routes.
    catch_all = text.split("listen 443 ssl default_server;")[1].split("\n}\n")[0]
    assert "return 421;" in catch_all and "ssl_certificate /tls/alice.crt;" in catch_all
    assert "server_name alice.test www.alice.test;" in text and "ssl_certificate_key /tls/bob.key;" in text
    assert text.count("proxy_pass http://$sharedhost_backend;") == 3  # port 80, alice, bob

    self_signed = dict(TLS_RESULT, default={"certificate_file": "/tls/_default.crt",
                                            "private_key_file": "/tls/_default.key"})
    text = render("nginx-frontend.conf.j2", __frontend_tls_on=True, __frontend_redirects=[],
                  frontend_tls_result=self_signed, **FRONTEND_VARS)
    assert "return 421;" not in text and text.count("proxy_pass http://$sharedhost_backend;") == 4
