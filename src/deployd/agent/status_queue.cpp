#include "deployd/agent/status_queue.hpp"

#include <algorithm>
#include <iterator>
#include <random>

#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/logging.hpp"
#include "common/state.hpp"

// g++ 12 pairs the allocation and deallocation of an inlined Asio coroutine frame wrongly
// (-Wmismatched-new-delete on awaitable_frame_base::operator delete): a false positive, both come
// from awaitable_frame_base.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace deployd::agent {

namespace net = common::net;

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
    auto head = BeginSend();
    if (!head) return true;
    auto result = send(*head);
    auto outcome = ClassifyReport(result);
    bool dropped_meanwhile = false;
    if (!EndSend(outcome, &dropped_meanwhile)) return false;
    if (outcome == ReportOutcome::kDropped && !dropped_meanwhile && on_drop) on_drop(*head, result);
  }
}

std::optional<pb::DeploymentStatus> StatusQueue::BeginSend() {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  sending_front_ = true;
  drop_front_ = false;
  return queue_.front();
}

bool StatusQueue::EndSend(ReportOutcome outcome, bool* dropped_meanwhile) {
  std::lock_guard lock(mutex_);
  sending_front_ = false;
  *dropped_meanwhile = drop_front_;
  if (outcome == ReportOutcome::kRetry && !drop_front_) return false;
  queue_.pop_front();
  return true;
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

StatusReporter::StatusReporter(net::any_io_executor executor, AsyncSender send,
                               std::chrono::milliseconds idle_interval,
                               std::function<void(const pb::DeploymentStatus&, bool)> on_done,
                               const common::Timers& timers)
    : strand_(net::make_strand(std::move(executor))),
      timers_(timers),
      timer_(timers.MakeTimer(strand_)),
      send_(std::move(send)),
      idle_interval_(idle_interval),
      on_done_(std::move(on_done)) {}

StatusReporter::~StatusReporter() { Stop(std::chrono::milliseconds(0)); }

void StatusReporter::Start() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return;
    started_ = true;
    running_ = true;
  }
  // The coroutine catches nothing: a send or callback that throws ends the flusher, logged.
  net::co_spawn(strand_, Loop(), [this](const std::exception_ptr& error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        spdlog::error("status reporter: unexpected error: {}", e.what());
      } catch (...) {
        spdlog::error("status reporter: unexpected error");
      }
    }
    std::lock_guard lock(mutex_);
    running_ = false;
    ended_.notify_all();
  });
}

void StatusReporter::Wake() {
  net::post(strand_, [this] { timer_->Cancel(); });
}

void StatusReporter::Push(pb::DeploymentStatus status) {
  queue_.Push(std::move(status));
  std::lock_guard lock(mutex_);
  pushed_ = true;
  if (waiting_for_push_) {
    waiting_for_push_ = false;
    Wake();
  }
}

void StatusReporter::Stop(std::chrono::milliseconds grace) {
  std::unique_lock lock(mutex_);
  if (!stopping_) {
    stopping_ = true;
    stop_by_ = timers_.SteadyNow() + grace;
  }
  if (!running_) return;
  Wake();
  ended_.wait(lock, [this] { return !running_; });
}

namespace {
common::LogFields Fields(const pb::DeploymentStatus& status) {
  return common::DeploymentFields(status.request().id(), status.request().team(),
                                  status.request().cluster());
}
}  // namespace

net::awaitable<RpcResult> StatusReporter::Send(const pb::DeploymentStatus& status) {
  // The outcome, handed from the sender's thread to the strand.
  struct Pending {
    explicit Pending(const net::strand<net::any_io_executor>& s) : strand(s), wake(s) {}
    net::strand<net::any_io_executor> strand;
    net::steady_timer wake;
    std::optional<RpcResult> result;
  };
  auto pending = std::make_shared<Pending>(strand_);
  send_(status, [pending](RpcResult result) {
    net::post(pending->strand, [pending, result = std::move(result)]() mutable {
      pending->result = std::move(result);
      pending->wake.cancel();
    });
  });
  while (!pending->result) {
    pending->wake.expires_at(std::chrono::steady_clock::time_point::max());
    boost::system::error_code ignored;
    co_await pending->wake.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }
  co_return std::move(*pending->result);
}

net::awaitable<bool> StatusReporter::Flush() {
  auto sent = [this](const pb::DeploymentStatus& status, const RpcResult& result) {
    if (result.Ok()) {
      if (on_done_) on_done_(status, true);
    } else if (ClassifyReport(result) == ReportOutcome::kRetry) {
      common::LogWith(spdlog::level::warn, Fields(status),
                      "report status of {} to hookd: {} (code {}); will retry",
                      status.request().id(), result.message, result.code);
    }
  };
  auto on_drop = [this](const pb::DeploymentStatus& status, const RpcResult& result) {
    common::LogWith(spdlog::level::err, Fields(status),
                    "hookd rejected status {} of deployment {}: {}; dropped",
                    common::StateName(status.state()), status.request().id(), result.message);
    if (on_done_) on_done_(status, false);
  };
  for (;;) {
    auto head = queue_.BeginSend();
    if (!head) co_return true;
    auto result = co_await Send(*head);
    sent(*head, result);
    const auto outcome = ClassifyReport(result);
    bool dropped_meanwhile = false;
    if (!queue_.EndSend(outcome, &dropped_meanwhile)) co_return false;
    if (outcome == ReportOutcome::kDropped && !dropped_meanwhile) on_drop(*head, result);
  }
}

net::awaitable<void> StatusReporter::Loop() {
  std::mt19937_64 random{std::random_device{}()};
  int failures = 0;
  for (;;) {
    const bool empty = co_await Flush();
    failures = empty ? 0 : failures + 1;
    std::chrono::milliseconds wait{};
    {
      std::lock_guard lock(mutex_);
      if (stopping_ && (empty || timers_.SteadyNow() >= stop_by_)) break;
      // A new status wakes us up early only when the last flush succeeded (otherwise hookd is
      // still unreachable and we honour the backoff).
      if (empty && (pushed_ || stopping_)) {
        pushed_ = false;
        continue;
      }
      wait = empty ? idle_interval_
                   : common::WithJitter(
                         common::BackoffDelay(failures - 1, std::chrono::milliseconds(200),
                                              idle_interval_),
                         random());
      if (stopping_) wait = std::min(wait, std::chrono::milliseconds(200));
      waiting_for_push_ = empty;
    }
    co_await timer_->WaitFor(wait);
    std::lock_guard lock(mutex_);
    waiting_for_push_ = false;
    pushed_ = false;
  }
}

}  // namespace deployd::agent
