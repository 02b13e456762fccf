"""On backend hosts only the frontend hosts (and the host itself) may connect to a user's port:
nftables resets connections from any other machine of the network."""
import pytest

from conftest import ADDRESS, registry, sh


def connect(source, target, port):
    rc, out = sh(source, "curl -s -m 5 -o /dev/null -w '%%{http_code}' http://%s:%d/; echo \" rc=$?\""
                 % (ADDRESS[target], port), check=False)
    return out.strip()


@pytest.mark.parametrize("target", ["be-1", "be-2"])
def test_the_frontend_reaches_the_backend_port(target):
    port = min(p for u in registry(target)["users"].values() for p in u["ports"])
    assert connect("fe-1", target, port).startswith("200")


@pytest.mark.parametrize("source, target", [("srv-a", "be-1"), ("srv-b", "be-2"), ("be-2", "be-1")])
def test_any_other_host_is_refused(source, target):
    port = min(p for u in registry(target)["users"].values() for p in u["ports"])
    result = connect(source, target, port)
    assert result.startswith("000") and "rc=7" in result, result  # 7: connection refused (reset by nftables)
    _rc, counters = sh(target, "nft list chain inet sharedhost input")
    assert "frontends only" in counters
