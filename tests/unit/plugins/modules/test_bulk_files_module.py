"""The bulk_files module run through real ansible-playbook against localhost.

Normal, check and diff modes, a second run reporting changed=false, a refused
request that changes nothing, a failed entry, as_owner, and the invocation echo.
"""
import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile

import pytest

from ansible_cli import ansible_doc, local_task

TEST_USER = "sharedhost-test-u1"


def playbook(tmp_path, files, *flags, name="play.yml"):
    """Run one bulk_files task on localhost; return (rc, task result)."""
    return local_task(tmp_path, "sharedhost.hosting.bulk_files", {"files": files}, *flags, name=name)


@pytest.fixture
def base(tmp_path):
    directory = tmp_path / "site"
    return str(directory)


@pytest.fixture
def files(base):
    return [
        {"path": base, "state": "directory", "mode": "0750", "tag": "site"},
        {"path": base + "/conf", "state": "directory", "tag": "site"},
        {"path": base + "/conf/app.conf", "content": "listen 20000\n", "mode": "0640", "tag": "alice"},
        {"path": base + "/conf/db.conf", "content": "password=hunter2\n", "mode": "0600", "diff": False,
         "tag": "bob"},
        {"path": base + "/skeleton", "content": "edit me\n", "force": False, "tag": "carol"},
    ]


def test_normal_run_then_no_change(tmp_path, base, files):
    rc, result = playbook(tmp_path, files)
    assert rc == 0 and result["changed"] is True, result
    assert result["changed_paths"] == [f["path"] for f in files]
    assert result["changed_tags"] == ["alice", "bob", "carol", "site"]
    assert result["summary"] == {"created": 5, "updated": 0, "removed": 0, "unchanged": 0}
    with open(base + "/conf/db.conf") as handle:
        assert handle.read() == "password=hunter2\n"
    assert stat.S_IMODE(os.stat(base).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(base + "/conf/db.conf").st_mode) == 0o600
    # the echoed arguments never carry the content of diff: false entries
    echoed = result["invocation"]["module_args"]["files"]
    assert "hunter2" not in json.dumps(echoed) and echoed[2]["content"] == "listen 20000\n"
    mtime = os.stat(base + "/conf/app.conf").st_mtime_ns
    rc, again = playbook(tmp_path, files)
    assert rc == 0 and again["changed"] is False and again["changed_paths"] == [] and again["changed_tags"] == []
    assert again["summary"] == {"created": 0, "updated": 0, "removed": 0, "unchanged": 5}
    assert os.stat(base + "/conf/app.conf").st_mtime_ns == mtime


def test_check_mode_changes_nothing(tmp_path, base, files):
    rc, result = playbook(tmp_path, files, "--check")
    assert rc == 0 and result["changed"] is True and result["summary"]["created"] == 5
    assert not os.path.exists(base)
    playbook(tmp_path, files)
    files[2]["content"] = "listen 20001\n"
    files.append({"path": base + "/skeleton", "state": "absent", "tag": "carol"})
    del files[4]
    rc, result = playbook(tmp_path, files, "--check")
    assert rc == 0 and result["changed_tags"] == ["alice", "carol"]
    assert result["summary"] == {"created": 0, "updated": 1, "removed": 1, "unchanged": 3}
    with open(base + "/conf/app.conf") as handle:
        assert handle.read() == "listen 20000\n"
    assert os.path.exists(base + "/skeleton")


def test_diff_mode(tmp_path, base, files):
    playbook(tmp_path, files)
    files[2]["content"] = "listen 20001\n"
    files[3]["content"] = "password=correct horse\n"
    rc, result = playbook(tmp_path, files, "--diff")
    assert rc == 0 and result["changed"]
    diffs = result["diff"]
    assert isinstance(diffs, list) and len(diffs) == 2
    app, db = diffs
    assert app["before"] == "listen 20000\n" and app["after"] == "listen 20001\n"
    assert app["before_header"] == base + "/conf/app.conf (file root:root 0640)"
    assert "hunter2" not in json.dumps(db) and "correct horse" not in json.dumps(db)
    assert "hidden" in db["after"]
    rc, result = playbook(tmp_path, files, "--diff")
    assert rc == 0 and not result["changed"] and "diff" not in result


def test_refused_request_lists_every_bad_entry_and_changes_nothing(tmp_path, base, files):
    files += [{"path": "relative/x", "content": "x"},
              {"path": base + "/nocontent"},
              {"path": base + "/conf/app.conf", "content": "dup"},
              {"path": base + "/m", "content": "x", "mode": 644, "owner": "no-such-user-zz"}]
    rc, result = playbook(tmp_path, files)
    assert rc != 0 and result["failed"] and not result["changed"]
    assert result["msg"].startswith("bulk_files refused, nothing was changed: ")
    for needle in ("files[5] (relative/x): path 'relative/x' is not absolute",
                   "files[6] (%s/nocontent): content is required when state is file" % base,
                   "files[7] (%s/conf/app.conf): duplicate path (first at files[2])" % base,
                   "files[8] (%s/m): integer mode 644 has special bits set" % base,
                   "files[8] (%s/m): unknown owner 'no-such-user-zz'" % base):
        assert needle in result["msg"]
    assert len(result["problems"]) == 5
    assert not os.path.exists(base)


def test_failed_entry_fails_the_task_but_others_are_applied(tmp_path, base, files):
    playbook(tmp_path, files)
    os.symlink("/etc/hostname", base + "/link")
    files[2]["content"] = "listen 20002\n"
    files.append({"path": base + "/link", "content": "evil\n", "tag": "mallory"})
    rc, result = playbook(tmp_path, files)
    assert rc != 0 and result["failed"] and result["changed"]
    assert result["changed_paths"] == [base + "/conf/app.conf"] and result["changed_tags"] == ["alice"]
    assert result["failures"] == [{"index": 5, "path": base + "/link", "tag": "mallory",
                                   "msg": "is a symlink; bulk_files never writes through or replaces a symlink"}]
    assert "1 of 6 entries failed: files[5] (%s/link): is a symlink" % base in result["msg"]
    assert os.path.islink(base + "/link")


@pytest.fixture(scope="module")
def user():
    if os.geteuid() != 0:
        pytest.skip("as_owner needs root")
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    if not shutil.which("useradd"):
        pytest.skip("useradd is not available")
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                    "--shell", "/usr/sbin/nologin", TEST_USER], check=True, capture_output=True)
    return pwd.getpwnam(TEST_USER)


def test_as_owner_through_the_module(tmp_path, user):
    shared = tempfile.mkdtemp(prefix="bulk-files-module-", dir="/tmp")
    try:
        os.chmod(shared, 0o755)
        group = grp.getgrgid(user.pw_gid).gr_name
        home = shared + "/home"
        files = [{"path": home, "state": "directory", "owner": TEST_USER, "group": group},
                 {"path": home + "/public_html", "state": "directory", "owner": TEST_USER, "group": group,
                  "as_owner": True, "tag": TEST_USER},
                 {"path": home + "/public_html/index.html", "content": "hi\n", "owner": TEST_USER,
                  "group": group, "as_owner": True, "force": False, "tag": TEST_USER}]
        rc, result = playbook(tmp_path, files, "--diff")
        assert rc == 0 and result["summary"]["created"] == 3, result
        st = os.stat(home + "/public_html/index.html")
        assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid)
        assert len(result["diff"]) == 3
        rc, again = playbook(tmp_path, files)
        assert rc == 0 and not again["changed"]
    finally:
        shutil.rmtree(shared)


def test_many_entries_are_not_echoed(tmp_path):
    files = [{"path": str(tmp_path / ("f%d" % n)), "content": "%d\n" % n} for n in range(300)]
    rc, result = playbook(tmp_path, files)
    assert rc == 0 and result["summary"]["created"] == 300
    assert result["invocation"]["module_args"]["files"] == "<300 file entries>"


def test_ansible_doc_renders():
    proc = ansible_doc("sharedhost.hosting.bulk_files")
    assert proc.returncode == 0, proc.stderr
    for needle in ("as_owner", "force", "changed_tags", "EXAMPLES", "RETURN VALUES", "check_mode", "diff_mode"):
        assert needle in proc.stdout
