"""Run the collection's modules through the real ansible CLI from the tests.

One place for the environment (collection path, JSON callback) and the
runners, shared by the localhost module tests and the podman test-host tests.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, "build", "collections")


def ansible_env(**extra):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS + os.pathsep + env.get("ANSIBLE_COLLECTIONS_PATH", ""),
        "ANSIBLE_CONNECTION_PLUGINS": os.path.join(ROOT, "molecule", "resources", "plugins", "connection"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_NOCOLOR": "1",
    })
    env.update(extra)
    return env


def run_json_playbook(inventory, play, flags=(), timeout=300, **env):
    """Run ansible-playbook with the JSON callback; return (rc, parsed report)."""
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(inventory), str(play)] + list(flags),
                          env=ansible_env(**env), capture_output=True, text=True, timeout=timeout, check=False)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        pytest.fail("ansible-playbook printed no JSON (rc %d): %s %s" % (proc.returncode, proc.stdout, proc.stderr))


def local_task(tmp_path, module, args, *flags, name="play.yml"):
    """Run one task of a module on localhost; return (rc, task result)."""
    path = tmp_path / name
    path.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "tasks": [{"name": "task", module: args}],
    }]))
    rc, report = run_json_playbook("localhost,", path, flags, timeout=120, ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    return rc, report["plays"][0]["tasks"][0]["hosts"]["localhost"]


def ansible_doc(name):
    return subprocess.run([os.path.join(BIN, "ansible-doc"), name], env=ansible_env(), capture_output=True,
                          text=True, timeout=120, check=False)
