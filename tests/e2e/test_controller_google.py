"""The controller against Google failures (IAM stand-in): missing, disabled or
forbidden GSAs, 409 storms, 5xx bursts, stale reads, drift made in Google,
and a cleanup that gets stuck."""

import copy

from arbutil import (WI_ROLE, binding, condition, events_for, is_ready, member, start_operator,
                     wait_condition, wait_gone, wait_ready, wi_members)
from cluster import eventually

# The operator retries a failing binding at least once per resync period.
FAST = "--resync=4s"


def _strip(policy: dict) -> dict:
    p = copy.deepcopy(policy)
    p.pop("etag", None)
    return p


def _without(policy: dict, m: str) -> dict:
    """The policy minus member m in the unconditional Workload Identity binding."""
    p = _strip(policy)
    out = []
    for b in p.get("bindings", []):
        if b["role"] == WI_ROLE and "condition" not in b:
            b = dict(b, members=[x for x in b["members"] if x != m])
            if not b["members"]:
                continue
        out.append(b)
    p["bindings"] = out
    return p


UNRELATED = {"version": 3, "bindings": [
    {"role": "roles/iam.serviceAccountTokenCreator",
     "members": ["user:alice@example.com", "group:ops@example.com"]},
    {"role": WI_ROLE, "members": ["serviceAccount:my-project.svc.id.goog[other/zeta]",
                                  "serviceAccount:my-project.svc.id.goog[other/alpha]"]},
    {"role": WI_ROLE, "members": ["serviceAccount:my-project.svc.id.goog[other/cond]"],
     "condition": {"title": "until-2030", "description": "temporary",
                   "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}},
    {"role": "roles/iam.serviceAccountUser", "members": ["user:bob@example.com"]},
]}


def test_missing_gsa_is_reported_then_recovers(cp, google):
    ns = cp.create_namespace("missing")
    email = "not-yet@my-project.iam.gserviceaccount.com"
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("m", ns, "app", email))
        b = wait_condition(cp, "m", ns, "GcpServiceAccountNotFound", op=op)
        wi = condition(b, "WorkloadIdentityReady")
        assert wi["status"] == "False" and wi["reason"] == "GcpServiceAccountNotFound"
        assert email in wi["message"] and "does not exist" in wi["message"]
        assert condition(b, "ServiceAccountReady")["status"] == "True"
        assert "awsTrustPolicy" not in b["status"]
        google.create_sa("not-yet")
        b = wait_ready(cp, "m", ns, timeout=30, op=op)
        assert b["status"]["gcpServiceAccountUniqueId"] == google.sa(email)["uniqueId"]
        assert wi_members(google, email) == [member(ns, "app")]


def test_permission_denied_is_reported_then_recovers(cp, google):
    gsa = google.create_sa("locked-gsa")["email"]
    google.config(iam_callers=["someone-else@my-project.iam.gserviceaccount.com"])
    ns = cp.create_namespace("denied")
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("d", ns, "app", gsa))
        b = wait_condition(cp, "d", ns, "PermissionDenied", op=op)
        msg = condition(b, "Ready")["message"]
        assert gsa in msg and "roles/iam.serviceAccountAdmin" in msg, msg
        assert wi_members(google, gsa) == []
        google.config(iam_callers=None)
        wait_ready(cp, "d", ns, timeout=30, op=op)
        assert wi_members(google, gsa) == [member(ns, "app")]


def test_disabled_gsa_is_reported_then_recovers(cp, google):
    gsa = google.create_sa("sleepy-gsa")["email"]
    google.patch_sa(gsa, disabled=True)
    ns = cp.create_namespace("disabled")
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("s", ns, "app", gsa))
        b = wait_condition(cp, "s", ns, "GcpServiceAccountDisabled", op=op)
        assert "gcloud iam service-accounts enable" in condition(b, "Ready")["message"]
        # The uniqueId is known, so the AWS side can be prepared already.
        assert b["status"]["gcpServiceAccountUniqueId"] == google.sa(gsa)["uniqueId"]
        assert wi_members(google, gsa) == []
        google.patch_sa(gsa, disabled=False)
        wait_ready(cp, "s", ns, timeout=30, op=op)
        assert wi_members(google, gsa) == [member(ns, "app")]


def test_google_auth_failure_is_reported_then_recovers(cp, google):
    gsa = google.create_sa("auth-gsa")["email"]
    ns = cp.create_namespace("auth")
    google.fault("/computeMetadata/v1/instance/service-accounts/default/token", status=500,
                 count=None, seconds=600)
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("a", ns, "app", gsa))
        b = wait_condition(cp, "a", ns, "GoogleAuthFailed", op=op)
        assert "credentials" in condition(b, "Ready")["message"]
        google.clear_faults()
        wait_ready(cp, "a", ns, timeout=30, op=op)


def test_conflict_storm_converges_and_keeps_the_rest_of_the_policy(cp, google):
    gsa = google.create_sa("stormy-gsa")["email"]
    google.put_policy(gsa, UNRELATED)
    before = google.policy(gsa)
    ns = cp.create_namespace("storm")
    seq = google.counters()["last_seq"]
    google.conflicts(14)  # more than one reconcile's worth of retries (6)
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("st", ns, "app", gsa))
        wait_ready(cp, "st", ns, timeout=90, op=op)
        m = member(ns, "app")
        after = google.policy(gsa)
        assert wi_members(google, gsa).count(m) == 1
        assert _without(after, m) == _strip(before)
        calls = google.calls(since=seq, endpoint="iam.setIamPolicy")
        assert sum(1 for c in calls if c.get("storm")) == 14
        assert all(not c.get("blind") for c in calls), "every write carries the etag"
        # stale reads (eventual consistency) on top of a second binding's grant
        google.stale_reads(4)
        cp.apply(binding("st2", ns, "app2", gsa))
        wait_ready(cp, "st2", ns, timeout=60, op=op)
        after = google.policy(gsa)
        for k in ("app", "app2"):
            assert wi_members(google, gsa).count(member(ns, k)) == 1
        assert _without(_without(after, member(ns, "app")), member(ns, "app2")) == \
            _strip(before)
        # ... and deleting keeps the unrelated bindings too
        cp.kubectl("delete", "arb", "st", "st2", "-n", ns)
        wait_gone(cp, "awsrolebinding", "st", ns, op=op)
        assert _strip(google.policy(gsa)) == _strip(before)


def test_server_errors_converge_after_recovery(cp, google):
    gsa = google.create_sa("flaky-gsa")["email"]
    google.put_policy(gsa, UNRELATED)
    before = google.policy(gsa)
    ns = cp.create_namespace("burst")
    with start_operator(cp, google, FAST) as op:
        # Every IAM call fails for a while: 503s, then connections dropped.
        google.fault("/v1/", status=503, count=None, seconds=600)
        for i in range(3):
            cp.apply(binding(f"f{i}", ns, f"app{i}", gsa))
        b = wait_condition(cp, "f0", ns, "GoogleApiError", op=op)
        assert "503" in condition(b, "Ready")["message"]
        google.clear_faults()
        google.fault("/v1/", action="drop", count=4)
        for i in range(3):
            wait_ready(cp, f"f{i}", ns, timeout=60, op=op)
        members = wi_members(google, gsa)
        for i in range(3):
            assert members.count(member(ns, f"app{i}")) == 1
        after = google.policy(gsa)
        for i in range(3):
            after = _without(after, member(ns, f"app{i}"))
        assert after == _strip(before)
        evs = [(e["type"], e["reason"]) for e in events_for(cp, "f0", ns)]
        assert ("Warning", "GoogleApiError") in evs and ("Normal", "Ready") in evs, evs


def test_drift_in_google_is_repaired_at_resync(cp, google):
    gsa = google.create_sa("drifty-gsa")["email"]
    ns = cp.create_namespace("drift")
    with start_operator(cp, google, "--resync=3s") as op:
        cp.apply(binding("dr", ns, "app", gsa))
        wait_ready(cp, "dr", ns, op=op)
        google.unbind_workload(gsa, f"{ns}/app")  # someone removes the member in Google
        assert wi_members(google, gsa) == []
        eventually(lambda: wi_members(google, gsa) == [member(ns, "app")], 30,
                   what="member restored at resync")
        # the whole policy wiped: restored too, nothing else invented
        google.put_policy(gsa, {"version": 1, "bindings": []})
        eventually(lambda: wi_members(google, gsa) == [member(ns, "app")], 30,
                   what="member restored after wipe")
        assert [b["role"] for b in google.policy(gsa)["bindings"]] == [WI_ROLE]


def test_stuck_cleanup_says_why_and_finishes_after_recovery(cp, google):
    gsa = google.create_sa("sticky-gsa")["email"]
    ns = cp.create_namespace("stuck")
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("sc", ns, "app", gsa))
        wait_ready(cp, "sc", ns, op=op)
        google.fault("/v1/", endpoint="iam.setIamPolicy", status=503, count=None, seconds=600)
        cp.kubectl("delete", "arb", "sc", "-n", ns, "--wait=false")
        b = eventually(lambda: (lambda o: o if condition(o, "Ready") and
                                condition(o, "Ready")["reason"] == "CleanupFailed" else None)(
            cp.get("awsrolebinding", "sc", ns)), 60, what="CleanupFailed")
        msg = condition(b, "Ready")["message"]
        assert "503" in msg and "gtoken.io/cleanup" in msg, msg
        assert b["metadata"].get("deletionTimestamp")
        assert any(e["reason"] == "CleanupFailed" for e in events_for(cp, "sc", ns))
        # the ServiceAccount part went already; the member is still there
        assert cp.get("serviceaccount", "app", ns) is None
        assert wi_members(google, gsa) == [member(ns, "app")]
        google.clear_faults()
        wait_gone(cp, "awsrolebinding", "sc", ns, timeout=30, op=op)
        assert wi_members(google, gsa) == []


def test_delete_is_not_stuck_when_the_gsa_is_gone(cp, google):
    """A GSA that never existed (typo) or was deleted in Google: 403 under
    projects/-, so the operator asks under the GSA's project (404) and lets go."""
    gsa = google.create_sa("doomed-gsa")["email"]
    ns = cp.create_namespace("gone")
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("typo", ns, "app1", "nobody-here@my-project.iam.gserviceaccount.com"))
        wait_condition(cp, "typo", ns, "GcpServiceAccountNotFound", op=op)
        cp.apply(binding("doomed", ns, "app2", gsa))
        wait_ready(cp, "doomed", ns, op=op)
        google.delete_sa(gsa)
        cp.kubectl("delete", "arb", "typo", "doomed", "-n", ns, "--wait=false")
        wait_gone(cp, "awsrolebinding", "typo", ns, timeout=30, op=op)
        wait_gone(cp, "awsrolebinding", "doomed", ns, timeout=30, op=op)
        assert cp.get("serviceaccount", "app1", ns) is None
        assert cp.get("serviceaccount", "app2", ns) is None


def test_not_ready_binding_reports_its_generation(cp, google):
    """observedGeneration follows the spec even while the binding is failing."""
    ns = cp.create_namespace("gen")
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("g", ns, "app", "absent-gsa@my-project.iam.gserviceaccount.com"))
        wait_condition(cp, "g", ns, "GcpServiceAccountNotFound", op=op)
        cp.apply(binding("g", ns, "app", "absent-gsa@my-project.iam.gserviceaccount.com",
                         region="us-west-2"))
        b = wait_condition(cp, "g", ns, "GcpServiceAccountNotFound", op=op)
        assert b["metadata"]["generation"] == 2 and b["status"]["observedGeneration"] == 2
        assert not is_ready(b)
