"""tokenSource: Kubernetes against a real kube-apiserver: the CRD's rules say
which fields each source takes and keep the source fixed; the controller
writes the EKS webhook's annotations on the ServiceAccount, asks Google
nothing, and puts the cluster's issuer (read from the apiserver's own
/.well-known/openid-configuration), the OIDC trust policy and the provider
command in the status; cleanup on delete; the tenancy policy must list the
source."""

import json

import pytest

from arbutil import (ALLOW_ALL, ROLE, binding, condition, kubernetes_binding, policy,
                     start_operator, wait_condition, wait_gone, wait_ready)
from cluster import KubectlError, eventually

# cp.sh starts the apiserver with this issuer; the operator discovers it.
ISSUER = "https://kubernetes.default.svc.cluster.local"
ACCOUNT = ROLE.split(":")[4]


def refused(cp, obj) -> str:
    with pytest.raises(KubectlError) as ei:
        cp.apply(obj)
    return ei.value.stderr


def test_the_crd_says_which_fields_each_source_takes(cp):
    ns = cp.create_namespace("ksrc-crd")
    gsa = "uploader@my-project.iam.gserviceaccount.com"
    err = refused(cp, kubernetes_binding("k", ns, "app", gcpServiceAccount=gsa))
    assert "gcpServiceAccount must not be set with tokenSource Kubernetes" in err, err
    b = binding("g", ns, "app", gsa)
    del b["spec"]["gcpServiceAccount"]
    err = refused(cp, b)
    assert "gcpServiceAccount is required with tokenSource Google" in err, err
    err = refused(cp, binding("g", ns, "app", gsa, tokenExpirationSeconds=3600))
    assert "tokenExpirationSeconds applies to tokenSource Kubernetes only" in err, err
    for bad in (599, 86401):
        err = refused(cp, kubernetes_binding("k", ns, "app", tokenExpirationSeconds=bad))
        assert "tokenExpirationSeconds" in err, err
    err = refused(cp, kubernetes_binding("k", ns, "app", tokenSource="Azure"))
    assert "Unsupported value" in err and "Azure" in err, err
    # Fixed for the binding's life, in both directions (an absent field is Google).
    cp.apply(kubernetes_binding("k", ns, "app"))
    flipped = binding("k", ns, "app", gsa)
    flipped["spec"]["tokenSource"] = "Google"
    assert "tokenSource cannot be changed" in refused(cp, flipped)
    cp.apply(binding("g", ns, "app2", gsa))
    flipped = kubernetes_binding("g", ns, "app2")
    cp.kubectl("patch", "awsrolebinding", "g", "-n", ns, "--type=json", "-p", json.dumps(
        [{"op": "remove", "path": "/spec/gcpServiceAccount"}]), check=False)
    assert "tokenSource cannot be changed" in refused(cp, flipped)
    cp.kubectl("delete", "namespace", ns, "--wait=false")


def test_kubernetes_source_end_to_end_on_the_controller(cp, google):
    ns = cp.create_namespace("ksrc")
    seq = google.counters()["last_seq"]
    with start_operator(cp, google) as op:
        # The issuer, from the apiserver's discovery document, is logged.
        eventually(lambda: ISSUER in op.logs(), 30, what="issuer logged\n" + op.logs()[-2000:])
        cp.apply(kubernetes_binding("reports", ns, "reports", tokenExpirationSeconds=3600,
                                    region="eu-west-1"))
        b = wait_ready(cp, "reports", ns, op=op)
        sa = cp.get("serviceaccount", "reports", ns)
        assert sa["metadata"]["annotations"] == {
            "eks.amazonaws.com/role-arn": ROLE,
            "eks.amazonaws.com/audience": "sts.amazonaws.com",
            "eks.amazonaws.com/token-expiration": "3600",
            "gtoken.io/region": "eu-west-1",
            "gtoken.io/binding": "reports",
            "gtoken.io/created-by": "reports"}
        st = b["status"]
        host = ISSUER[len("https://"):]
        provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"
        assert st["oidcIssuer"] == ISSUER
        assert st["awsOidcProviderArn"] == provider
        assert st["awsOidcProviderCommand"] == (
            f"aws iam create-open-id-connect-provider --url {ISSUER} "
            "--client-id-list sts.amazonaws.com")
        assert json.loads(st["awsTrustPolicy"]) == {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider},
                           "Action": "sts:AssumeRoleWithWebIdentity",
                           "Condition": {"StringEquals": {
                               f"{host}:sub": f"system:serviceaccount:{ns}:reports",
                               f"{host}:aud": "sts.amazonaws.com"}}}]}
        assert condition(b, "WorkloadIdentityReady") is None
        assert "workloadIdentityMember" not in st
        # An audience change is a new trust policy and annotation.
        cp.kubectl("patch", "awsrolebinding", "reports", "-n", ns, "--type=merge",
                   "-p", json.dumps({"spec": {"audience": "my-client"}}))
        eventually(lambda: (cp.get("serviceaccount", "reports", ns)["metadata"]["annotations"]
                            .get("eks.amazonaws.com/audience") == "my-client"), 30,
                   what="audience rewritten" + op.logs()[-2000:])
        # Delete: the ServiceAccount it created goes.
        cp.kubectl("delete", "awsrolebinding", "reports", "-n", ns, "--wait=false")
        wait_gone(cp, "awsrolebinding", "reports", ns, op=op)
        assert cp.get("serviceaccount", "reports", ns) is None
    # Not one call to Google about any of it.
    assert [c for c in google.calls(since=seq) if "setIamPolicy" in json.dumps(c)
            or "getIamPolicy" in json.dumps(c)] == []


def test_a_policy_must_list_the_source(cp, google):
    ns = cp.create_namespace("ksrc-tenancy")
    cp.kubectl("delete", "awsrolebindingpolicy", ALLOW_ALL["metadata"]["name"],
               "--ignore-not-found")
    try:
        cp.apply(policy("google-only", {"names": [ns]}, ["*@my-project.iam.gserviceaccount.com"],
                        [ACCOUNT]))
        with start_operator(cp, google) as op:
            cp.apply(kubernetes_binding("k", ns, "app"))
            b = wait_condition(cp, "k", ns, "NotAllowed", op=op)
            assert "tokenSource Kubernetes" in condition(b, "Ready")["message"]
            assert cp.get("serviceaccount", "app", ns) is None
            cp.apply(policy("google-only", {"names": [ns]},
                            ["*@my-project.iam.gserviceaccount.com"], [ACCOUNT],
                            token_sources=["Google", "Kubernetes"]))
            wait_ready(cp, "k", ns, op=op)
            assert cp.get("serviceaccount", "app", ns)["metadata"]["annotations"][
                "eks.amazonaws.com/role-arn"] == ROLE
            cp.kubectl("delete", "awsrolebinding", "k", "-n", ns, "--wait=false")
            wait_gone(cp, "awsrolebinding", "k", ns, op=op)
    finally:
        cp.kubectl("delete", "awsrolebindingpolicy", "google-only", "--ignore-not-found")
        cp.apply(ALLOW_ALL)
