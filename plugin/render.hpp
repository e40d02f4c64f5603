#pragma once
// Printing a Report: one line per link for people (✓/✗, the fix indented
// below, colour only when asked, i.e. on a terminal), or one JSON document
// for scripts (-o json).

#include <nlohmann/json.hpp>
#include <string>

#include "plugin/link.hpp"

namespace gtoken::plugin {

std::string render_text(const Report& r, bool colour);

// {"subject": ..., "ok": bool, "links": [{"id","title","state","detail","fix"}]}
nlohmann::json render_json(const Report& r);

}  // namespace gtoken::plugin
