#pragma once

#include <string_view>

namespace gtoken::webhook {

// Why a pod was admitted without a patch. The CamelCase name (to_string) is
// the stable form: it goes into logs, metric labels and user warnings, so
// values are only ever added, never renamed.
enum class SkipReason {
  NoRoleAnnotation,
  InvalidRoleArn,
  InvalidPod,
  PodOptOut,
  WindowsNotSupported,
  HostNetworkNotSupported,
  ContainerNameConflict,
  NoContainerSelected,
  AlreadyInjected,
  IgnoredNamespace,
  OperatorNamespace,
  ServiceAccountNotFound,
  UnsupportedRequest,
  // The request's namespace or the pod's ServiceAccount name is not a valid
  // Kubernetes name: checked before any lookup, never used as a key or path.
  InvalidName,
};

std::string_view to_string(SkipReason reason) noexcept;

}  // namespace gtoken::webhook
