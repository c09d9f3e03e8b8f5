#pragma once
// Ordered retry queue of statuses for hookd: statuses are sent in
// order; a status rejected with FailedPrecondition, InvalidArgument or AlreadyExists is dropped;
// any other failure keeps it (and everything after it) for the next flush.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "common/asio.hpp"
#include "common/timers.hpp"
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

  // Flush's steps, for a sender that does not block (one send at a time, by one caller): the
  // front to send (now being sent), or nullopt when the queue is empty ...
  std::optional<pb::DeploymentStatus> BeginSend();
  // ... and the end of that send: false when it stays in front for a retry; true when it left the
  // queue, `*dropped_meanwhile` then saying whether DropIf removed it while it was being sent.
  bool EndSend(ReportOutcome outcome, bool* dropped_meanwhile);

 private:
  mutable std::mutex mutex_;
  std::deque<pb::DeploymentStatus> queue_;
  bool sending_front_ = false;  // a flush is sending queue_.front()
  bool drop_front_ = false;     // ... and DropIf removed it meanwhile
  std::mutex flush_mutex_;      // one flush at a time keeps the order
};

// Background flusher on an executor (the engine's io_context; no thread of its own): flushes on
// every push, retries failures with capped backoff + jitter, and flushes at least every
// `idle_interval`. Sends one status at a time, in order.
class StatusReporter {
 public:
  // Starts sending `status` and calls `done` with the outcome exactly once, from any thread.
  using AsyncSender =
      std::function<void(const pb::DeploymentStatus& status, std::function<void(RpcResult)> done)>;

  // `timers` (outliving the reporter) times the retries, the idle flush and Stop's grace.
  StatusReporter(common::net::any_io_executor executor, AsyncSender send,
                 std::chrono::milliseconds idle_interval,
                 std::function<void(const pb::DeploymentStatus&, bool sent)> on_done = nullptr,
                 const common::Timers& timers = common::RealTimers());
  ~StatusReporter();  // Stop(0)
  StatusReporter(const StatusReporter&) = delete;
  StatusReporter& operator=(const StatusReporter&) = delete;

  // Starts flushing (statuses pushed before are kept until then).
  void Start();
  void Push(pb::DeploymentStatus status);
  std::size_t DropIf(const std::function<bool(const pb::DeploymentStatus&)>& drop) {
    return queue_.DropIf(drop);
  }
  // Stops after trying to flush what is queued until `grace` has passed (a send in flight then
  // ends first, within its own deadline). Blocks until the flusher has ended: call it from
  // outside the executor, while the executor runs.
  void Stop(std::chrono::milliseconds grace);
  std::size_t Pending() const { return queue_.Size(); }

 private:
  common::net::awaitable<void> Loop();
  common::net::awaitable<bool> Flush();
  common::net::awaitable<RpcResult> Send(const pb::DeploymentStatus& status);
  void Wake();  // any thread

  StatusQueue queue_;
  common::net::strand<common::net::any_io_executor> strand_;
  const common::Timers& timers_;
  std::unique_ptr<common::Timer> timer_;  // used on strand_ only
  AsyncSender send_;
  std::chrono::milliseconds idle_interval_;
  std::function<void(const pb::DeploymentStatus&, bool)> on_done_;
  std::mutex mutex_;
  std::condition_variable ended_;
  bool pushed_ = false;
  bool stopping_ = false;
  bool started_ = false;
  bool running_ = false;  // the flusher has started and not yet ended
  bool waiting_for_push_ = false;
  common::SteadyTime stop_by_{};
};

}  // namespace deployd::agent
