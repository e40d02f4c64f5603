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
};

std::string_view to_string(SkipReason reason) noexcept;

}  // namespace gtoken::webhook
