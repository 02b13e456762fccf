"""Benchmark of the port allocator with 10,000 users in one call.

Measures (targets from issue 2):
  * the pure core (plan) on an empty registry: < 0.5 s
  * the whole module run through `ansible-playbook` against localhost: < 3 s
  * the identical second run, changed=false: < 2 s
  * peak RSS of the module process: < 100 MB

The module process is measured through an interpreter wrapper that runs the
real Python as a child and records the child's ru_maxrss.

Usage: .venv/bin/python bench/allocator_bench.py [--users 10000] [--markdown]
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "build", "collections")
sys.path.insert(0, COLLECTIONS)

from ansible_collections.sharedhost.hosting.plugins.module_utils.port_allocator import plan  # noqa: E402
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import empty_registry  # noqa: E402

WRAPPER = """#!%(python)s
import resource, subprocess, sys
rc = subprocess.call([%(python)r] + sys.argv[1:])
with open(%(log)r, "a") as log:
    log.write("%%d\\n" %% resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)
"""


def parse_time(stamp):
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def best_of(times, func):
    results = []
    for _attempt in range(times):
        started = time.perf_counter()
        func()
        results.append(time.perf_counter() - started)
    return min(results), max(results)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--markdown", action="store_true")
    opts = parser.parse_args()

    users = [{"name": "user%05d" % n, "vhosts": ["user%05d.example.test" % n]} for n in range(opts.users)]
    port_range = {"start": 20000, "end": 39999}

    core_best, core_worst = best_of(5, lambda: plan(empty_registry(), users, port_range))

    work = tempfile.mkdtemp(prefix="sharedhost-bench-")
    registry = os.path.join(work, "ports.json")
    rss_log = os.path.join(work, "rss.log")
    wrapper = os.path.join(work, "python-rss")
    with open(wrapper, "w") as handle:
        handle.write(WRAPPER % {"python": sys.executable, "log": rss_log})
    os.chmod(wrapper, 0o755)
    play = os.path.join(work, "play.yml")
    with open(play, "w") as handle:
        json.dump([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                    "tasks": [{"name": "allocate", "sharedhost.hosting.port_allocation": {
                        "registry": registry, "port_range": port_range, "users": users}}]}], handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_PYTHON_INTERPRETER=wrapper,
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="false")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

    def run_play():
        started = time.perf_counter()
        proc = subprocess.run([playbook, "-i", "localhost,", play], env=env, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode:
            sys.exit("ansible-playbook failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))
        task = json.loads(proc.stdout)["plays"][0]["tasks"][0]
        duration = task["task"]["duration"]
        task_time = (parse_time(duration["end"]) - parse_time(duration["start"]))
        return elapsed, task_time, task["hosts"]["localhost"]

    first_time, first_task, first = run_play()
    second_time, second_task, second = run_play()
    with open(rss_log) as handle:
        peak_kib = max(int(line) for line in handle if line.strip())
    assert first["changed"] and not second["changed"]
    assert len(first["ports"]) == opts.users

    rows = [
        ("core: plan() for %d new users (best of 5)" % opts.users, "%.3f s" % core_best, "< 0.5 s",
         core_best < 0.5),
        ("module task, first run (changed=true)", "%.2f s" % first_task, "< 3 s", first_task < 3),
        ("module task, identical second run (changed=false)", "%.2f s" % second_task, "< 2 s", second_task < 2),
        ("whole ansible-playbook process, first run", "%.2f s" % first_time, "(3 s)", first_time < 3),
        ("whole ansible-playbook process, second run", "%.2f s" % second_time, "(2 s)", second_time < 2),
        ("peak RSS of the module process", "%.1f MB" % (peak_kib / 1024.0), "< 100 MB", peak_kib / 1024.0 < 100),
    ]
    if opts.markdown:
        print("| measurement | result | target | met |")
        print("| --- | --- | --- | --- |")
        for name, value, target, met in rows:
            print("| %s | %s | %s | %s |" % (name, value, target, "yes" if met else "**no**"))
    else:
        for name, value, target, met in rows:
            print("%-70s %10s  (target %s) %s" % (name, value, target, "ok" if met else "MISSED"))
    return 0 if all(row[3] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
