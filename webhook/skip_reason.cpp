#include "webhook/skip_reason.hpp"

namespace gtoken::webhook {

std::string_view to_string(SkipReason reason) noexcept {
  switch (reason) {
    case SkipReason::NoRoleAnnotation:
      return "NoRoleAnnotation";
    case SkipReason::InvalidRoleArn:
      return "InvalidRoleArn";
    case SkipReason::InvalidPod:
      return "InvalidPod";
    case SkipReason::PodOptOut:
      return "PodOptOut";
    case SkipReason::WindowsNotSupported:
      return "WindowsNotSupported";
    case SkipReason::HostNetworkNotSupported:
      return "HostNetworkNotSupported";
    case SkipReason::ContainerNameConflict:
      return "ContainerNameConflict";
    case SkipReason::NoContainerSelected:
      return "NoContainerSelected";
    case SkipReason::AlreadyInjected:
      return "AlreadyInjected";
    case SkipReason::IgnoredNamespace:
      return "IgnoredNamespace";
    case SkipReason::OperatorNamespace:
      return "OperatorNamespace";
    case SkipReason::ServiceAccountNotFound:
      return "ServiceAccountNotFound";
    case SkipReason::UnsupportedRequest:
      return "UnsupportedRequest";
    case SkipReason::InvalidName:
      return "InvalidName";
  }
  return "Unknown";
}

}  // namespace gtoken::webhook
