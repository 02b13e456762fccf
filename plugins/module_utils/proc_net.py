# -*- coding: utf-8 -*-
# Copyright: (c) 2026, sharedhost.hosting contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live TCP listeners read from /proc/net/tcp and /proc/net/tcp6.

The kernel prints the owning uid and the socket inode of every socket there,
which is exactly what the allocator (skip busy ports) and the audit (who is
listening on whose port) need, without ss/netstat being installed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import struct

TCP_LISTEN = "0A"
PROC_NET_TCP_FILES = (("tcp", "/proc/net/tcp"), ("tcp6", "/proc/net/tcp6"))


def _decode_address(hex_addr):
    """Decode the kernel's address column: 32-bit words in host byte order."""
    raw = b"".join(
        struct.pack("=I", int(hex_addr[i:i + 8], 16))
        for i in range(0, len(hex_addr), 8)
    )
    return str(ipaddress.ip_address(raw))


def parse_proc_net_tcp(text, family="tcp"):
    """Return the listening sockets in one /proc/net/tcp[6] text.

    Each listener is a dict: family, address, port, uid, inode.
    Malformed lines are skipped: this file is the kernel's, not user input.
    """
    listeners = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        try:
            hex_addr, hex_port = fields[1].split(":")
            listeners.append({
                "family": family,
                "address": _decode_address(hex_addr),
                "port": int(hex_port, 16),
                "uid": int(fields[7]),
                "inode": int(fields[9]),
            })
        except ValueError:
            continue
    return listeners


def read_listeners(files=PROC_NET_TCP_FILES):
    """All TCP listeners of this network namespace (IPv4 and IPv6)."""
    listeners = []
    for family, path in files:
        try:
            with open(path) as handle:
                listeners.extend(parse_proc_net_tcp(handle.read(), family))
        except IOError:
            # No IPv6 in this kernel/namespace: nothing listens there.
            continue
    return listeners


def listening_ports(listeners):
    """The set of port numbers that have at least one listener."""
    return set(item["port"] for item in listeners)
