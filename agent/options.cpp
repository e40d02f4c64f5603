#include "agent/options.hpp"

#include <cctype>
#include <cstdlib>
#include <map>

#include "agent/sources.hpp"
#include "agent/sts_probe.hpp"
#include "kube/duration.hpp"

#ifndef GTOKEN_VERSION
#define GTOKEN_VERSION "dev"
#endif

namespace gtoken::agent {

namespace {

enum class Flag {
  file,
  refresh,
  once,
  audience,
  gcp_service_account,
  iam_endpoint,
  file_mode,
  once_timeout,
  refresh_before,
  request_timeout,
  min_validity,
  claims,
  sts,
  role_arn,
  sts_endpoint,
  session_name,
  log_level,
  version,
  help,
};

struct FlagInfo {
  Flag flag;
  bool takes_value;
  bool agent;  // valid for the agent (once/refresh)
  bool probe;  // valid for `probe`
};

const std::map<std::string, FlagInfo>& flag_table() {
  static const std::map<std::string, FlagInfo> t = {
      {"file", {Flag::file, true, true, true}},
      {"refresh", {Flag::refresh, false, true, false}},
      {"once", {Flag::once, false, true, false}},
      {"audience", {Flag::audience, true, true, false}},
      {"gcp-service-account", {Flag::gcp_service_account, true, true, false}},
      {"iam-endpoint", {Flag::iam_endpoint, true, true, false}},
      {"file-mode", {Flag::file_mode, true, true, false}},
      {"once-timeout", {Flag::once_timeout, true, true, false}},
      {"refresh-before", {Flag::refresh_before, true, true, false}},
      {"request-timeout", {Flag::request_timeout, true, true, true}},
      {"min-validity", {Flag::min_validity, true, false, true}},
      {"claims", {Flag::claims, false, false, true}},
      {"sts", {Flag::sts, false, false, true}},
      {"role-arn", {Flag::role_arn, true, false, true}},
      {"sts-endpoint", {Flag::sts_endpoint, true, false, true}},
      {"session-name", {Flag::session_name, true, false, true}},
      {"log-level", {Flag::log_level, true, true, true}},
      {"version", {Flag::version, false, true, false}},
      {"help", {Flag::help, false, true, true}},
      {"h", {Flag::help, false, true, true}},
  };
  return t;
}

std::optional<bool> parse_bool(const std::string& v) {
  if (v == "true" || v == "1" || v == "yes") {
    return true;
  }
  if (v == "false" || v == "0" || v == "no") {
    return false;
  }
  return std::nullopt;
}

std::optional<mode_t> parse_mode(const std::string& v) {
  if (v.empty() || v.size() > 4) {
    return std::nullopt;
  }
  mode_t m = 0;
  for (char c : v) {
    if (c < '0' || c > '7') {
      return std::nullopt;
    }
    m = static_cast<mode_t>(m * 8 + static_cast<mode_t>(c - '0'));
  }
  if (m > 0777) {
    return std::nullopt;
  }
  return m;
}

// "0.4" or "40%" keep that share of the lifetime; "20m" keeps a fixed time.
bool parse_refresh_before(const std::string& v, RefreshPolicy& p) {
  if (v.empty()) {
    return false;
  }
  auto fraction = [&](const std::string& num, double scale) {
    char* end = nullptr;
    double f = std::strtod(num.c_str(), &end);
    if (num.empty() || end != num.c_str() + num.size()) {
      return false;
    }
    f /= scale;
    if (!(f > 0 && f < 1)) {
      return false;
    }
    p.keep_fraction = f;
    p.keep_duration = std::chrono::milliseconds(0);
    return true;
  };
  if (v.back() == '%') {
    return fraction(v.substr(0, v.size() - 1), 100);
  }
  bool has_unit = false;
  for (char c : v) {
    has_unit |= std::isalpha(static_cast<unsigned char>(c)) != 0;
  }
  if (!has_unit) {
    return fraction(v, 1);
  }
  auto d = kube::parse_duration(v);
  if (!d || d->count() <= 0) {
    return false;
  }
  p.keep_duration = *d;
  return true;
}

}  // namespace

GetEnv process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    // Read at start-up, before any thread exists.
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (!v || !*v) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

std::string version_string() {
  return std::string("gtoken ") + GTOKEN_VERSION;
}

ParseResult parse_options(const std::vector<std::string>& args, const GetEnv& env) {
  Options o;
  auto err = [](std::string e) { return ParseResult{std::nullopt, std::move(e)}; };

  o.audience = env("GTOKEN_AUDIENCE").value_or("");
  o.gcp_service_account = env("GTOKEN_GCP_SERVICE_ACCOUNT").value_or("");
  o.iam_endpoint = env("GTOKEN_IAM_ENDPOINT").value_or(kDefaultIamEndpoint);
  o.metadata_host = metadata_address(env("GCE_METADATA_HOST").value_or(""));
  if (auto lv = env("GTOKEN_LOG_LEVEL")) {
    auto l = kube::parse_log_level(*lv);
    if (!l) {
      return err("GTOKEN_LOG_LEVEL: unknown level '" + *lv + "' (debug, info, warn, error)");
    }
    o.log_level = *l;
  }

  size_t i = 0;
  bool probe = false;
  if (!args.empty() && args[0] == "probe") {
    probe = true;
    i = 1;
  }
  bool refresh = false, once = false, version = false, help = false;

  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') {
      return err("unexpected argument '" + a + "'" +
                 (a == "probe" ? " (probe must come first)" : ""));
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = flag_table().find(name);
    if (it == flag_table().end()) {
      return err("unknown flag --" + name);
    }
    const FlagInfo& info = it->second;
    if (probe ? !info.probe : !info.agent) {
      return err("flag --" + name +
                 (probe ? " is not valid for probe" : " is only valid for probe"));
    }
    bool on = true;
    if (info.takes_value) {
      if (!value) {
        if (i + 1 >= args.size()) {
          return err("flag --" + name + " needs a value");
        }
        value = args[++i];
      }
    } else if (value) {
      auto b = parse_bool(*value);
      if (!b) {
        return err("flag --" + name + ": not a boolean: '" + *value + "'");
      }
      on = *b;
    }
    const std::string v = value.value_or("");
    auto bad = [&](const std::string& what) {
      std::string m = "flag --";
      m.append(name).append(": ").append(what);
      return err(m);
    };
    switch (info.flag) {
      case Flag::file:
        if (v.empty()) {
          return bad("empty path");
        }
        o.file = v;
        break;
      case Flag::refresh:
        refresh = on;
        break;
      case Flag::once:
        once = on;
        break;
      case Flag::audience:
        o.audience = v;
        break;
      case Flag::gcp_service_account:
        o.gcp_service_account = v;
        break;
      case Flag::iam_endpoint:
        o.iam_endpoint = v;
        break;
      case Flag::file_mode: {
        auto m = parse_mode(v);
        if (!m) {
          return bad("not an octal mode up to 0777: '" + v + "'");
        }
        o.file_mode = *m;
        break;
      }
      case Flag::once_timeout:
      case Flag::request_timeout:
      case Flag::min_validity: {
        auto d = kube::parse_duration_flag("--" + name, v, o.deprecations);
        if (!d) {
          return bad("not a duration (e.g. 500ms, 60s, 1m30s, 1.5h): '" + v + "'");
        }
        if (info.flag == Flag::once_timeout) {
          o.once_timeout = *d;
        }
        if (info.flag == Flag::min_validity) {
          o.min_validity = *d;
        }
        if (info.flag == Flag::request_timeout) {
          if (d->count() <= 0) {
            return bad("must be positive");
          }
          o.request_timeout = *d;
        }
        break;
      }
      case Flag::refresh_before:
        if (!parse_refresh_before(v, o.policy)) {
          return bad(
              "expected a fraction of the lifetime in (0,1) such as 0.4 or 40%, or a "
              "duration such as 20m: '" +
              v + "'");
        }
        break;
      case Flag::log_level: {
        auto l = kube::parse_log_level(v);
        if (!l) {
          return bad("unknown level '" + v + "' (debug, info, warn, error)");
        }
        o.log_level = *l;
        break;
      }
      case Flag::claims:
        o.probe_claims = on;
        break;
      case Flag::sts:
        o.probe_sts = on;
        break;
      case Flag::role_arn:
        o.role_arn = v;
        break;
      case Flag::sts_endpoint:
        o.sts_endpoint = v;
        break;
      case Flag::session_name:
        o.session_name = v;
        break;
      case Flag::version:
        version = on;
        break;
      case Flag::help:
        help = on;
        break;
    }
  }

  if (help) {
    o.mode = Mode::help;
    return {o, {}};
  }
  if (probe) {
    if (o.file.empty()) {
      return err("probe needs --file PATH");
    }
    const bool sts_flags = !o.role_arn.empty() || o.sts_endpoint != kDefaultStsEndpoint ||
                           o.session_name != kDefaultStsSessionName;
    if (!o.probe_sts && sts_flags) {
      return err("--role-arn, --sts-endpoint and --session-name are for probe --sts");
    }
    if (o.probe_sts) {
      if (o.probe_claims) {
        return err("--sts and --claims exclude each other (one JSON line each)");
      }
      if (o.role_arn.rfind("arn:", 0) != 0) {
        return err("probe --sts needs --role-arn arn:PARTITION:iam::ACCOUNT:role/NAME");
      }
      if (o.sts_endpoint.rfind("https://", 0) != 0 && o.sts_endpoint.rfind("http://", 0) != 0) {
        return err("--sts-endpoint must start with https:// or http://");
      }
      if (!valid_session_name(o.session_name)) {
        return err("--session-name: 2 to 64 of A-Z a-z 0-9 + = , . @ _ -");
      }
    }
    o.mode = Mode::probe;
    return {o, {}};
  }
  if (version) {
    o.mode = Mode::version;
    return {o, {}};
  }
  if (refresh && once) {
    return err("--refresh and --once exclude each other");
  }
  o.mode = refresh ? Mode::refresh : Mode::once;
  if (o.audience.empty()) {
    return err("an audience is required: --audience AUD or GTOKEN_AUDIENCE");
  }
  if (!o.gcp_service_account.empty() && !valid_service_account_email(o.gcp_service_account)) {
    std::string e = "--gcp-service-account: not a service account email: '";
    e += o.gcp_service_account;
    e += "'";
    return err(e);
  }
  if (o.iam_endpoint.rfind("https://", 0) != 0 && o.iam_endpoint.rfind("http://", 0) != 0) {
    return err("--iam-endpoint must start with https:// or http://");
  }
  return {o, {}};
}

std::string usage() {
  return R"(gtoken: writes a Google OIDC ID token for AWS SDKs (AWS_WEB_IDENTITY_TOKEN_FILE)

usage:
  gtoken --audience AUD [--file PATH] [--once | --refresh] [flags]
  gtoken probe --file PATH [--min-validity 10s] [--claims]
  gtoken probe --sts --file PATH --role-arn ARN [--sts-endpoint URL] [--session-name NAME]
  gtoken --version

modes:
  (default), --once   fetch and write one token, exit 0; exit 1 after --once-timeout
  --refresh           keep the file fresh until SIGTERM/SIGINT; never exits on errors
  probe               exit 0 iff PATH holds a JWT valid for more than --min-validity
  probe --sts         AssumeRoleWithWebIdentity with PATH's token; prints one JSON
                      line (the assumed role, or AWS's error code and message;
                      never the credentials or the token); exit 0 iff STS accepted

flags:
  --file PATH                 token file, written atomically (default: stdout)
  --audience AUD              token audience (env GTOKEN_AUDIENCE; required)
  --gcp-service-account EMAIL mint through IAM Credentials generateIdToken as EMAIL
                              (env GTOKEN_GCP_SERVICE_ACCOUNT)
  --iam-endpoint URL          IAM Credentials base URL (env GTOKEN_IAM_ENDPOINT,
                              default https://iamcredentials.googleapis.com)
  --file-mode OCTAL           mode of the token file (default 0644)
  --refresh-before F|DUR      validity left when refreshing: a fraction of the
                              lifetime (default 0.4, i.e. refresh at 50-60%) or a duration
  --once-timeout DUR          give up in --once mode after DUR (default 60s)
  --request-timeout DUR       per HTTP request (default 10s)
  --min-validity DUR          probe: required validity ahead (default 10s)
  --claims                    probe: also print the token's claims (iss, aud, sub, azp,
                              email, exp, iat) as one JSON line; never the token
  --role-arn ARN              probe --sts: the role to assume
  --sts-endpoint URL          probe --sts: STS base URL (default https://sts.amazonaws.com)
  --session-name NAME         probe --sts: RoleSessionName (default gtoken-probe)
  --log-level LEVEL           debug, info, warn, error (env GTOKEN_LOG_LEVEL; default info)

environment:
  GCE_METADATA_HOST           metadata server host[:port] (default 169.254.169.254)
)";
}

}  // namespace gtoken::agent
