"""Moving a user from one backend host to another in one rollout: the new backend is up before the
frontend routes to it, the old one stops afterwards, and a request loop through the frontend sees
no failed request. A second run changes nothing on any host."""
import subprocess

from conftest import ADDRESS, PREFIX, http, placement, recap, registry, rollout, sh

# Bounded: at most 6000 requests and 600 s, stopped by the test as soon as the rollout is done.
LOOP = ("n=0; bad=0; rm -f /tmp/stop-loop; "
        "while [ ! -e /tmp/stop-loop ] && [ $n -lt 6000 ]; do "
        "code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'Host: dan.multi.test' http://127.0.0.1/); "
        "[ \"$code\" = 200 ] || { bad=$((bad+1)); echo \"failed: $code\" >&2; }; n=$((n+1)); sleep 0.05; done; "
        "echo \"$n $bad\"")


def test_move_dan_from_be1_to_be2_without_a_failed_request():
    old_port = registry("be-1")["users"]["dan"]["ports"][0]
    users = placement()
    dan = [u for u in users["be-1"] if u["name"] == "dan"][0]
    users["be-1"].remove(dan)
    users["be-2"].append(dan)

    loop = subprocess.Popen(["podman", "exec", PREFIX + "fe-1", "timeout", "600", "sh", "-c", LOOP],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        output = rollout(users, extra=["-e", "sharedhost_serial=0"])
    finally:
        sh("fe-1", "touch /tmp/stop-loop")
        out, err = loop.communicate(timeout=120)
    requests, failed = (int(x) for x in out.split())
    assert requests > 50 and failed == 0, err[-2000:]

    new_port = registry("be-2")["users"]["dan"]["ports"][0]
    assert "dan.multi.test http://%s:%d" % (ADDRESS["be-2"], new_port) in sh("fe-1", "cat /etc/apache2/sharedhost/vhosts.map")[1]
    assert "dan" not in registry("be-1")["users"]
    assert [q["port"] for q in registry("be-1")["quarantine"] if q["user"] == "dan"] == [old_port]
    assert sh("be-1", "systemctl is-active sharedhost-backend@dan.service", check=False)[1].strip() != "active"
    assert sh("be-1", "test -d /home/dan/public_html", check=False)[0] == 0  # files stay on the old host
    status, body = http("fe-1", "dan.multi.test")
    assert status == "200" and "backend of dan" in body
    assert sh("be-2", "test -s /var/log/sharedhost/dan/access.log", check=False)[0] == 0  # served from be-2 now
    assert "moved away: dan" in output  # the rollout summary says what happened

    again = recap(rollout(users, extra=["-e", "sharedhost_serial=0"]))
    assert again and all(counts["changed"] == 0 and counts["failed"] == 0 for counts in again.values()), again
