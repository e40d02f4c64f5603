#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace gtoken::webhook {

// STS RoleSessionName limits (AssumeRoleWithWebIdentity).
inline constexpr std::size_t kMinSessionNameLength = 2;
inline constexpr std::size_t kMaxSessionNameLength = 64;

// Kubernetes' generateName rule (apiserver names.SimpleNameGenerator): the
// prefix is cut to 58 characters and 5 random characters are appended.
inline constexpr std::size_t kMaxGenerateNamePrefix = 58;
inline constexpr std::size_t kGeneratedSuffixLength = 5;

// Source of randomness, a parameter so that tests are deterministic.
using RandomSource = std::function<std::uint32_t()>;

bool is_valid_session_name(std::string_view name);

// Replaces every character STS rejects with "-".
std::string sanitize_session_name(std::string_view name);

// Cuts name to at most max_length characters, ending in "-" and 8 hex digits
// of a hash of the whole name, so two long names that share a prefix still
// differ. Names that fit are returned unchanged.
std::string shorten_with_hash(std::string_view name, std::size_t max_length);

// Five characters from Kubernetes' own name-suffix alphabet (no vowels, no
// look-alikes), so a generated suffix reads like a pod-name suffix.
std::string random_suffix(const RandomSource& random);

// How AWS_ROLE_SESSION_NAME is formed for one pod: "<namespace>.<pod name>".
// Namespaces are DNS labels (no dots), so the first "." splits it unambiguously.
struct SessionNamePlan {
  enum class Kind {
    // The pod has its name at admission: text is the whole session name.
    Literal,
    // generateName pod whose final name fits: the value is text followed by
    // $(pod_name_env), which the kubelet expands from the downward API.
    PodNameAtRuntime,
    // generateName pod too long for the runtime form: the value is text
    // followed by random_suffix(), computed once per admission.
    RandomSuffix,
  };
  Kind kind = Kind::Literal;
  std::string text;
};

SessionNamePlan plan_session_name(std::string_view namespace_, std::string_view name,
                                  std::string_view generate_name);

// The RandomSuffix prefix for a generateName pod, also the fallback when the
// runtime form cannot be used in one container.
std::string random_session_prefix(std::string_view namespace_, std::string_view generate_name);

}  // namespace gtoken::webhook
