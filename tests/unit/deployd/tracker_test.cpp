#include "deployd/rollout/tracker.hpp"

#include <gtest/gtest.h>

#include "deployment_objects.hpp"

namespace deployd::rollout {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Kind = Outcome::Kind;

const common::SystemTime kStart = common::SystemTime(std::chrono::seconds(1'800'000'000));
constexpr const char* kCreated = "2027-01-15T08:00:00Z";  // == kStart

json Deployment(int generation, int observed, int updated, int available) {
  return DeploymentObject(generation, observed, 2, 2, updated, available);
}

json Pod(const std::string& name, const std::string& reason, const std::string& message,
         int restarts = 0, const char* created = kCreated) {
  json container = {{"name", "web"}, {"restartCount", restarts}};
  if (!reason.empty()) {
    container["state"] = {{"waiting", {{"reason", reason}, {"message", message}}}};
  } else {
    container["state"] = {{"running", json::object()}};
  }
  if (reason == "CrashLoopBackOff") {
    container["lastState"] = {{"terminated", {{"reason", "Error"}, {"exitCode", 1}}}};
  }
  return json{{"metadata", {{"name", name}, {"creationTimestamp", created}}},
              {"status", {{"phase", "Pending"}, {"containerStatuses", json::array({container})}}}};
}

json Warning(const std::string& kind, const std::string& name, const std::string& reason,
             const std::string& message) {
  return json{{"type", "Warning"},
              {"reason", reason},
              {"message", message},
              {"involvedObject", {{"kind", kind}, {"name", name}}}};
}

RolloutTracker Tracker(TrackerOptions options = {}) {
  return RolloutTracker(Rule::kDeployment, "Deployment", "web", kStart + 400ms, options);
}

TEST(RolloutTracker, ProgressDeadlineNamesThePodProblemSeenBefore) {
  auto t = Tracker();
  auto step = t.OnPod("ADDED",
                      Pod("web-5d4f8c7b9d-x7k2p", "ErrImagePull",
                          "rpc error: code = NotFound desc = failed to pull image \"web:2\""),
                      kStart + 1s);
  EXPECT_EQ(step.progress, std::vector<std::string>({
                               "Deployment/web: pod web-5d4f8c7b9d-x7k2p container web: "
                               "ErrImagePull: rpc error: code = NotFound desc = failed to pull "
                               "image \"web:2\"",
                           }));
  EXPECT_FALSE(step.outcome);
  step = t.OnObject("MODIFIED", WithDeadlineExceeded(Deployment(2, 2, 1, 0), "web-5d4f8c7b9d"),
                    kStart + 2s);
  ASSERT_TRUE(step.outcome);
  EXPECT_EQ(*step.outcome,
            (Outcome{Kind::kFailure,
                     "Deployment/web: deployment \"web\" exceeded its progress deadline: pod "
                     "web-5d4f8c7b9d-x7k2p container web: ErrImagePull: rpc error: code = "
                     "NotFound desc = failed to pull image \"web:2\" (ReplicaSet "
                     "\"web-5d4f8c7b9d\" has timed out progressing.)"}));
  EXPECT_TRUE(t.Finished());
  EXPECT_FALSE(t.OnPod("MODIFIED", Pod("web-5d4f8c7b9d-x7k2p", "", ""), kStart + 3s).outcome)
      << "nothing after the outcome";
}

TEST(RolloutTracker, ProgressDeadlineWithoutEvidenceKeepsTheConditionMessage) {
  auto t = Tracker();
  auto step = t.OnObject("ADDED", WithDeadlineExceeded(Deployment(2, 2, 1, 0), "web-5d4f8c7b9d"),
                         kStart + 2s);
  ASSERT_TRUE(step.outcome);
  EXPECT_EQ(step.outcome->message,
            "Deployment/web: deployment \"web\" exceeded its progress deadline: ReplicaSet "
            "\"web-5d4f8c7b9d\" has timed out progressing.");
}

TEST(RolloutTracker, WarningEventIsTheCauseWhenNoPodHasAProblem) {
  auto t = Tracker();
  auto step = t.OnEvent(Warning("ReplicaSet", "web-5d4f8c7b9d", "FailedCreate",
                                "pods \"web-5d4f8c7b9d-x7k2p\" is forbidden: exceeded quota: "
                                "compute, requested: cpu=2, used: cpu=8, limited: cpu=8"));
  EXPECT_EQ(step.progress,
            std::vector<std::string>({"ReplicaSet/web-5d4f8c7b9d (FailedCreate): pods "
                                      "\"web-5d4f8c7b9d-x7k2p\" is forbidden: exceeded quota: "
                                      "compute, requested: cpu=2, used: cpu=8, limited: cpu=8"}));
  EXPECT_TRUE(t.OnEvent(Warning("ReplicaSet", "web-5d4f8c7b9d", "FailedCreate",
                                "pods \"web-5d4f8c7b9d-x7k2p\" is forbidden: exceeded quota: "
                                "compute, requested: cpu=2, used: cpu=8, limited: cpu=8"))
                  .progress.empty())
      << "each line once";
  step = t.OnObject("MODIFIED", WithDeadlineExceeded(Deployment(2, 2, 0, 0), "web-5d4f8c7b9d"),
                    kStart + 2s);
  ASSERT_TRUE(step.outcome);
  EXPECT_EQ(step.outcome->message,
            "Deployment/web: deployment \"web\" exceeded its progress deadline: "
            "ReplicaSet/web-5d4f8c7b9d (FailedCreate): pods \"web-5d4f8c7b9d-x7k2p\" is "
            "forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=8, limited: cpu=8 "
            "(ReplicaSet \"web-5d4f8c7b9d\" has timed out progressing.)");
}

TEST(RolloutTracker, ProblemStillThereBeatsAWarningAndAGoneProblemComesLast) {
  auto t = Tracker();
  t.OnPod("ADDED", Pod("web-1", "ImagePullBackOff", "Back-off pulling image \"web:2\""),
          kStart + 1s);
  t.OnEvent(Warning("Pod", "web-1", "Unhealthy", "Readiness probe failed: HTTP 503"));
  EXPECT_EQ(t.Cause(),
            "pod web-1 container web: ImagePullBackOff: Back-off pulling image \"web:2\"");
  t.OnPod("MODIFIED", Pod("web-1", "", ""), kStart + 2s);
  EXPECT_EQ(t.Cause(), "Pod/web-1 (Unhealthy): Readiness probe failed: HTTP 503");
  auto other = Tracker();
  other.OnPod("ADDED", Pod("web-1", "ImagePullBackOff", "Back-off pulling image \"web:2\""),
              kStart + 1s);
  other.OnPod("DELETED", Pod("web-1", "ImagePullBackOff", "Back-off pulling image \"web:2\""),
              kStart + 2s);
  EXPECT_EQ(other.Cause(),
            "pod web-1 container web: ImagePullBackOff: Back-off pulling image \"web:2\"");
  EXPECT_FALSE(other.NextDue()) << "a deleted pod's problem has no grace running";
}

TEST(RolloutTracker, DeploydsDeadlineSaysWhatWasPendingAndWhy) {
  auto t = Tracker();
  EXPECT_EQ(t.Timeout(),
            (Outcome{Kind::kTimeout, "timeout while waiting for deployment to succeed"}));
  t.OnObject("ADDED", Deployment(2, 2, 2, 0), kStart + 1s);
  EXPECT_EQ(t.Timeout().message,
            "timeout while waiting for deployment to succeed; still waiting: 0 of 2 updated "
            "replicas are available");
  t.OnPod("ADDED", Pod("web-1", "", ""), kStart + 1s);
  t.OnPod("ADDED", Pod("web-2", "CrashLoopBackOff", "back-off 10s restarting failed container", 1),
          kStart + 1s);
  EXPECT_EQ(t.Timeout().message,
            "timeout while waiting for deployment to succeed; still waiting: 0 of 2 updated "
            "replicas are available: pod web-2 container web: CrashLoopBackOff: back-off 10s "
            "restarting failed container (last exit: Error, code 1, 1 restarts)");
}

TEST(RolloutTracker, OneRestartIsNotACrashLoop) {
  auto t = Tracker();
  auto step = t.OnPod(
      "MODIFIED", Pod("web-1", "CrashLoopBackOff", "back-off 10s restarting failed container", 1),
      kStart + 1s);
  EXPECT_FALSE(step.outcome);
  EXPECT_EQ(step.progress, std::vector<std::string>({
                               "Deployment/web: pod web-1 container web: CrashLoopBackOff: "
                               "back-off 10s restarting failed container (last exit: Error, code "
                               "1, 1 restarts)",
                           }));
  EXPECT_FALSE(t.NextDue()) << "a crash loop counts restarts, not time";
  step = t.OnPod("MODIFIED",
                 Pod("web-1", "CrashLoopBackOff", "back-off 20s restarting failed container", 2),
                 kStart + 30s);
  ASSERT_TRUE(step.outcome);
  // The crashed container's previous instance has the log that explains it.
  EXPECT_EQ(*step.outcome, (Outcome{Kind::kFailure,
                                    "Deployment/web: pod web-1 container web: CrashLoopBackOff: "
                                    "back-off 20s restarting failed container (last exit: Error, "
                                    "code 1, 2 restarts)",
                                    LogSource{"web-1", "web", true}}));
}

TEST(RolloutTracker, CrashLoopRestartsAreConfigurable) {
  auto at_once = Tracker(TrackerOptions{60s, 0});
  EXPECT_TRUE(
      at_once.OnPod("MODIFIED", Pod("web-1", "CrashLoopBackOff", "back-off 10s", 0), kStart + 1s)
          .outcome);
  auto patient = Tracker(TrackerOptions{60s, 5});
  EXPECT_FALSE(
      patient.OnPod("MODIFIED", Pod("web-1", "CrashLoopBackOff", "back-off 80s", 4), kStart + 1s)
          .outcome);
  EXPECT_TRUE(
      patient.OnPod("MODIFIED", Pod("web-1", "CrashLoopBackOff", "back-off 160s", 5), kStart + 2s)
          .outcome);
}

TEST(RolloutTracker, TransientProblemFailsWhenItOutlastsItsGrace) {
  auto t = Tracker(TrackerOptions{60s, 2});
  auto step = t.OnPod("ADDED", Pod("web-1", "ErrImagePull", "not found"), kStart + 1s);
  EXPECT_FALSE(step.outcome);
  EXPECT_EQ(t.NextDue(), kStart + 61s);
  step =
      t.OnPod("MODIFIED", Pod("web-1", "ImagePullBackOff", "Back-off pulling image"), kStart + 30s);
  EXPECT_FALSE(step.outcome);
  EXPECT_EQ(t.NextDue(), kStart + 61s) << "the same problem: the grace goes on";
  EXPECT_FALSE(t.OnTime(kStart + 60s).outcome);
  step = t.OnTime(kStart + 61s);
  ASSERT_TRUE(step.outcome);
  EXPECT_EQ(*step.outcome,
            (Outcome{Kind::kFailure,
                     "Deployment/web: pod web-1 container web: ImagePullBackOff: Back-off pulling "
                     "image"}));
}

TEST(RolloutTracker, TransientProblemThatWentAwayStartsItsGraceAgain) {
  auto t = Tracker(TrackerOptions{60s, 2});
  t.OnPod("ADDED", Pod("web-1", "ErrImagePull", "timeout"), kStart + 1s);
  t.OnPod("MODIFIED", Pod("web-1", "", ""), kStart + 10s);
  EXPECT_FALSE(t.NextDue());
  t.OnPod("MODIFIED", Pod("web-1", "ErrImagePull", "timeout"), kStart + 50s);
  EXPECT_EQ(t.NextDue(), kStart + 110s);
  EXPECT_FALSE(t.OnTime(kStart + 61s).outcome);
  EXPECT_TRUE(t.OnPod("MODIFIED", Pod("web-1", "ErrImagePull", "timeout"), kStart + 110s).outcome)
      << "seen again after its grace: fails at once";
}

TEST(RolloutTracker, PodsOfOlderRolloutsAreNotLookedAt) {
  auto t = Tracker();
  auto step =
      t.OnPod("ADDED", Pod("web-old", "CrashLoopBackOff", "back-off", 7, "2027-01-15T07:59:59Z"),
              kStart + 1s);
  EXPECT_FALSE(step.outcome);
  EXPECT_TRUE(step.progress.empty());
  EXPECT_EQ(t.Cause(), "");
}

TEST(RolloutTracker, RedeployAfterAFailureIsJudgedOnTheNewGeneration) {
  auto t = Tracker();
  // The previous rollout's condition is still there until the controller observes generation 3.
  auto step = t.OnObject("ADDED", WithDeadlineExceeded(Deployment(3, 2, 1, 0), "web-5d4f8c7b9d"),
                         kStart + 1s);
  EXPECT_FALSE(step.outcome);
  EXPECT_EQ(t.Pending(), "waiting for the controller to observe generation 3 (observed 2)");
  step = t.OnObject("MODIFIED", Deployment(3, 3, 2, 2), kStart + 2s);
  ASSERT_TRUE(step.outcome);
  EXPECT_EQ(*step.outcome, (Outcome{Kind::kSuccess, "Deployment completed successfully."}));
}

TEST(RolloutTracker, DeletedWhileWaiting) {
  auto t = Tracker();
  EXPECT_EQ(*t.OnObject("DELETED", Deployment(1, 1, 0, 0), kStart + 1s).outcome,
            (Outcome{Kind::kFailure, "Deployment/web was deleted while waiting for its rollout"}));
}

TEST(RolloutTracker, OtherKindsAreNamedInTheirVerdicts) {
  RolloutTracker t(Rule::kStatefulSet, "StatefulSet", "db", kStart, TrackerOptions{});
  json s = {{"metadata", {{"name", "db"}, {"generation", 1}}},
            {"spec", {{"replicas", 1}}},
            {"status",
             {{"observedGeneration", 1},
              {"readyReplicas", 1},
              {"currentRevision", "a"},
              {"updateRevision", "a"}}}};
  EXPECT_EQ(*t.OnObject("ADDED", s, kStart).outcome,
            (Outcome{Kind::kSuccess, "StatefulSet/db: statefulset \"db\" rolled out"}));
}

}  // namespace
}  // namespace deployd::rollout
