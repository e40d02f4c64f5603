#include "operator/binding_view.hpp"

#include "contract/gtoken.hpp"
#include "kube/finalizers.hpp"
#include "kube/names.hpp"

namespace gtoken {

using json = nlohmann::json;

json Target::to_json() const {
  json j = {{"serviceAccountName", ksa},
            {"gcpServiceAccount", gsa},
            {"awsRoleArn", role_arn},
            {"project", project},
            {"createdServiceAccount", created_sa}};
  if (!preexisting.empty()) j["preexistingAnnotations"] = preexisting;
  if (kubernetes()) j["tokenSource"] = source;
  return j;
}

bool valid_gsa_email(const std::string& email) {
  auto at = email.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= email.size() || email.size() > 254)
    return false;
  for (size_t i = 0; i < email.size(); ++i) {
    char c = email[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              (i > at && (c == '.' || c == ':'));
    if (!ok && i != at) return false;
  }
  return true;
}

bool Target::valid() const {
  auto arn_ok = [](const std::string& arn) {
    if (arn.rfind("arn:", 0) != 0 || arn.size() > 2048) return false;
    for (unsigned char c : arn) {
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
  };
  if (kubernetes()) {
    // Nothing on Google: a GSA or project recorded with it was not written
    // by gtoken.
    return source == contract::kTokenSourceKubernetes && kube::is_dns1123_subdomain(ksa) &&
           gsa.empty() && project.empty() && arn_ok(role_arn);
  }
  return kube::is_dns1123_subdomain(ksa) && valid_gsa_email(gsa) && arn_ok(role_arn) &&
         (project.empty() || kube::is_dns1123_subdomain(project) ||
          valid_gsa_email("x@" + project));
}

Target Target::from_json(const json& j) {
  Target t;
  t.ksa = j.value("serviceAccountName", "");
  t.gsa = j.value("gcpServiceAccount", "");
  t.role_arn = j.value("awsRoleArn", "");
  t.project = j.value("project", "");
  t.created_sa = j.value("createdServiceAccount", false);
  if (j.contains("tokenSource") && j["tokenSource"].is_string()) {
    t.source = j["tokenSource"].get<std::string>();
    if (t.source == contract::kTokenSourceGoogle) t.source.clear();
  }
  if (j.contains("preexistingAnnotations") && j["preexistingAnnotations"].is_array()) {
    for (const auto& k : j["preexistingAnnotations"]) {
      if (k.is_string()) t.preexisting.push_back(k.get<std::string>());
    }
  }
  return t;
}

std::vector<Target> applied_targets(const json& status, std::vector<Target>* dropped) {
  std::vector<Target> out;
  if (!status.is_object() || !status.contains("appliedTargets") ||
      !status["appliedTargets"].is_array()) {
    return out;
  }
  for (const auto& j : status["appliedTargets"]) {
    if (!j.is_object()) continue;
    Target t = Target::from_json(j);
    if (t.valid()) {
      out.push_back(std::move(t));
    } else if (dropped) {
      dropped->push_back(std::move(t));
    }
  }
  return out;
}

std::string describe(const Target& t) {
  if (t.kubernetes()) return "ServiceAccount " + t.ksa + " / Kubernetes token / " + t.role_arn;
  return "ServiceAccount " + t.ksa + " / " + t.gsa + " / " + t.role_arn;
}

bool kubernetes_source(const json& spec) {
  return spec.is_object() && spec.value("tokenSource", "") == contract::kTokenSourceKubernetes;
}

std::string binding_audience(const json& spec, const std::string& default_audience) {
  const std::string audience = spec.is_object() ? spec.value("audience", "") : "";
  if (!audience.empty()) return audience;
  return kubernetes_source(spec) ? contract::kKubernetesDefaultAudience : default_audience;
}

BindingView view_binding(json binding, const std::string& default_audience) {
  BindingView v;
  const json meta = binding.value("metadata", json::object());
  v.ns = meta.value("namespace", "");
  v.name = meta.value("name", "");
  v.uid = meta.value("uid", "");
  v.generation = meta.value("generation", int64_t{0});
  v.deleting = meta.contains("deletionTimestamp");
  v.has_finalizer = kube::has_finalizer(binding, contract::kFinalizer);
  v.spec = binding.value("spec", json::object());
  v.ksa = v.spec.value("serviceAccountName", "");
  v.gsa = v.spec.value("gcpServiceAccount", "");
  v.role_arn = v.spec.value("awsRoleArn", "");
  v.audience = binding_audience(v.spec, default_audience);
  v.kubernetes = kubernetes_source(v.spec);
  if (v.kubernetes) v.gsa.clear();  // the CRD refuses one; never acted on
  v.status = binding.value("status", json::object());
  v.conditions = v.status.value("conditions", json::array());
  v.applied = applied_targets(v.status, &v.dropped);
  v.pods_missing_injection = v.status.value("podsMissingInjection", 0);
  v.object = std::move(binding);
  return v;
}

}  // namespace gtoken
