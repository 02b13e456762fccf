# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reconcile many files and directories of many hosted users in one call.

Everything the bulk_files module does, as plain Python so unit tests call it
directly. The run has three steps:

1. ``validate_entries`` checks every entry and raises BulkFilesError listing
   every bad one; the host is not touched before it passed.
2. A read-only probe of every entry (``lstat``, then size and bytes for
   regular files) sorts out the entries that are already right. On a host
   where nothing changed this is all that happens.
3. The remaining entries run in stages that respect the tree: removals deepest
   first, then creations and updates shallowest first. Entries with
   ``as_owner`` run in a forked child per owner that has dropped to the
   owner's uid, gid and groups before it touches any path; the others run as
   the caller (root), never through a symlink in the final path component.

Every operation on a path is done relative to a descriptor of its parent
directory (``*at`` system calls) with O_NOFOLLOW, files are written to a
temporary file in the same directory, fsynced, given owner and mode, and
renamed into place; directories are only ever removed when empty.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import pwd
import grp
import re
import selectors
import stat

from ansible.module_utils.parsing.convert_bool import boolean

DIFF_LIMIT = 64 * 1024
DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755
MAX_CHILDREN = 8

STATES = ("file", "directory", "absent")
ALLOWED_KEYS = ("path", "state", "content", "owner", "group", "mode", "force", "as_owner", "tag", "diff")

UNCHANGED = "unchanged"
CREATE = "create"
UPDATE = "update"
REMOVE = "remove"
FAIL = "fail"

_COUNT_KEY = {CREATE: "created", UPDATE: "updated", REMOVE: "removed", UNCHANGED: "unchanged"}
_MODE_RE = re.compile(r"^(?:0o)?([0-7]{3,4})$")

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = os.O_RDONLY | _O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | _O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC


class BulkFilesError(Exception):
    """The request is invalid; ``problems`` lists every bad entry. Nothing was changed."""

    def __init__(self, problems):
        self.problems = list(problems)
        super(BulkFilesError, self).__init__("; ".join(self.problems))


class _EntryFailure(Exception):
    """One entry cannot be reconciled; the others go on."""


class Entry(object):
    """One validated entry of ``files``."""

    __slots__ = ("index", "path", "parent", "name", "depth", "state", "data", "owner", "group",
                 "uid", "gid", "mode", "force", "as_owner", "tag", "diff")

    def runner(self):
        """Who performs the entry: None for the caller, else the owner's uid."""
        return self.uid if self.as_owner else None


class _UserDb(object):
    """Cached user and group lookups.

    The whole local database is read once (one getpwall/getgrall instead of one
    scan of /etc/passwd per name, which costs real time with 1,000 users);
    names it does not hold fall back to getpwnam/getgrnam (LDAP and friends).
    """

    def __init__(self):
        self._users = None
        self._groups = None
        self._members = None
        self._uid_names = {}
        self._gid_names = {}

    def _load(self):
        if self._users is None:
            self._users = {}
            for pw in pwd.getpwall():
                self._users.setdefault(pw.pw_name, pw)
                self._uid_names.setdefault(pw.pw_uid, pw.pw_name)
            self._groups = {}
            self._members = {}
            for gr in grp.getgrall():
                self._groups.setdefault(gr.gr_name, gr.gr_gid)
                self._gid_names.setdefault(gr.gr_gid, gr.gr_name)
                self._members.setdefault(gr.gr_gid, set()).update(gr.gr_mem)

    def user(self, name):
        """The passwd entry of a user name, or None."""
        self._load()
        if name not in self._users:
            try:
                self._users[name] = pwd.getpwnam(name)
            except KeyError:
                self._users[name] = None
        return self._users[name]

    def group_id(self, name):
        self._load()
        if name not in self._groups:
            try:
                self._groups[name] = grp.getgrnam(name).gr_gid
            except KeyError:
                self._groups[name] = None
        return self._groups[name]

    def in_group(self, pw, gid):
        self._load()
        if gid == pw.pw_gid or pw.pw_name in self._members.get(gid, ()):
            return True
        try:
            return gid in os.getgrouplist(pw.pw_name, pw.pw_gid)
        except OSError:
            return False

    def user_name(self, uid):
        self._load()
        if uid not in self._uid_names:
            try:
                self._uid_names[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._uid_names[uid] = str(uid)
        return self._uid_names[uid]

    def group_name(self, gid):
        self._load()
        if gid not in self._gid_names:
            try:
                self._gid_names[gid] = grp.getgrgid(gid).gr_name
            except KeyError:
                self._gid_names[gid] = str(gid)
        return self._gid_names[gid]


# --------------------------------------------------------------------------- validation

def _norm_path(value, errs):
    if not isinstance(value, str) or not value:
        errs.append("path is required and must be an absolute path")
        return None
    if "\0" in value:
        errs.append("path contains a NUL character")
        return None
    if not value.startswith("/"):
        errs.append("path %r is not absolute" % value)
        return None
    parts = [part for part in value.split("/") if part not in ("", ".")]
    if ".." in parts:
        errs.append("path %r contains a '..' component" % value)
        return None
    if not parts:
        errs.append("path '/' cannot be managed")
        return None
    return "/" + "/".join(parts)


def _parse_mode(value, default, errs):
    if value is None:
        return default
    if isinstance(value, bool):
        errs.append("mode %r is not an octal string like '0644'" % (value,))
        return None
    if isinstance(value, int):
        if value < 0 or value > 0o7777:
            errs.append("mode %r is out of range (0-07777)" % value)
            return None
        if value > 0o777:
            errs.append("integer mode %d has special bits set (octal %s); if you meant %s, write modes as "
                        "quoted octal strings like '0644' (special bits too, e.g. '2775')"
                        % (value, format(value, "o"), "0%d" % value))
            return None
        return value
    if isinstance(value, str):
        match = _MODE_RE.match(value.strip())
        if match:
            return int(match.group(1), 8)
    errs.append("mode %r is not an octal string like '0644'" % (value,))
    return None


def _parse_bool(raw, key, default, errs):
    value = raw.get(key)
    if value is None:
        return default
    try:
        return boolean(value, strict=True)
    except TypeError:
        errs.append("%s must be a boolean, got %r" % (key, value))
        return default


def _resolve_owner(value, db, errs):
    """Return (name, uid, passwd entry or None)."""
    if value is None:
        value = "root"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return db.user_name(value), value, None
    if isinstance(value, str) and value:
        pw = db.user(value)
        if pw is not None:
            return value, pw.pw_uid, pw
        if value.isdigit():
            return value, int(value), None
        errs.append("unknown owner %r (no such user on this host)" % value)
        return value, None, None
    errs.append("owner must be a user name, got %r" % (value,))
    return None, None, None


def _resolve_group(value, db, errs):
    if value is None:
        value = "root"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return db.group_name(value), value
    if isinstance(value, str) and value:
        gid = db.group_id(value)
        if gid is not None:
            return value, gid
        if value.isdigit():
            return value, int(value)
        errs.append("unknown group %r (no such group on this host)" % value)
        return value, None
    errs.append("group must be a group name, got %r" % (value,))
    return None, None


def validate_entries(files, db=None):
    """Check every entry; return a list of Entry or raise BulkFilesError naming every bad one."""
    if not isinstance(files, list):
        raise BulkFilesError(["files must be a list of mappings, got %s" % type(files).__name__])
    db = db or _UserDb()
    problems = []
    entries = []
    first_at = {}
    allowed = frozenset(ALLOWED_KEYS)
    for index, raw in enumerate(files):
        where = "files[%d]" % index
        if not isinstance(raw, dict):
            problems.append("%s: expected a mapping with at least 'path', got %r" % (where, raw))
            continue
        errs = []
        path = _norm_path(raw.get("path"), errs)
        if path is not None:
            label = "%s (%s)" % (where, path)
        elif isinstance(raw.get("path"), str) and raw.get("path"):
            label = "%s (%s)" % (where, raw.get("path"))
        else:
            label = where
        unknown = [key for key in raw if key not in allowed]
        if unknown:
            errs.append("unknown key(s) %s (allowed: %s)"
                        % (", ".join(sorted(str(k) for k in unknown)), ", ".join(ALLOWED_KEYS)))
        state = raw.get("state")
        if state is None:
            state = "file"
        if state not in STATES:
            errs.append("state %r is not one of %s" % (state, ", ".join(STATES)))
        entry = Entry()
        entry.index = index
        entry.path = path
        entry.state = state
        entry.force = _parse_bool(raw, "force", True, errs)
        entry.as_owner = _parse_bool(raw, "as_owner", False, errs)
        entry.diff = _parse_bool(raw, "diff", True, errs)
        entry.data = None
        tag = raw.get("tag")
        if tag is not None and not isinstance(tag, str):
            if isinstance(tag, (int, float)) and not isinstance(tag, bool):
                tag = str(tag)
            else:
                errs.append("tag must be a string, got %r" % (tag,))
                tag = None
        entry.tag = tag

        content = raw.get("content")
        if state == "file":
            if content is None:
                errs.append("content is required when state is file")
            elif not isinstance(content, str):
                errs.append("content must be a string, got %s (quote it or use the 'string' filter)"
                            % type(content).__name__)
            else:
                try:
                    entry.data = content.encode("utf-8", "surrogateescape")
                except UnicodeEncodeError as exc:
                    errs.append("content cannot be encoded as UTF-8: %s" % exc)
        elif state == "directory" and content is not None:
            errs.append("content is only valid with state file")

        # Owner, group and mode are ignored for absent entries (their owner may be
        # gone already) except that as_owner needs the owner to run as.
        entry.owner = entry.group = None
        entry.uid = entry.gid = entry.mode = None
        pw = None
        if state != "absent" or entry.as_owner:
            entry.owner, entry.uid, pw = _resolve_owner(raw.get("owner"), db, errs)
        if state != "absent":
            entry.group, entry.gid = _resolve_group(raw.get("group"), db, errs)
            entry.mode = _parse_mode(raw.get("mode"),
                                     DEFAULT_DIR_MODE if state == "directory" else DEFAULT_FILE_MODE, errs)
        if entry.as_owner and entry.uid is not None:
            if entry.uid == 0:
                errs.append("as_owner needs an unprivileged owner (running as root protects nothing); "
                            "set owner or drop as_owner")
            elif pw is None:
                errs.append("as_owner needs an owner from the user database, got %r" % (raw.get("owner"),))
            elif entry.gid is not None and not db.in_group(pw, entry.gid):
                errs.append("as_owner: owner %r is not a member of group %r, so it cannot give the path that group"
                            % (entry.owner, entry.group))

        if path is not None:
            if path in first_at:
                errs.append("duplicate path (first at files[%d])" % first_at[path])
            else:
                first_at[path] = index
            parts = path.split("/")
            entry.depth = len(parts) - 1
            entry.name = parts[-1]
            entry.parent = "/".join(parts[:-1]) or "/"
        for err in errs:
            problems.append("%s: %s" % (label, err))
        if not errs:
            entries.append(entry)

    # A file or an absent path cannot hold anything that should exist.
    by_path = dict((e.path, e) for e in entries)
    for entry in entries:
        if entry.state == "absent":
            continue
        parent = entry.parent
        while parent != "/":
            holder = by_path.get(parent)
            if holder is not None and holder.state != "directory":
                problems.append("files[%d] (%s): is inside files[%d] (%s) whose state is %s"
                                % (entry.index, entry.path, holder.index, holder.path, holder.state))
                break
            parent = os.path.dirname(parent)

    if problems:
        problems.sort(key=_problem_order)
        raise BulkFilesError(problems)
    return entries


def _problem_order(problem):
    match = re.match(r"^files\[(\d+)\]", problem)
    return int(match.group(1)) if match else -1


# --------------------------------------------------------------------------- inspection

def _same_bytes(path, st, data, dir_fd=None):
    """True if the regular file lstat()ed as ``st`` holds exactly ``data``.

    Opened with O_NOFOLLOW|O_NONBLOCK and checked to be the same inode, so a
    swapped-in symlink, FIFO or device is never followed, waited on or read.
    """
    try:
        fd = os.open(path, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return False
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or fst.st_ino != st.st_ino or fst.st_dev != st.st_dev:
            return False
        return _read_upto(fd, len(data) + 1) == data
    except OSError:
        return False
    finally:
        os.close(fd)


def _read_upto(fd, limit):
    chunks = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _parent_problem(entry, planned_dirs, virtual):
    """Why the missing ``entry`` could not be created in its parent, or None.

    Missing parents that entries of this task create are walked through up to
    the first one that exists (fine in check mode; in a real run that entry
    failed) or the first missing one that no entry creates (the root cause).
    """
    parent = entry.parent
    while True:
        try:
            st = os.stat(parent)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                return "cannot inspect parent directory %s: %s" % (parent, exc.strerror)
            if parent in planned_dirs and parent != "/":
                parent = os.path.dirname(parent)
                continue
            return "parent directory %s does not exist (and no entry of this task creates it)" % parent
        if not stat.S_ISDIR(st.st_mode):
            return "parent %s is not a directory" % parent
        if parent == entry.parent or virtual:
            return None
        return "parent directory %s was not created (its entry failed)" % entry.parent


def _kind(st):
    if st is None:
        return "absent"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "special file"


def _cannot_write_parent(entry, planned_dirs):
    """In check mode as an unprivileged owner: would creating or replacing the name be denied?"""
    if os.geteuid() == 0 or entry.parent in planned_dirs:
        return None
    if os.access(entry.parent, os.W_OK | os.X_OK):
        return None
    return "Permission denied: %s cannot write to %s" % (_UserDb().user_name(os.geteuid()), entry.parent)


def probe(entry, planned_dirs=(), virtual=True, planned_removals=()):
    """Decide what ``entry`` needs, reading only. Returns (action, lstat result or None, message).

    With ``virtual`` (check mode, and the first look before anything changed)
    a missing parent that an entry in ``planned_dirs`` creates counts as
    present, so do paths in ``planned_removals`` count as gone in directories to
    remove, and an unprivileged caller's write access to the parent is checked.
    """
    try:
        st = os.lstat(entry.path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            st = None
        elif exc.errno == errno.ENOTDIR:
            if entry.state == "absent":
                return UNCHANGED, None, None
            return FAIL, None, "a parent of the path is not a directory"
        else:
            return FAIL, None, "cannot inspect: %s" % exc.strerror

    if entry.state == "absent":
        if st is None:
            return UNCHANGED, None, None
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(entry.path) as listing:
                    # In check mode, what entries of this task remove does not count.
                    empty = all(virtual and item.path in planned_removals for item in listing)
            except OSError as exc:
                return FAIL, st, "cannot list directory: %s" % exc.strerror
            if not empty:
                return FAIL, st, "is a directory that is not empty; bulk_files never removes data recursively"
        problem = virtual and _cannot_write_parent(entry, planned_dirs)
        if problem:
            return FAIL, st, problem
        return REMOVE, st, None

    if st is None:
        problem = _parent_problem(entry, planned_dirs, virtual) or (
            virtual and _cannot_write_parent(entry, planned_dirs))
        if problem:
            return FAIL, None, problem
        return CREATE, None, None
    if not entry.force:
        return UNCHANGED, st, None
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return FAIL, st, "is a symlink; bulk_files never writes through or replaces a symlink"
    same_attrs = st.st_uid == entry.uid and st.st_gid == entry.gid and stat.S_IMODE(mode) == entry.mode
    if entry.state == "directory":
        if not stat.S_ISDIR(mode):
            return FAIL, st, "is a %s, expected a directory" % _kind(st)
        return (UNCHANGED if same_attrs else UPDATE), st, None
    if not stat.S_ISREG(mode):
        return FAIL, st, "is a %s, expected a regular file" % _kind(st)
    if same_attrs and st.st_size == len(entry.data) and _same_bytes(entry.path, st, entry.data):
        return UNCHANGED, st, None
    problem = virtual and _cannot_write_parent(entry, planned_dirs)
    if problem:
        return FAIL, st, problem
    return UPDATE, st, None


# --------------------------------------------------------------------------- diffs

def _describe(kind, owner, group, mode):
    return "%s %s:%s %04o" % (kind, owner, group, mode)


def _describe_st(st, db):
    kind = _kind(st)
    if st is None:
        return "absent"
    if kind in ("file", "directory"):
        return _describe(kind, db.user_name(st.st_uid), db.group_name(st.st_gid), stat.S_IMODE(st.st_mode))
    return kind


def _attr_text(kind, owner, group, mode):
    return "state: %s\nowner: %s\ngroup: %s\nmode: %04o\n" % (kind, owner, group, mode)


def _attr_text_st(st, db):
    if st is None:
        return ""
    kind = _kind(st)
    if kind in ("file", "directory"):
        return _attr_text(kind, db.user_name(st.st_uid), db.group_name(st.st_gid), stat.S_IMODE(st.st_mode))
    return "state: %s\n" % kind


def content_text(data, total=None):
    """Diff text of file bytes: capped at DIFF_LIMIT, binary shown as a placeholder."""
    total = len(data) if total is None else total
    if total > DIFF_LIMIT or len(data) > DIFF_LIMIT:
        shown = data[:DIFF_LIMIT]
        if b"\0" in shown:
            return "<binary content, %d bytes>\n" % total
        return (shown.decode("utf-8", "replace")
                + "\n[... diff truncated: %d bytes in total, showing the first %d]\n" % (total, DIFF_LIMIT))
    if b"\0" in data:
        return "<binary content, %d bytes>\n" % total
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "<binary content, %d bytes>\n" % total


def _read_for_diff(entry, st):
    try:
        fd = os.open(entry.path, _READ_FLAGS)
    except OSError as exc:
        return "<cannot read: %s>\n" % exc.strerror
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or fst.st_ino != st.st_ino:
            return "<changed while reading>\n"
        return content_text(_read_upto(fd, DIFF_LIMIT + 1), fst.st_size)
    except OSError as exc:
        return "<cannot read: %s>\n" % exc.strerror
    finally:
        os.close(fd)


def make_diff(entry, action, st, db):
    """Before/after of one changed entry, with the type, owner, group and mode in the headers.

    Regular files show their content; when only owner, group or mode change
    (and for directories) the texts are those attributes, so the change shows.
    ``diff: false`` entries never show content.
    """
    before_header = "%s (%s)" % (entry.path, _describe_st(st, db))
    if action == REMOVE:
        after_header = "%s (absent)" % entry.path
        if st is not None and stat.S_ISREG(st.st_mode):
            before = _read_for_diff(entry, st) if entry.diff else (
                "<content hidden (diff: false), %d bytes>\n" % st.st_size)
        else:
            before = _attr_text_st(st, db)
        return {"before_header": before_header, "after_header": after_header, "before": before, "after": ""}

    after_header = "%s (%s)" % (entry.path, _describe(entry.state, entry.owner, entry.group, entry.mode))
    if entry.state == "directory":
        return {"before_header": before_header, "after_header": after_header,
                "before": _attr_text_st(st, db),
                "after": _attr_text("directory", entry.owner, entry.group, entry.mode)}
    if st is None:
        before = ""
        after = content_text(entry.data) if entry.diff else (
            "<content hidden (diff: false), %d bytes>\n" % len(entry.data))
    elif st.st_size == len(entry.data) and _same_bytes(entry.path, st, entry.data):
        before = _attr_text_st(st, db)
        after = _attr_text("file", entry.owner, entry.group, entry.mode)
    elif entry.diff:
        before = _read_for_diff(entry, st)
        after = content_text(entry.data)
    else:
        before = "<content hidden (diff: false), %d bytes>\n" % st.st_size
        after = "<content hidden (diff: false), %d bytes, changed>\n" % len(entry.data)
    return {"before_header": before_header, "after_header": after_header, "before": before, "after": after}


# --------------------------------------------------------------------------- applying

class _DirFds(object):
    """Descriptor of the current parent directory; fsynced once when left if it was written to.

    Entries are sorted by (depth, parent), so consecutive entries share it.
    """

    def __init__(self):
        self.path = None
        self.fd = None
        self.dirty = False
        self.warnings = []

    def get(self, path):
        if path != self.path:
            self.close()
            try:
                self.fd = os.open(path, _DIR_FLAGS)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                    raise _EntryFailure("parent directory %s does not exist" % path)
                raise _EntryFailure("cannot open parent directory %s: %s" % (path, exc.strerror))
            self.path = path
        return self.fd

    def close(self):
        if self.fd is not None:
            if self.dirty:
                try:
                    os.fsync(self.fd)
                except OSError as exc:
                    if exc.errno not in (errno.EINVAL, errno.EROFS):
                        self.warnings.append("fsync of directory %s failed: %s" % (self.path, exc.strerror))
            os.close(self.fd)
        self.path = self.fd = None
        self.dirty = False


def _lstat_at(name, dir_fd):
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _write_file(entry, action, dirs):
    pfd = dirs.get(entry.parent)
    tmp = ".%s.%s.tmp" % (entry.name[:100], os.urandom(6).hex())
    fd = os.open(tmp, _TMP_FLAGS, 0o600, dir_fd=pfd)
    tmp_exists = True
    try:
        try:
            view = memoryview(entry.data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            # chown first: it clears setuid/setgid bits that fchmod then sets.
            os.fchown(fd, entry.uid, entry.gid)
            os.fchmod(fd, entry.mode)
        finally:
            os.close(fd)
        if action == CREATE and not entry.force:
            # Create only if still missing: link() never replaces anything.
            try:
                os.link(tmp, entry.name, src_dir_fd=pfd, dst_dir_fd=pfd, follow_symlinks=False)
                dirs.dirty = True
                return CREATE
            except OSError as exc:
                if exc.errno == errno.EEXIST:
                    return UNCHANGED
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
        current = _lstat_at(entry.name, pfd)
        if current is not None and not stat.S_ISREG(current.st_mode):
            raise _EntryFailure("a %s appeared at the path while writing; not replaced" % _kind(current))
        if current is not None and not entry.force:
            return UNCHANGED
        os.rename(tmp, entry.name, src_dir_fd=pfd, dst_dir_fd=pfd)
        tmp_exists = False
        dirs.dirty = True
        return action
    finally:
        if tmp_exists:
            try:
                os.unlink(tmp, dir_fd=pfd)
            except OSError:
                pass


def _fix_dir(name, pfd, entry):
    dfd = os.open(name, _DIR_FLAGS | _O_NOFOLLOW, dir_fd=pfd)
    try:
        st = os.fstat(dfd)
        if st.st_uid != entry.uid or st.st_gid != entry.gid:
            os.fchown(dfd, entry.uid, entry.gid)
        os.fchmod(dfd, entry.mode)
    finally:
        os.close(dfd)


def _make_dir(entry, action, dirs):
    pfd = dirs.get(entry.parent)
    if action == CREATE:
        try:
            os.mkdir(entry.name, 0o700, dir_fd=pfd)
            dirs.dirty = True
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            if not entry.force:
                return UNCHANGED
            action = UPDATE
    try:
        _fix_dir(entry.name, pfd, entry)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _EntryFailure("is not a directory (or became a symlink); not followed")
        raise
    return action


def _remove(entry, dirs):
    pfd = dirs.get(entry.parent)
    current = _lstat_at(entry.name, pfd)
    if current is None:
        return UNCHANGED
    try:
        if stat.S_ISDIR(current.st_mode):
            os.rmdir(entry.name, dir_fd=pfd)
        else:
            os.unlink(entry.name, dir_fd=pfd)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise _EntryFailure("is a directory that is not empty; bulk_files never removes data recursively")
        raise
    dirs.dirty = True
    return REMOVE


def _process(entry, check_mode, want_diff, planned, dirs, db):
    """Probe and (unless check_mode) apply one entry in the current credentials."""
    result = {"i": entry.index}
    action, st, msg = probe(entry, planned[0], check_mode, planned[1])
    if action in (FAIL, UNCHANGED):
        result["action"] = action
        if msg:
            result["msg"] = msg
        return result
    diff = make_diff(entry, action, st, db) if want_diff else None
    if not check_mode:
        try:
            if entry.state == "absent":
                action = _remove(entry, dirs)
            elif entry.state == "directory":
                action = _make_dir(entry, action, dirs)
            else:
                action = _write_file(entry, action, dirs)
        except _EntryFailure as exc:
            action, diff = FAIL, None
            result["msg"] = str(exc)
        except OSError as exc:
            action, diff = FAIL, None
            result["msg"] = exc.strerror or str(exc)
    result["action"] = action
    if diff is not None and action != UNCHANGED:
        result["diff"] = diff
    return result


def _run_local(entries, check_mode, want_diff, planned, db):
    dirs = _DirFds()
    results = []
    try:
        for entry in entries:
            results.append(_process(entry, check_mode, want_diff, planned, dirs, db))
    finally:
        dirs.close()
    return results, dirs.warnings


# --------------------------------------------------------------------------- running as the owner

def _set_nondumpable():
    """The forked child holds every entry of the run (other users' secrets too): keep it unreadable."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:  # pylint: disable=broad-except
        pass


def drop_privileges(uid, gid, groups):
    """setgroups, setgid, setuid (real, effective and saved) to the owner, and verify it stuck."""
    if os.geteuid() != 0:
        if os.geteuid() == uid:
            return
        raise OSError(errno.EPERM, "not running as root, cannot act as uid %d" % uid)
    _set_nondumpable()
    os.setgroups(list(groups))
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if uid != 0:
        try:
            os.setuid(0)
        except OSError:
            pass
        else:
            raise OSError(errno.EPERM, "privileges could not be dropped")
    if os.getuid() != uid or os.geteuid() != uid or os.getegid() != gid:
        raise OSError(errno.EPERM, "privileges could not be dropped")


def _child_main(wfd, owner, entries, check_mode, want_diff, planned, db):
    code = 0
    try:
        try:
            drop_privileges(owner["uid"], owner["gid"], owner["groups"])
            results, warnings = _run_local(entries, check_mode, want_diff, planned, db)
            out = {"results": results, "warnings": warnings}
        except BaseException as exc:  # pylint: disable=broad-except
            out = {"error": str(exc)}
            code = 1
        payload = json.dumps(out).encode("utf-8")
        view = memoryview(payload)
        while view:
            view = view[os.write(wfd, view):]
    finally:
        os._exit(code)  # never return into the caller's code (or the test runner)


def _owner_info(entries, db):
    entry = entries[0]
    pw = db.user(entry.owner) if isinstance(entry.owner, str) else None
    if pw is None:
        pw = pwd.getpwuid(entry.uid)
    try:
        groups = os.getgrouplist(pw.pw_name, pw.pw_gid)
    except OSError:
        groups = [pw.pw_gid]
    return {"name": pw.pw_name, "uid": pw.pw_uid, "gid": pw.pw_gid, "groups": groups}


def _run_as_owners(batches, check_mode, want_diff, planned, db, max_children=MAX_CHILDREN):
    """Run each owner's batch in a forked child that dropped to the owner; a few children at a time."""
    results = []
    warnings = []
    queue = list(batches)
    running = {}
    selector = selectors.DefaultSelector()

    def start(entries):
        owner = _owner_info(entries, db)
        try:
            rfd, wfd = os.pipe()
        except OSError as exc:
            fail_all(owner, entries, "cannot start a child process: %s" % exc.strerror)
            return
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(rfd)
            os.close(wfd)
            fail_all(owner, entries, "cannot start a child process: %s" % exc.strerror)
            return
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                # Not even the pipes of the other owners' children stay open in this one.
                for other in list(running) + [rfd]:
                    os.close(other)
                _child_main(wfd, owner, entries, check_mode, want_diff, planned, db)
            finally:
                os._exit(1)
        os.close(wfd)
        running[rfd] = (pid, owner, entries, [])
        selector.register(rfd, selectors.EVENT_READ)

    def fail_all(owner, entries, msg):
        for entry in entries:
            results.append({"i": entry.index, "action": FAIL, "msg": "as_owner %s: %s" % (owner["name"], msg)})

    def finish(rfd):
        pid, owner, entries, chunks = running.pop(rfd)
        selector.unregister(rfd)
        os.close(rfd)
        _pid, status = os.waitpid(pid, 0)
        try:
            out = json.loads(b"".join(chunks).decode("utf-8"))
        except ValueError:
            out = {"error": "child process exited with status %d without a result" % status}
        if "error" in out:
            fail_all(owner, entries, out["error"])
        else:
            results.extend(out["results"])
            warnings.extend(out.get("warnings", ()))

    try:
        while queue or running:
            while queue and len(running) < max_children:
                start(queue.pop(0))
            if not running:
                continue
            for key, _events in selector.select():
                chunk = os.read(key.fd, 1 << 16)
                if chunk:
                    running[key.fd][3].append(chunk)
                else:
                    finish(key.fd)
    finally:
        for rfd in list(running):
            finish(rfd)
        selector.close()
    return results, warnings


# --------------------------------------------------------------------------- the run

def _creation_order(entry):
    return (entry.depth, entry.parent, entry.index)


def _removal_order(entry):
    return (-entry.depth, entry.parent, entry.index)


def _stages(entries, removal):
    """Group entries into stages so each path's ancestors (creation) or descendants (removal)
    handled by another runner are done in an earlier stage; within a stage one batch per runner.
    """
    by_path = dict((e.path, e) for e in entries)
    stage = {}
    if removal:
        floor = {}
        for entry in sorted(entries, key=lambda e: -e.depth):
            level = floor.get(entry.path, 0)
            stage[entry.path] = level
            parent = entry.parent
            while parent != "/":
                holder = by_path.get(parent)
                if holder is not None:
                    need = level + (holder.runner() != entry.runner())
                    if need > floor.get(parent, 0):
                        floor[parent] = need
                parent = os.path.dirname(parent)
        key = _removal_order
    else:
        for entry in sorted(entries, key=lambda e: e.depth):
            level = 0
            parent = entry.parent
            while parent != "/":
                holder = by_path.get(parent)
                if holder is not None:
                    level = max(level, stage[parent] + (holder.runner() != entry.runner()))
                parent = os.path.dirname(parent)
            stage[entry.path] = level
        key = _creation_order
    grouped = {}
    for entry in entries:
        grouped.setdefault(stage[entry.path], {}).setdefault(entry.runner(), []).append(entry)
    ordered = []
    for level in sorted(grouped):
        runners = grouped[level]
        local = sorted(runners.pop(None, []), key=key)
        owners = [sorted(runners[uid], key=key) for uid in sorted(runners)]
        ordered.append((local, owners))
    return ordered


def _unsafe_ancestor(path, cache):
    """The first directory above ``path``'s parent that a non-root user could rename or swap, if any.

    The parent itself may belong to a user (the final component is never
    followed); what matters is whether someone other than root can replace the
    parent or a directory above it, which is decided by who owns (or may write
    to) the directories that contain it. Root following such a path can be
    redirected anywhere; those entries should use as_owner.
    """
    parent = os.path.dirname(path)
    current = parent
    while current != "/":
        st = cache.get(current, False)
        if st is False:
            try:
                st = os.lstat(current)
            except OSError:
                st = None
            cache[current] = st
        if st is not None:
            mode = st.st_mode
            if stat.S_ISLNK(mode):
                if st.st_uid != 0:
                    return current
            elif current != parent and (st.st_uid != 0 or (mode & 0o020 and st.st_gid != 0)
                                        or (mode & 0o002 and not mode & stat.S_ISVTX)):
                return current
        current = os.path.dirname(current)
    return None


def reconcile(files, check_mode=False, want_diff=False, max_children=MAX_CHILDREN):
    """Bring every entry of ``files`` to its state in one go.

    Raises BulkFilesError (nothing touched) for invalid input. Otherwise returns
    a dict: changed, changed_paths, changed_tags, summary (counts), failures
    (entries that could not be reconciled, each with index, path, tag and msg),
    warnings, and ``_diff`` (a list of before/after dicts, or None without want_diff).
    """
    db = _UserDb()
    entries = validate_entries(files, db)
    planned_dirs = frozenset(e.path for e in entries if e.state == "directory")
    # A directory to remove counts as empty only if what it holds is removed by
    # this task too and those removals can really happen: decide deepest first.
    removable = set()
    for entry in sorted((e for e in entries if e.state == "absent"), key=lambda e: -e.path.count("/")):
        if probe(entry, planned_dirs, True, frozenset(removable))[0] == REMOVE:
            removable.add(entry.path)
    planned = (planned_dirs, frozenset(removable))

    pending = []
    for entry in entries:
        action, _st, _msg = probe(entry, planned[0], True, planned[1])
        if action != UNCHANGED:
            pending.append(entry)

    warnings = []
    cache = {}
    exposed = []
    for entry in pending:
        if not entry.as_owner:
            where = _unsafe_ancestor(entry.path, cache)
            if where:
                exposed.append("files[%d] (%s) via %s" % (entry.index, entry.path, where))
    if exposed:
        warnings.append("%d entr%s without as_owner lie below a directory that a non-root user can replace, "
                        "so a planted symlink could redirect root's write; set as_owner: true for them: %s%s"
                        % (len(exposed), "y" if len(exposed) == 1 else "ies", "; ".join(exposed[:5]),
                           " ..." if len(exposed) > 5 else ""))

    outcome = {}
    plan = _stages([e for e in pending if e.state == "absent"], removal=True) + \
        _stages([e for e in pending if e.state != "absent"], removal=False)
    for local, owners in plan:
        if local:
            results, more = _run_local(local, check_mode, want_diff, planned, db)
            outcome.update((r["i"], r) for r in results)
            warnings.extend(more)
        if owners:
            results, more = _run_as_owners(owners, check_mode, want_diff, planned, db, max_children)
            outcome.update((r["i"], r) for r in results)
            warnings.extend(more)

    counts = {"created": 0, "updated": 0, "removed": 0, "unchanged": 0}
    changed_paths = []
    tags = set()
    failures = []
    diffs = [] if want_diff else None
    for entry in entries:
        result = outcome.get(entry.index)
        action = result["action"] if result else UNCHANGED
        if action == FAIL:
            failures.append({"index": entry.index, "path": entry.path, "tag": entry.tag,
                             "msg": result.get("msg", "failed")})
            continue
        counts[_COUNT_KEY[action]] += 1
        if action == UNCHANGED:
            continue
        changed_paths.append(entry.path)
        if entry.tag is not None:
            tags.add(entry.tag)
        if want_diff and result.get("diff"):
            diffs.append(result["diff"])
    return {
        "changed": bool(changed_paths),
        "changed_paths": changed_paths,
        "changed_tags": sorted(tags),
        "summary": counts,
        "failures": failures,
        "warnings": warnings,
        "_diff": diffs,
    }
