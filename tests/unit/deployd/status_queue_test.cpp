#include "deployd/agent/status_queue.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/fake_timers.hpp"

namespace deployd::agent {
namespace {

pb::DeploymentStatus Status(const std::string& message) {
  pb::DeploymentStatus s;
  s.set_message(message);
  s.set_state(pb::DeploymentState::in_progress);
  return s;
}

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

// A sender that answers Unavailable to its first `failures` sends and OK after, recording them.
class ScriptedSender {
 public:
  explicit ScriptedSender(int failures) : failures_(failures) {}
  StatusReporter::AsyncSender Sender() {
    return [this](const pb::DeploymentStatus& status, const std::function<void(RpcResult)>& done) {
      RpcResult result;
      {
        std::lock_guard lock(mutex_);
        sent_.push_back(status.message());
        changed_.notify_all();
        if (failures_ < 0 || static_cast<int>(sent_.size()) <= failures_) {
          result = RpcResult{14, "hookd is down"};
        }
      }
      done(result);
    };
  }
  Strings Sent() const {
    std::lock_guard lock(mutex_);
    return sent_;
  }
  // Blocks until `count` sends were made; false after `limit` of real time (a hung test).
  [[nodiscard]] bool AwaitSent(std::size_t count,
                               std::chrono::seconds limit = std::chrono::seconds(120)) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return sent_.size() >= count; });
  }

 private:
  int failures_;  // negative: every send fails
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  Strings sent_;
};

// An io_context on a thread of its own until the test ends (the reporter is stopped first).
class IoThread {
 public:
  IoThread() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;
  common::net::any_io_executor Executor() { return io_.get_executor(); }

 private:
  common::net::io_context io_;
  common::net::executor_work_guard<common::net::io_context::executor_type> guard_;
  std::thread thread_;
};

// How long the reporter's pending wait is, by the fake clock.
std::chrono::nanoseconds WaitLength(const testsupport::FakeTimers& timers) {
  const auto next = timers.NextWake();
  return next ? *next - timers.SteadyNow() : std::chrono::nanoseconds::max();
}

TEST(StatusReporter, RetriesOnItsBackoffByTheClockAndThenWaitsItsIdleInterval) {
  testsupport::FakeTimers timers;
  IoThread io;
  ScriptedSender sender(2);
  StatusReporter reporter(io.Executor(), sender.Sender(), 10s, nullptr, timers);
  reporter.Push(Status("a"));
  reporter.Start();
  ASSERT_TRUE(timers.AwaitWaiting());
  EXPECT_EQ(sender.Sent(), Strings({"a"}));
  EXPECT_GE(WaitLength(timers), 100ms) << "first retry: 200 ms, jittered down to half at most";
  EXPECT_LE(WaitLength(timers), 200ms);
  timers.Advance(100ms - 1ns);
  ASSERT_TRUE(timers.AwaitWaiting());
  EXPECT_EQ(sender.Sent(), Strings({"a"})) << "not retried before its backoff";
  timers.Advance(100ms + 1ns);
  ASSERT_TRUE(timers.AwaitWaiting());
  EXPECT_EQ(sender.Sent(), Strings({"a", "a"}));
  EXPECT_GE(WaitLength(timers), 200ms) << "second retry: 400 ms, jittered";
  EXPECT_LE(WaitLength(timers), 400ms);
  timers.Advance(400ms);
  ASSERT_TRUE(timers.AwaitWaiting());
  EXPECT_EQ(sender.Sent(), Strings({"a", "a", "a"}));
  EXPECT_EQ(reporter.Pending(), 0U);
  EXPECT_EQ(WaitLength(timers), 10s) << "sent: it waits its idle interval";
}

TEST(StatusReporter, StopKeepsTryingUntilItsGraceHasPassedByTheClock) {
  testsupport::FakeTimers timers;
  IoThread io;
  ScriptedSender sender(-1);
  StatusReporter reporter(io.Executor(), sender.Sender(), 10s, nullptr, timers);
  reporter.Push(Status("final"));
  reporter.Start();
  ASSERT_TRUE(timers.AwaitWaiting());
  std::thread stopper([&reporter] { reporter.Stop(1s); });
  // Stop wakes the flusher: it tries again at once, then every 200 ms until 1 s has passed by
  // the clock.
  ASSERT_TRUE(sender.AwaitSent(2));
  for (std::size_t k = 1; k <= 5; ++k) {
    ASSERT_TRUE(timers.AwaitWaiting());
    EXPECT_EQ(WaitLength(timers), 200ms);
    timers.Advance(200ms);
    ASSERT_TRUE(sender.AwaitSent(2 + k));
  }
  stopper.join();  // the try at 1 s failed: the grace has passed, the flusher ended
  EXPECT_EQ(sender.Sent().size(), 7U) << "the first try, one on Stop, one after each wait";
  EXPECT_EQ(timers.Waiting(), 0U);
  EXPECT_EQ(reporter.Pending(), 1U) << "never sent: it stays queued";
}

TEST(StatusQueue, ClassifiesLikeTheOriginal) {
  EXPECT_EQ(ClassifyReport({0, ""}), ReportOutcome::kSent);
  EXPECT_EQ(ClassifyReport({3, "invalid"}), ReportOutcome::kDropped);  // InvalidArgument
  EXPECT_EQ(ClassifyReport({6, "exists"}), ReportOutcome::kDropped);   // AlreadyExists
  EXPECT_EQ(ClassifyReport({9, "fk"}), ReportOutcome::kDropped);       // FailedPrecondition
  EXPECT_EQ(ClassifyReport({14, "down"}), ReportOutcome::kRetry);      // Unavailable
  EXPECT_EQ(ClassifyReport({2, "unknown"}), ReportOutcome::kRetry);
  EXPECT_EQ(ClassifyReport({16, "unauth"}), ReportOutcome::kRetry);
  EXPECT_EQ(ClassifyReport({4, "deadline"}), ReportOutcome::kRetry);
}

TEST(StatusQueue, KeepsOrderAndRetriesFromTheFailingStatus) {
  StatusQueue q;
  q.Push(Status("a"));
  q.Push(Status("b"));
  q.Push(Status("c"));
  std::vector<std::string> sent;
  bool hookd_up = false;
  auto send = [&](const pb::DeploymentStatus& s) -> RpcResult {
    if (s.message() == "b" && !hookd_up) return {14, "unavailable"};
    sent.push_back(s.message());
    return {};
  };
  EXPECT_FALSE(q.Flush(send));
  EXPECT_EQ(sent, std::vector<std::string>({"a"}));
  EXPECT_EQ(q.Size(), 2U);
  q.Push(Status("d"));
  hookd_up = true;
  EXPECT_TRUE(q.Flush(send));
  EXPECT_EQ(sent, std::vector<std::string>({"a", "b", "c", "d"}));
  EXPECT_EQ(q.Size(), 0U);
}

TEST(StatusQueue, DropsRejectedStatusesAndContinues) {
  StatusQueue q;
  q.Push(Status("unknown-deployment"));
  q.Push(Status("ok"));
  std::vector<std::string> sent;
  std::vector<std::string> dropped;
  auto send = [&](const pb::DeploymentStatus& s) -> RpcResult {
    if (s.message() == "unknown-deployment") return {9, "violates foreign key"};
    sent.push_back(s.message());
    return {};
  };
  EXPECT_TRUE(q.Flush(send, [&](const pb::DeploymentStatus& s, const RpcResult& r) {
    dropped.push_back(s.message() + ": " + r.message);
  }));
  EXPECT_EQ(sent, std::vector<std::string>({"ok"}));
  EXPECT_EQ(dropped, std::vector<std::string>({"unknown-deployment: violates foreign key"}));
}

pb::DeploymentStatus StatusOf(const std::string& id, const std::string& message) {
  auto s = Status(message);
  s.mutable_request()->set_id(id);
  return s;
}

TEST(StatusQueue, DropIfRemovesTheMatchingStatusesAndKeepsTheOrderOfTheRest) {
  StatusQueue q;
  q.Push(StatusOf("a", "a1"));
  q.Push(StatusOf("b", "b1"));
  q.Push(StatusOf("a", "a2"));
  q.Push(StatusOf("c", "c1"));
  EXPECT_EQ(q.DropIf([](const pb::DeploymentStatus& s) { return s.request().id() == "a"; }), 2U);
  std::vector<std::string> sent;
  EXPECT_TRUE(q.Flush([&](const pb::DeploymentStatus& s) -> RpcResult {
    sent.push_back(s.message());
    return {};
  }));
  EXPECT_EQ(sent, std::vector<std::string>({"b1", "c1"}));
}

TEST(StatusQueue, AStatusDroppedWhileItIsBeingSentIsNeverRetried) {
  StatusQueue q;
  q.Push(StatusOf("a", "a1"));
  q.Push(StatusOf("b", "b1"));
  std::vector<std::string> sent;
  std::size_t dropped = 0;
  // The first send fails (hookd unavailable) while the status is dropped during the call.
  EXPECT_TRUE(q.Flush([&](const pb::DeploymentStatus& s) -> RpcResult {
    if (s.message() == "a1") {
      dropped = q.DropIf([](const pb::DeploymentStatus& d) { return d.request().id() == "a"; });
      return {14, "unavailable"};
    }
    sent.push_back(s.message());
    return {};
  }));
  EXPECT_EQ(dropped, 1U);
  EXPECT_EQ(sent, std::vector<std::string>({"b1"}));
  EXPECT_EQ(q.Size(), 0U);
}

}  // namespace
}  // namespace deployd::agent
