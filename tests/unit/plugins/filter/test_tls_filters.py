"""vhost_owners and https_redirects: the names the frontend's TLS checks compare certificates with."""
from ansible_collections.sharedhost.hosting.plugins.filter.users import https_redirects, vhost_owners

BACKENDS = [
    {"address": "127.0.0.1", "ports": {"alice": [20000]},
     "users": [{"name": "alice", "vhosts": ["Alice.Test.", "www.alice.test"], "https_redirect": True},
               {"name": "newbie", "vhosts": ["newbie.test"]},
               {"name": "gone", "vhosts": ["gone.test"], "https_redirect": True, "state": "absent"}]},
    {"address": "10.0.0.12", "ports": {"bob": [20001]},
     "users": [{"name": "bob", "vhosts": ["bob.test"]}]},
]


def test_every_present_users_vhost_has_its_owner_ports_or_not():
    # newbie has no port yet (the checks run before the allocation): still served here.
    assert vhost_owners(BACKENDS) == {"alice.test": "alice", "www.alice.test": "alice", "newbie.test": "newbie",
                                      "bob.test": "bob"}


def test_redirects_are_the_present_users_who_asked():
    assert https_redirects(BACKENDS) == ["alice.test", "www.alice.test"]
    assert https_redirects([]) == []
