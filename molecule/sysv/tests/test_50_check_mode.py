"""A converged SysV host: check mode with diff changes nothing and reports nothing to change."""
import re

from sharedhost_verify import run_playbook


def test_check_and_diff_mode_report_no_change(host):
    out = run_playbook("site.yml", ["--check", "--diff"])
    recap = re.findall(r"changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", out)
    assert recap and all(c == "0" and f == "0" for c, f in recap), out[-3000:]
