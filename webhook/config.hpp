#pragma once

#include <cstdint>
#include <string>

#include "webhook/annotations.hpp"

namespace gtoken::webhook {

// Kubernetes quantities as strings ("5m", "16Mi"); an empty string omits the key.
struct ResourceAmounts {
  std::string cpu;
  std::string memory;
};

struct AgentResources {
  // Memory: the agent's RSS is about 1.3 MiB while refreshing, 80 KiB of it
  // anonymous (docs/benchmarks.md#agent); 4Mi is three times that, and the
  // 16Mi limit is far from anything it reaches.
  ResourceAmounts requests{"5m", "4Mi"};
  // A CPU limit at all because a ResourceQuota on limits.cpu rejects containers
  // without one; generous because throttling delays the startup probe, and with
  // it every app container.
  ResourceAmounts limits{"100m", "16Mi"};
};

// Operator-wide settings of the mutation; one value for the whole process.
struct MutationConfig {
  // Deployments set this to the released agent image, pinned by digest.
  std::string agent_image = "gtoken:latest";
  std::string image_pull_policy = "IfNotPresent";
  // Executable inside the agent image (docs/agent.md: the image's /gtoken).
  std::string agent_command = "/gtoken";
  // The refreshing agent (native sidecar, or classic sidecar container).
  std::string agent_container_name = contract::kAgentContainer;
  // The one-shot agent of classic mode (an ordinary init container).
  std::string agent_init_container_name = contract::kAgentInitContainer;

  std::string token_mount_path = "/var/run/secrets/aws/token";
  std::string token_file_name = "gtoken";
  std::string volume_name = "gtoken-volume";
  // tmpfs defaults to half the node's memory; a token is a few KiB.
  std::string volume_size_limit = "1Mi";

  // Init containers with restartPolicy: Always (Kubernetes ≥ 1.29 by default).
  bool native_sidecars = true;
  // The Google source's audience; the Kubernetes source's default is
  // contract::kKubernetesDefaultAudience.
  std::string default_audience = contract::kDefaultAudience;
  // Region for ServiceAccounts that name none (--aws-default-region, the EKS
  // webhook's flag); empty: none. Either source.
  std::string default_region;

  AgentResources agent_resources;
  // Distroless "nonroot".
  std::int64_t agent_run_as_user = 65532;
  std::int64_t agent_run_as_group = 65532;
  // How long a pod waits for its first token before the agent is restarted
  // (native: startup probe) or gives up (classic: --once-timeout). Long on
  // purpose: the agent retries with backoff by itself, so a binding fixed
  // within this time heals the pod without a restart, and a Job's pod with
  // restartPolicy Never is not failed by a slow first fetch.
  int first_token_timeout_seconds = 600;
  int startup_probe_period_seconds = 1;
  // The probe execs the agent (a few ms); a loaded node can take longer.
  int startup_probe_timeout_seconds = 2;

  std::string inject_annotation{kInjectAnnotation};
  std::string skip_containers_annotation{kSkipContainersAnnotation};
  // Env var that carries the pod name (downward API) into the session name.
  std::string pod_name_env = "GTOKEN_POD_NAME";
};

}  // namespace gtoken::webhook
