"""IAM, IAM Credentials and the OAuth token endpoint of the Google stand-in."""

import time

import jwt
import pytest

from standins.harness import http

WL = "team-a/app"
WI_ROLE = "roles/iam.workloadIdentityUser"
CONFLICT = {"error": {"code": 409, "message": "There were concurrent policy changes. Please "
                      "retry the whole read-modify-write with exponential backoff.",
                      "status": "ABORTED"}}


@pytest.fixture
def op(google):
    """The operator's identity: an access token from the metadata server."""
    sa = google.create_sa("gtoken-operator")
    google.config(instance_sa=sa["email"])
    r = google.metadata("instance/service-accounts/default/token")
    assert r.status == 200
    return r.json()["access_token"]


def sa_path(email, project="-"):
    return f"/v1/projects/{project}/serviceAccounts/{email}"


def get_policy(google, token, email, version=3):
    return google.iam("POST", sa_path(email) + f":getIamPolicy?options.requestedPolicyVersion={version}",
                      token)


def set_policy(google, token, email, policy):
    return google.iam("POST", sa_path(email) + ":setIamPolicy", token, {"policy": policy})


# -- auth --------------------------------------------------------------------


def test_requires_bearer_token(google, op):
    sa = google.create_sa("app")
    r = google.iam("GET", sa_path(sa["email"]), None)
    assert r.status == 401
    err = r.json()["error"]
    assert err["status"] == "UNAUTHENTICATED" and err["code"] == 401
    assert "www-authenticate" in r.headers
    r = google.iam("GET", sa_path(sa["email"]), "ya29.not-issued")
    assert r.status == 401
    assert google.iam("GET", sa_path(sa["email"]), op).status == 200


def test_expired_access_token_is_401(google):
    sa = google.create_sa("op")
    google.config(access_token_lifetime=3)
    tok = google.access_token(sa["email"])
    assert google.iam("GET", sa_path(sa["email"]), tok).status == 200
    time.sleep(3.1)
    assert google.iam("GET", sa_path(sa["email"]), tok).status == 401


def test_iam_callers_restriction(google, op):
    sa = google.create_sa("app")
    google.config(iam_callers=["someone-else@x.iam.gserviceaccount.com"])
    r = google.iam("GET", sa_path(sa["email"]), op)
    assert r.status == 403 and r.json()["error"]["status"] == "PERMISSION_DENIED"


# -- serviceAccounts.get -----------------------------------------------------


def test_get_service_account(google, op):
    sa = google.create_sa("app", display_name="App")
    r = google.iam("GET", sa_path(sa["email"]), op)
    assert r.status == 200
    body = r.json()
    assert body["name"] == f"projects/gtoken-test/serviceAccounts/{sa['email']}"
    assert body["projectId"] == "gtoken-test"
    assert body["uniqueId"] == sa["uniqueId"]
    assert body["email"] == sa["email"]
    assert body["displayName"] == "App"
    assert body["etag"]
    assert "disabled" not in body  # Google omits false
    google.patch_sa(sa["email"], disabled=True)
    assert google.iam("GET", sa_path(sa["email"]), op).json()["disabled"] is True
    # by uniqueId and with the project named; percent-encoded '@' too
    assert google.iam("GET", sa_path(sa["uniqueId"]), op).json()["email"] == sa["email"]
    assert google.iam("GET", sa_path(sa["email"], "gtoken-test"), op).status == 200
    assert google.iam("GET", sa_path(sa["email"].replace("@", "%40")), op).status == 200


def test_missing_service_account_is_403_under_dash(google, op):
    r = google.iam("GET", sa_path("nope@gtoken-test.iam.gserviceaccount.com"), op)
    assert r.status == 403
    err = r.json()["error"]
    assert err["status"] == "PERMISSION_DENIED"
    assert "iam.serviceAccounts.get" in err["message"]
    assert err["details"][0]["reason"] == "IAM_PERMISSION_DENIED"
    r = google.iam("GET", sa_path("nope@gtoken-test.iam.gserviceaccount.com", "gtoken-test"), op)
    assert r.status == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    r = get_policy(google, op, "nope@gtoken-test.iam.gserviceaccount.com")
    assert r.status == 403


def test_seeded_sa_with_given_unique_id(google, op):
    sa = google.create_sa("pinned", unique_id="112233445566778899001")
    assert sa["uniqueId"] == "112233445566778899001"
    with pytest.raises(Exception):
        google.create_sa("pinned")


# -- get/setIamPolicy ---------------------------------------------------------


def test_empty_policy(google, op):
    sa = google.create_sa("app")
    r = get_policy(google, op, sa["email"])
    assert r.status == 200
    assert r.json() == {"version": 1, "etag": "ACAB"}


def test_read_modify_write_with_etag(google, op):
    sa = google.create_sa("app")
    pol = get_policy(google, op, sa["email"]).json()
    pol["bindings"] = [{"role": WI_ROLE, "members": [google.wi_member(WL)]}]
    pol["version"] = 3
    r = set_policy(google, op, sa["email"], pol)
    assert r.status == 200, r.text
    written = r.json()
    assert written["etag"] != pol["etag"]
    assert written["bindings"] == [{"role": WI_ROLE, "members": [google.wi_member(WL)]}]
    again = get_policy(google, op, sa["email"]).json()
    assert again == written
    # writing with the old etag is a concurrent change
    r = set_policy(google, op, sa["email"], pol)
    assert r.status == 409
    assert r.json() == CONFLICT
    assert get_policy(google, op, sa["email"]).json() == written


def test_every_write_changes_etag(google, op):
    sa = google.create_sa("app")
    etags = set()
    pol = get_policy(google, op, sa["email"]).json()
    for i in range(3):
        pol = set_policy(google, op, sa["email"], pol).json()
        etags.add(pol["etag"])
    assert len(etags) == 3


def test_concurrent_writer_causes_409(google, op):
    sa = google.create_sa("app")
    mine = get_policy(google, op, sa["email"]).json()
    google.bind_workload(sa["email"], "other/ksa")  # someone else writes
    mine["bindings"] = [{"role": WI_ROLE, "members": [google.wi_member(WL)]}]
    assert set_policy(google, op, sa["email"], mine).status == 409
    # the proper retry: re-read, merge, write
    fresh = get_policy(google, op, sa["email"]).json()
    fresh["bindings"][0]["members"].append(google.wi_member(WL))
    r = set_policy(google, op, sa["email"], fresh)
    assert r.status == 200
    assert sorted(r.json()["bindings"][0]["members"]) == sorted(
        [google.wi_member("other/ksa"), google.wi_member(WL)])


def test_missing_etag_overwrites_blindly(google, op):
    sa = google.create_sa("app")
    google.bind_workload(sa["email"], "other/ksa")
    r = set_policy(google, op, sa["email"],
                   {"version": 1, "bindings": [{"role": WI_ROLE, "members": [google.wi_member(WL)]}]})
    assert r.status == 200
    assert r.json()["bindings"][0]["members"] == [google.wi_member(WL)]
    assert google.calls(endpoint="iam.setIamPolicy")[-1]["blind"] is True


def test_409_storm(google, op):
    sa = google.create_sa("app")
    google.conflicts(2)
    pol = get_policy(google, op, sa["email"]).json()
    pol["bindings"] = [{"role": WI_ROLE, "members": [google.wi_member(WL)]}]
    statuses = [set_policy(google, op, sa["email"], pol).status for _ in range(3)]
    assert statuses == [409, 409, 200]
    assert google.count("iam.setIamPolicy", sa["email"]) == 3


def test_stale_read(google, op):
    sa = google.create_sa("app")
    google.bind_workload(sa["email"], "a/one")
    google.bind_workload(sa["email"], "a/two")
    google.stale_reads(1)
    stale = get_policy(google, op, sa["email"]).json()
    assert stale["bindings"][0]["members"] == [google.wi_member("a/one")]
    stale["bindings"][0]["members"].append(google.wi_member(WL))
    assert set_policy(google, op, sa["email"], stale).status == 409
    fresh = get_policy(google, op, sa["email"]).json()
    assert len(fresh["bindings"][0]["members"]) == 2


def test_policy_is_canonicalised(google, op):
    sa = google.create_sa("app")
    r = set_policy(google, op, sa["email"], {"bindings": [
        {"role": WI_ROLE, "members": [google.wi_member("b/x")]},
        {"role": "roles/iam.serviceAccountTokenCreator", "members": []},
        {"role": WI_ROLE, "members": [google.wi_member("a/x"), google.wi_member("b/x")]},
    ]})
    assert r.status == 200
    assert r.json()["bindings"] == [
        {"role": WI_ROLE, "members": [google.wi_member("a/x"), google.wi_member("b/x")]}]


@pytest.mark.parametrize("member,fragment", [
    ("serviceAccount:other-project.svc.id.goog[ns/ksa]", "Identity Pool does not exist"),
    ("serviceAccount:gtoken-test.svc.id.goog[nsksa]", "Invalid form"),
    ("bogus:thing", "Invalid member"),
])
def test_invalid_members_are_400(google, op, member, fragment):
    sa = google.create_sa("app")
    r = set_policy(google, op, sa["email"], {"bindings": [{"role": WI_ROLE, "members": [member]}]})
    assert r.status == 400
    err = r.json()["error"]
    assert err["status"] == "INVALID_ARGUMENT" and fragment in err["message"]


def test_conditional_bindings(google, op):
    sa = google.create_sa("app")
    cond = {"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}
    b = {"role": "roles/iam.serviceAccountUser", "members": ["user:a@example.com"], "condition": cond}
    r = set_policy(google, op, sa["email"], {"version": 1, "bindings": [b]})
    assert r.status == 400
    r = set_policy(google, op, sa["email"], {"version": 3, "bindings": [b]})
    assert r.status == 200
    v3 = get_policy(google, op, sa["email"], 3).json()
    assert v3["version"] == 3 and v3["bindings"][0]["condition"] == cond
    v1 = get_policy(google, op, sa["email"], 1).json()
    assert v1["version"] == 1
    assert v1["bindings"][0]["role"].startswith("roles/iam.serviceAccountUser_withcond_")
    assert "condition" not in v1["bindings"][0]
    # writing the v1 view back is refused rather than dropping the condition
    assert set_policy(google, op, sa["email"], v1).status == 400


def test_iam_write_grants_identity(google, op):
    """The coupling the operator relies on: its setIamPolicy decides identity."""
    sa = google.create_sa("app")
    assert google.identity("aud", WL).status == 404
    pol = get_policy(google, op, sa["email"]).json()
    pol["bindings"] = [{"role": WI_ROLE, "members": [google.wi_member(WL)]}]
    assert set_policy(google, op, sa["email"], pol).status == 200
    assert google.identity("aud", WL).status == 200
    pol = get_policy(google, op, sa["email"]).json()
    pol["bindings"] = []
    assert set_policy(google, op, sa["email"], pol).status == 200
    assert google.identity("aud", WL).status == 404


def test_admin_policy_put_honours_etag(google):
    sa = google.create_sa("app")
    google.put_policy(sa["email"], {"bindings": []})
    with pytest.raises(Exception):
        google.put_policy(sa["email"], {"etag": "BwAAAAAAAAA=", "bindings": []})


# -- faults and counters -----------------------------------------------------


def test_iam_faults_use_google_error_shape(google, op):
    sa = google.create_sa("app")
    google.fault("/v1/", 503, count=1)
    google.fault("/v1/", 429, count=1)
    r = google.iam("GET", sa_path(sa["email"]), op)
    assert r.status == 503
    assert r.json()["error"] == {"code": 503, "message": "The service is currently unavailable.",
                                 "status": "UNAVAILABLE"}
    r = google.iam("GET", sa_path(sa["email"]), op)
    assert r.status == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert google.iam("GET", sa_path(sa["email"]), op).status == 200


def test_fault_method_filter_and_time_window(google, op):
    sa = google.create_sa("app")
    google.fault("/v1/", 500, count=None, seconds=1.5, method="POST")
    assert google.iam("GET", sa_path(sa["email"]), op).status == 200
    assert get_policy(google, op, sa["email"]).status == 500
    assert get_policy(google, op, sa["email"]).status == 500
    time.sleep(1.6)
    assert get_policy(google, op, sa["email"]).status == 200


def test_counters_per_resource(google, op):
    a = google.create_sa("a")
    b = google.create_sa("b")
    for _ in range(2):
        get_policy(google, op, a["email"])
    get_policy(google, op, b["email"])
    c = google.counters()
    assert c["counters"]["iam.getIamPolicy"] == 3
    assert c["by_resource"]["iam.getIamPolicy"] == {a["email"]: 2, b["email"]: 1}
    calls = google.calls(endpoint="iam.getIamPolicy")
    assert calls[0]["caller"].startswith("gtoken-operator@")
    google.clear_calls()
    assert google.count("iam.getIamPolicy") == 0


# -- IAM Credentials generateIdToken ------------------------------------------


def test_generate_id_token_needs_token_creator(google, op):
    target = google.create_sa("app")
    path = sa_path(target["email"]) + ":generateIdToken"
    body = {"audience": "aud-x", "includeEmail": True}
    r = google.iam("POST", path, op, body)
    assert r.status == 403
    assert "getOpenIdToken" in r.json()["error"]["message"]
    op_email = google.state()["instance_sa"]
    google.add_member(target["email"], "roles/iam.serviceAccountTokenCreator",
                      f"serviceAccount:{op_email}")
    r = google.iam("POST", path, op, body)
    assert r.status == 200, r.text
    tok = r.json()["token"]
    key = jwt.PyJWKClient(google.jwks_url).get_signing_key_from_jwt(tok).key
    claims = jwt.decode(tok, key, algorithms=["RS256"], audience="aud-x")
    assert claims["sub"] == target["uniqueId"] and claims["email"] == target["email"]
    assert google.iam("POST", path, op, {}).status == 400


# -- OAuth token endpoint with a key file -------------------------------------


def assertion(key, aud=None, **extra):
    now = int(time.time())
    claims = {"iss": key["client_email"], "aud": aud or key["token_uri"], "iat": now,
              "exp": now + 3600, "scope": "https://www.googleapis.com/auth/cloud-platform"}
    claims.update(extra)
    return jwt.encode(claims, key["private_key"], algorithm="RS256",
                      headers={"kid": key["private_key_id"]})


def exchange(key, jwt_assertion):
    return http("POST", key["token_uri"],
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
                + jwt_assertion, {"Content-Type": "application/x-www-form-urlencoded"})


def test_key_file_exchange(google, tmp_path):
    sa = google.create_sa("op")
    path = tmp_path / "key.json"
    key = google.key_file(sa["email"], str(path))
    assert path.exists()
    assert key["type"] == "service_account" and key["client_email"] == sa["email"]
    assert key["token_uri"] == google.url + "/token"
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    r = exchange(key, assertion(key))
    assert r.status == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert google.iam("GET", sa_path(sa["email"]), body["access_token"]).status == 200
    # Google's own audience is accepted too
    assert exchange(key, assertion(key, aud="https://oauth2.googleapis.com/token")).status == 200


def test_key_file_id_token(google):
    sa = google.create_sa("op")
    key = google.key_file(sa["email"])
    r = exchange(key, assertion(key, target_audience="my-aud"))
    assert r.status == 200
    tok = r.json()["id_token"]
    assert jwt.decode(tok, options={"verify_signature": False})["aud"] == "my-aud"


def test_bad_assertions(google):
    sa = google.create_sa("op")
    key = google.key_file(sa["email"])
    other = google.key_file(google.create_sa("other")["email"])
    forged = jwt.encode({"iss": key["client_email"], "aud": key["token_uri"],
                         "iat": int(time.time()), "exp": int(time.time()) + 600},
                        other["private_key"], algorithm="RS256",
                        headers={"kid": key["private_key_id"]})
    r = exchange(key, forged)
    assert r.status == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    assert exchange(key, assertion(key, aud="https://elsewhere/token")).status == 400
    assert exchange(key, assertion(key, exp=int(time.time()) + 7200)).status == 400
    r = http("POST", key["token_uri"], "grant_type=password",
             {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400 and r.json()["error"] == "unsupported_grant_type"


def test_concurrent_read_modify_write_loses_nothing(google, op):
    """Writers that retry on 409 never lose each other's members."""
    import threading
    sa = google.create_sa("app")
    conflicts = []

    def writer(i):
        member = google.wi_member(f"ns/ksa-{i}")
        for _ in range(100):
            pol = get_policy(google, op, sa["email"]).json()
            bindings = pol.setdefault("bindings", [])
            if not bindings:
                bindings.append({"role": WI_ROLE, "members": []})
            bindings[0]["members"].append(member)
            r = set_policy(google, op, sa["email"], pol)
            if r.status == 200:
                return
            assert r.status == 409
            conflicts.append(i)
        raise AssertionError("writer never succeeded")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    members = google.policy(sa["email"])["bindings"][0]["members"]
    assert sorted(members) == sorted(google.wi_member(f"ns/ksa-{i}") for i in range(8))
