"""The metadata server part of the Google stand-in, and its JWKS."""

import time

import jwt
import pytest

from standins.harness import http

WL = "team-a/app"
AUD = "sts.amazonaws.com/gtoken"


def bound_sa(google, name="app", workload=WL):
    sa = google.create_sa(name)
    google.bind_workload(sa["email"], workload)
    return sa


def verify(google, token, audience=AUD):
    client = jwt.PyJWKClient(google.jwks_url)
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience,
                      issuer="https://accounts.google.com")


# -- errors ------------------------------------------------------------------


def test_missing_metadata_flavor_is_403(google):
    bound_sa(google)
    r = google.identity(AUD, WL, flavor=False)
    assert r.status == 403
    assert "Metadata-Flavor" in r.text


def test_x_forwarded_for_is_403(google):
    bound_sa(google)
    r = google.identity(AUD, WL, headers={"X-Forwarded-For": "10.0.0.1"})
    assert r.status == 403


def test_legacy_header_is_accepted(google):
    bound_sa(google)
    r = google.identity(AUD, WL, flavor=False, headers={"X-Google-Metadata-Request": "True"})
    assert r.status == 200


@pytest.mark.parametrize("query", ["", "?audience=", "?format=full", "?audience=&format=full"])
def test_missing_or_empty_audience_is_400(google, query):
    bound_sa(google)
    r = google.metadata("instance/service-accounts/default/identity" + query, WL)
    assert r.status == 400
    assert "audience" in r.text


def test_unbound_workload_is_404(google):
    google.create_sa("app")  # exists, but grants nothing to the KSA
    r = google.identity(AUD, WL)
    assert r.status == 404
    assert "not annotated" in r.text
    assert r.headers["metadata-flavor"] == "Google"


def test_no_workload_at_all_is_404(google):
    bound_sa(google)
    r = google.identity(AUD, None)
    assert r.status == 404


def test_annotated_but_not_granted_is_403_like_gke(google):
    sa = google.create_sa("app")
    google.annotate(WL, sa["email"])
    r = google.identity(AUD, WL)
    assert r.status == 403
    assert "iam.serviceAccounts.getOpenIdToken" in r.text
    google.bind_workload(sa["email"], WL)
    assert google.identity(AUD, WL).status == 200


def test_binding_for_other_ksa_or_project_does_not_count(google):
    sa = google.create_sa("app")
    google.bind_workload(sa["email"], "team-a/other")
    assert google.identity(AUD, WL).status == 404
    # a different role does not count either
    google.add_member(sa["email"], "roles/iam.serviceAccountUser", google.wi_member(WL))
    assert google.identity(AUD, WL).status == 404


def test_disabled_gsa_gets_no_token(google):
    sa = bound_sa(google)
    google.annotate(WL, sa["email"])
    google.patch_sa(sa["email"], disabled=True)
    assert google.identity(AUD, WL).status == 403
    google.patch_sa(sa["email"], disabled=False)
    assert google.identity(AUD, WL).status == 200


def test_ambiguous_inference_needs_annotation(google):
    a = bound_sa(google, "a")
    bound_sa(google, "b")
    assert google.identity(AUD, WL).status == 404
    google.annotate(WL, a["email"])
    r = google.identity(AUD, WL)
    assert r.status == 200
    assert verify(google, r.text)["sub"] == a["uniqueId"]


def test_require_annotation(google):
    sa = bound_sa(google)
    google.config(require_annotation=True)
    assert google.identity(AUD, WL).status == 404
    google.annotate(WL, sa["email"])
    assert google.identity(AUD, WL).status == 200


def test_unbinding_revokes(google):
    sa = bound_sa(google)
    assert google.identity(AUD, WL).status == 200
    google.unbind_workload(sa["email"], WL)
    assert google.identity(AUD, WL).status == 404


def test_propagation_delay(google):
    google.config(propagation_seconds=1.5)
    bound_sa(google)
    assert google.identity(AUD, WL).status == 404
    time.sleep(1.6)
    assert google.identity(AUD, WL).status == 200


# -- tokens ------------------------------------------------------------------


def test_id_token_claims_shape(google):
    sa = bound_sa(google)
    r = google.identity(AUD, WL)
    assert r.status == 200
    token = r.text
    assert token.count(".") == 2 and "\n" not in token  # raw JWT, not JSON
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert len(header["kid"]) == 40
    claims = verify(google, token)
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == AUD
    assert claims["azp"] == sa["uniqueId"]
    assert claims["sub"] == sa["uniqueId"]
    assert sa["uniqueId"].isdigit() and len(sa["uniqueId"]) == 21
    assert claims["email"] == sa["email"]
    assert claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 5
    assert set(claims) == {"iss", "aud", "azp", "sub", "email", "email_verified", "iat", "exp"}


def test_standard_format_omits_email(google):
    bound_sa(google)
    claims = verify(google, google.identity(AUD, WL, full=False).text)
    assert "email" not in claims and "email_verified" not in claims


def test_identity_by_gsa_email_alias(google):
    sa = bound_sa(google)
    r = google.metadata(f"instance/service-accounts/{sa['email']}/identity?audience=x", WL)
    assert r.status == 200
    r = google.metadata("instance/service-accounts/other@x.iam.gserviceaccount.com/identity"
                        "?audience=x", WL)
    assert r.status == 404


def test_token_lifetime_knob(google):
    bound_sa(google)
    google.config(id_token_lifetime=120)
    c = verify(google, google.identity(AUD, WL).text)
    assert c["exp"] - c["iat"] == 120


def test_clock_offset_makes_expired_tokens(google):
    bound_sa(google)
    google.config(clock_offset=-7200)
    token = google.identity(AUD, WL).text
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(google, token)


def test_access_token_and_email(google):
    sa = bound_sa(google)
    r = google.metadata("instance/service-accounts/default/token", WL)
    assert r.status == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 3000
    assert body["access_token"].startswith("ya29.")
    r = google.metadata("instance/service-accounts/default/email", WL)
    assert r.text == sa["email"]
    r = google.metadata("instance/service-accounts/default/?recursive=true", WL)
    assert r.json()["email"] == sa["email"]


def test_project_endpoints_and_root(google):
    r = google.metadata("project/project-id")
    assert r.status == 200 and r.text == "gtoken-test"
    assert r.headers["metadata-flavor"] == "Google"
    assert google.metadata("project/numeric-project-id").text.isdigit()
    r = http("GET", google.url + "/")
    assert r.headers["metadata-flavor"] == "Google"
    assert google.metadata("project/project-id", flavor=False).status == 403


def test_unknown_metadata_path_is_404(google):
    assert google.metadata("instance/nope").status == 404


def test_instance_sa_serves_callers_without_workload(google):
    sa = google.create_sa("operator")
    google.config(instance_sa=sa["email"])
    r = google.metadata("instance/service-accounts/default/token")
    assert r.status == 200
    assert google.metadata("instance/service-accounts/default/email").text == sa["email"]


# -- how a workload is named -------------------------------------------------


def test_default_workload(google):
    sa = bound_sa(google)
    google.set_default_workload(WL)
    r = google.identity(AUD, None)
    assert r.status == 200
    assert verify(google, r.text)["sub"] == sa["uniqueId"]
    # the header wins over the default
    assert google.identity(AUD, "other/ksa").status == 404


def test_workload_listener(google):
    sa = bound_sa(google)
    lst = google.add_listener(WL)
    assert lst["port"] != google.port
    r = google.identity(AUD, None, port=lst["port"])
    assert r.status == 200
    assert verify(google, r.text)["sub"] == sa["uniqueId"]
    assert google.identity(AUD, None).status == 404  # main port has no workload
    assert google.count("metadata.identity", sa["email"]) == 1
    google.admin("DELETE", f"/listeners/{lst['port']}")
    with pytest.raises(OSError):
        google.identity(AUD, None, port=lst["port"])


def test_bad_workload_header_is_400(google):
    assert google.identity(AUD, "no-slash").status == 400


# -- JWKS --------------------------------------------------------------------


def test_jwks_shape(google):
    r = http("GET", google.jwks_url)
    assert r.status == 200
    keys = r.json()["keys"]
    assert len(keys) == 1
    k = keys[0]
    assert {k["kty"], k["alg"], k["use"]} == {"RSA", "RS256", "sig"}
    assert k["e"] == "AQAB" and k["kid"] and len(k["n"]) > 300
    assert "max-age" in r.headers["cache-control"]


def test_key_rotation(google):
    bound_sa(google)
    old = google.identity(AUD, WL).text
    old_kid = jwt.get_unverified_header(old)["kid"]
    rot = google.rotate_keys()
    assert rot["kid"] != old_kid and rot["kids"] == [old_kid, rot["kid"]]
    new = google.identity(AUD, WL).text
    assert jwt.get_unverified_header(new)["kid"] == rot["kid"]
    kids = [k["kid"] for k in http("GET", google.jwks_url).json()["keys"]]
    assert set(kids) == {old_kid, rot["kid"]}
    verify(google, old)
    verify(google, new)
    google.rotate_keys(keep=1)
    kids = [k["kid"] for k in http("GET", google.jwks_url).json()["keys"]]
    assert old_kid not in kids and len(kids) == 1
    with pytest.raises(jwt.PyJWKClientError):
        verify(google, old)


def test_openid_configuration(google):
    doc = http("GET", google.url + "/.well-known/openid-configuration").json()
    assert doc["issuer"] == "https://accounts.google.com"
    assert doc["jwks_uri"] == google.jwks_url


# -- faults ------------------------------------------------------------------


def test_outage_on_identity(google):
    bound_sa(google)
    google.outage(1.5, 503)
    r = google.identity(AUD, WL)
    assert r.status == 503
    assert google.metadata("project/project-id").status == 200  # only identity is out
    assert google.metadata("instance/service-accounts/default/token", WL).status == 200
    time.sleep(1.6)
    assert google.identity(AUD, WL).status == 200


def test_fail_next_n_metadata_calls(google):
    bound_sa(google)
    google.fault("/computeMetadata/", 500, count=2)
    assert [google.identity(AUD, WL).status for _ in range(3)] == [500, 500, 200]
    calls = google.calls(endpoint="metadata.identity")
    assert [c["faulted"] for c in calls] == [True, True, False]


def test_fault_by_endpoint_and_regex(google):
    bound_sa(google)
    google.fault("/", 500, count=1, endpoint="metadata.token")
    google.fault("/", 502, count=1, regex="/identity$")
    assert google.identity(AUD, WL).status == 502
    assert google.metadata("instance/service-accounts/default/token", WL).status == 500
    assert google.identity(AUD, WL).status == 200


def test_drop_connection_fault(google):
    bound_sa(google)
    google.fault("/computeMetadata/", action="drop", count=1)
    with pytest.raises(Exception):
        google.identity(AUD, WL)
    assert google.identity(AUD, WL).status == 200


def test_latency_fault(google):
    bound_sa(google)
    google.latency("/computeMetadata/", 300, count=1)
    t = time.time()
    assert google.identity(AUD, WL).status == 200
    assert time.time() - t >= 0.3
    assert google.admin("GET", "/faults")["faults"] == []  # count=1: used up


def test_reset(google):
    bound_sa(google)
    google.set_default_workload(WL)
    google.fault("/", 500, count=5)
    google.reset()
    st = google.state()
    assert st["service_accounts"] == [] and st["default_workload"] is None
    assert st["faults"] == []
    assert google.counters()["counters"] == {}


# -- a real node: callers known by source IP, as on GKE -----------------------


class FakePods:
    """Stands for the apiserver in standins.pod_identity: IP -> Caller."""

    def __init__(self, pods=None, fail=False):
        self.pods = pods or {}
        self.fail = fail
        self.asked = []

    def __call__(self, ip):
        from standins.pod_identity import ApiUnavailable
        self.asked.append(ip)
        if self.fail:
            raise ApiUnavailable("apiserver GET /api/v1/pods: connection refused")
        return self.pods.get(ip)


@pytest.fixture
def pod_world():
    """A Google stand-in that knows callers by IP through FakePods."""
    from standins.harness import GoogleStandin
    pods = FakePods()
    g = GoogleStandin(project="gtoken-test", pod_identity=pods).start()
    try:
        yield g, pods
    finally:
        g.stop()


def test_pod_identity_mints_for_the_annotated_gsa_of_the_calling_pod(pod_world):
    from standins.pod_identity import Caller
    g, pods = pod_world
    sa = bound_sa(g)
    pods.pods["127.0.0.1"] = Caller("team-a", "app", sa["email"])
    r = g.identity(AUD)
    assert r.status == 200, r
    assert verify(g, r.text)["email"] == sa["email"]
    assert pods.asked == ["127.0.0.1"]
    call = g.calls(endpoint="metadata.identity")[-1]
    assert call["client"] == "127.0.0.1" and call["workload"] == WL, call
    # The grant decides, as on GKE: unbind and the same pod is refused.
    g.unbind_workload(sa["email"], WL)
    r = g.identity(AUD)
    assert r.status == 403 and "Permission" in r.text


def test_pod_identity_never_guesses_the_gsa_from_policies(pod_world):
    from standins.pod_identity import Caller
    g, pods = pod_world
    bound_sa(g)  # the only GSA granting team-a/app: the loopback mode would pick it
    pods.pods["127.0.0.1"] = Caller("team-a", "app", None)
    r = g.identity(AUD)
    assert r.status == 404 and "not annotated" in r.text


def test_pod_identity_unknown_address_is_404_and_apiserver_down_is_503(pod_world):
    g, pods = pod_world
    bound_sa(g)
    r = g.identity(AUD)
    assert r.status == 404 and "127.0.0.1" in r.text
    pods.fail = True
    r = g.identity(AUD)
    assert r.status == 503 and "identify the calling pod" in r.text
    # A test's workload header still wins (the stand-in's own tests use it).
    pods.fail = False
    assert g.identity(AUD, WL).status == 200


def test_listening_beyond_loopback_is_refused_outside_a_private_netns():
    from standins.common import in_private_netns
    from standins.harness import GoogleStandin
    if in_private_netns():
        pytest.skip("this test runs in the host's network namespace")
    with pytest.raises(ValueError, match="loopback only"):
        GoogleStandin(host="0.0.0.0").start()
