"""A host of an early batch fails (its port registry is corrupt): the rollout stops before any
later batch changes, the failed host keeps serving its sites, and the batch summary says why."""
from conftest import http, placement, registry, rollout, sh


def test_a_failed_canary_stops_the_rollout_before_later_batches():
    saved = sh("srv-a", "cat /var/lib/sharedhost/ports.json")[1]
    srv_b_before, be_2_before = registry("srv-b"), registry("be-2")
    users = placement()
    users["srv-b"].append({"name": "fay", "vhosts": ["fay.multi.test"]})  # would change srv-b...
    users["be-2"].append({"name": "gus", "vhosts": ["gus.multi.test"]})  # ...and be-2 and fe-1
    sh("srv-a", "echo '{\"format\": \"sharedhost.hosting/ports\", \"version\": 1, \"users\": {\"ann\": 5}}'"
                " > /var/lib/sharedhost/ports.json")
    try:
        # One host per batch; srv-a is the first host of the first play.
        output = rollout(users, extra=["-e", "sharedhost_serial=1"], expect_failure=True)
    finally:
        sh("srv-a", "cat > /var/lib/sharedhost/ports.json <<'EOF'\n%s\nEOF" % saved.strip())

    summary = output[output.index("Summarise the batch"):]
    assert "srv-a  server  FAILED" in summary
    assert "why: Allocate dedicated ports for all hosted users of this host:" in summary
    assert "ann" in summary and "ports" in summary  # the registry's own complaint names the entry
    assert "srv-b  server  not started" in summary
    assert "the rollout stops after this batch" in output
    # Nothing later ran: no new users on srv-b or be-2, no new route on fe-1.
    assert registry("srv-b") == srv_b_before and registry("be-2") == be_2_before
    assert sh("srv-b", "id fay", check=False)[0] != 0
    assert http("fe-1", "gus.multi.test")[0] == "404"
    # The failed host changed nothing and still serves.
    assert http("srv-a", "ann.multi.test")[0] == "200"
    for user in users["srv-b"][:1]:
        assert http("srv-b", user["vhosts"][0])[0] == "200"
