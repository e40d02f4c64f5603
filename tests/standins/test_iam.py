"""The IAM stand-in, driven by real boto3 and the AWS CLI (v1 from .venv, v2
from Debian's awscli) with credentials
its STS stand-in issued (AssumeRoleWithWebIdentity of a Google token)."""

import json
import os
import subprocess
import sys
import urllib.parse

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from standins.harness import (StsStandin, aws_cli_env, google_trust_policy, http, iam_admin_policy,
                              oidc_trust_policy)
from standins.iam import identity_allows, policy_size

ACCOUNT = "123456789012"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/gtoken-admin"
APP = f"arn:aws:iam::{ACCOUNT}:role/gtoken/app"
OTHER = f"arn:aws:iam::{ACCOUNT}:role/other"
ADMIN_WL = "gtoken-system/gtoken-operator"
APP_WL = "team-a/app"
AUD = "sts.amazonaws.com/gtoken-test"
ISSUER = "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER[8:]}"

ADMIN_POLICY = iam_admin_policy(ACCOUNT)


@pytest.fixture
def aws(google, aws_env):
    """STS + IAM sharing one role store; the admin and app GSAs bound to
    their workloads; the admin role trusts the admin GSA, the app role
    trusts nobody yet."""
    s = StsStandin(jwks_url=google.jwks_url, account_id=ACCOUNT, iam=True).start()
    try:
        admin = google.create_sa("gtoken-admin")
        google.bind_workload(admin["email"], ADMIN_WL)
        app = google.create_sa("app")
        google.bind_workload(app["email"], APP_WL)
        s.add_role(ADMIN, google_trust_policy(admin["uniqueId"], oaud=AUD))
        s.add_role(APP, google_trust_policy("100000000000000000000", oaud=AUD))
        s.add_role(OTHER, google_trust_policy("100000000000000000000", oaud=AUD))
        s.iam.allow(ADMIN, ADMIN_POLICY)
        yield s, admin, app
    finally:
        s.stop()


def creds(google, sts, role=ADMIN, workload=ADMIN_WL):
    c = boto3.client("sts", endpoint_url=sts.url, region_name="us-east-1",
                     aws_access_key_id="x", aws_secret_access_key="y")
    r = c.assume_role_with_web_identity(RoleArn=role, RoleSessionName="gtoken-operator",
                                        WebIdentityToken=google.identity(AUD, workload).text)
    return r["Credentials"]


def iam(sts, c, **cfg):
    opts = {"retries": {"mode": "standard", "total_max_attempts": 1}}
    opts.update(cfg)
    return boto3.client("iam", endpoint_url=sts.iam.url, region_name="us-east-1",
                        aws_access_key_id=c["AccessKeyId"],
                        aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"],
                        config=botocore.config.Config(**opts))


def err(excinfo):
    e = excinfo.value.response
    return e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Code"], e["Error"]["Message"]


def can_assume(google, sts, role=APP, workload=APP_WL):
    try:
        creds(google, sts, role, workload)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied"
        return False


# -- reads and writes ------------------------------------------------------------


def test_get_role(google, aws):
    sts, _, _ = aws
    r = iam(sts, creds(google, sts)).get_role(RoleName="app")["Role"]
    assert r["Arn"] == APP and r["RoleName"] == "app" and r["Path"] == "/gtoken/"
    assert r["RoleId"].startswith("AROA") and r["MaxSessionDuration"] == 3600
    assert r["CreateDate"].tzinfo is not None
    # botocore URL-decodes the document and parses its JSON
    assert r["AssumeRolePolicyDocument"] == google_trust_policy("100000000000000000000", oaud=AUD)
    assert sts.iam.count("iam.GetRole", APP) == 1
    assert sts.iam.calls()[-1]["caller"] == \
        f"arn:aws:sts::{ACCOUNT}:assumed-role/gtoken-admin/gtoken-operator"


def test_applied_means_works_and_a_bad_edit_fails_as_aws_would(google, aws):
    sts, _, app = aws
    client = iam(sts, creds(google, sts))
    assert not can_assume(google, sts)
    good = json.dumps(google_trust_policy(app["uniqueId"], oaud=AUD))
    client.update_assume_role_policy(RoleName="app", PolicyDocument=good)
    assert can_assume(google, sts)  # STS evaluates the stored document
    bad = json.dumps(google_trust_policy(app["uniqueId"], oaud="sts.amazonaws.com/typo"))
    client.update_assume_role_policy(RoleName="app", PolicyDocument=bad)
    assert not can_assume(google, sts)
    assert client.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == json.loads(bad)


def test_policy_text_kept_byte_for_byte_latin1_accepted_beyond_refused(google, aws):
    sts, _, app = aws
    client = iam(sts, creds(google, sts))
    policy = google_trust_policy(app["uniqueId"], oaud="équipe")
    text = json.dumps(policy, ensure_ascii=False, indent=3) + "\n"
    client.update_assume_role_policy(RoleName="app", PolicyDocument=text)
    role = [r for r in sts.state()["roles"] if r["arn"] == APP][0]
    assert role["trust_policy_text"] == text
    # on the wire: URL-encoded UTF-8 of exactly that text
    body = "Action=GetRole&Version=2010-05-08&RoleName=app"
    r = signed_post(sts, creds(google, sts), body)
    doc = r.text.split("<AssumeRolePolicyDocument>")[1].split("</")[0]
    assert urllib.parse.unquote(doc) == text and "%C3%A9" in doc
    assert client.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == policy
    # the STS stand-in reads the same document: the é is in the audience it pins
    assert not can_assume(google, sts)
    with pytest.raises(ClientError) as e:
        client.update_assume_role_policy(
            RoleName="app", PolicyDocument=json.dumps(google_trust_policy("1", oaud="€"),
                                                      ensure_ascii=False))
    assert err(e)[:2] == (400, "ValidationError")


def signed_post(sts, c, body: str, service: str = "iam"):
    """A request signed by botocore's signer but sent by hand (raw answer)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    req = AWSRequest("POST", sts.iam.url + "/", data=body.encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), service,
              "us-east-1").add_auth(req)
    return http("POST", sts.iam.url + "/", body, dict(req.headers.items()))


@pytest.mark.parametrize("document,message", [
    ("{not json", "This policy contains invalid Json"),
    ('{"Version": "2012-10-17"}', "Syntax errors in policy."),
    ('{"Version": "2013-01-01", "Statement": [{"Effect": "Allow", "Principal": "*", '
     '"Action": "sts:AssumeRole"}]}', "The policy must contain a valid version string"),
    ('{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "sts:AssumeRole"}]}',
     "Invalid effect: Maybe"),
    ('{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", '
     '"Resource": "*"}]}', "Has prohibited field Resource"),
    ('{"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}',
     "Missing required field Principal"),
    (json.dumps(oidc_trust_policy(PROVIDER, "system:serviceaccount:ns:ksa")),
     f'Invalid principal in policy: "FEDERATED":"{PROVIDER}"'),
])
def test_malformed_policy_documents(google, aws, document, message):
    sts, _, _ = aws
    with pytest.raises(ClientError) as e:
        iam(sts, creds(google, sts)).update_assume_role_policy(RoleName="app",
                                                               PolicyDocument=document)
    assert err(e) == (400, "MalformedPolicyDocument", message)


def padded_policy(size: int, whitespace: int = 0) -> str:
    """A valid trust policy of exactly `size` non-whitespace characters."""
    base = google_trust_policy("1", oaud="")
    text = json.dumps(base, separators=(",", ":"))
    pad = size - policy_size(text)
    assert pad >= 0
    base["Statement"][0]["Condition"]["StringEquals"]["accounts.google.com:oaud"] = "x" * pad
    out = json.dumps(base, separators=(",", ":"))
    assert policy_size(out) == size
    return out.replace(",", "," + " " * whitespace) if whitespace else out


def test_trust_policy_size_quota(google, aws):
    sts, _, _ = aws
    client = iam(sts, creds(google, sts))
    client.update_assume_role_policy(RoleName="app", PolicyDocument=padded_policy(2048))
    # whitespace does not count, as IAM's
    client.update_assume_role_policy(RoleName="app", PolicyDocument=padded_policy(2048, 40))
    with pytest.raises(ClientError) as e:
        client.update_assume_role_policy(RoleName="app", PolicyDocument=padded_policy(2049))
    assert err(e) == (409, "LimitExceeded", "Cannot exceed quota for ACLSizePerRole: 2048")
    sts.iam.config(trust_policy_max_chars=4096)  # a raised quota
    client.update_assume_role_policy(RoleName="app", PolicyDocument=padded_policy(2049))


def test_missing_roles_and_validation(google, aws):
    sts, _, _ = aws
    client = iam(sts, creds(google, sts))
    with pytest.raises(ClientError) as e:
        client.get_role(RoleName="nope")
    assert err(e) == (404, "NoSuchEntity", "The role with name nope cannot be found.")
    with pytest.raises(ClientError) as e:
        client.get_role(RoleName="a/b")
    assert err(e)[:2] == (400, "ValidationError")
    # a role deleted (through the shared store) is gone for IAM and STS alike
    sts.admin("DELETE", "/roles?arn=" + urllib.parse.quote(APP, safe=""))
    with pytest.raises(ClientError) as e:
        client.get_role(RoleName="app")
    assert err(e)[:2] == (404, "NoSuchEntity")
    assert not can_assume(google, sts)
    # a write is authorized first, on role/app without the path it had: the
    # administrator, allowed to write under /gtoken/ only, is refused
    with pytest.raises(ClientError) as e:
        client.update_assume_role_policy(RoleName="app", PolicyDocument=padded_policy(300))
    assert err(e)[:2] == (403, "AccessDenied")
    sts.iam.allow(ADMIN, ADMIN_POLICY + [{"Effect": "Allow", "Action": "iam:*",
                                          "Resource": APP.replace("/gtoken", "")}])
    with pytest.raises(ClientError) as e:
        client.update_assume_role_policy(RoleName="app", PolicyDocument=padded_policy(300))
    assert err(e)[:2] == (404, "NoSuchEntity")


# -- authorization of the administrator role -----------------------------------------


def test_authorization_rule(google, aws):
    sts, admin, _ = aws
    client = iam(sts, creds(google, sts))
    client.get_role(RoleName="other")  # reads anywhere
    with pytest.raises(ClientError) as e:  # writes only under /gtoken/
        client.update_assume_role_policy(RoleName="other", PolicyDocument=padded_policy(300))
    assert err(e) == (403, "AccessDenied",
                      f"User: arn:aws:sts::{ACCOUNT}:assumed-role/gtoken-admin/gtoken-operator "
                      f"is not authorized to perform: iam:UpdateAssumeRolePolicy on resource: "
                      f"{OTHER}")
    # an explicit Deny wins over the Allow
    sts.iam.allow(ADMIN, ADMIN_POLICY + [{"Effect": "Deny", "Action": "iam:Update*",
                                          "Resource": APP}])
    with pytest.raises(ClientError) as e:
        client.update_assume_role_policy(RoleName="app", PolicyDocument=padded_policy(300))
    assert err(e)[:2] == (403, "AccessDenied")
    # authorization comes before existence: no probing of role names
    sts.iam.allow(ADMIN, [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": APP}])
    with pytest.raises(ClientError) as e:
        client.get_role(RoleName="nope")
    assert err(e)[:2] == (403, "AccessDenied")
    # a role with no identity policy may do nothing
    sts.add_role(APP, google_trust_policy(admin["uniqueId"], oaud=AUD))
    app_client = iam(sts, creds(google, sts, role=APP, workload=ADMIN_WL))
    with pytest.raises(ClientError) as e:
        app_client.get_role(RoleName="app")
    assert err(e)[:2] == (403, "AccessDenied")


def test_policy_size_counts_whitespace_inside_strings_only():
    assert policy_size('{ "a" :\t[ "b c" ,\n"d" ] }') == len('{"a":["b c","d"]}')
    assert policy_size('{"a":"x\\" y"}') == len('{"a":"x\\" y"}')  # an escaped quote
    assert policy_size('{"é": "€"}') == 9  # characters, not bytes


def test_identity_policy_evaluation():
    pol = {"Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "arn:x:role/a/*"},
                         {"Effect": "Deny", "Action": "iam:GetRole", "Resource": "arn:x:role/a/b"}]}
    assert identity_allows(pol, "iam:getrole", "arn:x:role/a/c")
    assert not identity_allows(pol, "iam:GetRole", "arn:x:role/a/b")
    assert not identity_allows(pol, "iam:GetRole", "arn:x:role/A/c")  # resources are case-sensitive
    assert not identity_allows(pol, "iam:UpdateAssumeRolePolicy", "arn:x:role/a/c")
    assert not identity_allows(None, "iam:GetRole", "*")


# -- signatures --------------------------------------------------------------------------


def test_requests_must_be_signed_by_sts_issued_credentials(google, aws):
    sts, _, _ = aws
    c = creds(google, sts)
    with pytest.raises(ClientError) as e:
        iam(sts, dict(c, SecretAccessKey="wrong" + c["SecretAccessKey"][5:])).get_role(
            RoleName="app")
    assert err(e)[:2] == (403, "SignatureDoesNotMatch")
    with pytest.raises(ClientError) as e:
        iam(sts, dict(c, AccessKeyId="ASIANOTISSUED0000000")).get_role(RoleName="app")
    assert err(e)[:2] == (403, "InvalidClientTokenId")
    r = http("POST", sts.iam.url + "/", "Action=GetRole&Version=2010-05-08&RoleName=app",
             {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 403 and "<Code>MissingAuthenticationToken</Code>" in r.text
    # a signature scoped to STS is not one for IAM
    r = signed_post(sts, c, "Action=GetRole&Version=2010-05-08&RoleName=app", service="sts")
    assert r.status == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    assert "scoped to correct service: &apos;iam&apos;" in r.text or \
        "scoped to correct service: 'iam'" in r.text
    # STS's actions are not IAM's
    sts_scoped = boto3.client("sts", endpoint_url=sts.iam.url, region_name="us-east-1",
                              aws_access_key_id=c["AccessKeyId"],
                              aws_secret_access_key=c["SecretAccessKey"],
                              aws_session_token=c["SessionToken"])
    with pytest.raises(ClientError) as e:
        sts_scoped.get_caller_identity()
    assert err(e)[:2] == (400, "InvalidAction")
    sts.expire_sessions(c["AccessKeyId"])
    with pytest.raises(ClientError) as e:
        iam(sts, c).get_role(RoleName="app")
    assert err(e)[:2] == (403, "ExpiredToken")


# -- OIDC providers ------------------------------------------------------------------------


def test_oidc_providers(google, aws):
    sts, _, _ = aws
    client = iam(sts, creds(google, sts))
    thumb = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
    arn = client.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["gtoken"],
                                                 ThumbprintList=[thumb])["OpenIDConnectProviderArn"]
    assert arn == PROVIDER
    with pytest.raises(ClientError) as e:
        client.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["sts.amazonaws.com"])
    assert err(e)[:2] == (409, "EntityAlreadyExists")
    p = client.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert p["Url"] == ISSUER[8:] and p["ClientIDList"] == ["gtoken"]
    assert p["ThumbprintList"] == [thumb] and p["CreateDate"].tzinfo is not None
    client.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                     ClientID="sts.amazonaws.com")
    client.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                     ClientID="sts.amazonaws.com")  # no-op
    assert client.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == \
        ["gtoken", "sts.amazonaws.com"]
    listed = client.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert listed == [{"Arn": arn}]
    # the provider is STS's too, with the client ids it now accepts
    shared = [x for x in sts.oidc_providers() if x["arn"] == arn][0]
    assert shared["client_ids"] == ["gtoken", "sts.amazonaws.com"]
    # and a trust policy may name it now
    client.update_assume_role_policy(
        RoleName="app", PolicyDocument=json.dumps(oidc_trust_policy(arn, "system:serviceaccount:a:b")))
    missing = arn + "-not"
    with pytest.raises(ClientError) as e:
        client.get_open_id_connect_provider(OpenIDConnectProviderArn=missing)
    assert err(e) == (404, "NoSuchEntity", f"OpenIDConnect Provider not found for arn {missing}")
    with pytest.raises(ClientError) as e:
        client.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=missing,
                                                         ClientID="x")
    assert err(e)[:2] == (404, "NoSuchEntity")
    with pytest.raises(ClientError) as e:
        client.get_open_id_connect_provider(OpenIDConnectProviderArn=f"arn:aws:iam::{ACCOUNT}:role/x")
    assert err(e)[:2] == (400, "InvalidInput")
    with pytest.raises(ClientError) as e:
        client.create_open_id_connect_provider(Url="http://plain.example", ClientIDList=["a"])
    assert err(e)[:2] == (400, "InvalidInput")
    with pytest.raises(ClientError) as e:
        client.create_open_id_connect_provider(Url="https://t.example", ThumbprintList=["abc" * 14])
    assert err(e)[:2] == (400, "InvalidInput")


def test_oidc_quotas(google, aws):
    sts, _, _ = aws
    client = iam(sts, creds(google, sts))
    sts.iam.config(max_client_ids=2, max_providers=1)
    with pytest.raises(ClientError) as e:
        client.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["a", "b", "c"])
    assert err(e) == (409, "LimitExceeded",
                      "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 2")
    arn = client.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["a", "b"])[
        "OpenIDConnectProviderArn"]
    with pytest.raises(ClientError) as e:
        client.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="c")
    assert err(e)[:2] == (409, "LimitExceeded")
    with pytest.raises(ClientError) as e:
        client.create_open_id_connect_provider(Url="https://second.example", ClientIDList=["a"])
    assert err(e) == (409, "LimitExceeded",
                      "Cannot exceed quota for OpenIdConnectProvidersPerAccount: 1")


# -- faults ------------------------------------------------------------------------------------


def test_throttling_and_5xx_storms(google, aws):
    sts, _, _ = aws
    c = creds(google, sts)
    # three throttles: boto3's standard retries (4 attempts) get through
    sts.iam.fault("/", 400, count=3, code="Throttling")
    r = iam(sts, c, retries={"mode": "standard", "total_max_attempts": 4}).get_role(RoleName="app")
    assert r["Role"]["Arn"] == APP
    assert [x.get("error_code") for x in sts.iam.calls()][-4:] == \
        ["Throttling", "Throttling", "Throttling", None]
    # a storm of 500s for a while, only on writes
    sts.iam.fault("/", 500, count=None, seconds=30, endpoint="iam.UpdateAssumeRolePolicy")
    client = iam(sts, c)
    with pytest.raises(ClientError) as e:
        client.update_assume_role_policy(RoleName="app", PolicyDocument=padded_policy(300))
    assert err(e) == (500, "ServiceFailure", "The request processing has failed because of an "
                                             "unknown error, exception or failure.")
    client.get_role(RoleName="app")  # reads still work
    sts.iam.clear_faults()
    sts.iam.fault("/", 503, count=1)
    with pytest.raises(ClientError) as e:
        client.get_role(RoleName="app")
    assert err(e)[:2] == (503, "ServiceUnavailable")
    # a storm of Throttling longer than the retries
    sts.iam.fault("/", 400, count=None, seconds=30, code="Throttling")
    with pytest.raises(ClientError) as e:
        iam(sts, c, retries={"mode": "standard", "total_max_attempts": 2}).get_role(RoleName="app")
    assert err(e) == (400, "Throttling", "Rate exceeded")


def test_foreign_edit_between_read_and_write(google, aws):
    sts, _, app = aws
    client = iam(sts, creds(google, sts))
    foreign = {"Sid": "SomeoneElse", "Effect": "Allow", "Principal": {"AWS": "*"},
               "Action": "sts:AssumeRole"}
    sts.iam.foreign_edit("app", add_statement=foreign)
    read = client.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"]
    assert foreign not in read["Statement"]  # the read saw the old document
    now = client.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"]
    assert now["Statement"][-1] == foreign  # the edit landed right after it
    assert sts.iam.state()["foreign_edits"] == []  # count 1: used up
    # no etag: a write from the stale read wins, and the foreign statement is gone
    client.update_assume_role_policy(RoleName="app", PolicyDocument=json.dumps(read))
    assert foreign not in client.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"][
        "Statement"]
    # a replacement, and a deletion, between read and write
    sts.iam.foreign_edit(APP, policy=google_trust_policy(app["uniqueId"], oaud=AUD))
    client.get_role(RoleName="app")
    assert can_assume(google, sts)
    sts.iam.foreign_edit("app", delete_role=True)
    client.get_role(RoleName="app")
    with pytest.raises(ClientError) as e:
        client.get_role(RoleName="app")
    assert err(e)[:2] == (404, "NoSuchEntity")
    assert not can_assume(google, sts, role=APP)


# -- the aws CLI, as a subprocess with the web identity chain -----------------------------------


def test_aws_cli_reads_and_writes(google, aws, tmp_path):
    sts, _, app = aws
    token = tmp_path / "token"
    token.write_text(google.identity(AUD, ADMIN_WL).text)
    env = aws_cli_env(str(tmp_path), AWS_WEB_IDENTITY_TOKEN_FILE=str(token), AWS_ROLE_ARN=ADMIN,
                      AWS_ROLE_SESSION_NAME="cli", AWS_ENDPOINT_URL_STS=sts.url,
                      AWS_ENDPOINT_URL_IAM=sts.iam.url)
    aws_cli = os.path.join(os.path.dirname(sys.executable), "aws")

    def run(*args):
        out = subprocess.run([aws_cli, "iam", *args, "--output", "json"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    policy = tmp_path / "trust.json"
    policy.write_text(json.dumps(google_trust_policy(app["uniqueId"], oaud=AUD), indent=2))
    assert not can_assume(google, sts)
    run("update-assume-role-policy", "--role-name", "app", "--policy-document",
        f"file://{policy}")
    assert can_assume(google, sts)
    role = run("get-role", "--role-name", "app")["Role"]
    assert role["Arn"] == APP and role["AssumeRolePolicyDocument"] == json.loads(policy.read_text())
    arn = run("create-open-id-connect-provider", "--url", ISSUER, "--client-id-list",
              "sts.amazonaws.com")["OpenIDConnectProviderArn"]
    run("add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
        "--client-id", "gtoken")
    assert run("get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)[
        "ClientIDList"] == ["sts.amazonaws.com", "gtoken"]
    assert run("list-open-id-connect-providers")["OpenIDConnectProviderList"] == [{"Arn": arn}]
    assert {c["caller"] for c in sts.iam.calls()} == \
        {f"arn:aws:sts::{ACCOUNT}:assumed-role/gtoken-admin/cli"}


# AWS CLI v2 is Debian's awscli package (/usr/bin/aws, 2.9.19 on bookworm:
# scripts/setup.sh installs it). That release predates the
# AWS_ENDPOINT_URL_<SERVICE> variables, so it gets the STS-issued session
# as environment credentials and IAM's address as --endpoint-url; it signs
# with its own botocore for service iam in us-east-1, IAM's signing region.
AWS_CLI_V2 = "/usr/bin/aws"


def test_aws_cli_v2_reads_and_writes(google, aws, tmp_path):
    sts, _, app = aws
    version = subprocess.run([AWS_CLI_V2, "--version"], capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("aws-cli/2."), \
        version.stdout + version.stderr
    c = creds(google, sts)
    env = aws_cli_env(str(tmp_path), AWS_ACCESS_KEY_ID=c["AccessKeyId"],
                      AWS_SECRET_ACCESS_KEY=c["SecretAccessKey"],
                      AWS_SESSION_TOKEN=c["SessionToken"], AWS_PAGER="")

    def run(*args, ok=True):
        out = subprocess.run([AWS_CLI_V2, "iam", *args, "--endpoint-url", sts.iam.url,
                              "--output", "json"], env=env, capture_output=True, text=True,
                             timeout=120)
        if ok:
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout) if out.stdout.strip() else None
        assert out.returncode != 0
        return out.stderr

    doc = google_trust_policy(app["uniqueId"], oaud=AUD)
    doc["Statement"][0]["Sid"] = "CliV2"
    policy = tmp_path / "trust.json"
    policy.write_text(json.dumps(doc, indent=2))
    assert not can_assume(google, sts)
    run("update-assume-role-policy", "--role-name", "app", "--policy-document",
        f"file://{policy}")
    assert can_assume(google, sts)
    role = run("get-role", "--role-name", "app")["Role"]
    assert role["Arn"] == APP and role["Path"] == "/gtoken/"
    assert role["AssumeRolePolicyDocument"] == doc
    # IAM's error codes reach the CLI as AWS's would
    assert "NoSuchEntity" in run("get-role", "--role-name", "nobody", ok=False)
    assert "AccessDenied" in run("update-assume-role-policy", "--role-name", "other",
                                 "--policy-document", f"file://{policy}", ok=False)
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": [')
    assert "MalformedPolicyDocument" in run("update-assume-role-policy", "--role-name", "app",
                                            "--policy-document", f"file://{bad}", ok=False)
    # 2.9's service model still requires a thumbprint list (IAM has not since 2024)
    arn = run("create-open-id-connect-provider", "--url", ISSUER, "--client-id-list",
              "sts.amazonaws.com", "--thumbprint-list", "9" * 40)["OpenIDConnectProviderArn"]
    assert arn == PROVIDER
    run("add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
        "--client-id", "gtoken")
    got = run("get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert got["ClientIDList"] == ["sts.amazonaws.com", "gtoken"] and got["Url"] == ISSUER[8:]
    assert got["ThumbprintList"] == ["9" * 40]
    assert run("list-open-id-connect-providers")["OpenIDConnectProviderList"] == [{"Arn": arn}]
    callers = {x["caller"] for x in sts.iam.calls()}
    assert callers == {f"arn:aws:sts::{ACCOUNT}:assumed-role/gtoken-admin/gtoken-operator"}


def test_served_beside_the_sts_cli(google, aws_env, tmp_path):
    """python -m standins.sts --iam-port 0: one process, shared roles."""
    admin = google.create_sa("gtoken-admin")
    google.bind_workload(admin["email"], ADMIN_WL)
    policy = tmp_path / "trust.json"
    policy.write_text(json.dumps(google_trust_policy(admin["uniqueId"], oaud=AUD)))
    s = StsStandin(jwks_url=google.jwks_url, in_process=False, iam=True,
                   state_dir=str(tmp_path / "st"), extra_args=["--role", f"{ADMIN}={policy}"])
    s.start()
    try:
        assert s.info["iam_url"] == s.iam.url != s.url
        assert json.loads((tmp_path / "st" / "sts.json").read_text())["iam_port"] == s.iam.port
        s.iam.allow(ADMIN, ADMIN_POLICY)
        role = iam(s, creds(google, s)).get_role(RoleName="gtoken-admin")["Role"]
        assert role["Arn"] == ADMIN and role["Path"] == "/"
    finally:
        assert s.stop() == 0
