#pragma once
// Where the operator's AWS credentials come from, as IamClient asks for
// them: get() before each request, invalidate() when AWS said the session
// is no longer valid (the next get() must fetch new ones). Sources (the
// GKE chain, environment, web identity file, shared file) implement it.

#include <stdexcept>

#include "aws/sigv4.hpp"

namespace gtoken::aws {

// No usable credentials; what() names the source and why, never a secret.
struct AwsCredentialsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  // Throws AwsCredentialsError.
  virtual Credentials get() = 0;
  virtual void invalidate() {}
};

}  // namespace gtoken::aws
