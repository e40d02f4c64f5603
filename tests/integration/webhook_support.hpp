#pragma once
// Helpers of the webhook integration tests: a gtoken-operator child process
// serving the webhook on 127.0.0.1, registered with clientConfig.url on the
// shared control plane, scoped by namespaceSelector to this test's namespaces
// (other tests share the apiserver); and a raw TLS client for bad input.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kube/errors.hpp"
#include "kube/http.hpp"
#include "tests/integration/support.hpp"

namespace witest {

using json = nlohmann::json;

inline std::string unique(const std::string& prefix) {
  static std::mt19937 rng(std::random_device{}());
  return prefix + "-" + std::to_string(rng() % 1000000);
}

// A port nobody listens on right now.
inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline int tcp_connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  return fd;
}

// Reads until the peer closes or `timeout` passes; returns what came.
inline std::string read_plain(int fd, std::chrono::milliseconds timeout, bool* closed = nullptr) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (closed) *closed = true;
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  if (closed) *closed = false;
  return out;
}

// A blocking TLS client connection (no certificate check: it talks to the
// server's bytes, not its identity).
class TlsConn {
 public:
  explicit TlsConn(int port) {
    signal(SIGPIPE, SIG_IGN);  // writes to a connection the server closed
    ctx_ = SSL_CTX_new(TLS_client_method());
    fd_ = tcp_connect(port);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      ERR_clear_error();
      throw std::runtime_error("TLS handshake failed");
    }
  }
  ~TlsConn() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    close(fd_);
  }
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  // False when the peer closed the connection before all was written.
  bool write(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until close or timeout; *closed tells which.
  std::string read(std::chrono::milliseconds timeout, bool* closed = nullptr) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (SSL_pending(ssl_) == 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      }
      char buf[4096];
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) {
        ERR_clear_error();
        if (closed) *closed = true;
        return out;
      }
      out.append(buf, static_cast<size_t>(n));
      // One complete response with Content-Length is enough for callers.
      const auto end = out.find("\r\n\r\n");
      const auto cl = out.find("Content-Length: ");
      if (end != std::string::npos && cl != std::string::npos && cl < end) {
        const size_t length = std::stoul(out.substr(cl + 16));
        if (out.size() >= end + 4 + length) break;
      }
    }
    if (closed) *closed = false;
    return out;
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

inline int http_status(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
  return std::stoi(response.substr(9, 3));
}

inline json pod(const std::string& name, const std::string& sa, json spec_extra = json::object()) {
  json spec = {{"serviceAccountName", sa},
               {"containers", json::array({{{"name", "app"}, {"image", "busybox"}}})}};
  spec.update(spec_extra);
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", spec}};
}

inline bool injected(const json& p) {
  const json& spec = p["spec"];
  if (!spec.contains("initContainers")) return false;
  bool agent = false;
  for (const auto& c : spec["initContainers"]) agent = agent || c.value("name", "") == "gtoken";
  if (!agent) return false;
  for (const auto& c : spec["containers"]) {
    bool arn = false;
    for (const auto& e : c.value("env", json::array()))
      arn = arn || e.value("name", "") == "AWS_ROLE_ARN";
    if (!arn) return false;
  }
  return true;
}

inline std::string env_value(const json& container, const std::string& name) {
  for (const auto& e : container.value("env", json::array())) {
    if (e.value("name", "") == name) return e.value("value", "");
  }
  return {};
}

// gtoken-operator serving the webhook, registered on the shared apiserver.
class WebhookOperator {
 public:
  // `label` selects the namespaces the webhook applies to (value: this
  // object's id); add it to every test namespace with label_namespace().
  WebhookOperator(std::vector<std::string> extra_args, const std::string& failure_policy = "Fail")
      : client_(itest::admin_client()),
        id_(unique("wh")),
        port_(free_port()),
        operator_ns_(itest::make_namespace(*client_, "wh-op")) {
    config_name_ = "gtoken-itest-" + id_;
    // Registered before the operator starts: it publishes its CA into it.
    client_->create(
        kube::resources::mutating_webhook_configurations(), "",
        {{"apiVersion", "admissionregistration.k8s.io/v1"},
         {"kind", "MutatingWebhookConfiguration"},
         {"metadata", {{"name", config_name_}}},
         {"webhooks",
          json::array(
              {{{"name", "pods.gtoken.io"},
                {"clientConfig",
                 {{"url", "https://127.0.0.1:" + std::to_string(port_) + "/mutate"}}},
                {"rules", json::array({{{"operations", {"CREATE"}},
                                        {"apiGroups", {""}},
                                        {"apiVersions", {"v1"}},
                                        {"resources", {"pods"}}}})},
                {"sideEffects", "None"},
                {"admissionReviewVersions", {"v1"}},
                {"failurePolicy", failure_policy},
                {"timeoutSeconds", 5},
                {"reinvocationPolicy", "IfNeeded"},
                {"namespaceSelector",
                 {{"matchLabels", {{"gtoken-itest-webhook", id_}}},
                  {"matchExpressions", json::array({{{"key", "admission.gtoken/ignore"},
                                                     {"operator", "DoesNotExist"}}})}}}}})}});
    extra_args_ = extra_args;
    process_ = std::make_unique<itest::Process>(argv_for(port_, id_));
    kube::HttpOptions ho;
    ho.base_url = "https://127.0.0.1:" + std::to_string(port_);
    ho.tls.insecure_skip_verify = true;
    ho.request_timeout = std::chrono::seconds(5);
    http_ = std::make_unique<kube::HttpClient>(ho);
  }

  ~WebhookOperator() {
    // The registration first, so no pod waits for a dead webhook.
    try {
      client_->remove(kube::resources::mutating_webhook_configurations(), "", config_name_);
    } catch (const std::exception&) {
    }
    process_.reset();
  }

  // The command line of a replica: same namespace, Lease, configuration and
  // Secret, its own port and identity.
  std::vector<std::string> argv_for(int port, const std::string& identity) const {
    std::vector<std::string> argv = {itest::binary_dir() + "/cmd/gtoken-operator/gtoken-operator",
                                     "--controller=false",
                                     "--leader-elect=true",
                                     "--namespace=" + operator_ns_,
                                     "--identity=" + identity,
                                     "--lease-name=gtoken-" + id_,
                                     "--webhook-port=" + std::to_string(port),
                                     "--webhook-bind-address=127.0.0.1",
                                     "--metrics-port=" + std::to_string(metrics_port_for(port)),
                                     "--metrics-bind-address=127.0.0.1",
                                     "--webhook-config-name=" + config_name_,
                                     "--webhook-extra-ip=127.0.0.1",
                                     "--agent-image=gtoken:itest",
                                     // URL mode, no Service to drop out of first.
                                     "--shutdown-delay=0s",
                                     // Named, so nothing asks a metadata server
                                     // (none is there, and off loopback).
                                     "--operator-gsa=gtoken-operator@itest.iam.gserviceaccount.com"};
    for (const auto& a : extra_args_) argv.push_back(a);
    return argv;
  }

  // Waits until /readyz says ok (certificate published and verifiable).
  bool wait_ready(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    return itest::eventually([&] { return get("/readyz").status == 200; }, timeout);
  }

  kube::HttpResponse get(const std::string& path) {
    try {
      kube::HttpRequest r;
      r.target = path;
      return http_->request(r);
    } catch (const std::exception&) {
      return {};
    }
  }

  kube::HttpResponse post(const std::string& path, const std::string& content_type,
                          const std::string& body) {
    kube::HttpRequest r;
    r.method = "POST";
    r.target = path;
    r.headers = {{"Content-Type", content_type}};
    r.body = body;
    return http_->request(r);
  }

  // GET /metrics on the plain-HTTP metrics port of the replica serving the
  // webhook on `port` (this one's by default).
  std::string metrics_text(int port = 0) {
    try {
      kube::HttpOptions ho;
      ho.base_url = "http://127.0.0.1:" + std::to_string(metrics_port_for(port ? port : port_));
      ho.request_timeout = std::chrono::seconds(5);
      kube::HttpClient http(ho);
      kube::HttpRequest r;
      r.target = "/metrics";
      return http.request(r).body;
    } catch (const std::exception&) {
      return {};
    }
  }

  double metric(const std::string& series) {
    const std::string text = metrics_text();
    const auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return 0;
    return std::stod(text.substr(at + series.size() + 2));
  }

  // A namespace this webhook applies to.
  std::string make_namespace(const std::string& prefix, json labels = json::object()) {
    const std::string ns = unique(prefix);
    labels["gtoken-itest-webhook"] = id_;
    client_->create(kube::resources::namespaces(), "",
                    {{"apiVersion", "v1"},
                     {"kind", "Namespace"},
                     {"metadata", {{"name", ns}, {"labels", labels}}}});
    return ns;
  }

  void make_service_account(const std::string& ns, const std::string& name,
                            const std::string& role_arn = "") {
    json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", name}}}};
    if (!role_arn.empty()) sa["metadata"]["annotations"] = {{"amazonaws.com/role-arn", role_arn}};
    client_->create(kube::resources::service_accounts(), ns, sa);
  }

  // Each replica's metrics port, chosen once per webhook port.
  int metrics_port_for(int port) const {
    auto it = metrics_ports_.find(port);
    if (it == metrics_ports_.end()) it = metrics_ports_.emplace(port, free_port()).first;
    return it->second;
  }

  kube::Client& client() { return *client_; }
  int port() const { return port_; }
  const std::string& config_name() const { return config_name_; }
  const std::string& operator_namespace() const { return operator_ns_; }
  itest::Process& process() { return *process_; }

 private:
  std::shared_ptr<kube::Client> client_;
  std::string id_;
  int port_;
  std::string operator_ns_;
  std::string config_name_;
  std::vector<std::string> extra_args_;
  std::unique_ptr<itest::Process> process_;
  std::unique_ptr<kube::HttpClient> http_;
  mutable std::map<int, int> metrics_ports_;
};

// GET `path` on 127.0.0.1:port over a fresh connection, trusting only the
// CAs of `ca_bundle_pem` and checking the certificate for 127.0.0.1: what
// the apiserver would do with that caBundle.
inline int verified_get(int port, const std::string& ca_bundle_pem, const std::string& path) {
  kube::HttpOptions ho;
  ho.base_url = "https://127.0.0.1:" + std::to_string(port);
  ho.tls.ca_pem = ca_bundle_pem;
  ho.request_timeout = std::chrono::seconds(5);
  ho.max_idle_connections = 0;
  kube::HttpClient http(ho);
  kube::HttpRequest r;
  r.target = path;
  return http.request(r).status;
}

inline const std::string kRoleArn = "arn:aws:iam::123456789012:role/gtoken-itest";

}  // namespace witest
