#pragma once
// A log line's fields written as text as they are added: for a line logged
// on every request (the webhook's admission line), where a nlohmann object
// costs a map node per field and a dump per value. Logger::log_text takes
// what it holds. The same rules as Logger::log's fields: never a token or a
// key; ts, level and msg are dropped.

#include <cstdint>
#include <string>
#include <string_view>

namespace kube {

class LogFields {
 public:
  LogFields() { text_.reserve(192); }  // an admission line's fields, without regrowing

  LogFields& add(std::string_view key, std::string_view value);
  LogFields& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  LogFields& add_int(std::string_view key, std::int64_t value);
  // Non-finite values are written as null.
  LogFields& add_number(std::string_view key, double value);
  LogFields& add_bool(std::string_view key, bool value);

  // ,"key":value for each field, in the order added.
  const std::string& text() const { return text_; }

 private:
  bool start(std::string_view key);

  std::string text_;
};

}  // namespace kube
