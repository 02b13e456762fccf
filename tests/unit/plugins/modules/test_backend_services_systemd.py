"""backend_services against real systemd: podman test hosts (Debian 12 and 13 when both images exist).

One playbook covers the life cycle on every host at once: first run enables and starts all
units while a broken one is reported with its journal, a second run changes nothing,
check mode changes nothing, restart/reload touch only the listed unit (MainPID), a
hanging start does not hold up the others, strict fails, absent stops and disables.
"""
import pytest

from ansible_cli import ansible_doc
from podman_test_hosts import run_playbook, sh, start_hosts, stop_hosts

DEMO = """[Unit]
Description=demo %i
[Service]
ExecStart=/bin/sleep infinity
ExecReload=/bin/true
[Install]
WantedBy=multi-user.target
"""
HANG = """[Service]
ExecStartPre=/bin/sleep 60
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
"""
BAD_DROPIN = "[Service]\nExecStart=\nExecStart=/bin/false\n"
MOD = "sharedhost.hosting.backend_services"
A, B, BAD, C, OLD, HUNG = ("demo@a.service", "demo@b.service", "demo@bad.service", "demo@c.service",
                           "demo@old.service", "hang@1.service")
ALL = [A, B, BAD]


@pytest.fixture(scope="module")
def hosts():
    names = start_hosts("bs-pytest")
    try:
        for name in names:
            sh(name, "cat > /etc/systemd/system/demo@.service <<'EOF'\n%sEOF\n"
                     "cat > /etc/systemd/system/hang@.service <<'EOF'\n%sEOF\n"
                     "mkdir -p /etc/systemd/system/demo@bad.service.d\n"
                     "printf '%s' > /etc/systemd/system/demo@bad.service.d/override.conf\n"
                     "systemctl daemon-reload && systemctl enable --now %s\n"
                     % (DEMO, HANG, BAD_DROPIN.replace("\n", "\\n"), OLD))
        yield names
    finally:
        stop_hosts(names)


def test_life_cycle_on_real_systemd(hosts, tmp_path):
    tasks = [
        # 0: first run
        {MOD: {"present": ALL, "absent": [OLD], "daemon_reload": True}},
        # 1: second run
        {MOD: {"present": ALL, "absent": [OLD]}},
        # 2
        {"ansible.builtin.command": "systemctl show -p MainPID --value %s %s" % (A, B), "register": "p1",
         "changed_when": False},
        # 3: check mode with everything at once
        {MOD: {"present": [A, C], "absent": [B], "restart": [A]}, "check_mode": True},
        # 4: restart only A, reload only B
        {MOD: {"present": ALL, "restart": [A], "reload": [B]}},
        # 5
        {"ansible.builtin.command": "systemctl show -p MainPID --value %s %s" % (A, B), "register": "p2",
         "changed_when": False},
        # 6: a start that hangs does not hold up the others
        {MOD: {"present": [C, HUNG], "wait_timeout": 2}},
        # 7: strict
        {MOD: {"present": ALL, "strict": True}, "ignore_errors": True},
        # 8: absent
        {MOD: {"absent": ALL + [C, HUNG, "nothing@here.service"]}},
        # 9: absent again
        {MOD: {"absent": ALL + [C, HUNG, "nothing@here.service"]}},
    ]
    results = run_playbook(tmp_path, hosts, tasks)
    for host in hosts:
        r = results[host]
        first = r[0]
        assert not first.get("failed"), first
        assert first["changed"] is True
        assert first["enabled"] == ALL and first["started"] == ALL
        assert first["disabled"] == [OLD] and first["stopped"] == [OLD]
        assert first["states"] == {A: "active", B: "active", BAD: "failed", OLD: "inactive"}
        assert list(first["failed_units"]) == [BAD]
        bad = first["failed_units"][BAD]
        assert bad["state"] == "failed" and bad["result"] == "exit-code"
        assert "status=1/FAILURE" in bad["journal"]
        assert any(BAD in w for w in first["warnings"])

        second = r[1]
        assert second["changed"] is False, second
        assert second["enabled"] == [] and second["disabled"] == [] and second["stopped"] == []
        assert list(second["failed_units"]) == [BAD]  # retried, still broken, no change

        checked = r[3]
        assert checked["changed"] is True
        assert checked["started"] == [C] and checked["enabled"] == [C] and checked["restarted"] == [A]
        assert checked["stopped"] == [B] and checked["disabled"] == [B]

        p1, p2 = r[2]["stdout_lines"], r[5]["stdout_lines"]
        p1 = [p for p in p1 if p]
        p2 = [p for p in p2 if p]
        restarted = r[4]
        assert restarted["changed"] is True
        assert restarted["restarted"] == [A] and restarted["reloaded"] == [B] and restarted["started"] == [BAD]
        assert p1[0] != p2[0], "A was restarted: new MainPID"
        assert p1[1] == p2[1], "B was reloaded or left alone: same MainPID (so check mode did not stop it)"

        hung = r[6]
        assert hung["states"][C] == "active" and hung["states"][HUNG] == "activating"
        assert list(hung["failed_units"]) == [HUNG]
        assert any("still changing state" in w for w in hung["warnings"])

        strict = r[7]
        assert strict["failed"] is True and BAD in strict["msg"]

        absent = r[8]
        assert absent["changed"] is True and absent["failed_units"] == {}
        assert absent["disabled"] == ALL + [C, HUNG]
        assert absent["stopped"] == [A, B, C, HUNG]
        assert set(absent["states"].values()) <= {"inactive", "failed"}
        assert r[9]["changed"] is False and r[9]["stopped"] == r[9]["disabled"] == []

        units = " ".join(ALL + [C, HUNG, OLD])
        lines = sh(host, "systemctl is-enabled %s; systemctl is-active %s; true" % (units, units)).split()
        assert lines[:6] == ["disabled"] * 6
        assert "active" not in lines[6:] and "activating" not in lines[6:]


def test_ansible_doc_renders():
    proc = ansible_doc(MOD)
    assert proc.returncode == 0, proc.stderr
    for needle in ("present", "absent", "restart", "reload", "daemon_reload", "strict", "wait_timeout",
                   "settle_seconds", "failed_units", "EXAMPLES", "RETURN VALUES"):
        assert needle in proc.stdout
