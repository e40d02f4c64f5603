// A leader election candidate process for the takeover test: it runs a
// LeaderElector on a Lease and prints LEADING / STOPPED lines with a
// timestamp, until it is killed.
#include <iostream>
#include <thread>

#include "kube/config.hpp"
#include "kube/leader.hpp"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: leader_candidate KUBECONFIG NAMESPACE LEASE IDENTITY\n";
    return 2;
  }
  auto cfg = kube::load_kubeconfig(argv[1]);
  auto http = std::make_shared<kube::HttpClient>(kube::http_options(cfg));
  auto client = std::make_shared<kube::Client>(http, "leader-candidate");
  auto stamp = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  kube::LeaderElectionConfig lc;
  lc.identity = argv[4];
  lc.lease_name = argv[3];
  lc.lease_namespace = argv[2];
  lc.lease_duration = std::chrono::seconds(4);
  lc.renew_deadline = std::chrono::seconds(3);
  lc.retry_period = std::chrono::milliseconds(500);
  lc.on_started_leading = [&] { std::cout << "LEADING " << stamp() << std::endl; };
  lc.on_stopped_leading = [&] { std::cout << "STOPPED " << stamp() << std::endl; };
  kube::LeaderElector elector(
      std::make_shared<kube::ClientLeaseApi>(client, argv[2], argv[3]), lc);
  elector.start();
  std::cout << "STARTED " << stamp() << std::endl;
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}
