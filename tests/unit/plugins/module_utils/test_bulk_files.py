"""bulk_files reconciliation on real files: validation, ordering, idempotence, force, absent,
symlink refusal, as_owner privilege drop with a real unprivileged user, check mode, diffs, speed.
"""
import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time

import pytest

from ansible_collections.sharedhost.hosting.plugins.module_utils import bulk_files
from ansible_collections.sharedhost.hosting.plugins.module_utils.bulk_files import (
    DIFF_LIMIT,
    BulkFilesError,
    reconcile,
    validate_entries,
)

TEST_USER = "sharedhost-test-u1"


# ----------------------------------------------------------------------------- fixtures / helpers

@pytest.fixture(scope="session")
def user():
    """A real unprivileged user (created once if missing; the tests run as root)."""
    if os.geteuid() != 0:
        pytest.skip("as_owner tests need root")
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    if not shutil.which("useradd"):
        pytest.skip("useradd is not available")
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                    "--shell", "/usr/sbin/nologin", TEST_USER], check=True, capture_output=True)
    return pwd.getpwnam(TEST_USER)


@pytest.fixture
def shared(tmp_path_factory):
    """A root-owned 0755 directory the test user can traverse (pytest's tmp_path is 0700)."""
    path = tempfile.mkdtemp(prefix="bulk-files-test-", dir="/tmp")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def group_of(pw):
    return grp.getgrgid(pw.pw_gid).gr_name


def snapshot(directory):
    """Every path below directory with type, owner, mode, mtime and bytes: proves nothing changed."""
    found = {}
    for root, dirs, files in os.walk(str(directory)):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as handle:
                    data = handle.read()
            elif stat.S_ISLNK(st.st_mode):
                data = os.readlink(full)
            found[full] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ino, data)
    return found


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def attrs(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def no_temp_files(directory):
    return [n for _r, _d, files in os.walk(str(directory)) for n in files if n.endswith(".tmp")] == []


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("entry, message", [
    ({"content": "x"}, "files[0]: path is required and must be an absolute path"),
    ({"path": "etc/x", "content": "x"}, "files[0] (etc/x): path 'etc/x' is not absolute"),
    ({"path": "/srv/../etc/x", "content": "x"}, "path '/srv/../etc/x' contains a '..' component"),
    ({"path": "/", "state": "directory"}, "path '/' cannot be managed"),
    ({"path": "/srv/x"}, "files[0] (/srv/x): content is required when state is file"),
    ({"path": "/srv/x", "content": 42}, "content must be a string, got int"),
    ({"path": "/srv/x", "state": "directory", "content": "x"}, "content is only valid with state file"),
    ({"path": "/srv/x", "state": "link"}, "state 'link' is not one of file, directory, absent"),
    ({"path": "/srv/x", "content": "x", "mode": "rw-r--r--"}, "mode 'rw-r--r--' is not an octal string"),
    ({"path": "/srv/x", "content": "x", "mode": "0999"}, "mode '0999' is not an octal string"),
    ({"path": "/srv/x", "content": "x", "mode": 644}, "integer mode 644 has special bits set (octal 1204)"),
    ({"path": "/srv/x", "content": "x", "mode": 99999}, "mode 99999 is out of range"),
    ({"path": "/srv/x", "content": "x", "mode": True}, "mode True is not an octal string"),
    ({"path": "/srv/x", "content": "x", "owner": "no-such-user-zz"}, "unknown owner 'no-such-user-zz'"),
    ({"path": "/srv/x", "content": "x", "group": "no-such-group-zz"}, "unknown group 'no-such-group-zz'"),
    ({"path": "/srv/x", "content": "x", "owner": ["root"]}, "owner must be a user name"),
    ({"path": "/srv/x", "content": "x", "contents": "y"}, "unknown key(s) contents (allowed: path, state"),
    ({"path": "/srv/x", "content": "x", "force": "maybe"}, "force must be a boolean, got 'maybe'"),
    ({"path": "/srv/x", "content": "x", "as_owner": "perhaps"}, "as_owner must be a boolean"),
    ({"path": "/srv/x", "content": "x", "diff": []}, "diff must be a boolean"),
    ({"path": "/srv/x", "content": "x", "tag": ["alice"]}, "tag must be a string"),
    ({"path": "/srv/x", "content": "x", "as_owner": True}, "as_owner needs an unprivileged owner"),
    ("just a string", "files[0]: expected a mapping with at least 'path'"),
])
def test_every_validation_error_is_reported(entry, message):
    with pytest.raises(BulkFilesError) as info:
        validate_entries([entry])
    assert any(message in problem for problem in info.value.problems), info.value.problems


def test_files_must_be_a_list():
    with pytest.raises(BulkFilesError, match="files must be a list of mappings"):
        validate_entries({"path": "/x"})


def test_duplicates_and_entries_inside_files_or_absent_paths():
    with pytest.raises(BulkFilesError) as info:
        validate_entries([
            {"path": "/srv/a", "content": "x"},
            {"path": "/srv//a/", "state": "directory"},
            {"path": "/srv/a/b", "content": "x"},
            {"path": "/srv/gone", "state": "absent"},
            {"path": "/srv/gone/c", "state": "directory"},
            {"path": "/srv/gone/d", "state": "absent"},
        ])
    assert info.value.problems == [
        "files[1] (/srv/a): duplicate path (first at files[0])",
        "files[2] (/srv/a/b): is inside files[0] (/srv/a) whose state is file",
        "files[4] (/srv/gone/c): is inside files[3] (/srv/gone) whose state is absent",
    ]


def test_one_message_lists_every_bad_entry_and_nothing_changes(tmp_path):
    before = snapshot(tmp_path)
    files = [
        {"path": str(tmp_path / "good"), "content": "fine\n"},
        {"path": "relative", "content": "x"},
        {"path": str(tmp_path / "nocontent")},
        {"path": str(tmp_path / "good"), "content": "again"},
        {"path": str(tmp_path / "m"), "content": "x", "mode": "bad", "owner": "no-such-user-zz", "extra": 1},
        {"path": str(tmp_path / "dir"), "state": "directory"},
    ]
    with pytest.raises(BulkFilesError) as info:
        reconcile(files)
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "files[1] (relative)", "files[2] (%s/nocontent)" % tmp_path, "files[3] (%s/good)" % tmp_path,
        "files[4] (%s/m)" % tmp_path, "files[4] (%s/m)" % tmp_path, "files[4] (%s/m)" % tmp_path]
    assert "; ".join(problems) == str(info.value)
    assert snapshot(tmp_path) == before


def test_normalisation_and_defaults():
    entries = validate_entries([
        {"path": "/srv//www/./a/", "content": "x"},
        {"path": "/srv/www", "state": "directory", "mode": "2775", "tag": 7},
        {"path": "/srv/old", "state": "absent", "owner": "long-gone-user", "mode": "junk-is-ignored"},
        {"path": "/srv/b", "content": "x", "mode": 0o600, "force": "no", "as_owner": "false", "diff": "yes"},
    ])
    a, www, old, b = entries
    assert (a.path, a.parent, a.name, a.depth) == ("/srv/www/a", "/srv/www", "a", 3)
    assert (a.mode, a.uid, a.gid, a.force, a.as_owner, a.diff) == (0o644, 0, 0, True, False, True)
    assert (www.mode, www.tag) == (0o2775, "7")
    assert old.state == "absent" and old.uid is None
    assert (b.mode, b.force, b.as_owner, b.diff) == (0o600, False, False, True)


def test_as_owner_needs_membership_of_the_group(user):
    with pytest.raises(BulkFilesError, match="owner %r is not a member of group 'root'" % TEST_USER):
        validate_entries([{"path": "/srv/x", "content": "x", "owner": TEST_USER, "as_owner": True}])
    validate_entries([{"path": "/srv/x", "content": "x", "owner": TEST_USER, "group": group_of(user),
                       "as_owner": True}])


# ----------------------------------------------------------------------------- creating, idempotence

def test_directories_before_files_and_attributes(tmp_path, user):
    base = str(tmp_path)
    files = [  # deliberately children first
        {"path": base + "/site/conf/app.conf", "content": "a=1\n", "mode": "0640", "group": group_of(user),
         "tag": "u1"},
        {"path": base + "/site/conf", "state": "directory", "mode": "0750", "owner": TEST_USER, "tag": "u1"},
        {"path": base + "/site", "state": "directory", "tag": "site"},
        {"path": base + "/top.txt", "content": "top\n", "mode": 0o600},
    ]
    result = reconcile(files)
    assert result["changed"] and result["failures"] == []
    assert result["summary"] == {"created": 4, "updated": 0, "removed": 0, "unchanged": 0}
    assert result["changed_paths"] == [f["path"] for f in files]
    assert result["changed_tags"] == ["site", "u1"]
    assert read(base + "/site/conf/app.conf") == b"a=1\n"
    assert attrs(base + "/site/conf/app.conf") == (0, user.pw_gid, 0o640)
    assert attrs(base + "/site/conf") == (user.pw_uid, 0, 0o750)
    assert attrs(base + "/site") == (0, 0, 0o755)
    assert attrs(base + "/top.txt") == (0, 0, 0o600)
    assert no_temp_files(tmp_path)


def test_second_run_changes_nothing_and_keeps_mtime(tmp_path):
    files = [{"path": str(tmp_path / "d"), "state": "directory"},
             {"path": str(tmp_path / "d" / "f"), "content": "same\n", "tag": "x"},
             {"path": str(tmp_path / "d" / "empty"), "content": ""}]
    assert reconcile(files)["changed"]
    old = 1000000000
    os.utime(str(tmp_path / "d" / "f"), (old, old))
    before = snapshot(tmp_path)
    again = reconcile(files, want_diff=True)
    assert again["changed"] is False and again["changed_paths"] == [] and again["changed_tags"] == []
    assert again["summary"] == {"created": 0, "updated": 0, "removed": 0, "unchanged": 3}
    assert again["_diff"] == []
    assert snapshot(tmp_path) == before
    assert os.stat(str(tmp_path / "d" / "f")).st_mtime == old


def test_updates_content_mode_and_owner_atomically(tmp_path, user):
    path = str(tmp_path / "f")
    reconcile([{"path": path, "content": "one\n"}])
    inode = os.stat(path).st_ino
    result = reconcile([{"path": path, "content": "two\n"}])
    assert result["summary"]["updated"] == 1 and read(path) == b"two\n"
    assert os.stat(path).st_ino != inode  # replaced by rename, never rewritten in place
    result = reconcile([{"path": path, "content": "two\n", "mode": "0600", "owner": TEST_USER}])
    assert result["summary"]["updated"] == 1 and attrs(path) == (user.pw_uid, 0, 0o600)
    # same size, different bytes: the size check alone must not call it unchanged
    result = reconcile([{"path": path, "content": "TWO\n", "mode": "0600", "owner": TEST_USER}])
    assert result["changed"] and read(path) == b"TWO\n"
    # directories get mode and owner fixed in place
    directory = str(tmp_path / "d")
    os.mkdir(directory, 0o700)
    inode = os.stat(directory).st_ino
    result = reconcile([{"path": directory, "state": "directory", "owner": TEST_USER}])
    assert result["summary"]["updated"] == 1
    assert attrs(directory) == (user.pw_uid, 0, 0o755) and os.stat(directory).st_ino == inode


def test_special_bits_survive_the_chown(tmp_path):
    directory = str(tmp_path / "shared")
    reconcile([{"path": directory, "state": "directory", "mode": "2775"},
               {"path": directory + "/tool", "content": "#!/bin/sh\n", "mode": "4755"}])
    assert attrs(directory)[2] == 0o2775 and attrs(directory + "/tool")[2] == 0o4755
    assert not reconcile([{"path": directory, "state": "directory", "mode": "2775"},
                          {"path": directory + "/tool", "content": "#!/bin/sh\n", "mode": "4755"}])["changed"]


def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = str(tmp_path / "f")
    reconcile([{"path": path, "content": "old\n"}])

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(bulk_files.os, "fsync", broken_fsync)
    result = reconcile([{"path": path, "content": "new\n"}])
    assert not result["changed"]
    assert result["failures"] == [{"index": 0, "path": path, "tag": None, "msg": "Input/output error"}]
    assert read(path) == b"old\n" and no_temp_files(tmp_path)


def test_missing_parent_fails_that_entry_only(tmp_path):
    files = [{"path": str(tmp_path / "nope" / "f"), "content": "x", "tag": "a"},
             {"path": str(tmp_path / "ok"), "content": "x", "tag": "b"}]
    result = reconcile(files)
    assert result["changed_paths"] == [str(tmp_path / "ok")] and result["changed_tags"] == ["b"]
    assert len(result["failures"]) == 1 and result["failures"][0]["index"] == 0
    assert "parent directory %s does not exist (and no entry of this task creates it)" % (tmp_path / "nope") \
        in result["failures"][0]["msg"]


def test_nested_created_directories_in_one_run(tmp_path):
    base = str(tmp_path)
    files = [{"path": base + "/a/b/c/d/f", "content": "deep\n"}] + [
        {"path": base + p, "state": "directory"} for p in ("/a/b/c/d", "/a", "/a/b/c", "/a/b")]
    checked = reconcile(files, check_mode=True)
    assert checked["failures"] == [] and checked["summary"]["created"] == 5
    assert not os.path.exists(base + "/a")
    assert reconcile(files)["summary"]["created"] == 5 and read(base + "/a/b/c/d/f") == b"deep\n"


# ----------------------------------------------------------------------------- force: false

def test_force_false_creates_missing_but_never_touches_existing(tmp_path, user):
    edited = str(tmp_path / ".bashrc")
    with open(edited, "w") as handle:
        handle.write("user edits\n")
    os.chmod(edited, 0o600)
    os.chown(edited, user.pw_uid, user.pw_gid)
    link = str(tmp_path / ".profile")
    os.symlink("/etc/hostname", link)
    directory = str(tmp_path / "keep")
    os.mkdir(directory, 0o700)
    files = [
        {"path": edited, "content": "skeleton\n", "force": False},
        {"path": link, "content": "skeleton\n", "force": False},
        {"path": directory, "state": "directory", "mode": "0755", "force": False},
        {"path": str(tmp_path / "new"), "content": "skeleton\n", "force": False, "mode": "0640"},
    ]
    before = snapshot(tmp_path)
    result = reconcile(files)
    assert result["changed_paths"] == [str(tmp_path / "new")]
    assert result["summary"] == {"created": 1, "updated": 0, "removed": 0, "unchanged": 3}
    after = snapshot(tmp_path)
    del after[str(tmp_path / "new")]
    assert after == before
    assert read(str(tmp_path / "new")) == b"skeleton\n" and attrs(str(tmp_path / "new"))[2] == 0o640
    assert no_temp_files(tmp_path)
    assert not reconcile(files)["changed"]


def test_force_false_create_does_not_overwrite_a_file_that_appears_meanwhile(tmp_path, monkeypatch):
    path = str(tmp_path / "f")
    real_probe = bulk_files.probe

    def racing_probe(entry, *args, **kwargs):
        outcome = real_probe(entry, *args, **kwargs)
        if outcome[0] == bulk_files.CREATE and not os.path.exists(path):
            with open(path, "w") as handle:
                handle.write("the user was faster\n")
        return outcome
    monkeypatch.setattr(bulk_files, "probe", racing_probe)
    result = reconcile([{"path": path, "content": "skeleton\n", "force": False}])
    assert read(path) == b"the user was faster\n" and not result["changed"]
    assert no_temp_files(tmp_path)


# ----------------------------------------------------------------------------- absent

def test_absent_removes_files_symlinks_and_empty_directories_only(tmp_path):
    base = str(tmp_path)
    os.makedirs(base + "/empty/sub")
    os.makedirs(base + "/full")
    with open(base + "/full/data", "w") as handle:
        handle.write("user data\n")
    with open(base + "/file", "w") as handle:
        handle.write("x")
    os.symlink(base + "/full/data", base + "/link")
    files = [
        {"path": base + "/empty", "state": "absent", "tag": "e"},      # parent listed first
        {"path": base + "/empty/sub", "state": "absent", "tag": "e"},
        {"path": base + "/file", "state": "absent"},
        {"path": base + "/link", "state": "absent", "tag": "l"},
        {"path": base + "/full", "state": "absent", "tag": "f"},
        {"path": base + "/never-there", "state": "absent"},
        {"path": base + "/file/below-a-file", "state": "absent"},
    ]
    checked = reconcile(files, check_mode=True)
    assert os.path.isdir(base + "/empty/sub") and os.path.lexists(base + "/link")
    result = reconcile(files)
    for outcome in (checked, result):
        assert outcome["summary"] == {"created": 0, "updated": 0, "removed": 4, "unchanged": 2}
        assert outcome["changed_tags"] == ["e", "l"]
        assert [(f["index"], f["path"]) for f in outcome["failures"]] == [(4, base + "/full")]
        assert "not empty; bulk_files never removes data recursively" in outcome["failures"][0]["msg"]
    assert not os.path.lexists(base + "/empty") and not os.path.lexists(base + "/file")
    assert not os.path.lexists(base + "/link") and read(base + "/full/data") == b"user data\n"
    again = reconcile(files[:4])
    assert not again["changed"] and again["failures"] == []


# ----------------------------------------------------------------------------- symlinks and wrong types

def test_never_writes_through_or_replaces_a_final_symlink(tmp_path):
    target = str(tmp_path / "root-only")
    with open(target, "w") as handle:
        handle.write("precious\n")
    os.symlink(target, str(tmp_path / "f"))
    os.mkdir(str(tmp_path / "realdir"))
    os.symlink(str(tmp_path / "realdir"), str(tmp_path / "d"))
    files = [{"path": str(tmp_path / "f"), "content": "evil\n"},
             {"path": str(tmp_path / "d"), "state": "directory", "mode": "0777"},
             {"path": str(tmp_path / "ok"), "content": "ok\n"}]
    result = reconcile(files)
    assert [f["index"] for f in result["failures"]] == [0, 1]
    assert "is a symlink; bulk_files never writes through or replaces a symlink" in result["failures"][0]["msg"]
    assert "is a symlink" in result["failures"][1]["msg"]
    assert read(target) == b"precious\n" and os.path.islink(str(tmp_path / "f"))
    assert attrs(str(tmp_path / "realdir"))[2] != 0o777
    assert result["changed_paths"] == [str(tmp_path / "ok")]


def test_symlink_planted_between_probe_and_rename_is_not_replaced(tmp_path, monkeypatch):
    path = str(tmp_path / "f")
    target = str(tmp_path / "target")
    with open(target, "w") as handle:
        handle.write("precious\n")
    real_open = bulk_files.os.open

    def planting_open(name, flags, *args, **kwargs):
        fd = real_open(name, flags, *args, **kwargs)
        if isinstance(name, str) and name.endswith(".tmp") and not os.path.lexists(path):
            os.symlink(target, path)
        return fd
    monkeypatch.setattr(bulk_files.os, "open", planting_open)
    result = reconcile([{"path": path, "content": "evil\n"}])
    assert "a symlink appeared at the path while writing; not replaced" in result["failures"][0]["msg"]
    assert os.path.islink(path) and read(target) == b"precious\n" and no_temp_files(tmp_path)


def test_wrong_types_fail(tmp_path):
    os.mkdir(str(tmp_path / "isdir"))
    with open(str(tmp_path / "isfile"), "w") as handle:
        handle.write("x")
    os.mkfifo(str(tmp_path / "fifo"))
    result = reconcile([{"path": str(tmp_path / "isdir"), "content": "x"},
                        {"path": str(tmp_path / "isfile"), "state": "directory"},
                        {"path": str(tmp_path / "fifo"), "content": "x"},
                        {"path": str(tmp_path / "isfile" / "below"), "content": "x"}])
    assert [f["msg"] for f in result["failures"]] == [
        "is a directory, expected a regular file", "is a file, expected a directory",
        "is a special file, expected a regular file", "a parent of the path is not a directory"]
    assert not result["changed"]


# ----------------------------------------------------------------------------- check mode and diff

def test_check_mode_reports_the_same_and_changes_nothing(tmp_path, user):
    base = str(tmp_path)
    os.mkdir(base + "/d", 0o700)
    with open(base + "/old", "w") as handle:
        handle.write("old\n")
    with open(base + "/upd", "w") as handle:
        handle.write("v1\n")
    files = [{"path": base + "/d", "state": "directory", "tag": "a"},
             {"path": base + "/d/new", "content": "new\n", "tag": "b"},
             {"path": base + "/upd", "content": "v2\n", "owner": TEST_USER},
             {"path": base + "/old", "state": "absent", "tag": "c"},
             {"path": base + "/nd", "state": "directory"},
             {"path": base + "/nd/f", "content": "in a dir that check mode did not create\n"}]
    before = snapshot(tmp_path)
    checked = reconcile(files, check_mode=True, want_diff=True)
    assert snapshot(tmp_path) == before
    real = reconcile(files, want_diff=True)
    for key in ("changed", "changed_paths", "changed_tags", "summary", "failures", "_diff"):
        assert checked[key] == real[key], key
    assert real["summary"] == {"created": 3, "updated": 2, "removed": 1, "unchanged": 0}


def test_diff_output(tmp_path, user):
    base = str(tmp_path)
    with open(base + "/upd", "w") as handle:
        handle.write("line 1\nold\n")
    with open(base + "/meta", "w") as handle:
        handle.write("same\n")
    with open(base + "/gone", "w") as handle:
        handle.write("bye\n")
    with open(base + "/secret", "w") as handle:
        handle.write("hunter2\n")
    with open(base + "/bin", "wb") as handle:
        handle.write(b"\x00\x01\xff")
    big = "x" * (DIFF_LIMIT + 10)
    files = [{"path": base + "/upd", "content": "line 1\nnew\n"},
             {"path": base + "/meta", "content": "same\n", "mode": "0600", "owner": TEST_USER},
             {"path": base + "/gone", "state": "absent"},
             {"path": base + "/secret", "content": "correct horse\n", "diff": False},
             {"path": base + "/new-secret", "content": "s3cr3t\n", "diff": False},
             {"path": base + "/bin", "content": "text now\n"},
             {"path": base + "/big", "content": big},
             {"path": base + "/dir", "state": "directory", "mode": "0750"},
             {"path": base + "/unchanged", "content": "u\n", "force": False}]
    with open(base + "/unchanged", "w") as handle:
        handle.write("whatever\n")
    os.chmod(base + "/meta", 0o644)
    diffs = reconcile(files, want_diff=True)["_diff"]
    by_path = dict((d["after_header"].split(" ")[0], d) for d in diffs)
    assert len(diffs) == 8 and base + "/unchanged" not in by_path
    assert by_path[base + "/upd"] == {"before_header": base + "/upd (file root:root 0644)",
                                      "after_header": base + "/upd (file root:root 0644)",
                                      "before": "line 1\nold\n", "after": "line 1\nnew\n"}
    meta = by_path[base + "/meta"]
    assert meta["before"] == "state: file\nowner: root\ngroup: root\nmode: 0644\n"
    assert meta["after"] == "state: file\nowner: %s\ngroup: root\nmode: 0600\n" % TEST_USER
    assert meta["after_header"] == base + "/meta (file %s:root 0600)" % TEST_USER
    assert by_path[base + "/gone"]["before"] == "bye\n" and by_path[base + "/gone"]["after"] == ""
    assert by_path[base + "/gone"]["after_header"] == base + "/gone (absent)"
    secret = by_path[base + "/secret"]
    assert "hunter2" not in secret["before"] and "correct horse" not in secret["after"]
    assert secret["before"] != secret["after"] and "hidden" in secret["after"]
    assert "s3cr3t" not in by_path[base + "/new-secret"]["after"]
    assert by_path[base + "/bin"]["before"] == "<binary content, 3 bytes>\n"
    big_diff = by_path[base + "/big"]
    assert big_diff["before"] == "" and len(big_diff["after"]) < DIFF_LIMIT + 200
    assert "diff truncated: %d bytes in total" % (DIFF_LIMIT + 10) in big_diff["after"]
    assert by_path[base + "/dir"]["before_header"] == base + "/dir (absent)"
    assert by_path[base + "/dir"]["after"] == "state: directory\nowner: root\ngroup: root\nmode: 0750\n"
    assert reconcile(files, want_diff=False)["_diff"] is None


# ----------------------------------------------------------------------------- as_owner (real user)

def user_dir(path, pw, mode=0o755):
    os.mkdir(path, mode)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def test_as_owner_creates_files_owned_by_the_user(shared, user):
    home = user_dir(os.path.join(shared, "home"), user)
    grp_name = group_of(user)
    files = [{"path": home + "/public_html", "state": "directory", "owner": TEST_USER, "group": grp_name,
              "as_owner": True, "tag": "u1"},
             {"path": home + "/public_html/index.html", "content": "<h1>u1</h1>\n", "owner": TEST_USER,
              "group": grp_name, "as_owner": True, "force": False, "tag": "u1"},
             {"path": home + "/.my.cnf", "content": "[client]\n", "owner": TEST_USER, "group": grp_name,
              "mode": "0600", "as_owner": True, "diff": False, "tag": "u1"}]
    checked = reconcile(files, check_mode=True, want_diff=True)
    assert checked["summary"]["created"] == 3 and checked["failures"] == []
    assert os.listdir(home) == []
    result = reconcile(files, want_diff=True)
    assert result["failures"] == [] and result["changed_tags"] == ["u1"]
    assert result["summary"] == checked["summary"] and result["_diff"] == checked["_diff"]
    assert attrs(home + "/public_html") == (user.pw_uid, user.pw_gid, 0o755)
    assert attrs(home + "/public_html/index.html") == (user.pw_uid, user.pw_gid, 0o644)
    assert attrs(home + "/.my.cnf") == (user.pw_uid, user.pw_gid, 0o600)
    assert read(home + "/public_html/index.html") == b"<h1>u1</h1>\n"


def test_unchanged_as_owner_entries_fork_nothing(shared, user, monkeypatch):
    home = user_dir(os.path.join(shared, "home"), user)
    files = [{"path": home + "/f", "content": "x\n", "owner": TEST_USER, "group": group_of(user),
              "as_owner": True}]
    assert reconcile(files)["changed"]

    def no_fork():
        raise AssertionError("forked for an unchanged entry")
    monkeypatch.setattr(bulk_files.os, "fork", no_fork)
    assert not reconcile(files)["changed"]


def test_as_owner_never_writes_through_a_planted_symlink(shared, user):
    """The user swaps a directory of theirs for a symlink into a root-only place; root's task must not follow."""
    root_only = os.path.join(shared, "etc-root")
    os.mkdir(root_only, 0o755)
    secret = os.path.join(root_only, "passwd")
    with open(secret, "w") as handle:
        handle.write("root:x:0:0\n")
    os.chmod(secret, 0o644)
    home = user_dir(os.path.join(shared, "home"), user)
    os.symlink(root_only, home + "/public_html")            # swapped directory
    os.lchown(home + "/public_html", user.pw_uid, user.pw_gid)
    os.symlink(secret, home + "/index.html")                # planted final component
    os.lchown(home + "/index.html", user.pw_uid, user.pw_gid)
    with open(root_only + "/victim", "w") as handle:
        handle.write("keep\n")
    before = snapshot(root_only)
    own = {"owner": TEST_USER, "group": group_of(user), "as_owner": True}
    files = [dict(own, path=home + "/public_html/passwd", content="pwned\n"),
             dict(own, path=home + "/public_html/new", content="pwned\n"),
             dict(own, path=home + "/public_html/victim", state="absent"),
             dict(own, path=home + "/index.html", content="pwned\n"),
             dict(own, path=home + "/ok.txt", content="fine\n")]
    for check_mode in (True, False):
        result = reconcile(files, check_mode=check_mode)
        assert snapshot(root_only) == before
        failed = dict((f["index"], f["msg"]) for f in result["failures"])
        assert sorted(failed) == [0, 1, 2, 3]
        assert all("Permission denied" in failed[i] for i in (0, 1, 2)), failed
        assert "is a symlink" in failed[3]
        assert result["changed_paths"] == [home + "/ok.txt"]
    assert attrs(home + "/ok.txt") == (user.pw_uid, user.pw_gid, 0o644)
    assert read(secret) == b"root:x:0:0\n" and read(root_only + "/victim") == b"keep\n"


def test_without_as_owner_root_below_a_user_directory_is_warned_about(shared, user):
    home = user_dir(os.path.join(shared, "home"), user)
    user_dir(home + "/conf", user)
    files = [{"path": home + "/conf/app.conf", "content": "x\n"},     # user could swap conf/
             {"path": home + "/.profile", "content": "x\n"},           # parent is the user's: final only
             {"path": shared + "/root.conf", "content": "x\n"}]
    result = reconcile(files, check_mode=True)
    assert len(result["warnings"]) == 1
    warning = result["warnings"][0]
    assert warning.startswith("1 entry without as_owner lie below a directory that a non-root user can replace")
    assert "files[0] (%s/conf/app.conf) via %s" % (home, home) in warning
    assert ".profile" not in warning and "root.conf" not in warning


def test_runners_are_staged_along_the_tree(shared, user):
    """root dir -> user's dirs and files (as_owner) -> a root file inside the user's dir."""
    base = os.path.join(shared, "srv")
    own = {"owner": TEST_USER, "group": group_of(user)}
    files = [dict(path=base + "/u1/web/.htaccess", content="deny\n"),
             dict(own, path=base + "/u1/web/index.html", content="hi\n", as_owner=True),
             dict(own, path=base + "/u1/web", state="directory", as_owner=True),
             dict(own, path=base + "/u1", state="directory"),
             dict(path=base, state="directory")]
    result = reconcile(files)
    assert result["failures"] == [] and result["summary"]["created"] == 5
    assert attrs(base + "/u1/web/.htaccess") == (0, 0, 0o644)
    assert attrs(base + "/u1/web/index.html")[0] == user.pw_uid
    removal = [dict(path=f["path"], state="absent", owner=f.get("owner"), as_owner=f.get("as_owner", False))
               for f in files]
    result = reconcile(removal)
    assert result["failures"] == [] and result["summary"]["removed"] == 5 and not os.path.exists(base)


def test_as_owner_denied_where_the_user_cannot_write(shared, user):
    files = [{"path": shared + "/not-theirs", "content": "x", "owner": TEST_USER, "group": group_of(user),
              "as_owner": True}]
    for check_mode in (True, False):
        result = reconcile(files, check_mode=check_mode)
        assert "Permission denied" in result["failures"][0]["msg"], result
        assert not os.path.exists(shared + "/not-theirs") and not result["changed"]


@pytest.mark.parametrize("max_children", [1, 8])
def test_one_child_per_owner_queued_or_in_parallel(shared, user, max_children):
    nobody = pwd.getpwnam("nobody")
    entries = []
    for pw in (user, nobody):
        home = user_dir(os.path.join(shared, pw.pw_name), pw)
        own = {"owner": pw.pw_name, "group": group_of(pw), "as_owner": True, "tag": pw.pw_name}
        entries += [dict(own, path="%s/f%d" % (home, n), content="%d\n" % n * 5000) for n in range(40)]
    result = reconcile(entries, max_children=max_children, want_diff=True)
    assert result["summary"]["created"] == 80 and result["failures"] == []
    assert result["changed_tags"] == sorted([TEST_USER, "nobody"]) and len(result["_diff"]) == 80
    for pw in (user, nobody):
        assert attrs("%s/%s/f7" % (shared, pw.pw_name)) == (pw.pw_uid, pw.pw_gid, 0o644)


def test_child_that_cannot_drop_privileges_fails_its_entries(shared, user, monkeypatch):
    home = user_dir(os.path.join(shared, "home"), user)
    files = [{"path": home + "/f", "content": "x", "owner": TEST_USER, "group": group_of(user),
              "as_owner": True}, {"path": shared + "/g", "content": "y"}]

    def refuse(uid, gid, groups):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(bulk_files, "drop_privileges", refuse)
    result = reconcile(files)
    assert result["failures"] == [{"index": 0, "path": home + "/f", "tag": None,
                                   "msg": "as_owner %s: [Errno 1] Operation not permitted" % TEST_USER}]
    assert not os.path.exists(home + "/f") and read(shared + "/g") == b"y"


# ----------------------------------------------------------------------------- speed

def test_five_thousand_unchanged_entries_take_well_under_a_second(tmp_path):
    files = []
    for n in range(1000):
        home = "%s/u%04d" % (tmp_path, n)
        files += [{"path": home, "state": "directory", "tag": "u%04d" % n},
                  {"path": home + "/public_html", "state": "directory", "mode": "0750", "tag": "u%04d" % n},
                  {"path": home + "/public_html/index.html", "content": "<h1>user %d</h1>\n" % n,
                   "force": False, "tag": "u%04d" % n},
                  {"path": home + "/backend.conf", "content": ("Listen %d\n" % (20000 + n)) * 20, "tag": "u"},
                  {"path": home + "/.env", "content": "SECRET=%d\n" % n, "mode": "0600", "diff": False}]
    assert reconcile(files)["summary"]["created"] == 5000
    best = None
    for _attempt in range(3):
        start = time.perf_counter()
        result = reconcile(files, want_diff=True)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
        assert not result["changed"] and result["summary"]["unchanged"] == 5000
    print("bulk_files: 5,000 unchanged entries in %.3f s" % best)
    assert best < 1.0


def test_fork_failure_fails_only_that_owners_entries(shared, user, monkeypatch):
    home = user_dir(os.path.join(shared, "home"), user)
    files = [{"path": home + "/f", "content": "x", "owner": TEST_USER, "group": group_of(user),
              "as_owner": True}, {"path": shared + "/g", "content": "y"}]

    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(bulk_files.os, "fork", no_fork)
    result = reconcile(files)
    assert result["failures"][0]["msg"] == \
        "as_owner %s: cannot start a child process: Resource temporarily unavailable" % TEST_USER
    assert result["changed_paths"] == [shared + "/g"] and not os.path.exists(home + "/f")


# ----------------------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402

TREE = ["a", "a/b", "a/b/c", "a/x", "d", "d/e"]


def spec_strategy():
    choice = hst.one_of(
        hst.none(),
        hst.fixed_dictionaries({"state": hst.just("file"), "content": hst.sampled_from(["", "1\n", "22\n", "ab"])},
                               optional={"mode": hst.sampled_from(["0600", "0644", "0640"]),
                                         "force": hst.booleans(), "tag": hst.sampled_from(["t1", "t2"])}),
        hst.fixed_dictionaries({"state": hst.just("directory")},
                               optional={"mode": hst.sampled_from(["0700", "0755"]), "force": hst.booleans()}),
        hst.fixed_dictionaries({"state": hst.just("absent")}, optional={"tag": hst.just("gone")}),
    )
    return hst.tuples(hst.lists(choice, min_size=len(TREE), max_size=len(TREE)), hst.randoms())


def build(base, spec):
    choices, rnd = spec
    by_rel = dict((rel, dict(c, path=os.path.join(base, rel))) for rel, c in zip(TREE, choices) if c)
    entries = []
    for rel, entry in by_rel.items():
        ancestors = [rel.rsplit("/", n)[0] for n in range(1, rel.count("/") + 1)]
        if entry["state"] != "absent" and any(by_rel.get(a, {}).get("state") in ("file", "absent")
                                              for a in ancestors):
            continue
        entries.append(entry)
    rnd.shuffle(entries)
    return entries


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_strategy(), spec_strategy())
def test_check_mode_predicts_and_second_run_is_a_no_op(first, second):
    base = tempfile.mkdtemp(prefix="bulk-files-prop-")
    try:
        reconcile(build(base, first))
        files = build(base, second)
        before = snapshot(base)
        checked = reconcile(files, check_mode=True, want_diff=True)
        assert snapshot(base) == before
        real = reconcile(files, want_diff=True)
        for key in ("changed", "changed_paths", "changed_tags", "summary", "failures", "_diff"):
            assert checked[key] == real[key], key
        settled = snapshot(base)
        again = reconcile(files)
        assert not again["changed"] and snapshot(base) == settled
        assert [f["index"] for f in again["failures"]] == [f["index"] for f in real["failures"]]
        failed = set(f["path"] for f in real["failures"])
        for entry in files:
            path = entry["path"]
            if path in failed:
                continue
            if entry["state"] == "absent":
                assert not os.path.lexists(path)
            elif not entry.get("force", True):  # whatever was there stays, else it was created
                assert os.path.lexists(path)
                if path not in before:
                    assert os.path.isdir(path) == (entry["state"] == "directory")
            elif entry["state"] == "directory":
                assert os.path.isdir(path) and not os.path.islink(path)
                assert attrs(path) == (0, 0, int(entry.get("mode", "0755"), 8))
            else:
                assert read(path) == entry["content"].encode()
                assert attrs(path) == (0, 0, int(entry.get("mode", "0644"), 8))
        assert no_temp_files(base)
    finally:
        shutil.rmtree(base)
