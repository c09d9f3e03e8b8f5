#pragma once
// Time for code that waits or times out on an Asio executor: the wall clock (deadlines and
// timestamps), a monotonic clock (spans) and timers on them, all from one source that a test can
// replace with a clock it moves by hand (tests/support/fake_timers.hpp), so that no test sleeps
// for time to pass.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "common/asio.hpp"
#include "common/time.hpp"

namespace common {

using SteadyTime = std::chrono::steady_clock::time_point;

// One wait at a time, started and cancelled from the executor it was made for (a strand, or a
// single-threaded context). Like an Asio timer, a Cancel() while no wait is pending has no effect:
// callers check their state before each wait.
class Timer {
 public:
  virtual ~Timer() = default;
  // Completes once the wall clock reaches `when`, or at Cancel(), whichever comes first.
  virtual net::awaitable<void> WaitUntil(SystemTime when) = 0;
  // Completes once `span` has passed on the monotonic clock, or at Cancel().
  virtual net::awaitable<void> WaitFor(std::chrono::nanoseconds span) = 0;
  virtual void Cancel() = 0;
};

class Timers : public Clock {
 public:
  // The monotonic clock: only differences between two readings mean anything.
  virtual SteadyTime SteadyNow() const = 0;
  virtual std::unique_ptr<Timer> MakeTimer(net::any_io_executor executor) const = 0;
  // A thread's wait (not a coroutine's), as condition_variable::wait_for with a predicate: blocks
  // on `cv` (`lock` held on entry and on return) until done() or until `span` has passed on the
  // monotonic clock; returns done(). Whoever makes done() true notifies `cv` as usual.
  virtual bool BlockFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                        std::chrono::nanoseconds span, const std::function<bool()>& done) const = 0;
};

// The system's clocks and Asio's steady timer (a wall-clock instant is waited for as the span to
// it, so a step of the wall clock during the wait is not followed; callers re-check the time).
class SystemTimers final : public Timers {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
  SteadyTime SteadyNow() const override { return std::chrono::steady_clock::now(); }
  std::unique_ptr<Timer> MakeTimer(net::any_io_executor executor) const override;
  bool BlockFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                std::chrono::nanoseconds span, const std::function<bool()>& done) const override;
};

// The process's one SystemTimers, for production code that takes no injected clock.
const Timers& RealTimers();

}  // namespace common
