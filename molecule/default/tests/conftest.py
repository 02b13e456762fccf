"""Helpers of the end-to-end verification: the example users, HTTP through the
frontend, the registry, container restarts and playbook re-runs."""

import json
import os

import pytest

from sharedhost_verify import example_users, platform, run_playbook


@pytest.fixture(scope="session")
def users():
    return example_users()


def backends_active(host, names):
    units = " ".join("sharedhost-backend@%s.service" % n for n in names)
    states = host.run("systemctl is-active %s" % units).stdout.split()
    return states == ["active"] * len(names)


def run_site(host, users_override, expect_failure=False, extra_args=(), extra_vars=None):
    """Run playbooks/site.yml on this host only, with sharedhost_users replaced (and more extra vars)."""
    extra = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "verify-%s.json" % platform(host))
    with open(extra, "w") as handle:
        json.dump(dict(extra_vars or {}, sharedhost_users=users_override), handle)
    return run_playbook("site.yml", ["--limit", platform(host), "-e", "@" + extra] + list(extra_args),
                        expect_failure=expect_failure)
