#include "operator/options.hpp"

#include <boost/program_options.hpp>
#include <sstream>
#include <string_view>

#include "aws/iam.hpp"
#include "aws/partition.hpp"
#include "aws/sts.hpp"
#include "kube/duration.hpp"
#include "kube/log.hpp"

namespace gtoken {

namespace po = boost::program_options;

namespace {

// A duration setting: its flag (the one syntax, kube/duration.hpp), and the
// integer-seconds flag earlier releases named it by, which still works and
// logs a warning naming the new one.
struct DurationFlag {
  DurationFlag(const char* name, const char* old_name, const char* help,
               std::chrono::milliseconds current)
      : name(name), old_name(old_name), help(help), text(kube::format_duration(current)) {}

  const char* name;      // "resync"
  const char* old_name;  // "resync-seconds"
  const char* help;
  std::string text;     // --NAME's value; its default is the current setting
  int old_seconds = 0;  // --OLD_NAME's value, when given
  std::chrono::milliseconds value{};
  std::string given;  // the spelling used ("--resync" or "--resync-seconds"): errors name it
};

// Reads one DurationFlag from the parsed command line; false with `error`.
bool read(DurationFlag& f, const po::variables_map& vm,
          std::vector<kube::FlagDeprecation>& deprecations, std::string& error) {
  const std::string name = std::string("--") + f.name;
  const std::string old_name = std::string("--") + f.old_name;
  const bool new_given = !vm[f.name].defaulted();
  if (vm.count(f.old_name)) {
    if (new_given) {
      error = name + " and " + old_name + " set the same thing; keep " + name;
      return false;
    }
    f.value = std::chrono::seconds(f.old_seconds);
    f.given = old_name;
    deprecations.push_back({old_name + "=" + std::to_string(f.old_seconds),
                            name + "=" + kube::format_duration(f.value)});
    return true;
  }
  f.given = name;
  const auto value = kube::parse_duration_flag(name, f.text, deprecations);
  if (!value) {
    error = name + ": not a duration: \"" + f.text + "\" (use e.g. 500ms, 30s, 5m, 1h)";
    return false;
  }
  f.value = *value;
  return true;
}

}  // namespace

bool parse_operator_args(int argc, const char* const* argv, OperatorOptions& o, std::string& error,
                         std::string& help) {
  auto fail = [&](std::string why) {
    error = std::move(why);
    help.clear();
    return false;
  };
  DurationFlag resync{"resync", "resync-seconds",
                      "re-check every binding this often (repairs drift made outside Kubernetes)",
                      o.resync};
  DurationFlag lease{"lease-duration", "lease-duration-seconds",
                     "how long a lease holds without renewal", o.lease_duration};
  DurationFlag renew{"renew-deadline", "renew-deadline-seconds",
                     "the leader stops writing when it could not renew for this long",
                     o.renew_deadline};
  DurationFlag retry{"retry-period", "retry-period-seconds", "how often to try to acquire or renew",
                     o.retry_period};
  DurationFlag shutdown_delay{
      "shutdown-delay", "shutdown-delay-seconds",
      "on SIGTERM, keep the webhook answering (not ready) this long before stopping, so the "
      "Service drops this replica first",
      o.shutdown_delay};
  DurationFlag* const durations[] = {&resync, &lease, &renew, &retry, &shutdown_delay};
  std::string log_level = kube::log_level_name(o.log_level);
  std::string aws_credentials = "auto";
  std::string trust_policy = "verify";
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
    ("workers", po::value(&o.workers)->default_value(o.workers), "concurrent reconciles (each mostly waits on the apiserver and Google)")
    ("iam-read-qps", po::value(&o.iam_read_qps)->default_value(o.iam_read_qps), "at most this many Google IAM reads per second (0: no limit)")
    ("iam-write-qps", po::value(&o.iam_write_qps)->default_value(o.iam_write_qps), "at most this many setIamPolicy calls per second (0: no limit)")
    ("leader-elect", po::value(&o.leader_elect)->default_value(o.leader_elect), "elect a leader through a Lease (run several replicas safely)")
    ("lease-name", po::value(&o.lease_name)->default_value(o.lease_name), "name of the Lease in the operator's namespace")
    ("identity", po::value(&o.identity), "leader election identity (default: hostname_pid)")
    ("log-level", po::value(&log_level)->default_value(log_level), "debug, info, warn or error")
    ("controller", po::value(&o.controller)->default_value(o.controller), "run the AwsRoleBinding controller")
    ("webhook", po::value(&o.webhook)->default_value(o.webhook), "run the admission webhook")
    ("aws-trust-policy", po::value(&trust_policy)->default_value(trust_policy), "off; verify: read each binding's AWS role and report whether its trust policy admits the binding (TrustPolicyVerified); apply: also write gtoken's statement into the roles of bindings a trustPolicy: Apply policy allows")
    ("aws-credentials", po::value(&aws_credentials)->default_value(aws_credentials), "the operator's AWS credentials: auto, none, gke (its GSA's ID token traded at STS for --aws-role-arn), web-identity, environment or shared-file")
    ("aws-role-arn", po::value(&o.aws.role_arn), "the role the operator assumes (gke; web-identity without AWS_ROLE_ARN)")
    ("aws-audience", po::value(&o.aws.audience)->default_value(o.aws.audience), "audience of the operator's own Google ID token (gke)")
    ("aws-session-name", po::value(&o.aws.session_name)->default_value(o.aws.session_name), "RoleSessionName of the operator's AWS session")
    ("aws-sts-endpoint", po::value(&o.aws.sts_endpoint)->default_value(o.aws.sts_endpoint), "AWS STS base URL")
    ("aws-partition", po::value(&o.aws.partition)->default_value(o.aws.partition), "aws, aws-cn or aws-us-gov: IAM's global endpoint and signing region")
    ("aws-iam-endpoint", po::value(&o.aws.iam_endpoint), "AWS IAM base URL (default: the partition's global endpoint)")
    ("aws-shared-credentials-file", po::value(&o.aws.shared_credentials_file), "shared credentials file (default: $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)")
    ("aws-profile", po::value(&o.aws.profile), "its profile (default: $AWS_PROFILE, else default)")
    ("aws-iam-role-path", po::value(&o.aws.iam_role_path), "apply writes only roles whose IAM path starts with this, e.g. /gtoken/ (default: any the tenancy policy allows)");
  // clang-format on
  po::options_description deprecated(
      "deprecated spellings (whole seconds; each logs a warning naming its replacement)");
  for (DurationFlag* f : durations) {
    desc.add_options()(f->name, po::value(&f->text)->default_value(f->text), f->help);
    deprecated.add_options()(f->old_name, po::value(&f->old_seconds),
                             (std::string("use --") + f->name).c_str());
  }
  std::ostringstream h;
  h << "Usage: gtoken-operator [options]\n"
    << desc << "\nDurations: 500ms, 90s, 5m, 1h30m, 720h.\n\n"
    << deprecated << "\n";
  help = h.str();
  po::options_description all;
  all.add(desc).add(deprecated);
  po::variables_map vm;
  try {
    auto parsed = po::command_line_parser(argc, argv).options(all).allow_unregistered().run();
    po::store(parsed, vm);
    po::notify(vm);
    if (vm.count("help")) {
      error.clear();
      return false;
    }
    o.webhook_args = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    return fail(e.what());
  }
  o.deprecations.clear();
  for (DurationFlag* f : durations) {
    if (!read(*f, vm, o.deprecations, error)) return fail(error);
  }
  const auto resync_seconds = kube::whole_seconds(resync.value);
  const auto lease_seconds = kube::whole_seconds(lease.value);
  if (!resync_seconds || !lease_seconds) {
    return fail((resync_seconds ? lease.given : resync.given) +
                " must be a whole number of seconds");
  }
  o.resync = *resync_seconds;
  o.lease_duration = *lease_seconds;
  o.renew_deadline = renew.value;
  o.retry_period = retry.value;
  o.shutdown_delay = shutdown_delay.value;
  if (const auto level = kube::parse_log_level(log_level)) {
    o.log_level = *level;
  } else {
    return fail("--log-level must be debug, info, warn or error");
  }
  if (!o.oidc_issuer.empty() && !valid_oidc_issuer(o.oidc_issuer)) {
    return fail(
        "--oidc-issuer must be an https URL without query or fragment, as AWS IAM registers it "
        "(e.g. https://container.googleapis.com/v1/projects/P/locations/L/clusters/C)");
  }
  if (!parse_aws_modes(aws_credentials, trust_policy, o.aws, error) || !valid_aws(o.aws, error)) {
    return fail(error);
  }
  if (o.iam_read_qps < 0 || o.iam_write_qps < 0) {
    return fail("--iam-read-qps and --iam-write-qps must be 0 (no limit) or positive");
  }
  if (o.shutdown_delay.count() < 0) {
    return fail(shutdown_delay.given + " must be 0 or positive");
  }
  if (o.resync.count() <= 0) {
    return fail(resync.given + " must be positive");
  }
  if (o.workers <= 0) {
    return fail("--workers must be positive");
  }
  if (o.renew_deadline >= o.lease_duration) {
    return fail(renew.given + " must be shorter than " + lease.given);
  }
  // As client-go: the leader must get more than one jittered retry in
  // before its renew deadline.
  if (o.retry_period.count() <= 0 || o.renew_deadline.count() * 10 <= o.retry_period.count() * 12) {
    return fail(retry.given + " must be positive and " + renew.given + " more than 1.2 times it");
  }
  return true;
}

namespace {
constexpr std::string_view kScheme = "https://";
}  // namespace

bool parse_aws_modes(const std::string& credentials, const std::string& trust_policy,
                     AwsOptions& out, std::string& error) {
  static const std::pair<const char*, AwsCredentialsMode> kModes[] = {
      {"auto", AwsCredentialsMode::Auto},
      {"none", AwsCredentialsMode::None},
      {"gke", AwsCredentialsMode::Gke},
      {"web-identity", AwsCredentialsMode::WebIdentity},
      {"environment", AwsCredentialsMode::Environment},
      {"shared-file", AwsCredentialsMode::SharedFile}};
  bool found = false;
  for (const auto& [name, mode] : kModes) {
    if (credentials == name) {
      out.credentials = mode;
      found = true;
    }
  }
  if (!found) {
    error = "--aws-credentials must be auto, none, gke, web-identity, environment or shared-file";
    return false;
  }
  if (trust_policy == "off") {
    out.trust_policy = TrustPolicyMode::Off;
  } else if (trust_policy == "verify") {
    out.trust_policy = TrustPolicyMode::Verify;
  } else if (trust_policy == "apply") {
    out.trust_policy = TrustPolicyMode::Apply;
  } else {
    error = "--aws-trust-policy must be off, verify or apply";
    return false;
  }
  return true;
}

bool valid_aws(const AwsOptions& a, std::string& error) {
  if (!aws::iam_endpoint(a.partition)) {
    error = "--aws-partition must be aws, aws-cn or aws-us-gov";
    return false;
  }
  if (!a.role_arn.empty() && aws::arn_partition(a.role_arn) != a.partition) {
    error = "--aws-role-arn must be a role ARN of partition " + a.partition +
            " (arn:" + a.partition + ":iam::ACCOUNT:role/NAME)";
    return false;
  }
  if (!a.role_arn.empty() && !aws::role_name_of_arn(a.role_arn)) {
    error = "--aws-role-arn must be a role ARN (arn:" + a.partition + ":iam::ACCOUNT:role/NAME)";
    return false;
  }
  if (a.credentials == AwsCredentialsMode::Gke && a.role_arn.empty()) {
    error = "--aws-credentials=gke needs --aws-role-arn: the role the operator assumes";
    return false;
  }
  if (a.audience.empty()) {
    error = "--aws-audience must not be empty";
    return false;
  }
  if (!aws::valid_session_name(a.session_name)) {
    error = "--aws-session-name must be 2 to 64 of [A-Za-z0-9+=,.@_-]";
    return false;
  }
  for (const auto& [flag, url] : {std::pair{"--aws-sts-endpoint", a.sts_endpoint},
                                  std::pair{"--aws-iam-endpoint", a.iam_endpoint}}) {
    if (!url.empty() && url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) {
      error = std::string(flag) + " must be an http(s) URL";
      return false;
    }
  }
  if (!a.iam_role_path.empty() &&
      (a.iam_role_path.front() != '/' || a.iam_role_path.back() != '/' ||
       a.iam_role_path.size() > 512)) {
    error = "--aws-iam-role-path must start and end with '/' (e.g. /gtoken/), as IAM paths do";
    return false;
  }
  if (a.trust_policy == TrustPolicyMode::Apply && a.credentials == AwsCredentialsMode::None) {
    error = "--aws-trust-policy=apply needs AWS credentials (--aws-credentials is none)";
    return false;
  }
  return true;
}

bool valid_oidc_issuer(const std::string& issuer) {
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

bool issuer_unreachable_from_aws(const std::string& issuer) {
  std::string host = issuer.rfind(kScheme, 0) == 0 ? issuer.substr(kScheme.size()) : issuer;
  host = host.substr(0, host.find_first_of("/:"));
  return host.find('.') == std::string::npos || host.ends_with(".svc") ||
         host.ends_with(".local") || host.ends_with(".internal");
}

}  // namespace gtoken
