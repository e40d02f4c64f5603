#include "operator/aws_io.hpp"

#include "aws/iam_client.hpp"

namespace gtoken {

AwsIo aws_io(std::shared_ptr<aws::IamClient> iam) {
  AwsIo io;
  io.get_role = [iam](const std::string& name) { return iam->get_role(name); };
  io.update_assume_role_policy = [iam](const std::string& name, const std::string& document) {
    iam->update_assume_role_policy(name, document);
  };
  io.list_oidc_providers = [iam] { return iam->list_oidc_providers(); };
  io.get_oidc_provider = [iam](const std::string& arn) { return iam->get_oidc_provider(arn); };
  io.create_oidc_provider = [iam](const std::string& url, const std::vector<std::string>& ids) {
    return iam->create_oidc_provider(url, ids);
  };
  io.add_client_id_to_oidc_provider = [iam](const std::string& arn, const std::string& id) {
    iam->add_client_id_to_oidc_provider(arn, id);
  };
  return io;
}

}  // namespace gtoken
