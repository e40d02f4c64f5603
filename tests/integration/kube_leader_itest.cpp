// Leader election between two real processes on one Lease.
#include <doctest/doctest.h>

#include <signal.h>

#include "tests/integration/support.hpp"

namespace {

// Reads lines until one starts with `word`; returns its timestamp (ms).
std::optional<long long> wait_for(itest::Process& p, const std::string& word,
                                  std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto line = p.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
    if (!line) return std::nullopt;
    if (line->rfind(word + " ", 0) == 0) return std::stoll(line->substr(word.size() + 1));
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("two candidates: exactly one leads; when it is killed the other takes over") {
  auto c = itest::admin_client();
  std::string ns = itest::make_namespace(*c, "leader");
  std::string kubeconfig = std::getenv("KUBECONFIG");
  std::string bin = itest::binary_dir() + "/tests/integration/leader_candidate";
  itest::Process a({bin, kubeconfig, ns, "gtoken-test", "candidate-a"});
  REQUIRE(wait_for(a, "LEADING", std::chrono::seconds(20)));
  itest::Process b({bin, kubeconfig, ns, "gtoken-test", "candidate-b"});
  REQUIRE(wait_for(b, "STARTED", std::chrono::seconds(10)));
  // b must not lead while a renews: watch it for well over a lease duration.
  CHECK_FALSE(wait_for(b, "LEADING", std::chrono::seconds(6)));
  auto lease = c->get(kube::resources::leases(), ns, "gtoken-test");
  CHECK(lease["spec"]["holderIdentity"] == "candidate-a");

  auto killed_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  a.kill(SIGKILL);  // no chance to release the lease
  auto took_over = wait_for(b, "LEADING", std::chrono::seconds(20));
  REQUIRE(took_over);
  // Lease duration 4 s; the candidate retries every 0.5–1.1 s and counts
  // expiry from when it saw the last renewal.
  CHECK(*took_over - killed_at <= 4000 + 1500);
  lease = c->get(kube::resources::leases(), ns, "gtoken-test");
  CHECK(lease["spec"]["holderIdentity"] == "candidate-b");
  CHECK(lease["spec"]["leaseTransitions"].get<int>() >= 1);
  c->remove(kube::resources::namespaces(), "", ns);
}
