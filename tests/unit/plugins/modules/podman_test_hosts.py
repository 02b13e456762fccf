"""Throwaway systemd test hosts (podman containers) for module tests, and a playbook runner.

Used by test_backend_services_systemd.py and test_hosted_accounts_container.py. Each
test module starts its own containers from the project's test images (one per
Debian release found), runs the module through ansible-playbook with the
connection podman_pipelined (molecule/resources/plugins/connection), and removes the containers afterwards.
"""
import json
import shutil
import subprocess
import time
import uuid

import pytest

from ansible_cli import run_json_playbook

IMAGES = ("localhost/sharedhost-test:bookworm", "localhost/sharedhost-test:trixie")


def podman(*args, **kwargs):
    kwargs.setdefault("timeout", 60)
    return subprocess.run(["podman"] + list(args), capture_output=True, text=True, check=False, **kwargs)


def sh(container, script, check=True):
    """Run a shell script in the container; return stdout."""
    proc = podman("exec", container, "/bin/sh", "-c", script)
    if check and proc.returncode != 0:
        raise AssertionError("in %s: %s\nrc %d: %s%s" % (container, script, proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


def start_hosts(prefix):
    """Start one container per available image; return their names (skip if none can run)."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    images = [image for image in IMAGES if podman("image", "exists", image).returncode == 0]
    if not images:
        pytest.skip("no test host image (%s); build them with scripts/build-images.sh" % ", ".join(IMAGES))
    names = []
    tag = uuid.uuid4().hex[:6]
    for image in images:
        name = "%s-%s-%s" % (prefix, image.rsplit(":", 1)[1], tag)
        proc = podman("run", "-d", "--name", name, "--runtime", "runc",
                      "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
                      "--systemd=always", "--cap-add", "NET_ADMIN", image, "/sbin/init")
        if proc.returncode != 0:
            stop_hosts(names)
            pytest.fail("cannot start %s: %s" % (image, proc.stderr))
        names.append(name)
    deadline = time.time() + 30
    for name in names:
        while True:
            state = podman("exec", name, "systemctl", "is-system-running").stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.time() > deadline:
                stop_hosts(names)
                pytest.fail("systemd in %s did not come up: %s" % (name, state))
            time.sleep(0.2)
    return names


def stop_hosts(names):
    for name in names:
        podman("rm", "-f", "-t", "0", name)


def run_playbook(tmp_path, hosts, tasks, *flags):
    """Run tasks on all hosts in one play; return {host: [task results in order]}."""
    inventory = tmp_path / "inventory"
    inventory.write_text("".join(
        "%s ansible_connection=podman_pipelined ansible_python_interpreter=/usr/bin/python3\n" % host
        for host in hosts))
    play = tmp_path / "play.json"
    play.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    _rc, report = run_json_playbook(inventory, play, flags, ANSIBLE_FORKS="10")
    results = dict((host, []) for host in hosts)
    for task in report["plays"][0]["tasks"]:
        for host in hosts:
            results[host].append(task["hosts"].get(host))
    return results
