#pragma once
// The leader's read-your-writes bookkeeping. Right after a write the
// informers still hold the copy from before it; a plan made from that copy
// would do the step again (a second CA, a second serving certificate) or undo
// it. So each write's resourceVersion is remembered, and planning waits until
// every cache shows the version written, or until a deadline passes (a write
// that someone overwrote at once never shows; the plan then starts from
// whatever the caches hold). Pure.

#include <array>
#include <chrono>
#include <string>

#include "webhook/certs.hpp"

namespace gtoken::webhook {

class PendingWrites {
 public:
  enum Object { kSecret = 0, kMutating = 1, kValidating = 2 };
  // resourceVersions as the caches show them, by Object ("" = absent).
  using Observed = std::array<std::string, 3>;

  explicit PendingWrites(std::chrono::seconds patience = std::chrono::seconds(5))
      : patience_(patience) {}

  // We wrote `object` at `now` and the apiserver answered `resource_version`.
  void wrote(Object object, std::string resource_version, TimePoint now);

  // True when nothing is pending any more: every write is in the caches, or
  // the deadline passed (then they are forgotten). False: plan later.
  bool settled(const Observed& observed, TimePoint now);

  // Forget every pending write (a 409: what we wrote lost, plan afresh).
  void clear();
  bool empty() const;

 private:
  std::chrono::seconds patience_;
  Observed written_;
  TimePoint deadline_{};
};

}  // namespace gtoken::webhook
