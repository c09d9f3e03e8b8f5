#pragma once
// deployd's connection to hookd: the pb.Dispatch/Deployments stream (reconnecting with capped
// exponential backoff and jitter) and pb.Dispatch/ReportStatus. gRPC stays in the .cpp.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/message_size.hpp"
#include "common/time.hpp"
#include "common/timers.hpp"
#include "deployd/agent/status_queue.hpp"
#include "deployment.pb.h"

namespace deployd::agent {

struct HookdOptions {
  std::string server = "127.0.0.1:9090";
  std::string cluster = "local";
  bool authentication = false;
  std::string key;       // sent as metadata `authorization: <key>` when authentication is on
  bool use_tls = false;  // TLS with the system roots
  common::SystemTime startup_time;
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{5000};
  std::chrono::milliseconds keepalive{10000};
  // After hookd ended the stream because another deployd connected for this cluster (ABORTED
  // `replaced by a newer connection for cluster '<c>'`): the first delay before connecting
  // again, doubled for every further replacement in a row, up to the cap (--replaced-backoff).
  std::chrono::milliseconds replaced_backoff{60000};
  std::chrono::milliseconds replaced_backoff_cap{600000};
  // --max-message-size: largest request received (gRPC's receive limit, plus envelope), announced
  // to hookd with metadata common::kMaxMessageSizeMetadata on the Deployments stream.
  std::size_t max_message_size = common::kDefaultMaxMessageSize;
  // The clock of the waits between connections (null: the system's); outlives the client.
  const common::Timers* timers = nullptr;
};

// hookd's message when a newer Deployments stream of the same cluster replaced this one.
inline constexpr const char* kReplacedMessage = "replaced by a newer connection";
// The stream ended with ABORTED and kReplacedMessage (code: grpc::StatusCode number).
bool IsReplaced(int code, const std::string& message);

class HookdClient {
 public:
  explicit HookdClient(HookdOptions options);
  ~HookdClient();

  // Blocks until Stop(): opens Deployments{cluster, startupTime}, hands every request to
  // on_request, reconnects after errors. When hookd replaced the stream by another deployd's,
  // calls on_replaced(hookd's message) before it waits replaced_backoff and connects again.
  void RunReceiver(const std::function<void(pb::DeploymentRequest)>& on_request,
                   const std::function<void(const std::string&)>& on_replaced = nullptr);
  void Stop();
  // A Deployments stream is open and the channel is READY.
  bool Connected() const;

  RpcResult ReportStatus(const pb::DeploymentStatus& status);
  // The same call without blocking: `done` gets the outcome once, on the client's completion
  // thread (it must not block). 10 s deadline, as ReportStatus; cancelled when the client goes.
  void ReportStatusAsync(const pb::DeploymentStatus& status, std::function<void(RpcResult)> done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> connected_{false};
};

}  // namespace deployd::agent
