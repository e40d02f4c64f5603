// The webhook's serving side in process, without an apiserver: the real
// HTTPS server, routes and lookup pool around review_pod, with injected
// lookups that hang until released. Checks that cache misses waiting on a
// slow lookup never stall cache hits (they are decided on the I/O threads),
// that a full lookup queue and a lookup past its deadline answer 500, and
// that the metrics port serves /metrics only.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "kube/http.hpp"
#include "kube/metrics.hpp"
#include "webhook/certs.hpp"
#include "webhook/lookup_pool.hpp"
#include "webhook/pod_review.hpp"
#include "webhook/routes.hpp"
#include "webhook/runtime.hpp"
#include "webhook/server.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
namespace wh = gtoken::webhook;

namespace {

// Lookups that block until released.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_waiting(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return waiting_ >= n; });
  }
  int waiting() {
    std::lock_guard lock(mu_);
    return waiting_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

const char* kRole = "arn:aws:iam::123456789012:role/app";

std::string pod_review(const std::string& uid, const std::string& sa) {
  return json{{"apiVersion", "admission.k8s.io/v1"},
              {"kind", "AdmissionReview"},
              {"request",
               {{"uid", uid},
                {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
                {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
                {"operation", "CREATE"},
                {"namespace", "shop"},
                {"object",
                 {{"apiVersion", "v1"},
                  {"kind", "Pod"},
                  {"metadata", {{"name", uid}, {"namespace", "shop"}}},
                  {"spec",
                   {{"serviceAccountName", sa},
                    {"containers", json::array({{{"name", "app"}, {"image", "app"}}})}}}}}}}}
      .dump();
}

// The server, routes and pool as the runtime wires them, with `slow` as the
// live lookup of every ServiceAccount the cache does not hold ("hit" only).
class Harness {
 public:
  Harness(wh::LookupPoolOptions pool_options, std::function<void()> slow, int io_threads = 2)
      : metrics_(std::make_shared<kube::Metrics>()),
        pool_(std::make_shared<wh::LookupPool>(pool_options)) {
    wh::describe_webhook_metrics(*metrics_);
    env_.operator_namespace = "gtoken-system";
    env_.random = [] { return 7u; };
    env_.namespace_labels = [](const std::string&) -> std::optional<json> {
      return json::object();
    };
    env_.cached_service_account = [](const std::string&,
                                     const std::string& name) -> std::optional<wh::SaSettings> {
      if (name != "hit") return std::nullopt;
      wh::SaSettings sa;
      sa.role_arn = kRole;
      return sa;
    };
    env_.service_account = [this, slow](const std::string& ns,
                                        const std::string& name) -> std::optional<wh::SaSettings> {
      if (auto hit = env_.cached_service_account(ns, name)) return hit;
      live_on_io_thread_ = live_on_io_thread_ || on_io_thread();
      slow();
      wh::SaSettings sa;
      sa.role_arn = kRole;
      return sa;
    };
    wh::RoutesEnv routes;
    routes.decide_cached = [this](const wh::AdmissionRequest& r) {
      return wh::review_pod_cached(r, env_);
    };
    routes.decide = [this](const wh::AdmissionRequest& r) { return wh::review_pod(r, env_); };
    routes.pool = pool_;
    routes.metrics = metrics_;
    wh::ServerOptions so;
    so.bind_address = "127.0.0.1";
    so.port = 0;
    so.threads = io_threads;
    server_ = std::make_unique<wh::HttpsServer>(
        so, [this, h = wh::make_routes(routes)](wh::HttpRequestData r, wh::Respond done) {
          {
            std::lock_guard lock(io_mu_);
            io_threads_.insert(std::this_thread::get_id());
          }
          h(std::move(r), std::move(done));
        });
    const auto now = std::chrono::system_clock::now();
    const auto ca = wh::create_ca("itest-ca", now, 24h);
    wh::ServingCertRequest req;
    req.dns_names = {"localhost"};
    req.ip_addresses = {"127.0.0.1"};
    req.validity = 24h;
    const auto serving = wh::issue_serving_certificate(ca, req, now);
    server_->set_certificate(serving.cert_pem, serving.key_pem);
    server_->start();
  }
  ~Harness() {
    server_->stop();
    pool_->stop();
  }

  // One admission on a connection of its own.
  kube::HttpResponse admit(const std::string& uid, const std::string& sa) {
    kube::HttpOptions ho;
    ho.base_url = "https://127.0.0.1:" + std::to_string(server_->port());
    ho.tls.insecure_skip_verify = true;
    ho.request_timeout = 20s;
    ho.max_idle_connections = 0;
    kube::HttpClient http(ho);
    kube::HttpRequest r;
    r.method = "POST";
    r.target = "/mutate";
    r.headers = {{"Content-Type", "application/json"}};
    r.body = pod_review(uid, sa);
    return http.request(r);
  }

  bool live_on_io_thread() const { return live_on_io_thread_; }
  wh::LookupPool& pool() { return *pool_; }
  kube::Metrics& metrics() { return *metrics_; }

 private:
  bool on_io_thread() {
    std::lock_guard lock(io_mu_);
    return io_threads_.count(std::this_thread::get_id()) > 0;
  }

  std::shared_ptr<kube::Metrics> metrics_;
  std::shared_ptr<wh::LookupPool> pool_;
  wh::PodReviewEnv env_;
  std::unique_ptr<wh::HttpsServer> server_;
  std::mutex io_mu_;
  std::set<std::thread::id> io_threads_;
  std::atomic<bool> live_on_io_thread_{false};
};

template <class F>
bool itest_wait(F f, std::chrono::milliseconds timeout = 10s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return f();
}

bool patched(const kube::HttpResponse& r) {
  if (r.status != 200) return false;
  const json answer = json::parse(r.body);
  return answer["response"]["allowed"] == true && answer["response"].contains("patch");
}

}  // namespace

TEST_CASE("every lookup thread hanging on a cache miss: cache hits are still answered at once") {
  Gate gate;
  constexpr int kLookupThreads = 2;
  Harness h(
      {kLookupThreads, 16, 60'000ms}, [&] { gate.wait(); }, /*io_threads=*/2);

  // More misses than lookup threads and than I/O threads: all of them wait.
  std::vector<std::future<kube::HttpResponse>> misses;
  for (int i = 0; i < 2 * kLookupThreads; ++i) {
    misses.push_back(std::async(std::launch::async,
                                [&h, i] { return h.admit("miss-" + std::to_string(i), "new"); }));
  }
  REQUIRE(gate.wait_waiting(kLookupThreads, 10s));
  REQUIRE(itest_wait([&] { return h.pool().queued() == kLookupThreads; }));

  // Cache hits, one after another and in parallel, while every lookup hangs.
  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::future<kube::HttpResponse>> hits;
    for (int i = 0; i < 8; ++i) {
      hits.push_back(std::async(std::launch::async, [&h, round, i] {
        return h.admit("hit-" + std::to_string(round) + "-" + std::to_string(i), "hit");
      }));
    }
    for (auto& f : hits) {
      REQUIRE(f.wait_for(10s) == std::future_status::ready);
      CHECK(patched(f.get()));
    }
    const auto took = std::chrono::steady_clock::now() - start;
    MESSAGE("8 cache hits while " << kLookupThreads << " lookups hang: "
                                  << std::chrono::duration<double, std::milli>(took).count()
                                  << " ms");
    CHECK(took < 2s);
  }
  for (auto& f : misses) CHECK(f.wait_for(0ms) == std::future_status::timeout);  // still hanging
  CHECK(gate.waiting() == kLookupThreads);

  gate.open();
  for (auto& f : misses) {
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    CHECK(patched(f.get()));  // the live read's answer, posted back to its connection
  }
  CHECK_FALSE(h.live_on_io_thread());
}

TEST_CASE("a full lookup queue answers 500 at once; a lookup past its deadline answers 500") {
  Gate gate;
  Harness h({1, 1, 1500ms}, [&] { gate.wait(); });
  auto running = std::async(std::launch::async, [&] { return h.admit("run", "new"); });
  REQUIRE(gate.wait_waiting(1, 10s));
  auto queued = std::async(std::launch::async, [&] { return h.admit("queued", "new"); });
  REQUIRE(itest_wait([&] { return h.pool().queued() == 1; }));

  const auto start = std::chrono::steady_clock::now();
  const kube::HttpResponse full = h.admit("full", "new");
  CHECK(full.status == 500);
  CHECK(full.body.find("lookup queue full") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < 1s);  // not after the deadline

  // Both others at their deadline: 500 (failurePolicy decides), the uid echoed.
  for (auto* f : {&running, &queued}) {
    REQUIRE(f->wait_for(10s) == std::future_status::ready);
    const kube::HttpResponse r = f->get();
    CHECK(r.status == 500);
    CHECK(r.body.find("deadline") != std::string::npos);
  }
  // A cache hit meanwhile is unaffected.
  CHECK(patched(h.admit("hit", "hit")));
  const std::string text = h.metrics().render();
  CHECK(text.find("gtoken_webhook_lookup_pool_rejections_total{reason=\"queue_full\"} 1") !=
        std::string::npos);
  CHECK(text.find("gtoken_webhook_lookup_pool_rejections_total{reason=\"deadline\"} 2") !=
        std::string::npos);
  gate.open();
}

TEST_CASE("the metrics port: plain HTTP, /metrics only") {
  auto metrics = std::make_shared<kube::Metrics>();
  wh::describe_webhook_metrics(*metrics);
  int refreshed = 0;
  wh::ServerOptions so;
  so.tls = false;
  so.bind_address = "127.0.0.1";
  so.port = 0;
  so.threads = 1;
  // What the runtime's refresh does to its gauges, with a gauge of the test's.
  static constexpr kube::MetricFamily kRefreshed{"itest_refreshed", kube::MetricType::gauge,
                                                 "set by the refresh callback"};
  wh::HttpsServer server(so, wh::make_metrics_routes(metrics, [&] {
                           ++refreshed;
                           metrics->set(kRefreshed, 1);
                         }));
  server.start();  // no certificate needed
  kube::HttpOptions ho;
  ho.base_url = "http://127.0.0.1:" + std::to_string(server.port());
  ho.request_timeout = 5s;
  kube::HttpClient http(ho);
  kube::HttpRequest r;
  r.target = "/metrics";
  const auto answer = http.request(r);
  CHECK(answer.status == 200);
  CHECK(answer.body.find("itest_refreshed 1") != std::string::npos);
  // Every family is listed before any update.
  CHECK(answer.body.find("# TYPE gtoken_webhook_ready gauge") != std::string::npos);
  CHECK(answer.body.find("# TYPE gtoken_webhook_certificate_rotations_total counter") !=
        std::string::npos);
  CHECK(refreshed == 1);
  r.target = "/mutate";
  CHECK(http.request(r).status == 404);
  server.stop();
}
