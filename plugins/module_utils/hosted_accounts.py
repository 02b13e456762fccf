# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ensure the POSIX accounts of all hosted users of a host exist, in one call.

Plain Python so that unit tests call it directly: the account databases, the
command runner and the file system calls are injectable.

Existing accounts are never modified or deleted, and their homes are never
touched. Every input problem is collected and reported at once, before
anything is changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import re
import stat

from ansible_collections.sharedhost.hosting.plugins.module_utils.input_checks import (
    ProblemsError,
    as_int as _as_int,
    named_entries,
)

DEFAULT_SHELL = "/bin/bash"
DEFAULT_HOME_MODE = "0750"
DEFAULT_MIN_UID = 1000
STATES = ("present", "absent")
# nobody/nogroup, the reserved 65535 and (uid_t)-1 / (uid_t)-2 are never hosted,
# whatever min_uid says.
RESERVED_UIDS = frozenset([65534, 65535, 4294967294, 4294967295])
MAX_UID = 4294967293


class AccountError(ProblemsError):
    """The request is refused; ``problems`` lists every reason. Nothing was changed."""


def parse_home_mode(value):
    """Return the home mode as an int.

    Strings are octal (``"0750"``, ``"750"``); ints are taken as the mode itself
    (YAML reads an unquoted ``0750`` as the octal number), like the file module.
    """
    if isinstance(value, bool):
        raise AccountError(["home_mode must be an octal string like '0750', got %r" % (value,)])
    if isinstance(value, int):
        mode = value
    elif isinstance(value, str) and re.match(r"^0?[0-7]{3,4}$", value.strip()):
        mode = int(value.strip(), 8)
    else:
        raise AccountError(["home_mode must be an octal string like '0750', got %r" % (value,)])
    if not 0 <= mode <= 0o7777:
        raise AccountError(["home_mode must be between 0000 and 7777 (octal), got %r" % (value,)])
    return mode


def _bad_field(value):
    """A passwd field must be text without ':' or line breaks."""
    return not isinstance(value, str) or any(c in value for c in ":\n\r\0")


def parse_users(users):
    """Validate the entries; return (parsed present entries, problems).

    Each parsed entry is a dict: index, name, uid (int or None), comment (str or
    None), shell, home, and whether home/shell were given explicitly.
    Entries with ``state: absent`` are validated and skipped: this module never
    removes an account. Keys it does not know are ignored.
    """
    if not isinstance(users, list):
        return [], ["users must be a list, got %s" % type(users).__name__]
    problems = []
    parsed = []
    for index, where, entry in named_entries(users, problems):
        name = entry["name"]

        state = entry.get("state", "present")
        if state not in STATES:
            problems.append("%s: state must be one of %s, got %r" % (where, ", ".join(STATES), state))
            continue

        bad = False
        uid = entry.get("uid")
        if uid is not None:
            raw_uid = uid
            uid = _as_int(uid)
            if uid is None or not 0 <= uid <= MAX_UID:
                problems.append("%s: uid must be an integer between 0 and %d, got %r" % (where, MAX_UID, raw_uid))
                bad = True

        comment = entry.get("comment")
        if comment is not None and _bad_field(comment):
            problems.append("%s: comment must be text without ':' or line breaks, got %r" % (where, comment))
            bad = True

        shell = entry.get("shell")
        shell_given = shell is not None
        if not shell_given:
            shell = DEFAULT_SHELL
        elif _bad_field(shell) or not shell.startswith("/"):
            problems.append("%s: shell must be an absolute path without ':', got %r" % (where, shell))
            bad = True

        home = entry.get("home")
        home_given = home is not None
        if not home_given:
            home = "/home/%s" % name
        elif _bad_field(home) or not home.startswith("/") or os.path.normpath(home) == "/":
            problems.append("%s: home must be an absolute path other than / without ':', got %r" % (where, home))
            bad = True
        else:
            home = os.path.normpath(home)

        if bad or state == "absent":
            continue
        parsed.append({"index": index, "name": name, "uid": uid, "comment": comment,
                       "shell": shell, "shell_given": shell_given, "home": home, "home_given": home_given})
    return parsed, problems


class AccountDatabase(object):
    """A snapshot of the passwd and group databases (through NSS)."""

    def __init__(self, passwd_entries, group_entries):
        # passwd_entries: iterable of objects/tuples with pw_name, pw_uid, pw_gid, pw_gecos, pw_dir, pw_shell
        # group_entries: iterable with gr_name, gr_gid
        self.users = {}
        self.by_uid = {}
        for entry in passwd_entries:
            if entry.pw_name in self.users:
                continue  # NSS may list a name twice (files + ldap): the first one wins, like getpwnam
            self.users[entry.pw_name] = entry
            self.by_uid.setdefault(entry.pw_uid, []).append(entry.pw_name)
        self.groups = {}
        self.group_names = {}
        for entry in group_entries:
            self.groups.setdefault(entry.gr_name, entry.gr_gid)
            self.group_names.setdefault(entry.gr_gid, entry.gr_name)
        self.homes = {}
        for entry in self.users.values():
            self.homes.setdefault(os.path.normpath(entry.pw_dir or "/"), []).append(entry.pw_name)

    def describe(self, name):
        entry = self.users[name]
        return {
            "uid": entry.pw_uid,
            "gid": entry.pw_gid,
            "group": self.group_names.get(entry.pw_gid),
            "home": entry.pw_dir,
            "shell": entry.pw_shell,
        }


def read_database(pwd_module=pwd, grp_module=grp):
    return AccountDatabase(pwd_module.getpwall(), grp_module.getgrall())


def _refused_uid(uid, min_uid):
    return uid < min_uid or uid in RESERVED_UIDS


def plan(parsed, database, min_uid):
    """Split the parsed entries into (existing, to_create, problems, warnings)."""
    problems = []
    warnings = []
    existing = []
    to_create = []
    requested_uids = {}
    requested_homes = {}
    for entry in parsed:
        where = "users[%d] (%s)" % (entry["index"], entry["name"])
        name = entry["name"]
        if name in database.users:
            current = database.users[name]
            if _refused_uid(current.pw_uid, min_uid):
                problems.append("%s: the existing account %s has uid %d, %s; system accounts are never hosted"
                                % (where, name, current.pw_uid,
                                   "below min_uid %d" % min_uid if current.pw_uid < min_uid else "a reserved uid"))
                continue
            if entry["uid"] is not None and entry["uid"] != current.pw_uid:
                problems.append("%s: the existing account %s has uid %d, not the requested %d "
                                "(existing accounts are never modified)" % (where, name, current.pw_uid, entry["uid"]))
                continue
            if entry["home_given"] and os.path.normpath(current.pw_dir or "/") != entry["home"]:
                warnings.append("%s: the existing account %s has home %s, not the requested %s; left unchanged"
                                % (where, name, current.pw_dir, entry["home"]))
            if entry["shell_given"] and current.pw_shell != entry["shell"]:
                warnings.append("%s: the existing account %s has shell %s, not the requested %s; left unchanged"
                                % (where, name, current.pw_shell, entry["shell"]))
            existing.append(entry)
            continue

        bad = False
        uid = entry["uid"]
        if uid is not None:
            if _refused_uid(uid, min_uid):
                problems.append("%s: requested uid %d is %s" % (
                    where, uid, "below min_uid %d" % min_uid if uid < min_uid else "a reserved uid"))
                bad = True
            elif uid in database.by_uid:
                problems.append("%s: requested uid %d is already used by the account %s"
                                % (where, uid, ", ".join(sorted(database.by_uid[uid]))))
                bad = True
            elif uid in requested_uids:
                problems.append("%s: requested uid %d is also requested for %s"
                                % (where, uid, requested_uids[uid]))
                bad = True
            else:
                requested_uids[uid] = name
        if name in database.groups:
            problems.append("%s: a group named %s already exists (gid %d); useradd --user-group would fail"
                            % (where, name, database.groups[name]))
            bad = True
        home = entry["home"]
        if home in database.homes:
            problems.append("%s: home %s is the home of the existing account %s"
                            % (where, home, ", ".join(sorted(database.homes[home]))))
            bad = True
        elif home in requested_homes:
            problems.append("%s: home %s is also requested for %s" % (where, home, requested_homes[home]))
            bad = True
        else:
            requested_homes[home] = name
        if not bad:
            to_create.append(entry)
    return existing, to_create, problems, warnings


def useradd_argv(entry, min_uid, useradd="useradd"):
    argv = [useradd, "--create-home", "--user-group", "--shell", entry["shell"]]
    if entry["comment"] is not None:
        argv += ["--comment", entry["comment"]]
    if entry["uid"] is not None:
        argv += ["--uid", str(entry["uid"])]
    else:
        # useradd picks the next free uid from login.defs' UID_MIN, which may be
        # lower than min_uid: never let it hand out a uid this module would refuse.
        argv += ["--key", "UID_MIN=%d" % min_uid]
    argv += ["--home-dir", entry["home"], entry["name"]]
    return argv


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError:
        return None


def _lookup(name, pwd_module, grp_module):
    """The account as it is now, or None."""
    try:
        entry = pwd_module.getpwnam(name)
    except KeyError:
        return None
    try:
        group = grp_module.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = None
    return {"uid": entry.pw_uid, "gid": entry.pw_gid, "group": group, "home": entry.pw_dir, "shell": entry.pw_shell}


def ensure_accounts(users, min_uid=DEFAULT_MIN_UID, home_mode=DEFAULT_HOME_MODE, check_mode=False,
                    run_command=None, pwd_module=pwd, grp_module=grp, lstat=_lstat, chmod=os.chmod,
                    useradd="useradd"):
    """Create the missing accounts; return the module result (plus ``warnings`` and ``errors``).

    run_command(argv) -> (rc, stdout, stderr). pwd_module/grp_module provide
    getpwall/getpwnam and getgrall/getgrgid. Raises AccountError (nothing
    changed) for invalid input. A failing useradd does not stop the other
    users; its message is returned under ``errors`` for the caller to fail on.
    """
    problems = []
    mode = None
    try:
        mode = parse_home_mode(home_mode)
    except AccountError as exc:
        problems.extend(exc.problems)
    min_uid_value = _as_int(min_uid)
    if min_uid_value is None or min_uid_value < 1:
        problems.append("min_uid must be an integer >= 1, got %r" % (min_uid,))
        min_uid_value = DEFAULT_MIN_UID
    parsed, parse_problems = parse_users(users)
    problems.extend(parse_problems)
    database = read_database(pwd_module, grp_module)
    existing, to_create, plan_problems, warnings = plan(parsed, database, min_uid_value)
    problems.extend(plan_problems)
    if problems:
        raise AccountError(problems)

    accounts = {}
    for entry in existing:
        accounts[entry["name"]] = dict(database.describe(entry["name"]), created=False)

    created = []
    errors = []
    for entry in to_create:
        name = entry["name"]
        home_before = lstat(entry["home"])
        if home_before is not None:
            warnings.append("users[%d] (%s): home %s already exists and is left untouched (owner uid %d, mode %04o)"
                            % (entry["index"], name, entry["home"], home_before.st_uid,
                               stat.S_IMODE(home_before.st_mode)))
        if check_mode:
            accounts[name] = {"uid": None, "gid": None, "group": name, "home": entry["home"],
                              "shell": entry["shell"], "created": True}
            created.append(name)
            continue
        rc, out, err = run_command(useradd_argv(entry, min_uid_value, useradd))
        account = _lookup(name, pwd_module, grp_module)
        if account is None:
            errors.append("useradd %s failed (rc %d): %s" % (name, rc, (err or out or "").strip()))
            continue
        if rc != 0:
            warnings.append("useradd %s returned %d but the account exists: %s"
                            % (name, rc, (err or out or "").strip()))
        created.append(name)
        accounts[name] = dict(account, created=True)
        if _refused_uid(account["uid"], min_uid_value):
            errors.append("useradd %s created uid %d, which min_uid %d refuses; the account was left in place"
                          % (name, account["uid"], min_uid_value))
        home_after = lstat(entry["home"])
        if home_before is None and home_after is not None and stat.S_ISDIR(home_after.st_mode):
            if stat.S_IMODE(home_after.st_mode) != mode:
                chmod(entry["home"], mode)
        elif home_before is None:
            errors.append("useradd %s did not create the home %s" % (name, entry["home"]))

    # Requested order, not "existing first".
    ordered = {}
    for entry in parsed:
        if entry["name"] in accounts:
            ordered[entry["name"]] = accounts[entry["name"]]
    return {
        "changed": bool(created),
        "accounts": ordered,
        "created": created,
        "warnings": warnings,
        "errors": errors,
    }
