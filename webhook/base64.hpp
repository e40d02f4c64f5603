#pragma once
// The webhook uses the project's one base64 implementation (kube/base64).

#include "kube/base64.hpp"

namespace gtoken::webhook {

using kube::base64_decode;
using kube::base64_encode;

}  // namespace gtoken::webhook
