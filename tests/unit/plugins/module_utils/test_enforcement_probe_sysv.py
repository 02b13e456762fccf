"""The socket-bind probe on a host without systemd: the layer is reported inactive, nothing is run."""
from ansible_collections.sharedhost.hosting.plugins.module_utils.enforcement_probe import (
    probe_socket_bind,
    systemd_booted,
)


def test_no_systemd_means_an_inactive_layer_without_running_anything():
    calls = []

    def runner(*args, **kwargs):
        calls.append(args)
        raise AssertionError("systemd-run must not be called on a SysV host")

    result = probe_socket_bind(20000, 20001, runner=runner, booted=lambda: False)
    assert result["active"] is False
    assert "SysV" in result["detail"]
    assert calls == []


def test_systemd_booted_looks_for_its_runtime_directory(tmp_path):
    assert systemd_booted(str(tmp_path)) is True
    assert systemd_booted(str(tmp_path / "missing")) is False
