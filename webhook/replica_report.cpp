#include "webhook/replica_report.hpp"

#include <cstdint>
#include <cstdio>

#include "kube/time.hpp"

namespace gtoken::webhook {

using nlohmann::json;

std::string replica_lease_name(const std::string& identity) {
  // FNV-1a 64: stable across processes, and enough to tell replicas apart.
  std::uint64_t h = 1469598103934665603ULL;
  for (const char c : identity) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string("gtoken-webhook-") + buf;
}

json replica_report_lease(const ReplicaReportSpec& spec, const ServedFingerprints& served,
                          TimePoint now) {
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata",
           {{"name", replica_lease_name(spec.identity)},
            {"namespace", spec.ns},
            {"labels", {{kReplicaLabel, "true"}}},
            {"annotations",
             {{kServingCaAnnotation, served.ca}, {kServingCertAnnotation, served.cert}}}}},
          {"spec",
           {{"holderIdentity", spec.identity},
            {"leaseDurationSeconds", spec.duration.count()},
            {"renewTime", kube::format_micro_time(now)}}}};
}

void write_replica_report(CertClient& client, const ReplicaReportSpec& spec,
                          const ServedFingerprints& served, TimePoint now) {
  const json lease = replica_report_lease(spec, served, now);
  auto current = client.get_lease(lease["metadata"]["name"].get<std::string>());
  if (!current) {
    client.create_lease(lease);
    return;
  }
  (*current)["metadata"]["labels"][kReplicaLabel] = "true";
  (*current)["metadata"]["annotations"][kServingCaAnnotation] = served.ca;
  (*current)["metadata"]["annotations"][kServingCertAnnotation] = served.cert;
  (*current)["metadata"].erase("managedFields");
  (*current)["spec"] = lease["spec"];
  client.update_lease(*current);
}

ReplicaReports read_replica_reports(const json& lease_list, TimePoint now) {
  ReplicaReports out;
  for (const auto& lease : lease_list.value("items", json::array())) {
    if (!lease.is_object()) continue;
    const json spec = lease.value("spec", json::object());
    const json metadata = lease.value("metadata", json::object());
    if (!spec.is_object() || !metadata.is_object()) continue;
    const auto renewed = kube::parse_rfc3339(spec.value("renewTime", ""));
    const auto duration = std::chrono::seconds(spec.value("leaseDurationSeconds", 0));
    if (!renewed) continue;
    if (*renewed + duration > now) {
      const json annotations = metadata.value("annotations", json::object());
      out.live.push_back(
          {spec.value("holderIdentity", ""), annotations.value(kServingCaAnnotation, "")});
    } else if (*renewed + duration * 10 < now) {
      out.long_expired.push_back(metadata.value("name", ""));
    }
  }
  return out;
}

}  // namespace gtoken::webhook
