# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The port allocation registry on the managed host: format, locking, atomic IO.

The registry is a small JSON document::

    {"format": "sharedhost.hosting/ports", "version": 1,
     "users": {"alice": {"ports": [20000]}},
     "quarantine": [{"port": 20001, "user": "bob", "released_at": 1764201600}]}

It is read and written only under an exclusive lock on ``<registry>.lock``, it
is replaced atomically (temp file, fsync, rename, fsync of the directory) and
the previous version is kept as ``<registry>.bak``. A document that does not
validate is never rewritten: the caller gets RegistryError and must repair it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import os
import tempfile
import time

REGISTRY_FORMAT = "sharedhost.hosting/ports"
REGISTRY_VERSION = 1
PORT_MIN = 1
PORT_MAX = 65535


class RegistryError(Exception):
    """The registry cannot be used (corrupt, unknown version, IO, lock)."""


def empty_registry():
    return {"format": REGISTRY_FORMAT, "version": REGISTRY_VERSION,
            "users": {}, "quarantine": []}


def _is_port(value):
    return isinstance(value, int) and not isinstance(value, bool) and PORT_MIN <= value <= PORT_MAX


def validate_registry(doc, source="registry"):
    """Check the structure of a registry document; raise RegistryError naming the problem.

    Returns the document normalised (ports sorted, quarantine sorted).
    """
    def fail(msg):
        raise RegistryError("%s: %s" % (source, msg))

    if not isinstance(doc, dict):
        fail("top level is not a JSON object")
    if doc.get("format") != REGISTRY_FORMAT:
        fail("not a sharedhost port registry (format is %r, expected %r)"
             % (doc.get("format"), REGISTRY_FORMAT))
    version = doc.get("version")
    if version != REGISTRY_VERSION:
        fail("unsupported registry version %r (this collection understands version %d)"
             % (version, REGISTRY_VERSION))
    users = doc.get("users")
    if not isinstance(users, dict):
        fail("'users' is not an object")
    quarantine = doc.get("quarantine", [])
    if not isinstance(quarantine, list):
        fail("'quarantine' is not a list")

    owner = {}
    clean_users = {}
    for name, entry in users.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("ports"), list):
            fail("user %r has no 'ports' list" % name)
        ports = entry["ports"]
        if not ports:
            fail("user %r has an empty 'ports' list" % name)
        for port in ports:
            if not _is_port(port):
                fail("user %r has an invalid port %r" % (name, port))
            if port in owner:
                fail("port %d is held by both %r and %r" % (port, owner[port], name))
            owner[port] = name
        clean = dict(entry)
        clean["ports"] = sorted(ports)
        clean_users[name] = clean

    clean_quarantine = []
    seen = set()
    for item in quarantine:
        if not isinstance(item, dict):
            fail("quarantine entry %r is not an object" % (item,))
        port = item.get("port")
        released_at = item.get("released_at")
        if not _is_port(port):
            fail("quarantine entry has an invalid port %r" % (port,))
        if not isinstance(item.get("user"), str):
            fail("quarantine entry for port %d has no user" % port)
        if not isinstance(released_at, (int, float)) or isinstance(released_at, bool):
            fail("quarantine entry for port %d has an invalid released_at %r" % (port, released_at))
        if port in owner:
            fail("port %d is both allocated to %r and in quarantine" % (port, owner[port]))
        if port in seen:
            fail("port %d is in quarantine twice" % port)
        seen.add(port)
        clean_quarantine.append({"port": port, "user": item["user"], "released_at": int(released_at)})

    result = dict(doc)
    result["users"] = clean_users
    result["quarantine"] = sorted(clean_quarantine, key=lambda q: q["port"])
    return result


def dumps(doc):
    """Canonical serialisation: stable key order so equal documents are equal text."""
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def load(path):
    """Read and validate the registry; a missing file is an empty registry."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return empty_registry(), False
        raise RegistryError("%s: cannot read: %s" % (path, exc))
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(
            "%s: corrupt registry (not valid JSON: %s); nothing was changed. "
            "Restore it from %s.bak or repair it by hand." % (path, exc, path))
    try:
        return validate_registry(doc, source=path), True
    except RegistryError as exc:
        raise RegistryError("%s; nothing was changed. Restore it from %s.bak or repair it by hand."
                            % (exc, path))


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, text, mode=0o644, keep_backup=True):
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file.

    The old file is hard-linked to ``path.bak`` (atomically replacing any older
    backup) before the new one is renamed into place.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if keep_backup and os.path.exists(path):
            bak_tmp = tmp + ".bak"
            os.link(path, bak_tmp)
            os.rename(bak_tmp, path + ".bak")
        os.rename(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        for leftover in (tmp, tmp + ".bak"):
            try:
                os.unlink(leftover)
            except OSError:
                pass
        raise


class RegistryLock(object):
    """An flock on ``<registry>.lock``; concurrent runs on one host serialise here.

    ``shared=True`` takes a shared lock and never creates the lock file (check
    mode must not change the host); without the file there is nothing to wait for.
    """

    def __init__(self, path, timeout=60.0, shared=False):
        self.path = path + ".lock"
        self.timeout = timeout
        self.shared = shared
        self.fd = None

    def __enter__(self):
        flags = os.O_RDWR if not self.shared else os.O_RDONLY
        try:
            if self.shared:
                self.fd = os.open(self.path, flags)
            else:
                self.fd = os.open(self.path, flags | os.O_CREAT, 0o600)
        except OSError as exc:
            if self.shared and exc.errno == errno.ENOENT:
                return self
            raise RegistryError("cannot open lock file %s: %s" % (self.path, exc))
        operation = (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(self.fd, operation)
                return self
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    self._close()
                    raise RegistryError("cannot lock %s: %s" % (self.path, exc))
            if time.monotonic() >= deadline:
                self._close()
                raise RegistryError(
                    "timed out after %ss waiting for the lock %s (another run is allocating)"
                    % (self.timeout, self.path))
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __exit__(self, *exc_info):
        self._close()
        return False
