"""pytest plugin for the Molecule testinfra verifier of this project.

Molecule hands testinfra its Ansible inventory. testinfra runs commands itself
(over ssh, docker, ...) only for connection types it knows; for
``containers.podman.podman`` (and this project's ``podman_pipelined``) it falls back to one ``ansible`` process per command,
about a second each. This plugin maps that connection to testinfra's own podman
backend (``podman exec``), so tests stay fast while the hosts keep their
inventory names and ``host.ansible`` still works.

Loaded through ``PYTEST_PLUGINS`` by .config/molecule/config.yml.
"""

from __future__ import annotations

import testinfra
from testinfra.utils import ansible_runner

PODMAN_CONNECTIONS = ("containers.podman.podman", "podman", "podman_pipelined")
_original_get_ansible_host = ansible_runner.get_ansible_host


def _get_ansible_host(config, inventory, host, ssh_config=None, ssh_identity_file=None):
    hostvars = inventory.get("_meta", {}).get("hostvars", {}).get(host, {})
    if hostvars.get("ansible_connection") in PODMAN_CONNECTIONS:
        container = hostvars.get("ansible_host") or host
        user = hostvars.get("ansible_user")
        spec = f"podman://{user}@{container}" if user else f"podman://{container}"
        return testinfra.get_host(spec)
    return _original_get_ansible_host(
        config, inventory, host, ssh_config=ssh_config, ssh_identity_file=ssh_identity_file
    )


ansible_runner.get_ansible_host = _get_ansible_host
