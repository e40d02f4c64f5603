"""Both stand-ins as subprocesses, the way e2e tests and people run them."""

import json
import os
import signal
import subprocess
import sys

import boto3

from standins.harness import TESTS_DIR, GoogleStandin, StsStandin, google_trust_policy, http


def test_google_cli_seed_and_sigterm(tmp_path):
    seed = {
        "service_accounts": [
            {"account_id": "app", "unique_id": "100000000000000000042", "display_name": "App",
             "policy": {"bindings": [{"role": "roles/iam.workloadIdentityUser",
                                      "members": ["serviceAccount:p1.svc.id.goog[ns/ksa]"]}]}},
            {"account_id": "op", "key": True},
        ],
        "instance_sa": "op@p1.iam.gserviceaccount.com",
        "config": {"id_token_lifetime": 600},
    }
    (tmp_path / "seed.json").write_text(json.dumps(seed))
    state = tmp_path / "state"
    g = GoogleStandin(project="p1", in_process=False, state_dir=str(state),
                      extra_args=["--seed", str(tmp_path / "seed.json"), "--sa", "extra:100000000000000000043",
                                  "--workload-listener", "ns/ksa"])
    g.start()
    try:
        assert g.info["name"] == "google" and g.info["port"] == g.port
        assert g.info["metadata_host"] == f"127.0.0.1:{g.port}"
        assert (state / "google.port").read_text().strip() == str(g.port)
        assert json.loads((state / "google.json").read_text())["port"] == g.port
        key = json.loads((state / "keys" / "op@p1.iam.gserviceaccount.com.json").read_text())
        assert key["token_uri"] == g.url + "/token"
        assert oct((state / "keys" / "op@p1.iam.gserviceaccount.com.json").stat().st_mode)[-3:] == "600"
        assert g.info["service_accounts"]["extra@p1.iam.gserviceaccount.com"] == "100000000000000000043"
        # the workload listener stands for ns/ksa, which the seed bound to app@
        port = g.info["workload_listeners"][0]["port"]
        r = g.identity("aud", port=port)
        assert r.status == 200
        import jwt
        claims = jwt.decode(r.text, options={"verify_signature": False})
        assert claims["sub"] == "100000000000000000042" and claims["exp"] - claims["iat"] == 600
        # the instance SA answers the operator's token request on the main port
        assert g.metadata("instance/service-accounts/default/email").text == \
            "op@p1.iam.gserviceaccount.com"
    finally:
        rc = g.stop()
    assert rc == 0
    assert not (state / "google.port").exists()


def test_sts_cli_with_role_file(tmp_path, aws_env):
    with GoogleStandin(in_process=False) as g:
        sa = g.create_sa("app")
        g.bind_workload(sa["email"], "ns/ksa")
        policy = tmp_path / "trust.json"
        policy.write_text(json.dumps(google_trust_policy(sa["uniqueId"], oaud="aud-1")))
        arn = "arn:aws:iam::123456789012:role/cli-role"
        s = StsStandin(in_process=False, state_dir=str(tmp_path / "st"),
                       extra_args=["--google-url", g.url, "--role", f"{arn}={policy}",
                                   "--max-credential-seconds", "120"])
        s.start()
        try:
            assert (tmp_path / "st" / "sts.port").read_text().strip() == str(s.port)
            assert s.info["jwks_url"] == g.jwks_url
            c = boto3.client("sts", endpoint_url=s.url, region_name="us-east-1",
                             aws_access_key_id="x", aws_secret_access_key="y")
            r = c.assume_role_with_web_identity(RoleArn=arn, RoleSessionName="s1",
                                                WebIdentityToken=g.identity("aud-1", "ns/ksa").text)
            assert r["AssumedRoleUser"]["Arn"].endswith("assumed-role/cli-role/s1")
            assert r["Credentials"]["Expiration"].timestamp() - __import__("time").time() <= 120
        finally:
            assert s.stop() == 0


def test_cli_rejects_non_loopback_host():
    env = dict(os.environ, PYTHONPATH=TESTS_DIR)
    for mod in ("standins.google", "standins.sts"):
        r = subprocess.run([sys.executable, "-m", mod, "--host", "0.0.0.0"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "loopback" in r.stderr


def test_sigint_also_exits_cleanly():
    g = GoogleStandin(in_process=False).start()
    g.proc.send_signal(signal.SIGINT)
    assert g.proc.wait(15) == 0
    g.stop()


def test_help_runs():
    env = dict(os.environ, PYTHONPATH=TESTS_DIR)
    for mod in ("standins.google", "standins.sts"):
        r = subprocess.run([sys.executable, "-m", mod, "--help"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "--port" in r.stdout and "--state-dir" in r.stdout


def test_keep_alive_connections_are_served(google):
    import http.client as httpclient
    conn = httpclient.HTTPConnection("127.0.0.1", google.port, timeout=10)
    for _ in range(3):
        conn.request("GET", "/computeMetadata/v1/project/project-id",
                     headers={"Metadata-Flavor": "Google"})
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"gtoken-test"
    # chunked request body
    conn.request("POST", "/_admin/service-accounts",
                 body=iter([b'{"account_id":', b' "chunky"}']),
                 headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                 encode_chunked=True)
    r = conn.getresponse()
    assert r.status == 201 and json.loads(r.read())["email"].startswith("chunky@")
    conn.close()
    assert http("GET", google.url + "/_admin/health").json() == {"ok": True}
