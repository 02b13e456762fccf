"""Helpers of the hijack scenario: the attacker (alice) tries to take the victim's
(bob's) port in every way a hosted user can; the tests run each attack as alice,
check that bob keeps (or gets back) his traffic, run the audit playbook, and
record which enforcement layer stopped the attack into a table printed at the
end of the verify output.

Shared helpers (http, registry, platform, container, wait_until,
restart_container, write_as, playbook runs) come from
molecule/resources/sharedhost_verify.py.
"""

import ipaddress
import json
import os
import subprocess

import pytest
import testinfra

from sharedhost_verify import (
    PLAYBOOK, ROOT, ansible_env, example_users, http, platform, registry, run_playbook, wait_until, write_as)

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
RESULTS = os.path.join(EPHEMERAL, "hijack-results.json")

ATTACKER, VICTIM = "alice", "bob"
BOB_CONTENT = "Hello from the mod_perl handler of bob"
# Unallocated ports of the range for the stray attacks (the registry hands out
# ports from 20000 upwards; the enforcement probe of a converge uses the top).
STRAY_PORTS = (25000, 25001)
# Every attacker process exits on its own after this many seconds at the latest.
HOLD_SECONDS = 240


# --- helpers ------------------------------------------------------------------

@pytest.fixture(scope="session")
def users():
    return example_users()


def listeners(host):
    """[(address, port, uid)] of every TCP listener, from /proc/net/tcp{,6}."""
    found = []
    for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in host.file(path).content_string.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 7 and fields[3] == "0A":
                address, port = fields[1].split(":")
                found.append((_address(address, width), int(port, 16), int(fields[7])))
    return found


def _address(hexaddr, width):
    raw = bytes.fromhex(hexaddr)
    if width == 8:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    return str(ipaddress.IPv6Address(b"".join(words)))


def holders(host, port):
    """uids listening on a port, on any address."""
    return sorted(set(uid for _addr, p, uid in listeners(host) if p == port))


def run_site(platforms, extra_vars, expect_failure=False):
    """Run playbooks/site.yml on these hosts (one run), with extra variables: a dict
    (passed as JSON) or a string as an admin would type it after -e."""
    return run_playbook("site.yml", ["--limit", ",".join(platforms),
                                     "-e", extra_vars if isinstance(extra_vars, str) else json.dumps(extra_vars)],
                        expect_failure=expect_failure)


def all_hosts():
    """testinfra hosts of every platform of the scenario (for module-wide set-up)."""
    return testinfra.get_hosts(["all"], connection="ansible", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


# --- the audit playbook --------------------------------------------------------

class Audit:
    def __init__(self, rc, result, report, output):
        self.rc, self.result, self.report, self.output = rc, result, report, output

    @property
    def failed(self):
        return self.rc != 0

    def squatter(self, port, address):
        found = [s for s in self.result["squatters"] if s["port"] == port and s["address"] == address]
        assert found, "no squatter on %s:%s in %s" % (address, port, self.report)
        return found[0]

    def stray(self, port, address):
        found = [s for s in self.result["strays"] if s["port"] == port and s["address"] == address]
        assert found, "no stray on %s:%s in %s" % (address, port, self.report)
        return found[0]

    def __repr__(self):
        return "audit rc=%s report=%s" % (self.rc, "\n".join(self.report))


def audit(host, remediate=False, kill_strays=False):
    """Run playbooks/audit.yml on this host with the JSON callback; the port_audit
    result, the printed report lines and the return code."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    extra = {"sharedhost_audit_remediate": remediate, "sharedhost_audit_kill_strays": kill_strays}
    proc = subprocess.run([PLAYBOOK, "-i", inventory, os.path.join(ROOT, "playbooks", "audit.yml"),
                           "--limit", platform(host), "-e", json.dumps(extra)],
                          env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json"),
                          capture_output=True, text=True, timeout=180, check=False)
    try:
        doc = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError("audit.yml printed no JSON (rc %s): %s %s" % (
            proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])) from exc
    tasks = dict((t["task"]["name"], t["hosts"].get(platform(host), {})) for t in doc["plays"][0]["tasks"])
    result = tasks["Compare live listeners with the port registry"]
    assert "squatters" in result, "the audit module failed: %s" % result
    report = tasks.get("Show the findings", {}).get("msg") or []
    return Audit(proc.returncode, result, report if isinstance(report, list) else [report], proc.stdout)


def audit_remediate_and_recheck(host, kill_strays=False):
    """Remediate, wait for bob to serve through the frontend, then a second audit must pass."""
    fixed = audit(host, remediate=True, kill_strays=kill_strays)
    assert not fixed.failed, fixed
    assert not [a for a in fixed.result["remediation"] if "failed" in a], fixed
    wait_bob_serves(host, message="bob to serve after the audit's remediation")
    second = audit(host)
    assert not second.failed and second.result["summary"]["violations"] == 0, second
    return fixed, second


# --- the attacker's tools --------------------------------------------------------

# Binds and listens on every address:port given (as whoever runs it; SO_REUSEADDR like
# any real server), records what happened to a JSON file, answers any connection that
# completes with a fake page and logs it, and exits after HOLD seconds at the latest.
# With --after FILE it first waits (at most --wait seconds, reported as "waiting")
# until FILE exists: a cron job started at a full minute attacks when the test is ready.
SQUAT = r"""
import errno, json, os, select, socket, sys, time
args = sys.argv[1:]
after = wait = None
if args[0] == "--after":
    after, wait, args = args[1], float(args[3]), args[4:]
out, hold, targets = args[0], float(args[1]), args[2:]
state = {"pid": os.getpid(), "uid": os.getuid(), "results": [], "accepted": [],
         "cgroup": open("/proc/self/cgroup").read().strip()}
def dump():
    with open(out + ".tmp", "w") as handle:
        json.dump(state, handle)
    os.rename(out + ".tmp", out)
if after:
    state["waiting"] = True
    dump()
    deadline = time.monotonic() + wait
    while not os.path.exists(after):
        if time.monotonic() > deadline:
            sys.exit(0)
        time.sleep(0.5)
    os.remove(after)  # one attack per go: a job cron starts after this one waits again
    del state["waiting"]
socks = []
for target in targets:
    addr, port = target.rsplit(":", 1)
    addr = addr.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((addr, int(port)))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        state["results"].append({"target": target, "bound": False,
                                 "errno": errno.errorcode.get(exc.errno, str(exc.errno))})
        continue
    sock.setblocking(False)
    socks.append(sock)
    state["results"].append({"target": target, "bound": True})
dump()
deadline = time.monotonic() + hold
while socks and time.monotonic() < deadline:
    ready = select.select(socks, [], [], max(0.1, deadline - time.monotonic()))[0]
    for sock in ready:
        try:
            conn, peer = sock.accept()
        except OSError:
            continue
        state["accepted"].append({"local": "%s:%s" % conn.getsockname()[:2], "peer": str(peer)})
        dump()
        try:
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhijacked by alice\n")
        except OSError:
            pass
        conn.close()
"""
SQUAT_PATH = "/home/%s/.hijack-squat.py" % ATTACKER

# Connects (as root, the frontend's side) to every address:port at once with a timeout
# and reports per target whether a connection completed and what came back, and how
# many packets the nftables owner rule dropped meanwhile (all targets together).
CONNECT = r"""
import errno, json, re, socket, subprocess, sys, threading
def drops():
    out = subprocess.run(["nft", "list", "chain", "inet", "sharedhost", "output"],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    found = re.search(r"counter packets (\d+)", out)
    return int(found.group(1)) if found else -1
results = {}
def attempt(target):
    addr, port = target.rsplit(":", 1)
    addr = addr.strip("[]")
    data = b""
    sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(float(sys.argv[1]))
    try:
        sock.connect((addr, int(port)))
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = sock.recv(200)
        outcome = "connected"
    except socket.timeout:
        outcome = "timeout"
    except OSError as exc:
        outcome = errno.errorcode.get(exc.errno, str(exc.errno))
    finally:
        sock.close()
    results[target] = {"target": target, "outcome": outcome, "data": data.decode("utf-8", "replace")}
before = drops()
threads = [threading.Thread(target=attempt, args=(t,)) for t in sys.argv[2:]]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"results": results, "dropped": drops() - before}))
"""


def install_squat(host):
    write_as(host, ATTACKER, SQUAT_PATH, SQUAT)


def state_path(name):
    return "/home/%s/.hijack-%s.json" % (ATTACKER, name)


def read_state(host, name):
    result = host.run("cat %s", state_path(name))
    return json.loads(result.stdout) if result.rc == 0 and result.stdout.strip() else None


def wait_state(host, name, timeout=20):
    """The attacker's report once it has tried its binds."""
    def ready():
        state = read_state(host, name)
        return state is not None and not state.get("waiting")
    wait_until(ready, timeout=timeout, step=0.5, message="alice's %s attacker to report" % name)
    return read_state(host, name)


def first_login_after_reload(host):
    """One throwaway login session of alice. After a daemon-reload (which systemctl
    enable/disable also do) the first session in her user slice is not held by the
    slice's SocketBindDeny= for its first milliseconds (test_35 shows it); attacks that
    test something else start after this session."""
    host.run("runuser -l %s -c true", ATTACKER)


def squat_from_login_shell(host, name, targets, after_reload_session=True):
    """alice runs the squatter in the background from a login shell (runuser -l: a
    PAM session, so a logind session scope in her user slice)."""
    install_squat(host)
    host.run("rm -f %s", state_path(name))
    if after_reload_session:
        first_login_after_reload(host)
    command = "nohup python3 %s %s %d %s >/dev/null 2>&1 </dev/null &" % (
        SQUAT_PATH, state_path(name), HOLD_SECONDS, " ".join(targets))
    host.check_output("runuser -l %s -c %s", ATTACKER, command)
    return wait_state(host, name)


def outcome(state, target):
    found = [r for r in state["results"] if r["target"] == target]
    assert found, (target, state)
    return "bound" if found[0]["bound"] else found[0]["errno"]


def connect_from_root(host, targets, timeout=2):
    out = host.check_output("python3 -c %s %s" + " %s" * len(targets), CONNECT, str(timeout), *targets)
    return json.loads(out)


def assert_no_connection(host, targets):
    """Nothing connects to the attacker's sockets (as root, like the frontend, with a
    timeout), and the owner rule is what dropped the answers: returns the number of
    packets it dropped meanwhile."""
    found = connect_from_root(host, targets)
    for target in targets:
        res = found["results"][target]
        assert res["outcome"] == "timeout" and res["data"] == "", res
    assert found["dropped"] >= len(targets), ("the owner rule dropped too little", found)
    return found["dropped"]


def uid_of(host, name):
    return host.user(name).uid


def stop_attacker(host, pids, marker="hijack-squat"):
    """Stop the given processes if they (still) are alice's and run the attacker's
    command (a pid recorded before a reboot may belong to anything now); bounded."""
    uid = uid_of(host, ATTACKER)
    for pid in pids:
        status = host.run("cat /proc/%s/status 2>/dev/null", str(pid)).stdout
        uids = [line.split()[1] for line in status.splitlines() if line.startswith("Uid:")]
        cmdline = host.run("tr '\\0' ' ' < /proc/%s/cmdline 2>/dev/null", str(pid)).stdout
        if uids and int(uids[0]) == uid and marker in cmdline:
            host.run("kill -TERM %s", str(pid))
            wait_until(lambda: host.run("test -d /proc/%s", str(pid)).rc != 0
                       or "State:\tZ" in host.run("cat /proc/%s/status 2>/dev/null", str(pid)).stdout,
                       timeout=10, step=0.5, message="pid %s to exit" % pid)


# alice's crontab is installed when the session starts, on every host: cron starts the
# job at the next full minute (again after a reboot: flock keeps it to one at a time),
# where it waits (no socket yet) until test_50 creates the go file, so that test need not
# wait for a minute boundary. Bounded: the job gives up after CRON_WAIT seconds; test_50
# and the end of the session remove the crontab and the job.
CRONTAB = "/home/%s/.hijack-crontab" % ATTACKER
CRON_GO = "/home/%s/.hijack-cron-go" % ATTACKER
CRON_LOCK = "/home/%s/.hijack-cron-lock" % ATTACKER
CRON_WAIT = 1200


def cron_targets(host):
    bob_port = port_of(host, VICTIM)
    return ["127.0.0.1:%d" % bob_port, "[::1]:%d" % bob_port, "127.0.0.1:%d" % STRAY_PORTS[0]]


def remove_cron_attack(host):
    host.run("crontab -u %s -r", ATTACKER)
    state = read_state(host, "cron")
    if state:
        stop_attacker(host, [state["pid"]])
    host.run("rm -f %s %s %s %s", state_path("cron"), CRONTAB, CRON_GO, CRON_LOCK)


@pytest.fixture(scope="session", autouse=True)
def attacker_session():
    """alice's crontab (see above), and lingering for her while the tests run: in the
    Debian 12 test container, stopping user@UID.service after a user's last session can
    hang until its 2-minute timeout, and the next login (runuser -l) waits for it; with
    lingering the user manager stays up. Both are undone at the end."""
    hosts = all_hosts()
    lingering = {}
    for each in hosts:
        lingering[platform(each)] = each.file("/var/lib/systemd/linger/%s" % ATTACKER).exists
        each.check_output("loginctl enable-linger %s", ATTACKER)
        remove_cron_attack(each)
        install_squat(each)
        line = "* * * * * /usr/bin/flock -n %s /usr/bin/python3 %s --after %s --wait %d %s %d %s\n" % (
            CRON_LOCK, SQUAT_PATH, CRON_GO, CRON_WAIT, state_path("cron"), HOLD_SECONDS,
            " ".join(cron_targets(each)))
        write_as(each, ATTACKER, CRONTAB, line)
        each.check_output("runuser -u %s -- crontab %s", ATTACKER, CRONTAB)
        assert "hijack-squat" in each.check_output("crontab -u %s -l", ATTACKER)
    yield
    for each in hosts:
        remove_cron_attack(each)
        if not lingering[platform(each)]:
            each.run("loginctl disable-linger %s", ATTACKER)


# --- the victim ----------------------------------------------------------------

def port_of(host, user):
    return registry(host)["users"][user]["ports"][0]


def unit(user):
    return "sharedhost-backend@%s.service" % user


def bob_serves(host, timeout=10):
    status, body = http(host, "%s.example.test" % VICTIM, timeout=timeout)
    return status == "200" and BOB_CONTENT in body


def wait_bob_serves(host, timeout=60, message="bob to serve"):
    wait_until(lambda: bob_serves(host), timeout=timeout, step=1, message=message)


def socket_bind_for_sessions(host):
    """The role writes the user slice drop-ins only where its probe showed that
    systemd's socket-bind restrictions hold."""
    return host.file("/etc/systemd/system/user-%d.slice.d/50-sharedhost.conf" % uid_of(host, ATTACKER)).exists


def socket_bind_for_backends(host):
    dropin = host.file("/etc/systemd/system/%s.d/50-sharedhost.conf" % unit(ATTACKER))
    return "SocketBindDeny=any" in dropin.content_string


def restore_backends(host):
    """Bring alice's and bob's backends back to their converged state (enabled, serving).
    Bounded; a unit that gave up meanwhile is reset and started again."""
    for user in (ATTACKER, VICTIM):
        if host.run("systemctl is-enabled %s", unit(user)).stdout.strip() != "enabled":
            host.run("systemctl enable %s", unit(user))

    def serving():
        for user in (ATTACKER, VICTIM):
            if host.run("systemctl is-active %s", unit(user)).stdout.strip() not in ("active", "activating"):
                host.run("systemctl reset-failed %s", unit(user))
                host.run("systemctl restart %s", unit(user))
        return bob_serves(host) and http(host, "%s.example.test" % ATTACKER)[0] == "200"
    try:
        wait_until(serving, timeout=90, step=2, message="alice and bob to serve after the clean-up")
    except AssertionError as exc:
        state = host.run("systemctl status --no-pager -n 15 %s %s", unit(ATTACKER), unit(VICTIM)).stdout
        raise AssertionError("%s\n%s" % (exc, state)) from exc


def now(host):
    """The host's clock, for journal queries of what happened from now on."""
    return host.check_output("date +%s")


def journal(host, user, since):
    """Messages of a user's backend unit since a time from now()."""
    return host.run("journalctl --no-pager -o cat --since @%s -u %s", since, unit(user)).stdout


def wait_port_taken(host, user, port, since, timeout=30):
    """Wait until the user's backend reported that it could not bind its port."""
    wait_until(lambda: "could not bind to address 127.0.0.1:%d" % port in journal(host, user, since),
               timeout=timeout, message="%s's backend to find port %d taken" % (user, port))


def distro(host):
    return "Debian %s" % host.system_info.release.split(".")[0]


# --- the table ---------------------------------------------------------------------

def record(host, attack, layer, result, detail):
    """One row of the final table (kept in a JSON file of the scenario's ephemeral directory):
    attack and result short (the table must fit Molecule's 80 columns), detail in full."""
    rows = _rows()
    rows.append({"attack": attack, "platform": platform(host), "distro": distro(host),
                 "layer": layer, "result": result, "detail": detail})
    with open(RESULTS, "w") as handle:
        json.dump(rows, handle, indent=1)


def _rows():
    try:
        with open(RESULTS) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return []


def pytest_sessionstart(session):
    if os.path.exists(RESULTS):
        os.remove(RESULTS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    made = yield
    report = made.get_result()
    if report.when == "call" and report.failed and "host" in item.funcargs:
        message = str(call.excinfo.value).strip().splitlines()[0][:200] if call.excinfo else "failed"
        record(item.funcargs["host"], item.originalname[5:25], "-", "TEST FAILED", message)


def table(rows):
    heads = ("attack", "distro/platform", "layer", "result")
    cells = [(r["attack"], "%s %s" % (r["distro"].replace("Debian ", "Deb"), r["platform"]), r["layer"], r["result"])
             for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    return [(fmt % heads).rstrip(), "  ".join("-" * w for w in widths)] + [(fmt % c).rstrip() for c in cells]


def pytest_terminal_summary(terminalreporter):
    rows = sorted(_rows(), key=lambda r: (r["attack"], r["platform"]))
    if not rows:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "hijack attempts in detail")
    for row in rows:
        write("%s, %s (%s), stopped by %s: %s" % (row["attack"], row["platform"], row["distro"], row["layer"],
                                                  row["detail"]))
    terminalreporter.write_sep("=", "alice vs. bob's port (bob served his page after each)")
    for line in table(rows):
        write(line)
