#include "aws/local_credentials.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace gtoken::aws {

namespace {

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

Getenv process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

ExpiringCredentials environment_credentials(const Getenv& getenv) {
  ExpiringCredentials out;
  const auto id = getenv("AWS_ACCESS_KEY_ID");
  const auto secret = getenv("AWS_SECRET_ACCESS_KEY");
  if (!id || id->empty()) throw AwsCredentialsError("AWS_ACCESS_KEY_ID is not set");
  if (!secret || secret->empty()) throw AwsCredentialsError("AWS_SECRET_ACCESS_KEY is not set");
  out.credentials.access_key_id = *id;
  out.credentials.secret_access_key = *secret;
  out.credentials.session_token = getenv("AWS_SESSION_TOKEN").value_or("");
  return out;
}

ExpiringCredentials shared_file_credentials(std::string_view text, const std::string& profile,
                                            const std::string& path_for_errors) {
  ExpiringCredentials out;
  bool in_profile = false, found = false;
  int line_no = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        throw AwsCredentialsError(path_for_errors + ":" + std::to_string(line_no) +
                                  ": a section header without ']'");
      }
      in_profile = trim(line.substr(1, line.size() - 2)) == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      throw AwsCredentialsError(path_for_errors + ":" + std::to_string(line_no) +
                                ": not a key = value line");
    }
    const std::string_view key = trim(line.substr(0, eq));
    const std::string value(trim(line.substr(eq + 1)));
    if (key == "aws_access_key_id") out.credentials.access_key_id = value;
    if (key == "aws_secret_access_key") out.credentials.secret_access_key = value;
    if (key == "aws_session_token") out.credentials.session_token = value;
  }
  if (!found) throw AwsCredentialsError(path_for_errors + ": no profile [" + profile + "]");
  if (out.credentials.access_key_id.empty() || out.credentials.secret_access_key.empty()) {
    throw AwsCredentialsError(path_for_errors + ": profile [" + profile +
                              "] lacks aws_access_key_id or aws_secret_access_key");
  }
  return out;
}

ExpiringCredentials shared_file_credentials(const std::string& path, const std::string& profile) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw AwsCredentialsError(path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return shared_file_credentials(text.str(), profile, path);
}

std::string default_shared_credentials_file(const Getenv& getenv) {
  if (auto f = getenv("AWS_SHARED_CREDENTIALS_FILE"); f && !f->empty()) return *f;
  return getenv("HOME").value_or("") + "/.aws/credentials";
}

std::string default_profile(const Getenv& getenv) {
  if (auto p = getenv("AWS_PROFILE"); p && !p->empty()) return *p;
  return "default";
}

}  // namespace gtoken::aws
