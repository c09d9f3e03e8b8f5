#pragma once
// deployd's connection to hookd: the pb.Dispatch/Deployments stream (reconnecting with capped
// exponential backoff and jitter) and pb.Dispatch/ReportStatus. gRPC stays in the .cpp.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/time.hpp"
#include "deployd/agent/status_queue.hpp"
#include "deployment.pb.h"

namespace deployd::agent {

struct HookdOptions {
  std::string server = "127.0.0.1:9090";
  std::string cluster = "local";
  bool authentication = false;
  std::string key;        // sent as metadata `authorization: <key>` when authentication is on
  bool use_tls = false;   // TLS with the system roots
  common::SystemTime startup_time;
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{5000};
  std::chrono::milliseconds keepalive{10000};
};

class HookdClient {
 public:
  explicit HookdClient(HookdOptions options);
  ~HookdClient();

  // Blocks until Stop(): opens Deployments{cluster, startupTime}, hands every request to
  // on_request, reconnects after errors.
  void RunReceiver(const std::function<void(pb::DeploymentRequest)>& on_request);
  void Stop();
  // A Deployments stream is open and the channel is READY.
  bool Connected() const;

  RpcResult ReportStatus(const pb::DeploymentStatus& status);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> connected_{false};
};

}  // namespace deployd::agent
