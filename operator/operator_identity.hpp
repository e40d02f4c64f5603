#pragma once
// Which Google service account the operator itself acts as. No binding may
// name it: with it, a tenant's pods would act with the operator's Google
// rights (and, with serviceAccountAdmin, on every GSA in the project).

#include <string>

namespace gtoken {

// GOOGLE_APPLICATION_CREDENTIALS' client_email when that key file is set,
// else the metadata server's default service account email. Throws
// std::runtime_error (or kube::NetworkError) when neither answers.
std::string discover_operator_gsa();

}  // namespace gtoken
