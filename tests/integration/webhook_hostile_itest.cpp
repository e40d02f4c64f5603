// The real gtoken-operator under hostile admission bodies: 32 connections at
// once, each sending a few 3 MiB bodies shaped to be expensive once decoded
// ([{},{},...], deep nesting, an AdmissionReview full of tiny elements),
// while pods are created through the apiserver. The operator's peak RSS
// (VmHWM) must stay well under the Deployment's memory limit, the process up,
// and every real pod injected. Bounded: a few seconds, stops by itself.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>

#include "tests/integration/webhook_support.hpp"

using witest::json;
using namespace std::chrono_literals;

namespace {

// config/manager/deployment.yaml: resources.limits.memory.
constexpr std::size_t kDeploymentMemoryLimit = std::size_t{256} * 1024 * 1024;
constexpr std::size_t kBody = std::size_t{3} * 1024 * 1024;

// VmHWM / VmRSS of a process, in bytes (0 when unreadable).
std::size_t status_kib(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoul(line.substr(field.size() + 1)) * 1024;
  }
  return 0;
}

std::string filled(const std::string& prefix, const std::string& unit, const std::string& suffix,
                   std::size_t size) {
  std::string out = prefix;
  out.reserve(size);
  bool first = true;
  while (out.size() + unit.size() + 1 + suffix.size() <= size) {
    if (!first) out += ',';
    out += unit;
    first = false;
  }
  return out + suffix;
}

std::vector<std::string> hostile_bodies() {
  return {
      filled("[", "{}", "]", kBody),
      std::string(kBody, '['),
      filled(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x",)"
             R"("kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE",)"
             R"("namespace":"x","object":{"metadata":{"labels":[)",
             "0", "]}}}}", kBody),
      filled("{", R"("k":[])", "}", kBody),
  };
}

std::string request_for(const std::string& body) {
  return "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("32 connections of 3 MiB hostile bodies: bounded memory, the process keeps serving") {
  witest::WebhookOperator w({"--webhook-io-timeout=5s", "--log-level=warn"});
  REQUIRE(w.wait_ready());
  const std::string ns = w.make_namespace("wh-hostile");
  w.make_service_account(ns, "bound", witest::kRoleArn);
  const int pid = w.process().pid();
  const std::size_t hwm_before = status_kib(pid, "VmHWM");
  MESSAGE("operator VmHWM before: " << hwm_before / 1024 << " KiB");

  const auto bodies = hostile_bodies();
  std::vector<std::string> requests;
  for (const auto& b : bodies) requests.push_back(request_for(b));

  constexpr int kConnections = 32;
  constexpr int kRequestsEach = 4;
  std::mutex mu;
  std::map<int, int> statuses;
  std::atomic<bool> stop{false};

  // Real pods all along, through the apiserver (failurePolicy Fail).
  std::atomic<int> pods_ok{0}, pods_bad{0};
  std::thread creator([&] {
    for (int i = 0; !stop; ++i) {
      try {
        const json p = w.client().create(kube::resources::pods(), ns,
                                         witest::pod("during-" + std::to_string(i), "bound"));
        (witest::injected(p) ? pods_ok : pods_bad)++;
      } catch (const std::exception& e) {
        ++pods_bad;
        MESSAGE("pod create failed: " << e.what());
      }
      std::this_thread::sleep_for(100ms);
    }
  });

  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kConnections; ++c) {
    clients.emplace_back([&, c] {
      std::unique_ptr<witest::TlsConn> conn;
      for (int i = 0; i < kRequestsEach; ++i) {
        // A 429 (too many large bodies in flight; answered unread, then
        // closed, so the write may fail first) is retried on a new
        // connection: every body is eventually decoded and refused.
        int status = -1;
        std::mt19937 rng(static_cast<unsigned>(c * 131 + i));
        const auto give_up = std::chrono::steady_clock::now() + 90s;
        while (std::chrono::steady_clock::now() < give_up) {
          status = -1;
          try {
            if (!conn) conn = std::make_unique<witest::TlsConn>(w.port());
            const std::string& req = requests[(c + i) % requests.size()];
            bool closed = false;
            if (conn->write(req)) {
              const std::string answer = conn->read(30s, &closed);
              status = witest::http_status(answer);
            }
            if (closed || status != 400) conn.reset();
          } catch (const std::exception&) {
            conn.reset();
          }
          {
            std::lock_guard lock(mu);
            ++statuses[status];
          }
          if (status != 429 && status != -1) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 40));
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  creator.join();

  const std::size_t hwm = status_kib(pid, "VmHWM");
  const std::size_t rss = status_kib(pid, "VmRSS");
  std::string summary;
  for (const auto& [code, n] : statuses) {
    summary += " " + std::to_string(code) + "×" + std::to_string(n);
  }
  MESSAGE(kConnections << " connections × " << kRequestsEach << " bodies of 3 MiB in " << seconds
                       << " s; answers:" << summary << "; operator VmHWM " << hwm / 1024
                       << " KiB (limit " << kDeploymentMemoryLimit / 1024 << " KiB), VmRSS now "
                       << rss / 1024 << " KiB; pods injected meanwhile " << pods_ok.load()
                       << ", failed " << pods_bad.load());

  REQUIRE(::kill(pid, 0) == 0);  // still running
  CHECK(hwm > 0);
  CHECK(hwm < kDeploymentMemoryLimit / 2);
  // Every hostile body refused in the end with 400 (TooManyElements,
  // JsonTooDeep); on the way, 429 (or the connection closed under the write)
  // when too many large bodies were in flight at once.
  for (const auto& [code, n] : statuses) {
    INFO("status " << code);
    CHECK((code == 400 || code == 429 || code == -1));
  }
  CHECK(statuses[400] == kConnections * kRequestsEach);
  CHECK(pods_bad == 0);
  CHECK(pods_ok > 0);

  // Afterwards: health, readiness, and real admissions as before.
  CHECK(w.get("/healthz").status == 200);
  CHECK(w.get("/readyz").status == 200);
  const json p = w.client().create(kube::resources::pods(), ns, witest::pod("after", "bound"));
  CHECK(witest::injected(p));
  CHECK(w.metric("gtoken_webhook_admissions_total{outcome=\"error\",reason=\"TooManyElements\","
                 "dry_run=\"false\"}") > 0);
}
