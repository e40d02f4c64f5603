"""The controller's AWS side against the STS + IAM stand-ins: verify (the
TrustPolicyVerified condition from the role's stored trust policy, evaluated
as STS does), with the operator's own AWS credentials from its chain (its
GSA's ID token from the metadata stand-in, AssumeRoleWithWebIdentity into an
administrator role, then SigV4-signed IAM calls). The workload's own
AssumeRoleWithWebIdentity through boto3 agrees with the condition every
time: the stand-in's STS evaluates the same stored policy."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from arbutil import (PROJECT, binding, condition, events_for, kubernetes_binding, policy,
                     start_operator, wait_condition, wait_gone)
from cluster import eventually
from standins.harness import (StsStandin, google_trust_policy, iam_admin_policy,
                              oidc_trust_policy)

ACCOUNT = "123456789012"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/gtoken-admin"
APP = f"arn:aws:iam::{ACCOUNT}:role/gtoken/app"
OPERATOR_AUD = "gtoken-operator/aws"
AUD = "gtoken/sts/assume-role-with-web-identity"
FAST = "--resync=3s"
# Someone else's statement in the app role: not about any web identity.
FOREIGN = ('{"Sid":"Ops","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::'
           + ACCOUNT + ':root"},"Action":"sts:AssumeRole"}')

ADMIN_POLICY = iam_admin_policy(ACCOUNT)


@pytest.fixture
def aws(google):
    """STS + IAM; the administrator role trusts the operator's GSA (the
    metadata stand-in's instance account) for OPERATOR_AUD."""
    s = StsStandin(jwks_url=google.jwks_url, account_id=ACCOUNT, iam=True).start()
    try:
        op_gsa = google.sa(f"gtoken-operator@{PROJECT}.iam.gserviceaccount.com")
        s.add_role(ADMIN, google_trust_policy(op_gsa["uniqueId"], oaud=OPERATOR_AUD))
        s.iam.allow(ADMIN, ADMIN_POLICY)
        yield s
    finally:
        s.stop()


def aws_args(sts, *extra: str) -> list[str]:
    return [FAST, "--aws-credentials=gke", f"--aws-role-arn={ADMIN}",
            f"--aws-audience={OPERATOR_AUD}", f"--aws-sts-endpoint={sts.url}",
            f"--aws-iam-endpoint={sts.iam.url}", *extra]


def set_trust(sts, arn: str, document: str):
    """The role's trust policy as a person writes it: the text kept as given."""
    sts.add_role(arn, document)


def document(*statements: str) -> str:
    """A trust policy text laid out as a person might write it."""
    return '{ "Version" : "2012-10-17",\n  "Statement" : [ ' + " ,\n  ".join(statements) + " ] }"


def workload_can_assume(google, sts, role: str, gsa: str, audience: str = AUD) -> bool:
    """The workload's own call, as its SDK makes it with the token gtoken's
    agent would write: a Google ID token of its GSA for `audience`."""
    c = boto3.client("sts", endpoint_url=sts.url, region_name="us-east-1",
                     aws_access_key_id="x", aws_secret_access_key="y")
    try:
        c.assume_role_with_web_identity(RoleArn=role, RoleSessionName="app",
                                        WebIdentityToken=google.id_token(gsa, audience))
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response
        return False


def trust(b: dict | None) -> dict | None:
    return condition(b, "TrustPolicyVerified")


def wait_trust(cp, name, ns, reason, status="False", op=None, timeout=60):
    return wait_condition(cp, name, ns, reason, status=status, ctype="TrustPolicyVerified",
                          op=op, timeout=timeout)


# -- verify ------------------------------------------------------------------------


def test_verify_follows_the_roles_stored_policy(cp, google, aws):
    """Verify only: each reason as the role changes under the binding, Ready
    following it, the workload's own STS call agreeing every time, and drift
    made by hand reported as an Event."""
    sts = aws
    ns = cp.create_namespace("verify")
    gsa = google.create_sa("uploader")
    email = gsa["email"]
    uid = gsa["uniqueId"]
    set_trust(sts, APP, document(FOREIGN))
    with start_operator(cp, google, *aws_args(sts)) as op:
        cp.apply(binding("b", ns, "app", email, role=APP))
        b = wait_trust(cp, "b", ns, "TrustPolicyMissing", op=op)
        assert condition(b, "Ready")["status"] == "False"
        assert condition(b, "Ready")["reason"] == "TrustPolicyMissing"
        assert not workload_can_assume(google, sts, APP, email)

        # the status's own trust policy, pasted by a person: verified
        pasted = b["status"]["awsTrustPolicy"]
        set_trust(sts, APP, pasted)
        b = wait_trust(cp, "b", ns, "Verified", status="True", op=op)
        assert is_ready_now(b)
        assert workload_can_assume(google, sts, APP, email)
        header, row = cp.kubectl("get", "awsrolebinding", "b", "-n", ns).splitlines()
        assert header.split()[-2:] == ["TRUST", "AGE"], header
        assert row.split()[-2] == "Verified", row

        # a typo in the audience made later: noticed at resync, named, an Event
        set_trust(sts, APP, pasted.replace(AUD, AUD + "x"))
        b = wait_trust(cp, "b", ns, "TrustPolicyMismatch", op=op)
        msg = trust(b)["message"]
        assert "oaud" in msg and AUD in msg, msg
        assert condition(b, "Ready")["status"] == "False"
        assert not workload_can_assume(google, sts, APP, email)
        eventually(lambda: any(e.get("reason") == "TrustPolicyDrift"
                               for e in events_for(cp, "b", ns)), 30,
                   what="a TrustPolicyDrift Event")

        # an explicit Deny beside the right Allow wins, as at STS
        deny = json.loads(pasted)
        allow = deny["Statement"][0]
        deny["Statement"].append(dict(allow, Effect="Deny", Sid="NoUploader"))
        set_trust(sts, APP, json.dumps(deny))
        # (the reason stays TrustPolicyMismatch: wait for the message to name the Deny)
        b = eventually(lambda: (lambda b: b if trust(b) and "NoUploader" in trust(b)["message"]
                                else None)(cp.get("awsrolebinding", "b", ns)), 60,
                       what="the Deny named")
        assert trust(b)["reason"] == "TrustPolicyMismatch"
        assert not workload_can_assume(google, sts, APP, email)

        # the role deleted under the binding
        sts.admin("DELETE", f"/roles?arn={APP}")
        b = wait_trust(cp, "b", ns, "RoleNotFound", op=op)
        assert condition(b, "Ready")["status"] == "False"
        assert stored_uid(b) == uid


def stored_uid(b: dict) -> str:
    return b["status"].get("gcpServiceAccountUniqueId", "")


def is_ready_now(b: dict) -> bool:
    c = condition(b, "Ready")
    return bool(c and c["status"] == "True")


def test_unverified_without_credentials_and_access_denied_without_permission(cp, google, aws):
    sts = aws
    ns = cp.create_namespace("unverified")
    email = google.create_sa("reader")["email"]
    set_trust(sts, APP, document(FOREIGN))
    # no AWS flags at all: nothing to verify with, Ready as before
    with start_operator(cp, google, FAST) as op:
        cp.apply(binding("b", ns, "app", email, role=APP))
        b = wait_trust(cp, "b", ns, "Unverified", status="Unknown", op=op)
        assert is_ready_now(b)
    assert sts.iam.calls() == []
    # credentials, but the administrator role may not read this role
    sts.iam.allow(ADMIN, [s for s in ADMIN_POLICY if s["Action"] != "iam:GetRole"])
    with start_operator(cp, google, *aws_args(sts)) as op:
        b = wait_trust(cp, "b", ns, "AccessDenied", status="Unknown", op=op)
        assert "iam:GetRole" in trust(b)["message"]
        assert is_ready_now(b)


def test_verify_rides_out_iam_faults_and_an_expired_session(cp, google, aws):
    """IAM 5xx and throttling storms end in Verified once IAM answers again
    (IamError meanwhile, Ready untouched); the operator's AWS session
    expiring mid-run is replaced by a new one from its chain; nothing
    secret reaches the log."""
    sts = aws
    ns = cp.create_namespace("faults")
    gsa = google.create_sa("stormy")
    set_trust(sts, APP, json.dumps(google_trust_policy(gsa["uniqueId"], oaud=AUD)))
    assert workload_can_assume(google, sts, APP, gsa["email"])
    sts.iam.fault("/", status=503, count=4)
    sts.iam.fault("/", status=400, count=4, code="Throttling")
    with start_operator(cp, google, *aws_args(sts)) as op:
        cp.apply(binding("b", ns, "app", gsa["email"], role=APP))
        wait_trust(cp, "b", ns, "Verified", status="True", op=op, timeout=120)
        # every injected failure was answered to the operator, and it kept asking
        statuses = [c["status"] for c in sts.iam.calls()]
        assert statuses.count(503) == 4 and statuses.count(400) == 4, statuses
        assert statuses[-1] == 200, statuses

        # the session expires; the next GetRole is refused as ExpiredToken,
        # the operator fetches a new session and reads again
        before = len(sts.sessions())
        assert before >= 1
        sts.expire_sessions()
        set_trust(sts, APP, document(FOREIGN))  # someone removes the statement
        b = wait_trust(cp, "b", ns, "TrustPolicyMissing", op=op)
        assert condition(b, "Ready")["reason"] == "TrustPolicyMissing"
        assert len(sts.sessions()) > before
        assert any(not s["expired"] for s in sts.sessions())
        logs = op.logs()
        assert "eyJ" not in logs  # no token (a JWT) in any log line
        assert "SecretAccessKey" not in logs and "SessionToken" not in logs


def test_verify_a_kubernetes_source_binding(cp, google, aws):
    """tokenSource: Kubernetes: the role is judged for the cluster's OIDC
    provider and the ServiceAccount's subject."""
    sts = aws
    ns = cp.create_namespace("kverify")
    issuer = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer[len('https://'):]}"
    set_trust(sts, APP, json.dumps(oidc_trust_policy(
        provider, f"system:serviceaccount:{ns}:someone-else", aud="sts.amazonaws.com")))
    with start_operator(cp, google, *aws_args(sts, f"--oidc-issuer={issuer}")) as op:
        cp.apply(kubernetes_binding("k", ns, "reports", role=APP))
        b = wait_trust(cp, "k", ns, "TrustPolicyMismatch", op=op)
        assert f"system:serviceaccount:{ns}:reports" in trust(b)["message"], trust(b)
        assert condition(b, "Ready")["status"] == "False"
        set_trust(sts, APP, b["status"]["awsTrustPolicy"])
        b = wait_trust(cp, "k", ns, "Verified", status="True", op=op)
        assert condition(b, "Ready")["status"] == "True"
        # another cluster's provider admits nothing of this one
        other = provider.replace("clusters/c", "clusters/d")
        set_trust(sts, APP, json.dumps(oidc_trust_policy(
            other, f"system:serviceaccount:{ns}:reports", aud="sts.amazonaws.com")))
        wait_trust(cp, "k", ns, "TrustPolicyMissing", op=op)


# -- apply -------------------------------------------------------------------------


def stored_policy(sts, arn: str) -> str:
    """The role's trust policy text as IAM holds it."""
    for r in sts.admin("GET", "/roles")["roles"]:
        if r["arn"] == arn:
            return r["trust_policy_text"]
    raise AssertionError(f"no role {arn}")


def apply_policy(name: str, ns: str, roles: list[str]) -> dict:
    """A policy letting namespace `ns` bind any test GSA to `roles` and
    letting gtoken write those roles' trust policies."""
    p = policy(name, {"names": [ns]}, [f"*@{PROJECT}.iam.gserviceaccount.com"], roles, ["*"],
               token_sources=["Google", "Kubernetes"])
    p["spec"]["trustPolicy"] = "Apply"
    return p


def gtoken_sids(text: str) -> list[str]:
    return [s["Sid"] for s in json.loads(text)["Statement"]
            if s.get("Sid", "").startswith("GtokenManaged")]


def test_apply_merges_gtokens_statement_and_removes_it_with_the_last_binding(cp, google, aws):
    """Apply: one write makes the workload's SDK call work, every other
    statement kept byte for byte; a binding no Apply policy names and a role
    outside --aws-iam-role-path are never written; the last binding's delete
    takes gtoken's statement with it."""
    sts = aws
    ns = cp.create_namespace("apply")
    other_ns = cp.create_namespace("verifyonly")
    outside = f"arn:aws:iam::{ACCOUNT}:role/team/outside"
    cp.apply(apply_policy(f"apply-{ns}", ns, [APP, outside]))
    a = google.create_sa("writer-a")
    c = google.create_sa("writer-c")
    stranger = google.create_sa("stranger")
    before = document(FOREIGN)
    set_trust(sts, APP, before)
    set_trust(sts, outside, before)
    sts.iam.allow(ADMIN, ADMIN_POLICY + [{"Effect": "Allow", "Action": "iam:UpdateAssumeRolePolicy",
                                          "Resource": outside}])
    with start_operator(cp, google, *aws_args(sts, "--aws-trust-policy=apply",
                                              "--aws-iam-role-path=/gtoken/")) as op:
        assert not workload_can_assume(google, sts, APP, a["email"])
        cp.apply(binding("a", ns, "app", a["email"], role=APP))
        cp.apply(binding("c", ns, "other", c["email"], role=APP))
        wait_trust(cp, "a", ns, "Verified", status="True", op=op)
        wait_trust(cp, "c", ns, "Verified", status="True", op=op)
        after = stored_policy(sts, APP)
        assert FOREIGN in after, after  # byte for byte
        assert len(gtoken_sids(after)) == 1, after  # one statement for the provider and audience
        assert workload_can_assume(google, sts, APP, a["email"])
        assert workload_can_assume(google, sts, APP, c["email"])

        # a binding in a namespace no Apply policy names: verified, never written
        cp.apply(binding("s", other_ns, "app", stranger["email"], role=APP))
        b = wait_trust(cp, "s", other_ns, "TrustPolicyMismatch", op=op)
        assert "trustPolicy: Apply" in trust(b)["message"], trust(b)
        assert stranger["uniqueId"] not in stored_policy(sts, APP)
        assert not workload_can_assume(google, sts, APP, stranger["email"])

        # a role outside the IAM path the operator may write: left as it was
        cp.apply(binding("o", ns, "outside", a["email"], role=outside))
        b = wait_trust(cp, "o", ns, "TrustPolicyMissing", op=op)
        assert "/gtoken/" in trust(b)["message"], trust(b)
        assert stored_policy(sts, outside) == before

        # the last bindings of the role go: only gtoken's statement goes with them
        cp.kubectl("delete", "awsrolebinding", "a", "-n", ns)
        wait_gone(cp, "awsrolebinding", "a", ns, op=op)
        assert not workload_can_assume(google, sts, APP, a["email"])
        assert workload_can_assume(google, sts, APP, c["email"])
        cp.kubectl("delete", "awsrolebinding", "c", "-n", ns)
        wait_gone(cp, "awsrolebinding", "c", ns, op=op)
        final = stored_policy(sts, APP)
        assert FOREIGN in final, final
        assert not workload_can_assume(google, sts, APP, c["email"])
        assert a["uniqueId"] not in final and c["uniqueId"] not in final, final


def test_apply_survives_iam_faults_and_a_foreign_edit(cp, google, aws):
    """5xx and throttling storms, a foreign edit between gtoken's read and its
    write: the statement ends written once, the foreign edit kept, nothing
    duplicated."""
    sts = aws
    ns = cp.create_namespace("applyfaults")
    cp.apply(apply_policy(f"apply-{ns}", ns, [APP]))
    gsa = google.create_sa("stormy")
    set_trust(sts, APP, document(FOREIGN))
    sts.iam.fault("/", status=503, count=3)
    sts.iam.fault("/", status=400, count=3, code="Throttling")
    late = {"Sid": "LateEdit", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:TagSession"}
    sts.iam.foreign_edit("app", add_statement=late)
    with start_operator(cp, google, *aws_args(sts, "--aws-trust-policy=apply")) as op:
        cp.apply(binding("b", ns, "app", gsa["email"], role=APP))
        wait_trust(cp, "b", ns, "Verified", status="True", op=op, timeout=120)
        text = stored_policy(sts, APP)
        sids = [s.get("Sid") for s in json.loads(text)["Statement"]]
        assert "Ops" in sids and "LateEdit" in sids, sids
        assert len(gtoken_sids(text)) == 1, sids
        assert workload_can_assume(google, sts, APP, gsa["email"])


def test_apply_for_a_kubernetes_source_binding_ensures_the_oidc_provider(cp, google, aws):
    """tokenSource: Kubernetes with apply: the cluster's IAM OIDC provider is
    created with the binding's audience as client id (and never removed),
    the statement for the ServiceAccount's subject written."""
    sts = aws
    ns = cp.create_namespace("kapply")
    cp.apply(apply_policy(f"apply-{ns}", ns, [APP]))
    issuer = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer[len('https://'):]}"
    set_trust(sts, APP, document(FOREIGN))
    assert not any(p["arn"] == provider for p in sts.oidc_providers())
    with start_operator(cp, google, *aws_args(sts, "--aws-trust-policy=apply",
                                              f"--oidc-issuer={issuer}")) as op:
        cp.apply(kubernetes_binding("k", ns, "reports", role=APP))
        wait_trust(cp, "k", ns, "Verified", status="True", op=op)
        made = [p for p in sts.oidc_providers() if p["arn"] == provider]
        assert made and "sts.amazonaws.com" in made[0]["client_ids"], sts.oidc_providers()
        text = stored_policy(sts, APP)
        assert FOREIGN in text
        assert f"system:serviceaccount:{ns}:reports" in text, text
        cp.kubectl("delete", "awsrolebinding", "k", "-n", ns)
        wait_gone(cp, "awsrolebinding", "k", ns, op=op)
        assert f"system:serviceaccount:{ns}:reports" not in stored_policy(sts, APP)
        assert any(p["arn"] == provider for p in sts.oidc_providers())  # never deleted
