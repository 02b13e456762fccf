"""A setting that nginx -t refuses fails the play with nginx's message before anything goes live:
nginx keeps serving the old configuration (same master process, routes unchanged)."""

from conftest import assert_serving, run_site


def test_a_config_nginx_refuses_changes_nothing(host, users):
    pid = host.file("/run/nginx.pid").content_string.strip()
    before = host.file("/etc/nginx/sharedhost/frontend.conf").content_string
    # An int as the argument spec wants, but no time nginx accepts.
    output = run_site(host, {"frontend_proxy_timeout": -5}, expect_failure=True)
    # nginx's own message, naming the file it would have replaced (the output is JSON: quotes escaped).
    assert "[emerg]" in output and "proxy_connect_timeout" in output, output[-3000:]
    assert "directive invalid value in /etc/nginx/sharedhost/frontend.conf:" in output, output[-3000:]
    assert "Write the frontend server, tested with the whole nginx configuration first" in output
    assert host.file("/etc/nginx/sharedhost/frontend.conf").content_string == before
    assert host.file("/run/nginx.pid").content_string.strip() == pid
    assert host.run("ls /tmp | grep -c sharedhost-nginx-test").stdout.strip() == "0"  # no copy left behind
    assert_serving(host, users)
