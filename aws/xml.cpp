#include "aws/xml.hpp"

#include <cstdint>

namespace gtoken::aws {

const XmlElement* XmlElement::child(std::string_view n) const {
  for (const auto& c : children) {
    if (c.name == n) return &c;
  }
  return nullptr;
}

std::string XmlElement::child_text(std::string_view n) const {
  const XmlElement* c = child(n);
  return c ? c->text : std::string();
}

std::vector<const XmlElement*> XmlElement::children_named(std::string_view n) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children) {
    if (c.name == n) out.push_back(&c);
  }
  return out;
}

namespace {

constexpr int kMaxDepth = 64;

class Reader {
 public:
  explicit Reader(std::string_view doc) : s_(doc) {}

  XmlElement document() {
    skip_misc();
    if (!at("<")) fail("no root element");
    XmlElement root = element(0);
    skip_misc();
    if (pos_ != s_.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw XmlError("XML: " + what + " at offset " + std::to_string(pos_));
  }

  bool at(std::string_view p) const { return s_.substr(pos_, p.size()) == p; }

  void skip_past(std::string_view end) {
    size_t e = s_.find(end, pos_);
    if (e == std::string_view::npos) fail("unterminated construct");
    pos_ = e + end.size();
  }

  static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  void skip_space() {
    while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
  }

  // Whitespace, the declaration, comments and processing instructions.
  void skip_misc() {
    for (;;) {
      skip_space();
      if (at("<?")) {
        skip_past("?>");
      } else if (at("<!--")) {
        skip_past("-->");
      } else if (at("<!")) {
        fail("DTDs are not accepted");
      } else {
        return;
      }
    }
  }

  static bool name_char(char c) {
    return !(space(c) || c == '>' || c == '/' || c == '=' || c == '<' || c == '"' || c == '\'');
  }

  std::string name() {
    size_t start = pos_;
    while (pos_ < s_.size() && name_char(s_[pos_])) ++pos_;
    if (pos_ == start) fail("expected a name");
    return std::string(s_.substr(start, pos_ - start));
  }

  static std::string local(const std::string& qname) {
    size_t colon = qname.find(':');
    return colon == std::string::npos ? qname : qname.substr(colon + 1);
  }

  void attributes() {
    for (;;) {
      skip_space();
      if (pos_ >= s_.size()) fail("unterminated tag");
      if (s_[pos_] == '>' || s_[pos_] == '/') return;
      name();
      skip_space();
      if (!at("=")) fail("expected '='");
      ++pos_;
      skip_space();
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) fail("expected a quote");
      char q = s_[pos_++];
      size_t e = s_.find(q, pos_);
      if (e == std::string_view::npos) fail("unterminated attribute");
      pos_ = e + 1;
    }
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  void reference(std::string& out) {
    size_t semi = s_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) fail("bad entity reference");
    std::string_view ref = s_.substr(pos_ + 1, semi - pos_ - 1);
    pos_ = semi + 1;
    if (ref == "lt") {
      out += '<';
    } else if (ref == "gt") {
      out += '>';
    } else if (ref == "amp") {
      out += '&';
    } else if (ref == "quot") {
      out += '"';
    } else if (ref == "apos") {
      out += '\'';
    } else if (ref.size() >= 2 && ref[0] == '#') {
      bool hex = ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) fail("bad character reference");
      uint32_t cp = 0;
      for (char c : digits) {
        int d = c >= '0' && c <= '9'          ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : -1;
        if (d < 0) fail("bad character reference");
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
        if (cp > 0x10FFFF) fail("bad character reference");
      }
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) fail("bad character reference");
      append_utf8(out, cp);
    } else {
      fail("unknown entity");
    }
  }

  XmlElement element(int depth) {
    if (depth >= kMaxDepth) fail("nested too deeply");
    ++pos_;  // '<'
    XmlElement el;
    std::string qname = name();
    el.name = local(qname);
    attributes();
    if (at("/>")) {
      pos_ += 2;
      return el;
    }
    ++pos_;  // '>'
    for (;;) {
      if (pos_ >= s_.size()) fail("unterminated element " + el.name);
      char c = s_[pos_];
      if (c == '&') {
        reference(el.text);
      } else if (c != '<') {
        el.text += c;
        ++pos_;
      } else if (at("</")) {
        pos_ += 2;
        if (name() != qname) fail("mismatched end tag for " + el.name);
        skip_space();
        if (!at(">")) fail("expected '>'");
        ++pos_;
        return el;
      } else if (at("<![CDATA[")) {
        size_t start = pos_ + 9;
        skip_past("]]>");
        el.text.append(s_.substr(start, pos_ - 3 - start));
      } else if (at("<!--")) {
        skip_past("-->");
      } else if (at("<?")) {
        skip_past("?>");
      } else if (at("<!")) {
        fail("DTDs are not accepted");
      } else {
        el.children.push_back(element(depth + 1));
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

XmlElement parse_xml(std::string_view document) {
  return Reader(document).document();
}

}  // namespace gtoken::aws
