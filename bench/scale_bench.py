"""Operations at scale on one podman test host with N users (default 500): memory per backend,
route publication after a converge that adds a user, and a reboot.

  * memory: PSS (shared pages counted proportionally) summed over each idle Apache backend's
    processes (the processes of its unit's cgroup, /proc/PID/smaps_rollup), with RSS beside it,
    and the host-wide total of all backends;
  * route publication: a converge adds user N+1; from the moment ansible-playbook exits, the time
    until that vhost answers 200 through the frontend (polled every 20 ms inside the host), and
    whether the frontend's worker PIDs are the same as before the converge (no restart);
  * boot: the host is stopped and started again (a real systemd boot, no Ansible run); the time
    from `podman start` until every vhost has answered 200 through the frontend, and how many never did.

Targets (issue 7): PSS per backend < 8 MiB, route publication < 1 s after the converge with the
same frontend workers, boot of 500 users < 60 s with none failed.

Usage: .venv/bin/python bench/scale_bench.py [--users 500] [--release trixie] [--skip-boot]
Bounded: every wait has a deadline (boot 300 s, route 30 s). Runs only against the project's own
podman test host sharedhost-bench-scale, removed afterwards.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from converge_bench import converge, ensure_pid_max, sh, start_host  # noqa: E402

NAME = "sharedhost-bench-scale"

# PSS and RSS (kB) per backend unit, from the cgroup of each sharedhost-backend@ unit.
MEMORY = r"""
import json, os, subprocess
out = subprocess.run(["systemctl", "show", "-p", "Id", "-p", "ControlGroup", "sharedhost-backend@*.service"],
                     stdout=subprocess.PIPE, universal_newlines=True).stdout
rows = {}
for block in out.strip().split("\n\n"):
    fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
    if not fields.get("ControlGroup"):
        continue
    user = fields["Id"].split("@", 1)[1][:-len(".service")]
    pss = rss = procs = 0
    try:
        pids = open("/sys/fs/cgroup" + fields["ControlGroup"] + "/cgroup.procs").read().split()
    except OSError:
        pids = []  # the unit stopped meanwhile
    for pid in pids:
        try:
            for line in open("/proc/%s/smaps_rollup" % pid):
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
            procs += 1
        except OSError:
            pass
    rows[user] = {"pss_kb": pss, "rss_kb": rss, "processes": procs}
print(json.dumps(rows))
"""

# Wait until one vhost answers 200; print the seconds it took (bounded).
ROUTE = r"""
import sys, time, urllib.request
vhost, deadline = sys.argv[1], time.monotonic() + 30
start = time.monotonic()
while time.monotonic() < deadline:
    try:
        req = urllib.request.Request("http://127.0.0.1/", headers={"Host": vhost})
        if urllib.request.urlopen(req, timeout=2).status == 200:
            print("%.3f" % (time.monotonic() - start))
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.02)
print("timeout")
"""

# Poll every vhost until each has answered 200 once (bounded by a deadline): print the
# host's uptime-relative seconds of the last first answer and the vhosts that never answered.
BOOT = r"""
import json, sys, time, urllib.request
count, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
pending = set(range(count))
while pending and time.monotonic() < deadline:
    for n in sorted(pending):
        try:
            req = urllib.request.Request("http://127.0.0.1/", headers={"Host": "u%04d.bench.test" % n})
            if urllib.request.urlopen(req, timeout=5).status == 200:
                pending.discard(n)
        except Exception:
            pass
    if pending:
        time.sleep(0.2)
print(json.dumps({"pending": len(pending), "done_at": time.time()}))
"""


def in_host(script, *args, timeout=600):
    proc = sh("podman", "exec", "-i", NAME, "python3", "-", *args, input=script, timeout=timeout, check=False)
    if proc.returncode:
        raise SystemExit("script in %s failed (rc %d): %s" % (NAME, proc.returncode, proc.stderr[-2000:]))
    return proc.stdout.strip()


def frontend_workers():
    out = sh("podman", "exec", NAME, "sh", "-c", "p=$(cat /run/apache2/apache2.pid); echo $p; pgrep -P $p | sort")
    return out.stdout.split()


def memory(count):
    rows = json.loads(in_host(MEMORY))
    rows = dict((user, row) for user, row in rows.items() if row["processes"])
    pss = sorted(r["pss_kb"] for r in rows.values())
    rss = sorted(r["rss_kb"] for r in rows.values())
    return {"backends": len(rows), "processes": sum(r["processes"] for r in rows.values()),
            "pss_mean_mib": sum(pss) / len(pss) / 1024, "pss_max_mib": pss[-1] / 1024,
            "rss_mean_mib": sum(rss) / len(rss) / 1024, "pss_total_mib": sum(pss) / 1024, "expected": count}


def route_publication(workdir, count):
    before = frontend_workers()
    converge(workdir, NAME, count + 1)  # adds user number `count`
    seconds = in_host(ROUTE, "u%04d.bench.test" % count, timeout=60)
    return {"seconds": seconds, "same_workers": frontend_workers() == before}


def boot(count):
    sh("podman", "stop", "-t", "30", NAME, timeout=120)
    started = time.time()
    sh("podman", "start", NAME, timeout=120)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until podman exec works in the new boot
        if sh("podman", "exec", NAME, "true", check=False).returncode == 0:
            break
        time.sleep(0.2)
    result = json.loads(in_host(BOOT, str(count), str(max(1.0, deadline - time.monotonic())), timeout=400))
    return {"seconds": result["done_at"] - started, "never_answered": result["pending"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--release", default="trixie")
    parser.add_argument("--skip-boot", action="store_true")
    opts = parser.parse_args()
    ensure_pid_max(opts.users)
    start_host(NAME, opts.release)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            first = converge(workdir, NAME, opts.users)
            print("converge of %d users: %.1f s" % (opts.users, first["seconds"]))
            time.sleep(10)  # let the backends settle into idle
            mem = memory(opts.users)
            print("memory: %(backends)d backends, %(processes)d processes; PSS per backend mean %(pss_mean_mib).2f MiB, "
                  "max %(pss_max_mib).2f MiB (RSS mean %(rss_mean_mib).2f MiB); all backends %(pss_total_mib).0f MiB"
                  % mem)
            route = route_publication(workdir, opts.users)
            print("route publication (user %d added to %d): answered %s s after the converge; frontend workers "
                  "unchanged: %s" % (opts.users + 1, opts.users, route["seconds"], route["same_workers"]))
        if not opts.skip_boot:
            result = boot(opts.users + 1)
            print("boot: every one of %d vhosts answered through the frontend %.1f s after podman start; "
                  "never answered: %d" % (opts.users + 1, result["seconds"], result["never_answered"]))
    finally:
        sh("podman", "rm", "-f", "-t", "0", NAME, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
