#include "webhook/options.hpp"

#include <boost/program_options.hpp>
#include <sstream>
#include <tuple>

#include "kube/duration.hpp"
#include "webhook/settings.hpp"
#include "webhook/text.hpp"

namespace gtoken::webhook {

namespace po = boost::program_options;

namespace {

std::string show(std::chrono::milliseconds d) {
  return kube::format_duration(d);
}

struct Durations {
  std::string io_timeout, cert_validity, cert_lookahead, ca_validity, ca_lookahead, publish_delay,
      retire_grace, replica_lease, sa_lookup;
};

po::options_description describe(WebhookOptions& o, Durations& d, std::vector<std::string>& dns,
                                 std::vector<std::string>& ips) {
  po::options_description desc("webhook options");
  // clang-format off
  desc.add_options()
    ("webhook-port", po::value(&o.port)->default_value(o.port), "HTTPS port of the webhook (10250: reachable from a private GKE control plane)")
    ("webhook-bind-address", po::value(&o.bind_address)->default_value(o.bind_address), "address the webhook listens on")
    ("webhook-threads", po::value(&o.threads)->default_value(o.threads), "webhook I/O threads (0: one per CPU the process may use)")
    ("webhook-lookup-threads", po::value(&o.lookup_threads)->default_value(o.lookup_threads), "threads for the live ServiceAccount reads of cache misses (off the I/O threads)")
    ("webhook-lookup-queue", po::value(&o.lookup_queue)->default_value(o.lookup_queue), "cache misses waiting for a lookup thread; beyond it an admission is answered 500")
    ("metrics-port", po::value(&o.metrics_port)->default_value(o.metrics_port), "plain-HTTP port of /metrics (0: none)")
    ("metrics-bind-address", po::value(&o.metrics_bind_address)->default_value(o.metrics_bind_address), "address the metrics port listens on")
    ("webhook-io-timeout", po::value(&d.io_timeout)->default_value(show(o.io_timeout)), "deadline of each TLS handshake, header read, body read and write")
    ("webhook-service-name", po::value(&o.service_name)->default_value(o.service_name), "the webhook's Service (names in the serving certificate)")
    ("webhook-service-namespace", po::value(&o.service_namespace), "namespace of the Service (default: the operator's)")
    ("webhook-config-name", po::value(&o.config_name)->default_value(o.config_name), "MutatingWebhookConfiguration whose caBundle the operator keeps")
    ("webhook-extra-dns", po::value(&dns)->composing(), "more DNS names for the serving certificate (repeatable, comma lists)")
    ("webhook-extra-ip", po::value(&ips)->composing(), "IP addresses for the serving certificate, e.g. 127.0.0.1 for URL mode (repeatable)")
    ("cert-secret-name", po::value(&o.cert_secret_name)->default_value(o.cert_secret_name), "Secret holding the CA and serving certificate, in the operator's namespace")
    ("manage-certificates", po::value(&o.manage_certificates)->default_value(o.manage_certificates), "create and rotate the certificates (false: only serve the Secret's)")
    ("cert-validity", po::value(&d.cert_validity)->default_value(show(o.cert_validity)), "serving certificate lifetime (a duration: 500ms, 90s, 15m, 720h)")
    ("cert-lookahead", po::value(&d.cert_lookahead)->default_value(show(o.cert_lookahead)), "renew the serving certificate this long before it ends")
    ("ca-validity", po::value(&d.ca_validity)->default_value(show(o.ca_validity)), "CA lifetime")
    ("ca-lookahead", po::value(&d.ca_lookahead)->default_value(show(o.ca_lookahead)), "start the CA rotation this long before the CA ends")
    ("ca-publish-delay", po::value(&d.publish_delay)->default_value(show(o.ca_publish_delay)), "wait this long after publishing a new CA in caBundle before serving with it")
    ("ca-retire-grace", po::value(&d.retire_grace)->default_value(show(o.ca_retire_grace)), "keep the old CA in caBundle at least this long after the switch")
    ("webhook-replica-lease-duration", po::value(&d.replica_lease)->default_value(show(o.replica_lease_duration)), "lifetime of each replica's served-certificate report")
    ("agent-image", po::value(&o.agent_image)->default_value(o.agent_image), "image of the injected token agent")
    ("agent-image-pull-policy", po::value(&o.agent_image_pull_policy)->default_value(o.agent_image_pull_policy), "pull policy of the injected agent")
    ("token-mount-path", po::value(&o.token_mount_path)->default_value(o.token_mount_path), "where containers find the token directory")
    ("native-sidecars", po::value(&o.native_sidecars)->default_value(o.native_sidecars), "inject the agent as a native sidecar: auto (apiserver >= 1.33), true or false")
    ("aws-default-region", po::value(&o.aws_default_region), "AWS region for pods of ServiceAccounts that set none (AWS_REGION, AWS_DEFAULT_REGION, regional STS)")
    ("sa-lookup-timeout", po::value(&d.sa_lookup)->default_value(show(o.sa_lookup_timeout)), "bound of the live ServiceAccount read on a cache miss");
  // clang-format on
  return desc;
}

}  // namespace

bool parse_webhook_options(const std::vector<std::string>& args, WebhookOptions& o,
                           std::string& error) {
  Durations d;
  std::vector<std::string> dns, ips;
  const auto desc = describe(o, d, dns, ips);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    error = e.what();
    return false;
  }
  // Kept in whole seconds (certificate lifetimes, a Lease, the I/O deadline).
  const std::tuple<const char*, const std::string*, std::chrono::seconds*> durations[] = {
      {"--webhook-io-timeout", &d.io_timeout, &o.io_timeout},
      {"--cert-validity", &d.cert_validity, &o.cert_validity},
      {"--cert-lookahead", &d.cert_lookahead, &o.cert_lookahead},
      {"--ca-validity", &d.ca_validity, &o.ca_validity},
      {"--ca-lookahead", &d.ca_lookahead, &o.ca_lookahead},
      {"--ca-publish-delay", &d.publish_delay, &o.ca_publish_delay},
      {"--ca-retire-grace", &d.retire_grace, &o.ca_retire_grace},
      {"--webhook-replica-lease-duration", &d.replica_lease, &o.replica_lease_duration},
  };
  for (const auto& [flag, text, out] : durations) {
    const auto value = kube::parse_duration_flag(flag, *text, o.deprecations);
    if (!value) {
      error = std::string(flag) + ": not a duration: \"" + *text +
              "\" (use e.g. 500ms, 30s, 15m, 720h)";
      return false;
    }
    const auto secs = kube::whole_seconds(*value);
    if (!secs) {
      error = std::string(flag) + " must be a whole number of seconds: \"" + *text + "\"";
      return false;
    }
    *out = *secs;
  }
  const auto lookup = kube::parse_duration_flag("--sa-lookup-timeout", d.sa_lookup, o.deprecations);
  if (!lookup || lookup->count() <= 0) {
    error = "--sa-lookup-timeout must be a positive duration";
    return false;
  }
  o.sa_lookup_timeout = *lookup;
  for (const auto& list : dns) {
    for (auto& name : split_list(list)) o.extra_dns.push_back(name);
  }
  for (const auto& list : ips) {
    for (auto& ip : split_list(list)) o.extra_ips.push_back(ip);
  }
  if (o.port < 0 || o.port > 65535) {
    error = "--webhook-port must be 0-65535";
    return false;
  }
  if (o.metrics_port < 0 || o.metrics_port > 65535) {
    error = "--metrics-port must be 0-65535";
    return false;
  }
  if (o.metrics_port != 0 && o.metrics_port == o.port) {
    error = "--metrics-port must differ from --webhook-port";
    return false;
  }
  if (o.threads < 0 || o.threads > 256 || o.lookup_threads < 1 || o.lookup_threads > 64 ||
      o.lookup_queue < 1 || o.lookup_queue > 10000) {
    error =
        "--webhook-threads must be 0-256, --webhook-lookup-threads 1-64, "
        "--webhook-lookup-queue 1-10000";
    return false;
  }
  if (o.io_timeout.count() <= 0 || o.replica_lease_duration.count() < 3) {
    error =
        "--webhook-io-timeout must be positive, "
        "--webhook-replica-lease-duration at least 3s";
    return false;
  }
  if (o.native_sidecars != "auto" && o.native_sidecars != "true" && o.native_sidecars != "false") {
    error = "--native-sidecars must be auto, true or false";
    return false;
  }
  if (!o.aws_default_region.empty() && !is_valid_region(o.aws_default_region)) {
    error = "--aws-default-region must be an AWS region name, e.g. us-east-1";
    return false;
  }
  return true;
}

std::string webhook_options_help() {
  WebhookOptions o;
  Durations d;
  std::vector<std::string> dns, ips;
  std::ostringstream out;
  out << describe(o, d, dns, ips);
  return out.str();
}

std::optional<bool> native_sidecars_from_version(const nlohmann::json& version) {
  if (!version.is_object()) return std::nullopt;
  auto number = [&](const char* key) -> std::optional<int> {
    const auto it = version.find(key);
    if (it == version.end() || !it->is_string()) return std::nullopt;
    const std::string& s = it->get_ref<const std::string&>();
    int n = 0;
    std::size_t digits = 0;
    for (const char c : s) {
      if (!is_digit(c) || digits >= 6) break;
      n = n * 10 + (c - '0');
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    return n;
  };
  const auto major = number("major");
  const auto minor = number("minor");
  if (!major || !minor) return std::nullopt;
  // SidecarContainers is GA from 1.33. In 1.29-1.32 it is a beta gate a
  // cluster may have turned off, and an apiserver with it off silently drops
  // restartPolicy: the agent would become a plain init container that never
  // exits, and no pod would ever start. The classic pair works everywhere.
  return *major > 1 || (*major == 1 && *minor >= 33);
}

}  // namespace gtoken::webhook
