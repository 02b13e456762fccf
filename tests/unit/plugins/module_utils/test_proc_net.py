"""Parsing of /proc/net/tcp and /proc/net/tcp6, and a real listener seen with its uid."""
import os
import socket

from ansible_collections.sharedhost.hosting.plugins.module_utils.proc_net import (
    listening_ports,
    parse_proc_net_tcp,
    read_listeners,
)

TCP = "\n".join([
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 4242 1 0 100 0 0 10 0",
    "   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0 100 0 0 10 0",
    "   2: 0100007F:4E20 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1001        0 0 1 0 20 4 30 10 -1",
    "   3: garbage",
]) + "\n"

V6_ANY = "00000000000000000000000000000000"
TCP6 = "\n".join([
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when"
    " retrnsmt   uid  timeout inode",
    "   0: 00000000000000000000000001000000:4E21 %s:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 99 1"
    " 0 100 0 0 10 0" % V6_ANY,
    "   1: %s:1F90 %s:0000 0A 00000000:00000000 00:00000000 00000000     0        0 98 1 0 100 0 0 10 0" % (V6_ANY, V6_ANY),
]) + "\n"


def test_ipv4_listeners_only_with_uid_and_inode():
    found = parse_proc_net_tcp(TCP)
    assert found == [
        {"family": "tcp", "address": "127.0.0.1", "port": 20000, "uid": 1001, "inode": 4242},
        {"family": "tcp", "address": "0.0.0.0", "port": 80, "uid": 0, "inode": 17},
    ]


def test_ipv6_addresses():
    found = parse_proc_net_tcp(TCP6, "tcp6")
    assert [(f["address"], f["port"], f["uid"]) for f in found] == [("::1", 20001, 1002), ("::", 8080, 0)]


def test_missing_files_are_no_listeners(tmp_path):
    assert read_listeners(((("tcp", str(tmp_path / "nope")),))) == []


def test_real_listeners_are_seen_with_our_uid():
    v4 = socket.socket()
    v4.bind(("127.0.0.1", 0))
    v4.listen(1)
    v6 = None
    try:
        if socket.has_ipv6:
            try:
                v6 = socket.socket(socket.AF_INET6)
                v6.bind(("::1", 0))
                v6.listen(1)
            except OSError:
                v6 = None
        listeners = read_listeners()
        mine = [entry for entry in listeners if entry["port"] == v4.getsockname()[1]]
        assert mine and mine[0]["uid"] == os.getuid() and mine[0]["address"] == "127.0.0.1"
        assert v4.getsockname()[1] in listening_ports(listeners)
        if v6 is not None:
            port6 = v6.getsockname()[1]
            assert any(e["port"] == port6 and e["address"] == "::1" and e["family"] == "tcp6" for e in listeners)
    finally:
        v4.close()
        if v6 is not None:
            v6.close()
