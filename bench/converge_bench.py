"""Converge scaling of playbooks/site.yml on one podman test host.

For each user count N (default 10, 100, 500): a fresh Debian 13 test host,
N users with Apache backends and one vhost each, then
  * the first converge (wall time, tasks executed),
  * the no-op re-run (wall time, tasks executed, changed must be 0),
  * a check that every vhost answers 200 through the frontend,
  * peak RSS of the controller (ansible-playbook and its workers).

Targets (issue 3): first converge of 500 users <= 4x the 10-user one, no-op
re-run of 500 <= 2x the 10-user one, tasks executed constant in N. Issue 7: 1,000 users'
first converge <= 5x the 10-user one, no-op <= 2x and under 60 s, controller peak memory
under 500 MB; seconds per role come from the ansible.posix.profile_tasks callback.

Usage: .venv/bin/python bench/converge_bench.py [--users 10 100 500 1000] [--release trixie] [--markdown]
Runs only against the project's own podman test hosts (named sharedhost-bench-N), removed afterwards.
"""
import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
PODMAN = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
          "--pids-limit", "-1"]  # 500 backends x ~20 threads exceed the default 2048
CGROUP2 = "umount -R /sys/fs/cgroup; mount -t cgroup2 none /sys/fs/cgroup && exec /sbin/init"


def sh(*cmd, check=True, **kwargs):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, **kwargs)


def ansible_env(**extra):
    """ansible-playbook's environment in the benches: the collection in place, the test hosts' connection."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
               ANSIBLE_CONNECTION_PLUGINS=os.path.join(ROOT, "molecule", "resources", "plugins", "connection"),
               ANSIBLE_NOCOLOR="1")
    env.update(extra)
    return env


def ensure_pid_max(users, per_backend=40):
    """Every Apache backend runs ~35 threads (32 workers + listener + parent), and every thread takes a
    pid: 1,000 users need about 40,000, beyond the kernel's historic default pid_max of 32768 (Debian's
    systemd raises it to 4194304 on 64-bit hosts; this machine's kernel was left at 32768)."""
    with open("/proc/sys/kernel/pid_max") as handle:
        current = int(handle.read())
    wanted = users * per_backend + 16384
    if current < wanted:
        print("raising kernel.pid_max from %d to %d for %d backends" % (current, 4194304, users), file=sys.stderr)
        sh("sysctl", "-q", "-w", "kernel.pid_max=4194304")


def start_host(name, release, extra=()):
    """A fresh test host; extra: more `podman run` options (e.g. a CPU budget)."""
    sh("podman", "rm", "-f", "-t", "0", name, check=False)
    sh("podman", "run", "-d", "--name", name, *PODMAN, *extra, "--privileged", "--systemd=false",
       "localhost/sharedhost-test:%s" % release, "/bin/sh", "-c", CGROUP2)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = sh("podman", "exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise SystemExit("%s did not boot" % name)


def users_for(count):
    return [{"name": "u%04d" % n, "vhosts": ["u%04d.bench.test" % n]} for n in range(count)]


def converge(workdir, name, count):
    inventory = os.path.join(workdir, "hosts.yml")
    with open(inventory, "w") as handle:
        json.dump({"sharedhost_servers": {"hosts": {name: {
            "ansible_connection": "podman_pipelined", "ansible_python_interpreter": "/usr/bin/python3",
            "sharedhost_users": users_for(count)}}}}, handle)
    env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = sh(os.path.join(BIN, "ansible-playbook"), "-i", inventory, os.path.join(ROOT, "playbooks", "site.yml"),
              env=env, check=False)
    elapsed = time.perf_counter() - started
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    if proc.returncode:
        raise SystemExit("converge of %d users failed:\n%s\n%s" % (count, proc.stdout[-4000:], proc.stderr[-2000:]))
    recap = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)", proc.stdout)
    ok, changed, _failed, skipped = (int(g) for g in recap.groups())
    return {"seconds": elapsed, "tasks": ok + skipped, "changed": changed, "peak_kib": peak,
            "phases": phases(proc.stdout)}


def phases(output):
    """Seconds per role (and 'playbook' for the playbook's own tasks), from profile_tasks' summary."""
    totals = {}
    for line in output.split("PLAY RECAP")[-1].splitlines():
        found = re.match(r"^(.*?) -+ (\d+\.\d+)s$", line.strip())
        if not found or found.group(1).startswith("="):
            continue
        role = re.match(r"^sharedhost\.hosting\.(\w+) : ", found.group(1))
        key = role.group(1) if role else "playbook"
        totals[key] = totals.get(key, 0.0) + float(found.group(2))
    return totals


def all_vhosts_answer(name, count):
    script = ("import urllib.request\nbad = 0\nfor n in range(%d):\n"
              "    req = urllib.request.Request('http://127.0.0.1/', headers={'Host': 'u%%04d.bench.test' %% n})\n"
              "    try:\n        ok = urllib.request.urlopen(req, timeout=10).status == 200\n"
              "    except Exception:\n        ok = False\n    bad += not ok\nprint(bad)\n") % count
    result = sh("podman", "exec", "-i", name, "python3", "-", input=script)
    return int(result.stdout.strip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--release", default="trixie")
    parser.add_argument("--markdown", action="store_true")
    opts = parser.parse_args()

    rows = []
    for count in opts.users:
        name = "sharedhost-bench-%d" % count
        ensure_pid_max(count)
        start_host(name, opts.release)
        try:
            with tempfile.TemporaryDirectory() as workdir:
                first = converge(workdir, name, count)
                second = converge(workdir, name, count)
            failing = all_vhosts_answer(name, count)
        finally:
            sh("podman", "rm", "-f", "-t", "0", name, check=False)
        rows.append((count, first, second, failing))
        peak_mb = max(first["peak_kib"], second["peak_kib"]) / 1024.0
        print("users=%d first=%.1fs (%d tasks) no-op=%.1fs (%d tasks, changed=%d) failing vhosts=%d "
              "controller peak RSS=%.0f MB" % (count, first["seconds"], first["tasks"], second["seconds"],
                                               second["tasks"], second["changed"], failing, peak_mb),
              file=sys.stderr)

    base_first, base_second = rows[0][1]["seconds"], rows[0][2]["seconds"]
    if opts.markdown:
        print("| users | first converge | tasks | no-op re-run | tasks | changed | vhosts not answering | "
              "first / %d-user | no-op / %d-user |" % (rows[0][0], rows[0][0]))
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for count, first, second, failing in rows:
        line = (count, first["seconds"], first["tasks"], second["seconds"], second["tasks"], second["changed"],
                failing, first["seconds"] / base_first, second["seconds"] / base_second)
        if opts.markdown:
            print("| %d | %.1f s | %d | %.1f s | %d | %d | %d | %.2fx | %.2fx |" % line)
        else:
            print("%5d users: first %.1f s (%d tasks), no-op %.1f s (%d tasks, changed=%d), %d not answering, "
                  "ratios %.2fx / %.2fx" % line)
    print("\nseconds per phase (profile_tasks), first converge / no-op:")
    for count, first, second, _failing in rows:
        order = sorted(first["phases"], key=lambda k: -first["phases"][k])
        cells = ["%s %.1f/%.1f" % (k, first["phases"][k], second["phases"].get(k, 0)) for k in order]
        print("  %d users: %s" % (count, ", ".join(cells)))
    tasks = set(r[1]["tasks"] for r in rows) | set(r[2]["tasks"] for r in rows)
    ok = (len(set(r[2]["tasks"] for r in rows)) == 1 and all(r[2]["changed"] == 0 and r[3] == 0 for r in rows))
    print("tasks executed per run: %s" % sorted(tasks))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
