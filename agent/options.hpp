#pragma once
// Command line of the gtoken agent. Hand-parsed (a dozen flags), accepting
// --name value, --name=value and the single-dash Go forms (-file) of the
// seed tool. Flags win over environment variables.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/schedule.hpp"
#include "agent/sts_probe.hpp"
#include "kube/duration.hpp"
#include "kube/log.hpp"

namespace gtoken::agent {

enum class Mode { once, refresh, probe, version, help };

struct Options {
  Mode mode = Mode::once;
  std::string file;  // empty: stdout
  std::string audience;
  std::string gcp_service_account;  // empty: metadata identity endpoint
  std::string metadata_host;        // host[:port] to connect to
  std::string iam_endpoint;         // scheme://host[:port]
  mode_t file_mode = 0644;
  std::chrono::milliseconds once_timeout{60000};
  std::chrono::milliseconds min_validity{10000};
  bool probe_claims = false;  // probe --claims: print the token's claims as JSON
  // probe --sts: AssumeRoleWithWebIdentity with the token file (sts_probe.hpp)
  bool probe_sts = false;
  std::string role_arn;                                    // --role-arn
  std::string sts_endpoint = kDefaultStsEndpoint;     // --sts-endpoint
  std::string session_name = kDefaultStsSessionName;  // --session-name
  std::chrono::milliseconds request_timeout{10000};
  kube::LogLevel log_level = kube::LogLevel::info;
  RefreshPolicy policy;
  // Flags spelled the way an earlier release took them (a duration without
  // a unit): accepted, and logged as a warning at start-up.
  std::vector<kube::FlagDeprecation> deprecations;
};

struct ParseResult {
  std::optional<Options> options;
  std::string error;  // set when options is empty
};

using GetEnv = std::function<std::optional<std::string>(const std::string& name)>;

// args excludes argv[0].
ParseResult parse_options(const std::vector<std::string>& args, const GetEnv& env);

// Reads the process environment (empty values count as unset).
GetEnv process_env();

std::string usage();
std::string version_string();

}  // namespace gtoken::agent
