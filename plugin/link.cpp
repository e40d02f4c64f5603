#include "plugin/link.hpp"

namespace gtoken::plugin {

std::string_view to_string(LinkState s) noexcept {
  switch (s) {
    case LinkState::Pass:
      return "pass";
    case LinkState::Fail:
      return "fail";
    case LinkState::NotApplicable:
      return "n/a";
    case LinkState::NotChecked:
      return "not checked";
  }
  return "not checked";
}

bool all_hold(const Report& r) noexcept {
  for (const auto& l : r.links) {
    if (l.state != LinkState::Pass && l.state != LinkState::NotApplicable) {
      return false;
    }
  }
  return !r.links.empty();
}

void mark_rest_not_checked(std::vector<Link>& links, size_t from, const std::string& why) {
  for (size_t i = from; i < links.size(); ++i) {
    if (links[i].state == LinkState::NotApplicable) {
      continue;
    }
    links[i].state = LinkState::NotChecked;
    links[i].detail = why;
    links[i].fix.clear();
  }
}

}  // namespace gtoken::plugin
