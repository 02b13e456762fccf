"""frontend_tls: every bad certificate entry refused with its vhost named before a file is written; good pairs
installed atomically with a 0600 key; wildcards, aliases, the self-signed default and pruning. Real OpenSSL."""
import os
import stat
import subprocess

import pytest
from hypothesis import given, strategies as st

from ansible_collections.sharedhost.hosting.plugins.module_utils.frontend_tls import (
    converge, name_matches, parse_x509_text)
from ansible_collections.sharedhost.hosting.plugins.module_utils.input_checks import ProblemsError


def run(args, data=None):
    proc = subprocess.run(args, input=data, capture_output=True, text=True, check=False, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def make_pair(tmp_path, name, *sans, days=30):
    """A self-signed certificate and its key for ``name`` (and ``sans``), as PEM text."""
    key, cert = tmp_path / ("%s.key" % name), tmp_path / ("%s.crt" % name)
    names = ",".join("DNS:%s" % n for n in (name,) + sans)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", str(days), "-subj", "/CN=%s" % name, "-addext", "subjectAltName=%s" % names,
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert.read_text(), key.read_text()


@pytest.fixture
def pairs(tmp_path):
    material = tmp_path / "material"
    material.mkdir()
    return {
        "alice": make_pair(material, "alice.example.test", "www.alice.example.test"),
        "bob": make_pair(material, "bob.example.test"),
        "wild": make_pair(material, "*.carol.example.test"),
    }


SERVED = {"alice.example.test": "alice", "www.alice.example.test": "alice", "bob.example.test": "bob",
          "shop.carol.example.test": "carol", "carol.example.test": "carol"}


def params(tmp_path, certificates, **more):
    base = {"certificates": certificates, "served": SERVED, "redirects": [], "self_signed": False,
            "self_signed_name": "frontend.example.test", "directory": str(tmp_path / "tls"), "prune": False}
    base.update(more)
    return base


def test_installs_pairs_with_private_keys_0600_then_changes_nothing(tmp_path, pairs):
    certs = [{"vhost": "alice.example.test", "aliases": ["www.alice.example.test"],
              "certificate": pairs["alice"][0], "private_key": pairs["alice"][1]},
             {"vhost": "shop.carol.example.test", "certificate": pairs["wild"][0], "private_key": pairs["wild"][1]}]
    result = converge(params(tmp_path, certs), run)
    assert result["changed"]
    key = tmp_path / "tls" / "alice.example.test.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_text() == pairs["alice"][1].strip() + "\n"
    assert stat.S_IMODE((tmp_path / "tls" / "alice.example.test.crt").stat().st_mode) == 0o644
    sites = {s["vhost"]: s for s in result["sites"]}
    assert sites["alice.example.test"]["aliases"] == ["www.alice.example.test"]
    assert sites["alice.example.test"]["users"] == ["alice"] and 28 <= sites["alice.example.test"]["expires_in_days"]
    assert result["uncovered"] == ["bob.example.test", "carol.example.test"]
    assert converge(params(tmp_path, certs), run)["changed"] is False


def test_every_bad_entry_is_named_and_nothing_is_written(tmp_path, pairs):
    certs = [
        {"vhost": "alice.example.test", "certificate": pairs["alice"][0], "private_key": pairs["bob"][1]},
        {"vhost": "bob.example.test", "certificate": pairs["alice"][0], "private_key": pairs["alice"][1]},
        {"vhost": "carol.example.test", "certificate": pairs["wild"][0], "private_key": pairs["wild"][1]},
    ]
    with pytest.raises(ProblemsError) as caught:
        converge(params(tmp_path, certs), run)
    text = str(caught.value)
    assert "vhost alice.example.test: the private key does not belong to the certificate" in text
    assert "vhost bob.example.test: the certificate (for alice.example.test, www.alice.example.test) " \
           "does not cover bob.example.test" in text
    # A wildcard stands for exactly one label: *.carol.example.test does not cover carol.example.test.
    assert "vhost carol.example.test: the certificate (for *.carol.example.test) does not cover" in text
    assert not (tmp_path / "tls").exists()
    assert "PRIVATE KEY" not in text


def test_shape_problems_are_all_reported_before_openssl_runs(tmp_path, pairs):
    certs = [
        {"vhost": "nobody.example.test", "certificate": pairs["bob"][0], "private_key": pairs["bob"][1]},
        {"vhost": "bob.example.test", "certificate": pairs["bob"][0]},
        {"vhost": "bob.example.test", "certificate": "not pem", "private_key": "secret-value",
         "private_key_file": "/etc/key.pem"},
        {"vhost": "alice.example.test", "certificate_file": "relative.crt", "private_key": pairs["alice"][1],
         "colour": "blue"},
    ]
    with pytest.raises(ProblemsError) as caught:
        converge(params(tmp_path, certs, redirects=["carol.example.test"]), lambda *a, **k: pytest.fail("ran"))
    problems = caught.value.problems
    assert "certificates[0] (vhost nobody.example.test): no present user serves nobody.example.test on this " \
           "frontend" in problems
    assert any("certificates[1] (vhost bob.example.test): give the private key as exactly one of private_key " in p
               and "it is missing" in p for p in problems)
    assert "certificates[2] (vhost bob.example.test): bob.example.test already has a certificate " \
           "(certificates[1])" in problems
    assert "certificates[2] (vhost bob.example.test): certificate is not a PEM certificate" in problems
    assert any("certificates[3] (vhost alice.example.test): unknown key 'colour'" in p for p in problems)
    assert any("certificate_file must be an absolute path" in p for p in problems)
    assert any("vhost carol.example.test of user carol redirects to HTTPS but has no certificate" in p
               for p in problems)
    assert "secret-value" not in str(caught.value)


def test_files_on_the_host_are_checked_and_used_in_place(tmp_path, pairs):
    (tmp_path / "le").mkdir()
    (tmp_path / "le" / "fullchain.pem").write_text(pairs["bob"][0])
    (tmp_path / "le" / "privkey.pem").write_text(pairs["bob"][1])
    entry = {"vhost": "bob.example.test", "certificate_file": str(tmp_path / "le" / "fullchain.pem"),
             "private_key_file": str(tmp_path / "le" / "privkey.pem")}
    result = converge(params(tmp_path, [entry]), run)
    assert result["sites"][0]["certificate_file"] == entry["certificate_file"]
    assert not result["changed"] and not (tmp_path / "tls").exists()
    (tmp_path / "le" / "privkey.pem").write_text(pairs["alice"][1])
    with pytest.raises(ProblemsError, match="vhost bob.example.test: the private key does not belong"):
        converge(params(tmp_path, [entry]), run)
    entry["private_key_file"] = str(tmp_path / "le" / "missing.pem")
    with pytest.raises(ProblemsError, match="vhost bob.example.test: .*missing.pem does not exist"):
        converge(params(tmp_path, [entry]), run)


def test_check_mode_reports_without_writing(tmp_path, pairs):
    certs = [{"vhost": "bob.example.test", "certificate": pairs["bob"][0], "private_key": pairs["bob"][1]}]
    result = converge(params(tmp_path, certs, self_signed=True), run, check_mode=True)
    assert result["changed"] and str(tmp_path / "tls" / "bob.example.test.key") in result["changed_paths"]
    assert not (tmp_path / "tls").exists()


def test_self_signed_default_made_once_and_remade_for_a_new_name(tmp_path):
    first = converge(params(tmp_path, [], self_signed=True, redirects=["bob.example.test"]), run)
    assert first["changed"] and first["default"]["name"] == "frontend.example.test"
    crt = tmp_path / "tls" / "_default.crt"
    key = tmp_path / "tls" / "_default.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(crt.stat().st_mode) == 0o644
    assert converge(params(tmp_path, [], self_signed=True), run)["changed"] is False
    again = converge(params(tmp_path, [], self_signed=True, self_signed_name="other.example.test"), run)
    assert again["changed"]
    text = run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-ext", "subjectAltName",
                "-in", str(crt)])[1]
    assert parse_x509_text(text)["names"] == ["other.example.test"]


def test_prune_removes_what_no_entry_uses(tmp_path, pairs):
    certs = [{"vhost": "bob.example.test", "certificate": pairs["bob"][0], "private_key": pairs["bob"][1]},
             {"vhost": "alice.example.test", "certificate": pairs["alice"][0], "private_key": pairs["alice"][1]}]
    converge(params(tmp_path, certs, self_signed=True), run)
    (tmp_path / "tls" / "notes.txt").write_text("kept: not a certificate file")
    result = converge(params(tmp_path, certs[:1], prune=True), run)
    left = sorted(os.listdir(str(tmp_path / "tls")))
    assert left == ["bob.example.test.crt", "bob.example.test.key", "notes.txt"]
    assert str(tmp_path / "tls" / "_default.key") in result["changed_paths"]


def test_a_chain_is_appended_to_the_certificate(tmp_path, pairs):
    certs = [{"vhost": "bob.example.test", "certificate": pairs["bob"][0], "private_key": pairs["bob"][1],
              "chain": pairs["alice"][0]}]
    converge(params(tmp_path, certs), run)
    text = (tmp_path / "tls" / "bob.example.test.crt").read_text()
    assert text.count("BEGIN CERTIFICATE") == 2 and text.startswith(pairs["bob"][0].strip())


def test_validate_only_writes_nothing(tmp_path, pairs):
    certs = [{"vhost": "bob.example.test", "certificate": pairs["bob"][0], "private_key": pairs["bob"][1]}]
    result = converge(params(tmp_path, certs, validate_only=True, self_signed=True), run)
    assert not result["changed"] and not (tmp_path / "tls").exists() and result["checked_pairs"]


LABEL = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)


@given(st.lists(LABEL, min_size=2, max_size=4), LABEL)
def test_a_wildcard_covers_exactly_one_more_label(labels, extra):
    base = ".".join(labels)
    assert name_matches("*." + base, extra + "." + base)
    assert name_matches("*." + base, (extra + "." + base).upper())
    assert not name_matches("*." + base, base)
    assert not name_matches("*." + base, "x." + extra + "." + base)
    assert name_matches(base, base + ".")
