"""Helpers shared by the Molecule scenarios' testinfra tests: the example users,
HTTP(S) through a test host's frontend, the port registry, the listeners, waiting,
container restarts, writing files as a hosted user, a throw-away test CA, and
playbook runs with the suite's environment. On the verifier's PYTHONPATH
(.config/molecule/config.yml)."""

import base64
import copy
import json
import os
import subprocess
import sys
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE_VARS = os.path.join(ROOT, "examples", "inventory", "group_vars", "sharedhost_servers.yml")
CONTAINER_PREFIX = "sharedhost-%s-" % os.environ.get("MOLECULE_SCENARIO_NAME", "default")
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def example_users():
    with open(EXAMPLE_VARS) as handle:
        return yaml.safe_load(handle)["sharedhost_users"]


def http(host, vhost, path="/", timeout=10):
    """(status, body) of a request through the frontend on port 80, Host header set."""
    result = host.run("curl -s -m %s -o /tmp/.verify-body -w '%%{http_code}' -H 'Host: %s' http://127.0.0.1%s",
                      str(timeout), vhost, path)
    body = host.run("cat /tmp/.verify-body 2>/dev/null; rm -f /tmp/.verify-body").stdout
    return result.stdout.strip(), body


def owners_content(user):
    """The text that only this user's example site serves (the mod_perl handler's page, or the skeleton page)."""
    if user.get("modperl"):
        return "Hello from the mod_perl handler of %s " % user["name"]
    return "dedicated %s backend of %s" % (user.get("backend", "apache"), user["name"])


def listeners(host):
    """port -> uid of every TCP listener, from /proc/net/tcp{,6}."""
    owners = {}
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in host.file(path).content_string.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 7 and fields[3] == "0A":
                owners[int(fields[1].split(":")[1], 16)] = int(fields[7])
    return owners


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_pki(where, ca_subject):
    """A throw-away CA in the directory `where` and leaf certificates it signed for alice (with an alias) and bob,
    as PEM text: {"ca": ca_pem, name: (certificate_pem, key_pem)}."""
    ca_key, ca_crt = str(where / "ca.key"), str(where / "ca.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", ca_subject, "-keyout", ca_key, "-out", ca_crt,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    pems = {"ca": (where / "ca.crt").read_text()}
    for name, sans in (("alice.example.test", ["www.alice.example.test"]), ("bob.example.test", [])):
        key, csr, crt, ext = (str(where / (name + suffix)) for suffix in (".key", ".csr", ".crt", ".ext"))
        (where / (name + ".ext")).write_text("subjectAltName=%s\n" % ",".join("DNS:" + n for n in [name] + sans))
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=" + name,
                "-keyout", key, "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
                "-extfile", ext, "-out", crt)
        pems[name] = ((where / (name + ".crt")).read_text(), (where / (name + ".key")).read_text())
    return pems


def https(host, vhost, path="/"):
    """(status, body) over HTTPS to the frontend, the name resolved to loopback, checked against the test CA
    (which the test has put at /tmp/verify-ca.pem on the host)."""
    result = host.run("curl -s -m 10 --cacert /tmp/verify-ca.pem --resolve %s:443:127.0.0.1 "
                      "-o /tmp/.verify-tls-body -w '%%{http_code}' https://%s%s", vhost, vhost, path)
    assert result.rc == 0, (vhost, result.rc, result.stderr)
    return result.stdout.strip(), host.run("cat /tmp/.verify-tls-body").stdout


def served_certificate(host, name):
    """Subject and issuer of the certificate the frontend presents for the SNI name."""
    return host.check_output("openssl s_client -connect 127.0.0.1:443 -servername %s </dev/null 2>/dev/null "
                             "| openssl x509 -noout -subject -issuer -nameopt RFC2253", name)


def users_with_redirect(users, name="bob"):
    """The users, with https_redirect set for one of them."""
    changed = copy.deepcopy(users)
    for user in changed:
        if user["name"] == name:
            user["https_redirect"] = True
    return changed


def socket_path(name):
    """The Unix socket of a socket backend (socket: true), as the backends role places it."""
    return "/var/lib/sharedhost/sockets/%s/http.sock" % name


def registry(host):
    return json.loads(host.file("/var/lib/sharedhost/ports.json").content_string)


def platform(host):
    """The host's inventory name (the Molecule platform)."""
    return host.backend.host


def container(host):
    return CONTAINER_PREFIX + platform(host)


def wait_until(predicate, timeout=90, step=1.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, message))


def is_sysv(host):
    """Is PID 1 something else than systemd (the bookworm-sysv test host)?"""
    return host.run("cat /proc/1/comm").stdout.strip() != "systemd"


def restart_container(host):
    sysv = is_sysv(host)
    subprocess.run(["podman", "restart", "-t", "10", container(host)], check=True, capture_output=True, timeout=120)
    if sysv:
        # /run is a tmpfs there: the marker is the image's inittab line after "rc 2" of this boot.
        wait_until(lambda: host.run("test -e /run/sharedhost-rc-booted").rc == 0,
                   message="sysvinit's rc boot in %s" % container(host))
        return
    wait_until(lambda: host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded"),
               message="systemd to boot in %s" % container(host))


def write_as(host, user, path, content):
    """Replace a file's content as the given user."""
    encoded = base64.b64encode(content.encode()).decode()
    host.check_output("echo %s | base64 -d | runuser -u %s -- tee %s >/dev/null", encoded, user, path)


def ansible_env(**extra):
    """The environment of the suite's ansible-playbook runs: the collection in place, the test hosts'
    connection, no colours."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
               ANSIBLE_CONNECTION_PLUGINS=os.path.join(ROOT, "molecule", "resources", "plugins", "connection"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3")
    env.update(extra)
    return env


def run_playbook(name, args, expect_failure=False, timeout=600, **env):
    """Run playbooks/NAME against the scenario's inventory; the output. Asserts the outcome."""
    proc = subprocess.run([PLAYBOOK, "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                           os.path.join(ROOT, "playbooks", name)] + list(args),
                          env=ansible_env(**env), capture_output=True, text=True, timeout=timeout, check=False)
    output = proc.stdout + proc.stderr
    if expect_failure:
        assert proc.returncode != 0, output[-3000:]
    else:
        assert proc.returncode == 0, output[-6000:]
    return output
