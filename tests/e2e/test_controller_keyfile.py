"""Google credentials from a service-account key file
(GOOGLE_APPLICATION_CREDENTIALS): the operator signs an RS256 JWT assertion,
exchanges it at the key's token_uri, and uses the access token for IAM. The
metadata server has no identity for it here, so only the key can work."""

import json
import os

from arbutil import binding, is_ready, member, wi_members
from cluster import Operator, eventually


def test_key_file_credentials_reach_ready(cp, google, tmp_path):
    google.config(instance_sa=None)  # the metadata server cannot help
    op_sa = "gtoken-operator@my-project.iam.gserviceaccount.com"
    key_path = str(tmp_path / "key.json")
    key = google.key_file(op_sa, key_path)
    assert os.path.exists(key_path) and key
    with open(key_path) as f:
        assert json.load(f)["type"] == "service_account"
    gsa = google.create_sa("keyfile-target")["email"]
    ns = cp.create_namespace("keyfile")
    with Operator(cp, google, args=["--leader-elect=false", "--webhook=false"],
                  env={"GOOGLE_APPLICATION_CREDENTIALS": key_path}) as op:
        cp.apply(binding("kf", ns, "kf-sa", gsa))
        eventually(lambda: is_ready(cp.get("awsrolebinding", "kf", ns)), 60,
                   what="Ready with key-file credentials\n" + op.logs()[-3000:])
        assert member(ns, "kf-sa") in wi_members(google, gsa)
        assert google.count("oauth.token") >= 1
        logs = op.logs()
        assert "private_key" not in logs and "BEGIN" not in logs
