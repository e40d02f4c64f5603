#pragma once
// The webhook's command-line options (passed through by gtoken-operator).

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/duration.hpp"
#include "webhook/config.hpp"

namespace gtoken::webhook {

struct WebhookOptions {
  // --- serving ---
  std::string bind_address = "0.0.0.0";
  // 10250: private GKE's control plane reaches nodes on 443 and 10250 only.
  int port = 10250;
  // I/O threads; 0: one per CPU the process may use (cpu_budget.hpp).
  int threads = 0;
  // Threads and queue of the lookup pool (ServiceAccount cache misses).
  int lookup_threads = 4;
  int lookup_queue = 64;
  // Plain-HTTP /metrics; 0 = no metrics port.
  int metrics_port = 8080;
  std::string metrics_bind_address = "0.0.0.0";
  std::chrono::seconds io_timeout{10};  // handshake, header, body, write: each
  // --- certificates ---
  std::string service_name = "gtoken-webhook";
  std::string service_namespace;               // "" = the operator's namespace
  std::string config_name = "gtoken-webhook";  // the MutatingWebhookConfiguration
  std::vector<std::string> extra_dns;
  std::vector<std::string> extra_ips;
  std::string cert_secret_name = "gtoken-webhook-cert";
  // false: something else writes the Secret (cert-manager); every replica
  // still serves what it holds and reloads it on change.
  bool manage_certificates = true;
  std::chrono::seconds cert_validity{std::chrono::hours(24 * 30)};
  std::chrono::seconds cert_lookahead{std::chrono::hours(24 * 7)};
  std::chrono::seconds ca_validity{std::chrono::hours(24 * 365)};
  std::chrono::seconds ca_lookahead{std::chrono::hours(24 * 30)};
  std::chrono::seconds ca_publish_delay{10};
  std::chrono::seconds ca_retire_grace{60};
  std::chrono::seconds replica_lease_duration{30};
  // --- mutation ---
  std::string agent_image = MutationConfig{}.agent_image;
  std::string agent_image_pull_policy = MutationConfig{}.image_pull_policy;
  std::string token_mount_path = MutationConfig{}.token_mount_path;
  std::string native_sidecars = "auto";  // auto (from the apiserver's version) | true | false
  // Region for ServiceAccounts that name none (the EKS webhook's flag); "": none.
  std::string aws_default_region;
  std::chrono::milliseconds sa_lookup_timeout{2000};
  // Values spelled the way an earlier release took them ("30d", a bare
  // number of seconds): accepted, logged as warnings at start-up.
  std::vector<kube::FlagDeprecation> deprecations;
};

// Parses the webhook's flags (those gtoken-operator did not know). Returns
// false with `error` set on an unknown flag or a bad value.
bool parse_webhook_options(const std::vector<std::string>& args, WebhookOptions& out,
                           std::string& error);
std::string webhook_options_help();

// Native sidecars from a /version answer: Kubernetes ≥ 1.33 ("minor" may
// carry a "+", as on GKE). nullopt when it cannot be read.
std::optional<bool> native_sidecars_from_version(const nlohmann::json& version);

}  // namespace gtoken::webhook
