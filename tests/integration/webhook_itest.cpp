// The webhook as the apiserver sees it: a real kube-apiserver calls
// gtoken-operator over TLS (clientConfig.url, the operator's own CA in
// caBundle); pods are created through the apiserver and read back.
#include <doctest/doctest.h>

#include "tests/integration/webhook_support.hpp"

using witest::json;
using namespace std::chrono_literals;

namespace {

witest::WebhookOperator& op() {
  static witest::WebhookOperator instance({"--webhook-io-timeout=2s", "--log-level=info"});
  static const bool ready = instance.wait_ready();
  REQUIRE(ready);
  return instance;
}

json create_pod(const std::string& ns, const json& pod, bool dry_run = false) {
  kube::WriteOptions w;
  w.dry_run = dry_run;
  return op().client().create(kube::resources::pods(), ns, pod, w);
}

// The admission answer for a hand-made body, straight to the port.
kube::HttpResponse admit(const std::string& content_type, const std::string& body) {
  return op().post("/mutate", content_type, body);
}

// The pod without what the ServiceAccount admission plugin adds (its token
// volume's name is random per request).
json without_api_token(json pod) {
  auto keep = [](const json& list) {
    json out = json::array();
    for (const auto& v : list) {
      if (v.value("name", "").rfind("kube-api-access-", 0) != 0) out.push_back(v);
    }
    return out;
  };
  json& spec = pod["spec"];
  if (spec.contains("volumes")) spec["volumes"] = keep(spec["volumes"]);
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list)) continue;
    for (auto& c : spec[list]) {
      if (c.contains("volumeMounts")) c["volumeMounts"] = keep(c["volumeMounts"]);
    }
  }
  return pod;
}

// After any abuse: the port still answers and the apiserver still gets patches.
void still_serving(const std::string& ns) {
  CHECK(op().get("/healthz").status == 200);
  const json stored = create_pod(ns, witest::pod(witest::unique("after"), "bound"));
  CHECK(witest::injected(stored));
}

}  // namespace

TEST_CASE("the operator publishes its CA and becomes ready") {
  auto& w = op();
  const json config =
      w.client().get(kube::resources::mutating_webhook_configurations(), "", w.config_name());
  CHECK_FALSE(config["webhooks"][0]["clientConfig"].value("caBundle", "").empty());
  const json secret =
      w.client().get(kube::resources::secrets(), w.operator_namespace(), "gtoken-webhook-cert");
  CHECK(secret["type"] == "kubernetes.io/tls");
  for (const char* key : {"tls.crt", "tls.key", "ca.crt", "ca.key"}) {
    CHECK_FALSE(secret["data"].value(key, "").empty());
  }
  CHECK(w.get("/healthz").status == 200);
  CHECK(w.get("/readyz").body == "ok\n");
}

TEST_CASE("pods through the apiserver: injected, untouched, env kept, native sidecar, dry run") {
  auto& w = op();
  const std::string ns = w.make_namespace("wh-pods");
  w.make_service_account(ns, "bound", witest::kRoleArn);
  w.make_service_account(ns, "plain");

  SUBCASE("hand-annotated ServiceAccount: injected") {
    const json p = create_pod(ns, witest::pod("bound-pod", "bound"));
    REQUIRE(witest::injected(p));
    const json& agent = p["spec"]["initContainers"][0];
    CHECK(agent["name"] == "gtoken");
    CHECK(agent["image"] == "gtoken:itest");
    CHECK(agent["restartPolicy"] == "Always");  // native sidecar: apiserver 1.36
    const json& app = p["spec"]["containers"][0];
    CHECK(witest::env_value(app, "AWS_ROLE_ARN") == witest::kRoleArn);
    CHECK(witest::env_value(app, "AWS_WEB_IDENTITY_TOKEN_FILE") ==
          "/var/run/secrets/aws/token/gtoken");
    CHECK(witest::env_value(app, "AWS_ROLE_SESSION_NAME") == ns + ".bound-pod");
    bool volume = false;
    for (const auto& v : p["spec"]["volumes"])
      volume = volume || v.value("name", "") == "gtoken-volume";
    CHECK(volume);
    // What is stored is what was returned.
    const json stored = w.client().get(kube::resources::pods(), ns, "bound-pod");
    CHECK(stored["spec"]["initContainers"] == p["spec"]["initContainers"]);
  }

  SUBCASE("unannotated ServiceAccount: untouched") {
    const json p = create_pod(ns, witest::pod("plain-pod", "plain"));
    CHECK_FALSE(p["spec"].contains("initContainers"));
    CHECK(witest::env_value(p["spec"]["containers"][0], "AWS_ROLE_ARN").empty());
  }

  SUBCASE("env a container already sets is kept") {
    json pod = witest::pod("preset", "bound");
    pod["spec"]["containers"][0]["env"] =
        json::array({{{"name", "AWS_ROLE_SESSION_NAME"}, {"value", "mine"}},
                     {{"name", "AWS_ROLE_ARN"}, {"value", "arn:aws:iam::111111111111:role/own"}}});
    const json p = create_pod(ns, pod);
    REQUIRE(witest::injected(p));
    const json& app = p["spec"]["containers"][0];
    CHECK(witest::env_value(app, "AWS_ROLE_SESSION_NAME") == "mine");
    CHECK(witest::env_value(app, "AWS_ROLE_ARN") == "arn:aws:iam::111111111111:role/own");
    int arns = 0;
    for (const auto& e : app["env"]) arns += e.value("name", "") == "AWS_ROLE_ARN";
    CHECK(arns == 1);
  }

  SUBCASE("Job-style pod (restartPolicy Never): native sidecar, nothing holding it open") {
    const json p = create_pod(ns, witest::pod("job-pod", "bound", {{"restartPolicy", "Never"}}));
    REQUIRE(witest::injected(p));
    CHECK(p["spec"]["initContainers"][0]["restartPolicy"] == "Always");
    CHECK(p["spec"]["initContainers"][0].contains("startupProbe"));
    CHECK(p["spec"]["containers"].size() == 1);  // no classic sidecar container
  }

  SUBCASE("dry run: the same patch, nothing stored") {
    const json dry = without_api_token(create_pod(ns, witest::pod("dry-pod", "bound"), true));
    REQUIRE(witest::injected(dry));
    CHECK_THROWS_AS(w.client().get(kube::resources::pods(), ns, "dry-pod"), kube::ApiError);
    const json real = without_api_token(create_pod(ns, witest::pod("dry-pod", "bound")));
    CHECK(real["spec"]["initContainers"] == dry["spec"]["initContainers"]);
    CHECK(real["spec"]["volumes"] == dry["spec"]["volumes"]);
    CHECK(real["spec"]["containers"][0]["env"] == dry["spec"]["containers"][0]["env"]);
    CHECK(real["spec"]["containers"][0]["volumeMounts"] ==
          dry["spec"]["containers"][0]["volumeMounts"]);
  }

  SUBCASE("generateName pod: session name from the downward API") {
    json pod = witest::pod("", "bound");
    pod["metadata"].erase("name");
    pod["metadata"]["generateName"] = "web-";
    const json p = create_pod(ns, pod);
    REQUIRE(witest::injected(p));
    CHECK(witest::env_value(p["spec"]["containers"][0], "AWS_ROLE_SESSION_NAME") ==
          ns + ".$(GTOKEN_POD_NAME)");
  }
}

TEST_CASE("ignored namespace: untouched") {
  auto& w = op();
  const std::string ns = w.make_namespace("wh-ignored", {{"admission.gtoken/ignore", "true"}});
  w.make_service_account(ns, "bound", witest::kRoleArn);
  const json p = create_pod(ns, witest::pod("p", "bound"));
  CHECK_FALSE(witest::injected(p));
  CHECK_FALSE(p["spec"].contains("initContainers"));
}

TEST_CASE(
    "Kubernetes token source: an EKS-annotated ServiceAccount's pods are stored with the "
    "projected token") {
  auto& w = op();
  const std::string ns = w.make_namespace("wh-eks");
  // As on EKS: eks.amazonaws.com annotations only, no binding, no Google service account.
  w.client().create(kube::resources::service_accounts(), ns,
                    {{"apiVersion", "v1"},
                     {"kind", "ServiceAccount"},
                     {"metadata",
                      {{"name", "eks"},
                       {"annotations",
                        {{"eks.amazonaws.com/role-arn", witest::kRoleArn},
                         {"eks.amazonaws.com/token-expiration", "3600"}}}}}});
  const std::string mount_path = "/var/run/secrets/eks.amazonaws.com/serviceaccount";
  const auto token_volume = [](const json& p) {
    for (const auto& v : p["spec"].value("volumes", json::array())) {
      if (v.value("name", "") == "aws-iam-token") return v;
    }
    return json();
  };
  const auto expiration = [&](const json& p) {
    return token_volume(p)["projected"]["sources"][0]["serviceAccountToken"].value(
        "expirationSeconds", 0);
  };

  SUBCASE("volume, mounts and env, no agent, in every container") {
    json pod = witest::pod("eks-pod", "eks");
    pod["spec"]["initContainers"] = json::array({{{"name", "init"}, {"image", "busybox"}}});
    create_pod(ns, pod);
    const json stored = w.client().get(kube::resources::pods(), ns, "eks-pod");
    const json volume = token_volume(stored);
    REQUIRE(volume.is_object());
    const json& token = volume["projected"]["sources"][0]["serviceAccountToken"];
    CHECK(token["audience"] == "sts.amazonaws.com");
    CHECK(token["expirationSeconds"] == 3600);
    CHECK(token["path"] == "token");
    for (const char* list : {"initContainers", "containers"}) {
      REQUIRE(stored["spec"][list].size() == 1);  // no agent
      const json& c = stored["spec"][list][0];
      INFO(c.dump());
      CHECK(witest::env_value(c, "AWS_ROLE_ARN") == witest::kRoleArn);
      CHECK(witest::env_value(c, "AWS_WEB_IDENTITY_TOKEN_FILE") == mount_path + "/token");
      CHECK(witest::env_value(c, "AWS_ROLE_SESSION_NAME") == ns + ".eks-pod");
      bool mounted = false;
      for (const auto& m : c["volumeMounts"]) {
        mounted = mounted || (m["name"] == "aws-iam-token" && m["mountPath"] == mount_path &&
                              m.value("readOnly", false));
      }
      CHECK(mounted);
    }
  }

  SUBCASE("the pod's token-expiration, at the bounds the apiserver accepts") {
    for (const auto& [value, seconds] :
         std::vector<std::pair<std::string, int>>{{"0", 600}, {"7200", 7200}, {"999999", 86400}}) {
      INFO(value);
      json pod = witest::pod(witest::unique("exp"), "eks");
      pod["metadata"]["annotations"] = {{"eks.amazonaws.com/token-expiration", value}};
      CHECK(expiration(create_pod(ns, pod)) == seconds);
    }
  }

  SUBCASE("dry run: the same volume and env, nothing stored") {
    const json dry = without_api_token(create_pod(ns, witest::pod("eks-dry", "eks"), true));
    CHECK_THROWS_AS(w.client().get(kube::resources::pods(), ns, "eks-dry"), kube::ApiError);
    const json real = without_api_token(create_pod(ns, witest::pod("eks-dry", "eks")));
    CHECK(token_volume(dry).is_object());
    CHECK(real["spec"]["volumes"] == dry["spec"]["volumes"]);
    CHECK(real["spec"]["containers"] == dry["spec"]["containers"]);
  }
}

TEST_CASE("a ServiceAccount created right before its pod: injected (cache miss path)") {
  auto& w = op();
  const std::string ns = w.make_namespace("wh-fresh");
  const double misses_before =
      w.metric("gtoken_webhook_service_account_cache_misses_total{result=\"found\"}");
  int injected = 0;
  constexpr int kPairs = 25;
  for (int i = 0; i < kPairs; ++i) {
    const std::string name = "sa-" + std::to_string(i);
    w.make_service_account(ns, name, witest::kRoleArn);
    injected += witest::injected(create_pod(ns, witest::pod("p-" + std::to_string(i), name)));
  }
  CHECK(injected == kPairs);
  const double misses =
      w.metric("gtoken_webhook_service_account_cache_misses_total{result=\"found\"}") -
      misses_before;
  MESSAGE("cache misses answered by a live read: " << misses << " of " << kPairs);
}

TEST_CASE("an overwritten caBundle is put back by the leader") {
  auto& w = op();
  const std::string ns = w.make_namespace("wh-bundle");
  w.make_service_account(ns, "bound", witest::kRoleArn);
  auto& c = w.client();
  json config = c.get(kube::resources::mutating_webhook_configurations(), "", w.config_name());
  const std::string published = config["webhooks"][0]["clientConfig"]["caBundle"];
  config["webhooks"][0]["clientConfig"].erase("caBundle");
  c.update(kube::resources::mutating_webhook_configurations(), "", config);
  CHECK(itest::eventually(
      [&] {
        const json now =
            c.get(kube::resources::mutating_webhook_configurations(), "", w.config_name());
        return now["webhooks"][0]["clientConfig"].value("caBundle", "") == published;
      },
      20s));
  CHECK(w.wait_ready(20s));
  // The apiserver reloads its webhook clients asynchronously.
  CHECK(itest::eventually(
      [&] {
        try {
          return witest::injected(create_pod(ns, witest::pod(witest::unique("p"), "bound")));
        } catch (const std::exception&) {
          return false;
        }
      },
      20s));
}

TEST_CASE("admission endpoint: rejects before decoding, JSON error bodies") {
  auto& w = op();
  auto r = admit("application/json", "");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["message"].get<std::string>().rfind("EmptyBody", 0) == 0);
  r = admit("text/plain", "{}");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["message"].get<std::string>().rfind("UnsupportedContentType", 0) == 0);
  r = admit("application/json", "{not json");
  CHECK(r.status == 400);
  r = admit("application/json", R"({"kind":"AdmissionReview"})");
  CHECK(r.status == 400);
  r = w.get("/mutate");
  CHECK(r.status == 405);
  CHECK(w.get("/nope").status == 404);
  // Metrics are on their own port, not this one.
  CHECK(w.get("/metrics").status == 404);
  // A valid review of something not a pod: allowed, uid echoed.
  const json review = {{"apiVersion", "admission.k8s.io/v1"},
                       {"kind", "AdmissionReview"},
                       {"request",
                        {{"uid", "u-1"},
                         {"operation", "CREATE"},
                         {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "ConfigMap"}}},
                         {"object", json::object()}}}};
  r = admit("application/json", review.dump());
  CHECK(r.status == 200);
  const json answer = json::parse(r.body);
  CHECK(answer["response"]["uid"] == "u-1");
  CHECK(answer["response"]["allowed"] == true);
}

TEST_CASE("metrics: admissions, latency buckets, cache, certificate expiry") {
  auto& w = op();
  const std::string text = w.metrics_text();
  for (const char* needle :
       {"gtoken_webhook_admission_duration_seconds_bucket{outcome=\"patched\",le=\"0.0001\"}",
        "gtoken_webhook_admissions_total{outcome=\"patched\"",
        "gtoken_webhook_admissions_total{outcome=\"skipped\",reason=\"NoRoleAnnotation\"",
        "gtoken_webhook_service_account_cache_size ",
        "gtoken_webhook_certificate_expiry_timestamp_seconds{certificate=\"serving\"}",
        "gtoken_webhook_certificate_expiry_timestamp_seconds{certificate=\"ca\"}",
        "gtoken_webhook_ready 1", "# TYPE gtoken_reconcile_total counter"}) {
    INFO(needle);
    CHECK(text.find(needle) != std::string::npos);
  }
}

TEST_CASE("bad input to the port: 4xx or closed, and the process keeps serving") {
  auto& w = op();
  const std::string ns = w.make_namespace("wh-abuse");
  w.make_service_account(ns, "bound", witest::kRoleArn);
  const int port = w.port();

  SUBCASE("plain-text garbage instead of a TLS handshake: closed") {
    const int fd = witest::tcp_connect(port);
    const std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\xff\xff garbage";
    CHECK(::write(fd, junk.data(), junk.size()) > 0);
    bool closed = false;
    witest::read_plain(fd, 5s, &closed);
    CHECK(closed);
    close(fd);
  }

  SUBCASE("random bytes after the handshake: 400 or closed") {
    witest::TlsConn conn(port);
    std::string junk;
    std::mt19937 rng(7);
    for (int i = 0; i < 5000; ++i) junk += static_cast<char>(rng() % 256);
    conn.write(junk);
    bool closed = false;
    const std::string answer = conn.read(5s, &closed);
    const int status = witest::http_status(answer);
    CHECK((closed || (status >= 400 && status < 500)));
  }

  SUBCASE("a 10 MB body: 413 or closed") {
    witest::TlsConn conn(port);
    const std::string body(10 * 1024 * 1024, 'x');
    const std::string head =
        "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n";
    conn.write(head);
    conn.write(body);  // may fail midway: the server answers and closes
    bool closed = false;
    const std::string answer = conn.read(10s, &closed);
    const int status = witest::http_status(answer);
    INFO("answer: " << answer.substr(0, 300) << " closed: " << closed);
    CHECK((status == 413 || (status == 0 && closed)));
    if (status == 413) CHECK(answer.find("BodyTooLarge") != std::string::npos);
  }

  SUBCASE("a 10 MB chunked body: 413 or closed") {
    witest::TlsConn conn(port);
    conn.write(
        "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n");
    const std::string chunk(1024 * 1024, 'x');
    for (int i = 0; i < 10; ++i) {
      if (!conn.write("100000\r\n" + chunk + "\r\n")) break;
    }
    bool closed = false;
    const std::string answer = conn.read(10s, &closed);
    const int status = witest::http_status(answer);
    CHECK((status == 413 || (status == 0 && closed)));
  }

  SUBCASE("requests however they arrive: two in one write, one in pieces, a bad chunk") {
    // DELETE reviews: answered 200 (not a pod creation), the uid echoed.
    const auto request = [](const std::string& uid, bool last) {
      const std::string body =
          R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":")" +
          uid +
          R"(","operation":"DELETE","namespace":"x","kind":{"group":"","version":"v1","kind":"Pod"}}})";
      return "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
             std::string(last ? "Connection: close\r\n" : "") +
             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    };
    {
      witest::TlsConn conn(port);
      CHECK(conn.write(request("pipelined-1", false) + request("pipelined-2", true)));
      const std::string first = conn.read(5s);  // one response at a time, in order
      CHECK(witest::http_status(first) == 200);
      CHECK(first.find("\"pipelined-1\"") != std::string::npos);
      const std::string second = conn.read(5s);
      CHECK(witest::http_status(second) == 200);
      CHECK(second.find("\"pipelined-2\"") != std::string::npos);
      bool closed = false;
      CHECK(conn.read(5s, &closed).empty());
      CHECK(closed);  // the second said Connection: close
    }
    {
      witest::TlsConn conn(port);
      const std::string whole = request("in-pieces", true);
      for (std::size_t at = 0; at < whole.size(); at += 7) {
        CHECK(conn.write(whole.substr(at, 7)));
        std::this_thread::sleep_for(1ms);
      }
      const std::string answer = conn.read(5s);
      CHECK(witest::http_status(answer) == 200);
      CHECK(answer.find("\"in-pieces\"") != std::string::npos);
    }
    {
      witest::TlsConn conn(port);
      CHECK(conn.write(
          "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"));
      const std::string answer = conn.read(5s);
      CHECK(witest::http_status(answer) == 400);
      CHECK(answer.find("malformed HTTP body") != std::string::npos);
    }
  }

  SUBCASE("a slow client holding a connection: closed after the I/O timeout") {
    const auto start = std::chrono::steady_clock::now();
    witest::TlsConn conn(port);
    conn.write("POST /mutate HTTP/1.1\r\nHost: x\r\nCont");  // and never more
    bool closed = false;
    conn.read(15s, &closed);
    CHECK(closed);
    CHECK(std::chrono::steady_clock::now() - start < 10s);  // --webhook-io-timeout=2s
  }

  SUBCASE("a client that connects and sends nothing: closed") {
    const int fd = witest::tcp_connect(port);
    bool closed = false;
    witest::read_plain(fd, 15s, &closed);
    CHECK(closed);
    close(fd);
  }

  SUBCASE("a TLS handshake cut short with garbage records") {
    const int fd = witest::tcp_connect(port);
    // A TLS record header claiming a handshake, then nonsense.
    const std::string junk = std::string("\x16\x03\x03\x00\x40", 5) + std::string(64, '\x42');
    CHECK(::write(fd, junk.data(), junk.size()) > 0);
    bool closed = false;
    witest::read_plain(fd, 5s, &closed);
    CHECK(closed);
    close(fd);
  }

  SUBCASE("many connections at once, half of them idle") {
    std::vector<std::unique_ptr<witest::TlsConn>> idle;
    for (int i = 0; i < 50; ++i) idle.push_back(std::make_unique<witest::TlsConn>(port));
    still_serving(ns);
  }

  still_serving(ns);
}
