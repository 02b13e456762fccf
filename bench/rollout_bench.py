"""Fleet rollout: 4 hosts x 100 users against one host with 100 users, in the same run.

Fresh Debian 13 podman test hosts, each with its own 100 users (Apache
backends, one vhost each); playbooks/site.yml with forks 4. Measured: the
single host's first converge and no-op re-run, then the same for the 4-host
fleet, once with every host in one batch (-e sharedhost_serial=0) and once
with the default batches (one canary host, then 25 %: four batches of one).

Target (issue 5): the 4-host rollout at most 2x the single host's wall time.

Every test host gets the same CPU budget (--host-cpus, podman --cpus; default
0.4 of a core, so 4 hosts and the controller fit this machine's 2 cores), as
real hosts each bring their own CPUs: without it a lone test host has every
core of the machine to itself while 4 hosts share them, and the comparison
measures the machine, not the rollout. --host-cpus 0 runs them unbounded.

With --profile DIR each run writes its per-task CPU profile (callback
bench/callback_plugins/sharedhost_cpu_profile.py: wall, CPU inside the test
hosts, busy time of the machine) to DIR/<hosts>-<serial or default>-<first|again>.txt.

Usage: .venv/bin/python bench/rollout_bench.py [--users 100] [--hosts 4] [--host-cpus 0.4] [--no-default-batches]
                                               [--profile DIR] [--markdown]
Runs only against the project's own podman test hosts (sharedhost-bench-fleet-N), removed afterwards.
"""
import argparse
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from converge_bench import BIN, ROOT, ansible_env, sh, start_host  # noqa: E402


def users_for(host_index, count):
    return [{"name": "h%du%04d" % (host_index, n), "vhosts": ["h%du%04d.bench.test" % (host_index, n)]}
            for n in range(count)]


def rollout(workdir, names, count, serial, profile):
    inventory = os.path.join(workdir, "hosts-%d.yml" % len(names))
    with open(inventory, "w") as handle:
        json.dump({"sharedhost_servers": {"hosts": dict((name, {
            "ansible_connection": "podman_pipelined", "ansible_python_interpreter": "/usr/bin/python3",
            "sharedhost_users": users_for(index, count)}) for index, name in enumerate(names))}}, handle)
    env = ansible_env(ANSIBLE_FORKS="4")
    if profile:  # the file this run's per-task CPU profile goes to
        env.update(ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "bench", "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="sharedhost_cpu_profile", SHAREDHOST_CPU_PROFILE=profile)
    args = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, os.path.join(ROOT, "playbooks", "site.yml")]
    if serial is not None:
        args += ["-e", "sharedhost_serial=%s" % serial]
    started = time.perf_counter()
    proc = sh(*args, env=env, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit("rollout failed:\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-2000:]))
    changed = sum(int(c) for c in re.findall(r"changed=(\d+)", proc.stdout.split("PLAY RECAP")[-1]))
    return elapsed, changed


def measure(names, count, serial, opts):
    extra = ("--cpus", str(opts.host_cpus)) if opts.host_cpus else ()

    def profile(label):
        return opts.profile and os.path.join(opts.profile, "%d-%s-%s.txt" % (
            len(names), "default" if serial is None else serial, label))

    for name in names:
        start_host(name, "trixie", extra)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            first, _changed = rollout(workdir, names, count, serial, profile("first"))
            again, changed = rollout(workdir, names, count, serial, profile("again"))
    finally:
        for name in names:
            sh("podman", "rm", "-f", "-t", "0", name, check=False)
    return first, again, changed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--host-cpus", type=float, default=0.4, help="CPU budget of each test host (0: none)")
    parser.add_argument("--no-default-batches", action="store_true", help="skip the run with the default batches")
    parser.add_argument("--profile", metavar="DIR", help="write each run's per-task CPU profile here")
    parser.add_argument("--markdown", action="store_true")
    opts = parser.parse_args()
    if opts.profile:
        opts.profile = os.path.abspath(opts.profile)
        os.makedirs(opts.profile, exist_ok=True)
    fleet = ["sharedhost-bench-fleet-%d" % n for n in range(opts.hosts)]
    rows = [("1 host", measure(fleet[:1], opts.users, None, opts))]
    rows.append(("%d hosts, one batch (serial 0)" % opts.hosts, measure(fleet, opts.users, 0, opts)))
    if not opts.no_default_batches:
        rows.append(("%d hosts, default batches (1, then 25 %%)" % opts.hosts,
                     measure(fleet, opts.users, None, opts)))
    print("CPU budget of each test host: %s" % ("%.2f cores" % opts.host_cpus if opts.host_cpus else "none"))
    base = rows[0][1][0]
    if opts.markdown:
        print("| rollout (%d users per host, forks 4) | first | no-op re-run | changed in re-run | first / 1 host |"
              % opts.users)
        print("| --- | --- | --- | --- | --- |")
        for label, (first, again, changed) in rows:
            print("| %s | %.1f s | %.1f s | %d | %.2fx |" % (label, first, again, changed, first / base))
    else:
        for label, (first, again, changed) in rows:
            print("%-40s first %.1f s, no-op %.1f s (changed=%d), %.2fx" % (label, first, again, changed, first / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
