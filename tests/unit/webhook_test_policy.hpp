// The rotation policy the certificate unit tests share: lifetimes of
// seconds, so a fake clock walks through whole serving and CA rotations.
#pragma once

#include <chrono>

#include "webhook/rotation.hpp"

namespace gtoken::webhook::testing {

inline RotationPolicy test_policy() {
  using namespace std::chrono_literals;
  RotationPolicy p;
  p.serving.dns_names = service_dns_names("wh", "ns");
  p.serving.ip_addresses = {"127.0.0.1"};
  p.serving.validity = 10s;
  p.cert_lookahead = 4s;
  p.ca_validity = 40s;
  p.ca_lookahead = 20s;
  p.publish_delay = 2s;
  p.retire_grace = 3s;
  return p;
}

}  // namespace gtoken::webhook::testing
