"""aws::sign_v4 (C++) against botocore's SigV4Auth.

    botocore_equality.py PATH/TO/aws_sign_cases [--seed N] [--random N]

Builds signing cases, signs each with botocore (its clock fixed at the
case's time) and with the C++ signer (aws_sign_cases, JSON over stdin and
stdout), and requires the same Authorization header, X-Amz-Date and
X-Amz-Security-Token for every case. The cases:

- fixed ones: IAM's calls as gtoken makes them, with form bodies holding
  non-ASCII (UTF-8) trust policies, session tokens, query strings with
  reserved characters and repeated names, dot segments and encoded bytes
  in paths, folded header whitespace, headers botocore leaves unsigned;
- random ones from a seeded generator (the seed is printed; --seed repeats
  a run);
- the requests a real boto3 IAM client sends (captured at before-send, so
  botocore's own serializer made the body), re-signed by the C++ signer.

Exit 0 when all agree; otherwise each difference with both canonical
requests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import time
from unittest import mock
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEPr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with+reserved=="
POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "GtokenGoogle", "Effect": "Allow",
    "Principal": {"Federated": "accounts.google.com"},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {"StringEquals": {"accounts.google.com:sub": "100000000000000000042",
                                   "accounts.google.com:oaud": "gtoken/équipe-東京 ☃ 😀"}}}]}
FORM_CT = "application/x-www-form-urlencoded; charset=utf-8"


def form(pairs) -> bytes:
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs).encode()


def case(**kw) -> dict:
    c = {"method": "POST", "host": "iam.amazonaws.com", "path": "/", "query": [],
         "headers": [["Content-Type", FORM_CT]], "body": b"", "access_key": "AKIDEXAMPLE",
         "secret": SECRET, "token": "", "region": "us-east-1", "service": "iam",
         "epoch": 1764651600}
    c.update(kw)
    return c


def fixed_cases() -> list[dict]:
    policy = json.dumps(POLICY, ensure_ascii=False)
    update = form([("Action", "UpdateAssumeRolePolicy"), ("Version", "2010-05-08"),
                   ("RoleName", "app"), ("PolicyDocument", policy)])
    return [
        case(name="GetRole", body=form([("Action", "GetRole"), ("Version", "2010-05-08"),
                                        ("RoleName", "my-data-uploader")])),
        case(name="UpdateAssumeRolePolicy, UTF-8 policy, session", body=update, token=TOKEN),
        case(name="policy as a raw UTF-8 JSON body", body=policy.encode(),
             headers=[["Content-Type", "application/json"]]),
        case(name="aws-cn", host="iam.cn-north-1.amazonaws.com.cn", region="cn-north-1",
             body=form([("Action", "ListOpenIDConnectProviders"), ("Version", "2010-05-08")])),
        case(name="aws-us-gov, session", host="iam.us-gov.amazonaws.com", region="us-gov-west-1",
             token=TOKEN, body=form([("Action", "GetOpenIDConnectProvider"),
                                     ("Version", "2010-05-08"),
                                     ("OpenIDConnectProviderArn",
                                      "arn:aws-us-gov:iam::123456789012:oidc-provider/a.b/c")])),
        case(name="GET query with reserved characters", method="GET", headers=[], query=[
            ["Action", "GetRole"], ["Version", "2010-05-08"], ["RoleName", "a+b=c,d.e@f-g_h"],
            ["Marker", "x y/z?&=%#[]!$'()*;:~"], ["empty", ""], ["Ünï", "日本"],
            ["dup", "2"], ["dup", "1"], ["dup", "10"]]),
        case(name="path with dot segments, spaces, percent, UTF-8", method="GET",
             path="/a/./b/../c d/%41é//e/", headers=[], service="execute-api"),
        case(name="headers folded, repeated, unsigned ones left out",
             headers=[["Content-Type", FORM_CT], ["X-Custom", "  a   b\t c  "],
                      ["x-custom", "second"], ["User-Agent", "Boto3/1"], ["Expect", "100-continue"],
                      ["X-Amzn-Trace-Id", "Root=1"], ["X-Unicode", "café €"]],
             body=b"Action=GetRole&RoleName=r&Version=2010-05-08"),
        case(name="loopback endpoint with a port (the stand-in)", host="127.0.0.1:8443",
             token=TOKEN, body=update),
        case(name="STS, another date", service="sts", region="eu-west-1",
             epoch=951782400, body=b"Action=GetCallerIdentity&Version=2011-06-15"),
        case(name="empty body, secret with reserved characters", body=b"",
             secret="s3cr+t/with=and&", method="GET", headers=[]),
    ]


ALPHABET = ("abcXYZ019-_.~ +/=&?%#[]@!$'()*,;:\"<>{}|\\^`\t" "éüß€日本東京☃😀")


def random_text(rng: random.Random, n_max: int, alphabet: str = ALPHABET) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, n_max)))


def random_cases(rng: random.Random, n: int) -> list[dict]:
    header_chars = "abcXYZ019-_.~ +/=&?%#[]@!$'()*,;:\"<>{}|^`\téü€日"
    out = []
    for i in range(n):
        method = rng.choice(["GET", "POST", "PUT", "DELETE"])
        path_chars = "abc019-_.~ +=&@!$'()*,;:/%éü€日"
        path = "/" + random_text(rng, 20, path_chars)
        query = [[random_text(rng, 8) or "k", random_text(rng, 12)]
                 for _ in range(rng.randint(0, 5))]
        headers = [[rng.choice(["X-Amz-Meta-A", "x-amz-meta-b", "X-Extra", "Content-Type"]),
                    random_text(rng, 15, header_chars).strip() or "v"]
                   for _ in range(rng.randint(0, 4))]
        body = random_text(rng, 200).encode()
        out.append(case(name=f"random {i}", method=method, path=path, query=query,
                        headers=headers, body=body,
                        token=rng.choice(["", TOKEN, "tok" + random_text(rng, 10, "abc+/=")]),
                        secret=random_text(rng, 40, "abcXYZ019+/=") or "x",
                        region=rng.choice(["us-east-1", "cn-north-1", "us-gov-west-1"]),
                        service=rng.choice(["iam", "sts"]),
                        epoch=rng.randint(946684800, 4102444800)))
    return out


def boto3_client_cases() -> list[dict]:
    """The requests botocore's IAM client really sends, via its serializer."""
    captured = []

    def before_send(request, **kw):
        captured.append(request)
        from botocore.awsrequest import AWSResponse
        return AWSResponse(request.url, 500, {}, None)  # never leaves the process

    policy = json.dumps(POLICY, ensure_ascii=False)
    when = dt.datetime(2026, 12, 2, 6, 0, 0)
    out = []
    for partition_host, region, token in (("iam.amazonaws.com", "us-east-1", TOKEN),
                                          ("iam.cn-north-1.amazonaws.com.cn", "cn-north-1", None),
                                          ("iam.us-gov.amazonaws.com", "us-gov-west-1", TOKEN)):
        client = boto3.session.Session().client(
            "iam", region_name=region, endpoint_url=f"https://{partition_host}",
            aws_access_key_id="ASIAEXAMPLE", aws_secret_access_key=SECRET,
            aws_session_token=token, config=Config(retries={"max_attempts": 1}))
        client.meta.events.register("before-send.iam", before_send)
        calls = [
            lambda: client.get_role(RoleName="app"),
            lambda: client.update_assume_role_policy(RoleName="app", PolicyDocument=policy),
            lambda: client.create_open_id_connect_provider(
                Url="https://container.googleapis.com/v1/projects/p/locations/l/clusters/c",
                ClientIDList=["sts.amazonaws.com", "gtoken é"]),
            lambda: client.add_client_id_to_open_id_connect_provider(
                OpenIDConnectProviderArn="arn:aws:iam::123456789012:oidc-provider/a/b",
                ClientID="sts.amazonaws.com"),
        ]
        for call in calls:
            captured.clear()
            with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
                try:
                    call()
                except Exception:  # the 500 we answered
                    pass
            req = captured[0]
            parts = urlsplit(req.url)
            headers = [[k, v.decode() if isinstance(v, bytes) else v]
                       for k, v in req.headers.items()]
            sent = {k.lower(): v for k, v in headers}
            signed = sent["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
            body = req.body if isinstance(req.body, bytes) else (req.body or "").encode()
            out.append({
                "name": f"boto3 iam {partition_host} {body[:40]!r}",
                "method": req.method, "host": parts.netloc, "path": parts.path,
                "query": [list(p) for p in parse_qsl(parts.query, keep_blank_values=True)],
                # botocore adds amz-sdk-*, Content-Length and User-Agent after
                # signing: the C++ signer gets the headers botocore signed
                "headers": [h for h in headers if h[0].lower() in signed
                            and h[0].lower() not in ("host", "x-amz-date",
                                                     "x-amz-security-token")],
                "body": body, "access_key": "ASIAEXAMPLE", "secret": SECRET,
                "token": token or "", "region": region, "service": "iam",
                "epoch": int(when.replace(tzinfo=dt.timezone.utc).timestamp()),
                "expected": {"authorization": sent["authorization"],
                             "amz_date": sent["x-amz-date"],
                             "security_token": sent.get("x-amz-security-token", "")}})
    return out


def botocore_sign(c: dict) -> dict:
    scheme = "https"
    url = f"{scheme}://{c['host']}{c['path']}"
    req = AWSRequest(method=c["method"], url=url, data=c["body"],
                     params=[tuple(p) for p in c["query"]] or None)
    for k, v in c["headers"]:
        req.headers.add_header(k, v) if k in req.headers else req.headers.__setitem__(k, v)
    creds = Credentials(c["access_key"], c["secret"], c["token"] or None)
    when = dt.datetime.fromtimestamp(c["epoch"], dt.timezone.utc).replace(tzinfo=None)
    signer = botocore.auth.SigV4Auth(creds, c["service"], c["region"])
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        signer.add_auth(req)
        canonical = signer.canonical_request(req)
    return {"authorization": req.headers["Authorization"], "amz_date": req.headers["X-Amz-Date"],
            "security_token": req.headers.get("X-Amz-Security-Token") or "",
            "canonical_request": canonical}


def cxx_sign(program: str, cases: list[dict]) -> list[dict]:
    wire = [{k: v for k, v in c.items() if k not in ("body", "name", "expected")}
            | {"body_hex": c["body"].hex()} for c in cases]
    r = subprocess.run([program], input=json.dumps(wire), capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        sys.exit(f"{program} failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("program", help="the aws_sign_cases binary")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--random", type=int, default=300, help="how many random cases")
    a = p.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    print(f"seed {seed}")
    cases = fixed_cases() + random_cases(random.Random(seed), a.random)
    for c in cases:
        c["expected"] = botocore_sign(c)
    cases += boto3_client_cases()
    got = cxx_sign(a.program, cases)
    bad = 0
    for c, g in zip(cases, got, strict=True):
        want = c["expected"]
        if any(g[k] != want[k] for k in ("authorization", "amz_date", "security_token")):
            bad += 1
            print(f"MISMATCH {c['name']}:\n  botocore: {want['authorization']}\n"
                  f"  C++:      {g['authorization']}\n"
                  f"  botocore canonical request:\n{want.get('canonical_request', '(not kept)')}\n"
                  f"  C++ canonical request:\n{g['canonical_request']}\n")
    with_token = sum(1 for c in cases if c["token"])
    print(f"{len(cases) - bad}/{len(cases)} signatures equal ({with_token} with a session token)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
