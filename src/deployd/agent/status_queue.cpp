#include "deployd/agent/status_queue.hpp"

#include <algorithm>
#include <iterator>
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
      sending_front_ = true;
      drop_front_ = false;
    }
    auto result = send(head);
    auto outcome = ClassifyReport(result);
    bool dropped_meanwhile = false;
    {
      std::lock_guard lock(mutex_);
      sending_front_ = false;
      dropped_meanwhile = drop_front_;
      if (outcome == ReportOutcome::kRetry && !dropped_meanwhile) return false;
      queue_.pop_front();
    }
    if (outcome == ReportOutcome::kDropped && !dropped_meanwhile && on_drop) on_drop(head, result);
  }
}

std::size_t StatusQueue::DropIf(const std::function<bool(const pb::DeploymentStatus&)>& drop) {
  std::lock_guard lock(mutex_);
  std::size_t count = 0;
  auto first = queue_.begin();
  if (sending_front_ && first != queue_.end()) {
    // Being sent: Flush removes it when the send returns.
    if (!drop_front_ && drop(*first)) {
      drop_front_ = true;
      ++count;
    }
    ++first;
  }
  auto kept = std::remove_if(first, queue_.end(), drop);
  count += static_cast<std::size_t>(std::distance(kept, queue_.end()));
  queue_.erase(kept, queue_.end());
  return count;
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
      spdlog::warn("report status of {} to hookd: {} (code {}); will retry", status.request().id(),
                   result.message, result.code);
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
                      : common::WithJitter(
                            common::BackoffDelay(failures - 1, std::chrono::milliseconds(200),
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
