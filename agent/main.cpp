// The token agent the webhook injects into pods; see docs/agent.md.
#include "agent/app.hpp"

int main(int argc, char** argv) {
  return gtoken::agent::main_entry(argc, argv);
}
