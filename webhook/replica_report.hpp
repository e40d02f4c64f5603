#pragma once
// The replica report: each replica says, in a Lease of its own, which CA
// signed the certificate it serves, so the leader retires an old CA only once
// no live replica serves a certificate of it (docs/webhook.md, "Who does
// what"). Writing this replica's report, and reading every live one.

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "webhook/cert_client.hpp"
#include "webhook/rotation.hpp"

namespace gtoken::webhook {

inline constexpr const char* kReplicaLabel = "gtoken.io/webhook-replica";
inline constexpr const char* kServingCaAnnotation = "gtoken.io/serving-ca-sha256";
inline constexpr const char* kServingCertAnnotation = "gtoken.io/serving-cert-sha256";

// Lease name of a replica's report: DNS-safe whatever the identity.
std::string replica_lease_name(const std::string& identity);

struct ReplicaReportSpec {
  std::string identity;
  std::string ns;  // the operator's namespace
  std::chrono::seconds duration{30};
};

// The fingerprints (SHA-256, hex) of what this replica serves; "" = nothing.
struct ServedFingerprints {
  std::string cert;
  std::string ca;
};

// This replica's report Lease as it should be at `now`. Pure.
nlohmann::json replica_report_lease(const ReplicaReportSpec& spec, const ServedFingerprints& served,
                                    TimePoint now);

// Writes the report: GET + PUT, or create when it does not exist (the Role
// grants get/create/update on Leases, not patch). Other labels and
// annotations of the stored Lease are kept.
void write_replica_report(CertClient& client, const ReplicaReportSpec& spec,
                          const ServedFingerprints& served, TimePoint now);

struct ReplicaReports {
  std::vector<ReplicaReport> live;
  // Reports expired ten times over: replicas gone without a clean stop.
  std::vector<std::string> long_expired;
};

// Sorts a Lease list into live reports and long-expired ones. Pure.
ReplicaReports read_replica_reports(const nlohmann::json& lease_list, TimePoint now);

}  // namespace gtoken::webhook
