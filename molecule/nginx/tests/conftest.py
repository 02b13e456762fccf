"""Helpers of the nginx scenario: the example users converged with frontend_kind: nginx, playbook
re-runs with extra variables, who listens on port 80, a header log in alice's backend, and a
bounded request loop that runs inside the host while a converge switches the frontend.

Shared helpers (http, platform, run_playbook, wait_until, restart_container, write_as) come
from molecule/resources/sharedhost_verify.py."""

import json
import os

import pytest

from sharedhost_verify import example_users, http, platform, run_playbook, wait_until, write_as

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
RESULTS = os.path.join(EPHEMERAL, "nginx-results.json")
ALICE_INCLUDE = "/home/alice/sharedhost/apache.conf"
HEADER_LOG = "/var/log/sharedhost/alice/headers.log"


@pytest.fixture(scope="session")
def users():
    return example_users()


def run_site(host, extra_vars=None, users=None, expect_failure=False, extra_args=()):
    """Run playbooks/site.yml on this host only, with extra variables (and sharedhost_users replaced)."""
    extra = dict(extra_vars or {})
    if users is not None:
        extra["sharedhost_users"] = users
    path = os.path.join(EPHEMERAL, "verify-nginx-%s.json" % platform(host))
    with open(path, "w") as handle:
        json.dump(extra, handle)
    return run_playbook("site.yml", ["--limit", platform(host), "-e", "@" + path] + list(extra_args),
                        expect_failure=expect_failure)


def recap_changed(output):
    recap = output.split("PLAY RECAP")[-1]
    return [int(part.split("=")[1]) for part in recap.split() if part.startswith("changed=")]


def port80_programs(host):
    """The programs listening on TCP port 80 (any address)."""
    out = host.check_output("ss -Hltnp 'sport = :80'")
    names = set(part.split('"')[1] for part in out.split("users:((")[1:])
    return sorted("apache2" if "apach" in name else name for name in names)  # Apache's comm: /usr/sbin/apach


def assert_serving(host, users):
    for user in users:
        for vhost in user["vhosts"]:
            for variant in (vhost, vhost.upper(), vhost + ".", vhost + ":80"):
                status, body = http(host, variant)
                assert status == "200" and user["name"] in body, (variant, status, body[:200])
    status, body = http(host, "nobody.example.test")
    assert status == "404" and "No site is configured for this host name." in body, (status, body)


def service_state(host, unit):
    return (host.run("systemctl is-active %s", unit).stdout.strip(),
            host.run("systemctl is-enabled %s", unit).stdout.strip())


def assert_only(host, kind):
    """Only the chosen frontend runs and is enabled; the other is stopped and disabled."""
    chosen, other = ("nginx", "apache2") if kind == "nginx" else ("apache2", "nginx")
    assert service_state(host, chosen) == ("active", "enabled")
    assert service_state(host, other)[0] != "active" and service_state(host, other)[1] == "disabled"
    assert port80_programs(host) == [chosen]


# Bounded request loop, run in the host: one request (new connection, 5 s timeout)
# every INTERVAL seconds until the stop file exists, at most MAX requests or 150 s
# (a converge takes 40-60 s here; the handover comes near its end).
LOOP = r"""
import json, os, sys, time, urllib.request, urllib.error
out, stop, interval, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
results = []
deadline = time.monotonic() + 150
while len(results) < limit and time.monotonic() < deadline and not os.path.exists(stop):
    started = time.time()
    request = urllib.request.Request("http://127.0.0.1/", headers={"Host": "alice.example.test"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            outcome = str(answer.status) if b"alice" in answer.read() else "wrong-content"
    except urllib.error.HTTPError as exc:
        outcome = str(exc.code)
    except Exception as exc:
        outcome = type(exc).__name__ + ": " + str(getattr(exc, "reason", exc))
    results.append([round(started, 3), outcome])
    time.sleep(interval)
with open(out + ".tmp", "w") as handle:
    json.dump(results, handle)
os.rename(out + ".tmp", out)
"""


class RequestLoop:
    """Requests through the frontend while something else happens (with-statement)."""
    OUT, STOP, SCRIPT = "/tmp/.nginx-loop.json", "/tmp/.nginx-loop.stop", "/tmp/.nginx-loop.py"

    def __init__(self, host, interval=0.1, limit=600):
        self.host, self.interval, self.limit, self.results = host, interval, limit, None

    def __enter__(self):
        self.host.run("rm -f %s %s", self.OUT, self.STOP)
        write_as(self.host, "root", self.SCRIPT, LOOP)
        self.host.check_output("nohup python3 %s %s %s %s %s >/dev/null 2>&1 </dev/null &",
                               self.SCRIPT, self.OUT, self.STOP, str(self.interval), str(self.limit))
        return self

    def __exit__(self, *exc):
        self.host.run("touch %s", self.STOP)
        wait_until(lambda: self.host.file(self.OUT).exists, timeout=160, step=0.5, message="the request loop")
        self.results = json.loads(self.host.file(self.OUT).content_string)
        return False

    @property
    def failures(self):
        return [r for r in self.results if r[1] != "200"]


def record(name, value):
    """Numbers the report (build/notes) needs, kept in the scenario's ephemeral directory."""
    try:
        with open(RESULTS) as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        found = {}
    found[name] = value
    with open(RESULTS, "w") as handle:
        json.dump(found, handle, indent=1)


def pytest_terminal_summary(terminalreporter):
    try:
        with open(RESULTS) as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return
    terminalreporter.write_sep("=", "nginx scenario measurements")
    for name in sorted(found):
        terminalreporter.write_line("%s: %s" % (name, json.dumps(found[name])))


@pytest.fixture(scope="module")
def header_log(host):
    """alice's backend logs the forwarded headers and the client port of each request (from her own
    config, as any user may); undone at the end."""
    original = host.file(ALICE_INCLUDE).content_string
    write_as(host, "alice", ALICE_INCLUDE, original + (
        'CustomLog %s "%%U%%q|%%{X-Forwarded-For}i|%%{X-Forwarded-Host}i|%%{X-Forwarded-Proto}i|%%{Host}i|'
        '%%{remote}p"\n' % HEADER_LOG))
    assert host.run("runuser -u alice -- sharedhost-ctl reload").rc == 0
    wait_until(lambda: http(host, "alice.example.test", "/?header-log-ready")[0] == "200"
               and host.file(HEADER_LOG).exists and "header-log-ready" in host.file(HEADER_LOG).content_string,
               timeout=30, message="alice's backend to log the headers")
    yield HEADER_LOG
    write_as(host, "alice", ALICE_INCLUDE, original)
    host.run("runuser -u alice -- sharedhost-ctl reload")


def logged(host, marker):
    return [line.split("|") for line in host.file(HEADER_LOG).content_string.splitlines() if marker in line]
