#include "deployd/agent/status_queue.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace deployd::agent {
namespace {

pb::DeploymentStatus Status(const std::string& message) {
  pb::DeploymentStatus s;
  s.set_message(message);
  s.set_state(pb::DeploymentState::in_progress);
  return s;
}

TEST(StatusQueue, ClassifiesLikeTheOriginal) {
  EXPECT_EQ(ClassifyReport({0, ""}), ReportOutcome::kSent);
  EXPECT_EQ(ClassifyReport({3, "invalid"}), ReportOutcome::kDropped);   // InvalidArgument
  EXPECT_EQ(ClassifyReport({6, "exists"}), ReportOutcome::kDropped);    // AlreadyExists
  EXPECT_EQ(ClassifyReport({9, "fk"}), ReportOutcome::kDropped);        // FailedPrecondition
  EXPECT_EQ(ClassifyReport({14, "down"}), ReportOutcome::kRetry);       // Unavailable
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

}  // namespace
}  // namespace deployd::agent
