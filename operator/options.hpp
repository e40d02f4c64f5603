#pragma once
// gtoken-operator's own flags (the controller and the process). Flags it
// does not know are the webhook's: collected in webhook_args, which the
// process checks with webhook::parse_webhook_options.

#include <chrono>
#include <string>
#include <vector>

#include "contract/gtoken.hpp"
#include "kube/duration.hpp"
#include "kube/log.hpp"

namespace gtoken {

// An issuer AWS IAM can register: https://HOST[/PATH], printable ASCII, no
// query, fragment, credentials or whitespace, at most 255 characters.
bool valid_oidc_issuer(const std::string& issuer);
// A valid issuer whose host only a cluster resolves (no dot, *.svc, *.local,
// *.internal, e.g. kubernetes.default.svc.cluster.local): AWS cannot fetch
// its discovery document, so a trust policy naming it cannot work.
bool issuer_unreachable_from_aws(const std::string& issuer);

// The controller's AWS side (issue #12): where the operator's own AWS
// credentials come from, and what it does with the trust policies of the
// roles bindings name.
enum class AwsCredentialsMode { Auto, None, Gke, WebIdentity, Environment, SharedFile };
enum class TrustPolicyMode { Off, Verify, Apply };

struct AwsOptions {
  // auto: web-identity when AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are
  // set, else environment when AWS_ACCESS_KEY_ID is, else gke when
  // --aws-role-arn is given, else shared-file when the file exists, else none.
  AwsCredentialsMode credentials = AwsCredentialsMode::Auto;
  // The role the operator assumes (gke; web-identity when AWS_ROLE_ARN is unset).
  std::string role_arn;
  // The audience of the operator's own Google ID token (gke).
  std::string audience = "gtoken-operator/aws";
  std::string session_name = "gtoken-operator";
  std::string sts_endpoint = "https://sts.amazonaws.com";
  std::string partition = "aws";
  std::string iam_endpoint;  // "" = the partition's global endpoint
  std::string shared_credentials_file;  // "" = AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials
  std::string profile;                  // "" = AWS_PROFILE or default
  // verify: read each role and report TrustPolicyVerified; apply: also
  // write gtoken's statement where the tenancy policy allows it; off:
  // never call AWS (the condition says Unverified).
  TrustPolicyMode trust_policy = TrustPolicyMode::Verify;
  // Apply writes only roles whose IAM path starts with this ("" = any).
  std::string iam_role_path;
};

struct OperatorOptions {
  std::string kubeconfig;        // "" = KUBECONFIG / in-cluster / ~/.kube/config
  std::string namespace_;        // the operator's own namespace ("" = from config)
  std::string project;           // Workload Identity pool project ("" = metadata server)
  std::string iam_endpoint = "https://iam.googleapis.com";
  std::string default_audience = contract::kDefaultAudience;
  // The operator's own Google service account, which no binding may name
  // ("" = discovered: the key file's client_email or the metadata server's).
  std::string operator_gsa;
  // The cluster's ServiceAccount token issuer for Kubernetes-source bindings
  // ("" = the apiserver's /.well-known/openid-configuration).
  std::string oidc_issuer;
  std::chrono::seconds resync{300};  // whole seconds
  int workers = 16;
  double iam_read_qps = 80;   // Google's default quota: 6,000 reads/min per project
  double iam_write_qps = 8;   // and 600 writes/min
  bool leader_elect = true;
  std::string lease_name = "gtoken-operator";
  std::string identity;  // "" = hostname + pid
  std::chrono::seconds lease_duration{15};  // whole seconds: the Lease's leaseDurationSeconds
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  // On SIGTERM the webhook keeps answering this long while reporting not
  // ready, so the Service drops this replica before it stops listening (the
  // apiserver does not retry a refused admission call).
  std::chrono::milliseconds shutdown_delay{5000};
  kube::LogLevel log_level = kube::LogLevel::info;
  bool controller = true;  // run the AwsRoleBinding controller
  bool webhook = true;     // run the admission webhook
  AwsOptions aws;
  std::vector<std::string> webhook_args;  // passed through to the webhook's own options
  // Flags spelled the way an earlier release took them (--resync-seconds=N,
  // a duration without a unit): accepted; run_operator logs each as a warning.
  std::vector<kube::FlagDeprecation> deprecations;
};

// --aws-credentials and --aws-trust-policy by name; false and `error` when unknown.
bool parse_aws_modes(const std::string& credentials, const std::string& trust_policy,
                     AwsOptions& out, std::string& error);
// The AWS options' rules (ARN partitions, the path's form, apply needing
// credentials, ...); false and `error` naming the flag.
bool valid_aws(const AwsOptions& a, std::string& error);

// Parses argv into options; returns false and fills `error` (or `help` when
// --help was asked: the controller's part of the usage) when the process
// should not start.
bool parse_operator_args(int argc, const char* const* argv, OperatorOptions& out,
                         std::string& error, std::string& help);

}  // namespace gtoken
