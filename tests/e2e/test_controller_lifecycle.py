"""AwsRoleBinding lifecycle against a real kube-apiserver and the IAM stand-in:
apply -> ServiceAccount + IAM member + status; spec changes move everything;
delete undoes exactly what was set up; hand edits are repaired; pods that
run without injection are counted."""

import json

from arbutil import (DEFAULT_AUDIENCE, PROJECT, ROLE, ROLE2, binding, condition, events_for,
                     gtoken_annotations, member, other_annotations, start_operator, wait_condition, wait_gone,
                     wait_ready, wi_members)
from cluster import eventually


def test_apply_creates_everything_and_delete_removes_it(cp, google):
    gsa = google.create_sa("uploader")
    ns = cp.create_namespace("life")
    with start_operator(cp, google) as op:
        cp.apply(binding("uploader", ns, "orchestrator", gsa["email"], region="eu-west-2",
                         containers=["app", "worker"]))
        b = wait_ready(cp, "uploader", ns, op=op)

        # status
        assert b["metadata"]["generation"] == 1
        assert b["status"]["observedGeneration"] == 1
        for t in ("ServiceAccountReady", "WorkloadIdentityReady", "Ready"):
            c = condition(b, t)
            assert c["status"] == "True" and c["observedGeneration"] == 1, c
            assert c["lastTransitionTime"] and c["message"]
        assert condition(b, "WorkloadIdentityReady")["reason"] == "MemberBound"
        assert b["status"]["gcpServiceAccountUniqueId"] == gsa["uniqueId"]
        assert b["status"]["workloadIdentityMember"] == member(ns, "orchestrator")
        assert b["status"]["podsMissingInjection"] == 0
        trust = json.loads(b["status"]["awsTrustPolicy"])
        st = trust["Statement"][0]
        assert st["Principal"] == {"Federated": "accounts.google.com"}
        assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert st["Condition"]["StringEquals"] == {
            "accounts.google.com:sub": gsa["uniqueId"],
            "accounts.google.com:aud": gsa["uniqueId"],
            "accounts.google.com:oaud": DEFAULT_AUDIENCE}
        assert b["status"]["appliedTargets"] == [{
            "serviceAccountName": "orchestrator", "gcpServiceAccount": gsa["email"],
            "awsRoleArn": ROLE, "project": PROJECT, "createdServiceAccount": True}]
        assert "gtoken.io/cleanup" in b["metadata"]["finalizers"]

        # the ServiceAccount gtoken created
        sa = cp.get("serviceaccount", "orchestrator", ns)
        assert sa["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gtoken"
        assert gtoken_annotations(sa) == {
            "iam.gke.io/gcp-service-account": gsa["email"],
            "amazonaws.com/role-arn": ROLE,
            "gtoken.io/binding": "uploader",
            "gtoken.io/audience": DEFAULT_AUDIENCE,
            "gtoken.io/region": "eu-west-2",
            "gtoken.io/containers": "app,worker",
            "gtoken.io/created-by": "uploader"}

        # Google
        assert wi_members(google, gsa["email"]) == [member(ns, "orchestrator")]

        # printer columns
        out = cp.kubectl("get", "arb", "-n", ns)
        assert "orchestrator" in out and gsa["email"] in out and "True" in out

        # a binding's first Ready=True is in its status, not an Event (Events
        # mark transitions; test_events_follow_condition_changes has them)
        evs = events_for(cp, "uploader", ns)
        assert not any(e["reason"] == "Ready" for e in evs), evs

        # delete: ServiceAccount deleted (gtoken created it), member removed, object gone
        cp.kubectl("delete", "awsrolebinding", "uploader", "-n", ns, "--wait=false")
        wait_gone(cp, "awsrolebinding", "uploader", ns, op=op)
        assert cp.get("serviceaccount", "orchestrator", ns) is None
        assert wi_members(google, gsa["email"]) == []


def test_existing_service_account_keeps_its_own_metadata(cp, google):
    gsa = google.create_sa("reporter")["email"]
    ns = cp.create_namespace("keep")
    cp.apply({"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "reports", "namespace": ns,
                           "labels": {"team": "data", "app.kubernetes.io/managed-by": "helm"},
                           "annotations": {"owner": "alice", "example.com/x": "1"}}})
    uid = cp.get("serviceaccount", "reports", ns)["metadata"]["uid"]
    with start_operator(cp, google) as op:
        cp.apply(binding("reports", ns, "reports", gsa, audience="my-aud"))
        b = wait_ready(cp, "reports", ns, op=op)
        assert b["status"]["appliedTargets"][0]["createdServiceAccount"] is False
        sa = cp.get("serviceaccount", "reports", ns)
        assert sa["metadata"]["uid"] == uid
        assert sa["metadata"]["labels"] == {"team": "data",
                                            "app.kubernetes.io/managed-by": "helm"}
        ann = sa["metadata"]["annotations"]
        assert ann["owner"] == "alice" and ann["example.com/x"] == "1"
        assert gtoken_annotations(sa) == {
            "iam.gke.io/gcp-service-account": gsa, "amazonaws.com/role-arn": ROLE,
            "gtoken.io/binding": "reports", "gtoken.io/audience": "my-aud"}
        oaud = json.loads(b["status"]["awsTrustPolicy"])["Statement"][0]["Condition"][
            "StringEquals"]["accounts.google.com:oaud"]
        assert oaud == "my-aud"

        cp.kubectl("delete", "awsrolebinding", "reports", "-n", ns, "--wait=false")
        wait_gone(cp, "awsrolebinding", "reports", ns, op=op)
        sa = cp.get("serviceaccount", "reports", ns)
        assert sa is not None and sa["metadata"]["uid"] == uid
        assert gtoken_annotations(sa) == {}
        assert other_annotations(sa) == {"owner": "alice", "example.com/x": "1"}
        assert sa["metadata"]["labels"] == {"team": "data",
                                            "app.kubernetes.io/managed-by": "helm"}
        assert wi_members(google, gsa) == []


def test_spec_changes_move_everything(cp, google):
    gsa1 = google.create_sa("first-gsa")["email"]
    gsa2 = google.create_sa("second-gsa")["email"]
    # An unrelated member on both GSAs must survive every move.
    for g in (gsa1, gsa2):
        google.add_member(g, "roles/iam.workloadIdentityUser", member("other", "keeper"))
    keeper = member("other", "keeper")
    ns = cp.create_namespace("move")
    cp.apply({"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "preexisting", "namespace": ns,
                           "annotations": {"mine": "yes"}}})

    with start_operator(cp, google) as op:
        cp.apply(binding("mover", ns, "ksa-a", gsa1, region="us-east-1"))
        wait_ready(cp, "mover", ns, op=op)
        uid_a = cp.get("serviceaccount", "ksa-a", ns)["metadata"]["uid"]

        # 1. another role: annotation follows, the ServiceAccount is not recreated and
        #    the member stays; region dropped from the spec goes from the KSA too
        cp.apply(binding("mover", ns, "ksa-a", gsa1, role=ROLE2))
        b = wait_ready(cp, "mover", ns, op=op)
        assert b["metadata"]["generation"] == 2
        sa = cp.get("serviceaccount", "ksa-a", ns)
        assert sa["metadata"]["uid"] == uid_a
        assert sa["metadata"]["annotations"]["amazonaws.com/role-arn"] == ROLE2
        assert "gtoken.io/region" not in sa["metadata"]["annotations"]
        assert wi_members(google, gsa1) == sorted([keeper, member(ns, "ksa-a")])
        assert [t["awsRoleArn"] for t in b["status"]["appliedTargets"]] == [ROLE2]

        # 2. another GSA: member moves from gsa1 to gsa2
        cp.apply(binding("mover", ns, "ksa-a", gsa2, role=ROLE2))
        b = wait_ready(cp, "mover", ns, op=op)
        assert b["metadata"]["generation"] == 3
        assert wi_members(google, gsa1) == [keeper]
        assert wi_members(google, gsa2) == sorted([keeper, member(ns, "ksa-a")])
        sa = cp.get("serviceaccount", "ksa-a", ns)
        assert sa["metadata"]["uid"] == uid_a
        assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == gsa2
        assert b["status"]["gcpServiceAccountUniqueId"] == google.sa(gsa2)["uniqueId"]

        # 3. another KSA (missing): the created ksa-a is deleted, ksa-b created
        cp.apply(binding("mover", ns, "ksa-b", gsa2, role=ROLE2))
        b = wait_ready(cp, "mover", ns, op=op)
        wait_gone(cp, "serviceaccount", "ksa-a", ns, op=op)
        assert gtoken_annotations(cp.get("serviceaccount", "ksa-b", ns))[
            "gtoken.io/created-by"] == "mover"
        assert wi_members(google, gsa2) == sorted([keeper, member(ns, "ksa-b")])

        # 4. onto a pre-existing KSA, everything changing at once
        cp.apply(binding("mover", ns, "preexisting", gsa1, role=ROLE))
        b = wait_ready(cp, "mover", ns, op=op)
        wait_gone(cp, "serviceaccount", "ksa-b", ns, op=op)
        assert wi_members(google, gsa2) == [keeper]
        assert wi_members(google, gsa1) == sorted([keeper, member(ns, "preexisting")])
        sa = cp.get("serviceaccount", "preexisting", ns)
        assert sa["metadata"]["annotations"]["mine"] == "yes"
        assert gtoken_annotations(sa)["amazonaws.com/role-arn"] == ROLE

        # 5. away from the pre-existing KSA: it stays, without gtoken's annotations
        cp.apply(binding("mover", ns, "ksa-c", gsa1, role=ROLE))
        b = wait_ready(cp, "mover", ns, op=op)
        sa = cp.get("serviceaccount", "preexisting", ns)
        assert sa is not None and gtoken_annotations(sa) == {}
        assert other_annotations(sa) == {"mine": "yes"}
        assert wi_members(google, gsa1) == sorted([keeper, member(ns, "ksa-c")])
        assert len(b["status"]["appliedTargets"]) == 1
        assert b["status"]["appliedTargets"][0]["serviceAccountName"] == "ksa-c"

        cp.kubectl("delete", "awsrolebinding", "mover", "-n", ns)
        wait_gone(cp, "awsrolebinding", "mover", ns, op=op)
        assert wi_members(google, gsa1) == [keeper]
        assert wi_members(google, gsa2) == [keeper]
        names = [s["metadata"]["name"] for s in
                 json.loads(cp.kubectl("get", "sa", "-n", ns, "-o", "json"))["items"]]
        assert sorted(names) == ["preexisting"]


def test_hand_edits_are_repaired(cp, google):
    gsa = google.create_sa("repaired")["email"]
    ns = cp.create_namespace("repair")
    with start_operator(cp, google) as op:
        cp.apply(binding("rep", ns, "app", gsa))
        wait_ready(cp, "rep", ns, op=op)
        want = gtoken_annotations(cp.get("serviceaccount", "app", ns))

        # removed by hand
        cp.kubectl("annotate", "sa", "app", "-n", ns, "iam.gke.io/gcp-service-account-")
        eventually(lambda: gtoken_annotations(cp.get("serviceaccount", "app", ns)) == want,
                   30, what="removed annotation restored")

        # changed by hand (both keys at once), plus an unrelated annotation that stays
        cp.kubectl("annotate", "sa", "app", "-n", ns, "--overwrite",
                   "amazonaws.com/role-arn=arn:aws:iam::999999999999:role/evil",
                   "iam.gke.io/gcp-service-account=x@y.iam.gserviceaccount.com", "note=kept")
        eventually(lambda: gtoken_annotations(cp.get("serviceaccount", "app", ns)) == want,
                   30, what="changed annotation restored")
        assert cp.get("serviceaccount", "app", ns)["metadata"]["annotations"]["note"] == "kept"

        # the ServiceAccount deleted by hand is created again
        cp.kubectl("delete", "sa", "app", "-n", ns)
        eventually(lambda: gtoken_annotations(cp.get("serviceaccount", "app", ns)) == want,
                   30, what="deleted ServiceAccount recreated")
        assert wi_members(google, gsa) == [member(ns, "app")]


def _pod(name: str, ns: str, sa: str, containers=("app",), annotations=None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
            "spec": {"serviceAccountName": sa, "automountServiceAccountToken": False,
                     "containers": [{"name": c, "image": "registry.invalid/app:1"}
                                    for c in containers]}}


def test_pods_missing_injection_are_counted(cp, google):
    gsa = google.create_sa("podcount")["email"]
    ns = cp.create_namespace("pods")
    # No controller-manager runs: create the ServiceAccount first, the
    # ServiceAccount admission plugin requires it.
    cp.kubectl("create", "serviceaccount", "worker", "-n", ns)
    cp.apply(_pod("plain", ns, "worker"))
    cp.apply(_pod("injected", ns, "worker", containers=("app", "gtoken")))
    cp.apply(_pod("opted-out", ns, "worker", annotations={"gtoken.io/inject": "false"}))
    cp.kubectl("create", "serviceaccount", "unrelated", "-n", ns)
    cp.apply(_pod("other-sa", ns, "unrelated"))
    with start_operator(cp, google, "--resync=3s") as op:
        cp.apply(binding("count", ns, "worker", gsa))
        b = wait_ready(cp, "count", ns, op=op)
        assert b["status"]["podsMissingInjection"] == 1
        evs = events_for(cp, "count", ns)
        assert any(e["reason"] == "PodsMissingInjection" and "plain" in e["message"]
                   for e in evs), evs

        # a second plain pod shows up at the next resync
        cp.apply(_pod("plain-2", ns, "worker"))
        eventually(lambda: cp.get("awsrolebinding", "count", ns)["status"]
                   ["podsMissingInjection"] == 2, 30, what="second pod counted")
        cp.kubectl("delete", "pod", "plain", "plain-2", "-n", ns, "--wait=false")
        # pods with no kubelet are removed at once (grace period ends without one)
        eventually(lambda: cp.get("awsrolebinding", "count", ns)["status"]
                   ["podsMissingInjection"] == 0, 60, what="count back to 0")


def test_events_follow_condition_changes(cp, google):
    ns = cp.create_namespace("events")
    email = "later-gsa@my-project.iam.gserviceaccount.com"
    with start_operator(cp, google, "--resync=5s") as op:
        cp.apply(binding("ev", ns, "app", email))
        wait_condition(cp, "ev", ns, "GcpServiceAccountNotFound", op=op)
        google.create_sa("later-gsa")
        wait_ready(cp, "ev", ns, timeout=60, op=op)
        evs = events_for(cp, "ev", ns)
        reasons = [(e["type"], e["reason"]) for e in evs]
        assert ("Warning", "GcpServiceAccountNotFound") in reasons, reasons
        assert ("Normal", "Ready") in reasons, reasons
        for e in evs:
            assert e["involvedObject"]["kind"] == "AwsRoleBinding"
            assert e["message"]
        # `kubectl describe` shows them too
        out = cp.kubectl("describe", "awsrolebinding", "ev", "-n", ns)
        assert "GcpServiceAccountNotFound" in out
