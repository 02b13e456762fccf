"""The rollout summary table."""
from ansible_collections.sharedhost.hosting.plugins.module_utils.rollout_summary import (
    audit_rows,
    audit_violators,
    render_table,
    summary_rows,
)

FACTS = {
    "web1": {"sharedhost_rollout_done": True,
             "sharedhost_users": [{"name": "alice"}, {"name": "bob"}, {"name": "dave", "state": "absent"}],
             "port_allocations_ports": {"alice": [20000], "bob": [20001, 20002], "old": [20009]},
             "port_allocations_result": {"allocated": {"bob": [20002]}, "released": {}},
             "backends_changed_users": ["bob"],
             "init_scripts_services": {"started": [], "restarted": ["sharedhost-backend@bob.service"],
                                       "stopped": [], "failed_units": {}},
             "frontend_map_result": {"changed": True},
             "port_allocations_enforcement_active": ["nftables", "socket_bind"]},
    "web2": {"sharedhost_rollout_failure": "Allocate ports: sharedhost_users[0]: invalid\n user name",
             "sharedhost_users": [{"name": "carol"}]},
    "fe1": {"sharedhost_rollout_done": True, "frontend_routes": ["a 1", "b 2", "c 3"]},
    "web3": {},
}
PARTS = {"web1": "server", "web2": "server", "web3": "server", "fe1": "frontend"}


def test_rows_say_what_each_host_has_and_what_changed():
    rows = summary_rows(["web1", "web2", "fe1", "web3"], FACTS.get, PARTS)
    assert rows[0] == ("web1", "server", "ok", "2", "3 in 20000-20002",
                       "new ports: bob; configs: bob; restarted: bob; routes published", "nftables+socket_bind")
    assert rows[1][:3] == ("web2", "server", "FAILED")
    assert rows[2][5] == "why: Allocate ports: sharedhost_users[0]: invalid user name"
    assert rows[3] == ("fe1", "frontend", "ok", "3 routes", "-", "nothing", "-")
    assert rows[4] == ("web3", "server", "not started", "0", "-", "-", "-")


def test_table_columns_line_up():
    lines = render_table([("a-long-host", "server", "ok", "1", "20000", "nothing", "nftables")])
    assert lines[0].index("part") == lines[2].index("server") == len("a-long-host") + 2
    assert set(lines[1].replace(" ", "")) == {"-"}


AUDITS = {
    "web1": {"summary": {"allocated_ports": 3, "serving": 3, "squatters": 0, "strays": 0, "missing": 0, "violations": 0},
             "remediation": []},
    "web2": {"summary": {"allocated_ports": 2, "serving": 1, "squatters": 1, "strays": 0, "missing": 1, "violations": 1},
             "remediation": ["stopped pid 1"],
             "after": {"summary": {"allocated_ports": 2, "serving": 2, "squatters": 0, "strays": 0, "missing": 0,
                                   "violations": 0}}},
    "web3": {"summary": {"allocated_ports": 1, "serving": 0, "squatters": 0, "strays": 2, "missing": 1, "violations": 2},
             "remediation": []},
}


def test_audit_rows_use_the_result_after_remediation():
    rows = audit_rows(["web1", "web2", "web3", "down"], AUDITS.get)
    assert rows[1] == ("web2", "2", "2", "0", "0", "0", "1 action(s)")
    assert rows[3][-1] == "not audited (unreachable or failed)"
    assert audit_violators(["web1", "web2", "web3", "down"], AUDITS.get) == ["web3"]
