"""The start-time guard of roles/init_scripts/files/sharedhost-backend-launch.

It must refuse any Listen that is not the user's allocated address:port,
wherever it hides in the config tree (includes, globs, directories,
continuation lines, Define variables, IfDefine blocks).
"""
import importlib.machinery
import importlib.util
import os

import pytest

LAUNCHER = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "init_scripts", "files",
                        "sharedhost-backend-launch")


def load_launcher():
    loader = importlib.machinery.SourceFileLoader("sharedhost_backend_launch", LAUNCHER)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


launch = load_launcher()


def make_config(tmp_path, user_conf, extra_files=None):
    user_dir = tmp_path / "home" / "sharedhost"
    user_dir.mkdir(parents=True)
    (user_dir / "apache.conf").write_text(user_conf)
    for name, text in (extra_files or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    main = tmp_path / "httpd.conf"
    main.write_text('ServerRoot "%s"\nListen 127.0.0.1:20000\nPidFile /run/x.pid\n'
                    'IncludeOptional "%s"\n' % (tmp_path, user_dir / "apache.conf"))
    return {"user": "alice", "kind": "apache", "ports": [20000], "address": "127.0.0.1",
            "apache": {"binary": "/usr/sbin/apache2", "config": str(main)}}


def test_own_port_only_passes(tmp_path):
    launch.check_apache(make_config(tmp_path, "# nothing here\nDocumentRoot /x\n"))


@pytest.mark.parametrize("user_conf, offending", [
    ("Listen 127.0.0.1:20001\n", "Listen 127.0.0.1:20001"),
    ("listen 20000\n", "listen 20000"),  # all addresses
    ("Listen 0.0.0.0:20000\n", "Listen 0.0.0.0:20000"),
    ("Listen [::1]:20001\n", "Listen [::1]:20001"),
    ("<IfDefine NEVER>\n  Listen 127.0.0.1:20001\n</IfDefine>\n", "Listen 127.0.0.1:20001"),
    ("Listen \\\n  127.0.0.1:20001\n", "127.0.0.1:20001"),
    ("Define P 20001\nListen 127.0.0.1:${P}\n", "Listen 127.0.0.1:${P}"),
    ('Listen "127.0.0.1:20001" http\n', "127.0.0.1:20001"),
])
def test_foreign_listen_is_refused_with_the_directive(tmp_path, user_conf, offending):
    with pytest.raises(launch.GuardError) as excinfo:
        launch.check_apache(make_config(tmp_path, user_conf))
    message = str(excinfo.value)
    assert offending in message and "alice may only listen on 127.0.0.1:20000" in message
    assert "apache.conf:" in message


def test_listen_in_nested_includes_globs_and_directories_is_found(tmp_path):
    spec = make_config(tmp_path, "Include extra/*.conf\nInclude confdir\n", {
        "extra/a.conf": "# fine\n",
        "extra/b.conf": "IncludeOptional deeper.conf\n",
        "deeper.conf": "ServerAdmin x@y\n",
        "confdir/sub/z.conf": "Listen 127.0.0.1:25000\n",
    })
    with pytest.raises(launch.GuardError, match=r"z\.conf:1: 'Listen 127.0.0.1:25000'"):
        launch.check_apache(spec)


def test_unresolvable_variable_is_refused(tmp_path):
    with pytest.raises(launch.GuardError, match=r"cannot resolve \$\{NOPE\}"):
        launch.check_apache(make_config(tmp_path, "Listen 127.0.0.1:${NOPE}\n"))


def test_include_loop_terminates(tmp_path):
    spec = make_config(tmp_path, "Include loop.conf\n", {"loop.conf": "Include loop.conf\n"})
    launch.check_apache(spec)


def test_missing_mandatory_include_is_refused(tmp_path):
    with pytest.raises(launch.GuardError, match="does not exist"):
        launch.check_apache(make_config(tmp_path, "Include /nonexistent/file.conf\n"))


def test_parse_listen_forms():
    assert launch.parse_listen("127.0.0.1:80") == ("127.0.0.1", 80)
    assert launch.parse_listen("[::1]:8080") == ("::1", 8080)
    assert launch.parse_listen("8080") == (None, 8080)


def test_placeholders_of_port_and_socket_backends():
    port_spec = {"ports": [20005], "address": "127.0.0.1", "socket": None}
    assert launch.fill_placeholders("--bind={address}:{port}", port_spec) == "--bind=127.0.0.1:20005"
    sock_spec = {"ports": [], "address": "127.0.0.1", "socket": "/var/lib/sharedhost/sockets/dave/http.sock"}
    assert launch.fill_placeholders("unix:{socket}", sock_spec) == "unix:/var/lib/sharedhost/sockets/dave/http.sock"


def test_stale_socket_is_removed_and_group_may_connect(tmp_path):
    import socket
    path = str(tmp_path / "http.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # a crashed server leaves its socket file behind
    old = os.umask(0o022)
    try:
        launch.prepare_socket(path)
        assert not os.path.lexists(path)
        assert os.umask(0o022) == 0o007  # the server's socket gets group read/write
        launch.prepare_socket(path)  # nothing there: fine too
    finally:
        os.umask(old)


def test_a_file_in_place_of_the_socket_is_refused(tmp_path):
    path = tmp_path / "http.sock"
    path.write_text("not a socket")
    with pytest.raises(launch.GuardError, match="is not a socket"):
        launch.prepare_socket(str(path))
    assert path.read_text() == "not a socket"


def test_frontend_acl_is_the_kernels_xattr_format():
    import struct
    blob = launch.frontend_acl(33)
    version, = struct.unpack_from("<I", blob)
    entries = [struct.unpack_from("<HHI", blob, 4 + 8 * i) for i in range((len(blob) - 4) // 8)]
    assert version == 2
    # Sorted by tag as the kernel requires; only the owner and the named group get access.
    assert entries == [(0x01, 7, 0xFFFFFFFF), (0x04, 0, 0xFFFFFFFF), (0x08, 7, 33), (0x10, 7, 0xFFFFFFFF),
                       (0x20, 0, 0xFFFFFFFF)]
