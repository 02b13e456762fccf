"""The frontend_tls module through real ansible-playbook on localhost: keys never in the output (the invocation
included), check and diff modes, a refusal naming the vhost, and ansible-doc rendering."""
import json
import stat
import subprocess

from ansible_cli import ansible_doc, local_task


def pair(tmp_path, name):
    key, crt = tmp_path / (name + ".key"), tmp_path / (name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "5", "-subj", "/CN=" + name, "-addext", "subjectAltName=DNS:" + name,
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt.read_text(), key.read_text()


def args(tmp_path, cert, key, vhost="alice.test"):
    return {"certificates": [{"vhost": vhost, "certificate": cert, "private_key": key}],
            "served": {"alice.test": "alice", "bob.test": "bob"}, "directory": str(tmp_path / "tls")}


def test_install_check_diff_and_no_key_in_any_output(tmp_path):
    cert, key = pair(tmp_path, "alice.test")
    secret_line = key.splitlines()[1]
    rc, result = local_task(tmp_path, "sharedhost.hosting.frontend_tls", args(tmp_path, cert, key), "--check",
                            "--diff")
    assert rc == 0 and result["changed"] and not (tmp_path / "tls").exists()
    assert secret_line not in json.dumps(result)
    rc, result = local_task(tmp_path, "sharedhost.hosting.frontend_tls", args(tmp_path, cert, key), "--diff")
    assert rc == 0 and result["changed"]
    assert secret_line not in json.dumps(result)
    assert stat.S_IMODE((tmp_path / "tls" / "alice.test.key").stat().st_mode) == 0o600
    assert result["sites"][0]["private_key_file"] == str(tmp_path / "tls" / "alice.test.key")
    rc, again = local_task(tmp_path, "sharedhost.hosting.frontend_tls", args(tmp_path, cert, key))
    assert rc == 0 and again["changed"] is False


def test_a_mismatch_is_refused_naming_the_vhost(tmp_path):
    cert, _key = pair(tmp_path, "alice.test")
    _cert, other = pair(tmp_path, "bob.test")
    rc, result = local_task(tmp_path, "sharedhost.hosting.frontend_tls", args(tmp_path, cert, other))
    assert rc != 0 and result["failed"]
    assert "vhost alice.test: the private key does not belong to the certificate" in result["msg"]
    assert other.splitlines()[1] not in json.dumps(result) and not (tmp_path / "tls").exists()


def test_documentation_renders():
    proc = ansible_doc("sharedhost.hosting.frontend_tls")
    assert proc.returncode == 0, proc.stderr
    assert "private keys" in proc.stdout.lower() and "self_signed" in proc.stdout
