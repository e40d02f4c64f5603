#include "aws/json_spans.hpp"

#include <nlohmann/json.hpp>

namespace gtoken::aws {

namespace {

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::size_t skip_ws(std::string_view t, std::size_t i) {
  while (i < t.size() && is_ws(t[i])) ++i;
  return i;
}

[[noreturn]] void broken(std::size_t at) {
  throw JsonSyntaxError("unexpected structure at byte " + std::to_string(at));
}

std::size_t string_end(std::string_view t, std::size_t i) {
  // t[i] is the opening quote.
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\') {
      ++i;
    } else if (t[i] == '"') {
      return i + 1;
    }
  }
  broken(i);
}

// End of the value starting at t[i] (no leading whitespace).
std::size_t value_end(std::string_view t, std::size_t i) {
  if (i >= t.size()) broken(i);
  const char c = t[i];
  if (c == '"') return string_end(t, i);
  if (c == '{' || c == '[') {
    int depth = 0;
    for (; i < t.size(); ++i) {
      const char d = t[i];
      if (d == '"') {
        i = string_end(t, i) - 1;
      } else if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    broken(i);
  }
  // number, true, false, null
  while (i < t.size() && !is_ws(t[i]) && t[i] != ',' && t[i] != '}' && t[i] != ']') ++i;
  return i;
}

}  // namespace

Span json_document(std::string_view text) {
  if (!nlohmann::json::accept(text.begin(), text.end())) {
    throw JsonSyntaxError("not a JSON document");
  }
  const std::size_t b = skip_ws(text, 0);
  return {b, value_end(text, b)};
}

std::vector<JsonMember> json_object_members(std::string_view text, Span object) {
  std::vector<JsonMember> out;
  if (object.end - object.begin < 2 || text[object.begin] != '{') broken(object.begin);
  std::size_t i = skip_ws(text, object.begin + 1);
  if (text[i] == '}') return out;
  while (true) {
    if (text[i] != '"') broken(i);
    const std::size_t key_end = string_end(text, i);
    std::string key = nlohmann::json::parse(text.substr(i, key_end - i)).get<std::string>();
    i = skip_ws(text, key_end);
    if (text[i] != ':') broken(i);
    i = skip_ws(text, i + 1);
    const std::size_t v_end = value_end(text, i);
    out.push_back({std::move(key), {i, v_end}});
    i = skip_ws(text, v_end);
    if (text[i] == '}') return out;
    if (text[i] != ',') broken(i);
    i = skip_ws(text, i + 1);
  }
}

std::vector<Span> json_array_elements(std::string_view text, Span array) {
  std::vector<Span> out;
  if (array.end - array.begin < 2 || text[array.begin] != '[') broken(array.begin);
  std::size_t i = skip_ws(text, array.begin + 1);
  if (text[i] == ']') return out;
  while (true) {
    const std::size_t v_end = value_end(text, i);
    out.push_back({i, v_end});
    i = skip_ws(text, v_end);
    if (text[i] == ']') return out;
    if (text[i] != ',') broken(i);
    i = skip_ws(text, i + 1);
  }
}

}  // namespace gtoken::aws
