// handle_admission: every rejection path, uid echo, dry run, warnings, and the
// pod review end to end.

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "webhook/admission.hpp"
#include "webhook/base64.hpp"
#include "webhook/pod_review.hpp"

namespace {

using gtoken::webhook::AdmissionError;
using gtoken::webhook::AdmissionHttpResult;
using gtoken::webhook::AdmissionRequest;
using gtoken::webhook::Decision;
using gtoken::webhook::handle_admission;
using gtoken::webhook::kDefaultAdmissionBodyLimit;
using gtoken::webhook::kMaxJsonDepth;
using gtoken::webhook::SkipReason;
using nlohmann::json;

constexpr std::string_view kJson = "application/json";

json review(json request) {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request", std::move(request)}};
}

json pod_request(const std::string& uid = "705ab4f5-6393-11e8-b7cc-42010a800002") {
  return {
      {"uid", uid},
      {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
      {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
      {"operation", "CREATE"},
      {"namespace", "shop"},
      {"userInfo", {{"username", "system:serviceaccount:kube-system:replicaset-controller"}}},
      {"object",
       {{"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"generateName", "cart-7d9f8c6b5-"}, {"namespace", "shop"}}},
        {"spec",
         {{"serviceAccountName", "cart"},
          {"containers", json::array({{{"name", "cart"}, {"image", "cart:1"}}})}}}}},
      {"dryRun", false},
  };
}

const gtoken::webhook::Decide kAllowAll = [](const AdmissionRequest&) { return Decision{}; };

AdmissionHttpResult call(std::string_view body, const gtoken::webhook::Decide& decide = kAllowAll,
                         std::string_view content_type = kJson,
                         std::size_t limit = kDefaultAdmissionBodyLimit) {
  return handle_admission(content_type, body, limit, decide);
}

// Every answer is JSON, and every rejection a metav1.Status naming the error.
void check_rejected(const AdmissionHttpResult& r, int status, AdmissionError error) {
  CHECK(r.status == status);
  REQUIRE(r.error.has_value());
  CHECK(*r.error == error);
  const json body = json::parse(r.body);
  CHECK(body["kind"] == "Status");
  CHECK(body["status"] == "Failure");
  CHECK(body["code"] == status);
  CHECK(body["message"].get<std::string>().starts_with(std::string(to_string(error))));
}

std::string decode_base64(const std::string& in) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    buffer = (buffer << 6) | static_cast<unsigned>(kAlphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

std::string nested(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

}  // namespace

TEST_CASE("empty body is 400 before anything else") {
  check_rejected(call(""), 400, AdmissionError::EmptyBody);
  // Even with a wrong content type: the order is controller-runtime's.
  check_rejected(call("", kAllowAll, "text/plain"), 400, AdmissionError::EmptyBody);
}

TEST_CASE("body over the limit is 413, checked before the content type") {
  const std::string body = review(pod_request()).dump();
  check_rejected(call(body, kAllowAll, kJson, body.size() - 1), 413, AdmissionError::BodyTooLarge);
  check_rejected(call(body, kAllowAll, "text/plain", 10), 413, AdmissionError::BodyTooLarge);
  CHECK(call(body, kAllowAll, kJson, body.size()).status == 200);
}

TEST_CASE("content type must be application/json") {
  const std::string body = review(pod_request()).dump();
  for (const char* type : {"", "text/plain", "application/yaml", "application/jsonx",
                           "application/json-patch+json", "json"}) {
    CAPTURE(type);
    check_rejected(call(body, kAllowAll, type), 400, AdmissionError::UnsupportedContentType);
  }
  for (const char* type : {"application/json", "application/json; charset=utf-8",
                           "Application/JSON", " application/json ;charset=UTF-8"}) {
    CAPTURE(type);
    CHECK(call(body, kAllowAll, type).status == 200);
  }
}

TEST_CASE("malformed JSON is 400") {
  for (const char* body : {"{", "not json", "{\"a\":1} trailing", "{\"a\":}", "\xff\xfe",
                           "{\"s\":\"\xc3\x28\"}", "[1,]"}) {
    CAPTURE(body);
    check_rejected(call(body), 400, AdmissionError::MalformedJson);
  }
}

TEST_CASE("nesting deeper than kMaxJsonDepth is 400 without building the document") {
  check_rejected(call(nested(kMaxJsonDepth + 1)), 400, AdmissionError::JsonTooDeep);
  check_rejected(call(nested(100000)), 400, AdmissionError::JsonTooDeep);
  // At the limit it parses, and is then merely not an AdmissionReview.
  check_rejected(call(nested(kMaxJsonDepth)), 400, AdmissionError::NotAdmissionReview);

  json deep_review = review(pod_request());
  // review → request → object → metadata: 4 levels before the labels value.
  deep_review["request"]["object"]["metadata"]["labels"] = json::parse(nested(kMaxJsonDepth - 4));
  CHECK(call(deep_review.dump()).status == 200);
  deep_review["request"]["object"]["metadata"]["labels"] = json::parse(nested(kMaxJsonDepth - 3));
  check_rejected(call(deep_review.dump()), 400, AdmissionError::JsonTooDeep);
}

TEST_CASE("anything but an admission.k8s.io/v1 AdmissionReview with a uid is 400") {
  const auto bad = [](const json& doc) {
    check_rejected(call(doc.dump()), 400, AdmissionError::NotAdmissionReview);
  };
  bad(json::array());
  bad("string");
  bad(json::object());
  json doc = review(pod_request());
  doc["apiVersion"] = "admission.k8s.io/v1beta1";
  bad(doc);
  doc = review(pod_request());
  doc["kind"] = "AdmissionRequest";
  bad(doc);
  doc = review(pod_request());
  doc.erase("request");
  bad(doc);
  doc["request"] = "x";
  bad(doc);
  doc = review(pod_request());
  doc["request"].erase("uid");
  bad(doc);
  doc["request"]["uid"] = "";
  bad(doc);
  doc["request"]["uid"] = 42;
  bad(doc);
  doc = review(pod_request());
  doc["request"]["dryRun"] = "true";
  bad(doc);
  doc = review(pod_request());
  doc["request"]["namespace"] = json::object();
  bad(doc);
  doc = review(pod_request());
  doc["request"]["kind"] = "Pod";
  bad(doc);
  doc = review(pod_request());
  doc["request"]["resource"] = json::array();
  bad(doc);
}

TEST_CASE("the response echoes the uid and carries no patch when there is none") {
  const AdmissionHttpResult r = call(review(pod_request("uid-1234")).dump());
  CHECK(r.status == 200);
  CHECK_FALSE(r.error.has_value());
  CHECK(r.uid == "uid-1234");
  const json body = json::parse(r.body);
  CHECK(body["apiVersion"] == "admission.k8s.io/v1");
  CHECK(body["kind"] == "AdmissionReview");
  CHECK(body["response"]["uid"] == "uid-1234");
  CHECK(body["response"]["allowed"] == true);
  CHECK_FALSE(body["response"].contains("patch"));
  CHECK_FALSE(body["response"].contains("patchType"));
  CHECK_FALSE(body["response"].contains("warnings"));
}

TEST_CASE("the decision sees the decoded request") {
  AdmissionRequest seen;
  const auto capture = [&](const AdmissionRequest& r) {
    seen = r;
    return Decision{};
  };
  json request = pod_request("u-1");
  request["name"] = "cart-x";
  request["subResource"] = nullptr;
  REQUIRE(call(review(request).dump(), capture).status == 200);
  CHECK(seen.uid == "u-1");
  CHECK(seen.operation == "CREATE");
  CHECK(seen.namespace_ == "shop");
  CHECK(seen.name == "cart-x");
  CHECK(seen.group.empty());
  CHECK(seen.version == "v1");
  CHECK(seen.kind == "Pod");
  CHECK(seen.resource == "pods");
  CHECK(seen.sub_resource.empty());
  CHECK_FALSE(seen.dry_run);
  CHECK(seen.object()["metadata"]["generateName"] == "cart-7d9f8c6b5-");
  CHECK(seen.request["userInfo"]["username"].get<std::string>().starts_with("system:"));
}

TEST_CASE("patch is base64 of the JSON Patch, with patchType JSONPatch") {
  const json patch =
      json::array({{{"op", "add"}, {"path", "/metadata/labels/a~1b"}, {"value", "x"}}});
  const auto decide = [&](const AdmissionRequest&) {
    Decision d;
    d.patch = gtoken::webhook::PatchText::of(patch);
    return d;
  };
  const AdmissionHttpResult r = call(review(pod_request()).dump(), decide);
  REQUIRE(r.status == 200);
  CHECK(r.patch_operations == 1);
  const json response = json::parse(r.body)["response"];
  CHECK(response["patchType"] == "JSONPatch");
  CHECK(json::parse(decode_base64(response["patch"].get<std::string>())) == patch);
}

TEST_CASE("dry run is exposed to the decision and gives the same answer") {
  bool saw_dry_run = false;
  const auto decide = [&](const AdmissionRequest& r) {
    saw_dry_run = r.dry_run;
    Decision d;
    d.patch = gtoken::webhook::PatchText::of(json::array({{{"op", "add"}, {"path", "/x"}, {"value", 1}}}));
    return d;
  };
  json request = pod_request("dry");
  request["dryRun"] = true;
  const AdmissionHttpResult dry = call(review(request).dump(), decide);
  CHECK(saw_dry_run);
  CHECK(dry.dry_run);
  request["dryRun"] = false;
  const AdmissionHttpResult wet = call(review(request).dump(), decide);
  CHECK_FALSE(saw_dry_run);
  CHECK(dry.body == wet.body);
  // Absent dryRun means false.
  request.erase("dryRun");
  CHECK_FALSE(call(review(request).dump(), decide).dry_run);
}

TEST_CASE("warnings are cut under 120 characters on a UTF-8 boundary, and capped") {
  using gtoken::webhook::sanitize_warning;
  CHECK(sanitize_warning("short") == "short");
  CHECK(sanitize_warning("line\nbreak\ttab") == "line break tab");
  const std::string long_ascii(300, 'a');
  CHECK(sanitize_warning(long_ascii).size() == 119);
  CHECK(sanitize_warning(long_ascii).ends_with("..."));
  std::string utf8;
  for (int i = 0; i < 100; ++i) utf8 += "\xc3\xa9";  // é
  const std::string cut = sanitize_warning(utf8);
  CHECK(cut.size() <= 119);
  CHECK(json(cut).dump().find("\\u") == std::string::npos);  // still valid UTF-8
  CHECK_NOTHROW(json(cut).dump());

  const auto decide = [&](const AdmissionRequest&) {
    Decision d;
    for (int i = 0; i < 25; ++i) d.warnings.push_back(std::string(200, 'w'));
    return d;
  };
  const json response = json::parse(call(review(pod_request()).dump(), decide).body)["response"];
  REQUIRE(response["warnings"].size() == gtoken::webhook::kMaxWarnings);
  for (const auto& w : response["warnings"]) CHECK(w.get<std::string>().size() < 120);
  CHECK(response["warnings"].back() == "16 more warnings");
}

TEST_CASE("a denial carries status code and message") {
  const auto decide = [](const AdmissionRequest&) {
    Decision d;
    d.allowed = false;
    d.status_code = 403;
    d.status_message = "no";
    d.patch = gtoken::webhook::PatchText::of(json::array({{{"op", "add"}, {"path", "/x"}, {"value", 1}}}));
    return d;
  };
  const AdmissionHttpResult r = call(review(pod_request()).dump(), decide);
  CHECK(r.status == 200);
  CHECK_FALSE(r.allowed);
  const json response = json::parse(r.body)["response"];
  CHECK(response["allowed"] == false);
  CHECK(response["status"]["code"] == 403);
  CHECK(response["status"]["message"] == "no");
  CHECK_FALSE(response.contains("patch"));  // never patch what is denied
}

TEST_CASE("a failing decision is 500 so that the failurePolicy applies, and never throws") {
  const std::string body = review(pod_request("u-500")).dump();
  const auto throws = [](const AdmissionRequest&) -> Decision {
    throw std::runtime_error("cache exploded");
  };
  AdmissionHttpResult r = call(body, throws);
  check_rejected(r, 500, AdmissionError::DecisionFailed);
  CHECK(r.uid == "u-500");
  CHECK(json::parse(r.body)["message"].get<std::string>().find("cache exploded") !=
        std::string::npos);

  const auto throws_int = [](const AdmissionRequest&) -> Decision { throw 42; };
  check_rejected(call(body, throws_int), 500, AdmissionError::DecisionFailed);

  const auto bad_patch = [](const AdmissionRequest&) {
    Decision d;
    d.patch = gtoken::webhook::PatchText::of(json::object());
    return d;
  };
  check_rejected(call(body, bad_patch), 500, AdmissionError::DecisionFailed);

  check_rejected(call(body, gtoken::webhook::Decide{}), 500, AdmissionError::DecisionFailed);
}

TEST_CASE("base64 matches RFC 4648 test vectors") {
  using gtoken::webhook::base64_encode;
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(base64_encode("fooba") == "Zm9vYmE=");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode(std::string("\xff\xfe\x00\x80", 4)) == "//4AgA==");
}

// review_pod: the Decide the server plugs in.
namespace {

gtoken::webhook::PodReviewEnv pod_env() {
  gtoken::webhook::PodReviewEnv env;
  env.operator_namespace = "gtoken-system";
  env.namespace_labels = [](const std::string& ns) -> std::optional<json> {
    if (ns == "ignored") return json{{"admission.gtoken/ignore", ""}};
    return json::object();
  };
  env.service_account = [](const std::string& ns,
                           const std::string& name) -> std::optional<gtoken::webhook::SaSettings> {
    if (name == "missing") return std::nullopt;
    gtoken::webhook::SaSettings sa;
    if (name == "cart" || name == "default") {
      sa.role_arn = "arn:aws:iam::123456789012:role/" + ns + "-" + name;
    }
    return sa;
  };
  env.random = [] { return 7u; };
  return env;
}

Decision review_of(const json& request) {
  gtoken::webhook::Decision out;
  const auto env = pod_env();
  const AdmissionHttpResult r = handle_admission(
      kJson, review(request).dump(), kDefaultAdmissionBodyLimit,
      [&](const AdmissionRequest& req) { return out = gtoken::webhook::review_pod(req, env); });
  REQUIRE(r.status == 200);
  CHECK(r.skip == out.skip);
  return out;
}

}  // namespace

TEST_CASE("review_pod mutates a pod CREATE end to end") {
  const json request = pod_request("u-pod");
  const auto env = pod_env();
  const AdmissionHttpResult r =
      handle_admission(kJson, review(request).dump(), kDefaultAdmissionBodyLimit,
                       [&](const AdmissionRequest& req) { return review_pod(req, env); });
  REQUIRE(r.status == 200);
  CHECK_FALSE(r.skip.has_value());
  const json response = json::parse(r.body)["response"];
  CHECK(response["uid"] == "u-pod");
  const json patch = json::parse(decode_base64(response["patch"].get<std::string>()));
  const json pod = request["object"].patch(patch);
  CHECK(pod["spec"]["initContainers"][0]["name"] == "gtoken");
  CHECK(pod["spec"]["containers"][0]["env"][1]["value"] ==
        "arn:aws:iam::123456789012:role/shop-cart");
}

TEST_CASE("review_pod skips what it must, each with its reason") {
  json request = pod_request();
  request["operation"] = "UPDATE";
  CHECK(review_of(request).skip == SkipReason::UnsupportedRequest);

  request = pod_request();
  request["kind"]["kind"] = "Deployment";
  CHECK(review_of(request).skip == SkipReason::UnsupportedRequest);

  request = pod_request();
  request["subResource"] = "ephemeralcontainers";
  CHECK(review_of(request).skip == SkipReason::UnsupportedRequest);

  request = pod_request();
  request["namespace"] = "gtoken-system";
  CHECK(review_of(request).skip == SkipReason::OperatorNamespace);

  request = pod_request();
  request["namespace"] = "ignored";
  CHECK(review_of(request).skip == SkipReason::IgnoredNamespace);

  request = pod_request();
  request["object"]["spec"]["serviceAccountName"] = "missing";
  const Decision missing = review_of(request);
  CHECK(missing.skip == SkipReason::ServiceAccountNotFound);
  REQUIRE(missing.warnings.size() == 1);
  CHECK(missing.warnings[0].find("missing") != std::string::npos);

  request = pod_request();
  request["object"]["spec"]["serviceAccountName"] = "unbound";
  CHECK(review_of(request).skip == SkipReason::NoRoleAnnotation);

  // No serviceAccountName: the apiserver's default, "default".
  request = pod_request();
  request["object"]["spec"].erase("serviceAccountName");
  CHECK_FALSE(review_of(request).skip.has_value());

  // Namespace from the object when the request lacks it.
  request = pod_request();
  request.erase("namespace");
  request["object"]["metadata"]["namespace"] = "gtoken-system";
  CHECK(review_of(request).skip == SkipReason::OperatorNamespace);
}

TEST_CASE("review_pod checks the namespace and ServiceAccount names before any lookup") {
  auto env = pod_env();
  int lookups = 0;
  env.namespace_labels = [&](const std::string&) -> std::optional<json> {
    ++lookups;
    return json::object();
  };
  env.service_account = [&](const std::string&,
                            const std::string&) -> std::optional<gtoken::webhook::SaSettings> {
    ++lookups;
    return gtoken::webhook::SaSettings{};
  };
  env.cached_service_account = env.service_account;
  auto decide = [&](const json& request) {
    Decision out;
    const AdmissionHttpResult r =
        handle_admission(kJson, review(request).dump(), kDefaultAdmissionBodyLimit,
                         [&](const AdmissionRequest& req) { return out = review_pod(req, env); });
    REQUIRE(r.status == 200);
    const json response = json::parse(r.body)["response"];
    CHECK(response["allowed"] == true);
    CHECK_FALSE(response.contains("patch"));
    return out;
  };

  for (const std::string& bad_ns :
       {std::string("Shop"), std::string("shop/../kube-system"), std::string("a.b"),
        std::string("shop\r\nX: y"), std::string(64, 'a'), std::string("-shop"),
        std::string("sh%2Fop"), std::string("")}) {
    INFO(bad_ns);
    json request = pod_request();
    request["namespace"] = bad_ns;
    request["object"]["metadata"]["namespace"] = bad_ns;
    const Decision d = decide(request);
    CHECK(d.skip == SkipReason::InvalidName);
    REQUIRE(d.warnings.size() == 1);
    CHECK(d.warnings[0].find("namespace") != std::string::npos);
    // Quoted: no raw control byte reaches the warning.
    CHECK(d.warnings[0].find('\r') == std::string::npos);
  }
  for (const std::string& bad_sa :
       {std::string("Cart"), std::string("../secrets/x"), std::string("cart?watch=1"),
        std::string("cart\nx"), std::string(254, 'a'), std::string("cart..x"),
        std::string("a b")}) {
    INFO(bad_sa);
    json request = pod_request();
    request["object"]["spec"]["serviceAccountName"] = bad_sa;
    const Decision d = decide(request);
    CHECK(d.skip == SkipReason::InvalidName);
    REQUIRE(d.warnings.size() == 1);
    CHECK(d.warnings[0].find("service account") != std::string::npos);
  }
  CHECK(lookups == 0);
  CHECK(to_string(SkipReason::InvalidName) == "InvalidName");

  // Valid names still get looked up: a subdomain with dots, a 63-byte label.
  json request = pod_request();
  request["namespace"] = std::string(63, 'n');
  request["object"]["spec"]["serviceAccountName"] = "cart.v2";
  CHECK(decide(request).skip != SkipReason::InvalidName);
  CHECK(lookups == 2);

  // A malformed review stays a 400 (never reaches the names).
  const AdmissionHttpResult r = handle_admission(
      kJson, R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":1}})",
      kDefaultAdmissionBodyLimit,
      [&](const AdmissionRequest& req) { return review_pod(req, env); });
  CHECK(r.status == 400);
}

TEST_CASE("review_pod_cached: the same decision from the cache, nullopt on a miss") {
  auto env = pod_env();
  int live = 0;
  env.service_account = [&](const std::string&,
                            const std::string&) -> std::optional<gtoken::webhook::SaSettings> {
    ++live;
    return std::nullopt;
  };
  env.cached_service_account =
      [](const std::string& ns,
         const std::string& name) -> std::optional<gtoken::webhook::SaSettings> {
    if (name != "cart") return std::nullopt;
    gtoken::webhook::SaSettings sa;
    sa.role_arn = "arn:aws:iam::123456789012:role/" + ns + "-" + name;
    return sa;
  };
  auto cached = [&](const json& request) {
    std::optional<Decision> out;
    handle_admission(kJson, review(request).dump(), kDefaultAdmissionBodyLimit,
                     [&](const AdmissionRequest& req) {
                       out = gtoken::webhook::review_pod_cached(req, env);
                       return out.value_or(Decision{});
                     });
    return out;
  };
  const auto hit = cached(pod_request());
  REQUIRE(hit.has_value());
  CHECK_FALSE(hit->patch.empty());

  json request = pod_request();
  request["object"]["spec"]["serviceAccountName"] = "other";
  CHECK_FALSE(cached(request).has_value());  // a miss: ask again off the I/O thread

  // What needs no ServiceAccount is decided at once.
  request = pod_request();
  request["namespace"] = "gtoken-system";
  CHECK(cached(request)->skip == SkipReason::OperatorNamespace);
  request = pod_request();
  request["object"]["spec"]["serviceAccountName"] = "Bad";
  CHECK(cached(request)->skip == SkipReason::InvalidName);
  request = pod_request();
  request["operation"] = "DELETE";
  CHECK(cached(request)->skip == SkipReason::UnsupportedRequest);
  CHECK(live == 0);
}

TEST_CASE("review_pod, Kubernetes source: same answer on a dry run, warnings reach the user") {
  auto env = pod_env();
  // As the server reads it: the ServiceAccount's annotations through
  // settings_from_service_account, both role annotations set.
  env.service_account = [](const std::string&,
                           const std::string&) -> std::optional<gtoken::webhook::SaSettings> {
    return gtoken::webhook::settings_from_service_account(
        {{"metadata",
          {{"name", "cart"},
           {"annotations",
            {{"amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/google"},
             {"eks.amazonaws.com/role-arn", "arn:aws:iam::123456789012:role/eks"},
             {"eks.amazonaws.com/token-expiration", "60"}}}}}});
  };
  const auto answer = [&](bool dry_run) {
    json request = pod_request("k8s");
    request["dryRun"] = dry_run;
    const AdmissionHttpResult r =
        handle_admission(kJson, review(request).dump(), kDefaultAdmissionBodyLimit,
                         [&](const AdmissionRequest& req) { return review_pod(req, env); });
    REQUIRE(r.status == 200);
    return r;
  };
  const AdmissionHttpResult dry = answer(true);
  const AdmissionHttpResult wet = answer(false);
  CHECK(dry.body == wet.body);
  const json response = json::parse(wet.body)["response"];
  const json patch = json::parse(decode_base64(response["patch"].get<std::string>()));
  const json pod = pod_request()["object"].patch(patch);
  CHECK_FALSE(pod["spec"].contains("initContainers"));
  CHECK(pod["spec"]["volumes"][0]["name"] == "aws-iam-token");
  CHECK(pod["spec"]["volumes"][0]["projected"]["sources"][0]["serviceAccountToken"]
           ["expirationSeconds"] == 600);
  CHECK(pod["spec"]["containers"][0]["env"][1]["value"] == "arn:aws:iam::123456789012:role/eks");
  const json warnings = response["warnings"];
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].get<std::string>().find("Kubernetes token used") != std::string::npos);
  CHECK(warnings[1].get<std::string>().find("out of range, using 600") != std::string::npos);
}
