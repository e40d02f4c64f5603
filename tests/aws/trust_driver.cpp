// Drives gtoken's trust-policy evaluator and planner from JSON lines, for
// the differential test against the STS stand-in (test_trust_differential.py).
// stdin, one request a line:
//   {"op":"evaluate","policy":TEXT,"provider":P,"claims":{...}}
//   {"op":"plan","policy":TEXT,"grants":[{"provider","subject","audience"}],"limit":N}
// stdout, one answer a line: the verdict or plan, or {"error": KIND}.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "aws/trust_evaluation.hpp"
#include "aws/trust_statement_plan.hpp"

using json = nlohmann::json;
namespace aws = gtoken::aws;

namespace {

json evaluate(const json& req) {
  const auto request =
      aws::web_identity_request(req.at("provider").get<std::string>(), req.at("claims"));
  const auto v = aws::evaluate_web_identity(req.at("policy").get<std::string>(), request);
  json failing = json::array();
  for (const auto& f : v.failures) failing.push_back(f.claim);
  return {{"allowed", v.allowed()},
          {"outcome", aws::to_string(v.outcome)},
          {"statement", v.statement},
          {"failing", failing},
          {"message", v.message()}};
}

json plan(const json& req) {
  std::vector<aws::TrustGrant> grants;
  for (const auto& g : req.at("grants")) {
    grants.push_back({g.at("provider"), g.at("subject"), g.at("audience")});
  }
  aws::TrustPlanOptions options;
  options.size_limit = req.value("limit", aws::kDefaultTrustPolicyLimit);
  const auto p = aws::plan_trust_statements(req.at("policy").get<std::string>(), grants, options);
  return {{"outcome", aws::to_string(p.outcome)},
          {"document", p.document},
          {"size", p.size},
          {"sids", p.sids},
          {"placeholder", p.placeholder}};
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    json out;
    try {
      const json req = json::parse(line);
      out = req.at("op") == "plan" ? plan(req) : evaluate(req);
    } catch (const aws::TrustPolicyError& e) {
      out = {{"error", aws::to_string(e.kind)}};
    } catch (const std::exception& e) {
      out = {{"error", "invalid"}, {"message", e.what()}};
    }
    std::cout << out.dump() << "\n";
  }
  return 0;
}
