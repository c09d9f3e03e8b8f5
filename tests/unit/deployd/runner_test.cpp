#include "deployd/agent/runner.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "support/fake_clock.hpp"

namespace deployd::agent {
namespace {

using namespace std::chrono_literals;

using testsupport::FakeClock;

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

struct FakeCluster final : AsyncTeamCluster {
  explicit FakeCluster(std::vector<nlohmann::json>& log) : applied(log) {}
  net::awaitable<nlohmann::json> Apply(nlohmann::json object) override {
    applied.push_back(object);
    auto name = object["metadata"].value("name", "");
    auto it = failures.find(name);
    if (it != failures.end()) throw common::Error(common::ErrorCode::kPermissionDenied, it->second);
    co_return object;
  }
  net::awaitable<std::optional<Verdict>> AwaitRollout(nlohmann::json object, common::SystemTime,
                                                      ProgressFn) override {
    auto it = verdicts.find(object["metadata"].value("name", ""));
    if (it == verdicts.end()) co_return std::nullopt;
    co_return it->second;
  }
  std::vector<nlohmann::json>& applied;
  std::map<std::string, std::string> failures;
  std::map<std::string, Verdict> verdicts;
};

struct FakeFactory final : AsyncClusterFactory {
  std::unique_ptr<AsyncTeamCluster> ForTeam(const std::string& team) override {
    teams.push_back(team);
    if (make) return make(applied);
    auto c = std::make_unique<FakeCluster>(applied);
    c->failures = failures;
    c->verdicts = verdicts;
    return c;
  }
  std::vector<std::string> teams;
  std::map<std::string, std::string> failures;
  std::map<std::string, Verdict> verdicts;
  std::function<std::unique_ptr<AsyncTeamCluster>(std::vector<nlohmann::json>&)> make;
  std::vector<nlohmann::json> applied;  // outlives the per-deployment cluster
};

// Runs one deployment to its end as the engine does, on an io_context of one thread (this one).
void RunDeployment(const pb::DeploymentRequest& request, AsyncClusterFactory& clusters,
                   StatusSink& sink, const common::Clock& clock, const RunOptions& options) {
  net::io_context io(1);
  net::co_spawn(io, RunDeploymentAsync(request, clusters, sink, clock, options), net::detached);
  io.run();
}

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
  RunOptions options{"local", nullptr, nullptr};
};

constexpr const char* kConfigMap =
    R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"foo","namespace":"aura"},"data":{"a":"b"}})";
constexpr const char* kNamespace =
    R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"aura"}})";
constexpr const char* kDeployment =
    R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"aura"}})";

TEST_F(RunnerTest, SuccessfulConfigMap) {
  auto request = Request({kConfigMap});
  RunDeployment(request, factory, sink, clock, options);
  EXPECT_EQ(sink.Lines(),
            std::vector<std::string>({
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
  RunDeployment(Request({kDeployment, kConfigMap, kNamespace}), factory, sink, clock, options);
  ASSERT_EQ(factory.applied.size(), 3U);
  EXPECT_EQ(factory.applied[0]["kind"], "Namespace");
  EXPECT_EQ(factory.applied[1]["kind"], "Deployment");
  EXPECT_EQ(factory.applied[2]["kind"], "ConfigMap");
  EXPECT_EQ(sink.Lines()[0], "in_progress Successfully applied /v1, Kind=Namespace, Name=aura");
}

TEST_F(RunnerTest, ApplyErrorStopsAndFailsWithTheOriginalFormat) {
  factory.failures["web"] = "applying resource: forbidden";
  RunDeployment(Request({kDeployment, kConfigMap}), factory, sink, clock, options);
  EXPECT_EQ(sink.Lines(),
            std::vector<std::string>({
                "in_progress All resources saved to Kubernetes; waiting for completion",
                "failure apps/v1, Kind=Deployment, Namespace=aura, Name=web: applying resource: "
                "forbidden (total of 1 errors)",
            }));
  EXPECT_EQ(factory.applied.size(), 1U) << "nothing after the failing resource is written";
}

TEST_F(RunnerTest, WatcherVerdictsAreRelabelledAndCounted) {
  factory.verdicts["web"] =
      Verdict{pb::DeploymentState::error, "timeout while waiting for deployment to succeed"};
  factory.verdicts["foo"] =
      Verdict{pb::DeploymentState::success, "Deployment completed successfully."};
  RunDeployment(Request({kDeployment, kConfigMap}), factory, sink, clock, options);
  auto lines = sink.Lines();
  ASSERT_EQ(lines.size(), 6U);
  // Watchers run in parallel: their relabelled verdicts come in any order.
  std::multiset<std::string> middle(lines.begin() + 2, lines.begin() + 5);
  EXPECT_EQ(middle, std::multiset<std::string>({
                        "in_progress All resources saved to Kubernetes; waiting for completion",
                        "in_progress timeout while waiting for deployment to succeed",
                        "in_progress Deployment completed successfully.",
                    }));
  EXPECT_EQ(lines[5],
            "failure timeout while waiting for deployment to succeed (total of 1 errors)");
}

TEST_F(RunnerTest, ExpiredOrMissingDeadline) {
  auto request = Request({kConfigMap});
  request.clear_deadline();
  RunDeployment(request, factory, sink, clock, options);
  EXPECT_EQ(sink.Lines(), std::vector<std::string>({"failure context deadline exceeded"}));
  EXPECT_TRUE(factory.teams.empty());
}

TEST_F(RunnerTest, NoResources) {
  RunDeployment(Request({}), factory, sink, clock, options);
  EXPECT_EQ(sink.Lines(), std::vector<std::string>({"failure no resources to deploy"}));
}

TEST_F(RunnerTest, ResourceWithoutKind) {
  RunDeployment(Request({kConfigMap, R"({"metadata":{"name":"x"}})"}), factory, sink, clock,
                options);
  EXPECT_EQ(
      sink.Lines(),
      std::vector<std::string>(
          {R"(failure resource 2: decoding payload: Object 'Kind' is missing in '{"metadata":{"name":"x"}}')"}));
}

// ---- identities are checked before anything reaches Kubernetes -------------------------------

constexpr const char* kLabelRule =
    "must be a lowercase RFC 1123 label: at most 63 characters, lower case alphanumeric "
    "characters or '-', starting and ending with an alphanumeric character (e.g. 'my-name', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

TEST_F(RunnerTest, TeamThatIsNotADnsLabelIsRefusedBeforeAnyKubernetesCall) {
  const std::vector<std::pair<std::string, std::string>> teams = {
      // A line break would have become a second header after Impersonate-User.
      {"argocd:argocd-application-controller\r\nX-Injected: 1",
       R"("argocd:argocd-application-controller\r\nX-Injected: 1")"},
      // ... and a colon another user: system:serviceaccount:kube-system:x:serviceuser-...
      {"kube-system:admin", R"("kube-system:admin")"},
      {"Aura", R"("Aura")"},
      {"", R"("")"},
      {std::string("aura\0x", 6), R"("aura\x00x")"},
  };
  for (const auto& [team, quoted] : teams) {
    RecordingSink refused;
    auto request = Request({kConfigMap});
    request.set_team(team);
    RunDeployment(request, factory, refused, clock, options);
    EXPECT_EQ(refused.Lines(),
              std::vector<std::string>({"error invalid team " + quoted + ": " + kLabelRule}));
  }
  EXPECT_TRUE(factory.teams.empty()) << "no cluster was ever asked for";
  EXPECT_TRUE(factory.applied.empty());
}

TEST_F(RunnerTest, RequestForAnotherClusterIsRefused) {
  auto request = Request({kConfigMap});
  request.set_cluster("prod-gcp");
  RunDeployment(request, factory, sink, clock, options);
  EXPECT_EQ(sink.Lines(), std::vector<std::string>({
                              "error deployment request is for cluster \"prod-gcp\", but this "
                              "deployd serves cluster \"local\"",
                          }));
  request.set_cluster("local\r\nX-Injected: 1");
  RecordingSink second;
  RunDeployment(request, factory, second, clock, options);
  EXPECT_EQ(second.Lines(), std::vector<std::string>({
                                "error deployment request is for cluster "
                                "\"local\\r\\nX-Injected: 1\", but this deployd serves cluster "
                                "\"local\"",
                            }));
  EXPECT_TRUE(factory.teams.empty());
  EXPECT_TRUE(factory.applied.empty());
}

// ---- waits are coroutines, not threads ---------------------------------------------------------

std::string NamedDeployment(int i) {
  return nlohmann::json{{"apiVersion", "apps/v1"},
                        {"kind", "Deployment"},
                        {"metadata", {{"name", "web-" + std::to_string(i)}, {"namespace", "aura"}}}}
      .dump();
}

// Waits that end only once every wait of the deployment is in flight at once: on an io_context
// of one thread, that shows every wait is a coroutine (a wait that held a thread, or waits run
// one by one, would never end). Counts are read by the test after the runner has destroyed it.
struct OverlappingCluster final : AsyncTeamCluster {
  OverlappingCluster(int total, int& peak, int& finished)
      : total_(total), peak_(peak), finished_(finished) {}
  net::awaitable<nlohmann::json> Apply(nlohmann::json object) override { co_return object; }
  net::awaitable<std::optional<Verdict>> AwaitRollout(nlohmann::json, common::SystemTime,
                                                      ProgressFn) override {
    auto executor = co_await net::this_coro::executor;
    if (!all_in_) all_in_ = std::make_unique<net::system_timer>(executor);
    ++active_;
    peak_ = std::max(peak_, active_);
    if (active_ == total_) all_in_->cancel();
    while (peak_ < total_) {
      all_in_->expires_at(common::SystemTime::max());
      boost::system::error_code ignored;
      co_await all_in_->async_wait(net::redirect_error(net::use_awaitable, ignored));
    }
    --active_;
    ++finished_;
    co_return Verdict{pb::DeploymentState::success, "Deployment completed successfully."};
  }
  int total_;
  int& peak_;
  int& finished_;
  int active_ = 0;
  std::unique_ptr<net::system_timer> all_in_;
};

TEST_F(RunnerTest, EveryRolloutWaitRunsAtOnceOnTheDeploymentsExecutor) {
  int peak = 0;
  int finished = 0;
  factory.make = [&](std::vector<nlohmann::json>&) {
    return std::make_unique<OverlappingCluster>(200, peak, finished);
  };
  std::vector<std::string> resources;
  for (int i = 0; i < 200; ++i) resources.push_back(NamedDeployment(i));
  RunDeployment(Request(resources), factory, sink, clock, options);
  EXPECT_EQ(finished, 200);
  EXPECT_EQ(peak, 200) << "all at once, on one thread";
  EXPECT_EQ(sink.Lines().back(), "success Deployment completed successfully.");
}

// A wait that fails inside (its watch broke, say) ends its resource with an error; the others
// are still waited for.
TEST_F(RunnerTest, AWaitThatThrowsEndsItsResourceWithAnError) {
  struct Failing final : AsyncTeamCluster {
    net::awaitable<nlohmann::json> Apply(nlohmann::json object) override { co_return object; }
    net::awaitable<std::optional<Verdict>> AwaitRollout(nlohmann::json object, common::SystemTime,
                                                        ProgressFn) override {
      auto name = object["metadata"].value("name", "");
      if (name != "web-0") {
        throw common::Error(common::ErrorCode::kUnavailable,
                            "Deployment/" + name + ": watch ended: connection refused");
      }
      co_return Verdict{pb::DeploymentState::success, "Deployment completed successfully."};
    }
  };
  factory.make = [](std::vector<nlohmann::json>&) { return std::make_unique<Failing>(); };
  RunDeployment(Request({NamedDeployment(0), NamedDeployment(1), NamedDeployment(2)}), factory,
                sink, clock, options);
  auto lines = sink.Lines();
  std::multiset<std::string> seen(lines.begin(), lines.end());
  EXPECT_EQ(seen.count("in_progress Deployment/web-1: watch ended: connection refused"), 1U);
  EXPECT_EQ(seen.count("in_progress Deployment/web-2: watch ended: connection refused"), 1U);
  EXPECT_EQ(seen.count("in_progress Deployment completed successfully."), 1U)
      << "web-0 was waited for";
  EXPECT_EQ(lines.back(),
            "failure Deployment/web-1: watch ended: connection refused (total of 2 errors)");
}

// Whatever goes wrong inside, the deployment ends with a final status.
TEST_F(RunnerTest, UnexpectedExceptionEndsTheDeploymentWithAnError) {
  struct Throwing final : AsyncTeamCluster {
    net::awaitable<nlohmann::json> Apply(nlohmann::json object) override { co_return object; }
    // Not a coroutine: the call itself throws.
    net::awaitable<std::optional<Verdict>> AwaitRollout(nlohmann::json, common::SystemTime,
                                                        ProgressFn) override {
      throw std::runtime_error("boom");
    }
  };
  factory.make = [](std::vector<nlohmann::json>&) { return std::make_unique<Throwing>(); };
  RunDeployment(Request({kDeployment}), factory, sink, clock, options);
  EXPECT_EQ(sink.Lines().back(), "error deployd could not process the deployment: boom");
}

TEST_F(RunnerTest, GivenUpDeploymentAppliesNothingMoreAndReportsNoFinalStatus) {
  // Another deployd takes over the cluster after the first resource was written.
  options.abandoned = [this] { return factory.applied.size() >= 1; };
  RunDeployment(Request({kConfigMap, kDeployment}), factory, sink, clock, options);
  ASSERT_EQ(factory.applied.size(), 1U);
  EXPECT_EQ(sink.Lines(),
            std::vector<std::string>({
                "in_progress Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=foo",
            }));
}

TEST_F(RunnerTest, GivenUpWhileWaitingEndsWithoutAFinalStatus) {
  bool given_up = false;
  factory.make = [&given_up](std::vector<nlohmann::json>& log) {
    auto cluster = std::make_unique<FakeCluster>(log);
    cluster->verdicts["web"] = Verdict{pb::DeploymentState::failure, "Deployment/web: stopped"};
    return cluster;
  };
  options.abandoned = [&given_up] { return given_up; };
  struct GiveUpSink final : StatusSink {
    GiveUpSink(RecordingSink& s, bool& g) : inner(s), flag(g) {}
    void Report(pb::DeploymentStatus status) override {
      if (status.message() == kAllSavedMessage) flag = true;
      inner.Report(std::move(status));
    }
    RecordingSink& inner;
    bool& flag;
  } give_up_sink(sink, given_up);
  RunDeployment(Request({kDeployment}), factory, give_up_sink, clock, options);
  EXPECT_EQ(sink.Lines(),
            std::vector<std::string>({
                "in_progress Successfully applied apps/v1, Kind=Deployment, Namespace=aura, "
                "Name=web",
                "in_progress All resources saved to Kubernetes; waiting for completion",
            }));
}

TEST(RunnerHelpers, TeamServiceAccountAndSummary) {
  EXPECT_EQ(TeamServiceAccount("aura"), "system:serviceaccount:aura:serviceuser-aura");
  EXPECT_EQ(FailureSummary("oops", 2), "oops (total of 2 errors)");
}

}  // namespace
}  // namespace deployd::agent
