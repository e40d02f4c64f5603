"""The whole chain with real AWS SDKs: apply an AwsRoleBinding, gtoken-operator
reconciles it, a pod created under its KSA is mutated by the webhook, and
the STORED pod's agent container (command and args) runs as a process with
its volume remapped to a temp dir; then boto3, the AWS CLI (v1, from PyPI)
and aws-sdk-go-v2 run with exactly the app container's env plus
AWS_ENDPOINT_URL_STS, against the STS stand-in whose role trusts exactly
the binding's status.awsTrustPolicy.

Token lifetime is one minute (Google stand-in id_token_lifetime=60) and STS
credentials live 30 s (max_credential_seconds=30), so the soak test sees
the token file replaced and credentials expire several times.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from chain import (ChainSetup, FileWatcher, GoLoop, Boto3Loop, PodProcesses, jwt_claims,
                   run_aws_cli, run_boto3, run_gosdk, sdk_env, sts_failures, token_sha16)

DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
LIFETIME = 60


@pytest.fixture(scope="module")
def chain(cp, tmp_path_factory):
    with ChainSetup(cp, str(tmp_path_factory.mktemp("chain")), id_token_lifetime=LIFETIME,
                    max_credential_seconds=30) as c:
        yield c


def test_stored_pod_carries_agent_env_and_volume(chain):
    pod = chain.pod
    agent = chain.run.agent_container()
    init_names = [c["name"] for c in pod["spec"].get("initContainers", [])]
    if chain.cp.native_sidecars_auto():
        # apiserver >= 1.33 (--native-sidecars=auto): a native sidecar
        # (restartable init container) with a startup probe.
        assert agent in pod["spec"]["initContainers"] and agent["restartPolicy"] == "Always"
        assert agent["startupProbe"]["exec"]["command"][:2] == ["/gtoken", "probe"]
        assert "gtoken-init" not in init_names
    else:
        # Older apiserver (scripts/compat.sh): auto picks the classic pair, a
        # one-shot init container gtoken-init first, the agent a plain sidecar.
        assert init_names[0] == "gtoken-init" and "gtoken" not in init_names, init_names
        init = chain.run.agent_container("gtoken-init")
        assert "restartPolicy" not in init and "--once" in init["args"]
        assert agent in pod["spec"]["containers"] and "restartPolicy" not in agent
        assert "startupProbe" not in agent
    argv = agent.get("command", []) + agent.get("args", [])
    assert argv[0] == "/gtoken" and "--refresh" in argv
    assert f"--audience={chain.audience}" in argv
    assert chain.trust["Statement"][0]["Condition"]["StringEquals"][
        "accounts.google.com:oaud"] == chain.audience
    vol = next(v for v in pod["spec"]["volumes"] if v["name"] ==
               agent["volumeMounts"][0]["name"])
    assert vol["emptyDir"]["medium"] == "Memory"
    env = chain.run.env(chain.run.container("app"))
    assert env["AWS_ROLE_ARN"] == chain.role
    assert env["AWS_ROLE_SESSION_NAME"] == chain.session_name
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == chain.region
    assert env["AWS_WEB_IDENTITY_TOKEN_FILE"].startswith(agent["volumeMounts"][0]["mountPath"])
    # The remapped file is the agent's, and it holds a token for the binding's GSA.
    path = chain.env["AWS_WEB_IDENTITY_TOKEN_FILE"]
    assert path.startswith(chain.root)
    claims = jwt_claims(open(path, "rb").read())
    assert claims["sub"] == chain.binding["status"]["gcpServiceAccountUniqueId"]
    assert claims["aud"] == chain.audience


def test_startup_probe_passes(chain, tmp_path):
    if chain.cp.native_sidecars_auto():
        p = subprocess.run(chain.run.probe_argv(), env={"PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, p.stderr
        return
    # Classic pair: no probe; what holds the app back is gtoken-init, which
    # must write a token and exit 0 (run here with its file moved aside).
    path = str(tmp_path / "init-token")
    init = chain.run.agent("gtoken-init", replace_args={"--file=": f"--file={path}"})
    init.start()
    assert init.wait(30) == 0, init.text()
    assert jwt_claims(open(path, "rb").read())["aud"] == chain.audience


def test_boto3_get_caller_identity(chain):
    since = chain.sts.calls()[-1]["seq"] if chain.sts.calls() else 0
    (r,) = run_boto3(chain.env)
    assert r["ok"], r
    assert r["arn"] == chain.assumed_arn
    assert r["account"] == "123456789012"
    calls = chain.sts.calls(since=since, endpoint="sts.AssumeRoleWithWebIdentity")
    assert calls and all(c["status"] == 200 for c in calls)
    assert {c["session_name"] for c in calls} == {chain.session_name}
    assert {c["token_sub"] for c in calls} == {chain.gsa["uniqueId"]}


def test_aws_cli_get_caller_identity(chain):
    p = run_aws_cli(chain.env, "sts", "get-caller-identity", "--output", "json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Arn"] == chain.assumed_arn


def test_go_sdk_get_caller_identity(chain):
    rc, (r,), err = run_gosdk(chain.env)
    assert rc == 0 and r["ok"], (r, err)
    assert r["arn"] == chain.assumed_arn


def assert_denied(env):
    (b,) = run_boto3(env)
    assert not b["ok"]
    assert b["code"] == "AccessDenied" and b["message"] == DENIED, b
    assert b["operation"] == "AssumeRoleWithWebIdentity"
    rc, (g,), _ = run_gosdk(env)
    assert rc == 1 and g["code"] == "AccessDenied" and g["message"] == DENIED, g
    p = run_aws_cli(env, "sts", "get-caller-identity")
    assert p.returncode != 0
    assert f"(AccessDenied) when calling the AssumeRoleWithWebIdentity operation: {DENIED}" \
        in p.stderr, p.stderr


def test_token_for_another_audience_is_denied(chain, tmp_path):
    """The pod's own GSA, but a token minted for an audience the trust policy
    does not pin (oaud)."""
    path = str(tmp_path / "other-aud")
    agent = chain.run.agent(log_path=str(tmp_path / "agent.log"),
                            replace_args={"--audience=": "--audience=sts.amazonaws.com",
                                          "--file=": f"--file={path}",
                                          "--refresh": "--once"})
    agent.start()
    assert agent.wait(30) == 0, agent.text()
    assert jwt_claims(open(path, "rb").read())["aud"] == "sts.amazonaws.com"
    assert_denied(dict(chain.env, AWS_WEB_IDENTITY_TOKEN_FILE=path))
    (call,) = [c for c in chain.sts.calls(endpoint="sts.AssumeRoleWithWebIdentity")
               if c.get("token_aud") == "sts.amazonaws.com"][-1:]
    assert call["status"] == 403


def test_gsa_not_in_trust_policy_is_denied(chain, tmp_path):
    """Right audience, but a token of another GSA: a pod of another KSA (bound
    to that GSA) pointing at this role."""
    other = chain.google.create_sa("intruder")
    workload = f"{chain.ns}/other-ksa"
    chain.google.bind_workload(other["email"], workload)
    lst = chain.google.add_listener(workload, gsa=other["email"])
    run = PodProcesses(chain.pod, str(tmp_path), lst["host"])
    agent = run.agent(replace_args={"--refresh": "--once"})
    agent.start()
    assert agent.wait(30) == 0, agent.text()
    path = run.token_file("app")
    assert jwt_claims(open(path, "rb").read())["sub"] == other["uniqueId"]
    assert_denied(sdk_env(run.app_env("app"), chain.sts.url, str(tmp_path)))


def test_sdks_keep_working_across_token_refreshes_and_credential_expiry(chain, tmp_path):
    """boto3 and aws-sdk-go-v2 call every second while the agent replaces the
    one-minute token three times; boto3 re-assumes on every call (30 s
    credentials are under its 15-minute refresh window), Go when its cached
    credentials expire. Zero errors, and no failed STS call behind them."""
    since = chain.sts.calls()[-1]["seq"]
    n0 = len(chain.agent.written())
    t0 = time.time()
    watcher = FileWatcher(chain.env["AWS_WEB_IDENTITY_TOKEN_FILE"], interval=0.01)
    watcher.start()
    boto = Boto3Loop(chain.env, str(tmp_path / "boto3.jsonl")).start()
    go = GoLoop(chain.env, str(tmp_path / "go.jsonl"), calls=3600).start()
    try:
        chain.agent.wait_written(n0 + 3, 3 * 0.6 * LIFETIME + 20)
        time.sleep(3)
    finally:
        b = boto.stop()
        g = go.stop()
        watcher.stop()
    took = time.time() - t0
    assert watcher.bad == [] and len(watcher.tokens) == 4, (watcher.bad[:3], len(watcher.tokens))
    chain.agent.assert_no_token_in_log(watcher.tokens)

    assert [r for r in b if not r["ok"]] == [], [r for r in b if not r["ok"]][:3]
    assert [r for r in g if not r["ok"]] == [], [r for r in g if not r["ok"]][:3]
    # About one call a second each (a loaded machine stretches Go's sleep-then-call loop).
    assert len(b) >= 0.8 * took and len(g) >= 0.8 * took, (len(b), len(g), took)
    assert {r["arn"] for r in b} == {r["arn"] for r in g} == {chain.assumed_arn}
    assert sts_failures(chain.sts, since) == []

    assumes = chain.sts.calls(since=since, endpoint="sts.AssumeRoleWithWebIdentity")
    tokens = {c["token_sha256"] for c in assumes}
    assert tokens == {token_sha16(t) for t in watcher.tokens}, "the SDKs did not use every token"
    go_keys = {r["akid"] for r in g}
    assert len(go_keys) >= 3, f"Go's credentials expired and were renewed {len(go_keys)} times"
    expired = [s for s in chain.sts.sessions() if s["expired"]]
    assert len(expired) >= 3
    print(f"soak {took:.0f} s: boto3 {len(b)} calls, Go {len(g)} calls "
          f"({len(go_keys)} credential sets), {len(assumes)} AssumeRoleWithWebIdentity, "
          f"{len(tokens)} tokens")
    assert os.listdir(os.path.dirname(chain.env["AWS_WEB_IDENTITY_TOKEN_FILE"])) == ["gtoken"]
