#pragma once
// The running deployd: hookd stream -> deployments as coroutines on the engine's io_context (at
// most --max-concurrent-deployments at once) -> RunDeploymentAsync -> status reporter.
//
// Threads: the engine's --threads, plus the hookd receiver, the status reporter, the metrics
// server and gRPC's own; none per deployment, resource or watch.
#include <memory>
#include <string>

#include "deployd/agent/hookd_client.hpp"
#include "deployd/agent/rollout_watcher.hpp"
#include "deployd/kube/apply.hpp"
#include "deployd/kube/kubeconfig.hpp"

namespace deployd::agent {

// deployd's first status for every request it accepts (in_progress), sent at once, before the
// request waits for a free worker: hookd takes it as the confirmation that the request arrived.
inline constexpr const char* kReceivedMessage = "Deployment request received by deployd";

struct AgentOptions {
  HookdOptions hookd;
  kube::KubeConfig kube;
  kube::ApplyOptions apply;
  RolloutOptions rollout;
  int max_concurrent_deployments = 16;
  // Accepted for compatibility (--max-rollout-threads); rollout waits take no thread.
  int max_rollout_threads = 128;
  // The engine's threads (--threads): they run the io_context of every Kubernetes call, shared
  // watch, deployment and rollout wait.
  int threads = 2;
  double kube_qps = 200;
  double kube_burst = 400;
  std::string metrics_listen_address = "127.0.0.1:8081";
  std::string metrics_path = "/metrics";
  std::chrono::milliseconds status_flush_interval{5000};
};

class Agent {
 public:
  explicit Agent(AgentOptions options);  // binds the metrics listener; throws common::Error
  ~Agent();
  // Blocks until Stop() (from another thread or a signal handler thread).
  void Run();
  void Stop();
  int MetricsPort() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deployd::agent
