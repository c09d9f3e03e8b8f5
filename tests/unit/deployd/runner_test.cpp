#include "deployd/agent/runner.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <mutex>
#include <vector>

#include "common/error.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"

namespace deployd::agent {
namespace {

using namespace std::chrono_literals;

class FakeClock final : public common::Clock {
 public:
  common::SystemTime Now() const override { return now; }
  common::SystemTime now = common::SystemTime(std::chrono::seconds(1'800'000'000));
};

struct RecordingSink final : StatusSink {
  void Report(pb::DeploymentStatus status) override {
    std::lock_guard lock(mutex);
    statuses.push_back(std::move(status));
  }
  std::mutex mutex;
  std::vector<std::string> Lines() const {
    std::vector<std::string> out;
    for (const auto& s : statuses) out.push_back(common::StateName(s.state()) + " " + s.message());
    return out;
  }
  std::vector<pb::DeploymentStatus> statuses;
};

struct FakeCluster final : TeamCluster {
  explicit FakeCluster(std::vector<nlohmann::json>& log) : applied(log) {}
  nlohmann::json Apply(const nlohmann::json& object) override {
    applied.push_back(object);
    auto name = object["metadata"].value("name", "");
    auto it = failures.find(name);
    if (it != failures.end()) throw common::Error(common::ErrorCode::kPermissionDenied, it->second);
    return object;
  }
  std::optional<Verdict> AwaitRollout(const nlohmann::json& object, common::SystemTime,
                                      const std::function<void(const std::string&)>&) override {
    auto it = verdicts.find(object["metadata"].value("name", ""));
    if (it == verdicts.end()) return std::nullopt;
    return it->second;
  }
  std::vector<nlohmann::json>& applied;
  std::map<std::string, std::string> failures;
  std::map<std::string, Verdict> verdicts;
};

struct FakeFactory final : ClusterFactory {
  std::unique_ptr<TeamCluster> ForTeam(const std::string& team) override {
    teams.push_back(team);
    auto c = std::make_unique<FakeCluster>(applied);
    c->failures = failures;
    c->verdicts = verdicts;
    return c;
  }
  std::vector<std::string> teams;
  std::map<std::string, std::string> failures;
  std::map<std::string, Verdict> verdicts;
  std::vector<nlohmann::json> applied;  // outlives the per-deployment cluster
};

class RunnerTest : public ::testing::Test {
 protected:
  pb::DeploymentRequest Request(const std::vector<std::string>& resources) {
    pb::DeploymentRequest r;
    r.set_id("11111111-2222-4333-8444-555555555555");
    r.set_team("aura");
    r.set_cluster("local");
    *r.mutable_deadline() = common::ToTimestamp(clock.now + 60s);
    for (const auto& text : resources) {
      *r.mutable_kubernetes()->add_resources() = common::JsonToStruct(nlohmann::json::parse(text));
    }
    return r;
  }
  FakeClock clock;
  RecordingSink sink;
  FakeFactory factory;
};

constexpr const char* kConfigMap =
    R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"foo","namespace":"aura"},"data":{"a":"b"}})";
constexpr const char* kNamespace = R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"aura"}})";
constexpr const char* kDeployment =
    R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"aura"}})";

TEST_F(RunnerTest, SuccessfulConfigMap) {
  auto request = Request({kConfigMap});
  RunDeployment(request, factory, sink, clock);
  EXPECT_EQ(sink.Lines(), std::vector<std::string>({
                              "in_progress Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=foo",
                              "in_progress All resources saved to Kubernetes; waiting for completion",
                              "success Deployment completed successfully.",
                          }));
  EXPECT_EQ(factory.teams, std::vector<std::string>({"aura"}));
  ASSERT_EQ(factory.applied.size(), 1U);
  EXPECT_EQ(factory.applied[0]["metadata"]["annotations"]["nais.io/deploymentCorrelationID"],
            request.id());
  EXPECT_EQ(factory.applied[0]["data"]["a"], "b");
  for (const auto& s : sink.statuses) {
    EXPECT_EQ(s.request().id(), request.id());
    EXPECT_EQ(s.request().team(), "aura");
    EXPECT_EQ(s.request().cluster(), "local");
    EXPECT_EQ(common::FromTimestamp(s.time()), clock.now);
    // The manifests are left out of statuses (hookd only reads the request's ID).
    EXPECT_FALSE(s.request().has_kubernetes());
  }
}

TEST_F(RunnerTest, NamespacesFirstThenTheGivenOrder) {
  RunDeployment(Request({kDeployment, kConfigMap, kNamespace}), factory, sink, clock);
  ASSERT_EQ(factory.applied.size(), 3U);
  EXPECT_EQ(factory.applied[0]["kind"], "Namespace");
  EXPECT_EQ(factory.applied[1]["kind"], "Deployment");
  EXPECT_EQ(factory.applied[2]["kind"], "ConfigMap");
  EXPECT_EQ(sink.Lines()[0], "in_progress Successfully applied /v1, Kind=Namespace, Name=aura");
}

TEST_F(RunnerTest, ApplyErrorStopsAndFailsWithTheOriginalFormat) {
  factory.failures["web"] = "applying resource: forbidden";
  RunDeployment(Request({kDeployment, kConfigMap}), factory, sink, clock);
  EXPECT_EQ(sink.Lines(),
            std::vector<std::string>({
                "in_progress All resources saved to Kubernetes; waiting for completion",
                "failure apps/v1, Kind=Deployment, Namespace=aura, Name=web: applying resource: "
                "forbidden (total of 1 errors)",
            }));
  EXPECT_EQ(factory.applied.size(), 1U) << "nothing after the failing resource is written";
}

TEST_F(RunnerTest, WatcherVerdictsAreRelabelledAndCounted) {
  factory.verdicts["web"] = Verdict{pb::DeploymentState::error,
                                    "timeout while waiting for deployment to succeed"};
  factory.verdicts["foo"] = Verdict{pb::DeploymentState::success, "Deployment completed successfully."};
  RunDeployment(Request({kDeployment, kConfigMap}), factory, sink, clock);
  auto lines = sink.Lines();
  ASSERT_EQ(lines.size(), 6U);
  // Watchers run in parallel: their relabelled verdicts come in any order.
  std::multiset<std::string> middle(lines.begin() + 2, lines.begin() + 5);
  EXPECT_EQ(middle, std::multiset<std::string>({
                        "in_progress All resources saved to Kubernetes; waiting for completion",
                        "in_progress timeout while waiting for deployment to succeed",
                        "in_progress Deployment completed successfully.",
                    }));
  EXPECT_EQ(lines[5], "failure timeout while waiting for deployment to succeed (total of 1 errors)");
}

TEST_F(RunnerTest, ExpiredOrMissingDeadline) {
  auto request = Request({kConfigMap});
  request.clear_deadline();
  RunDeployment(request, factory, sink, clock);
  EXPECT_EQ(sink.Lines(), std::vector<std::string>({"failure context deadline exceeded"}));
  EXPECT_TRUE(factory.teams.empty());
}

TEST_F(RunnerTest, NoResources) {
  RunDeployment(Request({}), factory, sink, clock);
  EXPECT_EQ(sink.Lines(), std::vector<std::string>({"failure no resources to deploy"}));
}

TEST_F(RunnerTest, ResourceWithoutKind) {
  RunDeployment(Request({kConfigMap, R"({"metadata":{"name":"x"}})"}), factory, sink, clock);
  EXPECT_EQ(sink.Lines(),
            std::vector<std::string>(
                {R"(failure resource 2: decoding payload: Object 'Kind' is missing in '{"metadata":{"name":"x"}}')"}));
}

TEST(RunnerHelpers, TeamServiceAccountAndSummary) {
  EXPECT_EQ(TeamServiceAccount("aura"), "system:serviceaccount:aura:serviceuser-aura");
  EXPECT_EQ(FailureSummary("oops", 2), "oops (total of 2 errors)");
}

}  // namespace
}  // namespace deployd::agent
