#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: hosted_accounts
short_description: Ensure the POSIX accounts of all hosted users of a host exist, in one call
version_added: "0.1.0"
description:
  - Creates the missing POSIX accounts of every hosted user of the managed host, each with its own
    user group and home directory.
  - All users of a host are handled in one call, so the cost grows with the data, not with the number of tasks.
  - Never deletes or modifies an existing account, and never touches a home directory that already exists,
    so hosted users' files are never lost. Differences between an existing account and the request
    (home, shell) are reported as warnings; a different uid is an error.
  - Refuses to host an existing account whose uid is below O(min_uid) or is reserved (65534, 65535,
    4294967294, 4294967295), so C(root), C(www-data) and other system accounts never become hosted users.
  - All entries are validated first (user names, duplicates, uids below O(min_uid), a requested uid used by
    another account or requested twice, a group or home already belonging to someone else); any problem
    fails the task with one message listing every problem, and nothing is changed.
  - Missing accounts are created with C(useradd --create-home --user-group --shell SHELL [--comment COMMENT]
    [--uid UID | --key UID_MIN=MIN_UID] --home-dir HOME NAME), without a shell. A home created by this
    run then gets O(home_mode).
  - Existing accounts are read with the Python C(pwd) and C(grp) modules, so accounts from any NSS source count.
author:
  - sharedhost.hosting contributors (!UNKNOWN)
options:
  users:
    description:
      - The hosted users of this host, each a mapping.
      - C(name) (required) is the POSIX user name (lowercase letter or C(_) first, then lowercase letters,
        digits, C(_) or C(-), at most 32 characters).
      - C(uid) optionally requests the uid of a new account. If omitted, C(useradd) picks the next free uid
        not below O(min_uid). For an existing account it must equal the account's uid.
      - C(comment) optionally sets the GECOS field of a new account.
      - C(shell) is the login shell of a new account (default C(/bin/bash)).
      - C(home) is the home directory of a new account (default C(/home/<name>)).
      - C(state) is C(present) (default) or C(absent). Entries with C(absent) are validated and skipped;
        this module never removes an account.
      - Other keys (for example C(vhosts), C(backend), C(ports) or C(limits)) are ignored, so the inventory's
        user entries can be passed unchanged.
    type: list
    elements: dict
    required: true
  min_uid:
    description:
      - The lowest uid a hosted account may have. Existing accounts below it are refused, requested uids below
        it are refused, and new accounts without a requested uid get a uid not below it.
    type: int
    default: 1000
  home_mode:
    description:
      - Permissions of a home directory created by this run, as an octal string.
      - Homes that already existed are never changed.
    type: raw
    default: "0750"
attributes:
  check_mode:
    support: full
    description: Validates and reports which accounts would be created, with V(null) uid and gid.
  diff_mode:
    support: none
    description: The returned accounts and created names show what was created.
  platform:
    support: full
    platforms: posix
    description: Needs C(useradd) from shadow-utils (Debian package C(passwd)).
notes:
  - Run as root (C(become=true)).
seealso:
  - module: sharedhost.hosting.port_allocation
  - module: sharedhost.hosting.backend_services
"""

EXAMPLES = r"""
- name: Ensure the accounts of every hosted user of this host
  sharedhost.hosting.hosted_accounts:
    users:
      - name: alice
      - name: bob
        uid: 20001
        comment: Bob's shop
        shell: /bin/sh
        home: /srv/hosted/bob
  become: true
  register: __accounts

- name: Pass the inventory's user entries unchanged, with private homes
  sharedhost.hosting.hosted_accounts:
    users: "{{ sharedhost_users }}"
    min_uid: 2000
    home_mode: "0700"
  become: true
  register: __accounts

- name: Use the real uids afterwards
  ansible.builtin.debug:
    msg: "alice has uid {{ __accounts.accounts.alice.uid }}"
"""

RETURN = r"""
accounts:
  description:
    - Every requested (present) user with their account after the run.
    - In check mode, accounts that would be created have V(null) uid and gid.
  returned: always
  type: dict
  sample:
    alice: {uid: 1001, gid: 1001, group: alice, home: /home/alice, shell: /bin/bash, created: true}
    bob: {uid: 20001, gid: 20001, group: bob, home: /srv/hosted/bob, shell: /bin/sh, created: false}
  contains:
    uid:
      description: The account's uid.
      type: int
    gid:
      description: The account's primary gid.
      type: int
    group:
      description: The name of the primary group, V(null) if the gid has no group entry.
      type: str
    home:
      description: The account's home directory.
      type: str
    shell:
      description: The account's login shell.
      type: str
    created:
      description: Whether this run created the account.
      type: bool
created:
  description: Names of the accounts created by this run (in check mode, that would be created), in request order.
  returned: always
  type: list
  elements: str
  sample: [alice]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sharedhost.hosting.plugins.module_utils.hosted_accounts import (
    DEFAULT_HOME_MODE,
    DEFAULT_MIN_UID,
    AccountError,
    ensure_accounts,
)

INVOCATION_ECHO_LIMIT = 200


def main():
    module = AnsibleModule(
        argument_spec=dict(
            users=dict(type="list", elements="dict", required=True),
            min_uid=dict(type="int", default=DEFAULT_MIN_UID),
            home_mode=dict(type="raw", default=DEFAULT_HOME_MODE),
        ),
        supports_check_mode=True,
    )
    params = module.params
    useradd = None if module.check_mode else module.get_bin_path("useradd", required=True)

    def run_command(argv):
        return module.run_command(argv, use_unsafe_shell=False)

    try:
        result = ensure_accounts(
            params["users"],
            min_uid=params["min_uid"],
            home_mode=params["home_mode"],
            check_mode=module.check_mode,
            run_command=run_command,
            useradd=useradd or "useradd",
        )
    except AccountError as exc:
        module.fail_json(msg="hosted accounts refused, nothing was changed: %s" % exc, problems=exc.problems)

    for warning in result.pop("warnings"):
        module.warn(warning)
    errors = result.pop("errors")
    if len(params["users"]) > INVOCATION_ECHO_LIMIT:
        result["invocation"] = {"module_args": dict(params, users="<%d user entries>" % len(params["users"]))}
    if errors:
        module.fail_json(msg="; ".join(errors), problems=errors, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
