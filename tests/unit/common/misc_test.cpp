#include <set>

#include <gtest/gtest.h>

#include "common/backoff.hpp"
#include "common/json_path.hpp"
#include "common/state.hpp"
#include "common/strings.hpp"
#include "common/uuid.hpp"

namespace common {
namespace {

using std::chrono::milliseconds;

TEST(JsonPathTest, AbsentStepsAreNeverErrors) {
  const auto doc = nlohmann::json::parse(R"({"metadata":{"name":"web","generation":3,
      "labels":null,"ratio":2.9},"spec":["not","an","object"],"status":{"replicas":"3"}})");
  EXPECT_EQ(JsonString(doc, {"metadata", "name"}), "web");
  EXPECT_EQ(JsonString(doc, {"metadata", "generation"}), "");  // not a string
  EXPECT_EQ(JsonString(doc, {"metadata", "name", "deeper"}), "");
  EXPECT_EQ(JsonString(doc, {"spec", "template"}), "");  // a step that is not an object
  EXPECT_EQ(JsonInt(doc, {"metadata", "generation"}), 3);
  EXPECT_EQ(JsonInt(doc, {"metadata", "ratio"}), 2);
  EXPECT_EQ(JsonInt(doc, {"status", "replicas"}, -1), -1);  // a string is not a number
  EXPECT_EQ(JsonInt(doc, {"status", "missing"}, 7), 7);
  EXPECT_TRUE(JsonHas(doc, {"metadata", "name"}));
  EXPECT_FALSE(JsonHas(doc, {"metadata", "labels"}));  // null
  EXPECT_FALSE(JsonHas(doc, {"nothing"}));
  ASSERT_NE(JsonFind(doc, {"spec"}), nullptr);
  EXPECT_TRUE(JsonFind(doc, {"spec"})->is_array());
  EXPECT_EQ(JsonFind(doc, {}), &doc);
}

TEST(UuidTest, V4Format) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string id = NewUuidV4();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_TRUE(IsUuid(id)) << id;
    EXPECT_EQ(id[14], '4') << id;                                                         // version
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b') << id;  // variant
    for (char c : id) EXPECT_FALSE(c >= 'A' && c <= 'F') << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(UuidTest, IsUuid) {
  EXPECT_TRUE(IsUuid("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_TRUE(IsUuid("123E4567-E89B-12D3-A456-426614174000"));
  EXPECT_TRUE(IsUuid("00000000-0000-0000-0000-000000000000"));
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("123e4567e89b12d3a456426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-4266141740000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456_426614174000"));
  EXPECT_FALSE(IsUuid("g23e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid("{23e4567-e89b-12d3-a456-426614174000"));
}

TEST(BackoffTest, DoublesUntilCap) {
  EXPECT_EQ(BackoffDelay(0, milliseconds(100), milliseconds(5000)), milliseconds(100));
  EXPECT_EQ(BackoffDelay(1, milliseconds(100), milliseconds(5000)), milliseconds(200));
  EXPECT_EQ(BackoffDelay(2, milliseconds(100), milliseconds(5000)), milliseconds(400));
  EXPECT_EQ(BackoffDelay(5, milliseconds(100), milliseconds(5000)), milliseconds(3200));
  EXPECT_EQ(BackoffDelay(6, milliseconds(100), milliseconds(5000)), milliseconds(5000));
  EXPECT_EQ(BackoffDelay(1000, milliseconds(100), milliseconds(5000)), milliseconds(5000));
  EXPECT_EQ(BackoffDelay(100000000, milliseconds(1), milliseconds(30000)), milliseconds(30000));
}

TEST(BackoffTest, EdgeCases) {
  EXPECT_EQ(BackoffDelay(-3, milliseconds(100), milliseconds(5000)), milliseconds(100));
  EXPECT_EQ(BackoffDelay(0, milliseconds(0), milliseconds(5000)), milliseconds(0));
  EXPECT_EQ(BackoffDelay(3, milliseconds(500), milliseconds(200)), milliseconds(200));
  EXPECT_EQ(BackoffDelay(2, milliseconds(100), milliseconds(400)), milliseconds(400));
  EXPECT_EQ(BackoffDelay(62, milliseconds(3), milliseconds::max()).count() > 0, true);
}

TEST(BackoffTest, JitterWithinHalfToFull) {
  EXPECT_EQ(WithJitter(milliseconds(1000), 0), milliseconds(500));
  EXPECT_EQ(WithJitter(milliseconds(1000), 500), milliseconds(1000));
  EXPECT_EQ(WithJitter(milliseconds(1000), 501), milliseconds(500));
  EXPECT_EQ(WithJitter(milliseconds(0), 12345), milliseconds(0));
  EXPECT_EQ(WithJitter(milliseconds(1), 0), milliseconds(0));
  EXPECT_EQ(WithJitter(milliseconds(1), 1), milliseconds(1));
  for (std::uint64_t r : {0ull, 1ull, 7ull, 123456789ull, ~0ull, 1ull << 63}) {
    const auto d = WithJitter(milliseconds(777), r);
    EXPECT_GE(d, milliseconds(388));
    EXPECT_LE(d, milliseconds(777));
  }
}

TEST(StateTest, Names) {
  EXPECT_EQ(StateName(pb::success), "success");
  EXPECT_EQ(StateName(pb::error), "error");
  EXPECT_EQ(StateName(pb::failure), "failure");
  EXPECT_EQ(StateName(pb::inactive), "inactive");
  EXPECT_EQ(StateName(pb::in_progress), "in_progress");
  EXPECT_EQ(StateName(pb::queued), "queued");
  EXPECT_EQ(StateName(pb::pending), "pending");
}

TEST(StateTest, ParseNames) {
  for (auto s : {pb::success, pb::error, pb::failure, pb::inactive, pb::in_progress, pb::queued,
                 pb::pending}) {
    EXPECT_EQ(ParseStateName(StateName(s)), s);
  }
  EXPECT_EQ(ParseStateName("bogus"), std::nullopt);
  EXPECT_EQ(ParseStateName(""), std::nullopt);
  EXPECT_EQ(ParseStateName("Success"), std::nullopt);
}

TEST(StateTest, FinishedAndError) {
  EXPECT_TRUE(IsFinished(pb::success));
  EXPECT_TRUE(IsFinished(pb::error));
  EXPECT_TRUE(IsFinished(pb::failure));
  EXPECT_TRUE(IsFinished(pb::inactive));
  EXPECT_FALSE(IsFinished(pb::in_progress));
  EXPECT_FALSE(IsFinished(pb::queued));
  EXPECT_FALSE(IsFinished(pb::pending));

  EXPECT_FALSE(IsErrorState(pb::success));
  EXPECT_TRUE(IsErrorState(pb::error));
  EXPECT_TRUE(IsErrorState(pb::failure));
  EXPECT_TRUE(IsErrorState(pb::inactive));
  EXPECT_FALSE(IsErrorState(pb::in_progress));
  EXPECT_FALSE(IsErrorState(pb::queued));
  EXPECT_FALSE(IsErrorState(pb::pending));
}

TEST(StateTest, Messages) {
  EXPECT_EQ(kQueuedMessage, "Deployment request has been put on the queue for further processing.");
  EXPECT_EQ(kSuccessMessage, "Deployment completed successfully.");
  EXPECT_EQ(kInactiveMessage, "Deployment has been lost.");
}

TEST(TrimTest, GoSpaceByDefaultOrTheGivenCharacters) {
  EXPECT_EQ(Trim(" \t\n\v\f\ra b\r\f\v\n\t "), "a b");
  EXPECT_EQ(Trim(" \t "), "");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim("\va\f", " \t\r\n"), "\va\f");
  EXPECT_EQ(Trim("--a-b--", "-"), "a-b");
}

}  // namespace
}  // namespace common
