"""A 30-second metadata outage while the token is still valid, through the
whole chain (binding -> webhook-mutated stored pod -> agent process ->
boto3 and aws-sdk-go-v2 with the pod's env): zero SDK errors, and the agent
recovers within one retry interval of the outage's end.

The token lives 100 s so that the agent meets the outage at its refresh
time with enough validity left to ride out 30 s of failures plus its
backoff (1, 2, 4, 8, 16 s; less up to 20 % jitter).
"""

from __future__ import annotations

import time

import pytest

from chain import (ChainSetup, Boto3Loop, FileWatcher, GoLoop, log_time, sts_failures,
                   token_sha16, wait_until)

LIFETIME = 100
OUTAGE = 30


@pytest.fixture(scope="module")
def chain(cp, tmp_path_factory):
    with ChainSetup(cp, str(tmp_path_factory.mktemp("chain")), id_token_lifetime=LIFETIME,
                    max_credential_seconds=30, ns_prefix="outage") as c:
        yield c


def test_metadata_outage_while_token_valid(chain, tmp_path):
    agent = chain.agent
    (w1,) = agent.written()
    path = chain.env["AWS_WEB_IDENTITY_TOKEN_FILE"]
    watcher = FileWatcher(path, interval=0.01)
    watcher.start()
    since = chain.sts.calls()[-1]["seq"] if chain.sts.calls() else 0
    boto = Boto3Loop(chain.env, str(tmp_path / "boto3.jsonl")).start()
    go = GoLoop(chain.env, str(tmp_path / "go.jsonl"), calls=3600).start()
    try:
        due = log_time(w1) + w1["next_refresh_in_s"]
        wait_until(due - 15)
        chain.google.outage(OUTAGE, status=503)
        t_start = time.time()
        t_end = t_start + OUTAGE
        w = agent.wait_written(2, OUTAGE + 45)
        time.sleep(3)
    finally:
        b = boto.stop()
        g = go.stop()
        watcher.stop()

    recs = agent.records()
    fails = [r for r in recs if r["msg"].startswith("token refresh failed")]
    assert fails, agent.text()
    assert all(r["msg"] == "token refresh failed; keeping the current token" and
               r["level"] == "warn" and r["http_status"] == 503 for r in fails), fails
    assert not [r for r in recs if r["level"] == "error"]
    w2 = w[1]
    assert w2["recovered_after_failures"] == len(fails)
    last = fails[-1]
    assert log_time(last) <= t_end + 0.5 and log_time(w2) >= t_end - 0.5
    assert log_time(w2) - t_end <= last["retry_in_s"] + 1.0, (last, w2, t_end)
    print(f"outage: {len(fails)} failed attempts, recovered {log_time(w2) - t_end:.1f} s after "
          f"the outage (last retry interval {last['retry_in_s']:.1f} s); boto3 {len(b)} calls, "
          f"Go {len(g)} calls")

    assert watcher.bad == [] and len(watcher.tokens) == 2, watcher.bad[:3]
    assert [r for r in b if not r["ok"]] == [], [r for r in b if not r["ok"]][:3]
    assert [r for r in g if not r["ok"]] == [], [r for r in g if not r["ok"]][:3]
    assert [r for r in b if t_start <= r["t"] <= t_end], "no boto3 call during the outage"
    assert {r["arn"] for r in b} == {r["arn"] for r in g} == {chain.assumed_arn}
    assert sts_failures(chain.sts, since) == []
    used = {c["token_sha256"] for c in chain.sts.calls(since=since,
                                                       endpoint="sts.AssumeRoleWithWebIdentity")}
    assert used == {token_sha16(t) for t in watcher.tokens}
    agent.assert_no_token_in_log(watcher.tokens)
