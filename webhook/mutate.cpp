#include "webhook/mutate.hpp"

#include <algorithm>
#include <utility>

#include "webhook/annotations.hpp"
#include "webhook/json_patch.hpp"
#include "webhook/json_writer.hpp"
#include "webhook/kubernetes_token.hpp"
#include "webhook/text.hpp"

namespace gtoken::webhook {

using nlohmann::json;

namespace {

constexpr std::string_view kInitContainers = "initContainers";
constexpr std::string_view kContainers = "containers";

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const std::string* string_member(const json& object, std::string_view key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_string() ? &value->get_ref<const std::string&>() : nullptr;
}

// Kubernetes omits empty lists, and clients may send null: both mean "none".
bool absent(const json* value) {
  return value == nullptr || value->is_null();
}

const json& empty_array() {
  static const json kEmpty = json::array();
  return kEmpty;
}

const json& list_or_empty(const json& object, std::string_view key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_array() ? *value : empty_array();
}

// Every entry an object with a string `key`.
bool is_list_of_named(const json* list, std::string_view key) {
  if (absent(list)) return true;
  if (!list->is_array()) return false;
  return std::all_of(list->begin(), list->end(),
                     [key](const json& item) { return string_member(item, key) != nullptr; });
}

bool is_valid_container(const json& container) {
  const std::string* name = string_member(container, "name");
  return name != nullptr && !name->empty() && is_list_of_named(member(container, "env"), "name") &&
         is_list_of_named(member(container, "volumeMounts"), "mountPath") &&
         is_list_of_named(member(container, "volumeMounts"), "name");
}

// Validation proper runs after mutating admission, so the pod can be anything
// a client sent; only what the mutation reads or appends to is checked here.
bool is_mutable_pod(const json& pod) {
  if (!pod.is_object()) return false;
  const json* metadata = member(pod, "metadata");
  if (!absent(metadata) && !metadata->is_object()) return false;
  if (!absent(metadata)) {
    const json* annotations = member(*metadata, "annotations");
    if (!absent(annotations) && !annotations->is_object()) return false;
  }
  const json* spec = member(pod, "spec");
  if (spec == nullptr || !spec->is_object()) return false;
  for (const auto key : {kInitContainers, kContainers}) {
    const json* list = member(*spec, key);
    if (absent(list)) continue;
    if (!list->is_array()) return false;
    if (!std::all_of(list->begin(), list->end(), is_valid_container)) return false;
  }
  return is_list_of_named(member(*spec, "volumes"), "name");
}

std::string annotation(const json& pod, std::string_view key) {
  const json* metadata = member(pod, "metadata");
  if (metadata == nullptr) return {};
  const json* annotations = member(*metadata, "annotations");
  if (annotations == nullptr) return {};
  const std::string* value = string_member(*annotations, key);
  return value == nullptr ? std::string{} : std::string(trim(*value));
}

std::string metadata_string(const json& pod, std::string_view key) {
  const json* metadata = member(pod, "metadata");
  if (metadata == nullptr) return {};
  const std::string* value = string_member(*metadata, key);
  return value == nullptr ? std::string{} : *value;
}

bool targets_windows(const json& spec) {
  if (const json* selector = member(spec, "nodeSelector")) {
    // The beta label too, as the EKS webhook checks it.
    for (const char* key : {"kubernetes.io/os", "beta.kubernetes.io/os"}) {
      const std::string* os = string_member(*selector, key);
      if (os != nullptr && *os == "windows") return true;
    }
  }
  if (const json* os = member(spec, "os")) {
    const std::string* name = string_member(*os, "name");
    if (name != nullptr && *name == "windows") return true;
  }
  return false;
}

const json* find_named(const json& list, std::string_view key, std::string_view value) {
  for (const json& item : list) {
    const std::string* v = string_member(item, key);
    if (v != nullptr && *v == value) return &item;
  }
  return nullptr;
}

const json* find_env(const json& container, std::string_view name) {
  return find_named(list_or_empty(container, "env"), "name", name);
}

const json* mount_at(const json& container, std::string_view path) {
  return find_named(list_or_empty(container, "volumeMounts"), "mountPath", path);
}

// One entry of a container's env: a literal value, or the pod's own name.
struct EnvVar {
  std::string name;
  std::string value;
  bool pod_name = false;  // valueFrom.fieldRef metadata.name instead of value
};

template <class Writer>
void write_env(Writer& w, const EnvVar& var) {
  w.begin_object();
  w.key("name");
  w.string(var.name);
  if (var.pod_name) {
    w.key("valueFrom");
    w.begin_object();
    w.key("fieldRef");
    w.begin_object();
    w.key("apiVersion");
    w.string("v1");
    w.key("fieldPath");
    w.string("metadata.name");
    w.end_object();
    w.end_object();
  } else {
    w.key("value");
    w.string(var.value);
  }
  w.end_object();
}

bool is_pod_name_field_ref(const json& env) {
  const json* from = member(env, "valueFrom");
  const json* ref = from == nullptr ? nullptr : member(*from, "fieldRef");
  const std::string* path = ref == nullptr ? nullptr : string_member(*ref, "fieldPath");
  return path != nullptr && *path == "metadata.name";
}

std::string token_file(const MutationConfig& cfg) {
  std::string path = cfg.token_mount_path;
  if (path.empty() || path.back() != '/') path += '/';
  return path + cfg.token_file_name;
}

bool is_empty(const ResourceAmounts& amounts) {
  return amounts.cpu.empty() && amounts.memory.empty();
}

template <class Writer>
void write_amounts(Writer& w, std::string_view key, const ResourceAmounts& amounts) {
  if (is_empty(amounts)) return;
  w.key(key);
  w.begin_object();
  if (!amounts.cpu.empty()) {
    w.key("cpu");
    w.string(amounts.cpu);
  }
  if (!amounts.memory.empty()) {
    w.key("memory");
    w.string(amounts.memory);
  }
  w.end_object();
}

template <class Writer>
void write_strings(Writer& w, std::initializer_list<std::string_view> values) {
  w.begin_array();
  for (const std::string_view value : values) w.string(value);
  w.end_array();
}

// When the pod sets fsGroup the kubelet makes the emptyDir group-owned by it
// (setgid), and every container gets it as a supplementary group; running the
// agent with it as primary group keeps the token file's group the same on
// every rewrite. The file is 0644 either way: only containers that mount the
// volume can reach it, and those are exactly the intended readers.
std::int64_t agent_group(const json& spec, const MutationConfig& cfg) {
  const json* context = member(spec, "securityContext");
  const json* fs_group = context == nullptr ? nullptr : member(*context, "fsGroup");
  if (fs_group != nullptr && fs_group->is_number_integer() && fs_group->get<std::int64_t>() >= 0) {
    return fs_group->get<std::int64_t>();
  }
  return cfg.agent_run_as_group;
}

struct AgentSpec {
  const MutationConfig& cfg;
  std::string volume;
  std::string audience;
  std::optional<std::int64_t> token_expiration_seconds;
  std::int64_t group = 0;
};

// The pull policy the apiserver gives a container that has none, as it
// defaults the patched pod after admission (SetDefaults_Container): Always
// for an image tagged latest or neither tagged nor pinned by digest, else
// IfNotPresent.
std::string_view defaulted_pull_policy(std::string_view image) {
  const auto at = image.find('@');
  const bool digest = at != std::string_view::npos;
  const std::string_view name = image.substr(0, at);
  const auto slash = name.rfind('/');
  const auto colon = name.rfind(':');
  const bool tagged = colon != std::string_view::npos &&
                      (slash == std::string_view::npos || colon > slash);
  const std::string_view tag = tagged ? name.substr(colon + 1) : std::string_view();
  if (tag == "latest" || (!tagged && !digest)) return "Always";
  return "IfNotPresent";
}

// The agent as a classic init container (`once`), a classic sidecar, or a
// native sidecar (`native`: restartPolicy Always and a startup probe). Keys
// in dump's order (json_writer.hpp).
template <class Writer>
void write_agent_container(Writer& w, const AgentSpec& agent, std::string_view name, bool once,
                           bool native) {
  const MutationConfig& cfg = agent.cfg;
  const std::string file = token_file(cfg);
  w.begin_object();
  w.key("args");
  w.begin_array();
  w.string("--file=" + file);
  if (once) {
    w.string("--audience=" + agent.audience);
    w.string("--once");
    w.string("--once-timeout=" + std::to_string(cfg.first_token_timeout_seconds) + "s");
  } else {
    w.string("--refresh");
    w.string("--audience=" + agent.audience);
    // The agent refreshes --refresh-before ahead of exp (less some jitter),
    // so the token is at most (lifetime - refresh-before) old when replaced.
    if (agent.token_expiration_seconds &&
        *agent.token_expiration_seconds < kGoogleIdTokenLifetimeSeconds) {
      w.string("--refresh-before=" +
               std::to_string(kGoogleIdTokenLifetimeSeconds - *agent.token_expiration_seconds) +
               "s");
    }
  }
  w.end_array();
  w.key("command");
  write_strings(w, {cfg.agent_command});
  w.key("image");
  w.string(cfg.agent_image);
  // Left to the apiserver when it would set the same: a smaller patch.
  if (cfg.image_pull_policy != defaulted_pull_policy(cfg.agent_image)) {
    w.key("imagePullPolicy");
    w.string(cfg.image_pull_policy);
  }
  w.key("name");
  w.string(name);
  const AgentResources& resources = cfg.agent_resources;
  if (!is_empty(resources.limits) || !is_empty(resources.requests)) {
    w.key("resources");
    w.begin_object();
    write_amounts(w, "limits", resources.limits);
    write_amounts(w, "requests", resources.requests);
    w.end_object();
  }
  if (native) {
    w.key("restartPolicy");
    w.string("Always");
  }
  w.key("securityContext");
  w.begin_object();
  w.key("allowPrivilegeEscalation");
  w.boolean(false);
  w.key("capabilities");
  w.begin_object();
  w.key("drop");
  write_strings(w, {"ALL"});
  w.end_object();
  w.key("readOnlyRootFilesystem");
  w.boolean(true);
  w.key("runAsGroup");
  w.integer(agent.group);
  w.key("runAsNonRoot");
  w.boolean(true);
  w.key("runAsUser");
  w.integer(cfg.agent_run_as_user);
  w.key("seccompProfile");
  w.begin_object();
  w.key("type");
  w.string("RuntimeDefault");
  w.end_object();
  w.end_object();
  if (native) {
    // App containers start only once this passes, so they never see a missing token.
    const int period = std::max(cfg.startup_probe_period_seconds, 1);
    w.key("startupProbe");
    w.begin_object();
    w.key("exec");
    w.begin_object();
    w.key("command");
    write_strings(w, {cfg.agent_command, "probe", "--file", file});
    w.end_object();
    w.key("failureThreshold");
    w.integer((std::max(cfg.first_token_timeout_seconds, 1) + period - 1) / period);
    w.key("periodSeconds");
    w.integer(period);
    w.key("timeoutSeconds");
    w.integer(cfg.startup_probe_timeout_seconds);
    w.end_object();
  }
  // The agent's last log lines then show in the pod status when it fails.
  w.key("terminationMessagePolicy");
  w.string("FallbackToLogsOnError");
  // Read-write: the agent replaces the file by rename within this directory.
  w.key("volumeMounts");
  w.begin_array();
  w.begin_object();
  w.key("mountPath");
  w.string(cfg.token_mount_path);
  w.key("name");
  w.string(agent.volume);
  w.end_object();
  w.end_array();
  w.end_object();
}

std::string choose_volume_name(const json& volumes, const std::string& wanted) {
  std::string candidate = wanted;
  for (int n = 2; find_named(volumes, "name", candidate) != nullptr; ++n) {
    candidate = wanted + "-" + std::to_string(n);
  }
  return candidate;
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// The mutation, writing its patch to a JsonTextWriter (the server's path) or
// a JsonDomWriter (mutate_pod, the reference the golden tests read): one
// description of every operation, two writers.
template <class Writer>
class Mutation {
 public:
  Mutation(const json& pod, const std::string& ns, const SaSettings& sa, const MutationConfig& cfg,
           const RandomSource& random)
      : pod_(pod), spec_(pod.at("spec")), namespace_(ns), sa_(sa), cfg_(cfg), random_(random) {}

  // The patch, when `skip` is not set, is in `out`: an array of `operations`.
  void run();

  Writer out;
  std::size_t operations = 0;
  std::vector<std::string> warnings;
  std::optional<SkipReason> skip;

 private:
  void skip_with(SkipReason reason, std::string warning = {}) {
    skip = reason;
    if (!warning.empty()) warn(std::move(warning));
  }
  void warn(std::string warning) { warnings.push_back("gtoken: " + std::move(warning)); }

  bool kubernetes() const { return sa_.token_source == TokenSource::Kubernetes; }
  bool is_agent(std::string_view name) const {
    // The Kubernetes source injects no agent: a container of that name is the user's.
    if (kubernetes()) return false;
    return name == cfg_.agent_container_name || name == cfg_.agent_init_container_name;
  }
  bool selected(std::string_view name) const {
    if (contains(skip_list_, name)) return false;
    return sa_.containers.empty() || contains(sa_.containers, name);
  }

  // One "add" operation; `value` writes its value.
  template <class Value>
  void add(const std::string& path, Value&& value) {
    out.begin_object();
    out.key("op");
    out.string("add");
    out.key("path");
    out.string(path);
    out.key("value");
    value();
    out.end_object();
    ++operations;
  }
  // "add" of a new list at `path` holding the one value `value` writes.
  template <class Value>
  void add_list_of_one(const std::string& path, Value&& value) {
    add(path, [&] {
      out.begin_array();
      value();
      out.end_array();
    });
  }
  // To a list: "add" at `path` + "/-" when it exists, else the list of one at `path`.
  template <class Value>
  void append(bool list_exists, const std::string& path, Value&& value) {
    if (list_exists) return add(path + "/-", value);
    add_list_of_one(path, value);
  }

  bool plan_google_token(const json& init_containers, const json& containers,
                         const json& volumes);
  void plan_kubernetes_token(const json& volumes);
  void plan_settings();
  void write_token_volume();
  void mutate_container(std::string_view list, std::size_t index, const json& container);
  std::vector<EnvVar> missing_env(const json& container);
  std::string random_session_name();
  void add_agent();

  const json& pod_;
  const json& spec_;
  const std::string& namespace_;
  const SaSettings& sa_;
  const MutationConfig& cfg_;
  const RandomSource& random_;

  std::vector<std::string> skip_list_;
  bool agent_present_ = false;
  // An earlier admission ran: the agent (Google) or the token volume
  // (Kubernetes) is in the pod.
  bool injected_before_ = false;
  std::string volume_;
  bool volume_present_ = false;
  std::string mount_path_;  // the token's directory in the containers
  std::string token_file_;  // AWS_WEB_IDENTITY_TOKEN_FILE
  std::string audience_;
  std::optional<std::string> region_;
  bool regional_sts_ = false;
  std::optional<std::int64_t> token_expiration_;
  SessionNamePlan session_;
  std::optional<std::string> random_session_;
  bool any_selected_ = false;
};

template <class Writer>
void Mutation<Writer>::run() {
  for (const std::string& warning : sa_.warnings) warn(warning);
  if (!is_valid_role_arn(sa_.role_arn)) {
    return skip_with(SkipReason::InvalidRoleArn, "\"" + sa_.role_arn +
                                                     "\" is not an IAM role ARN; no AWS "
                                                     "credentials injected");
  }
  if (const std::string inject = annotation(pod_, cfg_.inject_annotation); !inject.empty()) {
    const auto enabled = parse_bool(inject);
    if (enabled.has_value() && !*enabled) return skip_with(SkipReason::PodOptOut);
    if (!enabled.has_value()) {
      warn("ignoring " + cfg_.inject_annotation + "=\"" + inject + "\": not a boolean");
    }
  }

  const json& init_containers = list_or_empty(spec_, kInitContainers);
  const json& containers = list_or_empty(spec_, kContainers);
  const json& volumes = list_or_empty(spec_, "volumes");

  if (kubernetes()) {
    plan_kubernetes_token(volumes);
  } else if (!plan_google_token(init_containers, containers, volumes)) {
    return;
  }
  plan_settings();

  // A whole Google-source patch (volume, mounts, env, agent) is about 1.5 KB.
  out.reserve(2048);
  out.begin_array();
  if (!volume_present_) write_token_volume();
  for (std::size_t i = 0; i < init_containers.size(); ++i) {
    mutate_container(kInitContainers, i, init_containers[i]);
  }
  for (std::size_t i = 0; i < containers.size(); ++i) {
    mutate_container(kContainers, i, containers[i]);
  }
  if (!injected_before_ && !any_selected_) {
    return skip_with(SkipReason::NoContainerSelected,
                     "no container selected for AWS credentials (skip list or binding's "
                     "containers)");
  }
  // Last, so the container indexes used above still point at the original containers.
  if (!kubernetes() && !agent_present_) add_agent();
  out.end_array();

  if (operations == 0) skip_with(SkipReason::AlreadyInjected);
}

// The agent writes the token into an emptyDir; the pod's own agent, when an
// earlier admission added it, tells which volume that is. False when skipped.
template <class Writer>
bool Mutation<Writer>::plan_google_token(const json& init_containers, const json& containers,
                                         const json& volumes) {
  if (targets_windows(spec_)) {
    skip_with(SkipReason::WindowsNotSupported,
              "Windows pods are not supported; no AWS credentials injected");
    return false;
  }
  if (const json* host = member(spec_, "hostNetwork"); host != nullptr && *host == true) {
    // Workload Identity does not apply to host-network pods: the agent would
    // fetch the node's identity, which the role's trust policy must not accept.
    skip_with(SkipReason::HostNetworkNotSupported,
              "hostNetwork pods cannot use Workload Identity; no AWS credentials injected");
    return false;
  }
  mount_path_ = cfg_.token_mount_path;
  token_file_ = token_file(cfg_);
  for (const json* list : {&init_containers, &containers}) {
    for (const json& c : *list) {
      const std::string& name = c.at("name").get_ref<const std::string&>();
      if (!is_agent(name)) continue;
      agent_present_ = true;
      const json* mount = mount_at(c, cfg_.token_mount_path);
      if (mount == nullptr) {
        skip_with(SkipReason::ContainerNameConflict,
                  "container \"" + name + "\" does not mount " + cfg_.token_mount_path +
                      "; no AWS credentials injected");
        return false;
      }
      volume_ = mount->at("name").get<std::string>();
    }
  }
  injected_before_ = agent_present_;
  if (volume_.empty()) volume_ = choose_volume_name(volumes, cfg_.volume_name);
  volume_present_ = find_named(volumes, "name", volume_) != nullptr;
  return true;
}

// The EKS webhook's volume, by its name: a pod that already has a volume of
// that name (an earlier admission, or a manifest that carries it) keeps it.
// Windows and hostNetwork pods are fine: the kubelet writes the token.
template <class Writer>
void Mutation<Writer>::plan_kubernetes_token(const json& volumes) {
  volume_ = contract::kKubernetesTokenVolume;
  mount_path_ = contract::kKubernetesTokenMountPath;
  token_file_ = kubernetes_token_file(targets_windows(spec_));
  const json* existing = find_named(volumes, "name", volume_);
  volume_present_ = existing != nullptr;
  injected_before_ = volume_present_;
  if (existing != nullptr && !is_projected_token_volume(*existing)) {
    warn("volume " + volume_ + " is not a projected ServiceAccount token; mounted as it is");
  }
}

template <class Writer>
void Mutation<Writer>::write_token_volume() {
  append(!absent(member(spec_, "volumes")), pointer({"spec", "volumes"}), [&] {
    if (kubernetes()) {
      return write_projected_token_volume(
          out, volume_, audience_,
          token_expiration_.value_or(kKubernetesDefaultTokenExpirationSeconds));
    }
    out.begin_object();
    out.key("emptyDir");
    out.begin_object();
    out.key("medium");
    out.string("Memory");
    if (!cfg_.volume_size_limit.empty()) {
      out.key("sizeLimit");
      out.string(cfg_.volume_size_limit);
    }
    out.end_object();
    out.key("name");
    out.string(volume_);
    out.end_object();
  });
}

template <class Writer>
void Mutation<Writer>::plan_settings() {
  skip_list_ = split_list(annotation(pod_, cfg_.skip_containers_annotation));
  if (kubernetes()) {
    for (auto& name : split_list(annotation(pod_, kEksSkipContainersAnnotation))) {
      skip_list_.push_back(std::move(name));
    }
  }
  const std::string default_audience =
      kubernetes() ? contract::kKubernetesDefaultAudience : cfg_.default_audience;
  audience_ = sa_.audience.value_or(default_audience);
  if (audience_.empty()) audience_ = default_audience;
  if (sa_.region) {
    if (is_valid_region(*sa_.region)) {
      region_ = sa_.region;
    } else {
      warn("ignoring region \"" + *sa_.region + "\": not an AWS region name");
    }
  } else if (is_valid_region(cfg_.default_region)) {
    region_ = cfg_.default_region;
  }
  if (kubernetes()) {
    // Pod annotation over ServiceAccount over default, as the EKS webhook.
    token_expiration_ =
        std::clamp(sa_.token_expiration_seconds.value_or(kKubernetesDefaultTokenExpirationSeconds),
                   kKubernetesMinTokenExpirationSeconds, kKubernetesMaxTokenExpirationSeconds);
    if (const std::string value = annotation(pod_, kEksTokenExpirationAnnotation); !value.empty()) {
      std::string warning;
      if (auto seconds = read_token_expiration(value, kEksTokenExpirationAnnotation, warning)) {
        token_expiration_ = seconds;
      }
      if (!warning.empty()) warn(std::move(warning));
    }
    regional_sts_ = sa_.sts_regional_endpoints.value_or(region_.has_value());
  } else {
    if (sa_.token_expiration_seconds) {
      token_expiration_ = std::clamp(*sa_.token_expiration_seconds, kMinTokenExpirationSeconds,
                                     kMaxTokenExpirationSeconds);
    }
    regional_sts_ = region_.has_value();
  }
  session_ = plan_session_name(namespace_, metadata_string(pod_, "name"),
                               metadata_string(pod_, "generateName"));
}

template <class Writer>
void Mutation<Writer>::mutate_container(std::string_view list, std::size_t index,
                                        const json& container) {
  const std::string& name = container.at("name").get_ref<const std::string&>();
  if (is_agent(name) || !selected(name)) return;
  const json* mount = mount_at(container, mount_path_);
  if (mount != nullptr && mount->at("name") != volume_) {
    warn("container \"" + name + "\" already mounts " + mount_path_ +
         "; left without AWS credentials");
    return;
  }
  any_selected_ = true;

  if (mount == nullptr) {
    append(!absent(member(container, "volumeMounts")),
           pointer({"spec", list, index, "volumeMounts"}), [&] {
             out.begin_object();
             out.key("mountPath");
             out.string(mount_path_);
             out.key("name");
             out.string(volume_);
             out.key("readOnly");
             out.boolean(true);
             out.end_object();
           });
  }

  const std::vector<EnvVar> env = missing_env(container);
  if (env.empty()) return;
  const std::string path = pointer({"spec", list, index, "env"});
  if (absent(member(container, "env"))) {
    add(path, [&] {
      out.begin_array();
      for (const EnvVar& var : env) write_env(out, var);
      out.end_array();
    });
  } else {
    for (const EnvVar& var : env) add(path + "/-", [&] { write_env(out, var); });
  }
}

// In this order, so $(pod_name_env) is defined before the session name that
// expands it (the kubelet expands only earlier entries).
template <class Writer>
std::vector<EnvVar> Mutation<Writer>::missing_env(const json& container) {
  std::vector<EnvVar> out_env;
  const auto add_var = [&](std::string_view name, std::string value) {
    if (find_env(container, name) == nullptr) {
      out_env.push_back({std::string(name), std::move(value)});
    }
  };
  add_var("AWS_WEB_IDENTITY_TOKEN_FILE", token_file_);
  add_var("AWS_ROLE_ARN", sa_.role_arn);
  if (find_env(container, "AWS_ROLE_SESSION_NAME") == nullptr) {
    switch (session_.kind) {
      case SessionNamePlan::Kind::Literal:
        out_env.push_back({"AWS_ROLE_SESSION_NAME", session_.text});
        break;
      case SessionNamePlan::Kind::RandomSuffix:
        out_env.push_back({"AWS_ROLE_SESSION_NAME", random_session_name()});
        break;
      case SessionNamePlan::Kind::PodNameAtRuntime: {
        const json* pod_name = find_env(container, cfg_.pod_name_env);
        if (pod_name == nullptr) out_env.push_back({cfg_.pod_name_env, {}, /*pod_name=*/true});
        if (pod_name == nullptr || is_pod_name_field_ref(*pod_name)) {
          out_env.push_back(
              {"AWS_ROLE_SESSION_NAME", session_.text + "$(" + cfg_.pod_name_env + ")"});
        } else {
          // The container's own variable of that name would end up in the session name.
          out_env.push_back({"AWS_ROLE_SESSION_NAME", random_session_name()});
        }
        break;
      }
    }
  }
  if (region_) {
    // botocore reads AWS_DEFAULT_REGION, the other SDKs AWS_REGION. When the
    // container already sets one, the other follows it, not the ServiceAccount:
    // two SDKs in one container must not talk to two regions.
    const bool has_region = find_env(container, "AWS_REGION") != nullptr;
    const bool has_default = find_env(container, "AWS_DEFAULT_REGION") != nullptr;
    add_var("AWS_REGION", has_default ? "$(AWS_DEFAULT_REGION)" : *region_);
    add_var("AWS_DEFAULT_REGION", has_region ? "$(AWS_REGION)" : *region_);
  }
  if (regional_sts_) add_var("AWS_STS_REGIONAL_ENDPOINTS", "regional");
  return out_env;
}

// One value per pod. On reinvocation the value from the first admission is
// reused, so a container another webhook added in between gets the same name.
template <class Writer>
std::string Mutation<Writer>::random_session_name() {
  if (random_session_) return *random_session_;
  const std::string prefix =
      random_session_prefix(namespace_, metadata_string(pod_, "generateName"));
  if (injected_before_) {
    for (const auto list : {kInitContainers, kContainers}) {
      for (const json& c : list_or_empty(spec_, list)) {
        const json* env = find_env(c, "AWS_ROLE_SESSION_NAME");
        const std::string* value = env == nullptr ? nullptr : string_member(*env, "value");
        if (value != nullptr && value->starts_with(prefix) &&
            value->size() == prefix.size() + kGeneratedSuffixLength &&
            is_valid_session_name(*value)) {
          random_session_ = *value;
          return *random_session_;
        }
      }
    }
  }
  random_session_ = prefix + random_suffix(random_);
  return *random_session_;
}

template <class Writer>
void Mutation<Writer>::add_agent() {
  const AgentSpec agent{cfg_, volume_, audience_, token_expiration_, agent_group(spec_, cfg_)};
  // First, so that every other init container already finds the token.
  const auto prepend_init = [&](std::string_view name, bool once, bool native) {
    const auto container = [&] { write_agent_container(out, agent, name, once, native); };
    if (absent(member(spec_, kInitContainers))) {
      add_list_of_one(pointer({"spec", kInitContainers}), container);
    } else {
      add(pointer({"spec", kInitContainers, std::size_t{0}}), container);
    }
  };
  if (cfg_.native_sidecars) return prepend_init(cfg_.agent_container_name, false, true);
  prepend_init(cfg_.agent_init_container_name, true, false);
  const std::string* restart = string_member(spec_, "restartPolicy");
  if (restart != nullptr && (*restart == "Never" || *restart == "OnFailure")) {
    // A classic sidecar never exits, so the pod (a Job's, typically) would never complete.
    warn("no native sidecars and restartPolicy " + *restart +
         ": token fetched once, not refreshed after ~1h");
    return;
  }
  append(!absent(member(spec_, kContainers)), pointer({"spec", kContainers}), [&] {
    write_agent_container(out, agent, cfg_.agent_container_name, false, false);
  });
}

// Why no mutation can be written at all, before one is started.
std::optional<SkipReason> cannot_mutate(const json& pod, const SaSettings& sa) {
  if (sa.role_arn.empty()) return SkipReason::NoRoleAnnotation;
  if (!is_mutable_pod(pod)) return SkipReason::InvalidPod;
  return std::nullopt;
}

}  // namespace

namespace {

// Either result of one Mutation over `Writer`; `keep` moves its patch into
// the result when nothing was skipped.
template <class Writer, class Result, class Keep>
Result mutate_with(const json& pod, const std::string& namespace_, const SaSettings& sa,
                   const MutationConfig& cfg, const RandomSource& random, Keep keep) {
  Result result;
  if ((result.skip = cannot_mutate(pod, sa))) return result;
  Mutation<Writer> mutation(pod, namespace_, sa, cfg, random);
  mutation.run();
  result.warnings = std::move(mutation.warnings);
  result.skip = mutation.skip;
  if (!result.skip) keep(mutation, result);
  return result;
}

}  // namespace

MutationResult mutate_pod(const json& pod, const std::string& namespace_, const SaSettings& sa,
                          const MutationConfig& cfg, const RandomSource& random) {
  return mutate_with<JsonDomWriter, MutationResult>(
      pod, namespace_, sa, cfg, random,
      [](Mutation<JsonDomWriter>& m, MutationResult& r) { r.patch = m.out.take(); });
}

MutationText mutate_pod_text(const json& pod, const std::string& namespace_,
                             const SaSettings& sa, const MutationConfig& cfg,
                             const RandomSource& random) {
  return mutate_with<JsonTextWriter, MutationText>(
      pod, namespace_, sa, cfg, random, [](Mutation<JsonTextWriter>& m, MutationText& r) {
        r.patch = {m.out.take(), m.operations};
      });
}

std::optional<SkipReason> should_skip_namespace(const json& ns_labels, std::string_view namespace_,
                                                std::string_view operator_namespace) {
  if (!operator_namespace.empty() && namespace_ == operator_namespace) {
    return SkipReason::OperatorNamespace;
  }
  if (ns_labels.is_object() && ns_labels.contains(kIgnoreNamespaceLabel)) {
    return SkipReason::IgnoredNamespace;
  }
  return std::nullopt;
}

}  // namespace gtoken::webhook
