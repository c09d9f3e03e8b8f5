#include "common/timers.hpp"

namespace common {
namespace {

class SteadyTimer final : public Timer {
 public:
  explicit SteadyTimer(const net::any_io_executor& executor) : timer_(executor) {}

  net::awaitable<void> WaitUntil(SystemTime when) override {
    co_await WaitFor(when - std::chrono::system_clock::now());
  }

  net::awaitable<void> WaitFor(std::chrono::nanoseconds span) override {
    // Asio's expires_after saturates at the clock's maximum: "never" (SystemTime::max) is safe.
    timer_.expires_after(span);
    boost::system::error_code ignored;  // operation_aborted on Cancel(): an ordinary wake-up
    co_await timer_.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }

  void Cancel() override { timer_.cancel(); }

 private:
  net::steady_timer timer_;
};

}  // namespace

std::unique_ptr<Timer> SystemTimers::MakeTimer(net::any_io_executor executor) const {
  return std::make_unique<SteadyTimer>(executor);
}

bool SystemTimers::BlockFor(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                            std::chrono::nanoseconds span,
                            const std::function<bool()>& done) const {
  // wait_for adds the span to the clock's reading: a span of years ("never") would overflow it.
  if (span >= std::chrono::hours(24 * 365)) {
    cv.wait(lock, done);
    return true;
  }
  return cv.wait_for(lock, span, done);
}

const Timers& RealTimers() {
  // Never destroyed: threads of other static objects (the global tracer) may still wait on it
  // while the process exits.
  static const SystemTimers* const timers = new SystemTimers();
  return *timers;
}

}  // namespace common
