"""Frontend overhead: requests/s of a 1 KiB static page through the frontend vs. directly to the backend.

On one podman test host (Debian 13), converged with playbooks/site.yml and one
Apache user, wrk runs inside the host against 127.0.0.1 (loopback only), with
keep-alive, bounded in time: directly to the user's backend port, and through
the frontend on port 80 with the Host header set. Then the same with 10,000
vhosts in the frontend's map (the user gets 10,000 vhosts through the role).

Targets (issue 3): through-frontend >= 85% of direct; with 10,000 vhosts at
most 5% slower than with 10.

With --frontend nginx the host is converged with frontend_kind: nginx (map to one
pooled upstream per backend) and the same measurements are taken through nginx.

Usage: .venv/bin/python bench/frontend_bench.py [--frontend apache|nginx] [--duration 10] [--connections 32 128]
                                                 [--rounds 3] [--markdown]
"""
import argparse
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from converge_bench import ROOT, BIN, ansible_env, sh, start_host  # noqa: E402

NAME = "sharedhost-bench-frontend"
ERRORS = []
# Per frontend kind: the service, the file with one line per routed vhost (and what marks such a line), the error log.
FRONTENDS = {
    "apache": {"service": "apache2", "map": "/etc/apache2/sharedhost/vhosts.map", "line": r"127\.0\.0\.1:",
               "error_log": "/var/log/apache2/sharedhost-error.log"},
    "nginx": {"service": "nginx", "map": "/etc/nginx/sharedhost/routes.conf", "line": r"^    [^ ]+ sharedhost_[a-z0-9_]+;$",
              "error_log": "/var/log/nginx/sharedhost-error.log"},
}
FRONTEND = dict(FRONTENDS["apache"])


def converge(workdir, vhost_count, kind):
    vhosts = ["web.bench.test"] + ["v%05d.bench.test" % n for n in range(vhost_count - 1)]
    inventory = os.path.join(workdir, "hosts.yml")
    with open(inventory, "w") as handle:
        json.dump({"sharedhost_servers": {"hosts": {NAME: {
            "ansible_connection": "podman_pipelined", "ansible_python_interpreter": "/usr/bin/python3",
            "frontend_kind": kind, "sharedhost_users": [{"name": "web", "vhosts": vhosts}]}}}}, handle)
    env = ansible_env()
    proc = sh(os.path.join(BIN, "ansible-playbook"), "-i", inventory, os.path.join(ROOT, "playbooks", "site.yml"),
              env=env, check=False)
    if proc.returncode:
        raise SystemExit("converge failed:\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-2000:]))
    lines = sh("podman", "exec", NAME, "grep", "-cE", "--", FRONTEND["line"], FRONTEND["map"]).stdout
    assert int(lines) == vhost_count, lines


def wrk(url, host_header, duration, connections):
    out = sh("podman", "exec", NAME, "timeout", str(duration + 30), "wrk", "-t2", "-c%d" % connections,
             "-d%ds" % duration, "--latency", "-H", "Host: %s" % host_header, url).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:  # counted and shown in the results; the frontend's error log says why
        ERRORS.append((url, connections, int(errors.group(1))))
        log = sh("podman", "exec", NAME, "tail", "-n", "5", FRONTEND["error_log"], check=False)
        sys.stderr.write("%s (%d connections): %s non-2xx answers\n%s" % (url, connections, errors.group(1), log.stdout))
    return rps, p99_ms


def measure(port, opts, connections):
    # A fresh frontend (no old generation left from the converge's graceful reload).
    sh("podman", "exec", NAME, "systemctl", "restart", FRONTEND["service"])
    direct, front = [], []
    for _round in range(opts.rounds):  # interleaved, so drift hits both alike
        direct.append(wrk("http://127.0.0.1:%d/1k.html" % port, "web.bench.test", opts.duration, connections))
        front.append(wrk("http://127.0.0.1/1k.html", "web.bench.test", opts.duration, connections))
    return max(direct), max(front)


def main():
    global NAME  # pylint: disable=global-statement
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--frontend", choices=sorted(FRONTENDS), default="apache")
    parser.add_argument("--container", default=NAME, help="name of the test host (a sharedhost-* name of your own)")
    opts = parser.parse_args()
    FRONTEND.update(FRONTENDS[opts.frontend])
    NAME = opts.container

    start_host(NAME, "trixie")
    results = {}
    try:
        with tempfile.TemporaryDirectory() as workdir:
            converge(workdir, 10, opts.frontend)
            sh("podman", "exec", NAME, "sh", "-c", "apt-get install -y -qq wrk >/dev/null")
            sh("podman", "exec", NAME, "runuser", "-u", "web", "--", "sh", "-c",
               "head -c 1024 /dev/zero | tr '\\0' x > /home/web/public_html/1k.html")
            port = json.loads(sh("podman", "exec", NAME, "cat", "/var/lib/sharedhost/ports.json").stdout)[
                "users"]["web"]["ports"][0]
            for conns in opts.connections:
                results[10, conns] = measure(port, opts, conns)
            converge(workdir, 10000, opts.frontend)
            for conns in opts.connections:
                results[10000, conns] = measure(port, opts, conns)
    finally:
        sh("podman", "rm", "-f", "-t", "0", NAME, check=False)

    rows = []
    for count in (10, 10000):
        for conns in opts.connections:
            (direct_rps, direct_p99), (front_rps, front_p99) = results[count, conns]
            rows.append((count, conns, direct_rps, direct_p99, front_rps, front_p99, 100.0 * front_rps / direct_rps))
    slowdowns = ["%d connections: %.1f%%" % (c, 100.0 * (1 - results[10000, c][1][0] / results[10, c][1][0]))
                 for c in opts.connections]
    print("Frontend: %s" % opts.frontend)
    if opts.markdown:
        print("| vhosts in map | connections | direct req/s | direct p99 | frontend req/s | frontend p99 | frontend / direct |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            print("| %d | %d | %.0f | %.2f ms | %.0f | %.2f ms | %.1f%% |" % row)
        print("\nThrough the frontend, 10,000 vhosts vs. 10, slower by (negative: faster): %s." % ", ".join(slowdowns))
        print("\nNon-2xx answers: %s." % (", ".join("%d at %d connections (%s)" % (n, c, u) for u, c, n in ERRORS)
                                          or "none"))
    else:
        for row in rows:
            print("%5d vhosts, %3d connections: direct %.0f req/s (p99 %.2f ms), frontend %.0f req/s (p99 %.2f ms)"
                  " = %.1f%%" % row)
        print("10,000 vhosts vs 10 through the frontend, slower by: %s" % ", ".join(slowdowns))
        print("non-2xx answers: %r" % ERRORS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
