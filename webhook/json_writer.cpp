#include "webhook/json_writer.hpp"

namespace gtoken::webhook {

void JsonTextWriter::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (need_comma_) out_ += ',';
}

void JsonTextWriter::open(char bracket) {
  separate();
  out_ += bracket;
  need_comma_ = false;
}

void JsonTextWriter::close(char bracket) {
  out_ += bracket;
  need_comma_ = true;
}

void JsonTextWriter::key(std::string_view name) {
  separate();
  append_json_string(out_, name);
  out_ += ':';
  after_key_ = true;
}

void JsonTextWriter::string(std::string_view value) {
  separate();
  append_json_string(out_, value);
  need_comma_ = true;
}

void JsonTextWriter::integer(std::int64_t value) {
  separate();
  kube::append_json_integer(out_, value);
  need_comma_ = true;
}

void JsonTextWriter::boolean(bool value) {
  separate();
  out_ += value ? "true" : "false";
  need_comma_ = true;
}

nlohmann::json& JsonDomWriter::place(nlohmann::json value) {
  if (open_.empty()) {
    root_ = std::move(value);
    return root_;
  }
  nlohmann::json& parent = *open_.back();
  if (parent.is_array()) {
    parent.push_back(std::move(value));
    return parent.back();
  }
  return parent[key_] = std::move(value);
}

}  // namespace gtoken::webhook
