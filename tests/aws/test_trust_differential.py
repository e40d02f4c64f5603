"""gtoken's C++ trust-policy evaluator (aws/trust_evaluation, through
trust_driver) against the STS stand-in's (standins.sts.evaluate_trust):
the same cases must get the same answer.

- trust_cases.json: named cases (issue #12's among them) with the expected
  answer, which both must give; the C++ side also its outcome and the
  failing claims.
- Generated cases (a fixed seed): policies and tokens drawn from the
  operators, keys and values both support; only agreement is required.
- Plans: the C++ planner's documents, evaluated by the stand-in for each
  binding's token: what gtoken would write works at STS. On generated
  hand-made documents, the planner keeps every foreign statement byte for
  byte, is idempotent, and removes all of its own.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests/ -> the `standins` package

from standins.sts import GOOGLE_PROVIDER, evaluate_trust, google_context, oidc_context  # noqa: E402

DRIVER = os.environ.get("GTOKEN_AWS_TRUST_DRIVER", "")
CASES = json.load(open(os.path.join(HERE, "trust_cases.json")))
D = CASES["defaults"]


def expand(v):
    """$name placeholders of trust_cases.json."""
    if isinstance(v, str):
        if v == "$google_policy":
            return {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Federated": GOOGLE_PROVIDER},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"accounts.google.com:sub": D["gsa"],
                                               "accounts.google.com:aud": D["gsa"],
                                               "accounts.google.com:oaud": D["audience"]}}}]}
        if v == "$kubernetes_policy":
            return {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Federated": D["provider_arn"]},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    D["key_prefix"] + ":sub": "system:serviceaccount:jobs:uploader",
                    D["key_prefix"] + ":aud": "sts.amazonaws.com"}}}]}
        if v == "$google_token":
            return {"iss": "https://accounts.google.com", "sub": D["gsa"], "azp": D["gsa"],
                    "aud": D["audience"], "email": "uploader@p.iam.gserviceaccount.com"}
        if v == "$kubernetes_token":
            return {"iss": "https://" + D["key_prefix"], "sub": "system:serviceaccount:jobs:uploader",
                    "aud": ["sts.amazonaws.com"]}
        if v == "google":
            return GOOGLE_PROVIDER
        for name in ("gsa", "audience", "provider_arn", "key_prefix"):
            v = v.replace("$" + name, D[name])
        return v
    if isinstance(v, list):
        return [expand(x) for x in v]
    if isinstance(v, dict):
        return {expand(k): expand(x) for k, x in v.items()}
    return v


def policy_text(case) -> str:
    return case["policy_text"] if "policy_text" in case else json.dumps(expand(case["policy"]))


def python_allows(text: str, provider: str, claims: dict) -> bool:
    """The stand-in's answer, with its own mapping of claims to keys."""
    if provider == GOOGLE_PROVIDER:
        context = google_context(claims)
    else:
        context = oidc_context(provider.split(":oidc-provider/", 1)[1], claims)
    return evaluate_trust(json.loads(text), provider, context)[0]


def run_driver(requests: list[dict]) -> list[dict]:
    if not DRIVER:
        pytest.fail("GTOKEN_AWS_TRUST_DRIVER is not set (ctest sets it to build/tests/aws/aws_trust_driver)")
    out = subprocess.run([DRIVER], input="".join(json.dumps(r) + "\n" for r in requests),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == len(requests)
    return answers


def evaluate_requests(cases):
    return [{"op": "evaluate", "policy": c["text"], "provider": c["provider"],
             "claims": c["claims"]} for c in cases]


@pytest.fixture(scope="module")
def named():
    cases = [{"name": c["name"], "text": policy_text(c), "provider": expand(c["provider"]),
              "claims": expand(c["claims"]), "expect": c["expect"]} for c in CASES["evaluate"]]
    return cases, run_driver(evaluate_requests(cases))


@pytest.mark.parametrize("i", range(len(CASES["evaluate"])),
                         ids=[c["name"] for c in CASES["evaluate"]])
def test_named_case(named, i):
    cases, answers = named
    case, cpp = cases[i], answers[i]
    assert "error" not in cpp, cpp
    want = case["expect"]
    assert python_allows(case["text"], case["provider"], case["claims"]) == want["allowed"]
    assert cpp["allowed"] == want["allowed"], cpp["message"]
    assert cpp["outcome"] == want["outcome"], cpp["message"]
    if "failing" in want:
        assert cpp["failing"] == want["failing"], cpp["message"]


# -- generated cases -----------------------------------------------------------

GSA = ["111", "222", "1*"]
AUDS = ["gtoken/sts/a", "gtoken/sts/b", "https://other.example.com"]
KSAS = ["system:serviceaccount:jobs:uploader", "system:serviceaccount:web:api"]
PREFIX = D["key_prefix"]
ARN = D["provider_arn"]
OPS = ["StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "StringEqualsIgnoreCase",
       "StringNotEqualsIgnoreCase", "StringEqualsIfExists", "StringNotLikeIfExists",
       "ForAnyValue:StringEquals", "ForAllValues:StringEquals", "ForAnyValue:StringNotLike",
       "ForAllValues:StringLike", "ForAllValues:StringNotEquals", "Null", "NumericEquals", "Bool",
       "ForAnyValue:Null", "StringLikeIfExists"]
ACTIONS = ["sts:AssumeRoleWithWebIdentity", "sts:*", "sts:AssumeRoleWith*", "*", "sts:AssumeRole",
           "STS:assumerolewithwebidentity", "sts:AssumeRoleWithWebIdentit?", "sts:Tag*"]


def gen_value(rng: random.Random, key: str) -> str:
    claim = key.rsplit(":", 1)[1].lower()
    pool = {"sub": GSA + KSAS + ["system:serviceaccount:jobs:*", "?22"],
            "aud": GSA + AUDS + ["sts.amazonaws.com", "sts.*"],
            "oaud": AUDS + ["gtoken/*", "GTOKEN/STS/A", "gtoken/sts/?"],
            "email": ["a@example.com"]}[claim]
    return rng.choice(pool)


def gen_statement(rng: random.Random) -> dict:
    st: dict = {"Effect": rng.choice(["Allow", "Allow", "Deny"])}
    principal = rng.choice(["*", {"Federated": GOOGLE_PROVIDER}, {"Federated": ARN},
                            {"Federated": [GOOGLE_PROVIDER, ARN]}, {"AWS": "*"},
                            {"Service": "ec2.amazonaws.com"}])
    st["NotPrincipal" if rng.random() < 0.1 else "Principal"] = principal
    actions = rng.sample(ACTIONS, rng.choice([1, 1, 2]))
    st["NotAction" if rng.random() < 0.1 else "Action"] = actions[0] if len(actions) == 1 else actions
    cond: dict = {}
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        op = rng.choice(OPS)
        prefix = rng.choice(["accounts.google.com", PREFIX, "Accounts.Google.Com"])
        key = prefix + ":" + rng.choice(["sub", "aud", "oaud", "email", "SUB"])
        if op.endswith("Null"):
            value = rng.choice(["true", "false"])
        else:
            n = rng.choice([1, 1, 2])
            values = [gen_value(rng, key) for _ in range(n)]
            value = values[0] if n == 1 else values
        cond.setdefault(op, {})[key] = value
    if cond:
        st["Condition"] = cond
    return st


def gen_case(rng: random.Random) -> dict:
    statements = [gen_statement(rng) for _ in range(rng.choice([1, 1, 2, 3]))]
    policy = {"Version": "2012-10-17",
              "Statement": statements[0] if len(statements) == 1 and rng.random() < 0.3
              else statements}
    if rng.random() < 0.6:
        provider = GOOGLE_PROVIDER
        sub = rng.choice(GSA[:2])
        aud = rng.choice(AUDS) if rng.random() < 0.8 else rng.sample(AUDS, 2)
        claims = {"sub": sub, "aud": aud}
        if rng.random() < 0.8:
            claims["azp"] = sub
    else:
        provider = ARN
        claims = {"sub": rng.choice(KSAS),
                  "aud": rng.choice(["sts.amazonaws.com", ["sts.amazonaws.com", "x"], "x"])}
    return {"text": json.dumps(policy, indent=rng.choice([None, 2])), "provider": provider,
            "claims": claims}


def test_generated_cases_agree():
    rng = random.Random(12)
    cases = [gen_case(rng) for _ in range(1500)]
    answers = run_driver(evaluate_requests(cases))
    disagree = []
    allowed = 0
    for case, cpp in zip(cases, answers):
        assert "error" not in cpp, (case, cpp)
        py = python_allows(case["text"], case["provider"], case["claims"])
        allowed += py
        if py != cpp["allowed"]:
            disagree.append((case, cpp["message"], py))
    assert not disagree, f"{len(disagree)} of {len(cases)} disagree, first: {disagree[0]}"
    # The generator must exercise both answers, or agreement says little.
    assert 0.1 * len(cases) < allowed < 0.9 * len(cases), allowed


# -- plans -----------------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(CASES["plan"])), ids=[c["name"] for c in CASES["plan"]])
def test_plan_works_at_the_standin(i):
    case = CASES["plan"][i]
    text = policy_text(case)
    grants = expand(case["grants"])
    plan = run_driver([{"op": "plan", "policy": text, "grants": grants}])[0]
    assert plan["outcome"] in ("Update", "Unchanged"), plan
    again, removed = run_driver([{"op": "plan", "policy": plan["document"], "grants": grants},
                                 {"op": "plan", "policy": plan["document"], "grants": []}])
    assert again["outcome"] == "Unchanged" and again["document"] == plan["document"]
    verdicts = run_driver(evaluate_requests(
        [{"text": plan["document"], "provider": expand(t["provider"]), "claims": expand(t["claims"])}
         for t in case["tokens"]]))
    for t, cpp in zip(case["tokens"], verdicts):
        provider, claims = expand(t["provider"]), expand(t["claims"])
        assert python_allows(plan["document"], provider, claims) == t["allowed"], (t, plan["document"])
        assert cpp["allowed"] == t["allowed"], cpp["message"]
    # Removing every binding leaves nothing of theirs that STS would accept.
    for t in case["tokens"]:
        assert not python_allows(removed["document"], expand(t["provider"]), expand(t["claims"]))


def gen_grants(rng: random.Random) -> list[dict]:
    grants = []
    for _ in range(rng.choice([0, 1, 2, 3, 5])):
        if rng.random() < 0.6:
            grants.append({"provider": GOOGLE_PROVIDER, "subject": rng.choice(["111", "222", "333"]),
                           "audience": rng.choice(AUDS[:2])})
        else:
            grants.append({"provider": ARN, "subject": rng.choice(KSAS),
                           "audience": rng.choice(["sts.amazonaws.com", "other"])})
    return grants


def gen_document(rng: random.Random) -> tuple[str, list[str]]:
    """A hand-made document: its foreign statements' texts, each formatted
    its own way, joined with odd white space."""
    texts = []
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        st = gen_statement(rng)
        if rng.random() < 0.3:
            st = {k: st[k] for k in reversed(list(st))}
        texts.append(json.dumps(st, indent=rng.choice([None, 1, 4]),
                                separators=rng.choice([None, (",", ":"), (" ,", " : ")]),
                                ensure_ascii=rng.random() < 0.5))
    ws = ["", " ", "\n", "\n    ", "\t", "\r\n  "]
    if len(texts) == 1 and rng.random() < 0.3:
        statement = texts[0]  # a lone statement object
    else:
        statement = ("[" + rng.choice(ws)
                     + ("," + rng.choice(ws)).join(texts) + rng.choice(ws) + "]")
    doc = ("{" + rng.choice(ws) + '"Version":' + rng.choice(ws) + '"2012-10-17",' + rng.choice(ws)
           + '"Statement":' + rng.choice(ws) + statement + rng.choice(ws) + "}" + rng.choice(ws))
    return doc, texts


def test_generated_plans_keep_foreign_statements_and_work_at_the_standin():
    rng = random.Random(1212)
    docs, grant_sets = [], []
    for _ in range(300):
        docs.append(gen_document(rng))
        grant_sets.append(gen_grants(rng))
    plans = run_driver([{"op": "plan", "policy": d, "grants": g}
                        for (d, _), g in zip(docs, grant_sets)])
    follow = []
    for (doc, texts), grants, plan in zip(docs, grant_sets, plans):
        assert "error" not in plan, (doc, plan)
        out = plan["document"]
        # Every foreign statement is there, byte for byte and in its order.
        at = 0
        for t in texts:
            found = out.find(t, at)
            assert found >= 0, (doc, out)
            at = found + len(t)
        assert len(json.loads(out)["Statement"] if isinstance(json.loads(out)["Statement"], list)
                   else [1]) == len(texts) + len(plan["sids"])
        follow.append({"op": "plan", "policy": out, "grants": grants})
        follow.append({"op": "plan", "policy": out, "grants": []})
    answers = run_driver(follow)
    checks = []
    for i, ((doc, texts), grants, plan) in enumerate(zip(docs, grant_sets, plans)):
        again, removed = answers[2 * i], answers[2 * i + 1]
        assert again["outcome"] == "Unchanged", (doc, grants)
        if texts and not grants:
            assert plan["outcome"] == "Unchanged" and plan["document"] == doc
        if texts:
            # Merged, then removed: nothing of gtoken's is left.
            assert removed["sids"] == [], removed
        else:
            assert removed["sids"] == ["GtokenManagedNone"], removed
        for g in grants:
            claims = {"sub": g["subject"], "aud": g["audience"]}
            if g["provider"] == GOOGLE_PROVIDER:
                claims["azp"] = g["subject"]
            checks.append((plan["document"], g["provider"], claims))
    # The stand-in and gtoken agree on every binding's token against what
    # the planner wrote; where no foreign Deny intervenes, it is let in.
    verdicts = run_driver(evaluate_requests(
        [{"text": d, "provider": p, "claims": c} for d, p, c in checks]))
    denied = 0
    for (d, p, c), cpp in zip(checks, verdicts):
        assert python_allows(d, p, c) == cpp["allowed"], (d, p, c, cpp["message"])
        if cpp["outcome"] == "ExplicitDeny":
            denied += 1
        else:
            assert cpp["allowed"], (d, p, c, cpp["message"])
    assert denied < len(checks) / 2
