// Certificate rotation under load: certificates that live seconds, 1,000 pod
// creations through the apiserver with failurePolicy Fail, across several
// serving-certificate rotations and CA rotations: not one may fail.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>

#include "tests/integration/webhook_support.hpp"

using witest::json;
using namespace std::chrono_literals;

TEST_CASE("1,000 pods across serving-certificate and CA rotations: 0 failures") {
  // Serving certificates every ~2 s; a CA rotation every ~10 s (published 1 s
  // before it signs, retired 2 s after every replica serves the new one).
  witest::WebhookOperator w(
      {"--cert-validity=4s", "--cert-lookahead=2s", "--ca-validity=20s", "--ca-lookahead=10s",
       "--ca-publish-delay=1s", "--ca-retire-grace=2s", "--log-level=warn"},
      "Fail");
  REQUIRE(w.wait_ready());
  const std::string ns = w.make_namespace("wh-rotation");
  w.make_service_account(ns, "bound", witest::kRoleArn);
  // The apiserver picks the configuration up asynchronously.
  REQUIRE(itest::eventually(
      [&] {
        try {
          return witest::injected(
              w.client().create(kube::resources::pods(), ns, witest::pod("warmup", "bound")));
        } catch (const std::exception&) {
          return false;
        }
      },
      20s));

  auto promotions = [&] {
    return w.metric("gtoken_webhook_certificate_rotations_total{action=\"PromoteNextCa\"}");
  };
  auto issued = [&] {
    return w.metric("gtoken_webhook_certificate_rotations_total{action=\"IssueServingCert\"}");
  };
  auto retired = [&] {
    return w.metric("gtoken_webhook_certificate_rotations_total{action=\"RetireOldCa\"}");
  };
  const double promotions_before = promotions();
  const double issued_before = issued();
  const double retired_before = retired();

  constexpr int kPods = 1000;
  constexpr int kThreads = 8;
  // Paced so that the run spans several CA lifetimes whatever the machine.
  constexpr auto kSpacing = 40ms;
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::atomic<int> not_injected{0};
  std::mutex errors_mu;
  std::vector<std::string> errors;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto client = itest::admin_client();
      for (int i = next++; i < kPods; i = next++) {
        std::this_thread::sleep_until(start + i * kSpacing);
        try {
          const json p = client->create(kube::resources::pods(), ns,
                                        witest::pod("p-" + std::to_string(i), "bound"));
          if (!witest::injected(p)) ++not_injected;
        } catch (const std::exception& e) {
          ++failed;
          std::lock_guard lock(errors_mu);
          if (errors.size() < 5) errors.push_back(e.what());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  for (const auto& e : errors) MESSAGE("failure: " << e);
  MESSAGE(kPods << " pods in " << seconds << " s; CA promotions "
                << promotions() - promotions_before << ", CA retirements "
                << retired() - retired_before << ", serving certificates "
                << issued() - issued_before);
  CHECK(failed == 0);
  CHECK(not_injected == 0);
  CHECK(promotions() - promotions_before >= 1);
  CHECK(retired() - retired_before >= 1);
  CHECK(issued() - issued_before >= 2);
  CHECK(w.metric("gtoken_webhook_certificate_reloads_total{result=\"error\"}") == 0);
}
