// libFuzzer target: arbitrary bytes as a role's trust policy document, into
// gtoken's reader, evaluator and statement planner (aws/).
//
// Beyond "no crash, no sanitizer report", for every document that reads:
// the plan with two grants admits the Google grant's token (unless a
// foreign Deny applies); planning its result again changes nothing; the
// foreign statements are the same, in the same order, after merging and
// after removing every grant; removal leaves at most the placeholder.
// Seeds: tests/fuzz/corpus/aws_trust_policy/.
//
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DGTOKEN_FUZZ=ON
//   cmake --build build-fuzz --target aws_trust_policy_fuzz
//   build-fuzz/aws/aws_trust_policy_fuzz -max_total_time=20 tests/fuzz/corpus/aws_trust_policy

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aws/trust_evaluation.hpp"
#include "aws/trust_statement_plan.hpp"

namespace {

using namespace gtoken::aws;
using json = nlohmann::json;

// A large limit: the size check is not what is fuzzed here.
const TrustPlanOptions kOptions{.size_limit = std::size_t{1} << 30};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

bool owned(const json& st) {
  if (!st.is_object()) return false;
  const auto it = st.find("Sid");
  return it != st.end() && it->is_string() &&
         it->get<std::string>().rfind(kGtokenSidPrefix, 0) == 0;
}

json foreign_statements(const std::string& text) {
  const json doc = json::parse(text);
  const json& st = doc.at("Statement");
  json out = json::array();
  if (!st.is_array()) {
    if (!owned(st)) out.push_back(st);
    return out;
  }
  for (const auto& s : st) {
    if (!owned(s)) out.push_back(s);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  TrustPolicy policy;
  try {
    policy = parse_trust_policy(text);
  } catch (const TrustPolicyError&) {
    return 0;
  }
  const auto google =
      web_identity_request(kGoogleProvider, {{"sub", "111"}, {"azp", "111"}, {"aud", "a"}});
  (void)evaluate_web_identity(policy, google).message();

  const std::vector<TrustGrant> grants = {
      google_grant("111", "a"),
      kubernetes_grant("arn:aws:iam::123456789012:oidc-provider/h/p", "n", "k",
                       "sts.amazonaws.com")};
  const auto plan = plan_trust_statements(text, grants, kOptions);
  const auto verdict = evaluate_web_identity(plan.document, google);
  check(verdict.allowed() || verdict.outcome == TrustOutcome::ExplicitDeny,
        "the merged document admits the grant's token");
  check(plan_trust_statements(plan.document, grants, kOptions).outcome ==
            TrustPlan::Outcome::Unchanged,
        "planning the merged document again changes nothing");
  const json foreign = foreign_statements(text);
  check(foreign_statements(plan.document) == foreign, "merging keeps the foreign statements");
  const auto removed = plan_trust_statements(plan.document, {}, kOptions);
  check(foreign_statements(removed.document) == foreign, "removal keeps the foreign statements");
  check(removed.sids.empty() || (removed.placeholder && foreign.empty()),
        "removal leaves nothing of gtoken's but the placeholder");
  return 0;
}
