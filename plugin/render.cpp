#include "plugin/render.hpp"

namespace gtoken::plugin {

namespace {

struct Mark {
  const char* symbol;
  const char* colour;  // ANSI SGR
};

Mark mark_of(LinkState s) {
  switch (s) {
    case LinkState::Pass:
      return {"\u2713", "32"};  // ✓ green
    case LinkState::Fail:
      return {"\u2717", "31"};  // ✗ red
    case LinkState::NotApplicable:
      return {"-", "2"};  // dim
    case LinkState::NotChecked:
      return {"?", "33"};  // yellow
  }
  return {"?", "33"};
}

std::string paint(const std::string& s, const char* sgr, bool colour) {
  if (!colour) {
    return s;
  }
  return std::string("\x1b[") + sgr + "m" + s + "\x1b[0m";
}

}  // namespace

std::string render_text(const Report& r, bool colour) {
  std::string out = r.subject + "\n";
  for (const auto& l : r.links) {
    const Mark m = mark_of(l.state);
    out += paint(m.symbol, m.colour, colour) + " " + l.title;
    if (!l.detail.empty()) {
      out += ": " + l.detail;
    }
    out += "\n";
    if (!l.fix.empty() && l.state != LinkState::Pass) {
      out += "    " + paint("fix:", m.colour, colour) + " " + l.fix + "\n";
    }
  }
  return out;
}

nlohmann::json render_json(const Report& r) {
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : r.links) {
    nlohmann::json j = {{"id", l.id},
                        {"title", l.title},
                        {"state", std::string(to_string(l.state))},
                        {"detail", l.detail}};
    if (!l.fix.empty()) {
      j["fix"] = l.fix;
    }
    links.push_back(std::move(j));
  }
  return {{"subject", r.subject}, {"ok", all_hold(r)}, {"links", std::move(links)}};
}

}  // namespace gtoken::plugin
