#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bulk_files
short_description: Reconcile many files and directories of many hosted users in one task
version_added: "0.1.0"
description:
  - Brings a list of files and directories, typically of all hosted users of a host, to their state
    (content, owner, group, mode) in one call, so the cost grows with the data and not with the number
    of tasks (a per-user loop costs more than a second per item over slow connections).
  - Every entry is validated first. Relative paths, C(..) components, duplicate paths, a missing or
    non-string C(content) for a file, bad modes, unknown owners or groups, unknown keys, and
    entries placed inside a file or an absent entry fail the task with one message naming every bad
    entry by index and path, before anything on the host changes.
  - Directories are created before the entries inside them (shallowest first), removals run deepest first.
  - Files are written atomically. The content goes to a temporary file in the same directory, which is
    fsynced, given its owner, group and mode, and renamed over the path; the directory is fsynced after.
    An entry whose file already has the same bytes, owner, group and mode is not touched (its mtime is kept);
    the check compares the size first and then the bytes, it does not rely on timestamps.
  - An existing directory gets its owner, group and mode corrected if they differ. Directories are never
    removed recursively; an absent entry naming a directory that is not empty fails.
  - An entry that cannot be reconciled on the host (a symlink or another type of file in the way, a directory
    to remove that is not empty, a missing parent directory, permission denied to the owner) fails on its own;
    the other entries are still applied, and the task then fails naming every failed entry by index and path.
  - B(Security.) Without C(as_owner), the module acts as the connection user (root) but never follows
    or replaces a symlink at the path itself (the final component); the entry fails instead. Symlinks in the
    directories above the path are followed. When the module would act as root below a directory that
    a non-root user can replace (so a planted symlink could redirect root's write), it warns and names the entries.
  - With C(as_owner=true) the entry is handled in a forked child process that has dropped to the
    owner's uid, primary gid and supplementary groups (setgroups, setgid, setuid) before touching any path,
    so symlinks or directories swapped in by that user can never make root write, change or remove anything
    the user could not anyway. Use it for every path inside a user's own directories. One child runs per owner
    (a few in parallel); it is only started for entries that need a change, so an unchanged run forks nothing.
author:
  - sharedhost.hosting contributors (!UNKNOWN)
options:
  files:
    description:
      - The files and directories to reconcile, each a mapping with these keys.
      - C(path) (required) is the absolute path. Repeated and trailing slashes and C(.) are normalised;
        C(..) is refused.
      - C(state) is C(file) (default), C(directory) or C(absent). C(absent) removes a file, symlink or other
        non-directory, and a directory only if it is empty.
      - C(content) (string, required for C(state=file)) is the full text of the file, written as UTF-8.
        It is not allowed for C(state=directory).
      - C(owner) and C(group) are a user and a group name (or numeric id), default C(root). They must exist.
      - C(mode) is an octal string such as C("0644"), C("644") or C("2775"), or an integer without special
        bits (YAML C(0644) is octal). Integers above C(0777) are refused because they are almost always a decimal
        C(644) meant as octal. Default C("0644") for files and C("0755") for directories.
      - C(force) (bool, default C(true)). With C(false) the path is only created when nothing exists there
        (not even a symlink); an existing path is left completely alone, content, owner, group and mode
        included. Use it for skeleton files the user may edit.
      - C(as_owner) (bool, default C(false)) performs the entry as its owner, see the description. The owner
        must be an unprivileged user of the user database and a member of the group.
      - C(tag) (optional string, for example the user name) is echoed back in RV(changed_tags) when the entry
        changed, so callers can tell whose files changed.
      - C(diff) (bool, default C(true)). With C(false) the content of this entry never appears in the diff
        (a placeholder with the size does) nor in the echoed module arguments. Use it for secrets.
      - C(owner), C(group), C(mode), C(content), C(force) and C(diff) are ignored for C(state=absent),
        except that C(as_owner) needs C(owner).
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    support: full
    description: Computes what would change (as the owner for C(as_owner) entries) and changes nothing.
  diff_mode:
    support: full
    description:
      - Returns a list with one before/after per changed entry; the headers carry the path, type, owner, group
        and mode.
      - Files show their content, capped at 64 KiB per side; binary content and entries with
        C(diff=false) show a placeholder. When only owner, group or mode change, and for directories,
        the texts list those attributes.
  platform:
    support: full
    platforms: posix
    description: Needs C(os.fork), the C(*at) system calls and O_NOFOLLOW (Linux).
notes:
  - Content is text; binary files are out of scope.
  - Parent directories are not created implicitly. A file whose parent neither exists nor is created by an entry
    of the same task fails.
  - The task fails when any entry fails; C(changed), RV(changed_paths) and RV(summary) then still describe what
    was changed, and RV(failures) lists the failed entries.
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Home, web root and skeleton files of every hosted user, in one task
  sharedhost.hosting.bulk_files:
    files:
      - path: /home/alice
        state: directory
        owner: alice
        group: alice
        mode: "0750"
        tag: alice
      - path: /home/alice/public_html
        state: directory
        owner: alice
        group: alice
        as_owner: true
        tag: alice
      - path: /home/alice/public_html/index.html
        content: "<h1>alice</h1>\n"
        owner: alice
        group: alice
        as_owner: true
        force: false
        tag: alice
      - path: /etc/sharedhost/backends/alice.conf
        content: "{{ lookup('template', 'backend.conf.j2') }}"
        mode: "0640"
        tag: alice
      - path: /home/alice/.my.cnf
        content: "[client]\npassword={{ alice_db_password }}\n"
        owner: alice
        group: alice
        mode: "0600"
        as_owner: true
        diff: false
        tag: alice
      - path: /home/bob/public_html/old.html
        state: absent
        owner: bob
        as_owner: true
        tag: bob
  register: __files

- name: Reload only the backends of users whose files changed
  ansible.builtin.debug:
    msg: "{{ __files.changed_tags }}"

- name: Render the entries of all users on the controller and pass them at once
  sharedhost.hosting.bulk_files:
    files: "{{ sharedhost_users | map(attribute='files') | flatten }}"
"""

RETURN = r"""
changed_paths:
  description: The paths that changed (or would change in check mode), in the order of O(files).
  returned: always
  type: list
  elements: str
  sample: ["/home/alice/public_html", "/home/alice/public_html/index.html"]
changed_tags:
  description: The sorted, unique C(tag) values of the entries that changed (or would change).
  returned: always
  type: list
  elements: str
  sample: ["alice"]
summary:
  description:
    - How many entries were created, updated, removed or left unchanged (or would be, in check mode).
    - Failed entries are in none of the counts but in RV(failures).
    - Named C(summary) because Ansible reserves C(results) for loops (it would be renamed C(ansible_module_results)).
  returned: always
  type: dict
  contains:
    created:
      description: Entries whose path did not exist and was created.
      type: int
      returned: always
    updated:
      description: Entries whose content, owner, group or mode was corrected.
      type: int
      returned: always
    removed:
      description: Absent entries whose path was removed.
      type: int
      returned: always
    unchanged:
      description: Entries that were already right (including existing paths with C(force=false)).
      type: int
      returned: always
  sample: {"created": 2, "updated": 1, "removed": 0, "unchanged": 4997}
failures:
  description: The entries that could not be reconciled, with their index in O(files), path, tag and the reason.
  returned: when some entries failed (the task then fails)
  type: list
  elements: dict
  sample: [{"index": 3, "path": "/home/bob/x", "tag": "bob", "msg": "is a symlink; bulk_files never writes through or replaces a symlink"}]
problems:
  description: Every reason the request was refused before anything was changed.
  returned: when validation failed
  type: list
  elements: str
  sample: ["files[2] (/srv/x): content is required when state is file"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.sharedhost.hosting.plugins.module_utils.bulk_files import (
    BulkFilesError,
    reconcile,
)

INVOCATION_ECHO_LIMIT = 200


def _hidden(entry):
    try:
        return not boolean(entry.get("diff", True), strict=False)
    except TypeError:
        return False


def _echo(files):
    """The arguments as echoed back: never the content of diff: false entries, never thousands of entries."""
    if not isinstance(files, list):
        return files
    if len(files) > INVOCATION_ECHO_LIMIT:
        return "<%d file entries>" % len(files)
    echoed = []
    for entry in files:
        if isinstance(entry, dict) and "content" in entry and _hidden(entry):
            entry = dict(entry, content="<hidden (diff: false)>")
        echoed.append(entry)
    return echoed


class BulkFilesModule(AnsibleModule):
    """AnsibleModule that does not write every entry, secrets included, to the target's syslog/journal.

    The stock invocation log would send all contents (thousands of entries, passwords of diff: false
    entries) to syslog and spend a noticeable time sanitising that text first.
    """

    def _log_invocation(self):
        files = self.params.get("files")
        self.log("Invoked with files=<%d entries>" % (len(files) if isinstance(files, list) else 0))


def main():
    module = BulkFilesModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", required=True),
        ),
        supports_check_mode=True,
    )
    files = module.params["files"]
    # The module's own invocation echo would repeat secrets and thousands of entries.
    invocation = {"module_args": {"files": _echo(files)}}
    try:
        result = reconcile(files, check_mode=module.check_mode, want_diff=module._diff)
    except BulkFilesError as exc:
        module.fail_json(msg="bulk_files refused, nothing was changed: %s" % exc, problems=exc.problems,
                         changed=False, invocation=invocation)
    except OSError as exc:
        module.fail_json(msg="bulk_files: %s" % to_native(exc), invocation=invocation)

    diff = result.pop("_diff")
    for warning in result.pop("warnings"):
        module.warn(warning)
    failures = result.pop("failures")
    if diff and result["changed"]:
        result["diff"] = diff
    result["invocation"] = invocation
    if failures:
        result["failures"] = failures
        module.fail_json(
            msg="bulk_files: %d of %d entries failed: %s" % (
                len(failures), len(files),
                "; ".join("files[%d] (%s): %s" % (f["index"], f["path"], f["msg"]) for f in failures)),
            **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
