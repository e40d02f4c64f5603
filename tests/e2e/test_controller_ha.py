"""Two operator replicas with leader election: only the Lease holder
reconciles; when it dies (SIGKILL) or freezes, the other takes over, and the
frozen one does not write once it wakes up."""

import json
import signal

from arbutil import binding, is_ready, member, wait_ready, wi_members
from cluster import Operator, eventually

LEASE = ["--lease-duration=4s", "--renew-deadline=3s", "--retry-period=1s"]


def _replica(cp, google, name, lease_ns):
    return Operator(cp, google, name=name,
                    args=["--leader-elect=true", "--webhook=false", f"--namespace={lease_ns}",
                          "--log-level=debug", *LEASE])


def _holder(cp, ns):
    lease = cp.get("lease", "gtoken-operator", ns)
    return lease and lease["spec"].get("holderIdentity")


def _set_up_by(ops, ksa):
    """The replicas whose logs say they created ServiceAccount `ksa` (a new
    binding's first Ready is no Event, so Events cannot tell)."""
    return {name for name, op in ops.items()
            if any(x.get("msg") == "created ServiceAccount" and x.get("serviceAccount") == ksa
                   for x in (json.loads(line) for line in op.logs().splitlines()
                             if line.startswith("{")))}


def test_second_replica_takes_over_when_the_leader_dies(cp, google):
    gsa = google.create_sa("ha-gsa")["email"]
    lease_ns = cp.create_namespace("gtoken-system")
    ns = cp.create_namespace("ha")
    a = _replica(cp, google, "replica-a", lease_ns).start()
    b = _replica(cp, google, "replica-b", lease_ns).start()
    try:
        leader = eventually(lambda: _holder(cp, lease_ns), 30, what="a leader")
        ops = {"replica-a": a, "replica-b": b}
        follower = "replica-b" if leader == "replica-a" else "replica-a"

        cp.apply(binding("one", ns, "app1", gsa))
        wait_ready(cp, "one", ns, op=ops[leader])
        assert _set_up_by(ops, "app1") == {leader}
        assert "controller started" not in ops[follower].logs()

        ops[leader].kill()
        cp.apply(binding("two", ns, "app2", gsa))
        wait_ready(cp, "two", ns, timeout=60, op=ops[follower])
        assert _holder(cp, lease_ns) == follower
        assert _set_up_by(ops, "app2") == {follower}
        assert wi_members(google, gsa) == sorted([member(ns, "app1"), member(ns, "app2")])
        lease = cp.get("lease", "gtoken-operator", lease_ns)
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        a.stop()
        b.stop()


def test_frozen_leader_loses_the_lease_and_stops_writing(cp, google):
    gsa = google.create_sa("freeze-gsa")["email"]
    lease_ns = cp.create_namespace("gtoken-system")
    ns = cp.create_namespace("freeze")
    a = _replica(cp, google, "frozen-a", lease_ns).start()
    b = None
    try:
        eventually(lambda: _holder(cp, lease_ns) == "frozen-a", 30, what="a leads")
        b = _replica(cp, google, "frozen-b", lease_ns).start()
        cp.apply(binding("before", ns, "app0", gsa))
        wait_ready(cp, "before", ns, op=a)

        a.proc.send_signal(signal.SIGSTOP)
        eventually(lambda: _holder(cp, lease_ns) == "frozen-b", 30, what="b takes over")
        a.proc.send_signal(signal.SIGCONT)
        # a sees it lost the lease (by its own clock) and stops its controller
        eventually(lambda: "controller stopped" in a.logs(), 20, what="a stops")
        seen = len(a.logs())

        cp.apply(binding("after", ns, "app1", gsa))
        wait_ready(cp, "after", ns, op=b)
        assert _set_up_by({"frozen-a": a, "frozen-b": b}, "app1") == {"frozen-b"}
        assert "app1" not in a.logs()[seen:], "the old leader touched the new binding"
        assert "app1" in b.logs()
        # a SIGTERMed leader hands the lease over at once
        b.stop()
        eventually(lambda: _holder(cp, lease_ns) == "frozen-a", 20, what="a leads again")
        cp.apply(binding("third", ns, "app2", gsa))
        wait_ready(cp, "third", ns, op=a)
        assert is_ready(cp.get("awsrolebinding", "before", ns))
        lines = [json.loads(x) for x in a.logs().splitlines() if x.startswith("{")]
        assert any(x.get("msg") == "controller started" for x in lines)
    finally:
        a.stop()
        if b:
            b.stop()
