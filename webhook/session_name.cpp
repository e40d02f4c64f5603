#include "webhook/session_name.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>
#include <random>

#include "webhook/text.hpp"

namespace gtoken::webhook {

namespace {

std::uint32_t fnv1a32(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

std::string join_session(std::string_view namespace_, std::string_view name) {
  std::string s(namespace_);
  s += '.';
  s += name;
  return sanitize_session_name(s);
}

// A session name of one or zero characters only arises from an empty
// namespace, which the apiserver never sends for a pod; stay valid anyway.
std::string ensure_min_length(std::string s) {
  if (s.size() < kMinSessionNameLength) s.insert(0, "gtoken");
  return s;
}

}  // namespace

bool is_valid_session_name(std::string_view name) {
  return name.size() >= kMinSessionNameLength && name.size() <= kMaxSessionNameLength &&
         std::all_of(name.begin(), name.end(), is_session_name_char);
}

std::string sanitize_session_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (!is_session_name_char(c)) c = '-';
  }
  return out;
}

std::string shorten_with_hash(std::string_view name, std::size_t max_length) {
  if (name.size() <= max_length) return std::string(name);
  constexpr std::size_t kHashPart = 9;  // "-" and 8 hex digits
  std::array<char, 9> hex{};
  std::snprintf(hex.data(), hex.size(), "%08x", fnv1a32(name));
  if (max_length <= kHashPart) return std::string(hex.data()).substr(0, max_length);
  std::string out(name.substr(0, max_length - kHashPart));
  // A cut right after a separator would read as "ns.-1a2b3c4d".
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  out += '-';
  out += hex.data();
  return out;
}

std::string random_suffix(const RandomSource& random) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  // An empty source is a caller's slip; a name that is merely not reproducible
  // beats failing the pod's admission over it.
  std::optional<std::random_device> fallback;
  if (!random) fallback.emplace();
  std::string out;
  out.reserve(kGeneratedSuffixLength);
  for (std::size_t i = 0; i < kGeneratedSuffixLength; ++i) {
    const std::uint32_t r = random ? random() : (*fallback)();
    out += kAlphabet[r % kAlphabet.size()];
  }
  return out;
}

std::string random_session_prefix(std::string_view namespace_, std::string_view generate_name) {
  std::string joined = join_session(namespace_, generate_name);
  if (joined.size() + kGeneratedSuffixLength <= kMaxSessionNameLength) return joined;
  // "-" keeps the random part apart from the hash.
  return shorten_with_hash(joined, kMaxSessionNameLength - kGeneratedSuffixLength - 1) + "-";
}

SessionNamePlan plan_session_name(std::string_view namespace_, std::string_view name,
                                  std::string_view generate_name) {
  if (!name.empty()) {
    return {SessionNamePlan::Kind::Literal,
            ensure_min_length(
                shorten_with_hash(join_session(namespace_, name), kMaxSessionNameLength))};
  }
  const std::size_t final_name_length =
      std::min(generate_name.size(), kMaxGenerateNamePrefix) + kGeneratedSuffixLength;
  const std::string prefix = join_session(namespace_, "");
  const bool clean = prefix == std::string(namespace_) + "." &&
                     sanitize_session_name(generate_name) == generate_name;
  if (clean && prefix.size() + final_name_length <= kMaxSessionNameLength) {
    return {SessionNamePlan::Kind::PodNameAtRuntime, prefix};
  }
  return {SessionNamePlan::Kind::RandomSuffix, random_session_prefix(namespace_, generate_name)};
}

}  // namespace gtoken::webhook
