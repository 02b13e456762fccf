"""Every role's defaults and argument_specs agree, and docs/variables.md is generated from them."""
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(d for d in os.listdir(os.path.join(ROOT, "roles")) if not d.startswith("."))


def load(role, *path):
    with open(os.path.join(ROOT, "roles", role, *path)) as handle:
        return yaml.safe_load(handle) or {}


@pytest.mark.parametrize("role", ROLES)
def test_defaults_match_argument_specs(role):
    defaults = load(role, "defaults", "main.yml")
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options)
    for name, value in defaults.items():
        assert options[name].get("default") == value, name
        assert name.startswith(role + "_"), "public variables carry the role's name: %s" % name


@pytest.mark.parametrize("role", ROLES)
def test_role_has_readme_and_meta(role):
    for path in ("README.md", "meta/main.yml", "tasks/main.yml"):
        assert os.path.exists(os.path.join(ROOT, "roles", role, path)), path


def test_variables_doc_is_up_to_date():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "variables_doc.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
