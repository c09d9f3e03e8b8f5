// deployd's connection to hookd against the fake hookd on a loopback port, with the waits between
// connections on a clock the test moves by hand.
#include "deployd/agent/hookd_client.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "support/fake_hookd.hpp"
#include "support/fake_timers.hpp"

namespace deployd::agent {
namespace {

using namespace std::chrono_literals;

// Replaced by a newer connection (another deployd of the cluster), the client waits
// --replaced-backoff (jittered between half and all of it) before it connects again; a stream
// that ends otherwise is retried after the short backoff.
TEST(HookdClientClock, AReplacedStreamReconnectsAfterItsBackoffByTheClock) {
  testsupport::FakeHookd hookd;
  testsupport::FakeTimers timers;
  HookdOptions options;
  options.server = hookd.Address();
  options.cluster = "local";
  options.replaced_backoff = 60s;
  options.replaced_backoff_cap = 600s;
  options.timers = &timers;
  HookdClient client(options);
  std::atomic<int> replaced{0};
  std::thread receiver([&] {
    client.RunReceiver([](const pb::DeploymentRequest&) {},
                       [&](const std::string&) { replaced.fetch_add(1); });
  });
  ASSERT_TRUE(hookd.WaitConnected(60s));
  ASSERT_TRUE(hookd.ReplaceStreamsUpTo(1, 60s));
  // Parked in its backoff: nothing moves until the clock does.
  ASSERT_TRUE(timers.AwaitWaiting(1));
  EXPECT_EQ(replaced.load(), 1);
  timers.Advance(29s);
  ASSERT_TRUE(timers.AwaitWaiting(1));
  EXPECT_FALSE(hookd.WaitConnected(0ms, 2)) << "connected again before half the backoff";
  timers.Advance(31s);
  EXPECT_TRUE(hookd.WaitConnected(60s, 2));
  client.Stop();
  receiver.join();
}

// Stop() ends a wait between connections at once, whatever is left of it.
TEST(HookdClientClock, StopEndsTheWaitBetweenConnections) {
  testsupport::FakeHookd hookd;
  testsupport::FakeTimers timers;
  HookdOptions options;
  options.server = hookd.Address();
  options.replaced_backoff = 600s;
  options.replaced_backoff_cap = 600s;
  options.timers = &timers;
  HookdClient client(options);
  std::thread receiver(
      [&] { client.RunReceiver([](const pb::DeploymentRequest&) {}, [](const std::string&) {}); });
  ASSERT_TRUE(hookd.WaitConnected(60s));
  ASSERT_TRUE(hookd.ReplaceStreamsUpTo(1, 60s));
  ASSERT_TRUE(timers.AwaitWaiting(1));
  client.Stop();
  receiver.join();  // returns without the clock moving
  EXPECT_EQ(timers.Waiting(), 0U);
}

}  // namespace
}  // namespace deployd::agent
