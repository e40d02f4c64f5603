#include "webhook/pod_view.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace gtoken::webhook {

using nlohmann::json;

namespace {

// Where a value sits in the review. Object parts keep only the members
// member_part names; array parts keep every element as their element part.
// A value whose type does not fit its part (a spec that is an array, say) is
// kept whole: the review then sees it exactly as in the whole document.
enum class Part : std::uint8_t {
  Whole,
  Skip,
  Review,
  Request,
  Pod,
  Metadata,
  Spec,
  Containers,
  Container,
  Volumes,
  Volume,
};

bool is_object_part(Part part) {
  switch (part) {
    case Part::Review:
    case Part::Request:
    case Part::Pod:
    case Part::Metadata:
    case Part::Spec:
    case Part::Container:
    case Part::Volume:
      return true;
    default:
      return false;
  }
}

bool is_array_part(Part part) {
  return part == Part::Containers || part == Part::Volumes;
}

// What each object part keeps: the members decode_request, review_pod,
// mutate_pod and the routes' log line read (see mutate.cpp, pod_review.cpp).
Part member_part(Part object, std::string_view key) {
  switch (object) {
    case Part::Whole:
      return Part::Whole;
    case Part::Review:
      if (key == "apiVersion" || key == "kind") return Part::Whole;
      if (key == "request") return Part::Request;
      return Part::Skip;
    case Part::Request:
      if (key == "object") return Part::Pod;
      if (key == "uid" || key == "dryRun" || key == "operation" || key == "namespace" ||
          key == "name" || key == "subResource" || key == "kind" || key == "resource") {
        return Part::Whole;
      }
      return Part::Skip;  // oldObject, userInfo, options, requestKind, ...
    case Part::Pod:
      if (key == "metadata") return Part::Metadata;
      if (key == "spec") return Part::Spec;
      return Part::Skip;  // status, apiVersion, kind
    case Part::Metadata:
      if (key == "annotations" || key == "name" || key == "generateName" || key == "namespace") {
        return Part::Whole;
      }
      return Part::Skip;  // managedFields, labels, ownerReferences, ...
    case Part::Spec:
      if (key == "initContainers" || key == "containers") return Part::Containers;
      if (key == "volumes") return Part::Volumes;
      if (key == "serviceAccountName" || key == "serviceAccount" || key == "nodeSelector" ||
          key == "os" || key == "hostNetwork" || key == "securityContext" ||
          key == "restartPolicy") {
        return Part::Whole;
      }
      return Part::Skip;
    case Part::Container:
      if (key == "name" || key == "env" || key == "volumeMounts") return Part::Whole;
      return Part::Skip;  // image, command, args, resources, probes, ...
    case Part::Volume:
      // projected: is_projected_token_volume reads it.
      if (key == "name" || key == "projected") return Part::Whole;
      return Part::Skip;
    default:
      return Part::Skip;
  }
}

Part element_part(Part array) {
  if (array == Part::Containers) return Part::Container;
  if (array == Part::Volumes) return Part::Volume;
  return Part::Whole;
}

// nlohmann's SAX events into the view. Members and elements are placed as the
// library's own DOM parser places them (a repeated key: the last value wins).
class PodViewBuilder {
 public:
  PodViewBuilder(json& root, JsonBudget& budget) : root_(root), budget_(budget) {}

  bool null() { return budget_.scalar() && put(json(nullptr)); }
  bool boolean(bool value) { return budget_.scalar() && put(json(value)); }
  bool number_integer(json::number_integer_t value) { return budget_.scalar() && put(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) {
    return budget_.scalar() && put(json(value));
  }
  bool number_float(json::number_float_t value, const std::string& /*text*/) {
    return budget_.scalar() && put(json(value));
  }
  bool string(std::string& value) {
    return budget_.string(value.size()) && put(json(std::move(value)));
  }
  bool binary(json::binary_t& /*value*/) { return budget_.scalar() && put(json(nullptr)); }
  bool start_object(std::size_t /*size*/) { return budget_.start_object() && open(true); }
  bool start_array(std::size_t /*size*/) { return budget_.start_array() && open(false); }
  bool end_object() { return budget_.end() && close(); }
  bool end_array() { return budget_.end() && close(); }
  bool key(std::string& key) {
    if (!budget_.key(key.size())) return false;
    if (skipping_ > 0) return true;
    Frame& top = stack_.back();
    next_part_ = member_part(top.part, key);
    next_slot_ = next_part_ == Part::Skip ? nullptr : &(*top.value)[std::move(key)];
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*error*/) {
    return false;
  }

 private:
  struct Frame {
    json* value;
    Part part;
  };

  // Where the next value goes and which part it is; slot null: skipped.
  std::pair<json*, Part> next() {
    if (stack_.empty()) return {&root_, Part::Review};
    Frame& top = stack_.back();
    if (top.value->is_object()) return {next_slot_, next_part_};
    top.value->push_back(json());
    return {&top.value->back(), element_part(top.part)};
  }

  bool put(json value) {
    if (skipping_ > 0) return true;
    auto [slot, part] = next();
    if (part != Part::Skip) *slot = std::move(value);
    return true;
  }

  bool open(bool object) {
    if (skipping_ > 0) {
      ++skipping_;
      return true;
    }
    auto [slot, part] = next();
    if (part == Part::Skip) {
      skipping_ = 1;
      return true;
    }
    const bool fits = object ? is_object_part(part) : is_array_part(part);
    *slot = object ? json::object() : json::array();
    stack_.push_back({slot, fits ? part : Part::Whole});
    return true;
  }

  bool close() {
    if (skipping_ > 0) {
      --skipping_;
    } else {
      stack_.pop_back();
    }
    return true;
  }

  json& root_;
  JsonBudget& budget_;
  std::vector<Frame> stack_;
  std::size_t skipping_ = 0;  // depth inside a skipped container
  json* next_slot_ = nullptr;
  Part next_part_ = Part::Skip;
};

}  // namespace

bool parse_pod_view(std::string_view body, json& out, JsonBudget& budget) {
  out = json();
  PodViewBuilder builder(out, budget);
  return json::sax_parse(body, &builder);
}

}  // namespace gtoken::webhook
