#include "webhook/settings.hpp"

#include <charconv>

#include "webhook/annotations.hpp"
#include "webhook/kubernetes_token.hpp"
#include "webhook/text.hpp"

namespace gtoken::webhook {

using nlohmann::json;

namespace {

std::optional<std::string> annotation(const json& annotations, std::string_view key) {
  if (!annotations.is_object()) return std::nullopt;
  auto it = annotations.find(key);
  if (it == annotations.end() || !it->is_string()) return std::nullopt;
  std::string value{trim(it->get_ref<const std::string&>())};
  if (value.empty()) return std::nullopt;
  return value;
}

}  // namespace

bool is_valid_role_arn(std::string_view arn) {
  if (arn.size() < 20 || arn.size() > 2048) return false;
  // arn:<partition>:iam::<account>:role/<path and name>
  constexpr std::string_view kArn = "arn:";
  if (!arn.starts_with(kArn)) return false;
  arn.remove_prefix(kArn.size());
  const auto partition_end = arn.find(':');
  if (partition_end == std::string_view::npos) return false;
  const auto partition = arn.substr(0, partition_end);
  if (!partition.starts_with("aws")) return false;
  for (char c : partition) {
    if (!(is_lower(c) || c == '-')) return false;
  }
  arn.remove_prefix(partition_end + 1);
  constexpr std::string_view kIam = "iam::";
  if (!arn.starts_with(kIam)) return false;
  arn.remove_prefix(kIam.size());
  if (arn.size() < 13 || arn[12] != ':') return false;
  for (std::size_t i = 0; i < 12; ++i) {
    if (!is_digit(arn[i])) return false;
  }
  arn.remove_prefix(13);
  constexpr std::string_view kRole = "role/";
  if (!arn.starts_with(kRole) || arn.size() == kRole.size() || arn.back() == '/') return false;
  arn.remove_prefix(kRole.size());
  // IAM role names and paths: [\w+=,.@-] separated by "/".
  for (char c : arn) {
    if (!(is_session_name_char(c) || c == '/')) return false;
  }
  return true;
}

bool is_valid_region(std::string_view region) {
  if (region.empty() || region.size() > 32) return false;
  if (region.front() == '-' || region.back() == '-') return false;
  for (char c : region) {
    if (!(is_lower(c) || is_digit(c) || c == '-')) return false;
  }
  return true;
}

namespace {

void read_google(const json& annotations, SaSettings& out) {
  if (auto audience = annotation(annotations, kAudienceAnnotation)) {
    out.audience = std::move(*audience);
  }
  if (auto expiration = annotation(annotations, kTokenExpirationAnnotation)) {
    std::int64_t seconds = 0;
    const char* first = expiration->data();
    const char* last = first + expiration->size();
    const auto [end, ec] = std::from_chars(first, last, seconds);
    if (ec != std::errc{} || end != last) {
      out.warnings.push_back("ignoring " + std::string(kTokenExpirationAnnotation) + " \"" +
                             *expiration + "\": not a number of seconds");
    } else if (seconds < kMinTokenExpirationSeconds || seconds > kMaxTokenExpirationSeconds) {
      const auto clamped = seconds < kMinTokenExpirationSeconds ? kMinTokenExpirationSeconds
                                                                : kMaxTokenExpirationSeconds;
      out.warnings.push_back(std::string(kTokenExpirationAnnotation) + " " +
                             std::to_string(seconds) + " out of range, using " +
                             std::to_string(clamped));
      out.token_expiration_seconds = clamped;
    } else {
      out.token_expiration_seconds = seconds;
    }
  }
}

// The EKS webhook's reading (pkg/cache): the audience as written, an
// unusable expiration or boolean ignored (its default applies).
void read_kubernetes(const json& annotations, SaSettings& out) {
  if (auto audience = annotation(annotations, kEksAudienceAnnotation)) {
    out.audience = std::move(*audience);
  }
  if (auto expiration = annotation(annotations, kEksTokenExpirationAnnotation)) {
    std::string warning;
    out.token_expiration_seconds =
        read_token_expiration(*expiration, kEksTokenExpirationAnnotation, warning);
    if (!warning.empty()) out.warnings.push_back(std::move(warning));
  }
  if (auto regional = annotation(annotations, kEksStsRegionalEndpointsAnnotation)) {
    out.sts_regional_endpoints = parse_bool(*regional);
    if (!out.sts_regional_endpoints) {
      out.warnings.push_back("ignoring " + std::string(kEksStsRegionalEndpointsAnnotation) + " \"" +
                             regional->substr(0, 32) + "\": not a boolean");
    }
  }
}

}  // namespace

SaSettings settings_from_service_account(const json& service_account) {
  SaSettings out;
  if (!service_account.is_object()) return out;
  const auto metadata = service_account.find("metadata");
  if (metadata == service_account.end() || !metadata->is_object()) return out;
  const auto annotations_it = metadata->find("annotations");
  if (annotations_it == metadata->end()) return out;
  const json& annotations = *annotations_it;

  auto google_arn = annotation(annotations, kRoleArnAnnotation);
  auto eks_arn = annotation(annotations, kEksRoleArnAnnotation);
  if (google_arn && eks_arn) {
    const bool gsa = annotation(annotations, kGcpServiceAccountAnnotation).has_value();
    out.token_source = gsa ? TokenSource::Google : TokenSource::Kubernetes;
    out.warnings.push_back(
        gsa ? "amazonaws.com/role-arn and eks.amazonaws.com/role-arn both set; Google token used "
              "(GSA annotated)"
            : "amazonaws.com/role-arn and eks.amazonaws.com/role-arn both set; Kubernetes token "
              "used (no GSA annotation)");
  } else if (eks_arn) {
    out.token_source = TokenSource::Kubernetes;
  }
  if (out.token_source == TokenSource::Kubernetes) {
    out.role_arn = std::move(*eks_arn);
    read_kubernetes(annotations, out);
  } else {
    if (google_arn) out.role_arn = std::move(*google_arn);
    read_google(annotations, out);
  }

  if (auto region = annotation(annotations, kRegionAnnotation)) {
    if (is_valid_region(*region)) {
      out.region = std::move(*region);
    } else {
      out.warnings.push_back("ignoring " + std::string(kRegionAnnotation) + " \"" +
                             region->substr(0, 32) + "\": not an AWS region name");
    }
  }
  if (auto containers = annotation(annotations, kContainersAnnotation)) {
    out.containers = split_list(*containers);
  }
  return out;
}

}  // namespace gtoken::webhook
