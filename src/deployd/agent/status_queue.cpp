#include "deployd/agent/status_queue.hpp"

#include <random>

#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/state.hpp"

namespace deployd::agent {
namespace {
// grpc::StatusCode numbers.
constexpr int kInvalidArgument = 3;
constexpr int kAlreadyExists = 6;
constexpr int kFailedPrecondition = 9;
}  // namespace

ReportOutcome ClassifyReport(const RpcResult& result) {
  if (result.Ok()) return ReportOutcome::kSent;
  if (result.code == kInvalidArgument || result.code == kAlreadyExists ||
      result.code == kFailedPrecondition) {
    return ReportOutcome::kDropped;
  }
  return ReportOutcome::kRetry;
}

void StatusQueue::Push(pb::DeploymentStatus status) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(status));
}

std::size_t StatusQueue::Size() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool StatusQueue::Flush(const Sender& send, const DropLogger& on_drop) {
  std::lock_guard flush_lock(flush_mutex_);
  for (;;) {
    pb::DeploymentStatus head;
    {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return true;
      head = queue_.front();
    }
    auto result = send(head);
    auto outcome = ClassifyReport(result);
    if (outcome == ReportOutcome::kRetry) return false;
    if (outcome == ReportOutcome::kDropped && on_drop) on_drop(head, result);
    std::lock_guard lock(mutex_);
    queue_.pop_front();
  }
}

StatusReporter::StatusReporter(StatusQueue::Sender send, std::chrono::milliseconds idle_interval,
                               std::function<void(const pb::DeploymentStatus&, bool)> on_done)
    : send_(std::move(send)), idle_interval_(idle_interval), on_done_(std::move(on_done)) {
  thread_ = std::thread([this] { Loop(); });
}

StatusReporter::~StatusReporter() { Stop(std::chrono::milliseconds(0)); }

void StatusReporter::Push(pb::DeploymentStatus status) {
  queue_.Push(std::move(status));
  std::lock_guard lock(mutex_);
  pushed_ = true;
  wake_.notify_all();
}

void StatusReporter::Stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      stop_by_ = std::chrono::steady_clock::now() + grace;
    }
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void StatusReporter::Loop() {
  std::mt19937_64 random{std::random_device{}()};
  int failures = 0;
  auto sender = [this](const pb::DeploymentStatus& status) {
    auto result = send_(status);
    if (result.Ok()) {
      if (on_done_) on_done_(status, true);
    } else if (ClassifyReport(result) == ReportOutcome::kRetry) {
      spdlog::warn("report status of {} to hookd: {} (code {}); will retry",
                   status.request().id(), result.message, result.code);
    }
    return result;
  };
  auto on_drop = [this](const pb::DeploymentStatus& status, const RpcResult& result) {
    spdlog::error("hookd rejected status {} of deployment {}: {}; dropped",
                  common::StateName(status.state()), status.request().id(), result.message);
    if (on_done_) on_done_(status, false);
  };
  for (;;) {
    bool empty = queue_.Flush(sender, on_drop);
    failures = empty ? 0 : failures + 1;
    std::unique_lock lock(mutex_);
    if (stopping_ && (empty || std::chrono::steady_clock::now() >= stop_by_)) return;
    auto wait = empty ? idle_interval_
                      : common::WithJitter(common::BackoffDelay(failures - 1,
                                                                std::chrono::milliseconds(200),
                                                                idle_interval_),
                                           random());
    if (stopping_) wait = std::min(wait, std::chrono::milliseconds(200));
    // A new status wakes us up early only when the last flush succeeded (otherwise hookd is
    // still unreachable and we honour the backoff).
    wake_.wait_for(lock, wait, [&] { return empty && (pushed_ || stopping_); });
    pushed_ = false;
  }
}

}  // namespace deployd::agent
