"""The README's promise in one test: apply an AwsRoleBinding and the
ServiceAccount, the Workload Identity member and the status follow."""

import json

from cluster import Operator, eventually


def binding(name, ns, ksa, gsa, role="arn:aws:iam::123456789012:role/my-data-uploader", **spec):
    return {"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"serviceAccountName": ksa, "gcpServiceAccount": gsa, "awsRoleArn": role,
                     **spec}}


def ready(cp, name, ns):
    b = cp.get("awsrolebinding", name, ns)
    if not b:
        return None
    for c in b.get("status", {}).get("conditions", []):
        if c["type"] == "Ready" and c["status"] == "True" and \
                c.get("observedGeneration") == b["metadata"]["generation"]:
            return b
    return None


def test_apply_binding_makes_everything_ready(cp, google):
    gsa = google.create_sa("uploader")["email"]
    ns = cp.create_namespace("smoke")
    with Operator(cp, google, args=["--leader-elect=false", "--webhook=false"]) as op:
        cp.apply(binding("uploader", ns, "orchestrator", gsa))
        b = eventually(lambda: ready(cp, "uploader", ns), 60, what="binding Ready\n" + op.logs())
        sa = cp.get("serviceaccount", "orchestrator", ns)
        assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == gsa
        assert sa["metadata"]["annotations"]["amazonaws.com/role-arn"] == \
            "arn:aws:iam::123456789012:role/my-data-uploader"
        member = f"serviceAccount:my-project.svc.id.goog[{ns}/orchestrator]"
        policy = google.policy(gsa)
        assert any(member in bnd["members"] for bnd in policy.get("bindings", [])
                   if bnd["role"] == "roles/iam.workloadIdentityUser")
        trust = json.loads(b["status"]["awsTrustPolicy"])
        cond = trust["Statement"][0]["Condition"]["StringEquals"]
        assert cond["accounts.google.com:sub"] == google.sa(gsa)["uniqueId"]
        assert cond["accounts.google.com:oaud"] == "gtoken/sts/assume-role-with-web-identity"
