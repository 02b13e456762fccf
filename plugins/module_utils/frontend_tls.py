# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The frontend's TLS certificates: check every pair, then install them in one go.

``plan`` reads and checks every certificate entry of the inventory (the pair's
public keys are the same, the certificate covers every name it is used for,
each name is served by a hosted user and has one certificate) and raises
ProblemsError naming every bad vhost before any file is written. ``reconcile``
of bulk_files then installs the certificates (0644) and private keys (0600,
root) atomically. OpenSSL's command line does the X.509 work, so the managed
host needs no Python crypto library; ``run`` is any callable with the
signature of AnsibleModule.run_command(args, data=...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re

from ansible_collections.sharedhost.hosting.plugins.module_utils.bulk_files import reconcile
from ansible_collections.sharedhost.hosting.plugins.module_utils.input_checks import ProblemsError
from ansible_collections.sharedhost.hosting.plugins.module_utils.user_spec import HOSTNAME_RE

ENTRY_KEYS = frozenset(("vhost", "aliases", "certificate", "private_key", "chain", "certificate_file",
                        "private_key_file"))
DEFAULT_NAME = "_default"  # no vhost starts with '_', so it never clashes with a site's files
EXPIRY_WARNING_DAYS = 14
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
_PEM_KEY = re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.+?-----END \1PRIVATE KEY-----", re.S)
_PUBKEY = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)


def _name(value):
    return value.lower().rstrip(".") if isinstance(value, str) else value


def name_matches(pattern, host):
    """RFC 6125 matching: exact, or a '*' as the whole leftmost label standing for one label."""
    pattern, host = _name(pattern), _name(host)
    if pattern == host:
        return True
    if pattern.startswith("*.") and "." in host:
        return host.split(".", 1)[1] == pattern[2:] and "*" not in pattern[2:]
    return False


def parse_x509_text(text):
    """Public key, names (SAN DNS entries, else the CN) and notAfter from ``openssl x509`` output."""
    key = _PUBKEY.search(text)
    names = []
    san = re.search(r"X509v3 Subject Alternative Name:[^\n]*\n\s*([^\n]+)", text)
    if san:
        names = [part.strip()[4:] for part in san.group(1).split(",") if part.strip().startswith("DNS:")]
    if not names:
        common = re.search(r"^subject=.*?(?:^|,|/|\s)CN\s*=\s*([^,/\n]+)", text, re.M)
        if common:
            names = [common.group(1).strip()]
    not_after = re.search(r"^notAfter=(.+)$", text, re.M)
    return {
        "public_key": key.group(0) if key else None,
        "names": [_name(n) for n in names],
        "not_after": not_after.group(1).strip() if not_after else None,
    }


def _expiry(not_after):
    """notAfter as an ISO date and days left, or (None, None) if OpenSSL printed something else."""
    try:
        when = datetime.datetime.strptime(not_after.replace("  ", " "), "%b %d %H:%M:%S %Y GMT")
    except (AttributeError, ValueError):
        return None, None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ"), (when - datetime.datetime.utcnow()).days


def entry_problems(certificates, served, redirects, self_signed):
    """Problems an entry has on its own or against the served names; no host access."""
    problems = []
    if not isinstance(certificates, list):
        return ["frontend TLS certificates must be a list, got %s" % type(certificates).__name__], {}
    claimed = {}
    for index, entry in enumerate(certificates):
        where = "certificates[%d]" % index
        if not isinstance(entry, dict) or not isinstance(entry.get("vhost"), str):
            problems.append("%s: expected a mapping with a 'vhost' host name" % where)
            continue
        vhost = _name(entry["vhost"])
        where = "%s (vhost %s)" % (where, vhost)
        for key in sorted(set(entry) - ENTRY_KEYS):
            problems.append("%s: unknown key %r (known: %s)" % (where, key, ", ".join(sorted(ENTRY_KEYS))))
        aliases = entry.get("aliases") or []
        if not isinstance(aliases, list):
            problems.append("%s: aliases must be a list of host names" % where)
            aliases = []
        for name in [vhost] + [_name(a) for a in aliases]:
            if not isinstance(name, str) or not HOSTNAME_RE.match(name):
                problems.append("%s: invalid host name %r" % (where, name))
                continue
            if name not in served:
                problems.append("%s: no present user serves %s on this frontend" % (where, name))
            if name in claimed:
                problems.append("%s: %s already has a certificate (%s)" % (where, name, claimed[name]))
            else:
                claimed[name] = "certificates[%d]" % index
        for what, content_key, file_key in (("certificate", "certificate", "certificate_file"),
                                            ("private key", "private_key", "private_key_file")):
            given = [k for k in (content_key, file_key) if entry.get(k)]
            if len(given) != 1:
                problems.append("%s: give the %s as exactly one of %s (PEM text) or %s (a path on the host)%s"
                                % (where, what, content_key, file_key, "" if given else ", it is missing"))
            elif file_key in given and not os.path.isabs(str(entry[file_key])):
                problems.append("%s: %s must be an absolute path, got %r" % (where, file_key, entry[file_key]))
        if isinstance(entry.get("certificate"), str) and not _PEM_CERT.search(entry["certificate"]):
            problems.append("%s: certificate is not a PEM certificate" % where)
        if isinstance(entry.get("private_key"), str) and not _PEM_KEY.search(entry["private_key"]):
            problems.append("%s: private_key is not a PEM private key" % where)  # never print the value
        if entry.get("chain") and (entry.get("certificate_file") or not _PEM_CERT.search(str(entry["chain"]))):
            problems.append("%s: chain must be PEM certificates and goes with certificate (not certificate_file, "
                            "which should hold the full chain)" % where)
    for vhost in sorted(redirects):
        if vhost not in claimed and not self_signed:
            problems.append("vhost %s of user %s redirects to HTTPS but has no certificate (add one, or choose "
                            "the self-signed default certificate)" % (vhost, served.get(vhost, "?")))
    return problems, claimed


def _openssl(run, args, data=None, path=None):
    if path is not None:
        args = args + ["-in", path]
    return run(["openssl"] + args, data=data)


def inspect_pair(run, entry):
    """(certificate facts, problem or None) of one entry, checked with OpenSSL."""
    cert_path = entry.get("certificate_file")
    key_path = entry.get("private_key_file")
    for path in (cert_path, key_path):
        if path and not os.path.isfile(path):
            return None, "%s does not exist or is not a file" % path
    rc, out, err = _openssl(run, ["x509", "-noout", "-pubkey", "-enddate", "-subject", "-nameopt", "RFC2253",
                                  "-ext", "subjectAltName"],
                            data=None if cert_path else entry["certificate"], path=cert_path)
    if rc != 0:
        return None, "the certificate cannot be read: %s" % (err.strip().splitlines() or ["openssl failed"])[0]
    facts = parse_x509_text(out)
    # -passin with an empty password: an encrypted key fails here instead of prompting.
    rc, out, err = _openssl(run, ["pkey", "-pubout", "-passin", "pass:"],
                            data=None if key_path else entry["private_key"], path=key_path)
    if rc != 0:
        return facts, "the private key cannot be read (encrypted keys are not supported)"
    key = _PUBKEY.search(out)
    if not facts["public_key"] or not key or key.group(0).split() != facts["public_key"].split():
        return facts, "the private key does not belong to the certificate"
    return facts, None


def plan(params, run, openssl_available=True):
    """Check everything; return (sites, file entries for bulk_files, warnings). Raises ProblemsError."""
    served = dict((_name(k), v) for k, v in (params.get("served") or {}).items())
    redirects = [_name(v) for v in params.get("redirects") or []]
    self_signed = bool(params.get("self_signed"))
    certificates = params.get("certificates") or []
    problems, _claimed = entry_problems(certificates, served, redirects, self_signed)
    if problems:
        raise ProblemsError(problems)

    directory = params["directory"]
    sites, files, warnings = [], [], []
    for entry in sorted(certificates, key=lambda e: _name(e["vhost"])):
        vhost = _name(entry["vhost"])
        names = [vhost] + [_name(a) for a in entry.get("aliases") or []]
        site = {"vhost": vhost, "aliases": names[1:], "users": sorted(set(served[n] for n in names)),
                "not_after": None, "expires_in_days": None}
        if openssl_available:
            facts, problem = inspect_pair(run, entry)
            if problem:
                problems.append("vhost %s: %s" % (vhost, problem))
                continue
            uncovered = [n for n in names if not any(name_matches(p, n) for p in facts["names"])]
            if uncovered:
                problems.append("vhost %s: the certificate (for %s) does not cover %s"
                                % (vhost, ", ".join(facts["names"]) or "no names", ", ".join(uncovered)))
                continue
            site["not_after"], site["expires_in_days"] = _expiry(facts["not_after"])
            if site["expires_in_days"] is not None and site["expires_in_days"] < EXPIRY_WARNING_DAYS:
                warnings.append("the certificate of vhost %s expires on %s" % (vhost, site["not_after"]))
        if entry.get("certificate_file"):
            site["certificate_file"] = entry["certificate_file"]
        else:
            site["certificate_file"] = os.path.join(directory, vhost + ".crt")
            text = entry["certificate"].strip() + "\n"
            if entry.get("chain"):
                text += entry["chain"].strip() + "\n"
            files.append({"path": site["certificate_file"], "content": text, "owner": "root", "group": "root",
                          "mode": "0644"})
        if entry.get("private_key_file"):
            site["private_key_file"] = entry["private_key_file"]
        else:
            site["private_key_file"] = os.path.join(directory, vhost + ".key")
            files.append({"path": site["private_key_file"], "content": entry["private_key"].strip() + "\n",
                          "owner": "root", "group": "root", "mode": "0600", "diff": False})
        sites.append(site)
    if problems:
        raise ProblemsError(problems)
    return sites, files, warnings


def stale_files(directory, keep):
    """Certificate and key files of the directory that no entry (nor the default) uses any more."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(os.path.join(directory, n) for n in names
                  if n.endswith((".crt", ".key")) and os.path.join(directory, n) not in keep)


def self_signed_default(run, directory, name, check_mode):
    """The default certificate (catch-all of port 443): made once, remade when its name changes."""
    cert = os.path.join(directory, DEFAULT_NAME + ".crt")
    key = os.path.join(directory, DEFAULT_NAME + ".key")
    current = None
    if os.path.isfile(cert) and os.path.isfile(key):
        rc, out, _err = _openssl(run, ["x509", "-noout", "-subject", "-nameopt", "RFC2253",
                                       "-ext", "subjectAltName"], path=cert)
        current = parse_x509_text(out)["names"] if rc == 0 else None
    result = {"certificate_file": cert, "private_key_file": key, "name": _name(name)}
    if current == [_name(name)]:
        return result, False
    if not check_mode:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        old_umask = os.umask(0o077)
        try:
            rc, _out, err = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
                                 "-subj", "/CN=%s" % name, "-addext", "subjectAltName=DNS:%s" % name,
                                 "-keyout", key + ".new", "-out", cert + ".new"])
        finally:
            os.umask(old_umask)
        if rc != 0:
            raise OSError("openssl could not make the self-signed certificate: %s" % err.strip())
        os.chmod(cert + ".new", 0o644)
        os.rename(key + ".new", key)
        os.rename(cert + ".new", cert)
    return result, True


def converge(params, run, check_mode=False, want_diff=False, openssl_available=True):
    """Check, then install; the result dict of the module (without the invocation)."""
    directory = params["directory"]
    sites, files, warnings = plan(params, run, openssl_available)
    result = {"changed": False, "sites": sites, "default": None, "changed_paths": [], "warnings": warnings,
              "checked_pairs": bool(openssl_available)}
    served = dict((_name(k), v) for k, v in (params.get("served") or {}).items())
    covered = set(n for s in sites for n in [s["vhost"]] + s["aliases"])
    result["uncovered"] = sorted(n for n in served if n not in covered)
    if params.get("validate_only"):
        return result
    if files or params.get("self_signed"):
        files.insert(0, {"path": directory, "state": "directory", "owner": "root", "group": "root",
                         "mode": "0755"})
    keep = set(f["path"] for f in files)
    if params.get("self_signed"):
        default, made = self_signed_default(run, directory, params.get("self_signed_name") or "localhost",
                                            check_mode)
        result["default"] = default
        keep.update((default["certificate_file"], default["private_key_file"]))
        if made:
            result["changed_paths"].extend([default["certificate_file"], default["private_key_file"]])
    if params.get("prune"):
        files.extend({"path": p, "state": "absent"} for p in stale_files(directory, keep))
    outcome = reconcile(files, check_mode=check_mode, want_diff=want_diff)
    if outcome["failures"]:
        raise OSError("; ".join("%s: %s" % (f["path"], f["msg"]) for f in outcome["failures"]))
    result["changed_paths"].extend(outcome["changed_paths"])
    result["changed"] = bool(result["changed_paths"])
    result["warnings"].extend(outcome["warnings"])
    if want_diff and result["changed"]:
        result["diff"] = outcome["_diff"] or {"before": "", "after": "\n".join(result["changed_paths"]) + "\n"}
    return result
