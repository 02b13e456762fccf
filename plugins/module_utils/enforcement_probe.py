# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probes that show, by trying, which port-ownership layers hold on this host.

Never trust a version string: systemd silently ignores SocketBindDeny= where
it was built without BPF support, and an nftables rule may be flushed by
another service. Each probe makes an unprivileged process attempt exactly
what the layer must forbid.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import pwd
import socket
import subprocess
import sys
import time

PROBE_USER = "nobody"


def free_port(start, end, taken):
    """A port of the range that nobody owns and nothing listens on, from the top down."""
    for port in range(end, start - 1, -1):
        if port in taken:
            continue
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            probe.close()
    return None


def _listen_as(user, port):
    """Fork a child that drops to user and listens on 127.0.0.1:port; return (pid, ready_fd)."""
    entry = pwd.getpwnam(user)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 1
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", port))
            server.listen(8)
            os.write(write_fd, b"ok")
            time.sleep(10)
            code = 0
        except BaseException:  # pylint: disable=broad-except
            try:
                os.write(write_fd, b"no")
            except OSError:
                pass
        os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def probe_owner_rules(port, user=PROBE_USER, timeout=1.5):
    """Can an unprivileged user serve an unallocated port of the range? active = no."""
    pid, ready = _listen_as(user, port)
    try:
        status = os.read(ready, 2)
        if status != b"ok":
            return {"active": False, "detail": "the probe user %s could not listen on %d" % (user, port)}
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.settimeout(timeout)
        try:
            client.connect(("127.0.0.1", port))
            return {"active": False,
                    "detail": "%s served unallocated port %d: a connection was accepted" % (user, port)}
        except (socket.timeout, OSError) as exc:
            reason = "timed out" if isinstance(exc, socket.timeout) else os.strerror(exc.errno or errno.EIO)
            return {"active": True,
                    "detail": "%s listened on unallocated port %d but no connection completed (%s)"
                              % (user, port, reason)}
        finally:
            client.close()
    finally:
        os.close(ready)
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        os.waitpid(pid, 0)


BIND_SNIPPET = (
    "import socket, sys\n"
    "s = socket.socket()\n"
    "try:\n"
    "    s.bind(('127.0.0.1', int(sys.argv[1])))\n"
    "except OSError as e:\n"
    "    print('denied %d' % e.errno)\n"
    "    sys.exit(3)\n"
    "print('bound')\n"
)


def systemd_booted(path="/run/systemd/system"):
    """Is systemd the init system (sd_booted()'s test)?"""
    return os.path.isdir(path)


def probe_socket_bind(allowed_port, denied_port, user=PROBE_USER, runner=subprocess.run, booted=systemd_booted):
    """Does systemd enforce SocketBindDeny=? Bind a denied port in a transient unit as user."""
    if not booted():
        # A SysV host: there is no systemd to hold anyone to a port; the layer is simply not there.
        return {"active": False, "detail": "systemd is not the init system here (SysV): no SocketBindDeny="}

    def attempt(port):
        return runner(
            ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--uid", user,
             "-p", "SocketBindAllow=tcp:%d" % allowed_port, "-p", "SocketBindDeny=any",
             sys.executable or "/usr/bin/python3", "-c", BIND_SNIPPET, str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60, check=False)

    try:
        allowed = attempt(allowed_port)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"active": False, "detail": "systemd-run failed: %s" % exc}
    if "bound" not in allowed.stdout:
        return {"active": False, "detail": "a transient unit could not even bind its allowed port %d: %s %s"
                % (allowed_port, allowed.stdout.strip(), allowed.stderr.strip())}
    denied = attempt(denied_port)
    if "denied %d" % errno.EPERM in denied.stdout:
        return {"active": True, "detail": "binding denied port %d failed with EPERM" % denied_port}
    return {"active": False,
            "detail": "SocketBindDeny= is ignored here (binding denied port %d: %s); systemd needs +BPF_FRAMEWORK "
                      "and cgroup v2" % (denied_port, (denied.stdout + denied.stderr).strip() or "succeeded")}
