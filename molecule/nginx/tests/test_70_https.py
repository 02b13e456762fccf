"""HTTPS through nginx, with a test CA made here: the right certificate per SNI name (PEM text and a file on the
host), each user's content, the redirect where the user asked for it (ACME challenges excepted), X-Forwarded-Proto
https at the backend, 421 for a name without a certificate, the explicit self-signed default, and HTTPS off again."""
import time

import pytest

from conftest import logged, port80_programs, recap_changed, run_site
from sharedhost_verify import http, https, make_pki, platform, served_certificate, users_with_redirect, write_as

CA_SUBJECT = "/CN=sharedhost nginx verify CA"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throw-away CA and leaf certificates it signed, as PEM text."""
    return make_pki(tmp_path_factory.mktemp("pki"), CA_SUBJECT)


def port443_programs(host):
    out = host.check_output("ss -Hltnp 'sport = :443'")
    return sorted(set(part.split('"')[1] for part in out.split("users:((")[1:]))


def test_https_per_vhost_with_redirect_and_forwarded_proto(host, users, pki, header_log):
    host.run("install -d -m 0700 /etc/ssl/verify-bob")
    for suffix, pem, mode in (("crt", pki["bob.example.test"][0], "0644"), ("key", pki["bob.example.test"][1], "0600")):
        host.run("install -m %s /dev/null /etc/ssl/verify-bob/bob.%s" % (mode, suffix))
        write_as(host, "root", "/etc/ssl/verify-bob/bob.%s" % suffix, pem)
    write_as(host, "root", "/tmp/verify-ca.pem", pki["ca"])
    certificates = [
        {"vhost": "alice.example.test", "aliases": ["www.alice.example.test"],
         "certificate": pki["alice.example.test"][0], "private_key": pki["alice.example.test"][1]},
        {"vhost": "bob.example.test", "certificate_file": "/etc/ssl/verify-bob/bob.crt",
         "private_key_file": "/etc/ssl/verify-bob/bob.key"},
    ]
    output = run_site(host, {"frontend_tls_certificates": certificates}, users=users_with_redirect(users))
    assert pki["alice.example.test"][1].splitlines()[1] not in output  # the key is never printed
    assert port443_programs(host) == ["nginx"] and port80_programs(host) == ["nginx"]
    key = host.file("/etc/apache2/sharedhost/tls/alice.example.test.key")
    assert key.user == "root" and key.mode == 0o600

    for name, cn in (("alice.example.test", "alice.example.test"), ("www.alice.example.test", "alice.example.test"),
                     ("bob.example.test", "bob.example.test")):
        subject = served_certificate(host, name)
        assert "subject=CN=%s" % cn in subject and "issuer=CN=sharedhost nginx verify CA" in subject, (name, subject)
    status, body = https(host, "www.alice.example.test")
    assert status == "200" and "dedicated apache backend of alice" in body
    status, body = https(host, "bob.example.test")
    assert status == "200" and "Hello from the mod_perl handler of bob " in body

    # bob asked for the redirect, alice did not; ACME challenges are never redirected.
    moved = host.run("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: Bob.Example.Test' "
                     "http://127.0.0.1/some/page?x=1").stdout
    assert moved == "301 https://bob.example.test/some/page?x=1"
    assert http(host, "bob.example.test", "/.well-known/acme-challenge/token")[0] != "301"
    assert http(host, "alice.example.test")[0] == "200"

    # carol has no certificate and no self-signed default was chosen: 421, never another user's site.
    carol = host.run("curl -sk -o /dev/null -w '%{http_code}' --resolve carol.example.test:443:127.0.0.1 "
                     "https://carol.example.test/").stdout
    assert carol == "421"

    # X-Forwarded-Proto https reaches the backend.
    marker = "tls-check-%d" % time.time()
    assert https(host, "alice.example.test", "/?" + marker)[0] == "200"
    assert logged(host, marker)[-1][3] == "https"

    again = run_site(host, {"frontend_tls_certificates": certificates}, users=users_with_redirect(users))
    assert recap_changed(again) == [0], again[-3000:]


def test_self_signed_default_then_https_off(host, users):
    run_site(host, {"frontend_tls_self_signed": True})
    assert "subject=CN=%s" % platform(host) in served_certificate(host, "carol.example.test")
    status = host.run("curl -sk -o /tmp/.verify-tls-body -w '%{http_code}' --resolve carol.example.test:443:127.0.0.1 "
                      "https://carol.example.test/").stdout
    assert status == "200" and "backend of carol" in host.file("/tmp/.verify-tls-body").content_string
    assert not host.file("/etc/apache2/sharedhost/tls/alice.example.test.key").exists

    run_site(host)
    assert not host.socket("tcp://443").is_listening
    assert http(host, "bob.example.test")[0] == "200"
