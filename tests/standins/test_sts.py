"""The STS stand-in, driven by real boto3/botocore (and the aws CLI)."""

import hashlib
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import boto3
import botocore.config
import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa

from standins.harness import google_trust_policy, http
from standins.sts import evaluate_trust

ROLE = "arn:aws:iam::123456789012:role/gtoken-app"
AUD = "sts.amazonaws.com/gtoken-test"
WL = "team-a/app"
NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"


@pytest.fixture
def setup(google, sts):
    """A bound GSA, a role trusting it for AUD, and a fresh token."""
    sa = google.create_sa("app")
    google.bind_workload(sa["email"], WL)
    sts.add_role(ROLE, google_trust_policy(sa["uniqueId"], oaud=AUD))
    token = google.identity(AUD, WL).text
    return sa, token


def client(sts, **kw):
    opts = {"retries": {"mode": "standard", "max_attempts": 3}}
    opts.update(kw.pop("config", {}))
    cfg = botocore.config.Config(**opts)
    return boto3.client("sts", endpoint_url=sts.url, region_name="us-east-1",
                        aws_access_key_id=kw.pop("akid", "AKIDEXAMPLE"),
                        aws_secret_access_key=kw.pop("secret", "secret"),
                        aws_session_token=kw.pop("token", None), config=cfg)


def assume(sts, token, role=ROLE, session="sess-1", **kw):
    return client(sts, config=kw.pop("config", {})).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName=session, WebIdentityToken=token, **kw)


def err(excinfo):
    e = excinfo.value.response
    return e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Code"], e["Error"]["Message"]


def raw(sts, **form):
    body = "&".join(f"{k}={v}" for k, v in form.items())
    return http("POST", sts.url + "/", body, {"Content-Type": "application/x-www-form-urlencoded"})


# -- AssumeRoleWithWebIdentity --------------------------------------------------


def test_assume_role_success(sts, setup):
    sa, token = setup
    r = assume(sts, token)
    c = r["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20
    assert len(c["SecretAccessKey"]) == 40 and c["SessionToken"]
    left = c["Expiration"].timestamp() - time.time()
    assert 3590 < left <= 3600
    assert r["SubjectFromWebIdentityToken"] == sa["uniqueId"]
    assert r["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/gtoken-app/sess-1"
    assert r["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    assert r["AssumedRoleUser"]["AssumedRoleId"].endswith(":sess-1")
    assert r["Provider"] == "accounts.google.com"
    assert r["Audience"] == sa["uniqueId"]  # azp
    assert r["ResponseMetadata"]["RequestId"]


def test_xml_shape(sts, setup):
    _, token = setup
    resp = raw(sts, Action="AssumeRoleWithWebIdentity", Version="2011-06-15", RoleArn=ROLE,
               RoleSessionName="s1", WebIdentityToken=token)
    assert resp.status == 200 and resp.headers["content-type"] == "text/xml"
    root = ET.fromstring(resp.body)
    assert root.tag == NS + "AssumeRoleWithWebIdentityResponse"
    result = root.find(NS + "AssumeRoleWithWebIdentityResult")
    creds = result.find(NS + "Credentials")
    assert {c.tag[len(NS):] for c in creds} == {"AccessKeyId", "SecretAccessKey",
                                                 "SessionToken", "Expiration"}
    assert creds.find(NS + "Expiration").text.endswith("Z")
    assert {c.tag[len(NS):] for c in result} == {
        "Credentials", "SubjectFromWebIdentityToken", "AssumedRoleUser", "Provider", "Audience"}
    assert root.find(f"{NS}ResponseMetadata/{NS}RequestId").text


def test_error_xml_shape(sts, setup):
    resp = raw(sts, Action="AssumeRoleWithWebIdentity", Version="2011-06-15",
               RoleArn="arn:aws:iam::123456789012:role/other", RoleSessionName="s1",
               WebIdentityToken=setup[1])
    assert resp.status == 403
    root = ET.fromstring(resp.body)
    assert root.tag == NS + "ErrorResponse"
    e = root.find(NS + "Error")
    assert e.find(NS + "Type").text == "Sender"
    assert e.find(NS + "Code").text == "AccessDenied"
    assert e.find(NS + "Message").text == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert root.find(NS + "RequestId").text


def test_access_denied_wrong_audience(google, sts, setup):
    token = google.identity("some-other-audience", WL).text
    with pytest.raises(ClientError) as ei:
        assume(sts, token)
    assert err(ei) == (403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")


def test_access_denied_wrong_subject(google, sts, setup):
    other = google.create_sa("other")
    google.bind_workload(other["email"], "team-b/x")
    token = google.identity(AUD, "team-b/x").text
    with pytest.raises(ClientError) as ei:
        assume(sts, token)
    assert err(ei)[:2] == (403, "AccessDenied")
    reason = sts.calls(endpoint="sts.AssumeRoleWithWebIdentity")[-1]["trust"]
    assert "accounts.google.com:sub" in reason[0]


def test_access_denied_unknown_role(sts, setup):
    with pytest.raises(ClientError) as ei:
        assume(sts, setup[1], role="arn:aws:iam::123456789012:role/nope")
    assert err(ei)[:2] == (403, "AccessDenied")


def test_sub_only_policy_accepts_any_audience(google, sts, setup):
    """Why REFERENCE.md says pin oaud too."""
    sa, _ = setup
    sts.add_role(ROLE, google_trust_policy(sa["uniqueId"]))
    assume(sts, google.identity("anything-else", WL).text)


def test_invalid_identity_token_bad_signature(google, sts, setup):
    _, token = setup
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, foreign, algorithm="RS256", headers={"kid": kid})
    with pytest.raises(ClientError) as ei:
        assume(sts, forged)
    assert err(ei)[:2] == (400, "InvalidIdentityToken")


def test_invalid_identity_token_wrong_issuer(google, sts, setup):
    _, token = setup
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["iss"] = "https://evil.example.com"
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ClientError) as ei:
        assume(sts, jwt.encode(claims, foreign, algorithm="RS256", headers={"kid": "x"}))
    code = err(ei)
    assert code[:2] == (400, "InvalidIdentityToken")
    assert "evil.example.com" in code[2]


def test_invalid_identity_token_garbage(sts, setup):
    with pytest.raises(ClientError) as ei:
        assume(sts, "not-a-jwt-at-all")
    assert err(ei)[:2] == (400, "InvalidIdentityToken")


def test_expired_token(google, sts, setup):
    google.config(clock_offset=-7200)
    token = google.identity(AUD, WL).text
    with pytest.raises(ClientError) as ei:
        assume(sts, token)
    status, code, msg = err(ei)
    assert (status, code) == (400, "ExpiredTokenException")
    assert msg.startswith("Token expired: current date/time")


def test_issuer_without_scheme_is_accepted(google, sts, setup):
    """accounts.google.com (no https://) is a valid Google issuer too."""
    sa, token = setup
    # mint one with the stand-in's own key, only iss differs
    app = google.server.app
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["iss"] = "accounts.google.com"
    assume(sts, app.current_key.sign(claims))


def test_validation_errors_like_aws(sts, setup):
    token = setup[1]
    cases = [
        ({"RoleSessionName": "a"}, "Value 'a' at 'roleSessionName' failed to satisfy constraint: "
                                   "Member must have length greater than or equal to 2"),
        ({"RoleSessionName": "bad name!"}, r"Member must satisfy regular expression pattern: [\w+=,.@-]*"),
        ({"RoleSessionName": "x" * 65}, "Member must have length less than or equal to 64"),
        ({"DurationSeconds": "899"}, "Value '899' at 'durationSeconds' failed to satisfy constraint: "
                                     "Member must have value greater than or equal to 900"),
        ({"DurationSeconds": "43201"}, "Member must have value less than or equal to 43200"),
        ({"RoleArn": "arn:aws:iam::1"}, "Value 'arn:aws:iam::1' at 'roleArn' failed to satisfy "
                                       "constraint: Member must have length greater than or equal to 20"),
        ({"WebIdentityToken": "abc"}, "at 'webIdentityToken' failed to satisfy constraint: "
                                      "Member must have length greater than or equal to 4"),
    ]
    for override, fragment in cases:
        form = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": ROLE,
                "RoleSessionName": "s1", "WebIdentityToken": token}
        form.update(override)
        r = raw(sts, **form)
        assert r.status == 400, override
        root = ET.fromstring(r.body)
        assert root.find(f"{NS}Error/{NS}Code").text == "ValidationError"
        msg = root.find(f"{NS}Error/{NS}Message").text
        assert msg.startswith("1 validation error detected: "), msg
        assert fragment in msg, (override, msg)
    r = raw(sts, Action="AssumeRoleWithWebIdentity", Version="2011-06-15", RoleSessionName="a",
            DurationSeconds="100", RoleArn=ROLE, WebIdentityToken=token)
    assert "2 validation errors detected: " in r.text
    r = raw(sts, Action="AssumeRoleWithWebIdentity", Version="2011-06-15")
    assert "3 validation errors detected: " in r.text and "Member must not be null" in r.text
    assert "webIdentityToken" in r.text


def test_validation_error_through_boto3(sts, setup):
    # botocore checks some minimums itself; switch that off to reach the server
    with pytest.raises(ClientError) as ei:
        assume(sts, setup[1], session="bad name!",
               config={"parameter_validation": False})
    assert err(ei)[:2] == (400, "ValidationError")


def test_duration_seconds(sts, setup):
    sa, token = setup
    r = assume(sts, token, DurationSeconds=900)
    left = r["Credentials"]["Expiration"].timestamp() - time.time()
    assert 890 < left <= 900
    # beyond the role's MaxSessionDuration (3600 by default, like AWS)
    with pytest.raises(ClientError) as ei:
        assume(sts, token, DurationSeconds=7200)
    assert err(ei) == (400, "ValidationError", "The requested DurationSeconds exceeds the "
                                               "MaxSessionDuration set for this role.")
    sts.add_role(ROLE, google_trust_policy(sa["uniqueId"], oaud=AUD), max_session_duration=43200)
    r = assume(sts, token, DurationSeconds=43200)
    assert r["Credentials"]["Expiration"].timestamp() - time.time() > 43000


def test_credential_cap_knob(sts, setup):
    sts.config(max_credential_seconds=60)
    r = assume(sts, setup[1])
    left = r["Credentials"]["Expiration"].timestamp() - time.time()
    assert 50 < left <= 60
    call = sts.calls(endpoint="sts.AssumeRoleWithWebIdentity")[-1]
    assert call["duration_requested"] == 3600 and call["duration_granted"] == 60


def test_unknown_action(sts):
    r = raw(sts, Action="AssumeRole", Version="2011-06-15")
    assert r.status == 400 and "<Code>InvalidAction</Code>" in r.text


# -- JWKS handling ----------------------------------------------------------------


def test_jwks_cached_and_refetched_on_rotation(google, sts, setup):
    _, token = setup
    assume(sts, token)
    assume(sts, token)
    assert sts.state()["jwks_fetches"] == 1
    google.rotate_keys(keep=1)
    new = google.identity(AUD, WL).text
    assume(sts, new)
    st = sts.state()
    assert st["jwks_fetches"] == 2
    assert jwt.get_unverified_header(new)["kid"] in st["jwks_kids"]
    # the old key is gone from JWKS, so the old token no longer verifies
    with pytest.raises(ClientError) as ei:
        assume(sts, token)
    assert err(ei)[:2] == (400, "InvalidIdentityToken")


def test_idp_unreachable(google, sts, setup):
    sts.config(jwks_url="http://127.0.0.1:9/nothing-here")
    with pytest.raises(ClientError) as ei:
        assume(sts, setup[1])
    assert err(ei)[:2] == (400, "IDPCommunicationError")


def test_idp_error_status(google, sts, setup):
    google.fault("/oauth2/v3/certs", 500, count=1)
    r = raw(sts, Action="AssumeRoleWithWebIdentity", Version="2011-06-15", RoleArn=ROLE,
            RoleSessionName="s1", WebIdentityToken=setup[1])
    assert r.status == 400 and "<Code>IDPCommunicationError</Code>" in r.text
    # botocore retries IDPCommunicationError for this call (even with max_attempts=1)
    sts.admin("POST", "/jwks/flush")
    google.fault("/oauth2/v3/certs", 500, count=1)
    r = assume(sts, setup[1], config={"retries": {"mode": "standard", "max_attempts": 1}})
    assert r["ResponseMetadata"]["RetryAttempts"] == 1


# -- GetCallerIdentity -------------------------------------------------------------


def creds_client(sts, r):
    c = r["Credentials"]
    return client(sts, akid=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"])


def test_get_caller_identity(sts, setup):
    r = assume(sts, setup[1])
    me = creds_client(sts, r).get_caller_identity()
    assert me["Arn"] == r["AssumedRoleUser"]["Arn"]
    assert me["UserId"] == r["AssumedRoleUser"]["AssumedRoleId"]
    assert me["Account"] == "123456789012"


def test_get_caller_identity_wrong_secret(sts, setup):
    r = assume(sts, setup[1])
    c = r["Credentials"]
    bad = client(sts, akid=c["AccessKeyId"], secret="x" * 40, token=c["SessionToken"])
    with pytest.raises(ClientError) as ei:
        bad.get_caller_identity()
    assert err(ei)[:2] == (403, "SignatureDoesNotMatch")


def test_get_caller_identity_unknown_key_or_token(sts, setup):
    r = assume(sts, setup[1])
    c = r["Credentials"]
    with pytest.raises(ClientError) as ei:
        client(sts, akid="ASIAXXXXXXXXXXXXXXXX", secret=c["SecretAccessKey"],
               token=c["SessionToken"]).get_caller_identity()
    assert err(ei)[:2] == (403, "InvalidClientTokenId")
    with pytest.raises(ClientError) as ei:
        client(sts, akid=c["AccessKeyId"], secret=c["SecretAccessKey"]).get_caller_identity()
    assert err(ei)[:2] == (403, "InvalidClientTokenId")


def test_get_caller_identity_expired(sts, setup):
    r = assume(sts, setup[1])
    sts.expire_sessions(r["Credentials"]["AccessKeyId"])
    with pytest.raises(ClientError) as ei:
        creds_client(sts, r).get_caller_identity()
    assert err(ei)[:2] == (403, "ExpiredToken")


def test_get_caller_identity_unsigned(sts):
    r = raw(sts, Action="GetCallerIdentity", Version="2011-06-15")
    assert r.status == 403 and "<Code>MissingAuthenticationToken</Code>" in r.text


def test_get_caller_identity_presigned(sts, setup):
    c = creds_client(sts, assume(sts, setup[1]))
    url = c.generate_presigned_url("get_caller_identity", HttpMethod="GET")
    r = http("GET", url)
    assert r.status == 200 and "assumed-role/gtoken-app/sess-1" in r.text
    tampered = url.replace("Action=GetCallerIdentity", "Action=GetCallerIdentity&Extra=1")
    assert http("GET", tampered).status == 403


# -- SDK driven purely by the environment -----------------------------------------


def write_token(path, token):
    tmp = str(path) + ".tmp"
    with open(tmp, "w") as f:
        f.write(token)
    os.replace(tmp, path)


def web_identity_env(monkeypatch, sts, token_file, session="env-session"):
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", session)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts.url)
    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "regional")


def test_boto3_from_env(monkeypatch, aws_env, sts, setup):
    token_file = aws_env / "token"
    write_token(token_file, setup[1])
    web_identity_env(monkeypatch, sts, token_file)
    me = boto3.session.Session().client("sts").get_caller_identity()
    assert me["Arn"] == "arn:aws:sts::123456789012:assumed-role/gtoken-app/env-session"
    assert sts.count("sts.AssumeRoleWithWebIdentity") == 1
    assert sts.count("sts.GetCallerIdentity") == 1


def test_boto3_refreshes_and_rereads_token_file(monkeypatch, aws_env, google, sts, setup):
    """With credentials capped below botocore's 10-minute mandatory refresh
    window, every API call makes botocore assume the role again, re-reading
    the token file each time."""
    sts.config(max_credential_seconds=60)
    token_file = aws_env / "token"
    write_token(token_file, setup[1])
    web_identity_env(monkeypatch, sts, token_file)
    c = boto3.session.Session().client("sts")
    seen = []
    for i in range(3):
        google.rotate_keys()  # a distinct token each round
        tok = google.identity(AUD, WL).text
        write_token(token_file, tok)
        seen.append(hashlib.sha256(tok.encode()).hexdigest()[:16])
        c.get_caller_identity()
    assumes = sts.calls(endpoint="sts.AssumeRoleWithWebIdentity")
    assert len(assumes) == 3
    assert [a["token_sha256"] for a in assumes] == seen
    assert sts.count("sts.GetCallerIdentity") == 3


def test_boto3_keeps_credentials_when_long_lived(monkeypatch, aws_env, sts, setup):
    token_file = aws_env / "token"
    write_token(token_file, setup[1])
    web_identity_env(monkeypatch, sts, token_file)
    c = boto3.session.Session().client("sts")
    for _ in range(3):
        c.get_caller_identity()
    assert sts.count("sts.AssumeRoleWithWebIdentity") == 1


def test_boto3_retries_injected_throttling(monkeypatch, aws_env, sts, setup):
    token_file = aws_env / "token"
    write_token(token_file, setup[1])
    web_identity_env(monkeypatch, sts, token_file)
    sts.fault("/", 400, count=1, code="Throttling", message="Rate exceeded")
    sts.fault("/", 503, count=1)
    me = boto3.session.Session().client("sts").get_caller_identity()
    assert me["Arn"].endswith("/env-session")
    codes = [c.get("error_code") for c in sts.calls()]
    assert codes[:2] == ["Throttling", "ServiceUnavailable"]


def test_aws_cli_from_env(aws_env, sts, setup):
    token_file = aws_env / "token"
    write_token(token_file, setup[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": str(aws_env / "cfg"),
                "AWS_SHARED_CREDENTIALS_FILE": str(aws_env / "creds"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": ROLE,
                "AWS_ROLE_SESSION_NAME": "cli-session", "AWS_ENDPOINT_URL_STS": sts.url})
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    out = subprocess.run([aws, "sts", "get-caller-identity", "--output", "json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"].endswith("assumed-role/gtoken-app/cli-session")


# -- trust policy evaluation ----------------------------------------------------------


def ctx(sub="1", aud="1", oaud="x"):
    return {"accounts.google.com:sub": [sub], "accounts.google.com:aud": [aud],
            "accounts.google.com:oaud": [oaud]}


def stmt(effect="Allow", cond=None, principal=None, action="sts:AssumeRoleWithWebIdentity"):
    s = {"Effect": effect, "Principal": principal or {"Federated": "accounts.google.com"},
         "Action": action}
    if cond:
        s["Condition"] = cond
    return s


def allowed(*statements, context=None):
    return evaluate_trust({"Statement": list(statements)}, "accounts.google.com",
                          context or ctx())[0]


def test_trust_policy_evaluation():
    assert allowed(stmt())
    assert not allowed(stmt(principal={"Federated": "cognito-identity.amazonaws.com"}))
    assert allowed(stmt(principal={"Federated": ["x", "accounts.google.com"]}))
    assert not allowed(stmt(action="sts:AssumeRole"))
    assert allowed(stmt(action="sts:*"))
    assert allowed(stmt(action=["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"]))
    se = {"StringEquals": {"accounts.google.com:sub": "1", "accounts.google.com:oaud": "x"}}
    assert allowed(stmt(cond=se))
    assert not allowed(stmt(cond=se), context=ctx(oaud="y"))
    assert allowed(stmt(cond={"StringEquals": {"accounts.google.com:oaud": ["y", "x"]}}))
    # keys are case-insensitive, values are not
    assert allowed(stmt(cond={"StringEquals": {"Accounts.Google.Com:Sub": "1"}}))
    assert not allowed(stmt(cond={"StringEquals": {"accounts.google.com:oaud": "X"}}))
    assert allowed(stmt(cond={"StringEqualsIgnoreCase": {"accounts.google.com:oaud": "X"}}))
    assert allowed(stmt(cond={"StringLike": {"accounts.google.com:oaud": "x*"}}))
    assert not allowed(stmt(cond={"StringLike": {"accounts.google.com:oaud": "?x"}}))
    assert allowed(stmt(cond={"StringNotEquals": {"accounts.google.com:oaud": "y"}}))
    # a missing key fails StringEquals
    assert not allowed(stmt(cond={"StringEquals": {"accounts.google.com:email": "a"}}))
    # an explicit Deny wins
    assert not allowed(stmt(), stmt("Deny", cond={"StringEquals": {"accounts.google.com:sub": "1"}}))
    # unsupported operators never grant
    assert not allowed(stmt(cond={"NumericEquals": {"accounts.google.com:sub": "1"}}))
    assert not allowed()


def test_roles_admin(sts):
    with pytest.raises(Exception):
        sts.add_role("not-an-arn", {"Statement": []})
    with pytest.raises(Exception):
        sts.add_role(ROLE, {"no": "statement"})
    r = sts.add_role("arn:aws:iam::210987654321:role/path/to/name", {"Statement": []})
    assert r["name"] == "name" and r["account"] == "210987654321"
    assert len(sts.admin("GET", "/roles")["roles"]) == 1
    sts.admin("DELETE", "/roles?arn=arn:aws:iam::210987654321:role/path/to/name")
    assert sts.admin("GET", "/roles")["roles"] == []
