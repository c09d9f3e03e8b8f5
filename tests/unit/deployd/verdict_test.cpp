#include "deployd/rollout/verdict.hpp"

#include <gtest/gtest.h>

#include "deployd/agent/rollout_watcher.hpp"
#include "deployd/kube/watch.hpp"
#include "deployment_objects.hpp"

namespace deployd::rollout {
namespace {

using nlohmann::json;

TEST(DeploymentVerdict, GatedOnObservedGeneration) {
  auto a = AssessDeployment(DeploymentObject(2, 1, 2, 2, 2, 2));
  EXPECT_EQ(a.phase, Phase::kInProgress);
  EXPECT_EQ(a.message, "waiting for the controller to observe generation 2 (observed 1)");
  json no_status = {{"metadata", {{"name", "web"}, {"generation", 1}}},
                    {"spec", {{"replicas", 1}}}};
  EXPECT_EQ(AssessDeployment(no_status).phase, Phase::kInProgress);
}

TEST(DeploymentVerdict, KubectlSteps) {
  EXPECT_EQ(AssessDeployment(DeploymentObject(2, 2, 3, 3, 1, 1)).message,
            "1 out of 3 new replicas have been updated");
  EXPECT_EQ(AssessDeployment(DeploymentObject(2, 2, 3, 4, 3, 3)).message,
            "1 old replicas are pending termination");
  EXPECT_EQ(AssessDeployment(DeploymentObject(2, 2, 3, 3, 3, 2)).message,
            "2 of 3 updated replicas are available");
  auto done = AssessDeployment(DeploymentObject(2, 2, 3, 3, 3, 3));
  EXPECT_EQ(done.phase, Phase::kDone);
  EXPECT_EQ(done.message, "deployment \"web\" successfully rolled out");
}

TEST(DeploymentVerdict, ProgressDeadlineExceededFails) {
  auto d = WithDeadlineExceeded(DeploymentObject(2, 2, 3, 3, 1, 0), "web-abc");
  auto a = AssessDeployment(d);
  EXPECT_EQ(a.phase, Phase::kFailed);
  EXPECT_EQ(
      a.message,
      "deployment \"web\" exceeded its progress deadline: ReplicaSet \"web-abc\" has timed out "
      "progressing.");
}

TEST(JobVerdict, CompleteFailedAndFailureTarget) {
  json j = {{"metadata", {{"name", "pi"}}}, {"status", {{"active", 1}}}};
  EXPECT_EQ(AssessJob(j).phase, Phase::kInProgress);
  j["status"]["conditions"] = json::array({{{"type", "Complete"}, {"status", "True"}}});
  EXPECT_EQ(AssessJob(j).phase, Phase::kDone);
  j["status"]["conditions"] =
      json::array({{{"type", "FailureTarget"},
                    {"status", "True"},
                    {"reason", "BackoffLimitExceeded"},
                    {"message", "Job has reached the specified backoff limit"}}});
  auto a = AssessJob(j);
  EXPECT_EQ(a.phase, Phase::kFailed);
  EXPECT_EQ(a.message,
            "job failed: BackoffLimitExceeded: Job has reached the specified backoff limit");
  j["status"]["conditions"] = json::array({{{"type", "Complete"}, {"status", "False"}}});
  EXPECT_EQ(AssessJob(j).phase, Phase::kInProgress) << "the condition status counts";
}

TEST(StatefulSetAndDaemonSet, Rules) {
  json s = {
      {"metadata", {{"name", "db"}, {"generation", 1}}},
      {"spec",
       {{"replicas", 2},
        {"updateStrategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}}}}},
      {"status", {{"observedGeneration", 1}, {"readyReplicas", 1}, {"updatedReplicas", 1}}}};
  EXPECT_EQ(AssessStatefulSet(s).message, "Waiting for 1 pods to be ready");
  s["status"]["readyReplicas"] = 2;
  s["status"]["updatedReplicas"] = 2;
  EXPECT_EQ(AssessStatefulSet(s).phase, Phase::kDone);
  json d = {{"metadata", {{"name", "agent"}, {"generation", 3}}},
            {"status",
             {{"observedGeneration", 3},
              {"desiredNumberScheduled", 2},
              {"updatedNumberScheduled", 2},
              {"numberAvailable", 1}}}};
  EXPECT_EQ(AssessDaemonSet(d).message, "1 of 2 updated pods are available");
  d["status"]["numberAvailable"] = 2;
  EXPECT_EQ(AssessDaemonSet(d).phase, Phase::kDone);
}

TEST(RuleSelection, ByGroupAndKind) {
  EXPECT_EQ(RuleFor("apps", "Deployment", {}), Rule::kDeployment);
  EXPECT_EQ(RuleFor("batch", "Job", {}), Rule::kJob);
  EXPECT_EQ(RuleFor("", "ConfigMap", {}), Rule::kNone);
  EXPECT_EQ(RuleFor("", "Service", json{{"spec", {{"type", "ClusterIP"}}}}), Rule::kNone);
  EXPECT_EQ(RuleFor("", "Service", json{{"spec", {{"type", "LoadBalancer"}}}}),
            Rule::kLoadBalancerService);
  EXPECT_EQ(RuleFor("nais.io", "Application", {}), Rule::kNais);
  EXPECT_EQ(RuleFor("nais.io", "Naisjob", {}), Rule::kNais);
  EXPECT_EQ(RuleFor("rbac.authorization.k8s.io", "Role", {}), Rule::kNone);
  EXPECT_EQ(RuleFor("kafka.nais.io", "Topic", {}), Rule::kConditions);
}

TEST(ConditionsVerdict, ReadyStalledReconciling) {
  json o = {{"metadata", {{"generation", 1}}},
            {"status", {{"observedGeneration", 1}, {"conditions", json::array()}}}};
  EXPECT_EQ(AssessConditions(o).phase, Phase::kDone);
  o["status"]["conditions"] =
      json::array({{{"type", "Ready"}, {"status", "False"}, {"message", "creating"}}});
  EXPECT_EQ(AssessConditions(o).phase, Phase::kInProgress);
  o["status"]["conditions"] = json::array(
      {{{"type", "Stalled"}, {"status", "True"}, {"reason", "BadConfig"}, {"message", "no"}}});
  EXPECT_EQ(AssessConditions(o).phase, Phase::kFailed);
  EXPECT_EQ(AssessConditions(o).message, "BadConfig: no");
  o["metadata"]["generation"] = 2;
  EXPECT_EQ(AssessConditions(o).phase, Phase::kInProgress) << "generation lag";
}

TEST(PodProblems, CrashLoopIsFatalWithEvidence) {
  json pod = {{"metadata", {{"name", "web-5d4f8c7b9d-x7k2p"}}},
              {"status",
               {{"phase", "Running"},
                {"containerStatuses",
                 json::array({{{"name", "web"},
                               {"restartCount", 3},
                               {"state",
                                {{"waiting",
                                  {{"reason", "CrashLoopBackOff"},
                                   {"message", "back-off 40s restarting failed container"}}}}},
                               {"lastState",
                                {{"terminated", {{"reason", "Error"}, {"exitCode", 1}}}}}}})}}}};
  auto problems = PodProblems(pod);
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_TRUE(problems[0].fatal_now);
  EXPECT_EQ(problems[0].message,
            "pod web-5d4f8c7b9d-x7k2p container web: CrashLoopBackOff: back-off 40s restarting "
            "failed container (last exit: Error, code 1, 3 restarts)");
}

TEST(PodProblems, ImagePullIsTransientAndUnschedulableToo) {
  json pod = {{"metadata", {{"name", "web-1"}}},
              {"status",
               {{"phase", "Pending"},
                {"conditions", json::array({{{"type", "PodScheduled"},
                                             {"status", "False"},
                                             {"reason", "Unschedulable"},
                                             {"message", "0/3 nodes are available"}}})},
                {"containerStatuses",
                 json::array({{{"name", "web"},
                               {"state",
                                {{"waiting",
                                  {{"reason", "ImagePullBackOff"},
                                   {"message", "Back-off pulling image \"x\""}}}}}}})}}}};
  auto problems = PodProblems(pod);
  ASSERT_EQ(problems.size(), 2U);
  EXPECT_FALSE(problems[0].fatal_now);
  EXPECT_EQ(problems[0].message, "pod web-1 cannot be scheduled: 0/3 nodes are available");
  EXPECT_FALSE(problems[1].fatal_now);
  EXPECT_EQ(problems[1].message,
            "pod web-1 container web: ImagePullBackOff: Back-off pulling image \"x\"");
  json creating = {
      {"metadata", {{"name", "p"}}},
      {"status",
       {{"containerStatuses",
         json::array(
             {{{"name", "c"}, {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}})}}}};
  EXPECT_TRUE(PodProblems(creating).empty()) << "normal waiting reasons are not problems";
}

TEST(DeploymentVerdict, StaleProgressDeadlineOfAnEarlierGenerationIsNotAFailure) {
  auto d = WithDeadlineExceeded(DeploymentObject(3, 2, 3, 3, 1, 0), "web-abc");
  auto a = AssessDeployment(d);
  EXPECT_EQ(a.phase, Phase::kInProgress);
  EXPECT_EQ(a.message, "waiting for the controller to observe generation 3 (observed 2)");
}

TEST(DeploymentVerdict, ProgressDeadlineNamesTheCause) {
  auto d = WithDeadlineExceeded(DeploymentObject(2, 2, 3, 3, 1, 0), "web-abc");
  EXPECT_EQ(AssessDeployment(d, "pod web-abc-x7k2p container web: ErrImagePull: not found").message,
            "deployment \"web\" exceeded its progress deadline: pod web-abc-x7k2p container web: "
            "ErrImagePull: not found (ReplicaSet \"web-abc\" has timed out progressing.)");
}

TEST(PodProblems, CrashLoopIsFatalOnlyFromTheConfiguredRestartCount) {
  auto pod = [](int restarts) {
    return json{
        {"metadata", {{"name", "web-1"}}},
        {"status",
         {{"phase", "Running"},
          {"containerStatuses",
           json::array({{{"name", "web"},
                         {"restartCount", restarts},
                         {"state",
                          {{"waiting",
                            {{"reason", "CrashLoopBackOff"}, {"message", "back-off 10s"}}}}}}})}}}};
  };
  auto one = PodProblems(pod(1));
  ASSERT_EQ(one.size(), 1U);
  EXPECT_FALSE(one[0].fatal_now) << "one restart is not a crash loop";
  EXPECT_FALSE(one[0].transient);
  EXPECT_EQ(one[0].message, "pod web-1 container web: CrashLoopBackOff: back-off 10s");
  EXPECT_TRUE(PodProblems(pod(2))[0].fatal_now);
  EXPECT_TRUE(PodProblems(pod(1), 1)[0].fatal_now);
  EXPECT_TRUE(PodProblems(pod(0), 0)[0].fatal_now);
  EXPECT_FALSE(PodProblems(pod(4), 5)[0].fatal_now);
  EXPECT_EQ(Assess(Rule::kPod, pod(1), {}).phase, Phase::kInProgress);
  EXPECT_EQ(Assess(Rule::kPod, pod(1), {}, 1).phase, Phase::kFailed);
}

TEST(WatchDecoder, EventsMaySpanChunks) {
  kube::WatchDecoder decoder;
  std::vector<std::string> types;
  auto on = [&](const json& e) {
    types.push_back(e.value("type", ""));
    return true;
  };
  EXPECT_TRUE(decoder.Feed("{\"type\":\"ADDED\",\"object\":{}}\n{\"type\":\"MOD", on));
  EXPECT_TRUE(decoder.Feed("IFIED\",\"object\":{}}\n\n{\"type\":\"BOOKMARK\"}\n", on));
  EXPECT_EQ(types, std::vector<std::string>({"ADDED", "MODIFIED", "BOOKMARK"}));
  EXPECT_FALSE(decoder.Feed("{\"type\":\"ERROR\"}\n{\"type\":\"ADDED\"}\n",
                            [&](const json& e) { return e.value("type", "") != "ERROR"; }));
}

TEST(NaisEvents, NameMatchingLikeTheOriginal) {
  using agent::EventMatchesResource;
  EXPECT_TRUE(EventMatchesResource("myapp", "Application", "myapp"));
  EXPECT_FALSE(EventMatchesResource("myapp", "Application", "myapp-2"));
  EXPECT_TRUE(EventMatchesResource("myapp", "Pod", "myapp-5d4f8c7b9d-x7k2p"));
  EXPECT_TRUE(EventMatchesResource("myapp", "Pod", "myapp-x7k2p"));
  EXPECT_FALSE(EventMatchesResource("myapp", "Pod", "myapp-other-x7k2p"));
  EXPECT_TRUE(EventMatchesResource("myapp", "ReplicaSet", "myapp-5d4f8c7b9d"));
  EXPECT_TRUE(EventMatchesResource("pi", "Job", "pi"));
  EXPECT_TRUE(EventMatchesResource("pi", "Job", "pi-abcde"));
  EXPECT_FALSE(EventMatchesResource("my.app", "Application", "myxapp")) << "names are escaped";
}

TEST(NaisEvents, NaiseratorDecisions) {
  json ev = {{"reportingComponent", "naiserator"},
             {"reason", "RolloutComplete"},
             {"message", "completed"},
             {"involvedObject", {{"kind", "Application"}, {"name", "myapplication"}}},
             {"metadata", {{"annotations", {{"nais.io/deploymentCorrelationID", "id"}}}}}};
  auto v = agent::NaisEventVerdict(ev, "id");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->state, pb::DeploymentState::success);
  EXPECT_EQ(v->message, "Application/myapplication (RolloutComplete): completed");
  ev["reason"] = "FailedSynchronization";
  ev["message"] = "oops";
  EXPECT_EQ(agent::NaisEventVerdict(ev, "id")->message,
            "Application/myapplication (FailedSynchronization): oops");
  EXPECT_EQ(agent::NaisEventVerdict(ev, "id")->state, pb::DeploymentState::failure);
  ev["reason"] = "Synchronized";
  EXPECT_FALSE(agent::NaisEventVerdict(ev, "id").has_value());
  ev["metadata"]["annotations"] = json::object();
  EXPECT_EQ(agent::NaisEventVerdict(ev, "id")->message, agent::kRedeployedMessage);
  ev["reportingComponent"] = "kubelet";
  EXPECT_FALSE(agent::NaisEventVerdict(ev, "id").has_value());
}

}  // namespace
}  // namespace deployd::rollout
