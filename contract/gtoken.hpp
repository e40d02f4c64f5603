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
// What the controller writes on the ServiceAccount of a Kubernetes-source
// binding: the EKS pod identity webhook's own annotations, so a
// ServiceAccount annotated by hand for EKS means the same thing.
inline constexpr const char* kEksRoleArnAnnotation = "eks.amazonaws.com/role-arn";
inline constexpr const char* kEksAudienceAnnotation = "eks.amazonaws.com/audience";
inline constexpr const char* kEksTokenExpirationAnnotation = "eks.amazonaws.com/token-expiration";
// The audience AWS expects of Kubernetes-issued tokens (the OIDC provider's
// client id), and the projected token's lifetime bounds: 600 s is the
// apiserver's minimum, 86400 s the EKS webhook's default and maximum.
inline constexpr const char* kKubernetesDefaultAudience = "sts.amazonaws.com";
inline constexpr int kKubernetesTokenMinSeconds = 600;
inline constexpr int kKubernetesTokenMaxSeconds = 86400;
// The projected token volume the webhook adds for that source (the EKS
// webhook's name): how the controller recognises injected pods.
inline constexpr const char* kKubernetesTokenVolume = "aws-iam-token";

// AwsRoleBinding condition types and the reasons both sides speak of.
inline constexpr const char* kConditionReady = "Ready";
inline constexpr const char* kConditionServiceAccountReady = "ServiceAccountReady";
inline constexpr const char* kConditionWorkloadIdentityReady = "WorkloadIdentityReady";
inline constexpr const char* kReasonNotAllowed = "NotAllowed";
inline constexpr const char* kReasonConflict = "Conflict";

}  // namespace gtoken::contract
