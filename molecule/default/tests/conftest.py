"""Helpers of the end-to-end verification: the example users, HTTP through the
frontend, the registry, container restarts and playbook re-runs."""

import base64
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLE_VARS = os.path.join(ROOT, "examples", "inventory", "group_vars", "sharedhost_servers.yml")
CONTAINER_PREFIX = "sharedhost-%s-" % os.environ.get("MOLECULE_SCENARIO_NAME", "default")


def example_users():
    with open(EXAMPLE_VARS) as handle:
        return yaml.safe_load(handle)["sharedhost_users"]


@pytest.fixture(scope="session")
def users():
    return example_users()


def http(host, vhost, path="/"):
    """(status, body) of a request through the frontend on port 80, Host header set."""
    result = host.run("curl -s -m 10 -o /tmp/.verify-body -w '%%{http_code}' -H 'Host: %s' http://127.0.0.1%s",
                      vhost, path)
    body = host.run("cat /tmp/.verify-body").stdout
    return result.stdout.strip(), body


def registry(host):
    return json.loads(host.file("/var/lib/sharedhost/ports.json").content_string)


def listeners(host):
    """port -> uid of every TCP listener, from /proc/net/tcp{,6}."""
    owners = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in host.file(path).content_string.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 7 and fields[3] == "0A":
                owners[int(fields[1].split(":")[1], 16)] = int(fields[7])
    return owners


def platform(host):
    """The host's inventory name (the Molecule platform)."""
    return host.backend.host


def container(host):
    return CONTAINER_PREFIX + platform(host)


def wait_until(predicate, timeout=90, step=1.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, message))


def backends_active(host, names):
    units = " ".join("sharedhost-backend@%s.service" % n for n in names)
    states = host.run("systemctl is-active %s" % units).stdout.split()
    return states == ["active"] * len(names)


def restart_container(host):
    subprocess.run(["podman", "restart", "-t", "10", container(host)], check=True, capture_output=True, timeout=120)
    wait_until(lambda: host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded"),
               message="systemd to boot in %s" % container(host))


def run_site(host, users_override, expect_failure=False, extra_args=(), extra_vars=None):
    """Run playbooks/site.yml on this host only, with sharedhost_users replaced (and more extra vars)."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    extra = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "verify-%s.json" % platform(host))
    with open(extra, "w") as handle:
        json.dump(dict(extra_vars or {}, sharedhost_users=users_override), handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
               ANSIBLE_CONNECTION_PLUGINS=os.path.join(ROOT, "molecule", "resources", "plugins", "connection"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([playbook, "-i", inventory, os.path.join(ROOT, "playbooks", "site.yml"),
                           "--limit", platform(host), "-e", "@" + extra] + list(extra_args),
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    if expect_failure:
        assert proc.returncode != 0, output[-3000:]
    else:
        assert proc.returncode == 0, output[-6000:]
    return output


def write_as(host, user, path, content):
    """Replace a file's content as the given (unprivileged) user."""
    encoded = base64.b64encode(content.encode()).decode()
    host.check_output("echo %s | base64 -d | runuser -u %s -- tee %s >/dev/null", encoded, user, path)
