#include "operator/options.hpp"

#include <boost/program_options.hpp>
#include <sstream>
#include <string_view>

#include "kube/log.hpp"

namespace gtoken {

namespace po = boost::program_options;

bool parse_operator_args(int argc, const char* const* argv, OperatorOptions& o, std::string& error,
                         std::string& help) {
  int resync = static_cast<int>(o.resync.count());
  int lease = static_cast<int>(o.lease_duration.count());
  int renew = static_cast<int>(o.renew_deadline.count());
  int retry = static_cast<int>(o.retry_period.count());
  int shutdown_delay = static_cast<int>(o.shutdown_delay.count());
  std::string log_level = kube::log_level_name(o.log_level);
  po::options_description desc("gtoken-operator options");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("kubeconfig", po::value(&o.kubeconfig), "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    ("namespace", po::value(&o.namespace_), "the operator's own namespace (default: in-cluster namespace, else gtoken-system)")
    ("project", po::value(&o.project), "Workload Identity pool project: PROJECT.svc.id.goog (default: from the metadata server)")
    ("iam-endpoint", po::value(&o.iam_endpoint)->default_value(o.iam_endpoint), "Google IAM API base URL")
    ("default-audience", po::value(&o.default_audience)->default_value(o.default_audience), "ID token audience when a binding sets none")
    ("operator-gsa", po::value(&o.operator_gsa), "the operator's own Google service account, refused to every binding (default: GOOGLE_APPLICATION_CREDENTIALS' client_email, else the metadata server's)")
    ("oidc-issuer", po::value(&o.oidc_issuer), "the cluster's ServiceAccount token issuer (https URL) that AWS trusts for tokenSource: Kubernetes bindings (default: from the apiserver's /.well-known/openid-configuration)")
    ("resync-seconds", po::value(&resync)->default_value(resync), "re-check every binding this often (repairs drift made outside Kubernetes)")
    ("workers", po::value(&o.workers)->default_value(o.workers), "concurrent reconciles (each mostly waits on the apiserver and Google)")
    ("iam-read-qps", po::value(&o.iam_read_qps)->default_value(o.iam_read_qps), "at most this many Google IAM reads per second (0: no limit)")
    ("iam-write-qps", po::value(&o.iam_write_qps)->default_value(o.iam_write_qps), "at most this many setIamPolicy calls per second (0: no limit)")
    ("leader-elect", po::value(&o.leader_elect)->default_value(o.leader_elect), "elect a leader through a Lease (run several replicas safely)")
    ("lease-name", po::value(&o.lease_name)->default_value(o.lease_name), "name of the Lease in the operator's namespace")
    ("identity", po::value(&o.identity), "leader election identity (default: hostname_pid)")
    ("lease-duration-seconds", po::value(&lease)->default_value(lease), "how long a lease holds without renewal")
    ("renew-deadline-seconds", po::value(&renew)->default_value(renew), "the leader stops writing when it could not renew for this long")
    ("retry-period-seconds", po::value(&retry)->default_value(retry), "how often to try to acquire or renew")
    ("shutdown-delay-seconds", po::value(&shutdown_delay)->default_value(shutdown_delay), "on SIGTERM, keep the webhook answering (not ready) this long before stopping, so the Service drops this replica first")
    ("log-level", po::value(&log_level)->default_value(log_level), "debug, info, warn or error")
    ("controller", po::value(&o.controller)->default_value(o.controller), "run the AwsRoleBinding controller")
    ("webhook", po::value(&o.webhook)->default_value(o.webhook), "run the admission webhook");
  // clang-format on
  std::ostringstream h;
  h << "Usage: gtoken-operator [options]\n" << desc << "\n";
  help = h.str();
  try {
    po::variables_map vm;
    auto parsed = po::command_line_parser(argc, argv).options(desc).allow_unregistered().run();
    po::store(parsed, vm);
    po::notify(vm);
    if (vm.count("help")) {
      error.clear();
      return false;
    }
    o.webhook_args = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    error = e.what();
    help.clear();
    return false;
  }
  o.resync = std::chrono::seconds(resync);
  o.lease_duration = std::chrono::seconds(lease);
  o.renew_deadline = std::chrono::seconds(renew);
  o.retry_period = std::chrono::seconds(retry);
  o.shutdown_delay = std::chrono::seconds(shutdown_delay);
  if (const auto level = kube::parse_log_level(log_level)) {
    o.log_level = *level;
  } else {
    error = "--log-level must be debug, info, warn or error";
    help.clear();
    return false;
  }
  if (!o.oidc_issuer.empty() && !valid_oidc_issuer(o.oidc_issuer)) {
    error = "--oidc-issuer must be an https URL without query or fragment, as AWS IAM registers "
            "it (e.g. https://container.googleapis.com/v1/projects/P/locations/L/clusters/C)";
    help.clear();
    return false;
  }
  if (o.iam_read_qps < 0 || o.iam_write_qps < 0) {
    error = "--iam-read-qps and --iam-write-qps must be 0 (no limit) or positive";
    help.clear();
    return false;
  }
  if (o.shutdown_delay.count() < 0) {
    error = "--shutdown-delay-seconds must be 0 or positive";
    help.clear();
    return false;
  }
  if (o.resync.count() <= 0 || o.workers <= 0) {
    error = "--resync-seconds and --workers must be positive";
    help.clear();
    return false;
  }
  if (o.renew_deadline >= o.lease_duration) {
    error = "--renew-deadline-seconds must be shorter than --lease-duration-seconds";
    help.clear();
    return false;
  }
  // As client-go: the leader must get more than one jittered retry in
  // before its renew deadline.
  if (o.retry_period.count() <= 0 || o.renew_deadline.count() * 10 <= o.retry_period.count() * 12) {
    error = "--retry-period-seconds must be positive and --renew-deadline-seconds more than 1.2 "
            "times it";
    help.clear();
    return false;
  }
  return true;
}

bool valid_oidc_issuer(const std::string& issuer) {
  constexpr std::string_view kScheme = "https://";
  if (issuer.size() <= kScheme.size() || issuer.size() > 255 || issuer.rfind(kScheme, 0) != 0) {
    return false;
  }
  for (unsigned char c : issuer) {
    if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '@' || c == '\\' || c == '"' ||
        c == '\'') {
      return false;
    }
  }
  return issuer[kScheme.size()] != '/';
}

}  // namespace gtoken
