"""Two bindings on one ServiceAccount, and objects the apiserver must refuse."""

import concurrent.futures as cf
import json
import re

import pytest

from arbutil import (Api, ROLE, binding, condition, gtoken_annotations, is_ready, member,
                     start_operator, wait_condition, wait_gone, wait_ready, wi_members)
from cluster import KubectlError, eventually


def test_second_binding_on_a_service_account_conflicts_and_changes_nothing(cp, google):
    gsa1 = google.create_sa("owner-gsa")["email"]
    gsa2 = google.create_sa("intruder-gsa")["email"]
    ns = cp.create_namespace("conflict")
    with start_operator(cp, google) as op:
        cp.apply(binding("first", ns, "shared", gsa1))
        wait_ready(cp, "first", ns, op=op)
        sa_before = cp.get("serviceaccount", "shared", ns)
        policy_calls = google.count("iam.setIamPolicy")

        cp.apply(binding("second", ns, "shared", gsa2, role="arn:aws:iam::123456789012:role/x"))
        b = wait_condition(cp, "second", ns, "Conflict", op=op)
        ready = condition(b, "Ready")
        assert "first" in ready["message"] and "shared" in ready["message"]
        assert condition(b, "ServiceAccountReady")["reason"] == "Conflict"
        assert b["status"].get("appliedTargets", []) == []
        assert "awsTrustPolicy" not in b["status"]
        # nothing changed: ServiceAccount, Google
        sa = cp.get("serviceaccount", "shared", ns)
        assert sa["metadata"]["resourceVersion"] == sa_before["metadata"]["resourceVersion"]
        assert gtoken_annotations(sa)["gtoken.io/binding"] == "first"
        assert wi_members(google, gsa2) == []
        assert google.count("iam.setIamPolicy") == policy_calls
        assert is_ready(cp.get("awsrolebinding", "first", ns))
        out = cp.kubectl("get", "arb", "-n", ns, "-o", "wide")
        assert "Conflict" in out

        # The owner goes: the waiting binding takes the ServiceAccount over.
        cp.kubectl("delete", "awsrolebinding", "first", "-n", ns, "--wait=false")
        wait_gone(cp, "awsrolebinding", "first", ns, op=op)
        b = wait_ready(cp, "second", ns, op=op)
        sa = cp.get("serviceaccount", "shared", ns)
        assert gtoken_annotations(sa)["gtoken.io/binding"] == "second"
        assert gtoken_annotations(sa)["iam.gke.io/gcp-service-account"] == gsa2
        assert wi_members(google, gsa1) == []
        assert wi_members(google, gsa2) == [member(ns, "shared")]


def test_waiting_binding_takes_over_when_the_owner_moves_away(cp, google):
    gsa = google.create_sa("mover-gsa")["email"]
    ns = cp.create_namespace("handover")
    cp.apply({"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "shared", "namespace": ns, "annotations": {"mine": "1"}}})
    with start_operator(cp, google) as op:
        cp.apply(binding("owner", ns, "shared", gsa))
        wait_ready(cp, "owner", ns, op=op)
        cp.apply(binding("waiter", ns, "shared", gsa, role=ROLE.replace("uploader", "waiter")))
        wait_condition(cp, "waiter", ns, "Conflict", op=op)
        cp.apply(binding("owner", ns, "elsewhere", gsa))  # the owner moves to another KSA
        wait_ready(cp, "owner", ns, op=op)
        wait_ready(cp, "waiter", ns, timeout=30, op=op)
        ann = gtoken_annotations(cp.get("serviceaccount", "shared", ns))
        assert ann["gtoken.io/binding"] == "waiter"
        assert ann["amazonaws.com/role-arn"] == ROLE.replace("uploader", "waiter")
        assert cp.get("serviceaccount", "shared", ns)["metadata"]["annotations"]["mine"] == "1"
        assert wi_members(google, gsa) == sorted([member(ns, "shared"), member(ns, "elsewhere")])


def test_conflicting_binding_with_the_same_gsa_leaves_the_member_alone(cp, google):
    gsa = google.create_sa("same-gsa")["email"]
    ns = cp.create_namespace("samegsa")
    with start_operator(cp, google) as op:
        cp.apply(binding("owner", ns, "app", gsa))
        wait_ready(cp, "owner", ns, op=op)
        cp.apply(binding("copy", ns, "app", gsa))
        wait_condition(cp, "copy", ns, "Conflict", op=op)
        cp.kubectl("delete", "awsrolebinding", "copy", "-n", ns)
        wait_gone(cp, "awsrolebinding", "copy", ns, op=op)
        assert wi_members(google, gsa) == [member(ns, "app")]
        assert gtoken_annotations(cp.get("serviceaccount", "app", ns))["gtoken.io/binding"] == \
            "owner"
        assert is_ready(cp.get("awsrolebinding", "owner", ns))


def test_bindings_created_at_once_agree_on_one_owner(cp, google):
    """Pairs of bindings created concurrently on one ServiceAccount each: exactly
    one per pair wins, and the loser leaves no trace (no member on its GSA)."""
    pairs = 12
    gsa_a = google.create_sa("pair-a-gsa")["email"]
    gsa_b = google.create_sa("pair-b-gsa")["email"]
    ns = cp.create_namespace("race")
    api = Api(cp)
    with start_operator(cp, google, "--workers=8") as op:
        objs = []
        for i in range(pairs):
            objs.append(binding(f"a-{i}", ns, f"ksa-{i}", gsa_a))
            objs.append(binding(f"b-{i}", ns, f"ksa-{i}", gsa_b))
        with cf.ThreadPoolExecutor(16) as pool:
            list(pool.map(api.create_binding, objs))

        def settled():
            items = {b["metadata"]["name"]: b for b in api.bindings(ns)}
            for i in range(pairs):
                a, b = items[f"a-{i}"], items[f"b-{i}"]
                states = sorted([condition(a, "Ready") and condition(a, "Ready")["reason"],
                                 condition(b, "Ready") and condition(b, "Ready")["reason"]])
                if states != ["Conflict", "Ready"]:
                    return None
            return items
        items = eventually(settled, 90, interval=1, what="one owner per pair")
        members_a = wi_members(google, gsa_a)
        members_b = wi_members(google, gsa_b)
        for i in range(pairs):
            winner = "a" if is_ready(items[f"a-{i}"]) else "b"
            sa = api.service_account(ns, f"ksa-{i}")
            assert gtoken_annotations(sa)["gtoken.io/binding"] == f"{winner}-{i}"
            m = member(ns, f"ksa-{i}")
            assert (m in members_a) == (winner == "a"), (i, winner, members_a)
            assert (m in members_b) == (winner == "b"), (i, winner, members_b)
        assert len(members_a) == len(set(members_a))
        assert len(members_b) == len(set(members_b))


# -- validation by the apiserver (no operator needed) ----------------------------------

GSA = "uploader@my-project.iam.gserviceaccount.com"


def _apply_error(cp, obj) -> str:
    with pytest.raises(KubectlError) as e:
        cp.apply(obj)
    return str(e.value)


@pytest.mark.parametrize("spec,expect", [
    ({"awsRoleArn": "arn:aws:iam::1234:role/x"},
     "spec.awsRoleArn: Invalid value: \"arn:aws:iam::1234:role/x\": must be an AWS IAM role ARN "
     "of the form arn:aws:iam::ACCOUNT_ID:role/NAME with a 12-digit account id"),
    ({"awsRoleArn": "arn:aws:s3:::my-bucket"}, "must be an AWS IAM role ARN"),
    ({"awsRoleArn": "arn:aws:iam::123456789012:user/bob"}, "must be an AWS IAM role ARN"),
    ({"gcpServiceAccount": "uploader@my-project.iam.example.com"},
     "spec.gcpServiceAccount: Invalid value: \"uploader@my-project.iam.example.com\": must be a "
     "Google service account email of the form NAME@PROJECT.iam.gserviceaccount.com"),
    ({"gcpServiceAccount": "Uploader@my-project.iam.gserviceaccount.com"},
     "must be a Google service account email"),
    ({"gcpServiceAccount": "abc@my-project.iam.gserviceaccount.com"},
     "6 to 30"),
    ({"serviceAccountName": "Bad_Name"},
     "spec.serviceAccountName: Invalid value: \"Bad_Name\": must be a ServiceAccount name"),
    ({"region": "mars-1"}, "spec.region: Invalid value: \"mars-1\": must be an AWS region name"),
    ({"audience": ""}, "spec.audience"),
    ({"containers": ["app", "app"]}, "spec.containers[1]: Duplicate value: \"app\""),
])
def test_invalid_binding_is_rejected_with_a_readable_message(cp, spec, expect):
    ns = "default"
    obj = binding("bad", ns, "app", GSA, **spec)
    msg = _apply_error(cp, obj)
    if cp.server_version() < (1, 35):
        # Before 1.35 (kubernetes/kubernetes#132798) a failed CEL rule
        # names the field's type, not its value: Invalid value: "string".
        expect = re.sub(r'Invalid value: "[^"]*"', 'Invalid value: "string"', expect)
    assert 'The AwsRoleBinding "bad" is invalid' in msg, msg
    assert expect in msg, msg
    assert cp.get("awsrolebinding", "bad", ns) is None


@pytest.mark.parametrize("field", ["serviceAccountName", "gcpServiceAccount", "awsRoleArn"])
def test_missing_field_is_rejected(cp, field):
    obj = binding("missing", "default", "app", GSA)
    del obj["spec"][field]
    msg = _apply_error(cp, obj)
    if field == "gcpServiceAccount":
        # Required with the Google token source only (a CEL rule on spec).
        assert "gcpServiceAccount is required with tokenSource Google (the default)" in msg, msg
    else:
        assert f"spec.{field}: Required value" in msg, msg


def test_missing_spec_and_wrong_types_are_rejected(cp):
    obj = binding("nospec", "default", "app", GSA)
    del obj["spec"]
    assert "spec: Required value" in _apply_error(cp, obj)
    obj = binding("wrongtype", "default", "app", GSA, containers="app")
    msg = _apply_error(cp, obj)
    assert "spec.containers" in msg and "must be of type array" in msg, msg


@pytest.mark.parametrize("role,gsa", [
    ("arn:aws:iam::123456789012:role/path/to/my-role_1+=,.@-", GSA),
    ("arn:aws-cn:iam::123456789012:role/x", GSA),
    ("arn:aws-us-gov:iam::123456789012:role/x", GSA),
    (ROLE, "a-30-characters-long-name-1234@my-project.iam.gserviceaccount.com"),
    (ROLE, "app-sa@example.com:my-project.iam.gserviceaccount.com"),
])
def test_valid_variants_are_accepted(cp, role, gsa):
    cp.apply(binding("good", "default", "app", gsa, role=role))
    cp.kubectl("delete", "awsrolebinding", "good", "-n", "default")


def test_dry_run_server_shows_the_message_without_creating(cp):
    obj = binding("dry", "default", "app", GSA, role="not-an-arn")
    with pytest.raises(KubectlError) as e:
        cp.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(obj))
    assert "must be an AWS IAM role ARN" in str(e.value)
