# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the hosted-user list: validation and defaults (see module_utils/user_spec.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.sharedhost.hosting.plugins.module_utils.user_spec import (
    normalize_users,
    user_problems,
)


def vhost_map(users, ports, address="127.0.0.1"):
    """Lines 'vhost address:port' for every present user's vhosts (first port), sorted."""
    lines = []
    for user in users:
        if user.get("state", "present") != "present" or user["name"] not in ports:
            continue
        port = ports[user["name"]][0]
        for vhost in user.get("vhosts", []):
            lines.append("%s %s:%d" % (vhost.lower().rstrip("."), address, port))
    return sorted(lines)


class FilterModule(object):
    def filters(self):
        return {
            "user_problems": user_problems,
            "normalize_users": normalize_users,
            "vhost_map": vhost_map,
        }
