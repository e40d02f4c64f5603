// Watch-and-cache throughput against a real kube-apiserver. Prints numbers,
// asserts nothing.
//
//   watch_bench KUBECONFIG [N=10000]
//
// 1. creates N ConfigMaps in a fresh namespace (8 writer threads);
// 2. sync: an Informer lists and caches them (events/s to a synced store);
// 3. follow: N updates from 8 threads while the Informer watches; time until
//    the store has seen every one (events/s), and the lag after the last write;
// 4. memory: resident-set growth of the store per 10,000 objects, full
//    objects and metadata-only.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "kube/config.hpp"
#include "kube/errors.hpp"
#include "kube/watcher.hpp"

using kube::json;
using Clock = std::chrono::steady_clock;
namespace res = kube::resources;

namespace {

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void parallel(int threads, int n, const std::function<void(int)>& f) {
  std::vector<std::thread> ts;
  std::atomic<int> next{0};
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i; (i = next++) < n;) f(i);
    });
  }
  for (auto& t : ts) t.join();
}

json config_map(int i) {
  // About the size of a small real ConfigMap: a few labels and 200 bytes of data.
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata",
           {{"name", "bench-" + std::to_string(i)},
            {"labels", {{"app", "bench"}, {"shard", std::to_string(i % 16)}}}}},
          {"data", {{"v", "0"}, {"payload", std::string(200, 'x')}}}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: watch_bench KUBECONFIG [N]\n";
    return 2;
  }
  int n = argc > 2 ? std::atoi(argv[2]) : 10000;
  auto cfg = kube::load_kubeconfig(argv[1]);
  auto opts = kube::http_options(cfg);
  opts.max_idle_connections = 16;
  auto client = std::make_shared<kube::Client>(std::make_shared<kube::HttpClient>(opts), "bench");
  std::string ns = "bench-" + std::to_string(std::time(nullptr) % 100000);
  client->create(res::namespaces(), "",
                 {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});

  auto t0 = Clock::now();
  parallel(8, n, [&](int i) { client->create(res::config_maps(), ns, config_map(i)); });
  double create_s = secs(Clock::now() - t0);
  std::printf("created %d ConfigMaps in %.1f s (%.0f creates/s, 8 writers)\n", n, create_s,
              n / create_s);

  std::atomic<int> seen{0};
  std::atomic<int64_t> last_event_ns{0};
  // Metadata-only first: its small heap, once freed, barely hides the full
  // store's growth measured next.
  auto measure_sync = [&](kube::Transform transform, const char* label, bool count_updates) {
    long before = rss_kib();
    kube::InformerOptions io;
    io.transform = std::move(transform);
    auto inf = std::make_unique<kube::Informer>(
        std::make_shared<kube::ClientListWatch>(client, res::config_maps(), ns), io);
    if (count_updates) {
      inf->on_update([&](const json&, const json&) {
        ++seen;
        last_event_ns = Clock::now().time_since_epoch().count();
      });
    }
    auto start = Clock::now();
    inf->start();
    inf->wait_synced(std::chrono::minutes(10));
    double s = secs(Clock::now() - start);
    long after = rss_kib();
    std::printf("sync (%s): %zu objects in %.2f s = %.0f events/s; store RSS +%.1f MiB "
                "(%.1f MiB per 10,000 objects)\n",
                label, inf->store().size(), s, inf->store().size() / s, (after - before) / 1024.0,
                (after - before) / 1024.0 * 10000.0 / std::max<size_t>(1, inf->store().size()));
    return inf;
  };
  measure_sync(kube::keep_metadata_only, "metadata only", false)->stop();
  auto inf = measure_sync({}, "full objects", true);

  auto w0 = Clock::now();
  parallel(8, n, [&](int i) {
    client->patch(res::config_maps(), ns, "bench-" + std::to_string(i), kube::PatchType::Merge,
                  {{"data", {{"v", "1"}}}});
  });
  auto writes_done = Clock::now();
  auto deadline = Clock::now() + std::chrono::minutes(5);
  while (seen < n && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto last = Clock::time_point(Clock::duration(last_event_ns.load()));
  std::printf("follow: %d/%d updates seen; %.2f s from first write to last event = %.0f events/s; "
              "writes took %.2f s; last event %.0f ms after the last write\n",
              seen.load(), n, secs(last - w0), seen / secs(last - w0), secs(writes_done - w0),
              secs(last - writes_done) * 1000);
  inf->stop();
  client->remove(res::namespaces(), "", ns);
  return 0;
}
