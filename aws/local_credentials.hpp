#pragma once
// Credentials the process is handed rather than obtains: the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) and the
// shared credentials file (~/.aws/credentials, an INI file of profiles with
// aws_access_key_id, aws_secret_access_key, aws_session_token). Each reads
// afresh when called: wrapped in RefreshingCredentials they are read once
// and again after AWS refused them (a rotated file is picked up then).
// Errors (AwsCredentialsError) name the variable, file, profile or line,
// never a value.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "aws/refreshing_credentials.hpp"

namespace gtoken::aws {

using Getenv = std::function<std::optional<std::string>(const std::string&)>;
// The process's own environment (std::getenv).
Getenv process_environment();

ExpiringCredentials environment_credentials(const Getenv& getenv);

// `text` is the file's content; `profile` e.g. "default".
ExpiringCredentials shared_file_credentials(std::string_view text, const std::string& profile,
                                            const std::string& path_for_errors);
// Reads `path`.
ExpiringCredentials shared_file_credentials(const std::string& path, const std::string& profile);

// ~/.aws/credentials unless AWS_SHARED_CREDENTIALS_FILE says otherwise; the
// profile AWS_PROFILE or "default".
std::string default_shared_credentials_file(const Getenv& getenv);
std::string default_profile(const Getenv& getenv);

}  // namespace gtoken::aws
