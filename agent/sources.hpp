#pragma once
// The two ways the agent gets a Google ID token.
//
// MetadataTokenSource (default): the metadata server's identity endpoint.
// On GKE with Workload Identity it mints a token for the pod's GSA directly.
//
// IamTokenSource (--gcp-service-account EMAIL): IAM Credentials
// generateIdToken for EMAIL, authenticated with an access token from the
// metadata server. Needs roles/iam.serviceAccountTokenCreator on EMAIL; use it
// to impersonate a GSA other than the pod's own.

#include <chrono>
#include <string>

#include "agent/token_source.hpp"
#include "kube/clock.hpp"

namespace gtoken::agent {

inline constexpr const char* kDefaultMetadataHost = "metadata.google.internal";
inline constexpr const char* kDefaultMetadataAddress = "169.254.169.254";
inline constexpr const char* kDefaultIamEndpoint = "https://iamcredentials.googleapis.com";

// host[:port] to connect to: GCE_METADATA_HOST if set, with the default name
// mapped to its fixed address so no DNS lookup is needed.
std::string metadata_address(const std::string& gce_metadata_host);

class MetadataTokenSource final : public TokenSource {
 public:
  MetadataTokenSource(HttpFn http, std::string audience,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  FetchResult fetch() override;
  std::string describe() const override { return "metadata"; }

  // Request target, e.g. for tests: /computeMetadata/v1/...identity?audience=...&format=full
  std::string target() const;

 private:
  HttpFn http_;
  std::string audience_;
  std::chrono::milliseconds timeout_;
};

class IamTokenSource final : public TokenSource {
 public:
  IamTokenSource(HttpFn metadata_http, HttpFn iam_http, std::string email, std::string audience,
                 kube::Clock& clock, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  FetchResult fetch() override;
  std::string describe() const override { return "iamcredentials"; }

 private:
  FetchResult access_token();

  HttpFn metadata_http_;
  HttpFn iam_http_;
  std::string email_;
  std::string audience_;
  kube::Clock& clock_;
  std::chrono::milliseconds timeout_;
  std::string access_token_;
  kube::Clock::time_point access_token_expiry_{};
};

// True for the characters a service account email can hold.
bool valid_service_account_email(const std::string& email);

}  // namespace gtoken::agent
