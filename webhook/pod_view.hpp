#pragma once
// The pod AdmissionReview as the pod review reads it, decoded in one pass.
//
// The apiserver sends the whole pod, managedFields, images, probes and all;
// the review and the mutation read a few dozen of its values. This parser
// builds only those (the request's own fields, and from request.object the
// metadata and spec members listed in pod_view.cpp), so a real pod decodes
// to a small document in one scan, the limits checked on the way (JsonBudget
// counts every value, kept or not, so a body is refused exactly as the
// whole-document decode refuses it).
//
// tests/unit/webhook_fast_path_test.cpp shows review_pod answers the same on
// this view as on the whole document, for the golden corpus and fuzzed pods;
// a member the mutation starts to read must be added to the list.

#include <nlohmann/json.hpp>
#include <string_view>

#include "webhook/json_budget.hpp"

namespace gtoken::webhook {

// Parses `body` (any JSON) into `out`: the pod view when it is shaped like an
// AdmissionReview, otherwise whatever of it the rules keep. False when it is
// not JSON or `budget` refused it (budget.exceeded says which limit).
bool parse_pod_view(std::string_view body, nlohmann::json& out, JsonBudget& budget);

}  // namespace gtoken::webhook
