#pragma once
// An object's metadata.finalizers: whether one is there, and the patches that
// add or remove it. Pure (no IO); the caller sends the patch.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kube {

bool has_finalizer(const nlohmann::json& obj, const std::string& finalizer);

// A merge patch appending `finalizer` to the list as read, carrying the
// object's resourceVersion: a concurrent change (someone else's finalizer)
// answers 409 instead of being overwritten.
nlohmann::json add_finalizer_patch(const nlohmann::json& obj, const std::string& finalizer);

// A JSON Patch `test` + `remove` of `finalizer` at its index in the list as
// read (the last one, if it appears twice), so it never removes someone
// else's finalizer when the list moved (the `test` fails with 422 instead).
// nullopt when the object does not carry it.
std::optional<nlohmann::json> remove_finalizer_patch(const nlohmann::json& obj,
                                                     const std::string& finalizer);

}  // namespace kube
