#include "webhook/pending_writes.hpp"

namespace gtoken::webhook {

void PendingWrites::wrote(Object object, std::string resource_version, TimePoint now) {
  written_[object] = std::move(resource_version);
  deadline_ = now + patience_;
}

bool PendingWrites::settled(const Observed& observed, TimePoint now) {
  if (empty()) return true;
  bool seen = true;
  for (std::size_t i = 0; i < written_.size(); ++i) {
    seen = seen && (written_[i].empty() || observed[i] == written_[i]);
  }
  if (!seen && now < deadline_) return false;
  clear();
  return true;
}

void PendingWrites::clear() {
  for (auto& rv : written_) rv.clear();
}

bool PendingWrites::empty() const {
  for (const auto& rv : written_) {
    if (!rv.empty()) return false;
  }
  return true;
}

}  // namespace gtoken::webhook
