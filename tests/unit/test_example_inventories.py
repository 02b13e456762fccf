"""The example inventories pass the pre-flight check of site.yml, and a broken copy does not."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from ansible_collections.sharedhost.hosting.plugins.filter.rollout import rollout_layout
from ansible_collections.sharedhost.hosting.plugins.module_utils.rollout_layout import layout_problems

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def layout_of(inventory):
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", inventory,
                           "--list"], capture_output=True, text=True, timeout=120, check=True)
    doc = json.loads(proc.stdout)
    groups = dict((name, doc.get(name, {}).get("hosts", [])) for name in doc if name != "_meta")
    return rollout_layout(groups, doc["_meta"]["hostvars"])


@pytest.mark.parametrize("name", ["inventory", "fleet"])
def test_example_inventory_passes_the_preflight(name):
    layout = layout_of(os.path.join(ROOT, "examples", name))
    assert layout["servers"] or layout["backends"]
    assert layout_problems(layout) == []


def test_the_fleet_example_with_a_user_on_two_hosts_fails(tmp_path):
    copy = tmp_path / "fleet"
    shutil.copytree(os.path.join(ROOT, "examples", "fleet"), str(copy))
    with open(str(copy / "host_vars" / "back2.example.test.yml"), "a") as handle:
        handle.write("  - name: carol\n    vhosts: [carol2.example.test]\n")
    assert layout_problems(layout_of(str(copy))) == [
        "user carol is placed on both back1.example.test and back2.example.test"]
