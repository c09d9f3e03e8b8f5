#pragma once
// Ordered retry queue of statuses for hookd: statuses are sent in
// order; a status rejected with FailedPrecondition, InvalidArgument or AlreadyExists is dropped;
// any other failure keeps it (and everything after it) for the next flush.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "deployment.pb.h"

namespace deployd::agent {

// gRPC status code numbers (grpc::StatusCode values) without pulling in gRPC headers.
struct RpcResult {
  int code = 0;  // 0 = OK
  std::string message;
  bool Ok() const { return code == 0; }
};

enum class ReportOutcome { kSent, kDropped, kRetry };
ReportOutcome ClassifyReport(const RpcResult& result);

class StatusQueue {
 public:
  using Sender = std::function<RpcResult(const pb::DeploymentStatus&)>;
  using DropLogger = std::function<void(const pb::DeploymentStatus&, const RpcResult&)>;

  void Push(pb::DeploymentStatus status);
  // Sends in order until empty or the first retryable failure. Returns true when empty.
  bool Flush(const Sender& send, const DropLogger& on_drop = nullptr);
  std::size_t Size() const;
  // Removes every queued status `drop` matches and returns how many. A matching status that a
  // flush is sending right now is removed once that send returns, whatever its outcome (never
  // retried).
  std::size_t DropIf(const std::function<bool(const pb::DeploymentStatus&)>& drop);

 private:
  mutable std::mutex mutex_;
  std::deque<pb::DeploymentStatus> queue_;
  bool sending_front_ = false;  // a flush is sending queue_.front()
  bool drop_front_ = false;     // ... and DropIf removed it meanwhile
  std::mutex flush_mutex_;      // one flush at a time keeps the order
};

// Background flusher: flushes on every push, retries failures with capped backoff + jitter,
// and flushes at least every `idle_interval`.
class StatusReporter {
 public:
  StatusReporter(StatusQueue::Sender send, std::chrono::milliseconds idle_interval,
                 std::function<void(const pb::DeploymentStatus&, bool sent)> on_done = nullptr);
  ~StatusReporter();
  void Push(pb::DeploymentStatus status);
  std::size_t DropIf(const std::function<bool(const pb::DeploymentStatus&)>& drop) {
    return queue_.DropIf(drop);
  }
  // Stops after trying to flush what is queued until `grace` has passed.
  void Stop(std::chrono::milliseconds grace);
  std::size_t Pending() const { return queue_.Size(); }

 private:
  void Loop();

  StatusQueue queue_;
  StatusQueue::Sender send_;
  std::chrono::milliseconds idle_interval_;
  std::function<void(const pb::DeploymentStatus&, bool)> on_done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pushed_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_by_{};
  std::thread thread_;
};

}  // namespace deployd::agent
