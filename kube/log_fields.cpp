#include "kube/log_fields.hpp"

#include <charconv>
#include <cmath>

#include "kube/json_text.hpp"
#include "kube/log.hpp"

namespace kube {

bool LogFields::start(std::string_view key) {
  if (is_reserved_log_key(key)) return false;
  text_ += ',';
  append_json_string(text_, key);
  text_ += ':';
  return true;
}

LogFields& LogFields::add(std::string_view key, std::string_view value) {
  if (start(key)) append_json_string(text_, value);
  return *this;
}

LogFields& LogFields::add_int(std::string_view key, std::int64_t value) {
  if (start(key)) append_json_integer(text_, value);
  return *this;
}

LogFields& LogFields::add_number(std::string_view key, double value) {
  if (!start(key)) return *this;
  if (!std::isfinite(value)) {
    text_ += "null";
    return *this;
  }
  char digits[32];
  text_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
  return *this;
}

LogFields& LogFields::add_bool(std::string_view key, bool value) {
  if (start(key)) text_ += value ? "true" : "false";
  return *this;
}

}  // namespace kube
