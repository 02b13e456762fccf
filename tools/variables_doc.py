"""Generate docs/variables.md from every role's meta/argument_specs.yml.

    .venv/bin/python tools/variables_doc.py          # rewrite docs/variables.md
    .venv/bin/python tools/variables_doc.py --check  # exit 1 if it is out of date

tests/unit/test_role_variables.py runs the check, and checks that every
role's defaults/main.yml and argument_specs.yml list the same variables
with the same defaults.
"""
import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "variables.md")
ROLE_ORDER = ["port_allocations", "backends", "init_scripts", "frontend"]

HEADER = """# Variables

Generated from each role's `meta/argument_specs.yml` by `tools/variables_doc.py`
(a unit test fails when this file is out of date). Role variables default to
the shared inventory variables below, so most inventories set only those.

## Shared inventory variables

| variable | meaning |
| --- | --- |
| `sharedhost_users` | the hosted users of a host (list of entries, below) |
| `sharedhost_port_range` | `{start, end}` of the ports handed to users, within 1025-65535 (default 20000-29999) |
| `sharedhost_init_system` | `auto` (PID 1 decides), `systemd` or `sysv`: the default of the roles' `*_init_system` |

### A `sharedhost_users` entry

| key | default | meaning |
| --- | --- | --- |
| `name` | (required) | POSIX user name; the account is created if missing, never modified or removed |
| `vhosts` | `[]` | host names routed to this user's backend (case-insensitive, no wildcards) |
| `backend` | `apache` | `apache`: a dedicated Apache httpd; `command`: any app server started from `command` |
| `command` | | command line of a `command` backend, with a `{port}` placeholder (also in `$PORT`) and optionally `{address}`, \
the address to listen on; with `socket`, a `{socket}` placeholder instead |
| `socket` | `false` | a `command` backend that listens on a Unix socket, `{socket}` = \
`/var/lib/sharedhost/sockets/USER/http.sock` (also in `$SHAREDHOST_SOCKET`): \
no TCP port is allocated (a port held before goes to quarantine); the directory is the user's, mode 2750, \
group `backends_socket_group`, so only the frontend can connect; same-host frontends only |
| `modperl` | `false` | load mod_perl in the user's Apache backend (installs `libapache2-mod-perl2`) |
| `https_redirect` | `false` | answer plain HTTP for the user's vhosts with a 301 to HTTPS \
(ACME challenges excepted); each vhost needs a certificate in `frontend_tls_certificates`, or `frontend_tls_self_signed` |
| `ports` | `1` | number of dedicated ports (alias `count`) |
| `port` | | pin the user's port (must be in the range, not reserved, not another user's) |
| `state` | `present` | `absent`: backend stopped and disabled, route removed, ports to quarantine; home and files stay |
| `limits` | role default | `memory` (512M), `tasks` (256), `cpu` (100%), `nofile` (1024), `nproc` (256) |
| `uid`, `comment`, `shell`, `home` | | used when the account is created |

"""


def render_default(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return "`%s`" % value.replace("|", "\\|")
    if isinstance(value, (bool, int, float)):
        return "`%s`" % json.dumps(value)
    return "`%s`" % yaml.safe_dump(value, default_flow_style=True, width=1000).strip().replace("|", "\\|")


def render():
    parts = [HEADER]
    for role in ROLE_ORDER:
        with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as handle:
            spec = yaml.safe_load(handle)["argument_specs"]["main"]
        parts.append("## Role `sharedhost.hosting.%s`\n\n%s\n\n" % (role, spec["short_description"]))
        parts.append("| variable | type | default | description |\n| --- | --- | --- | --- |\n")
        for name, option in spec["options"].items():
            description = option["description"]
            if isinstance(description, list):
                description = " ".join(description)
            description = re.sub(r"[CVMO]\(([^)]*)\)", r"`\1`", description)
            kind = option.get("type", "str")
            if kind == "list" and option.get("elements"):
                kind = "list of %s" % option["elements"]
            parts.append("| `%s` | %s | %s | %s |\n" % (
                name, kind, render_default(option.get("default")), description.replace("|", "\\|")))
        parts.append("\n")
    return "".join(parts).rstrip("\n") + "\n"


def main(argv):
    text = render()
    if "--check" in argv:
        with open(DOC) as handle:
            if handle.read() != text:
                sys.stderr.write("docs/variables.md is out of date: run tools/variables_doc.py\n")
                return 1
        return 0
    with open(DOC, "w") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
