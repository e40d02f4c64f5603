#include "kube/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "kube/base64.hpp"

namespace kube {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
  return s.substr(i);
}

class Kubeconfig {
 public:
  Kubeconfig(const YAML::Node& root, fs::path path) : root_(root), path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw ConfigError("kubeconfig " + path_.string() + ": " + where + ": " + what);
  }

  // Finds the entry named `name` in list `list` and returns its `field` map.
  YAML::Node named(const std::string& list, const std::string& name,
                   const std::string& field) const {
    YAML::Node items = root_[list];
    if (items && !items.IsSequence()) fail(list, "must be a list");
    if (items) {
      for (const auto& item : items) {
        if (item["name"] && item["name"].as<std::string>() == name) {
          YAML::Node v = item[field];
          if (!v || !v.IsMap()) fail(list + "[" + name + "]", "has no '" + field + "' map");
          return v;
        }
      }
    }
    fail(list, "no entry named \"" + name + "\"");
  }

  std::string str(const YAML::Node& map, const std::string& key, const std::string& where) const {
    YAML::Node v = map[key];
    if (!v) return "";
    if (!v.IsScalar()) fail(where + "." + key, "must be a string");
    return v.as<std::string>();
  }

  // A "-data" field (base64) or a file path field; the data field wins.
  std::string file_or_data(const YAML::Node& map, const std::string& file_key,
                           const std::string& where) const {
    std::string data = str(map, file_key + "-data", where);
    if (!data.empty()) {
      auto decoded = base64_decode(data);
      if (!decoded) fail(where + "." + file_key + "-data", "is not valid base64");
      return *decoded;
    }
    std::string file = str(map, file_key, where);
    if (file.empty()) return "";
    fs::path p = file;
    if (p.is_relative()) p = path_.parent_path() / p;
    auto text = read_file(p);
    if (!text) fail(where + "." + file_key, "cannot read file " + p.string());
    return *text;
  }

  fs::path resolve(const std::string& file) const {
    fs::path p = file;
    return p.is_relative() ? path_.parent_path() / p : p;
  }

 private:
  YAML::Node root_;
  fs::path path_;
};

}  // namespace

ClusterConfig parse_kubeconfig(const std::string& yaml_text, const fs::path& path,
                               const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("kubeconfig " + path.string() + ": not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw ConfigError("kubeconfig " + path.string() + ": not a YAML map");
  Kubeconfig kc(root, path);

  std::string ctx_name = context;
  if (ctx_name.empty()) {
    ctx_name = kc.str(root, "current-context", "");
    if (ctx_name.empty()) kc.fail("current-context", "is not set and no context was given");
  }
  YAML::Node ctx = kc.named("contexts", ctx_name, "context");
  std::string where_ctx = "contexts[" + ctx_name + "].context";
  std::string cluster_name = kc.str(ctx, "cluster", where_ctx);
  if (cluster_name.empty()) kc.fail(where_ctx + ".cluster", "is missing");
  std::string user_name = kc.str(ctx, "user", where_ctx);

  ClusterConfig c;
  c.source = "kubeconfig " + path.string() + " (context " + ctx_name + ")";
  c.namespace_ = kc.str(ctx, "namespace", where_ctx);
  if (c.namespace_.empty()) c.namespace_ = "default";

  YAML::Node cluster = kc.named("clusters", cluster_name, "cluster");
  std::string where_cluster = "clusters[" + cluster_name + "].cluster";
  c.server = kc.str(cluster, "server", where_cluster);
  if (c.server.empty()) kc.fail(where_cluster + ".server", "is missing");
  if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0) {
    kc.fail(where_cluster + ".server", "must be an http:// or https:// URL, got \"" + c.server + "\"");
  }
  c.tls.ca_pem = kc.file_or_data(cluster, "certificate-authority", where_cluster);
  if (kc.str(cluster, "certificate-authority-data", where_cluster).empty()) {
    std::string ca_file = kc.str(cluster, "certificate-authority", where_cluster);
    if (!ca_file.empty()) c.tls.ca_file = kc.resolve(ca_file).string();  // re-read on change
  }
  c.tls.insecure_skip_verify = kc.str(cluster, "insecure-skip-tls-verify", where_cluster) == "true";
  c.tls.server_name = kc.str(cluster, "tls-server-name", where_cluster);

  if (!user_name.empty()) {
    YAML::Node user = kc.named("users", user_name, "user");
    std::string where_user = "users[" + user_name + "].user";
    c.tls.client_cert_pem = kc.file_or_data(user, "client-certificate", where_user);
    c.tls.client_key_pem = kc.file_or_data(user, "client-key", where_user);
    if (c.tls.client_cert_pem.empty() != c.tls.client_key_pem.empty()) {
      kc.fail(where_user, "client-certificate and client-key must be given together");
    }
    c.token = kc.str(user, "token", where_user);
    std::string token_file = kc.str(user, "tokenFile", where_user);
    if (!token_file.empty()) c.token_file = kc.resolve(token_file).string();
    if (user["auth-provider"]) {
      kc.fail(where_user, "auth-provider plugins are not supported (client-go removed them too); "
                          "use an exec plugin, a token, tokenFile or a client certificate");
    }
    if (YAML::Node exec = user["exec"]) {
      const std::string where_exec = where_user + ".exec";
      if (!exec.IsMap()) kc.fail(where_exec, "is not a map");
      ExecConfig e;
      e.where = "kubeconfig " + path.string() + ": " + where_exec;
      e.command = kc.str(exec, "command", where_exec);
      if (e.command.empty()) kc.fail(where_exec + ".command", "is missing");
      // client-go: a relative path with a separator is the kubeconfig's.
      if (e.command.find('/') != std::string::npos && e.command[0] != '/') {
        e.command = kc.resolve(e.command).string();
      }
      e.api_version = kc.str(exec, "apiVersion", where_exec);
      if (e.api_version != "client.authentication.k8s.io/v1" &&
          e.api_version != "client.authentication.k8s.io/v1beta1") {
        kc.fail(where_exec + ".apiVersion",
                "must be client.authentication.k8s.io/v1 or v1beta1, got \"" + e.api_version + "\"");
      }
      if (YAML::Node args = exec["args"]) {
        if (!args.IsSequence()) kc.fail(where_exec + ".args", "is not a list");
        for (const auto& a : args) e.args.push_back(a.as<std::string>());
      }
      if (YAML::Node env = exec["env"]) {
        if (!env.IsSequence()) kc.fail(where_exec + ".env", "is not a list");
        for (const auto& v : env) {
          if (!v.IsMap() || !v["name"]) kc.fail(where_exec + ".env", "entries need a name");
          e.env.emplace_back(v["name"].as<std::string>(),
                             v["value"] ? v["value"].as<std::string>() : "");
        }
      }
      c.exec = std::move(e);
    }
  }
  return c;
}

ClusterConfig load_kubeconfig(const fs::path& path, const std::string& context) {
  auto text = read_file(path);
  if (!text) throw ConfigError("kubeconfig " + path.string() + ": cannot read file");
  return parse_kubeconfig(*text, path, context);
}

ClusterConfig load_in_cluster(const InClusterPaths& p,
                              const std::function<const char*(const char*)>& getenv) {
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    throw ConfigError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  ClusterConfig c;
  c.source = "in-cluster";
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6 service IP
  c.server = "https://" + h + ":" + port;
  fs::path token = p.dir / "token";
  if (!read_file(token)) throw ConfigError("in-cluster config: cannot read token file " + token.string());
  c.token_file = token.string();
  fs::path ca = p.dir / "ca.crt";
  auto ca_text = read_file(ca);
  if (!ca_text) throw ConfigError("in-cluster config: cannot read CA file " + ca.string());
  c.tls.ca_pem = *ca_text;
  c.tls.ca_file = ca.string();  // the kube-root-ca.crt ConfigMap can change
  auto ns = read_file(p.dir / "namespace");
  c.namespace_ = ns ? trim(*ns) : "default";
  return c;
}

ClusterConfig load_default_config(const std::string& explicit_path, const std::string& context,
                                  bool in_cluster_last) {
  if (!explicit_path.empty()) return load_kubeconfig(explicit_path, context);
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':')) {
      if (!item.empty() && fs::exists(item)) return load_kubeconfig(item, context);
    }
    throw ConfigError(std::string("KUBECONFIG=") + env + ": no listed file exists");
  }
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const bool in_cluster = host && *host;
  if (in_cluster && !in_cluster_last) return load_in_cluster();
  if (const char* home = std::getenv("HOME"); home && *home) {
    fs::path p = fs::path(home) / ".kube" / "config";
    if (fs::exists(p)) return load_kubeconfig(p, context);
  }
  if (in_cluster) return load_in_cluster();
  throw ConfigError(
      "no Kubernetes config: pass --kubeconfig, set KUBECONFIG, or run in a cluster");
}

HttpOptions http_options(const ClusterConfig& c) {
  HttpOptions o;
  o.base_url = c.server;
  o.tls = c.tls;
  if (c.exec) {
    struct ExecCache {
      std::mutex mu;
      ExecConfig config;
      ExecCredential credential;
    };
    auto cache = std::make_shared<ExecCache>();
    cache->config = *c.exec;
    cache->credential = run_exec_credential(cache->config);
    if (!cache->credential.client_certificate_pem.empty()) {
      o.tls.client_cert_pem = cache->credential.client_certificate_pem;
      o.tls.client_key_pem = cache->credential.client_key_pem;
    }
    if (!cache->credential.token.empty()) {
      o.bearer_token = [cache] {
        std::lock_guard lock(cache->mu);
        const auto& exp = cache->credential.expires;
        if (exp && *exp < std::chrono::system_clock::now() + std::chrono::seconds(10)) {
          cache->credential = run_exec_credential(cache->config);
        }
        return cache->credential.token;
      };
      o.on_unauthorized = [cache] {
        std::lock_guard lock(cache->mu);
        const std::string before = cache->credential.token;
        cache->credential = run_exec_credential(cache->config);
        return cache->credential.token != before;
      };
    }
    return o;
  }
  if (!c.token_file.empty()) {
    // Projected service account tokens rotate; re-read, but not on every
    // request: once a minute is well inside their lifetime.
    struct Cache {
      std::mutex mu;
      std::string value;
      std::chrono::steady_clock::time_point read{};
    };
    auto cache = std::make_shared<Cache>();
    std::string path = c.token_file;
    std::string fallback = c.token;
    o.bearer_token = [cache, path, fallback] {
      std::lock_guard lock(cache->mu);
      auto now = std::chrono::steady_clock::now();
      if (cache->value.empty() || now - cache->read > std::chrono::minutes(1)) {
        if (auto t = read_file(path)) {
          cache->value = trim(*t);
          cache->read = now;
        }
      }
      return cache->value.empty() ? fallback : cache->value;
    };
    // A 401 may mean the token rotated within the minute: read the file
    // now, and have the request retried once if it changed.
    o.on_unauthorized = [cache, path] {
      auto t = read_file(path);
      if (!t) return false;
      std::string fresh = trim(*t);
      std::lock_guard lock(cache->mu);
      cache->read = std::chrono::steady_clock::now();
      if (fresh.empty() || fresh == cache->value) return false;
      cache->value = std::move(fresh);
      return true;
    };
  } else if (!c.token.empty()) {
    std::string token = c.token;
    o.bearer_token = [token] { return token; };
  }
  return o;
}

}  // namespace kube
