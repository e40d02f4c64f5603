"""Tenancy against a real kube-apiserver and the IAM stand-in: deny by
default, AwsRoleBindingPolicy decides which namespace may bind which GSA,
role and audience; refused bindings never reach Google; a binding that stops
being allowed is unwound and comes back when allowed again; ServiceAccounts
annotated by someone else are never overwritten."""

import json

import pytest

from arbutil import (ALLOW_ALL, PROJECT, ROLE, binding, condition, events_for,
                     gtoken_annotations, member, policy, start_operator, wait_condition,
                     wait_gone, wait_ready, wi_members)
from cluster import eventually, free_port

ACCOUNT = ROLE.split(":")[4]
IAM_WRITES = ("iam.setIamPolicy",)


@pytest.fixture
def no_open_policy(cp):
    """This file decides its own policies: the suite-wide open one goes."""
    cp.kubectl("delete", "awsrolebindingpolicy", ALLOW_ALL["metadata"]["name"],
               "--ignore-not-found")
    yield
    for p in json.loads(cp.kubectl("get", "awsrolebindingpolicies", "-o", "json"))["items"]:
        cp.kubectl("delete", "awsrolebindingpolicy", p["metadata"]["name"], "--ignore-not-found")
    cp.apply(ALLOW_ALL)


def iam_calls_for(google, seq: int, gsa: str) -> list[dict]:
    return [c for c in google.calls(since=seq) if gsa in (c.get("path") or "")]


def test_unallowed_namespace_never_reaches_google(cp, google, no_open_policy):
    gsa = google.create_sa("uploader")["email"]
    jobs = cp.create_namespace("jobs")
    evil = cp.create_namespace("evil")
    cp.apply(policy("jobs-only", {"names": [jobs]}, [f"*@{PROJECT}.iam.gserviceaccount.com"],
                    [ACCOUNT]))
    seq = google.counters()["last_seq"]
    with start_operator(cp, google) as op:
        cp.apply(binding("thief", evil, "thief", gsa))
        b = wait_condition(cp, "thief", evil, "NotAllowed", op=op)
        msg = condition(b, "Ready")["message"]
        assert f'namespace "{evil}"' in msg, msg
        for t in ("ServiceAccountReady", "WorkloadIdentityReady"):
            assert condition(b, t)["reason"] == "NotAllowed"
        assert "awsTrustPolicy" not in b["status"] and "workloadIdentityMember" not in b["status"]
        assert b["status"].get("appliedTargets", []) == []
        evs = events_for(cp, "thief", evil)
        assert any(e["reason"] == "NotAllowed" and e["type"] == "Warning" for e in evs), evs
        # nothing on the ServiceAccount (not even created) ...
        assert cp.get("serviceaccount", "thief", evil) is None
        # ... and not one request about that GSA to Google: the stand-in's log
        assert iam_calls_for(google, seq, gsa) == []
        assert wi_members(google, gsa) == []

        # the allowed namespace works as before
        cp.apply(binding("uploader", jobs, "orchestrator", gsa))
        wait_ready(cp, "uploader", jobs, op=op)
        assert wi_members(google, gsa) == [member(jobs, "orchestrator")]
        # and the refused binding still has not touched Google
        assert not any(member(evil, "thief") in json.dumps(c) for c in google.calls(since=seq))

        # deleting a refused binding goes through (finalizer released, nothing to undo)
        cp.kubectl("delete", "awsrolebinding", "thief", "-n", evil, "--wait=false")
        wait_gone(cp, "awsrolebinding", "thief", evil, op=op)


def test_each_field_is_named_when_refused(cp, google, no_open_policy):
    gsa = google.create_sa("reader")["email"]
    ns = cp.create_namespace("fields")
    cp.apply(policy("narrow", {"names": [ns]}, [gsa], [ROLE], ["aud-ok"]))
    with start_operator(cp, google) as op:
        other_gsa = google.create_sa("writer")["email"]
        cp.apply(binding("g", ns, "g", other_gsa, audience="aud-ok"))
        cp.apply(binding("r", ns, "r", gsa, role=f"arn:aws:iam::{ACCOUNT}:role/other", audience="aud-ok"))
        cp.apply(binding("a", ns, "a", gsa, audience="aud-bad"))
        cp.apply(binding("ok", ns, "ok", gsa, audience="aud-ok"))
        assert other_gsa in condition(wait_condition(cp, "g", ns, "NotAllowed", op=op), "Ready")["message"]
        assert "role/other" in condition(wait_condition(cp, "r", ns, "NotAllowed", op=op), "Ready")["message"]
        assert '"aud-bad"' in condition(wait_condition(cp, "a", ns, "NotAllowed", op=op), "Ready")["message"]
        wait_ready(cp, "ok", ns, op=op)


def test_policy_change_unwinds_and_restores(cp, google, no_open_policy):
    gsa = google.create_sa("mover-sa")["email"]
    ns = cp.create_namespace("unwind")
    allow = policy("unwind", {"names": [ns]}, [gsa], [ROLE])
    cp.apply(allow)
    with start_operator(cp, google, "--resync=1h") as op:
        cp.apply(binding("b", ns, "app", gsa))
        wait_ready(cp, "b", ns, op=op)
        assert wi_members(google, gsa) == [member(ns, "app")]
        assert cp.get("serviceaccount", "app", ns) is not None

        # the policy goes: unwound as on delete, with no resync (an hour away)
        cp.kubectl("delete", "awsrolebindingpolicy", "unwind")
        b = wait_condition(cp, "b", ns, "NotAllowed", timeout=30, op=op)
        eventually(lambda: wi_members(google, gsa) == [], 30, what="member removed")
        wait_gone(cp, "serviceaccount", "app", ns, op=op)  # gtoken had created it
        assert "gtoken.io/cleanup" in b["metadata"]["finalizers"]
        assert b["status"]["appliedTargets"] == []

        # allowed again: back by itself
        cp.apply(allow)
        wait_ready(cp, "b", ns, timeout=30, op=op)
        assert wi_members(google, gsa) == [member(ns, "app")]

        # a selector policy and a relabelled namespace
        cp.kubectl("delete", "awsrolebindingpolicy", "unwind")
        wait_condition(cp, "b", ns, "NotAllowed", timeout=30, op=op)
        cp.apply(policy("by-label", {"selector": {"matchLabels": {"team": "data"}}}, [gsa], [ROLE]))
        cp.kubectl("label", "namespace", ns, "team=data")
        wait_ready(cp, "b", ns, timeout=30, op=op)
        cp.kubectl("label", "namespace", ns, "team=web", "--overwrite")
        wait_condition(cp, "b", ns, "NotAllowed", timeout=30, op=op)
        eventually(lambda: wi_members(google, gsa) == [], 30, what="member removed again")


def test_operator_gsa_and_foreign_projects_are_refused(cp, google, no_open_policy):
    ns = cp.create_namespace("hard")
    cp.apply(policy("wide", {"selector": {}}, ["*"], ["*"], ["*"]))
    operator_gsa = f"gtoken-operator@{PROJECT}.iam.gserviceaccount.com"
    seq = google.counters()["last_seq"]
    with start_operator(cp, google) as op:
        cp.apply(binding("own", ns, "own", operator_gsa))
        msg = condition(wait_condition(cp, "own", ns, "NotAllowed", op=op), "Ready")["message"]
        assert "operator's own" in msg, msg
        cp.apply(binding("far", ns, "far", "uploader@other-project.iam.gserviceaccount.com"))
        msg = condition(wait_condition(cp, "far", ns, "NotAllowed", op=op), "Ready")["message"]
        assert "*@other-project.iam.gserviceaccount.com" in msg, msg
        assert iam_calls_for(google, seq, operator_gsa) == []
        assert iam_calls_for(google, seq, "other-project") == []


def test_exclusive_gsa_is_held_by_one_namespace(cp, google, no_open_policy):
    gsa = google.create_sa("solo-account")["email"]
    first = cp.create_namespace("first")
    second = cp.create_namespace("second")
    cp.apply(policy("solo", {"names": [first, second]}, [gsa], [ROLE], exclusive=True))
    with start_operator(cp, google) as op:
        cp.apply(binding("a", first, "app", gsa))
        wait_ready(cp, "a", first, op=op)
        cp.apply(binding("b", second, "app", gsa))
        msg = condition(wait_condition(cp, "b", second, "NotAllowed", op=op), "Ready")["message"]
        assert f"{first}/a" in msg, msg
        assert wi_members(google, gsa) == [member(first, "app")]
        # the holder goes: the other namespace gets it
        cp.kubectl("delete", "awsrolebinding", "a", "-n", first)
        wait_ready(cp, "b", second, timeout=30, op=op)
        assert wi_members(google, gsa) == [member(second, "app")]


def test_foreign_annotations_are_never_overwritten(cp, google):
    gsa = google.create_sa("claimer")["email"]
    ns = cp.create_namespace("foreign")
    theirs = f"someone-else@{PROJECT}.iam.gserviceaccount.com"
    cp.apply({"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "taken", "namespace": ns,
                           "annotations": {"iam.gke.io/gcp-service-account": theirs}}})
    # hand-annotated with the very values a binding wants: adopted, left as found
    cp.apply({"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "seeded", "namespace": ns,
                           "annotations": {"iam.gke.io/gcp-service-account": gsa,
                                           "amazonaws.com/role-arn": ROLE}}})
    with start_operator(cp, google) as op:
        cp.apply(binding("t", ns, "taken", gsa))
        msg = condition(wait_condition(cp, "t", ns, "Conflict", op=op), "Ready")["message"]
        assert theirs in msg, msg
        sa = cp.get("serviceaccount", "taken", ns)
        assert gtoken_annotations(sa) == {"iam.gke.io/gcp-service-account": theirs}
        assert wi_members(google, gsa) == []

        cp.apply(binding("s", ns, "seeded", gsa))
        b = wait_ready(cp, "s", ns, op=op)
        assert sorted(b["status"]["appliedTargets"][0]["preexistingAnnotations"]) == [
            "amazonaws.com/role-arn", "iam.gke.io/gcp-service-account"]
        cp.kubectl("delete", "awsrolebinding", "s", "-n", ns)
        wait_gone(cp, "awsrolebinding", "s", ns, op=op)
        sa = cp.get("serviceaccount", "seeded", ns)
        # gtoken's own keys went; the hand-set ones stay as found
        assert gtoken_annotations(sa) == {"iam.gke.io/gcp-service-account": gsa,
                                          "amazonaws.com/role-arn": ROLE}
        assert wi_members(google, gsa) == []


def test_forbidden_binding_is_refused_at_apply(cp, google, no_open_policy):
    """The validating webhook answers `kubectl apply` with the controller's
    NotAllowed message; an allowed binding goes through."""
    import os

    from cluster import REPO, KubectlError
    gsa = google.create_sa("admitted")["email"]
    ok_ns = cp.create_namespace("admit")
    bad_ns = cp.create_namespace("intruder")
    cp.apply(policy("admit", {"names": [ok_ns]}, [gsa], [ROLE]))
    if cp.get("namespace", "gtoken-system") is None:
        cp.kubectl("create", "namespace", "gtoken-system")
    port = free_port()
    # Both configurations as installed, switched to URL mode for this
    # loopback apiserver (the operator keeps both caBundles).
    for kind, path in (("mutatingwebhookconfiguration", "mutate"),
                       ("validatingwebhookconfiguration", "validate")):
        cp.kubectl("apply", "-f", os.path.join(REPO, "config", "webhook", f"{kind}.yaml"))
        cp.kubectl("patch", kind, "gtoken-webhook", "--type=json", "-p",
                   json.dumps([{"op": "replace", "path": "/webhooks/0/clientConfig",
                                "value": {"url": f"https://127.0.0.1:{port}/{path}"}}]))
    args = ["--leader-elect=false", "--namespace", "gtoken-system", "--webhook-port", str(port),
            "--webhook-bind-address", "127.0.0.1", "--webhook-extra-ip", "127.0.0.1",
            "--metrics-port=0", "--log-level=debug"]
    try:
        with start_operator(cp, google, args=args) as op:
            eventually(lambda: cp.get("validatingwebhookconfiguration", "gtoken-webhook")
                       ["webhooks"][0]["clientConfig"].get("caBundle"), 60,
                       what="caBundle of the validating configuration\n" + op.logs()[-2000:])

            def refused():
                try:
                    cp.apply(binding("thief", bad_ns, "thief", gsa))
                except KubectlError as e:
                    return str(e) if "NotAllowed" in str(e) else None
                # admitted: the webhook was not serving yet (failurePolicy Ignore)
                cp.kubectl("delete", "awsrolebinding", "thief", "-n", bad_ns, "--wait=false")
                return None
            err = eventually(refused, 60, interval=1, what="admission refusal\n" + op.logs()[-2000:])
            assert f'no AwsRoleBindingPolicy allows namespace "{bad_ns}"' in err, err
            # the allowed one is admitted and becomes Ready
            cp.apply(binding("ok", ok_ns, "app", gsa))
            wait_ready(cp, "ok", ok_ns, op=op)
            # status writes and deletes are never refused: the controller cleans up
            cp.kubectl("delete", "awsrolebinding", "ok", "-n", ok_ns)
            wait_gone(cp, "awsrolebinding", "ok", ok_ns, op=op)
            # an update into a forbidden shape is refused too
            cp.apply(binding("ok2", ok_ns, "app2", gsa))
            with pytest.raises(KubectlError, match="NotAllowed"):
                cp.apply(binding("ok2", ok_ns, "app2", gsa, role=f"arn:aws:iam::{ACCOUNT}:role/x"))
    finally:
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            cp.kubectl("delete", kind, "gtoken-webhook", "--ignore-not-found")
