#include "deployd/agent/thread_budget.hpp"

#include <atomic>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace deployd::agent {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

// Resets the thread-start failure hook whatever happens in the test.
struct FailThreadStarts {
  explicit FailThreadStarts(int successes) { FailThreadStartsAfterForTest(successes); }
  ~FailThreadStarts() { FailThreadStartsAfterForTest(-1); }
  FailThreadStarts(const FailThreadStarts&) = delete;
  FailThreadStarts& operator=(const FailThreadStarts&) = delete;
};

TEST(ThreadBudget, GrantsUpToTheCapacityAndGivesBackOnRelease) {
  ThreadBudget budget(8);
  auto a = budget.Acquire(4, Clock::now() + 10s);
  auto b = budget.Acquire(4, Clock::now() + 10s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(budget.InUse(), 8);
  // Full: a request whose deadline has passed gives up at once instead of waiting.
  EXPECT_FALSE(budget.Acquire(1, Clock::now() - 1s));
  a.reset();
  EXPECT_EQ(budget.InUse(), 4);
  // More than the capacity counts as all of it: not while b holds half.
  EXPECT_FALSE(budget.Acquire(100, Clock::now() - 1s));
  b.reset();
  auto all = budget.Acquire(100, Clock::now() - 1s);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->Count(), 8);
  all.reset();
  EXPECT_EQ(budget.InUse(), 0);
  EXPECT_EQ(budget.PeakInUse(), 8);
  auto zero = budget.Acquire(0, Clock::now() - 1s);
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->Count(), 0);
}

// Polls (no timing involved) until `n` requests wait in Acquire.
void WaitForWaiting(const ThreadBudget& budget, int n) {
  while (budget.Waiting() != n) std::this_thread::yield();
}

TEST(ThreadBudget, ServesRequestsInOrderAndSkipsOnesThatGaveUp) {
  ThreadBudget budget(4);
  auto held = budget.Acquire(3, Clock::now() + 10s);
  std::mutex mutex;
  std::vector<int> order;
  auto waiter = [&](int id, int count, Clock::time_point deadline) {
    auto lease = budget.Acquire(count, deadline);
    std::lock_guard lock(mutex);
    order.push_back(lease ? id : -id);
  };
  // 1 wants 4 (one is free); 2 gives up soon; 3 wants one, which is free, but comes after 1.
  std::thread first(waiter, 1, 4, Clock::now() + 60s);
  WaitForWaiting(budget, 1);
  std::thread second(waiter, 2, 4, Clock::now() + 50ms);  // a deadline, not a sleep
  WaitForWaiting(budget, 2);
  std::thread third(waiter, 3, 1, Clock::now() + 60s);
  second.join();  // gave up at its deadline: the queue must not stall behind it
  WaitForWaiting(budget, 2);
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(order, std::vector<int>({-2})) << "3 does not overtake 1";
  }
  held.reset();
  first.join();
  third.join();
  EXPECT_EQ(order, std::vector<int>({-2, 1, 3}));
}

TEST(ThreadBudget, ShutdownEndsWaitingAndLaterRequests) {
  ThreadBudget budget(4);
  auto held = budget.Acquire(4, Clock::now() + 10s);
  std::atomic<bool> got{true};
  std::thread waiting([&] { got = budget.Acquire(1, Clock::now() + 600s).has_value(); });
  budget.Shutdown();
  waiting.join();
  EXPECT_FALSE(got.load());
  EXPECT_TRUE(budget.ShuttingDown());
  EXPECT_FALSE(budget.Acquire(1, Clock::now() + 10s));
}

TEST(ThreadBudget, StartThreadFailsLikeAFullPidCgroupWhenTold) {
  FailThreadStarts fail(1);
  std::vector<std::thread> threads;
  StartThreadInto(threads, [] {});
  try {
    StartThreadInto(threads, [] { ADD_FAILURE() << "started"; });
    FAIL() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::resource_unavailable_try_again);
    EXPECT_STREQ(e.what(), "Resource temporarily unavailable");
  }
  ASSERT_EQ(threads.size(), 1U);
  threads[0].join();
}

}  // namespace
}  // namespace deployd::agent
