#pragma once
// A set of AWS credentials: what SigV4 signs with and what STS hands out.
// Apart from sigv4.hpp so that STS's answer (aws/sts.hpp, in the OpenSSL-free
// gtoken_aws_text) can carry them.

#include <string>

namespace gtoken::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty for long-lived keys
};

}  // namespace gtoken::aws
