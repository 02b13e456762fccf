# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the hosted-user list: validation and defaults (see module_utils/user_spec.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sharedhost.hosting.plugins.module_utils.sysv_init import rlimits
from ansible_collections.sharedhost.hosting.plugins.module_utils.user_spec import (
    normalize_users,
    socket_path,
    user_problems,
)


def vhost_map(users, ports, address="127.0.0.1"):
    """Lines 'vhost target' for every present user's vhosts, sorted.

    The target is 'address:port' (the user's first port) or, for a socket backend
    (socket: true), 'unix:/path/of/the.sock' on this host.
    """
    lines = []
    if ":" in address and not address.startswith("["):
        address = "[%s]" % address  # IPv6 literal in a URL authority
    for user in users:
        if user.get("state", "present") != "present" or user["name"] not in ports:
            continue
        if user.get("socket"):
            target = "unix:%s" % socket_path(user["name"])
        elif ports[user["name"]]:
            target = "%s:%d" % (address, ports[user["name"]][0])
        else:
            continue
        for vhost in user.get("vhosts", []):
            lines.append("%s %s" % (vhost.lower().rstrip("."), target))
    return sorted(lines)


def route_map(backends):
    """vhost_map over several backend groups [{address, users, ports}], as one sorted map."""
    lines = []
    for backend in backends:
        lines.extend(vhost_map(normalize_users(backend["users"]), backend["ports"], backend["address"]))
    return sorted(lines)


def proxy_url(target):
    """The proxy URL of a route target: 'http://address:port', or Apache's 'unix:/path|http://localhost'."""
    if target.startswith("unix:"):
        return "%s|http://localhost" % target
    return "http://%s" % target


def _present_users(backends):
    # Ports are not needed: the TLS checks run before the allocation, for new users too.
    for backend in backends:
        for user in normalize_users(backend["users"]):
            if user["state"] == "present":
                yield user


def vhost_owners(backends):
    """{vhost: user} of every present user's vhosts in [{address, users, ports}]."""
    return dict((vhost, user["name"]) for user in _present_users(backends) for vhost in user["vhosts"])


def https_redirects(backends):
    """Sorted vhosts of present users who redirect HTTP to HTTPS (https_redirect: true)."""
    return sorted(vhost for user in _present_users(backends) if user["https_redirect"] for vhost in user["vhosts"])


def sysv_rlimits(limits, address_space_factor=8):
    """The rlimits the SysV init script sets for a user's normalized limits (see module_utils/sysv_init.py)."""
    return rlimits(limits, address_space_factor)


def uid_map(getent_passwd, names):
    """{name: uid} for the names that have an account in getent's passwd facts."""
    return dict((name, int(getent_passwd[name][1])) for name in names if name in getent_passwd)


def owner_pairs(ports, uids):
    """nftables 'port . uid' elements for every allocated port whose owner has an account."""
    pairs = []
    for name in sorted(ports):
        if name in uids:
            pairs.extend((port, uids[name]) for port in ports[name])
    return ["%d . %d" % pair for pair in sorted(pairs)]


class FilterModule(object):
    def filters(self):
        return {
            "user_problems": user_problems,
            "normalize_users": normalize_users,
            "sysv_rlimits": sysv_rlimits,
            "vhost_map": vhost_map,
            "route_map": route_map,
            "proxy_url": proxy_url,
            "vhost_owners": vhost_owners,
            "https_redirects": https_redirects,
            "uid_map": uid_map,
            "owner_pairs": owner_pairs,
        }
