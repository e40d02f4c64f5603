#pragma once
// Two writers of one JSON value with the same calls, so that a value is
// described once and either written as text (the admission fast path: no
// document built, no dump) or built as a nlohmann document (the reference
// mutation, which the golden and differential tests read).
//
// Calls go in document order: begin_object, then key/value pairs (a value
// being a scalar call or a nested begin/end), end_object; arrays alike
// without keys. JsonTextWriter writes what nlohmann's dump(-1) of the built
// document gives only when every object's keys come in dump's order
// (std::map's: bytewise ascending); the value writers in webhook/ do, and
// tests/unit/webhook_fast_path_test.cpp holds them to it.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "kube/json_text.hpp"

namespace gtoken::webhook {

using kube::append_json_string;

class JsonTextWriter {
 public:
  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }
  void key(std::string_view name);
  void string(std::string_view value);
  void integer(std::int64_t value);
  void boolean(bool value);

  // Room for `bytes` of text up front, so that a patch is written without
  // the string growing (and copying itself) along the way.
  void reserve(std::size_t bytes) { out_.reserve(bytes); }
  std::string take() { return std::move(out_); }

 private:
  void separate();
  void open(char bracket);
  void close(char bracket);

  std::string out_;
  // No stack needed: a value after a key takes no comma, the first value in
  // a container takes none, every other value does.
  bool after_key_ = false;
  bool need_comma_ = false;
};

class JsonDomWriter {
 public:
  void begin_object() { push(nlohmann::json::object()); }
  void end_object() { open_.pop_back(); }
  void begin_array() { push(nlohmann::json::array()); }
  void end_array() { open_.pop_back(); }
  void key(std::string_view name) { key_ = name; }
  void string(std::string_view value) { place(nlohmann::json(value)); }
  void integer(std::int64_t value) { place(nlohmann::json(value)); }
  void boolean(bool value) { place(nlohmann::json(value)); }

  void reserve(std::size_t /*bytes*/) {}  // a document has nothing to reserve
  nlohmann::json take() { return std::move(root_); }

 private:
  nlohmann::json& place(nlohmann::json value);
  void push(nlohmann::json container) { open_.push_back(&place(std::move(container))); }

  nlohmann::json root_;
  // The containers not yet ended, innermost last. Pointers stay valid: an
  // array is only appended to once its last element has been ended, and
  // object members (std::map nodes) never move.
  std::vector<nlohmann::json*> open_;
  std::string key_;
};

}  // namespace gtoken::webhook
