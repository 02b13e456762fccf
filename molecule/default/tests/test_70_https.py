"""HTTPS at the frontend, with a test CA made here: a mismatched pair is refused naming the vhost before the host
changes; then the right certificate per SNI name (PEM text and a file on the host), each user's content, the
redirect where the user asked for it, X-Forwarded-Proto https at the backend, and no other user's site for a name
without a certificate."""

import pytest

from conftest import run_site
from sharedhost_verify import http, https, make_pki, platform, registry, served_certificate, users_with_redirect, wait_until, write_as

CA_SUBJECT = "/CN=sharedhost verify CA"
PROTO_LOG = "/var/log/sharedhost/alice/proto.log"
ALICE_INCLUDE = "/home/alice/sharedhost/apache.conf"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A throw-away CA and leaf certificates it signed, as PEM text."""
    return make_pki(tmp_path_factory.mktemp("pki"), CA_SUBJECT)


def test_a_mismatched_pair_fails_naming_the_vhost_before_the_host_changes(host, users, pki):
    before = host.check_output("md5sum /etc/apache2/sharedhost/frontend.conf")
    newcomer = dict(name="tlsdave", vhosts=["tlsdave.example.test"], backend="apache")
    wrong = {"vhost": "alice.example.test", "aliases": ["www.alice.example.test"],
             "certificate": pki["alice.example.test"][0], "private_key": pki["bob.example.test"][1]}
    output = run_site(host, users + [newcomer], expect_failure=True,
                      extra_vars={"frontend_tls_certificates": [wrong]})
    assert "vhost alice.example.test: the private key does not belong to the certificate" in output
    assert "PRIVATE KEY" not in output and pki["bob.example.test"][1].splitlines()[1] not in output
    # Nothing changed: no port for the new user, no account, no TLS files, the same frontend, no port 443.
    assert "tlsdave" not in registry(host)["users"] and not host.user("tlsdave").exists
    assert not host.file("/etc/apache2/sharedhost/tls").exists
    assert host.check_output("md5sum /etc/apache2/sharedhost/frontend.conf") == before
    assert not host.socket("tcp://443").is_listening


def test_https_per_vhost_with_redirect_and_forwarded_proto(host, users, pki):
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
    output = run_site(host, users_with_redirect(users), extra_vars={"frontend_tls_certificates": certificates})
    assert pki["alice.example.test"][1].splitlines()[1] not in output  # the key is never printed

    key = host.file("/etc/apache2/sharedhost/tls/alice.example.test.key")
    assert key.user == "root" and key.group == "root" and key.mode == 0o600
    assert not host.file("/etc/apache2/sharedhost/tls/_default.crt").exists  # self-signed only when chosen

    # The right certificate per SNI name, each user's own content through it.
    for name, cn in (("alice.example.test", "alice.example.test"), ("www.alice.example.test", "alice.example.test"),
                     ("bob.example.test", "bob.example.test")):
        subject = served_certificate(host, name)
        assert "subject=CN=%s" % cn in subject and "issuer=CN=sharedhost verify CA" in subject, (name, subject)
    status, body = https(host, "www.alice.example.test")
    assert status == "200" and "dedicated apache backend of alice" in body
    status, body = https(host, "bob.example.test")
    assert status == "200" and "Hello from the mod_perl handler of bob " in body

    # bob asked for the redirect, alice did not; ACME challenges are never redirected.
    moved = host.run("curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -H 'Host: bob.example.test' "
                     "http://127.0.0.1/some/page?x=1").stdout
    assert moved == "301 https://bob.example.test/some/page?x=1"
    assert http(host, "bob.example.test", "/.well-known/acme-challenge/token")[0] != "301"
    assert http(host, "alice.example.test")[0] == "200"

    # carol has no certificate and no self-signed default was chosen: never another user's site.
    carol = host.run("curl -sk -o /dev/null -w '%{http_code}' --resolve carol.example.test:443:127.0.0.1 "
                     "https://carol.example.test/").stdout
    assert carol == "421"
    assert host.run("curl -s -m 10 --cacert /tmp/verify-ca.pem --resolve carol.example.test:443:127.0.0.1 "
                    "https://carol.example.test/").rc != 0  # no valid certificate for that name

    # X-Forwarded-Proto reaches the backend: alice logs it from her own config.
    original = host.file(ALICE_INCLUDE).content_string
    try:
        write_as(host, "alice", ALICE_INCLUDE,
                 original + 'CustomLog %s "%%{X-Forwarded-Proto}i %%U"\n' % PROTO_LOG)
        assert host.run("runuser -u alice -- sharedhost-ctl reload").rc == 0
        wait_until(lambda: https(host, "alice.example.test", "/?proto-check")[0] == "200"
                   and host.file(PROTO_LOG).exists and "https /" in host.file(PROTO_LOG).content_string,
                   timeout=30, message="alice's backend to log X-Forwarded-Proto https")
        http(host, "alice.example.test", "/plain-check")
        wait_until(lambda: "http /plain-check" in host.file(PROTO_LOG).content_string, timeout=30,
                   message="the plain HTTP request in alice's log")
    finally:
        write_as(host, "alice", ALICE_INCLUDE, original)
        host.run("runuser -u alice -- sharedhost-ctl reload")

    # The same inventory again changes nothing.
    again = run_site(host, users_with_redirect(users), extra_vars={"frontend_tls_certificates": certificates})
    assert "changed=0" in again.split("PLAY RECAP")[-1], again[-3000:]

    # The self-signed default, chosen explicitly: names without a certificate (carol's) are served over HTTPS with
    # it, and the certificates given before are removed once no entry uses them.
    run_site(host, users, extra_vars={"frontend_tls_self_signed": True})
    assert "subject=CN=%s" % platform(host) in served_certificate(host, "carol.example.test")
    status = host.run("curl -sk -o /tmp/.verify-tls-body -w '%{http_code}' --resolve carol.example.test:443:127.0.0.1 "
                      "https://carol.example.test/").stdout
    assert status == "200" and "backend of carol" in host.file("/tmp/.verify-tls-body").content_string
    assert not host.file("/etc/apache2/sharedhost/tls/alice.example.test.key").exists

    # Without certificates HTTPS is off again: port 443 closed, the installed files removed, the host's own kept.
    run_site(host, users)
    assert not host.socket("tcp://443").is_listening
    assert not host.file("/etc/apache2/sharedhost/tls/_default.key").exists
    assert host.file("/etc/ssl/verify-bob/bob.key").exists
    assert http(host, "bob.example.test")[0] == "200"
