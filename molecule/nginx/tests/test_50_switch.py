"""Switching the live host between the frontends in one converge, with requests running: the new
frontend's config is tested first, the old one stops and the new one starts in one systemd
transaction (Conflicts=), the other stays stopped and disabled, and a re-run changes nothing. A new
frontend that does not start gives the port back to the old one and fails the play with the reason."""

import time

from conftest import RequestLoop, assert_only, assert_serving, recap_changed, record, run_site

FAIL_DROPIN = "/etc/systemd/system/nginx.service.d/99-verify-fail.conf"
# Connection refusals while no server listens on port 80 (between the old one's stop and the new
# one's start): a few at most at one request every 0.05 s.
MAX_FAILURES = 5


def switch(host, kind, name):
    started = time.monotonic()
    with RequestLoop(host, interval=0.05, limit=1200) as loop:
        time.sleep(1)
        output = run_site(host, {"frontend_kind": kind})
    assert len(loop.results) >= 300, len(loop.results)
    record("%s: requests, failures, converge seconds" % name,
           [len(loop.results), len(loop.failures), round(time.monotonic() - started, 1)])
    record("%s: failed requests" % name, loop.failures)
    assert len(loop.failures) <= MAX_FAILURES, loop.failures
    assert all("Connection refused" in outcome for _at, outcome in loop.failures), loop.failures
    return output


def test_a_switch_in_check_mode_changes_nothing(host, users):
    pid = host.file("/run/nginx.pid").content_string.strip()
    output = run_site(host, {"frontend_kind": "apache"}, extra_args=["--check", "--diff"])
    assert "Start the new frontend, which stops the old one first" in output
    assert host.file("/run/nginx.pid").content_string.strip() == pid
    assert_only(host, "nginx")


def test_switch_to_apache_under_load(host, users):
    switch(host, "apache", "nginx -> apache")
    assert_only(host, "apache")
    assert_serving(host, users)
    again = run_site(host, {"frontend_kind": "apache"})
    assert recap_changed(again) == [0], again[-3000:]


def test_a_new_frontend_that_does_not_start_gives_the_port_back(host, users):
    host.check_output("printf '[Service]\\nExecStartPre=/bin/false\\n' > %s && systemctl daemon-reload", FAIL_DROPIN)
    try:
        output = run_site(host, {"frontend_kind": "nginx"}, expect_failure=True)
        assert "nginx did not start, so apache2 serves again" in output, output[-3000:]
        assert host.service("apache2").is_running
        assert_serving(host, users)
    finally:
        host.check_output("rm -f %s && systemctl daemon-reload && systemctl reset-failed nginx.service || true",
                          FAIL_DROPIN)


def test_switch_back_to_nginx_under_load(host, users):
    switch(host, "nginx", "apache -> nginx")
    assert_only(host, "nginx")
    assert_serving(host, users)
