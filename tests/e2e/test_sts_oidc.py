"""Kubernetes-issued ServiceAccount tokens traded at the STS stand-in: the real
kube-apiserver is the OIDC issuer, registered in the stand-in as an IAM OIDC
provider with client id sts.amazonaws.com, as AWS would hold a GKE
cluster's issuer (the control plane: oidc_plane.py). Tokens come from the
TokenRequest API (`kubectl create token`), which is what the kubelet
projects into pods. The discovery document's jwks_uri is
https://127.0.0.1:PORT/openid/v1/jwks (the apiserver's own address, as it
serves it without --service-account-jwks-uri).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError

from chain import run_boto3, run_gosdk, sdk_env
from oidc_plane import DISCOVERY_BINDING, ISSUER, ISSUER_HOST, oidc_control_plane, sts_connect_to
from standins.harness import StsStandin, oidc_trust_policy

AUDIENCE = "sts.amazonaws.com"
ROLE = "arn:aws:iam::123456789012:role/kube-app"
PROVIDER_ARN = f"arn:aws:iam::123456789012:oidc-provider/{ISSUER_HOST}"


@pytest.fixture(scope="module")
def plane():
    with oidc_control_plane("e2e-" + os.environ.get("GTOKEN_E2E_NAME", "test_sts_oidc")) as cp:
        yield cp


@pytest.fixture(scope="module")
def ns(plane):
    name = plane.create_namespace("oidc")
    for ksa in ("app", "other"):
        plane.kubectl("create", "serviceaccount", ksa, "-n", name)
    return name


@pytest.fixture
def sts(plane, ns):
    """The stand-in trusting the apiserver's issuer, and ROLE trusting NS/app."""
    s = StsStandin().start()
    try:
        s.config(**sts_connect_to(plane))
        assert s.add_oidc_provider(ISSUER, [AUDIENCE])["arn"] == PROVIDER_ARN
        s.add_role(ROLE, oidc_trust_policy(PROVIDER_ARN, f"system:serviceaccount:{ns}:app",
                                           AUDIENCE))
        yield s
    finally:
        s.stop()


@pytest.fixture
def public_discovery(plane):
    plane.apply(DISCOVERY_BINDING)


def token(plane, ns, ksa="app", audience=AUDIENCE) -> str:
    return plane.kubectl("create", "token", ksa, "-n", ns, "--audience", audience,
                         "--duration", "10m").strip()


def assume(sts, tok, session="kube-app"):
    c = boto3.client("sts", endpoint_url=sts.url, region_name="us-east-1",
                     aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    return c.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName=session,
                                           WebIdentityToken=tok)


def anonymous_get(plane, path) -> int:
    ctx = ssl.create_default_context(cafile=os.path.join(plane.dir, "pki", "ca.crt"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{plane.port}{path}", context=ctx,
                                    timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_discovery_must_be_public(plane, ns, sts):
    plane.kubectl("delete", "clusterrolebinding", DISCOVERY_BINDING["metadata"]["name"],
                  "--ignore-not-found")
    assert anonymous_get(plane, "/.well-known/openid-configuration") == 403
    with pytest.raises(ClientError) as ei:
        assume(sts, token(plane, ns))
    assert ei.value.response["Error"]["Code"] == "IDPCommunicationError"
    assert "HTTP 403" in sts.calls()[-1]["idp_error"]
    plane.apply(DISCOVERY_BINDING)
    assert anonymous_get(plane, "/.well-known/openid-configuration") == 200
    assert anonymous_get(plane, "/openid/v1/jwks") == 200


def test_tokenrequest_token_trades_for_credentials(plane, ns, sts, public_discovery, tmp_path):
    tok = token(plane, ns)
    claims = jwt.decode(tok, options={"verify_signature": False})
    assert claims["iss"] == ISSUER and claims["aud"] == [AUDIENCE]
    r = assume(sts, tok)
    assert r["Provider"] == PROVIDER_ARN
    assert r["SubjectFromWebIdentityToken"] == f"system:serviceaccount:{ns}:app"
    assert r["Audience"] == AUDIENCE
    assert r["Credentials"]["AccessKeyId"].startswith("ASIA")
    # the stand-in used the apiserver's own discovery document and keys
    discovery = json.loads(plane.kubectl("get", "--raw", "/.well-known/openid-configuration"))
    jwks = json.loads(plane.kubectl("get", "--raw", "/openid/v1/jwks"))
    (p,) = sts.oidc_providers()
    assert discovery["issuer"] == ISSUER
    assert p["jwks_uri"] == discovery["jwks_uri"]
    assert discovery["jwks_uri"] == f"https://127.0.0.1:{plane.port}/openid/v1/jwks"
    assert p["kids"] == sorted(k["kid"] for k in jwks["keys"])
    # the SDKs, configured only by the environment an EKS-style pod gets
    token_file = tmp_path / "token"
    token_file.write_text(tok)
    env = sdk_env({"AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
                   "AWS_ROLE_SESSION_NAME": "kube-sdk", "AWS_REGION": "us-east-1",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_STS_REGIONAL_ENDPOINTS": "regional"},
                  sts.url, str(tmp_path))
    (out,) = run_boto3(env)
    assert out["ok"] and out["arn"] == "arn:aws:sts::123456789012:assumed-role/kube-app/kube-sdk"
    rc, results, stderr = run_gosdk(env)
    assert rc == 0 and results and all(x["ok"] for x in results), stderr
    assert results[0]["arn"] == out["arn"]


def test_tokenrequest_refusals(plane, ns, sts, public_discovery):
    with pytest.raises(ClientError) as ei:
        assume(sts, token(plane, ns, ksa="other"))
    e = ei.value.response
    assert (e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Code"]) == (403, "AccessDenied")
    with pytest.raises(ClientError) as ei:
        assume(sts, token(plane, ns, audience="not-sts"))
    e = ei.value.response["Error"]
    assert (e["Code"], e["Message"]) == ("InvalidIdentityToken", "Incorrect token audience")
    # the same name in another namespace is another subject
    other_ns = plane.create_namespace("oidc-other")
    plane.kubectl("create", "serviceaccount", "app", "-n", other_ns)
    with pytest.raises(ClientError) as ei:
        assume(sts, token(plane, other_ns))
    assert ei.value.response["Error"]["Code"] == "AccessDenied"
