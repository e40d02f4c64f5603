#include "kube/base64.hpp"

#include <array>

namespace kube {

namespace {

// Into `out`, resized once and written through a pointer (no per-character
// append: the webhook encodes every patch it sends).
void encode(std::string& out, std::string_view data, const char* alphabet, bool pad) {
  const size_t full = data.size() / 3;
  const size_t rest = data.size() - full * 3;
  const size_t tail = rest == 0 ? 0 : pad ? 4 : rest + 1;
  const size_t start = out.size();
  out.resize(start + full * 4 + tail);
  char* p = out.data() + start;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(data[k]); };
  for (size_t i = 0; i < full * 3; i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    *p++ = alphabet[(v >> 18) & 63];
    *p++ = alphabet[(v >> 12) & 63];
    *p++ = alphabet[(v >> 6) & 63];
    *p++ = alphabet[v & 63];
  }
  if (rest == 0) return;
  const size_t i = full * 3;
  const unsigned v = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0u);
  *p++ = alphabet[(v >> 18) & 63];
  *p++ = alphabet[(v >> 12) & 63];
  if (rest == 2) *p++ = alphabet[(v >> 6) & 63];
  if (pad) {
    *p++ = '=';
    if (rest == 1) *p++ = '=';
  }
}

constexpr const char* kStandard = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  encode(out, data, kStandard, true);
  return out;
}

void base64_encode_append(std::string& out, std::string_view data) {
  encode(out, data, kStandard, true);
}

std::string base64url_encode(std::string_view data) {
  std::string out;
  encode(out, data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else if (c == '=') {
      ++padding;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    } else {
      return std::nullopt;
    }
    if (padding > 0) return std::nullopt;  // data after padding
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bits >= 6 || padding > 2) return std::nullopt;  // a lone 6-bit group is not a byte
  return out;
}

}  // namespace kube
