#pragma once
// What one AdmissionReview body may cost once decoded, counted event by event
// while it is parsed (nlohmann's SAX interface), so a hostile body is refused
// at the first limit it passes, before any document is built.

#include <cstddef>
#include <optional>

#include "webhook/admission.hpp"

namespace gtoken::webhook {

class JsonBudget {
 public:
  // Set when a call returned false because a limit was passed.
  std::optional<AdmissionError> exceeded;

  bool scalar() { return count(kSlot); }
  bool string(std::size_t length) { return count(kSlot + kStringNode + heap(length)); }
  bool key(std::size_t length) { return count(kMemberNode + heap(length)); }
  bool start_object() { return enter(kObjectNode); }
  bool start_array() { return enter(kArrayNode); }
  bool end() {
    --depth_;
    return true;
  }

  std::size_t elements() const { return elements_; }
  std::size_t bytes() const { return bytes_; }

 private:
  // Estimated costs in nlohmann::json on a 64-bit libstdc++, with malloc's
  // overhead: every value a 16-byte slot (doubled for vector growth); an
  // object its std::map, each member a map node with its key; a string its
  // std::string and, beyond the small-string buffer, its characters. The
  // whole document's, even where only part of it is kept: the limits then
  // answer the same whatever the caller builds.
  static constexpr std::size_t kSlot = 32;
  static constexpr std::size_t kObjectNode = 64;
  static constexpr std::size_t kArrayNode = 40;
  static constexpr std::size_t kMemberNode = 96;
  static constexpr std::size_t kStringNode = 48;
  static std::size_t heap(std::size_t length) { return length > 15 ? length + 17 : 0; }

  bool count(std::size_t cost) {
    bytes_ += cost;
    if (++elements_ > kMaxJsonElements || bytes_ > kMaxDecodedBytes) {
      exceeded = AdmissionError::TooManyElements;
      return false;
    }
    return true;
  }
  bool enter(std::size_t node) {
    if (++depth_ > kMaxJsonDepth) {
      exceeded = AdmissionError::JsonTooDeep;
      return false;
    }
    return count(kSlot + node);
  }

  std::size_t depth_ = 0;
  std::size_t elements_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace gtoken::webhook
