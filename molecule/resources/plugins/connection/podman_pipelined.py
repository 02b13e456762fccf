# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""containers.podman.podman with pipelining, for the project's podman test hosts only.

The upstream plugin never passes a module on stdin (``podman exec`` without
``-i``), so Ansible copies every module into the container and runs it with
three ``podman exec`` calls (make a temp dir, run, clean up). With ``-i`` the
module goes through stdin in one call, which is what SSH with pipelining does
on real hosts; the rest (file transfer) is upstream's.

A ``podman exec`` costs about 0.3 s of wall time and a runc process per call,
more than most tasks take to run. Like SSH's ControlPersist, the commands of
all tasks for one container therefore go through one long-lived ``podman exec
-i ... python3`` session: a relay process on the controller holds it and
serves the Ansible workers over a Unix socket (one command at a time). The
relay exits when it has been idle for a while or when its container stops (a
restart just starts a new one); if it cannot be reached before a command is
sent, the command runs with a plain ``podman exec``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    author: sharedhost.hosting contributors (@sharedhost-hosting)
    name: podman_pipelined
    short_description: Run tasks in a podman container, with pipelining
    description:
        - containers.podman.podman, with modules passed on stdin (pipelining).
    options:
      remote_addr:
        description:
          - The ID of the container you want to access.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description:
          - User in the container that runs the commands.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description:
          - Extra arguments to pass to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description:
          - Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
      persist:
        description:
          - Run the commands through one persistent exec session per container (see above).
        default: true
        type: boolean
        env:
          - name: SHAREDHOST_PODMAN_PERSIST
      pipelining:
        description:
          - Pass modules on stdin instead of copying them into the container.
        default: true
        type: boolean
        env:
          - name: ANSIBLE_PIPELINING
        vars:
          - name: ansible_pipelining
"""

import base64
import errno
import fcntl
import json
import os
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ensure_connect
from ansible.utils.display import Display
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection

display = Display()

# Frames on both hops: 8-byte big-endian length, then a JSON document.
FRAME = struct.Struct(">Q")
IDLE_SECONDS = 120
SPAWN_WAIT_SECONDS = 20

# Runs in the container as the exec session's process: one command per request.
SERVER = r"""
import base64, json, struct, subprocess, sys
FRAME = struct.Struct(">Q")
src, dst = sys.stdin.buffer, sys.stdout.buffer
def read(n):
    data = b""
    while len(data) < n:
        chunk = src.read(n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data
while True:
    req = json.loads(read(FRAME.unpack(read(FRAME.size))[0]))
    stdin = base64.b64decode(req["stdin"]) if req["stdin"] is not None else b""
    proc = subprocess.run(req["cmd"], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    doc = json.dumps({"rc": proc.returncode, "out": base64.b64encode(proc.stdout).decode(),
                      "err": base64.b64encode(proc.stderr).decode()}).encode()
    dst.write(FRAME.pack(len(doc)) + doc)
    dst.flush()
"""

# Runs on the controller, detached from the worker that started it: holds the
# exec session and serves one client at a time on the socket.
RELAY = r"""
import os, socket, struct, subprocess, sys, threading
FRAME = struct.Struct(">Q")
podman, container, user, path, idle, server = sys.argv[1:7]
cmd = [podman, "exec", "-i"] + (["--user", user] if user else []) + [container, "python3", "-u", "-c", server]
proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
def quit(code=0):
    try:
        os.unlink(path)
    except OSError:
        pass
    os._exit(code)
def watch():
    proc.wait()  # the container stopped or restarted: new commands need a new session
    quit()
threading.Thread(target=watch, daemon=True).start()
def read(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.recv(n - len(data)) if hasattr(stream, "recv") else stream.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
listener = socket.socket(socket.AF_UNIX)
tmp = "%s.%d" % (path, os.getpid())
listener.bind(tmp)
listener.listen(16)
os.rename(tmp, path)  # visible only once it accepts
listener.settimeout(float(idle))
while True:
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        quit()
    conn.settimeout(None)
    try:
        request = read(conn, FRAME.unpack(read(conn, FRAME.size))[0])
    except (EOFError, OSError):
        conn.close()
        continue
    try:
        proc.stdin.write(FRAME.pack(len(request)) + request)
        proc.stdin.flush()
    except OSError as exc:
        reply = ('{"relay_error": "%s", "sent": false}' % exc.__class__.__name__).encode()
        conn.sendall(FRAME.pack(len(reply)) + reply)
        quit(1)
    try:
        reply = read(proc.stdout, FRAME.unpack(read(proc.stdout, FRAME.size))[0])
    except (EOFError, OSError) as exc:
        reply = ('{"relay_error": "%s", "sent": true}' % exc.__class__.__name__).encode()
        conn.sendall(FRAME.pack(len(reply)) + reply)
        quit(1)
    try:
        conn.sendall(FRAME.pack(len(reply)) + reply)
    except OSError:
        pass
    conn.close()
"""


class RelayUnavailable(Exception):
    """The command was not handed to the container: it may run another way."""


def _recv_exact(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("the relay closed the connection")
        data += chunk
    return data


class Connection(PodmanConnection):
    transport = "podman_pipelined"
    has_pipelining = True

    def _connect(self):
        # Upstream mounts the container for every task (a podman call each time); with
        # pipelining only file transfers would use the mount, and they fall back to podman cp.
        super(PodmanConnection, self)._connect()
        self._mount_point = None
        self._connected = True

    def _relay_path(self):
        directory = os.path.join(tempfile.gettempdir(), "sharedhost-relay-%d" % os.getuid())
        try:
            os.mkdir(directory, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        name = "%s-%s.sock" % (self._container_id, self.user or "default")
        return os.path.join(directory, name.replace("/", "_"))

    def _start_relay(self, path):
        with open(path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one relay per container, however many workers ask
            if self._try_connect(path) is not None:
                return
            subprocess.Popen(
                [sys.executable, "-c", RELAY, self.get_option("podman_executable"), self._container_id,
                 self.user or "", path, str(IDLE_SECONDS), SERVER],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True)
            deadline = time.time() + SPAWN_WAIT_SECONDS
            while time.time() < deadline:
                if os.path.exists(path):
                    return
                time.sleep(0.02)
        raise RelayUnavailable("the relay for %s did not start" % self._container_id)

    @staticmethod
    def _try_connect(path):
        conn = socket.socket(socket.AF_UNIX)
        try:
            conn.connect(path)
        except OSError:
            conn.close()
            return None
        return conn

    def _exec_via_relay(self, argv, in_data):
        path = self._relay_path()
        conn = self._try_connect(path)
        if conn is None:
            self._start_relay(path)
            conn = self._try_connect(path)
            if conn is None:
                raise RelayUnavailable("cannot connect to the relay for %s" % self._container_id)
        request = json.dumps({"cmd": argv, "stdin": base64.b64encode(in_data).decode() if in_data is not None else None})
        request = request.encode()
        try:
            conn.sendall(FRAME.pack(len(request)) + request)
            reply = json.loads(_recv_exact(conn, FRAME.unpack(_recv_exact(conn, FRAME.size))[0]))
        except (OSError, EOFError) as exc:
            # The relay takes a request whole or not at all before it forwards it; a
            # connection lost here means the relay went away (its container stopped).
            raise AnsibleConnectionFailure("lost the relay for %s: %s" % (self._container_id, exc))
        finally:
            conn.close()
        if "relay_error" in reply:
            if not reply.get("sent"):
                raise RelayUnavailable(reply["relay_error"])
            raise AnsibleConnectionFailure("the exec session of %s ended during a command (%s)"
                                           % (self._container_id, reply["relay_error"]))
        return reply["rc"], base64.b64decode(reply["out"]), base64.b64decode(reply["err"])

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        """Run cmd in the container; with in_data, attach stdin (-i) so a pipelined module can be read."""
        super(PodmanConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        argv = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        if self.get_option("persist"):
            try:
                return self._exec_via_relay(argv, to_bytes(in_data) if in_data is not None else None)
            except RelayUnavailable as exc:
                display.vvv("relay unavailable (%s): plain podman exec" % exc, host=self._container_id)
        args = ["exec"]
        if in_data is not None:
            args.append("--interactive")
        if self.user:
            args.extend(("--user", self.user))
        return self._podman(args, argv, in_data)
