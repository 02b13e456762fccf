"""Helpers of the fleet verification: commands in the test hosts, HTTP through a frontend,
rollouts of the whole inventory with users placed per host."""

import copy
import json
import os
import subprocess

import yaml

from sharedhost_verify import ROOT, run_playbook

PREFIX = "sharedhost-multihost-"
USERS_FILE = os.path.join(ROOT, "molecule", "multihost", "inventory", "group_vars", "all.yml")
ADDRESS = {"fe-1": "10.89.231.10", "be-1": "10.89.231.11", "be-2": "10.89.231.12",
           "srv-a": "10.89.231.21", "srv-b": "10.89.231.22"}


def placement():
    """Host -> users, as the scenario's inventory places them."""
    with open(USERS_FILE) as handle:
        return copy.deepcopy(yaml.safe_load(handle)["multihost_users"])


def sh(name, command, check=True, timeout=120):
    """Run a shell command in a test host; (rc, stdout)."""
    proc = subprocess.run(["podman", "exec", PREFIX + name, "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert proc.returncode == 0, "%s: %s\n%s%s" % (name, command, proc.stdout, proc.stderr)
    return proc.returncode, proc.stdout


def http(frontend, vhost):
    """(status, body) of a request to the frontend host's port 80 with the Host header set."""
    _rc, out = sh(frontend, "curl -s -m 10 -w '\\n%%{http_code}' -H 'Host: %s' http://127.0.0.1/" % vhost)
    body, _sep, status = out.rpartition("\n")
    return status.strip(), body


def registry(name):
    return json.loads(sh(name, "cat /var/lib/sharedhost/ports.json")[1])


def rollout(users=None, extra=(), expect_failure=False):
    """Run playbooks/site.yml on the whole inventory; users (host -> entries) replace the placement."""
    args = []
    if users is not None:
        path = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "multihost-users.json")
        with open(path, "w") as handle:
            json.dump({"multihost_users": users}, handle)
        args += ["-e", "@" + path]
    return run_playbook("site.yml", args + list(extra), expect_failure=expect_failure, timeout=1200,
                        ANSIBLE_FORKS="5")


def recap(output):
    """host -> {ok, changed, failed, ...} from the PLAY RECAP of an ansible-playbook run."""
    result = {}
    started = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            started = True
            continue
        if started and " : " in line:
            host, _sep, counts = line.partition(" : ")
            result[host.strip()] = dict((k, int(v)) for k, v in (item.split("=") for item in counts.split()))
    return result
