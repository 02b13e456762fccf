"""Registry format, fail-closed loading, atomic writes (crash safety) and the lock."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.sharedhost.hosting.plugins.module_utils import port_registry
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import (
    RegistryError,
    RegistryLock,
    dumps,
    empty_registry,
    load,
    write_atomic,
)


def doc_with(users, quarantine=()):
    doc = empty_registry()
    doc["users"] = dict((name, {"ports": ports}) for name, ports in users.items())
    doc["quarantine"] = list(quarantine)
    return doc


def test_missing_registry_is_empty(tmp_path):
    doc, existed = load(str(tmp_path / "ports.json"))
    assert doc == empty_registry() and not existed


def test_roundtrip(tmp_path):
    path = str(tmp_path / "ports.json")
    doc = doc_with({"alice": [20001, 20000]}, [{"port": 20005, "user": "bob", "released_at": 7}])
    write_atomic(path, dumps(doc))
    loaded, existed = load(path)
    assert existed and loaded["users"]["alice"]["ports"] == [20000, 20001]
    assert loaded["quarantine"] == [{"port": 20005, "user": "bob", "released_at": 7}]


@pytest.mark.parametrize("content, message", [
    (b"{not json", "corrupt registry (not valid JSON"),
    (b"\xff\xfe", "corrupt registry"),
    (b"[]", "top level is not a JSON object"),
    (b'{"format": "other", "version": 1, "users": {}}', "not a sharedhost port registry"),
    (b'{"format": "sharedhost.hosting/ports", "version": 2, "users": {}}',
     "unsupported registry version 2 (this collection understands version 1)"),
    (b'{"format": "sharedhost.hosting/ports", "version": 1, "users": []}', "'users' is not an object"),
    (b'{"format": "sharedhost.hosting/ports", "version": 1, "users": {"a": {"ports": [20000]},'
     b' "b": {"ports": [20000]}}}', "port 20000 is held by both 'a' and 'b'"),
    (b'{"format": "sharedhost.hosting/ports", "version": 1, "users": {"a": {"ports": [80000]}}}',
     "user 'a' has an invalid port 80000"),
    (b'{"format": "sharedhost.hosting/ports", "version": 1, "users": {"a": {"ports": []}}}',
     "user 'a' has an empty 'ports' list"),
    (b'{"format": "sharedhost.hosting/ports", "version": 1, "users": {"a": {"ports": [20000]}},'
     b' "quarantine": [{"port": 20000, "user": "b", "released_at": 1}]}',
     "port 20000 is both allocated to 'a' and in quarantine"),
    (b'{"format": "sharedhost.hosting/ports", "version": 1, "users": {},'
     b' "quarantine": [{"port": 20000, "user": "b", "released_at": "x"}]}', "invalid released_at"),
])
def test_corrupt_registries_fail_closed(tmp_path, content, message):
    path = tmp_path / "ports.json"
    path.write_bytes(content)
    with pytest.raises(RegistryError) as excinfo:
        load(str(path))
    assert message in str(excinfo.value)
    assert "nothing was changed" in str(excinfo.value)
    assert path.read_bytes() == content


def test_write_keeps_previous_version_as_backup(tmp_path):
    path = str(tmp_path / "ports.json")
    write_atomic(path, "one\n")
    assert not os.path.exists(path + ".bak")
    write_atomic(path, "two\n")
    write_atomic(path, "three\n")
    assert open(path).read() == "three\n"
    assert open(path + ".bak").read() == "two\n"
    assert sorted(os.listdir(str(tmp_path))) == ["ports.json", "ports.json.bak"]
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)


@pytest.mark.parametrize("failing_call", ["fsync", "chmod", "link", "rename-bak", "rename-new", "fsync-dir"])
def test_interrupted_write_leaves_old_or_new_registry(tmp_path, monkeypatch, failing_call):
    """Inject a failure at every step of the write: the registry stays loadable and unchanged."""
    path = str(tmp_path / "ports.json")
    old = dumps(doc_with({"alice": [20000]}))
    new = dumps(doc_with({"alice": [20000], "bob": [20001]}))
    write_atomic(path, old)

    real = {"fsync": os.fsync, "chmod": os.chmod, "link": os.link, "rename": os.rename}
    calls = {"rename": 0, "fsync": 0}

    class Boom(Exception):
        pass

    def fsync(fd):
        calls["fsync"] += 1
        if failing_call == "fsync" and calls["fsync"] == 1 or failing_call == "fsync-dir" and calls["fsync"] == 2:
            raise Boom()
        return real["fsync"](fd)

    def chmod(*args):
        if failing_call == "chmod":
            raise Boom()
        return real["chmod"](*args)

    def link(*args):
        if failing_call == "link":
            raise Boom()
        return real["link"](*args)

    def rename(src, dst):
        calls["rename"] += 1
        if (failing_call == "rename-bak" and calls["rename"] == 1) or (failing_call == "rename-new" and calls["rename"] == 2):
            raise Boom()
        return real["rename"](src, dst)

    monkeypatch.setattr(port_registry.os, "fsync", fsync)
    monkeypatch.setattr(port_registry.os, "chmod", chmod)
    monkeypatch.setattr(port_registry.os, "link", link)
    monkeypatch.setattr(port_registry.os, "rename", rename)
    with pytest.raises(Boom):
        write_atomic(path, new)
    monkeypatch.undo()

    content = open(path).read()
    assert content in (old, new)
    load(path)
    # No temp files are left behind to confuse the next run.
    assert not [n for n in os.listdir(str(tmp_path)) if n.endswith(".tmp") or ".tmp." in n]


CRASH_WRITER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sharedhost.hosting.plugins.module_utils.port_registry import dumps, empty_registry, write_atomic
path = sys.argv[2]
i = 0
print("ready", flush=True)
while True:
    i += 1
    doc = empty_registry()
    # Documents of varying size so a torn write could not look whole.
    doc["users"] = dict(("u%d" % n, {"ports": [20000 + n]}) for n in range(i % 500 + 1))
    write_atomic(path, dumps(doc))
"""


def test_sigkill_during_writes_never_leaves_a_broken_registry(tmp_path):
    """A real crash: kill -9 a process that rewrites the registry in a tight loop, many times."""
    collections = os.path.join(os.path.dirname(port_registry.__file__), "..", "..", "..", "..", "..")
    path = str(tmp_path / "ports.json")
    script = tmp_path / "writer.py"
    script.write_text(CRASH_WRITER)
    for attempt in range(25):
        proc = subprocess.Popen([sys.executable, str(script), os.path.abspath(collections), path],
                                stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.02 + (attempt % 5) * 0.013)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        if os.path.exists(path):
            doc, existed = load(path)
            assert existed and doc["users"]
        if os.path.exists(path + ".bak"):
            load(path + ".bak")


def test_lock_times_out_while_another_run_holds_it(tmp_path):
    path = str(tmp_path / "ports.json")
    with RegistryLock(path, timeout=5):
        started = time.monotonic()
        with pytest.raises(RegistryError, match="timed out after 0.3s waiting for the lock"):
            with RegistryLock(path, timeout=0.3):
                pass
        assert time.monotonic() - started >= 0.3
    # Released: it can be taken again.
    with RegistryLock(path, timeout=0.3):
        pass


def test_shared_lock_does_not_create_the_lock_file(tmp_path):
    path = str(tmp_path / "ports.json")
    with RegistryLock(path, shared=True):
        pass
    assert not os.path.exists(path + ".lock")


def test_dumps_is_canonical():
    a = doc_with({"b": [2000], "a": [3000]})
    b = json.loads(dumps(a))
    assert dumps(b) == dumps(a)
