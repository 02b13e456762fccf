# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the nginx frontend: upstream blocks and map entries from the route lines, and nginx strings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible.errors import AnsibleFilterError

# A vhost as the map key (already lowercased by route_map; user_problems checked it before).
_VHOST_RE = re.compile(r"^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")
# Characters a unix socket path may carry into nginx's configuration unquoted.
_SOCKET_RE = re.compile(r"^/[A-Za-z0-9_./@+-]+$")


def _target_server(target):
    """The nginx 'server' argument of one route target: ADDRESS:PORT, [IPv6]:PORT or unix:/path.sock."""
    if target.startswith("unix:"):
        path = target[len("unix:"):]
        if not _SOCKET_RE.match(path) or "/../" in path + "/" or "//" in path:
            raise AnsibleFilterError("route target %r: a unix socket must be an absolute path of "
                                     "letters, digits and _./@+- only" % target)
        return target
    address, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise AnsibleFilterError("route target %r is neither ADDRESS:PORT, [IPv6]:PORT nor unix:/path.sock" % target)
    try:
        if address.startswith("[") and address.endswith("]"):
            ipaddress.IPv6Address(address[1:-1])
        else:
            ipaddress.IPv4Address(address)
    except ValueError:
        raise AnsibleFilterError("route target %r: %r is not an IPv4 literal or a bracketed IPv6 literal"
                                 % (target, address))
    return "%s:%d" % (address, int(port))


def nginx_routes(routes):
    """From route lines 'vhost target' (route_map): one upstream per distinct target and the map entries.

    Returns {'upstreams': [{'name', 'server', 'target'}] sorted by target,
             'map': [[vhost, upstream name]] sorted by vhost,
             'map_hash_max_size', 'map_hash_bucket_size'}.
    """
    pairs = []
    for line in routes:
        fields = line.split()
        if len(fields) != 2:
            raise AnsibleFilterError("route line %r is not 'vhost target'" % (line,))
        vhost, target = fields
        if not _VHOST_RE.match(vhost):
            raise AnsibleFilterError("route line %r: %r is not a lowercase host name" % (line, vhost))
        pairs.append((vhost, target))
    names, used, upstreams = {}, set(), []
    for target in sorted(set(target for _vhost, target in pairs)):
        server = _target_server(target)
        base = "sharedhost_" + re.sub(r"[^a-z0-9]+", "_", target.lower()).strip("_")
        name, count = base, 1
        while name in used:  # e.g. unix:/a-b.sock and unix:/a_b.sock
            count += 1
            name = "%s_%d" % (base, count)
        used.add(name)
        names[target] = name
        upstreams.append({"name": name, "server": server, "target": target})
    entries = sorted([vhost, names[target]] for vhost, target in pairs)
    longest = max([len(vhost) for vhost, _target in pairs] + [1])
    bucket = 64
    while bucket < longest + 32:  # a key plus the hash element's pointers must fit a bucket
        bucket *= 2
    max_size = 2048
    while max_size < 2 * len(entries):
        max_size *= 2
    return {"upstreams": upstreams, "map": entries, "map_hash_max_size": max_size, "map_hash_bucket_size": bucket}


def nginx_string(text):
    """text as one double-quoted nginx string, taken literally: quotes and backslashes escaped, and every
    '$' written as ${sharedhost_dollar} (nginx has no escape for '$'; the frontend defines that variable)."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("$", "${sharedhost_dollar}")
    return '"%s"' % text


class FilterModule(object):
    def filters(self):
        return {
            "nginx_routes": nginx_routes,
            "nginx_string": nginx_string,
        }
