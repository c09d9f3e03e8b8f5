#include "deployd/agent/status_queue.hpp"

#include <vector>

#include <gtest/gtest.h>

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
