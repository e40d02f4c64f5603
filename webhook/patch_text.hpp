#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace gtoken::webhook {

// A JSON Patch (RFC 6902) as it is sent: its text, written once by the
// mutation (webhook/json_writer.hpp), and how many operations it holds.
struct PatchText {
  std::string json;
  std::size_t operations = 0;

  bool empty() const { return operations == 0; }
  bool operator==(const PatchText&) const = default;

  // `operations` as nlohmann's dump writes it (invalid UTF-8 replaced);
  // throws std::invalid_argument unless it is an array.
  static PatchText of(const nlohmann::json& operations);
};

}  // namespace gtoken::webhook
