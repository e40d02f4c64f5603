// gtoken-operator: the AwsRoleBinding controller and the admission webhooks.
#include <iostream>

#include "cmd/gtoken-operator/run.hpp"
#include "webhook/options.hpp"

int main(int argc, char** argv) {
  gtoken::OperatorOptions options;
  std::string error;
  std::string help;
  if (!gtoken::parse_operator_args(argc, argv, options, error, help)) {
    if (!help.empty()) {
      std::cout << help << gtoken::webhook::webhook_options_help();
      return 0;
    }
    std::cerr << "gtoken-operator: " << error << "\n";
    return 2;
  }
  // The flags the operator did not know are the webhook's: checked before
  // anything starts, read again by run_operator.
  if (gtoken::webhook::WebhookOptions w;
      !gtoken::webhook::parse_webhook_options(options.webhook_args, w, error)) {
    std::cerr << "gtoken-operator: " << error << "\n";
    return 2;
  }
  return gtoken::run_operator(options);
}
