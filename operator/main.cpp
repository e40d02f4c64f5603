// gtoken-operator: the AwsRoleBinding controller and the admission webhook.
#include <iostream>

#include "operator/app.hpp"

int main(int argc, char** argv) {
  gtoken::OperatorOptions options;
  std::string error;
  std::string help;
  if (!gtoken::parse_operator_args(argc, argv, options, error, help)) {
    if (!help.empty()) {
      std::cout << help;
      return 0;
    }
    std::cerr << "gtoken-operator: " << error << "\n";
    return 2;
  }
  return gtoken::run_operator(options);
}
