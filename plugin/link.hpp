#pragma once
// One checked link of a chain (`kubectl gtoken doctor`, `status`): what was
// looked at, whether it holds, and what to do when it does not. The pure
// checkers produce these from observations; render.* prints them.

#include <string>
#include <string_view>
#include <vector>

namespace gtoken::plugin {

enum class LinkState {
  Pass,           // holds
  Fail,           // broken: `fix` says what to do
  NotApplicable,  // not part of this chain (e.g. no agent with the Kubernetes token source)
  NotChecked,     // could not be looked at (an earlier link failed, or a read was refused)
};

std::string_view to_string(LinkState s) noexcept;  // "pass", "fail", "n/a", "not checked"

struct Link {
  std::string id;     // stable, for -o json: "namespace", "serviceAccount", ...
  std::string title;  // what the link is, for people
  LinkState state = LinkState::NotChecked;
  std::string detail;  // what was seen
  std::string fix;     // what to do; set when state is Fail (and NotChecked when known)
};

struct Report {
  std::string subject;  // "pod jobs/app-x", "binding jobs/uploader", "operator gtoken-system"
  std::vector<Link> links;
};

// Every link passes or does not apply: the exit code is 0 exactly then.
bool all_hold(const Report& r) noexcept;

// Links after the first one that fails or is not checked, when they depend on
// it, are reported NotChecked with `why` (e.g. "the pod has no agent").
void mark_rest_not_checked(std::vector<Link>& links, size_t from, const std::string& why);

}  // namespace gtoken::plugin
