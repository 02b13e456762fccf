"""ansible-galaxy builds a tarball that installs, and its modules then work by FQCN."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run(*cmd, **kwargs):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=300, check=False, **kwargs)


def test_build_install_and_run_by_fqcn(tmp_path):
    built = run(os.path.join(BIN, "ansible-galaxy"), "collection", "build", ROOT, "--output-path", str(tmp_path))
    assert built.returncode == 0, built.stderr
    tarball = [name for name in os.listdir(str(tmp_path)) if name.endswith(".tar.gz")]
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        version = [line.split()[1] for line in handle if line.startswith("version:")][0]
    assert tarball == ["sharedhost-hosting-%s.tar.gz" % version]
    listing = run("tar", "tzf", str(tmp_path / tarball[0])).stdout.split()
    assert "plugins/modules/port_allocation.py" in listing and "roles/backends/tasks/main.yml" in listing
    assert not [name for name in listing if name.startswith((".venv", "build/", ".git/"))]

    install_dir = tmp_path / "installed"
    # --force: with the work tree on ANSIBLE_COLLECTIONS_PATH (as in scripts/test.sh),
    # ansible-galaxy would otherwise find the collection installed and skip it.
    installed = run(os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "--force", "-p",
                    str(install_dir), str(tmp_path / tarball[0]))
    assert installed.returncode == 0, installed.stderr

    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(install_dir), ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    registry = tmp_path / "ports.json"
    result = run(os.path.join(BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                 "-m", "sharedhost.hosting.port_allocation",
                 "-a", json.dumps({"registry": str(registry), "users": [{"name": "alice"}], "skip_listening": False}),
                 env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    host = json.loads(result.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert host["ports"] == {"alice": [20000]}
    # The module that ran came from the installed tarball, not the work tree.
    doc = run(os.path.join(BIN, "ansible-doc"), "-j", "sharedhost.hosting.port_allocation", env=env)
    assert str(install_dir) in json.loads(doc.stdout)["sharedhost.hosting.port_allocation"]["doc"]["filename"]
