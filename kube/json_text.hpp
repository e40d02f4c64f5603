#pragma once
// JSON text written by hand on hot paths (log lines, the admission answer and
// patch): strings escaped exactly as nlohmann's dump escapes them.

#include <cstdint>
#include <string>
#include <string_view>

namespace kube {

// Appends `text` as a JSON string, as nlohmann's dump does (invalid UTF-8
// replaced by U+FFFD). Plain ASCII, the usual case, is copied as it is.
void append_json_string(std::string& out, std::string_view text);

// Appends `value` as a JSON number.
void append_json_integer(std::string& out, std::int64_t value);

}  // namespace kube
