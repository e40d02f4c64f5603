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

from standins.harness import (StsStandin, aws_cli_env, google_trust_policy, http,
                              oidc_trust_policy)
from standins.oidc_issuer import OidcIssuer, TestCA, write_bundle
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
    env = aws_cli_env(str(aws_env), AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
                      AWS_ROLE_ARN=ROLE, AWS_ROLE_SESSION_NAME="cli-session",
                      AWS_ENDPOINT_URL_STS=sts.url)
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
    # unsupported operators fail closed: never grant, always deny
    assert not allowed(stmt(cond={"NumericEquals": {"accounts.google.com:sub": "1"}}))
    assert not allowed(stmt(), stmt("Deny", cond={"Bool": {"aws:SecureTransport": "true"}}))
    assert not allowed()
    # NotAction / NotPrincipal, qualifiers on a multi-valued key
    assert allowed({"Effect": "Allow", "Principal": "*", "NotAction": "sts:AssumeRole"})
    assert not allowed({"Effect": "Allow", "Principal": "*", "NotAction": "sts:AssumeRoleWith*"})
    assert not allowed(stmt(), {"Effect": "Deny", "NotPrincipal": {"Federated": "x"},
                                "Action": "*"})
    two = ctx() | {"accounts.google.com:oaud": ["x", "y"]}
    assert allowed(stmt(cond={"ForAnyValue:StringEquals": {"accounts.google.com:oaud": "y"}}),
                   context=two)
    assert not allowed(stmt(cond={"ForAllValues:StringEquals": {"accounts.google.com:oaud": "y"}}),
                       context=two)
    assert allowed(stmt(cond={"ForAllValues:StringEquals": {"accounts.google.com:email": "a"}}))


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


# -- IAM OIDC providers (Kubernetes ServiceAccount issuers) ---------------------------

OIDC_AUD = "sts.amazonaws.com"
KSA = "system:serviceaccount:team-a:app"
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.gtoken.test/clusters/c1"
VERIFY_KEY_MSG = ("Couldn't retrieve verification key from your identity provider, please "
                  "reference AssumeRoleWithWebIdentity documentation for requirements")


@pytest.fixture
def issuer_ca():
    return TestCA("gtoken-test-issuer-ca")


@pytest.fixture
def issuer(issuer_ca):
    """https://oidc.gtoken.test/clusters/c1 (port 443 in its URL), served on loopback."""
    with OidcIssuer(issuer_ca, "oidc.gtoken.test", "/clusters/c1") as iss:
        yield iss


@pytest.fixture
def oidc(sts, issuer, issuer_ca, tmp_path):
    """The stand-in trusting `issuer` as an IAM OIDC provider (client id
    sts.amazonaws.com), and ROLE trusting KSA's tokens for that audience."""
    sts.config(connect_to=[issuer.connect_to],
               oidc_ca_file=write_bundle(tmp_path / "ca.pem", issuer_ca))
    p = sts.add_oidc_provider(issuer.url, [OIDC_AUD])
    sts.add_role(ROLE, oidc_trust_policy(p["arn"], KSA, OIDC_AUD))
    return p


def ksa_token(issuer, sub=KSA, aud=OIDC_AUD, **kw):
    return issuer.sign(issuer.claims(sub, aud, **kw))


def test_oidc_success(sts, issuer, oidc):
    assert oidc["arn"] == PROVIDER_ARN
    r = assume(sts, ksa_token(issuer))
    assert r["Provider"] == PROVIDER_ARN
    assert r["SubjectFromWebIdentityToken"] == KSA
    assert r["Audience"] == OIDC_AUD
    assert r["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/gtoken-app/sess-1"
    c = r["Credentials"]
    assert c["AccessKeyId"].startswith("ASIA") and c["SecretAccessKey"] and c["SessionToken"]
    assert creds_client(sts, r).get_caller_identity()["Arn"] == r["AssumedRoleUser"]["Arn"]
    # AWS's order: discovery first, then its jwks_uri; each over TLS for the
    # issuer's name although the connection went to 127.0.0.1:PORT
    assert [q["path"] for q in issuer.requests] == [
        "/clusters/c1/.well-known/openid-configuration", "/clusters/c1/openid/v1/jwks"]
    assert all(q["sni"] == "oidc.gtoken.test" and q["host"] == "oidc.gtoken.test"
               for q in issuer.requests)
    # keys are cached
    assume(sts, ksa_token(issuer), session="sess-2")
    assert len(issuer.requests) == 2
    (p,) = sts.oidc_providers()
    assert p["jwks_uri"] == issuer.url + "/openid/v1/jwks" and p["jwks_fetches"] == 1
    call = sts.calls(endpoint="sts.AssumeRoleWithWebIdentity")[-1]
    assert call["token_provider"] == PROVIDER_ARN and call["trust"] == ["statement 0: allow"]
    assert {s["provider"] for s in sts.sessions()} == {PROVIDER_ARN}


def test_oidc_xml_provider_is_the_arn(sts, issuer, oidc):
    resp = raw(sts, Action="AssumeRoleWithWebIdentity", Version="2011-06-15", RoleArn=ROLE,
               RoleSessionName="s1", WebIdentityToken=ksa_token(issuer))
    assert resp.status == 200
    result = ET.fromstring(resp.body).find(NS + "AssumeRoleWithWebIdentityResult")
    assert result.find(NS + "Provider").text == PROVIDER_ARN
    assert result.find(NS + "SubjectFromWebIdentityToken").text == KSA


def test_oidc_wrong_audience(sts, issuer, oidc):
    with pytest.raises(ClientError) as ei:
        assume(sts, ksa_token(issuer, aud="some-other-audience"))
    assert err(ei) == (400, "InvalidIdentityToken", "Incorrect token audience")
    # any one of several audiences may be the client id
    assume(sts, ksa_token(issuer, aud=["some-other-audience", OIDC_AUD]))
    claims = issuer.claims(KSA, OIDC_AUD)
    del claims["aud"]
    with pytest.raises(ClientError) as ei:
        assume(sts, issuer.sign(claims))
    assert err(ei) == (400, "InvalidIdentityToken", "Missing a required claim: aud")


def test_oidc_client_id_list_decides_audience(sts, issuer, oidc):
    """The client-id list is the provider's; the role's :aud condition is
    checked after it, as a separate rule."""
    sts.delete_oidc_provider(PROVIDER_ARN)
    sts.add_oidc_provider(issuer.url, [OIDC_AUD, "second-client"])
    with pytest.raises(ClientError) as ei:
        assume(sts, ksa_token(issuer, aud="second-client"))
    assert err(ei)[:2] == (403, "AccessDenied")  # the role pins :aud to sts.amazonaws.com
    assert "oidc.gtoken.test/clusters/c1:aud" in sts.calls()[-1]["trust"][0]
    sts.add_role(ROLE, oidc_trust_policy(PROVIDER_ARN, KSA))
    assert assume(sts, ksa_token(issuer, aud="second-client"))["Audience"] == "second-client"


def test_oidc_wrong_subject_access_denied(sts, issuer, oidc):
    with pytest.raises(ClientError) as ei:
        assume(sts, ksa_token(issuer, sub="system:serviceaccount:team-b:app"))
    assert err(ei) == (403, "AccessDenied",
                       "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    reason = sts.calls(endpoint="sts.AssumeRoleWithWebIdentity")[-1]["trust"]
    assert "oidc.gtoken.test/clusters/c1:sub" in reason[0]
    # a namespace wildcard, as StringLike allows
    sts.add_role(ROLE, oidc_trust_policy(PROVIDER_ARN, "system:serviceaccount:team-b:*",
                                         OIDC_AUD, like=True))
    assume(sts, ksa_token(issuer, sub="system:serviceaccount:team-b:app"))
    # the principal must be the provider's ARN: a Google trust policy does not match
    sts.add_role(ROLE, {"Statement": [{"Effect": "Allow",
                                       "Principal": {"Federated": "accounts.google.com"},
                                       "Action": "sts:AssumeRoleWithWebIdentity"}]})
    with pytest.raises(ClientError) as ei:
        assume(sts, ksa_token(issuer))
    assert err(ei)[:2] == (403, "AccessDenied")


def test_oidc_expired_and_not_yet_valid(sts, issuer, oidc):
    now = int(time.time())
    expired = issuer.sign(issuer.claims(KSA, OIDC_AUD) | {"iat": now - 700, "nbf": now - 700,
                                                           "exp": now - 60})
    with pytest.raises(ClientError) as ei:
        assume(sts, expired)
    status, code, msg = err(ei)
    assert (status, code) == (400, "ExpiredTokenException")
    assert msg.startswith("Token expired: current date/time") and msg.endswith(str(now - 60))
    sts.config(leeway_seconds=120)
    assume(sts, expired)
    sts.config(leeway_seconds=0)
    early = issuer.sign(issuer.claims(KSA, OIDC_AUD) | {"nbf": now + 300})
    with pytest.raises(ClientError) as ei:
        assume(sts, early)
    assert err(ei)[:2] == (400, "InvalidIdentityToken")


def test_oidc_unknown_issuer(sts, issuer, oidc):
    other = issuer.sign(issuer.claims(KSA, OIDC_AUD) | {"iss": "https://other.gtoken.test"})
    with pytest.raises(ClientError) as ei:
        assume(sts, other)
    assert err(ei) == (400, "InvalidIdentityToken", "No OpenIDConnect provider found in your "
                                                    "account for https://other.gtoken.test")
    # the URL is matched exactly: a trailing slash is another issuer
    with pytest.raises(ClientError) as ei:
        assume(sts, issuer.sign(issuer.claims(KSA, OIDC_AUD) | {"iss": issuer.url + "/"}))
    assert err(ei)[:2] == (400, "InvalidIdentityToken")
    # a provider lives in one account: a role in another account does not see it
    other_role = "arn:aws:iam::210987654321:role/gtoken-app"
    sts.add_role(other_role, oidc_trust_policy(PROVIDER_ARN, KSA, OIDC_AUD))
    with pytest.raises(ClientError) as ei:
        assume(sts, ksa_token(issuer), role=other_role)
    assert "No OpenIDConnect provider found in your account" in err(ei)[2]
    assert issuer.requests == []  # nothing was fetched for any of them


def test_oidc_discovery_issuer_mismatch(sts, issuer, oidc):
    issuer.discovery_issuer = "https://evil.gtoken.test/clusters/c1"
    with pytest.raises(ClientError) as ei:
        assume(sts, ksa_token(issuer))
    assert err(ei) == (400, "InvalidIdentityToken", VERIFY_KEY_MSG)
    assert issuer.hits("discovery") == 1 and issuer.hits("jwks") == 0
    assert "discovery issuer" in sts.calls()[-1]["idp_error"]
    issuer.discovery_issuer = None
    assume(sts, ksa_token(issuer))


def test_oidc_jwks_tls_not_trusted(sts, issuer, issuer_ca, oidc, tmp_path):
    """The discovery document sends the stand-in to a JWKS host whose
    certificate comes from a CA outside the bundle."""
    other_ca = TestCA("someone-else")
    with OidcIssuer(other_ca, "keys.gtoken.test", "/clusters/c1") as keys_host:
        keys_host.signing = issuer.signing
        issuer.jwks_uri = f"https://127.0.0.1:{keys_host.port}/clusters/c1/openid/v1/jwks"
        with pytest.raises(ClientError) as ei:
            assume(sts, ksa_token(issuer), config={"retries": {"max_attempts": 1}})
        assert err(ei)[:2] == (400, "IDPCommunicationError")
        idp_error = sts.calls()[-1]["idp_error"]
        assert idp_error.startswith(issuer.jwks_uri) and "unable to get local issuer" in idp_error
        assert issuer.hits("discovery") >= 1 and keys_host.requests == []
        # trusting that CA too makes the same JWKS usable
        sts.config(oidc_ca_file=write_bundle(tmp_path / "both.pem", issuer_ca, other_ca))
        r = assume(sts, ksa_token(issuer))
        assert r["Provider"] == PROVIDER_ARN and keys_host.hits("jwks") == 1


def test_oidc_discovery_tls_not_trusted(sts, issuer, issuer_ca, oidc, tmp_path):
    sts.config(oidc_ca_file=write_bundle(tmp_path / "other.pem", TestCA("someone-else")))
    r = raw(sts, Action="AssumeRoleWithWebIdentity", Version="2011-06-15", RoleArn=ROLE,
            RoleSessionName="s1", WebIdentityToken=ksa_token(issuer))
    assert r.status == 400 and "<Code>IDPCommunicationError</Code>" in r.text
    assert issuer.requests == []
    # the right CA, but a certificate that does not name the issuer's host:
    # cp.sh's apiserver certificate lacks kubernetes.default.svc.cluster.local
    sts.config(oidc_ca_file=write_bundle(tmp_path / "ca.pem", issuer_ca))
    host = "kubernetes.default.svc.cluster.local"
    names = ["kubernetes", "kubernetes.default.svc"]
    with OidcIssuer(issuer_ca, host, "", cert_names=names) as kube:
        sts.config(connect_to=[kube.connect_to])
        p = sts.add_oidc_provider(kube.url, [OIDC_AUD])
        sts.add_role(ROLE, oidc_trust_policy(p["arn"], KSA, OIDC_AUD))
        r = raw(sts, Action="AssumeRoleWithWebIdentity", Version="2011-06-15", RoleArn=ROLE,
                RoleSessionName="s1", WebIdentityToken=ksa_token(kube))
        assert r.status == 400 and "<Code>IDPCommunicationError</Code>" in r.text
        assert f"Hostname mismatch, certificate is not valid for '{host}'" in \
            sts.calls()[-1]["idp_error"]
        assert kube.requests == []


def test_oidc_unknown_kid_then_rotation(sts, issuer, oidc):
    assume(sts, ksa_token(issuer))
    assert issuer.hits("jwks") == 1
    old_kid = issuer.signing[0][0]
    new_kid = issuer.rotate(keep=1)  # the JWKS now carries the new key only
    # the cache does not know the new kid: one refetch, then it verifies
    r = assume(sts, ksa_token(issuer))
    assert r["Provider"] == PROVIDER_ARN
    assert issuer.hits("discovery") == 2 and issuer.hits("jwks") == 2
    (p,) = sts.oidc_providers()
    assert p["kids"] == [new_kid]
    # a token under the retired key: refetched, still unknown, refused
    with pytest.raises(ClientError) as ei:
        assume(sts, ksa_token_with(issuer, old_kid))
    assert err(ei)[:2] == (400, "InvalidIdentityToken")
    assert issuer.hits("jwks") == 3
    # a forged signature under a known kid is refused without a fetch
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ClientError) as ei:
        assume(sts, issuer.sign(issuer.claims(KSA, OIDC_AUD), kid=new_kid, key=foreign))
    assert err(ei)[:2] == (400, "InvalidIdentityToken")
    assert issuer.hits("jwks") == 3
    # /_admin/jwks/flush drops OIDC caches too
    sts.admin("POST", "/jwks/flush")
    assume(sts, ksa_token(issuer))
    assert issuer.hits("jwks") == 4


def ksa_token_with(issuer, kid):
    return issuer.sign(issuer.claims(KSA, OIDC_AUD), kid=kid)


def test_oidc_resolve_keeps_the_port_of_the_url(sts, issuer_ca, tmp_path):
    """--resolve HOST:PORT:ADDR (curl's): an issuer URL with a port of its own."""
    with OidcIssuer(issuer_ca, "idp.gtoken.test", "", url_port=True) as iss:
        assert iss.url == f"https://idp.gtoken.test:{iss.port}"
        sts.config(oidc_ca_file=write_bundle(tmp_path / "ca.pem", issuer_ca))
        p = sts.add_oidc_provider(iss.url, [OIDC_AUD])
        assert p["arn"] == f"arn:aws:iam::123456789012:oidc-provider/idp.gtoken.test:{iss.port}"
        sts.add_role(ROLE, oidc_trust_policy(p["arn"], KSA, OIDC_AUD))
        # no entry: the name does not resolve here (and nothing asks DNS)
        with pytest.raises(ClientError) as ei:
            assume(sts, ksa_token(iss), config={"retries": {"max_attempts": 1}})
        assert err(ei)[:2] == (400, "IDPCommunicationError")
        assert "does not resolve here" in sts.calls()[-1]["idp_error"]
        sts.config(resolve=[f"idp.gtoken.test:{iss.port}:127.0.0.1"])
        assert assume(sts, ksa_token(iss))["Provider"] == p["arn"]
        assert iss.requests[0]["host"] == f"idp.gtoken.test:{iss.port}"


def test_oidc_resolver_is_loopback_only(sts):
    for key, bad in [("resolve", "idp.gtoken.test:443:10.0.0.1"),
                     ("connect_to", "idp.gtoken.test:443:192.0.2.1:8443"),
                     ("resolve", "idp.gtoken.test:443:idp.example.com"),
                     ("connect_to", "idp.gtoken.test:443:127.0.0.1"),
                     ("resolve", "idp.gtoken.test:http:127.0.0.1")]:
        r = http("POST", sts.url + "/_admin/config", {key: [bad]})
        assert r.status == 400, (key, bad)
    assert sts.config()["resolve"] == [] and sts.config()["connect_to"] == []
    ok = sts.config(resolve=["a.gtoken.test:443:127.0.0.2"],
                    connect_to=["b.gtoken.test:443:[::1]:8443"])
    assert ok["resolve"] == ["a.gtoken.test:443:127.0.0.2"]
    assert ok["connect_to"] == ["b.gtoken.test:443:[::1]:8443"]


def test_oidc_provider_admin(sts):
    for url in ["http://oidc.gtoken.test", "https://oidc.gtoken.test/", "oidc.gtoken.test",
                "https://oidc.gtoken.test/x?y=1", "https://", "https://" + "a" * 250]:
        r = http("POST", sts.url + "/_admin/oidc-providers", {"url": url, "client_ids": ["a"]})
        assert r.status == 400 and "<Code>InvalidInput</Code>" in r.text, url
    p = sts.add_oidc_provider("https://container.googleapis.com/v1/projects/p/locations/"
                              "europe-west1/clusters/c", ["sts.amazonaws.com", "sts.amazonaws.com"])
    assert p["arn"] == ("arn:aws:iam::123456789012:oidc-provider/container.googleapis.com/v1/"
                        "projects/p/locations/europe-west1/clusters/c")
    assert p["client_ids"] == ["sts.amazonaws.com"]
    r = http("POST", sts.url + "/_admin/oidc-providers", {"url": p["url"], "client_ids": []})
    assert r.status == 409 and "<Code>EntityAlreadyExists</Code>" in r.text
    q = sts.add_oidc_provider(p["url"], [], account="210987654321", partition="aws-cn")
    assert q["arn"].startswith("arn:aws-cn:iam::210987654321:oidc-provider/container.")
    assert len(sts.oidc_providers()) == 2
    assert len(sts.state()["oidc_providers"]) == 2
    sts.delete_oidc_provider(p["arn"])
    assert [x["arn"] for x in sts.oidc_providers()] == [q["arn"]]
    r = http("DELETE", sts.url + "/_admin/oidc-providers?arn=" + p["arn"])
    assert r.status == 404 and "<Code>NoSuchEntity</Code>" in r.text
    sts.reset()
    assert sts.oidc_providers() == []


def test_oidc_cli(tmp_path, issuer, issuer_ca):
    """--oidc-provider, --oidc-ca-file and --connect-to, as a process."""
    bundle = write_bundle(tmp_path / "ca.pem", issuer_ca)
    policy = tmp_path / "trust.json"
    policy.write_text(json.dumps(oidc_trust_policy(PROVIDER_ARN, KSA, OIDC_AUD)))
    s = StsStandin(in_process=False, extra_args=[
        "--oidc-provider", f"{issuer.url}={OIDC_AUD},another-client",
        "--oidc-ca-file", bundle, "--connect-to", issuer.connect_to,
        "--role", f"{ROLE}={policy}"])
    s.start()
    try:
        assert s.info["oidc_providers"] == [PROVIDER_ARN]
        (p,) = s.oidc_providers()
        assert p["client_ids"] == [OIDC_AUD, "another-client"]
        assert assume(s, ksa_token(issuer))["Provider"] == PROVIDER_ARN
    finally:
        assert s.stop() == 0
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(__file__)))
    for bad in (["--oidc-provider", "https://x.gtoken.test/"],
                ["--oidc-provider", "http://x.gtoken.test=a"],
                ["--resolve", "x.gtoken.test:443:8.8.8.8"],
                ["--oidc-ca-file", str(tmp_path / "missing.pem")]):
        r = subprocess.run([sys.executable, "-m", "standins.sts", *bad], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (bad, r.stderr)
