"""The gtoken agent as a real process against the Google and STS stand-ins,
run with the command lines the webhook generates (the webhook goldens'
mutated pods: native sidecar and classic init container), no kubelet.

Covers: one-shot write, waiting in one-shot mode for a binding that comes
late, the probe, SIGTERM (asleep and mid-request), refresh with a one-minute
token while a reader hammers the file, and a 30-second metadata outage while
the token is still valid (boto3 keeps working; the agent recovers within one
retry interval). The agent's log must never contain a token.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time

import pytest

from chain import (AGENT_BIN, DEFAULT_AUDIENCE, Boto3Loop, FileWatcher, PodProcesses,
                   agent_env, golden_pod, jwt_claims, log_time, run_boto3, sdk_env,
                   sts, sts_failures, token_sha16, wait_until)  # noqa: F401 (fixture)
from standins.harness import google_trust_policy

NS, KSA = "shop", "cart"
WORKLOAD = f"{NS}/{KSA}"


# The goldens' ServiceAccounts set no region (gtoken.io/region), so the app
# would name one itself; boto3 cannot make an STS client without one.
APP_REGION = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def pod_of(golden: str, name: str = "cart-7d9f8c6b5-x2v9q") -> dict:
    pod = golden_pod(golden)
    pod["metadata"]["name"] = name  # the apiserver's name for a generateName pod
    return pod


@pytest.fixture
def gsa(google):
    """The GSA the KSA is bound to, with the Workload Identity grant."""
    sa = google.create_sa("cart")
    google.bind_workload(sa["email"], WORKLOAD)
    return sa


@pytest.fixture
def listener(google, gsa):
    """A metadata listener standing for shop/cart: the agent needs only GCE_METADATA_HOST."""
    return google.add_listener(WORKLOAD, gsa=gsa["email"])


def native(tmp_path, listener) -> PodProcesses:
    return PodProcesses(pod_of("single-container"), str(tmp_path), listener["host"])


def test_version_and_bad_flags(tmp_path):
    env = agent_env("127.0.0.1:1")
    p = subprocess.run([AGENT_BIN, "--version"], env=env, capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0 and p.stdout.startswith("gtoken"), p
    p = subprocess.run([AGENT_BIN, "--refresh", "--once", "--audience=a"], env=env,
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, p


def test_once_writes_a_token_sts_accepts(tmp_path, google, sts, gsa, listener):
    run = PodProcesses(pod_of("classic-mode"), str(tmp_path), listener["host"])
    init = run.agent("gtoken-init")
    assert "--once" in init.argv and f"--audience={DEFAULT_AUDIENCE}" in init.argv
    t0 = time.monotonic()
    init.start()
    assert init.wait(30) == 0, init.text()
    took = time.monotonic() - t0

    path = run.token_file("cart")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o644
    data = open(path, "rb").read()
    assert not data.endswith(b"\n") and data.count(b".") == 2
    claims = jwt_claims(data)
    assert claims["aud"] == DEFAULT_AUDIENCE
    assert claims["sub"] == claims["azp"] == gsa["uniqueId"]
    assert claims["email"] == gsa["email"]
    assert os.listdir(os.path.dirname(path)) == ["gtoken"], "temp file left behind"
    (rec,) = init.written()
    assert "next_refresh_in_s" not in rec
    init.assert_no_token_in_log([data])

    # The probe the native sidecar would run passes on it, without any network.
    native_run = PodProcesses(pod_of("single-container"), str(tmp_path), "127.0.0.1:1")
    assert native_run.token_file("cart") == path
    probe = native_run.probe_argv()
    assert subprocess.run(probe, env=agent_env("127.0.0.1:1"), timeout=10).returncode == 0

    # And STS takes it: the app container's env, the role trusting that GSA.
    env = run.app_env("cart")
    sts.add_role(env["AWS_ROLE_ARN"], google_trust_policy(gsa["uniqueId"], oaud=DEFAULT_AUDIENCE))
    (r,) = run_boto3(sdk_env(env, sts.url, str(tmp_path), APP_REGION))
    assert r["ok"], r
    assert r["arn"] == f"arn:aws:sts::123456789012:assumed-role/shop-cart/{NS}.{run.name}"
    print(f"once: exec -> exit {took * 1000:.0f} ms")


def test_once_waits_for_a_late_binding(tmp_path, google):
    """A pod created together with its binding: the first fetches fail (403: no
    Workload Identity grant yet); the init container keeps trying and succeeds
    once the grant exists, without being restarted."""
    sa = google.create_sa("late")
    lst = google.add_listener(WORKLOAD, gsa=sa["email"])
    run = PodProcesses(pod_of("classic-mode"), str(tmp_path), lst["host"])
    with run.agent("gtoken-init") as init:
        fails = []

        def failed():
            nonlocal fails
            fails = [r for r in init.records() if "retrying" in r["msg"]]
            return fails
        deadline = time.monotonic() + 10
        while not failed():
            assert time.monotonic() < deadline and init.alive(), init.text()
            time.sleep(0.1)
        assert fails[0]["http_status"] == 403 and fails[0]["kind"] == "config"
        assert "workloadIdentityUser" in fails[0]["hint"]
        assert fails[0]["level"] == "error"
        google.bind_workload(sa["email"], WORKLOAD)
        assert init.wait(30) == 0, init.text()
    (rec,) = init.written()
    assert rec["recovered_after_failures"] >= 1
    assert jwt_claims(open(run.token_file("cart"), "rb").read())["sub"] == sa["uniqueId"]


def test_probe_semantics(tmp_path, google, gsa):
    run = PodProcesses(pod_of("single-container"), str(tmp_path), "127.0.0.1:1")
    probe = run.probe_argv()
    assert probe[1] == "probe"
    path = run.token_file("cart")
    env = agent_env("127.0.0.1:1")  # a closed port: the probe never calls out

    def code(*extra):
        p = subprocess.run(probe + list(extra), env=env, capture_output=True, text=True,
                           timeout=10)
        return p.returncode, p.stderr

    rc, err = code()
    assert rc == 1 and '"probe failed"' in err            # missing
    open(path, "w").close()
    assert code()[0] == 1                                   # empty
    with open(path, "w") as f:
        f.write("not a token")
    assert code()[0] == 1                                   # garbage
    good = google.id_token(gsa["email"], DEFAULT_AUDIENCE)  # valid for an hour
    with open(path, "w") as f:
        f.write(good)
    rc, err = code()
    assert rc == 0 and err == ""
    assert code("--min-validity=59m")[0] == 0
    assert code("--min-validity=61m")[0] == 1               # not valid long enough
    google.config(clock_offset=-7200)
    expired = google.id_token(gsa["email"], DEFAULT_AUDIENCE)
    google.config(clock_offset=0)
    with open(path, "w") as f:
        f.write(expired)
    rc, err = code()
    assert rc == 1 and good not in err and expired.split(".")[1] not in err


def test_probe_claims_prints_the_claims_never_the_token(tmp_path, google, gsa):
    """`gtoken probe --claims`, what kubectl gtoken doctor runs in the agent
    container: the stand-in's real Google-shaped token decoded to one JSON
    line, the probe's exit code kept, the token in neither stream."""
    run = PodProcesses(pod_of("single-container"), str(tmp_path), "127.0.0.1:1")
    probe = run.probe_argv() + ["--claims"]
    path = run.token_file("cart")
    env = agent_env("127.0.0.1:1")
    good = google.id_token(gsa["email"], DEFAULT_AUDIENCE)
    with open(path, "w") as f:
        f.write(good)
    p = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    (line,) = p.stdout.splitlines()
    claims = json.loads(line)
    want = jwt_claims(good)
    for key in ("iss", "aud", "sub", "azp", "email", "exp", "iat"):
        assert claims[key] == want[key], key
    assert claims["valid"] is True and 3500 < claims["expires_in_s"] <= 3600
    for part in good.split("."):
        assert part not in p.stdout and part not in p.stderr
    # Expired: still decoded (doctor names the expiry), the probe's verdict 1.
    google.config(clock_offset=-7200)
    expired = google.id_token(gsa["email"], DEFAULT_AUDIENCE)
    google.config(clock_offset=0)
    with open(path, "w") as f:
        f.write(expired)
    p = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and json.loads(p.stdout)["valid"] is False
    # Not a token: nothing on stdout, the reason on stderr, not the bytes.
    with open(path, "w") as f:
        f.write("secret-looking-garbage")
    p = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=10)
    assert p.returncode == 1 and p.stdout == ""
    assert "not a JWT" in p.stderr and "secret-looking" not in p.stderr


def test_probe_sts_assumes_the_role_and_prints_no_credentials(tmp_path, google, sts, gsa):
    """`gtoken probe --sts`, what kubectl gtoken doctor pod --sts runs in the
    agent container: a real AssumeRoleWithWebIdentity against the STS
    stand-in with the token file; one JSON line with the assumed role, or
    STS's own Code and Message; the session's credentials and the token in
    neither stream."""
    run = PodProcesses(pod_of("single-container"), str(tmp_path), "127.0.0.1:1")
    path = run.token_file("cart")
    token = google.id_token(gsa["email"], DEFAULT_AUDIENCE)
    with open(path, "w") as f:
        f.write(token)
    role = "arn:aws:iam::123456789012:role/shop-cart"
    sts.add_role(role, google_trust_policy(gsa["uniqueId"], oaud=DEFAULT_AUDIENCE))
    probe = [AGENT_BIN, "probe", "--sts", "--file=" + path, "--role-arn=" + role,
             "--sts-endpoint=" + sts.url, "--session-name=doctor.cart"]

    def ask(*extra: str) -> tuple[subprocess.CompletedProcess, dict]:
        p = subprocess.run(probe + list(extra), env=agent_env("127.0.0.1:1"),
                           capture_output=True, text=True, timeout=20)
        (line,) = p.stdout.splitlines()
        return p, json.loads(line)

    p, got = ask()
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert got["ok"] is True
    assert got["arn"] == "arn:aws:sts::123456789012:assumed-role/shop-cart/doctor.cart"
    assert got["assumedRoleId"].endswith(":doctor.cart") and got["expiration"]
    assert got["subject"] == gsa["uniqueId"] and got["endpoint"] == sts.url
    (session,) = [s for s in sts.sessions() if s["session_name"] == "doctor.cart"]
    # The line has these keys and no other; the log is silent; the session's
    # credentials (from the in-process stand-in's own record) and the token's
    # parts appear in neither stream.
    assert set(got) == {"ok", "arn", "assumedRoleId", "expiration", "subject", "endpoint"}
    assert p.stderr == ""
    with sts.server.app.lock:
        issued = dict(sts.server.app.sessions[session["access_key_id"]])
    for secret in (issued["access_key_id"], issued["secret"], issued["token"], "AccessKeyId",
                   "SecretAccessKey", "SessionToken", *token.split(".")):
        assert secret not in p.stdout
    # The shortest session: the probe wants an answer, not credentials to use.
    assert session["expires"] - session["issued"] == pytest.approx(900, abs=2)

    # The trust policy pins another sub: STS's AccessDenied, word for word.
    sts.add_role(role, google_trust_policy("999999999999999999999", oaud=DEFAULT_AUDIENCE))
    p, got = ask()
    assert p.returncode == 1
    assert got == {"ok": False, "code": "AccessDenied", "status": 403, "endpoint": sts.url,
                   "message": "Not authorized to perform sts:AssumeRoleWithWebIdentity"}

    # A role STS refuses to parse: its ValidationError, as sent.
    p, got = ask("--role-arn=arn:aws:iam::123:role/x")
    assert p.returncode == 1 and got["code"] == "ValidationError" and got["message"]

    # Nothing listening: a transport error, not a crash.
    p, got = ask("--sts-endpoint=http://127.0.0.1:1")
    assert p.returncode == 1 and got["ok"] is False and "127.0.0.1:1" in got["error"]
    assert "code" not in got

    # No token file: said, and nothing is sent.
    os.unlink(path)
    p, got = ask()
    assert p.returncode == 1 and "cannot open" in got["error"]


def test_sigterm_exits_zero_promptly(tmp_path, google, listener):
    run = native(tmp_path, listener)
    agent = run.agent(log_path=str(tmp_path / "a1.log")).start()
    agent.wait_written(1, 10)
    time.sleep(0.2)
    rc, took = agent.stop()
    assert rc == 0 and took < 1.0, (rc, took)
    assert any(r["msg"] == "signal received; exiting" for r in agent.records())

    # Mid-request: the metadata server hangs; SIGTERM still ends it at once,
    # and the old token file is left as it was.
    before = open(run.token_file("cart"), "rb").read()
    google.latency("/computeMetadata/v1/instance/service-accounts/default/identity", 4000,
                   count=1)
    agent = run.agent(log_path=str(tmp_path / "a2.log")).start()
    time.sleep(1.0)
    rc, took = agent.stop()
    assert rc == 0 and took < 1.0, (rc, took, agent.text())
    assert any(r["msg"] == "exiting with a request in flight" for r in agent.records())
    assert open(run.token_file("cart"), "rb").read() == before
    assert os.listdir(os.path.dirname(run.token_file("cart"))) == ["gtoken"]
    print(f"SIGTERM -> exit: {took * 1000:.0f} ms mid-request")


def refresh_dues(written: list[dict]) -> list[float]:
    return [log_time(r) + r["next_refresh_in_s"] for r in written]


def test_refresh_one_minute_tokens_reader_never_sees_a_partial_file(tmp_path, google, listener):
    lifetime = 60
    google.config(id_token_lifetime=lifetime)
    run = native(tmp_path, listener)
    path = run.token_file("cart")
    dues: list[float] = []
    watcher = FileWatcher(path, busy=lambda: any(d - 0.3 <= time.time() <= d + 1.5
                                                 for d in dues))
    watcher.start()
    mtimes = []
    try:
        with run.agent() as agent:
            assert "--refresh" in agent.argv
            deadline = time.monotonic() + 3 * lifetime
            written: list[dict] = []
            while len(written) < 3:  # the first token and two refreshes
                assert time.monotonic() < deadline and agent.alive(), agent.text()
                w = agent.written()
                if len(w) > len(written):
                    written = w
                    dues[:] = refresh_dues(written)
                    mtimes.append(os.stat(path).st_mtime)
                time.sleep(0.05)
            rc, _ = agent.stop()
            assert rc == 0
    finally:
        watcher.stop()

    assert watcher.bad == [], watcher.bad[:5]
    assert watcher.reads > 1000 and len(watcher.tokens) == 3, (watcher.reads, len(watcher.tokens))
    exps = [jwt_claims(t)["exp"] for t in watcher.tokens]
    assert exps == sorted(exps) and len(set(exps)) == 3
    assert len(set(mtimes)) == 3
    for prev, cur in zip(written, written[1:]):
        # Refreshed at 50-60 % of the lifetime, i.e. with 40-50 % still left.
        assert 0.5 * lifetime - 1.5 <= prev["next_refresh_in_s"] <= 0.6 * lifetime + 0.5, prev
        left = jwt_claims(watcher.tokens[written.index(prev)])["exp"] - log_time(cur)
        assert left >= 0.35 * lifetime, (prev, cur, left)
    assert not [r for r in agent.records() if r["level"] in ("warn", "error")]
    agent.assert_no_token_in_log(watcher.tokens)
    assert os.listdir(os.path.dirname(path)) == ["gtoken"]


def test_metadata_outage_while_token_valid(tmp_path, google, sts, gsa, listener):
    """A 30 s metadata outage spanning the refresh time: the file keeps the
    still-valid token, boto3 (re-reading the file on every call) sees no error,
    and the agent's first attempt after the outage succeeds."""
    lifetime, outage = 100, 30
    google.config(id_token_lifetime=lifetime)
    sts.config(max_credential_seconds=60)  # < 15 min: botocore re-assumes on every call
    run = native(tmp_path, listener)
    env = run.app_env("cart")
    sts.add_role(env["AWS_ROLE_ARN"], google_trust_policy(gsa["uniqueId"], oaud=DEFAULT_AUDIENCE))
    path = run.token_file("cart")
    watcher = FileWatcher(path, interval=0.01)
    with run.agent() as agent:
        (w1,) = agent.wait_written(1, 10)
        watcher.start()
        loop = Boto3Loop(sdk_env(env, sts.url, str(tmp_path), APP_REGION),
                         str(tmp_path / "boto3.jsonl"))
        with loop:
            due = log_time(w1) + w1["next_refresh_in_s"]
            # Begin 15 s before the refresh is due: the agent then meets 15 s
            # of outage and its backoff (1, 2, 4, 8, 16 s) reaches past the end.
            wait_until(due - 15)
            google.outage(outage, status=503)
            t_start = time.time()
            t_end = t_start + outage
            w = agent.wait_written(2, outage + 45)
            time.sleep(3)
            results = loop.stop()
        watcher.stop()
        rc, _ = agent.stop()
    assert rc == 0

    recs = agent.records()
    fails = [r for r in recs if r["msg"].startswith("token refresh failed")]
    assert fails, agent.text()
    assert all(r["msg"] == "token refresh failed; keeping the current token" and
               r["level"] == "warn" and r["http_status"] == 503 for r in fails), fails
    assert not [r for r in recs if r["level"] == "error"]
    w2 = w[1]
    assert w2["recovered_after_failures"] == len(fails)
    # Recovery within one retry interval of the outage's end: the attempt
    # scheduled by the last failure is the one that succeeds.
    last = fails[-1]
    assert log_time(last) <= t_end + 0.5
    assert log_time(w2) >= t_end - 0.5
    assert log_time(w2) - t_end <= last["retry_in_s"] + 1.0, (last, w2, t_end)
    print(f"outage: {len(fails)} failed attempts, recovered {log_time(w2) - t_end:.1f} s "
          f"after the outage (last retry interval {last['retry_in_s']:.1f} s)")

    assert watcher.bad == [] and len(watcher.tokens) == 2
    errors = [r for r in results if not r["ok"]]
    assert not errors, errors[:3]
    assert len(results) >= outage + 10
    assert [r for r in results if t_start <= r["t"] <= t_end], "no SDK call during the outage"
    assert sts_failures(sts) == []
    used = {c.get("token_sha256") for c in sts.calls(endpoint="sts.AssumeRoleWithWebIdentity")}
    assert used == {token_sha16(t) for t in watcher.tokens}, "the SDK did not use both tokens"
    agent.assert_no_token_in_log(watcher.tokens)


def test_iam_path_once_never_logs_either_token(tmp_path, google, gsa, listener):
    """--gcp-service-account: an access token from the metadata server, then IAM
    Credentials generateIdToken for the named GSA (the seed's way). Neither
    the access token nor the ID token shows up in the log."""
    target = google.create_sa("target")
    google.add_member(target["email"], "roles/iam.serviceAccountTokenCreator",
                      f"serviceAccount:{gsa['email']}")
    run = PodProcesses(pod_of("classic-mode"), str(tmp_path), listener["host"])
    init = run.agent("gtoken-init", extra_args=[f"--gcp-service-account={target['email']}",
                                                f"--iam-endpoint={google.url}"])
    init.start()
    assert init.wait(30) == 0, init.text()
    data = open(run.token_file("cart"), "rb").read()
    claims = jwt_claims(data)
    assert claims["sub"] == target["uniqueId"] and claims["aud"] == DEFAULT_AUDIENCE
    assert google.count("iamcredentials.generateIdToken") == 1
    init.assert_no_token_in_log([data])
    assert "ya29." not in init.text()
