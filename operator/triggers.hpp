#pragma once
// Which informer event enqueues which binding key: the controller's trigger
// policy, apart from the process wiring (cmd/gtoken-operator/run.cpp calls
// these from the informers' handlers). Level-based: an event only names
// bindings to look at again; the reconcile reads the world itself.

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "kube/store.hpp"
#include "operator/binding_index.hpp"
#include "operator/tenancy_gate.hpp"

namespace gtoken {

class Triggers {
 public:
  using Enqueue = std::function<void(const std::string& key)>;

  // `bindings` is the binding informer's store (already updated when a
  // handler runs); `index` is kept here, before any enqueue.
  Triggers(std::shared_ptr<const kube::Store> bindings, std::shared_ptr<BindingIndex> index,
           std::shared_ptr<const TenancyGate> gate, std::string default_audience,
           Enqueue enqueue);

  void binding_added(const nlohmann::json& b);
  void binding_updated(const nlohmann::json& old_b, const nlohmann::json& b);
  void binding_deleted(const nlohmann::json& b);
  // A ServiceAccount changed: its bindings, unless it already carries
  // exactly what each wants (our own writes come back here).
  void service_account_changed(const nlohmann::json& sa, bool deleted);
  // Policies and namespace labels: every binding whose verdict turned.
  void policy_changed();
  void namespace_added(const nlohmann::json& ns);
  void namespace_updated(const nlohmann::json& old_ns, const nlohmann::json& ns);

 private:
  // The bindings of `ns` naming ServiceAccount `ksa`, but `except`: one of
  // them may take the ServiceAccount over from a binding that let go.
  void claimants(const std::string& ns, const std::string& ksa, const std::string& except);
  // Under an exclusive policy a binding coming or going can hand its GSA to
  // (or take it from) a binding in another namespace.
  void exclusive_peers(const nlohmann::json& b);
  void verdicts_changed(const std::string& ns, const std::string& gsa);

  std::shared_ptr<const kube::Store> bindings_;
  std::shared_ptr<BindingIndex> index_;
  std::shared_ptr<const TenancyGate> gate_;
  std::string default_audience_;
  Enqueue enqueue_;
};

}  // namespace gtoken
