#include "deployd/agent/seen_ids.hpp"

#include <string>

#include <gtest/gtest.h>

namespace deployd::agent {
namespace {

using namespace std::chrono_literals;

const common::SystemTime kNow = common::SystemTime(std::chrono::seconds(1'800'000'000));

TEST(SeenIds, AnIdIsAcceptedOnceWhileItIsRemembered) {
  SeenIds seen;
  EXPECT_TRUE(seen.Insert("a", kNow + 10min, kNow));
  EXPECT_FALSE(seen.Insert("a", kNow + 10min, kNow));
  EXPECT_FALSE(seen.Insert("a", kNow + 20min, kNow + 5min));  // redelivered later: still known
  EXPECT_TRUE(seen.Insert("b", kNow + 10min, kNow));
  EXPECT_EQ(seen.Size(), 2U);
  EXPECT_TRUE(seen.Contains("a", kNow + 9min));
}

TEST(SeenIds, ForgetsAnIdAfterItsTime) {
  SeenIds seen;
  EXPECT_TRUE(seen.Insert("a", kNow + 10min, kNow));
  EXPECT_TRUE(seen.Insert("b", kNow + 20min, kNow));
  EXPECT_TRUE(seen.Contains("a", kNow + 10min - 1s));
  EXPECT_FALSE(seen.Contains("a", kNow + 10min));
  EXPECT_TRUE(seen.Contains("b", kNow + 10min));
  EXPECT_EQ(seen.Size(), 1U);
  EXPECT_EQ(seen.Evicted(), 0U);
}

TEST(SeenIds, AtCapacityTheIdDueFirstGoesFirst) {
  SeenIds seen(3);
  EXPECT_TRUE(seen.Insert("late", kNow + 30min, kNow));
  EXPECT_TRUE(seen.Insert("early", kNow + 10min, kNow));
  EXPECT_TRUE(seen.Insert("middle", kNow + 20min, kNow));
  EXPECT_TRUE(seen.Insert("new", kNow + 40min, kNow));
  EXPECT_EQ(seen.Size(), 3U);
  EXPECT_EQ(seen.Evicted(), 1U);
  EXPECT_FALSE(seen.Contains("early", kNow));
  EXPECT_TRUE(seen.Contains("late", kNow));
  EXPECT_TRUE(seen.Contains("middle", kNow));
  EXPECT_TRUE(seen.Contains("new", kNow));
}

TEST(SeenIds, MemoryStaysBoundedUnderManyDeployments) {
  SeenIds seen(1000);
  auto now = kNow;
  for (int i = 0; i < 100000; ++i) {
    now += 1s;
    // Deadlines of one minute, remembered 10 minutes after: ~660 IDs alive at any time.
    EXPECT_TRUE(seen.Insert("id-" + std::to_string(i), now + 1min + kRememberAfterDeadline, now));
  }
  EXPECT_LE(seen.Size(), 661U);
  EXPECT_EQ(seen.Evicted(), 0U);
}

}  // namespace
}  // namespace deployd::agent
