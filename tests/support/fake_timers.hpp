#pragma once
// The tests' clock for code that waits (common::Timers), on an Asio executor or in a thread of its
// own: wall and monotonic time stand still until Advance() moves both, and a pending wait
// completes when the time it waits for has come. AwaitWaiting() lets a test know that the code
// under test is parked in a wait before it moves the clock, so nothing depends on how fast the
// machine is.
#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "common/timers.hpp"

namespace testsupport {

class FakeTimers final : public common::Timers {
 public:
  FakeTimers() = default;
  explicit FakeTimers(common::SystemTime start) : wall_(start) {}
  FakeTimers(const FakeTimers&) = delete;
  FakeTimers& operator=(const FakeTimers&) = delete;

  common::SystemTime Now() const override {
    std::lock_guard lock(mutex_);
    return wall_;
  }
  common::SteadyTime SteadyNow() const override {
    std::lock_guard lock(mutex_);
    return steady_;
  }

  std::unique_ptr<common::Timer> MakeTimer(common::net::any_io_executor executor) const override {
    return std::make_unique<FakeTimer>(*this, executor);
  }

  // The caller's mutex is taken before this clock's, never the other way round: Advance() lets go
  // of its own before it wakes a blocked thread (so the condition variable must outlive the
  // Advance() that may wake it, as it does in a test that owns the object under test).
  bool BlockFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                std::chrono::nanoseconds span, const std::function<bool()>& done) const override {
    if (done()) return true;  // no wait: not counted as waiting
    auto blocked = std::make_shared<Blocked>(Blocked{&cv, lock.mutex()});
    common::SteadyTime until;
    {
      std::lock_guard guard(mutex_);
      until = Until(span);
      blocked_.emplace_back(until, blocked);
      changed_.notify_all();
    }
    while (!done() && SteadyNow() < until) cv.wait(lock);
    {
      std::lock_guard guard(mutex_);
      std::erase_if(blocked_, [&](const auto& entry) { return entry.second == blocked; });
    }
    return done();
  }

  // Moves both clocks and completes every wait whose time has come (on its own executor).
  void Advance(std::chrono::nanoseconds span) {
    std::unique_lock lock(mutex_);
    wall_ += std::chrono::duration_cast<common::SystemTime::duration>(span);
    steady_ += std::chrono::duration_cast<common::SteadyTime::duration>(span);
    auto due = std::partition(waits_.begin(), waits_.end(),
                              [this](const Wait& w) { return w.until > steady_; });
    for (auto it = due; it != waits_.end(); ++it) {
      auto state = it->state;  // kept alive until the wake-up has run
      common::net::post(state->timer.get_executor(), [state] { state->timer.cancel(); });
    }
    waits_.erase(due, waits_.end());
    // A woken thread is no longer waiting (Waiting() drops) until it blocks again.
    std::vector<std::shared_ptr<Blocked>> wake;
    std::erase_if(blocked_, [&](const auto& entry) {
      if (entry.first > steady_) return false;
      wake.push_back(entry.second);
      return true;
    });
    changed_.notify_all();
    lock.unlock();
    for (const auto& blocked : wake) {
      std::lock_guard theirs(*blocked->mutex);
      blocked->cv->notify_all();
    }
  }

  // Blocks until at least `count` waits are pending (the code under test is parked); false if
  // that did not happen within `limit` of real time, a guard against a hung test, not a timing.
  [[nodiscard]] bool AwaitWaiting(std::size_t count = 1,
                                  std::chrono::seconds limit = std::chrono::seconds(120)) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return waits_.size() + blocked_.size() >= count; });
  }
  std::size_t Waiting() const {
    std::lock_guard lock(mutex_);
    return waits_.size() + blocked_.size();
  }
  // When the earliest pending wait ends (monotonic), if any wait is pending.
  std::optional<common::SteadyTime> NextWake() const {
    std::lock_guard lock(mutex_);
    std::optional<common::SteadyTime> next;
    for (const auto& wait : waits_) next = std::min(next.value_or(wait.until), wait.until);
    for (const auto& entry : blocked_) next = std::min(next.value_or(entry.first), entry.first);
    return next;
  }

 private:
  // An Asio timer that never expires by itself: the fake clock (or Cancel) cancels it. A wake-up
  // the clock posted may arrive after a Cancel and a new wait: a spurious wake-up, which callers
  // tolerate (they re-check the time).
  struct State {
    explicit State(const common::net::any_io_executor& executor) : timer(executor) {}
    common::net::steady_timer timer;
  };
  struct Wait {
    common::SteadyTime until;
    std::shared_ptr<State> state;
  };

  class FakeTimer final : public common::Timer {
   public:
    FakeTimer(const FakeTimers& clock, const common::net::any_io_executor& executor)
        : clock_(clock), state_(std::make_shared<State>(executor)) {}
    ~FakeTimer() override { clock_.Forget(state_.get()); }
    FakeTimer(const FakeTimer&) = delete;
    FakeTimer& operator=(const FakeTimer&) = delete;

    common::net::awaitable<void> WaitUntil(common::SystemTime when) override {
      co_await WaitFor(when - clock_.Now());
    }
    common::net::awaitable<void> WaitFor(std::chrono::nanoseconds span) override {
      if (!clock_.Register(state_, span)) co_return;  // already due
      state_->timer.expires_at(common::SteadyTime::max());
      boost::system::error_code ignored;
      co_await state_->timer.async_wait(
          common::net::redirect_error(common::net::use_awaitable, ignored));
      clock_.Forget(state_.get());  // woken by Cancel: no longer waiting
    }
    void Cancel() override { state_->timer.cancel(); }

   private:
    const FakeTimers& clock_;
    std::shared_ptr<State> state_;
  };

  // A blocked thread's condition variable and the mutex it waits with.
  struct Blocked {
    std::condition_variable* cv;
    std::mutex* mutex;
  };

  // When a wait of `span` from now ends (saturating at the clock's end). mutex_ held.
  common::SteadyTime Until(std::chrono::nanoseconds span) const {
    const auto left = common::SteadyTime::max() - steady_;
    return span >= left ? common::SteadyTime::max()
                        : steady_ + std::chrono::duration_cast<common::SteadyTime::duration>(span);
  }

  // False when `span` has already passed (nothing to wait for).
  bool Register(const std::shared_ptr<State>& state, std::chrono::nanoseconds span) const {
    std::lock_guard lock(mutex_);
    if (span <= std::chrono::nanoseconds::zero()) return false;
    waits_.push_back(Wait{Until(span), state});
    changed_.notify_all();
    return true;
  }
  void Forget(const State* state) const {
    std::lock_guard lock(mutex_);
    std::erase_if(waits_, [state](const Wait& w) { return w.state.get() == state; });
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  common::SystemTime wall_ = common::SystemTime(std::chrono::seconds(1'800'000'000));
  common::SteadyTime steady_ = common::SteadyTime(std::chrono::hours(1));
  mutable std::vector<Wait> waits_;
  mutable std::vector<std::pair<common::SteadyTime, std::shared_ptr<Blocked>>> blocked_;
};

}  // namespace testsupport
