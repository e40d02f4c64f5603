#pragma once
// The contract between gtoken's controller and its webhook (and the agent
// the webhook injects): names both sides must agree on, kept once. Header
// only, no dependencies, so every library can include it.

namespace gtoken::contract {

// The custom resources (crds/).
inline constexpr const char* kGroup = "gtoken.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "gtoken.io/v1alpha1";
inline constexpr const char* kBindingKind = "AwsRoleBinding";
inline constexpr const char* kBindingPlural = "awsrolebindings";
inline constexpr const char* kPolicyKind = "AwsRoleBindingPolicy";
inline constexpr const char* kPolicyPlural = "awsrolebindingpolicies";
inline constexpr const char* kFinalizer = "gtoken.io/cleanup";

// ServiceAccount annotations: written by the controller, read by the
// webhook (or set by hand, the seed's flow). The role ARN key is the seed's
// (doitintl/gtoken), so ServiceAccounts annotated for it keep working.
inline constexpr const char* kGcpServiceAccountAnnotation = "iam.gke.io/gcp-service-account";
inline constexpr const char* kRoleArnAnnotation = "amazonaws.com/role-arn";
inline constexpr const char* kAudienceAnnotation = "gtoken.io/audience";
inline constexpr const char* kRegionAnnotation = "gtoken.io/region";
inline constexpr const char* kTokenExpirationAnnotation = "gtoken.io/token-expiration";
// From AwsRoleBinding.spec.containers: "a,b".
inline constexpr const char* kContainersAnnotation = "gtoken.io/containers";
// Controller bookkeeping: which binding owns the ServiceAccount, and which
// created it.
inline constexpr const char* kBindingAnnotation = "gtoken.io/binding";
inline constexpr const char* kCreatedByAnnotation = "gtoken.io/created-by";
inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";

// Pod annotations and the namespace opt-out label (the seed's).
inline constexpr const char* kInjectAnnotation = "gtoken.io/inject";
inline constexpr const char* kSkipContainersAnnotation = "gtoken.io/skip-containers";
inline constexpr const char* kIgnoreNamespaceLabel = "admission.gtoken/ignore";

// The injected agent's containers: how the controller recognises injected
// pods, and what the webhook names them.
inline constexpr const char* kAgentContainer = "gtoken";
inline constexpr const char* kAgentInitContainer = "gtoken-init";

// The seed's fixed audience, so trust policies written for it keep matching.
inline constexpr const char* kDefaultAudience = "gtoken/sts/assume-role-with-web-identity";

// AwsRoleBinding.spec.tokenSource: which token a pod presents to AWS. Google
// (the default, and the meaning of every binding written before the field):
// the agent's Google ID token of the bound GSA. Kubernetes: a projected
// ServiceAccount token of the cluster's OIDC issuer, as on EKS.
inline constexpr const char* kTokenSourceGoogle = "Google";
inline constexpr const char* kTokenSourceKubernetes = "Kubernetes";

// --- The Kubernetes token source (AwsRoleBinding tokenSource Kubernetes, or
// a ServiceAccount annotated by hand as for EKS) ---
// The annotations of aws/amazon-eks-pod-identity-webhook, with its meaning,
// so manifests written for EKS work unchanged. For a binding with this source
// the controller writes the role ARN, audience and token expiration (and
// kRegionAnnotation when a region is set).
inline constexpr const char* kEksRoleArnAnnotation = "eks.amazonaws.com/role-arn";
inline constexpr const char* kEksAudienceAnnotation = "eks.amazonaws.com/audience";
// Seconds; on the ServiceAccount, and on a pod (which wins).
inline constexpr const char* kEksTokenExpirationAnnotation = "eks.amazonaws.com/token-expiration";
inline constexpr const char* kEksStsRegionalEndpointsAnnotation =
    "eks.amazonaws.com/sts-regional-endpoints";
// Pod annotation: "a,b", containers left alone.
inline constexpr const char* kEksSkipContainersAnnotation = "eks.amazonaws.com/skip-containers";
// What the webhook injects: a projected serviceAccountToken volume, mounted
// read-only where the EKS webhook mounts it, the token in file kKubernetesTokenFile.
inline constexpr const char* kKubernetesTokenVolume = "aws-iam-token";
inline constexpr const char* kKubernetesTokenMountPath =
    "/var/run/secrets/eks.amazonaws.com/serviceaccount";
inline constexpr const char* kKubernetesTokenFile = "token";
// The audience AWS IAM OIDC providers are created with (their client id).
inline constexpr const char* kKubernetesDefaultAudience = "sts.amazonaws.com";
// expirationSeconds: the apiserver's minimum; the EKS webhook's default and maximum.
inline constexpr long long kKubernetesMinTokenExpirationSeconds = 600;
inline constexpr long long kKubernetesDefaultTokenExpirationSeconds = 86400;
inline constexpr long long kKubernetesMaxTokenExpirationSeconds = 86400;

// AwsRoleBinding condition types and the reasons both sides speak of.
inline constexpr const char* kConditionReady = "Ready";
inline constexpr const char* kConditionServiceAccountReady = "ServiceAccountReady";
inline constexpr const char* kConditionWorkloadIdentityReady = "WorkloadIdentityReady";
inline constexpr const char* kReasonNotAllowed = "NotAllowed";
inline constexpr const char* kReasonConflict = "Conflict";
// Whether the AWS role's trust policy admits the binding's tokens (issue #12).
inline constexpr const char* kConditionTrustPolicyVerified = "TrustPolicyVerified";

}  // namespace gtoken::contract
