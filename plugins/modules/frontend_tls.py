#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: frontend_tls
short_description: Check and install the frontend's per-vhost TLS certificates in one task
version_added: "0.3.0"
description:
  - Checks every certificate entry first and fails with one message naming every bad vhost before any file
    changes. A private key that does not belong to its certificate, a certificate that does not cover a name it is
    used for (subject alternative names, else the common name; a C(*.) wildcard stands for one label), a name that
    no present user serves on this frontend or that has two certificates, an unreadable or encrypted key, a missing
    file, and a vhost that redirects to HTTPS without a certificate (unless O(self_signed)) are refused.
  - Certificates and keys given as PEM text are written atomically under O(directory), certificates (with their
    chain) mode C(0644), private keys mode C(0600), both owned by root. Files given as paths on the host (for
    example certbot's) are checked and used in place.
  - Private keys are never printed, not in the result, not in the diff, not in the invocation.
  - With O(self_signed), a self-signed certificate for O(self_signed_name) is made once (and remade when the name
    changes); the frontend uses it for the catch-all virtual host on port 443, so vhosts without a certificate are
    served over HTTPS with it. Without O(self_signed) no such certificate is made.
  - With O(prune), certificate and key files under O(directory) that no entry uses any more are removed. Run it
    after the configuration that stopped using them went live.
  - Uses the C(openssl) command line on the managed host.
author:
  - sharedhost.hosting contributors (@sharedhost-hosting)
options:
  certificates:
    description: One entry per certificate.
    type: list
    elements: dict
    default: []
    suboptions:
      vhost:
        description: The host name the certificate is for (a vhost of a present user).
        type: str
        required: true
      aliases:
        description: More vhosts served with the same certificate (it must cover them).
        type: list
        elements: str
        default: []
      certificate:
        description: The certificate, PEM text. Exclusive with O(certificates[].certificate_file).
        type: str
      chain:
        description: Intermediate certificates, PEM text, appended to O(certificates[].certificate).
        type: str
      private_key:
        description: The unencrypted private key, PEM text. Exclusive with O(certificates[].private_key_file).
        type: str
      certificate_file:
        description: Path on the host of the certificate with its chain.
        type: path
      private_key_file:
        description: Path on the host of the private key.
        type: path
  served:
    description: Every vhost this frontend routes, mapped to the user who owns it (for the checks and messages).
    type: dict
    default: {}
  redirects:
    description: Vhosts whose owners redirect HTTP to HTTPS; each needs a certificate, or O(self_signed).
    type: list
    elements: str
    default: []
  self_signed:
    description: Make and keep a self-signed certificate for the catch-all virtual host on port 443.
    type: bool
    default: false
  self_signed_name:
    description: Host name of the self-signed certificate.
    type: str
    default: localhost
  directory:
    description: Directory of the installed certificates and keys.
    type: path
    default: /etc/apache2/sharedhost/tls
  prune:
    description: Remove certificate and key files under O(directory) that no entry uses any more.
    type: bool
    default: false
  validate_only:
    description: Only check the entries; change nothing (for a check before any other task changes the host).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Everything is checked; files that would change are reported and not written.
  diff_mode:
    support: partial
    description: Certificates are shown; private keys only by path.
  platform:
    support: full
    platforms: posix
    description: Needs the C(openssl) command line on the managed host.
notes:
  - The pair checks need C(openssl) on the host. With O(validate_only) on a host without it, only the entries'
    shape is checked and RV(checked_pairs) is false; the install step always checks the pairs.
"""

EXAMPLES = r"""
- name: Install the certificates of the frontend's vhosts
  sharedhost.hosting.frontend_tls:
    certificates:
      - vhost: alice.example.com
        aliases: [www.alice.example.com]
        certificate: "{{ lookup('ansible.builtin.file', 'certs/alice.example.com.crt') }}"
        private_key: "{{ vault_alice_key }}"
      - vhost: bob.example.com
        certificate_file: /etc/letsencrypt/live/bob.example.com/fullchain.pem
        private_key_file: /etc/letsencrypt/live/bob.example.com/privkey.pem
    served:
      alice.example.com: alice
      www.alice.example.com: alice
      bob.example.com: bob
    redirects: [bob.example.com]
  register: tls
"""

RETURN = r"""
sites:
  description: One entry per certificate, sorted by vhost.
  returned: success
  type: list
  elements: dict
  contains:
    vhost:
      description: The vhost.
      type: str
    aliases:
      description: Further names served with this certificate.
      type: list
      elements: str
    users:
      description: Owners of the names.
      type: list
      elements: str
    certificate_file:
      description: Path of the certificate (with chain) on the host.
      type: str
    private_key_file:
      description: Path of the private key on the host.
      type: str
    not_after:
      description: Expiry of the certificate, ISO 8601 UTC (null when not checked).
      type: str
    expires_in_days:
      description: Days until expiry (null when not checked).
      type: int
  sample:
    - vhost: alice.example.com
      aliases: [www.alice.example.com]
      users: [alice]
      certificate_file: /etc/apache2/sharedhost/tls/alice.example.com.crt
      private_key_file: /etc/apache2/sharedhost/tls/alice.example.com.key
      not_after: "2027-11-27T10:00:00Z"
      expires_in_days: 364
default:
  description: The self-signed certificate of the catch-all virtual host, or null without O(self_signed).
  returned: success
  type: dict
  sample: {certificate_file: /etc/apache2/sharedhost/tls/_default.crt,
           private_key_file: /etc/apache2/sharedhost/tls/_default.key, name: host1.example.net}
uncovered:
  description: Served vhosts that have no certificate of their own.
  returned: success
  type: list
  elements: str
  sample: [carol.example.com]
changed_paths:
  description: Files written or removed (or that would be, in check mode).
  returned: success
  type: list
  elements: str
checked_pairs:
  description: Whether the key/certificate pairs were checked with OpenSSL.
  returned: success
  type: bool
problems:
  description: Every reason the entries were refused.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.sharedhost.hosting.plugins.module_utils.frontend_tls import converge
from ansible_collections.sharedhost.hosting.plugins.module_utils.input_checks import ProblemsError

CERTIFICATE_OPTIONS = dict(
    vhost=dict(type="str", required=True),
    aliases=dict(type="list", elements="str", default=[]),
    certificate=dict(type="str"),
    chain=dict(type="str"),
    private_key=dict(type="str", no_log=True),
    certificate_file=dict(type="path"),
    private_key_file=dict(type="path"),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            certificates=dict(type="list", elements="dict", default=[], options=CERTIFICATE_OPTIONS),
            served=dict(type="dict", default={}),
            redirects=dict(type="list", elements="str", default=[]),
            self_signed=dict(type="bool", default=False),
            self_signed_name=dict(type="str", default="localhost"),
            directory=dict(type="path", default="/etc/apache2/sharedhost/tls"),
            prune=dict(type="bool", default=False),
            validate_only=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    openssl = module.get_bin_path("openssl", required=not module.params["validate_only"])
    try:
        result = converge(module.params, module.run_command, check_mode=module.check_mode, want_diff=module._diff,
                          openssl_available=bool(openssl))
    except ProblemsError as exc:
        module.fail_json(msg="TLS certificates refused, nothing was changed: %s" % exc, problems=exc.problems)
    except OSError as exc:
        module.fail_json(msg="frontend_tls: %s" % to_native(exc))
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
