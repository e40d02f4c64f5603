"""gtoken's C++ IAM calls against the IAM stand-in: the request forms of
aws/iam, form-encoded and signed by aws::sign_v4 (aws_iam_tool), sent over
loopback with the STS stand-in's session credentials; the stand-in checks
the signature as AWS would, and its answers are read back by aws/iam's
parsers and compared with what boto3 reads from the same server."""

import json
import os
import subprocess
import sys

import boto3
import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from standins.harness import (GoogleStandin, StsStandin, google_trust_policy,  # noqa: E402
                              http)

TOOL = os.environ.get("GTOKEN_AWS_IAM_TOOL", "")
ACCOUNT = "123456789012"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/gtoken-admin"
APP = f"arn:aws:iam::{ACCOUNT}:role/gtoken/app"
AUD = "sts.amazonaws.com/gtoken-test"
ISSUER = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"



@pytest.fixture(autouse=True)
def _tool_built():
    # A missing tool is a failure, not a skip: ctest would pass having run nothing.
    if not os.path.exists(TOOL):
        pytest.fail(f"GTOKEN_AWS_IAM_TOOL={TOOL!r} names no aws_iam_tool binary (ctest sets it)")


@pytest.fixture
def world():
    with GoogleStandin() as g:
        s = StsStandin(jwks_url=g.jwks_url, account_id=ACCOUNT, iam=True).start()
        try:
            admin = g.create_sa("gtoken-admin")
            g.bind_workload(admin["email"], "gtoken-system/gtoken-operator")
            app = g.create_sa("app")
            g.bind_workload(app["email"], "team-a/app")
            s.add_role(ADMIN, google_trust_policy(admin["uniqueId"], oaud=AUD))
            s.add_role(APP, google_trust_policy("100000000000000000000", oaud=AUD))
            s.iam.allow(ADMIN, [
                {"Effect": "Allow", "Action": "iam:GetRole",
                 "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"},
                {"Effect": "Allow", "Action": "iam:UpdateAssumeRolePolicy",
                 "Resource": f"arn:aws:iam::{ACCOUNT}:role/gtoken/*"},
                {"Effect": "Allow", "Action": "iam:*OpenIDConnectProvider*", "Resource": "*"}])
            sts = boto3.client("sts", endpoint_url=s.url, region_name="us-east-1",
                               aws_access_key_id="x", aws_secret_access_key="y")
            c = sts.assume_role_with_web_identity(
                RoleArn=ADMIN, RoleSessionName="gtoken-operator",
                WebIdentityToken=g.identity(AUD, "gtoken-system/gtoken-operator").text)
            yield g, s, app, c["Credentials"]
        finally:
            s.stop()


def call(s, creds, *args, secret=None):
    """Has the C++ side build and sign ACTION ARGS, sends it, returns the answer."""
    cfg = {"host": f"127.0.0.1:{s.iam.port}", "access_key": creds["AccessKeyId"],
           "secret": secret or creds["SecretAccessKey"], "token": creds["SessionToken"],
           "region": "us-east-1"}
    out = subprocess.run([TOOL, "request", *args], input=json.dumps(cfg), capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    req = json.loads(out.stdout)
    return http("POST", s.iam.url + "/", req["body"].encode(), dict(req["headers"]))


def parse(action, body: bytes):
    out = subprocess.run([TOOL, "parse", action], input=body, capture_output=True, timeout=30)
    assert out.returncode == 0, (out.stdout, out.stderr)
    return json.loads(out.stdout)


def boto3_iam(s, creds):
    return boto3.client("iam", endpoint_url=s.iam.url, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def test_get_and_update_trust_policy(world, tmp_path):
    g, s, app, creds = world
    r = call(s, creds, "GetRole", "app")
    assert r.status == 200, r.text
    role = parse("GetRole", r.body)
    seen = boto3_iam(s, creds).get_role(RoleName="app")["Role"]
    assert role["arn"] == seen["Arn"] == APP and role["path"] == "/gtoken/"
    assert role["name"] == "app" and role["id"] == seen["RoleId"]
    assert json.loads(role["trust_policy"]) == seen["AssumeRolePolicyDocument"]

    # a document with non-ASCII text (within IAM's Latin-1 range), written by the C++ side
    doc = json.dumps(dict(google_trust_policy(app["uniqueId"], oaud=AUD),
                          Id="gtoken-équipe-ÄÖÜ"), indent=2, ensure_ascii=False) + "\n"
    path = tmp_path / "policy.json"
    path.write_bytes(doc.encode())
    r = call(s, creds, "UpdateAssumeRolePolicy", "app", str(path))
    assert r.status == 200, r.text
    # stored byte for byte, and read back the same by both readers
    stored = [x for x in s.state()["roles"] if x["arn"] == APP][0]["trust_policy_text"]
    assert stored == doc
    assert parse("GetRole", call(s, creds, "GetRole", "app").body)["trust_policy"] == doc
    assert boto3_iam(s, creds).get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == \
        json.loads(doc)
    # and STS lets the app in now
    boto3.client("sts", endpoint_url=s.url, region_name="us-east-1", aws_access_key_id="x",
                 aws_secret_access_key="y").assume_role_with_web_identity(
        RoleArn=APP, RoleSessionName="app", WebIdentityToken=g.identity(AUD, "team-a/app").text)


def test_oidc_provider_calls(world):
    _, s, _, creds = world
    r = call(s, creds, "CreateOpenIDConnectProvider", ISSUER, "gtoken")
    assert r.status == 200, r.text
    arn = parse("CreateOpenIDConnectProvider", r.body)["arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER[8:]}"
    assert call(s, creds, "AddClientIDToOpenIDConnectProvider", arn, "sts.amazonaws.com").status \
        == 200
    p = parse("GetOpenIDConnectProvider", call(s, creds, "GetOpenIDConnectProvider", arn).body)
    assert p["url"] == ISSUER[8:] and p["client_ids"] == ["gtoken", "sts.amazonaws.com"]
    assert p["thumbprints"] == [] and p["create_date"].endswith("Z")
    listed = parse("ListOpenIDConnectProviders", call(s, creds, "ListOpenIDConnectProviders").body)
    assert listed == {"arns": [arn]}


def test_errors_are_read_back(world):
    _, s, _, creds = world
    r = call(s, creds, "GetRole", "missing")
    assert r.status == 404
    e = parse("Error", r.body)
    assert (e["type"], e["code"]) == ("Sender", "NoSuchEntity") and e["request_id"]
    assert e["message"] == "The role with name missing cannot be found."
    # what IAM would refuse is never sent: an empty document, a name that
    # would smuggle a parameter, a provider ARN that is not one
    for args in (("UpdateAssumeRolePolicy", "app", "/dev/null"),
                 ("GetRole", "app&Action=DeleteRole"),
                 ("GetOpenIDConnectProvider", f"arn:aws:iam::{ACCOUNT}:role/app")):
        cfg = {"host": "127.0.0.1:1", "access_key": "a", "secret": "s", "region": "us-east-1"}
        out = subprocess.run([TOOL, "request", *args], input=json.dumps(cfg),
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 4 and out.stdout == "" and "refused" in out.stderr, (args, out)
    r = call(s, creds, "GetRole", "app", secret="not-the-secret")
    assert r.status == 403 and parse("Error", r.body)["code"] == "SignatureDoesNotMatch"
    s.iam.fault("/", 400, count=1, code="Throttling")
    e = parse("Error", call(s, creds, "GetRole", "app").body)
    assert (e["code"], e["message"]) == ("Throttling", "Rate exceeded")
    s.iam.fault("/", 500, count=1)
    e = parse("Error", call(s, creds, "GetRole", "app").body)
    assert (e["type"], e["code"]) == ("Receiver", "ServiceFailure")
    # a GetRole answer is not a provider's
    r = call(s, creds, "GetRole", "app")
    out = subprocess.run([TOOL, "parse", "GetOpenIDConnectProvider"], input=r.body,
                         capture_output=True, timeout=30)
    assert out.returncode == 3 and "unexpected answer <GetRoleResponse>" in out.stdout.decode()
