// hookd's GitHub deployments and statuses, against a fake GitHub API that checks and records every
// call, real Postgres and in-process hookd replicas (plus the real binary for start-up errors).
#include <filesystem>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "fake_github.hpp"
#include "harness.hpp"
#include "hookd/store/migrate.hpp"
#include "support/fake_deployd.hpp"
#include "support/fake_timers.hpp"
#include "support/http_call.hpp"
#include "support/process.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kBaseUrl = "https://deploy.example.com";

std::vector<std::string> States(const std::vector<json>& statuses) {
  std::vector<std::string> out;
  out.reserve(statuses.size());
  for (const auto& s : statuses) out.push_back(s.value("state", ""));
  return out;
}

class Github : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.Available()) GTEST_SKIP() << "no test database";
    dir_ = testsupport::MakeTempDir("hookd-github");
    key_file_ = dir_ + "/app.pem";
    github_.WriteKeyFile(key_file_);
    github_.AddTeam("navikt", "aura", {"app", "other-app"});
    github_.AddTeam("navikt", "noaccess", {});
    pqxx::connection conn(db_.Url());
    hookd::store::Migrate(conn);
    api_key_ = ProvisionKey(db_.Url(), "aura");
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  hookd::Config GithubConfig() {
    auto c = TestConfig(db_.Url(), false, true);
    c.base_url = kBaseUrl;
    c.github_enabled = true;
    c.github_app_id = FakeGithub::kAppId;
    c.github_install_id = FakeGithub::kInstallId;
    c.github_key_file = key_file_;
    c.github_api_url = github_.Url();
    c.github_create_timeout = 10s;  // the fake answers at once unless a test holds it
    c.github_retry_base = 20ms;
    c.github_retry_cap = 200ms;
    c.github_poll_interval = 100ms;
    return c;
  }

  // `timers`: hookd's clock (the system's when null).
  static std::unique_ptr<hookd::App> Start(const hookd::Config& config,
                                           const common::Timers* timers = nullptr) {
    auto app = std::make_unique<hookd::App>(config, timers);
    app->Start();
    return app;
  }

  static std::shared_ptr<grpc::Channel> Channel(hookd::App& app) {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(app.GrpcPort()),
                               grpc::InsecureChannelCredentials());
  }

  // POST /api/v1/deploy, signed with the team's key; `name` keeps bodies apart.
  Reply Deploy(hookd::App& app, const std::string& name, const std::string& team = "aura",
               const std::string& key = "", const std::string& repository = "app") {
    json body = {
        {"resources", json::array({{{"apiVersion", "v1"},
                                    {"kind", "ConfigMap"},
                                    {"metadata", {{"name", name}, {"namespace", team}}}}})},
        {"team", team},
        {"cluster", "dev"},
        {"environment", "dev-fss"},
        {"ref", "0123abc"},
        {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()}};
    if (!repository.empty()) {
      body["owner"] = "navikt";
      body["repository"] = repository;
    }
    const std::string text = body.dump();
    const std::string& signing_key = key.empty() ? api_key_ : key;
    return Call(app.HttpPort(), "POST", "/api/v1/deploy", text,
                {{"Content-Type", "application/json"},
                 {"X-NAIS-Signature", common::HexEncode(common::HmacSha256(signing_key, text))}});
  }

  // github_deployment.phase of a deployment ("" when it has no row).
  std::string Phase(const std::string& id) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(
        "SELECT phase || '|' || last_error FROM github_deployment WHERE deployment_id = $1", id);
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }

  std::optional<long long> StoredGithubId(const std::string& id) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params("SELECT github_id FROM deployment WHERE id = $1", id);
    if (rows.empty() || rows[0][0].is_null()) return std::nullopt;
    return rows[0][0].as<long long>();
  }

  std::vector<std::string> StoredMessages(const std::string& id) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    std::vector<std::string> out;
    for (const auto& r : tx.exec_params(
             "SELECT message FROM deployment_status WHERE deployment_id = $1 ORDER BY created",
             id)) {
      out.push_back(r[0].as<std::string>());
    }
    return out;
  }

  bool WaitForPhase(const std::string& id, const std::string& phase,
                    std::chrono::milliseconds timeout = 30s) {
    return github_.WaitUntil([&] { return Phase(id).rfind(phase + "|", 0) == 0; }, timeout);
  }

  int Answered(const std::string& route, int status) {
    int n = 0;
    for (const auto& c : github_.Calls(route)) n += c.answered == status ? 1 : 0;
    return n;
  }

  testsupport::TestDatabase db_;
  FakeGithub github_;
  std::string dir_;
  std::string key_file_;
  std::string api_key_;
};

TEST_F(Github, AFullDeploymentIsMirroredInOrderOnce) {
  auto app = Start(GithubConfig());
  FakeDeployd deployd(Channel(*app), "dev", kDeploydKey);
  auto reply = Deploy(*app, "full");
  ASSERT_EQ(reply.status, 201) << reply.body;
  const json body = json::parse(reply.body);
  const std::string id = body["correlationID"];

  // The 201 carries the GitHub deployment, as GitHub returned it; its id is stored (bigint).
  ASSERT_TRUE(body.contains("githubDeployment")) << reply.body;
  const long long github_id = body["githubDeployment"]["id"];
  EXPECT_GE(github_id, FakeGithub::kFirstDeploymentId);
  EXPECT_EQ(body["githubDeployment"]["task"], "NAIS_DIRECT_DEPLOY");
  EXPECT_EQ(StoredGithubId(id), github_id);

  // Token exchange (JWT verified by the fake), access check, creation, in this order.
  auto calls = github_.Calls();
  ASSERT_GE(calls.size(), 4U);
  EXPECT_EQ(calls[0].route, "token");
  EXPECT_EQ(calls[0].target,
            std::string("/app/installations/") + FakeGithub::kInstallId + "/access_tokens");
  EXPECT_EQ(calls[1].route, "team");
  EXPECT_EQ(calls[1].target, "/orgs/navikt/teams/aura");
  EXPECT_EQ(calls[2].route, "access");
  EXPECT_EQ(calls[2].target,
            "/organizations/" + std::to_string(FakeGithub::kOrgId) + "/team/9000/repos/navikt/app");
  EXPECT_EQ(calls[3].route, "create");
  EXPECT_EQ(calls[3].target, "/repos/navikt/app/deployments");
  EXPECT_EQ(calls[3].Json(), (json{{"ref", "0123abc"},
                                   {"task", "NAIS_DIRECT_DEPLOY"},
                                   {"auto_merge", false},
                                   {"required_contexts", json::array()},
                                   {"environment", "dev-fss"}}));
  EXPECT_NE(calls[3].headers["accept"].find("flash-preview"), std::string::npos);
  EXPECT_FALSE(calls[3].headers["user-agent"].empty());

  // deployd's statuses: in_progress three times (GitHub gets the first), then success with a
  // message whose 140th byte is inside a two-byte character.
  auto delivered = deployd.Next();
  ASSERT_TRUE(delivered.has_value());
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "Successfully applied ConfigMap full").ok());
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "All resources saved to Kubernetes").ok());
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "ConfigMap/full (Created): fine").ok());
  const std::string long_message = std::string(139, 'a') + "\xc3\xb8" + std::string(50, 'b');
  ASSERT_TRUE(deployd.Report(id, pb::success, long_message).ok());

  ASSERT_TRUE(WaitForPhase(id, "done")) << Phase(id);
  const auto statuses = github_.Statuses(github_id);
  ASSERT_EQ(States(statuses), (std::vector<std::string>{"queued", "in_progress", "success"}));
  const auto messages = StoredMessages(id);
  EXPECT_EQ(statuses[0]["description"], messages.front());
  EXPECT_EQ(statuses[1]["description"], "Successfully applied ConfigMap full");
  EXPECT_EQ(statuses[2]["description"], std::string(139, 'a'));
  const std::string log_url = body["logURL"].get<std::string>() + "&cluster=dev";
  EXPECT_EQ(log_url.rfind(std::string(kBaseUrl) + "/logs?delivery_id=" + id + "&ts=", 0), 0U);
  for (const auto& s : statuses) EXPECT_EQ(s["log_url"], log_url);
  EXPECT_EQ(github_.Calls("token").size(), 1U);  // the installation token is reused
  EXPECT_TRUE(github_.Problems().empty()) << github_.Problems().front();

  auto metrics = Call(app->HttpPort(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("deployment_hookd_github_requests{repository=\"navikt/app\","
                              "status_code=\"201\",team=\"aura\"} 5"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("deployment_hookd_github_requests{repository=\"navikt/app\","
                              "status_code=\"200\",team=\"aura\"} 2"),
            std::string::npos);
}

TEST_F(Github, WithoutTeamAccessOrRepositoryNothingIsCreated) {
  auto app = Start(GithubConfig());
  // The team has no access to the repository.
  auto reply = Deploy(*app, "no-repo-access", "aura", "", "secret-app");
  ASSERT_EQ(reply.status, 201) << reply.body;
  EXPECT_FALSE(json::parse(reply.body).contains("githubDeployment"));
  const std::string denied = json::parse(reply.body)["correlationID"];
  EXPECT_EQ(Phase(denied), "skipped|team has no admin access to repository");
  // The team does not exist on GitHub.
  const std::string other_key = ProvisionKey(db_.Url(), "ghost");
  auto ghost = Deploy(*app, "ghost", "ghost", other_key);
  ASSERT_EQ(ghost.status, 201) << ghost.body;
  EXPECT_EQ(Phase(json::parse(ghost.body)["correlationID"]),
            "skipped|team does not exist on GitHub");
  // No repository named: no GitHub work at all.
  const auto before = github_.Calls().size();
  auto plain = Deploy(*app, "plain", "aura", "", "");
  ASSERT_EQ(plain.status, 201) << plain.body;
  EXPECT_EQ(Phase(json::parse(plain.body)["correlationID"]), "");
  EXPECT_EQ(github_.Calls().size(), before);
  EXPECT_TRUE(github_.Calls("create").empty());
  EXPECT_TRUE(github_.Problems().empty());
}

TEST_F(Github, TokensAreCachedRenewedBeforeExpiryAndReplacedAfter401) {
  auto app = Start(GithubConfig());
  auto queued_sent = [&](int n) {
    return github_.WaitUntil([&] { return Answered("status", 201) == n; });
  };
  // One token for everything while it is valid for more than five minutes.
  ASSERT_EQ(Deploy(*app, "t1").status, 201);
  ASSERT_EQ(Deploy(*app, "t2").status, 201);
  ASSERT_TRUE(queued_sent(2));
  EXPECT_EQ(github_.Calls("token").size(), 1U);

  // GitHub revokes the token: the next call gets 401, hookd gets a new token and goes on.
  github_.RevokeTokens();
  auto revoked = Deploy(*app, "t3");
  ASSERT_EQ(revoked.status, 201);
  EXPECT_TRUE(json::parse(revoked.body).contains("githubDeployment"));
  ASSERT_TRUE(queued_sent(3));
  EXPECT_EQ(github_.Calls("token").size(), 2U);
  EXPECT_EQ(Answered("team", 401), 1);

  // A token that expires within five minutes is never used: it is renewed before each call.
  github_.SetTokenLifetime(240s);
  github_.RevokeTokens();
  const auto before = github_.Calls("token").size();
  ASSERT_EQ(Deploy(*app, "t5").status, 201);
  ASSERT_TRUE(queued_sent(4));
  // 401 -> token, team, token, access, token, create, token, status.
  EXPECT_GE(github_.Calls("token").size(), before + 4);
  // Every token exchange carried a valid App JWT and every call a live token.
  EXPECT_TRUE(github_.Problems().empty()) << github_.Problems().front();
  EXPECT_EQ(github_.Deployments().size(), 4U);
}

TEST_F(Github, ASlowGithubNeitherDelaysNorLosesTheDeployment) {
  auto config = GithubConfig();
  config.github_create_timeout = 300ms;
  auto app = Start(config);
  FakeDeployd deployd(Channel(*app), "dev", kDeploydKey);
  github_.HoldCreations(true);
  const auto started = std::chrono::steady_clock::now();
  auto reply = Deploy(*app, "slow");
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(reply.status, 201) << reply.body;
  EXPECT_LT(took, 5s);
  EXPECT_FALSE(json::parse(reply.body).contains("githubDeployment"));
  const std::string id = json::parse(reply.body)["correlationID"];
  ASSERT_TRUE(deployd.Next().has_value());
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "working").ok());
  ASSERT_TRUE(deployd.Report(id, pb::success, "done").ok());
  github_.HoldCreations(false);

  ASSERT_TRUE(WaitForPhase(id, "done")) << Phase(id);
  ASSERT_EQ(github_.Deployments().size(), 1U);
  const long long github_id = github_.Deployments()[0]["id"];
  EXPECT_EQ(StoredGithubId(id), github_id);
  EXPECT_EQ(States(github_.Statuses(github_id)),
            (std::vector<std::string>{"queued", "in_progress", "success"}));
  EXPECT_TRUE(github_.Problems().empty());
}

// hookd and the fake GitHub on one clock that the test moves: the rate limit's reset (a minute
// away), Retry-After (30 s) and the backoff after errors are waited out on it, not in real time.
TEST_F(Github, ServerErrorsAndRateLimitsAreRetriedAndRespected) {
  testsupport::FakeTimers timers(std::chrono::system_clock::now());
  github_.SetClock(timers);
  auto config = GithubConfig();
  config.github_retry_base = 2s;
  config.github_retry_cap = 10s;
  config.github_poll_interval = 5s;
  auto app = Start(config, &timers);
  FakeDeployd deployd(Channel(*app), "dev", kDeploydKey);
  github_.FailNext("token", 1, Failure(500));
  github_.FailNext("create", 2, Failure(502));
  const auto reset =
      std::chrono::duration_cast<std::chrono::seconds>(timers.Now().time_since_epoch()).count() +
      60;
  github_.FailNext(
      "status", 1,
      ScriptedAnswer{403,
                     {{"X-RateLimit-Remaining", "0"}, {"X-RateLimit-Reset", std::to_string(reset)}},
                     R"({"message":"API rate limit exceeded"})"});
  github_.FailNext("status", 1, ScriptedAnswer{429, {{"Retry-After", "30"}}, "{}"});
  github_.FailNext("status", 1, Failure(503));

  // The creator's first try fails at once (the token's 500): the request does not wait for it.
  auto reply = Deploy(*app, "flaky");
  ASSERT_EQ(reply.status, 201) << reply.body;
  const std::string id = json::parse(reply.body)["correlationID"];
  ASSERT_TRUE(deployd.Next().has_value());
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "working").ok());
  ASSERT_TRUE(deployd.Report(id, pb::failure, "broken").ok());

  // hookd's sweeper and the pump are parked (both wait on the clock): on to the next wake-up.
  for (int step = 0; step < 1000 && Phase(id).rfind("done", 0) != 0; ++step) {
    ASSERT_TRUE(timers.AwaitWaiting(2));
    const auto next = timers.NextWake();
    ASSERT_TRUE(next.has_value());
    timers.Advance(std::max(std::chrono::nanoseconds(0), *next - timers.SteadyNow()));
  }
  ASSERT_EQ(Phase(id).rfind("done", 0), 0U) << Phase(id);
  ASSERT_EQ(github_.Deployments().size(), 1U);  // the 502s created nothing, no duplicate
  const long long github_id = github_.Deployments()[0]["id"];
  EXPECT_EQ(States(github_.Statuses(github_id)),
            (std::vector<std::string>{"queued", "in_progress", "failure"}));

  // Nothing was sent before the rate limit's reset, nor within Retry-After.
  const auto statuses = github_.Calls("status");
  ASSERT_GE(statuses.size(), 6U);
  EXPECT_EQ(statuses[0].answered, 403);
  EXPECT_GE(statuses[1].at, std::chrono::system_clock::time_point(std::chrono::seconds(reset)));
  EXPECT_EQ(statuses[1].answered, 429);
  EXPECT_GE(statuses[2].at - statuses[1].at, 30s);
  EXPECT_EQ(statuses[2].answered, 503);
  EXPECT_GE(statuses[3].at - statuses[2].at, 1s) << "the backoff after a 503 (jittered 2 s)";
  for (const auto& call : github_.Calls()) {
    if (call.at > statuses[0].at && call.at < statuses[1].at) {
      ADD_FAILURE() << "sent while paused: " << call.target;
    }
  }
  EXPECT_EQ(Answered("token", 500), 1);
  EXPECT_EQ(Answered("create", 502), 2);
  EXPECT_TRUE(github_.Problems().empty());
  auto metrics = Call(app->HttpPort(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("status_code=\"429\""), std::string::npos);
  EXPECT_NE(metrics.body.find("status_code=\"502\""), std::string::npos);
}

TEST_F(Github, StatusesOwedWhenHookdStopsAreSentAfterItsRestart) {
  auto config = GithubConfig();
  config.github_max_attempts = 10000;
  std::string id;
  long long github_id = 0;
  {
    auto first = Start(config);
    FakeDeployd deployd(Channel(*first), "dev", kDeploydKey);
    github_.FailNext("status", 100000, Failure(503));
    auto reply = Deploy(*first, "restart");
    ASSERT_EQ(reply.status, 201) << reply.body;
    id = json::parse(reply.body)["correlationID"];
    github_id = json::parse(reply.body)["githubDeployment"]["id"];
    ASSERT_TRUE(deployd.Next().has_value());
    ASSERT_TRUE(deployd.Report(id, pb::in_progress, "working").ok());
    ASSERT_TRUE(deployd.Report(id, pb::success, "done").ok());
    ASSERT_TRUE(github_.WaitUntil([&] { return Answered("status", 503) >= 2; }));
    first->Stop();
  }
  EXPECT_TRUE(github_.Statuses(github_id).empty());
  github_.ClearFailures();
  auto second = Start(config);
  ASSERT_TRUE(WaitForPhase(id, "done")) << Phase(id);
  EXPECT_EQ(States(github_.Statuses(github_id)),
            (std::vector<std::string>{"queued", "in_progress", "success"}));
  EXPECT_EQ(github_.Deployments().size(), 1U);
  EXPECT_TRUE(github_.Problems().empty());
}

TEST_F(Github, TwoReplicasSendEveryStatusOnceAndInOrder) {
  auto config = GithubConfig();
  config.github_poll_interval = 20ms;
  auto a = Start(config);
  auto b = Start(config);
  FakeDeployd deployd(Channel(*b), "dev", kDeploydKey);
  constexpr int kDeployments = 6;
  std::vector<std::string> ids;
  for (int i = 0; i < kDeployments; ++i) {
    auto reply = Deploy(i % 2 == 0 ? *a : *b, "replica-" + std::to_string(i));
    ASSERT_EQ(reply.status, 201) << reply.body;
    // The replica that took the request creates the GitHub deployment at once.
    EXPECT_TRUE(json::parse(reply.body).contains("githubDeployment")) << reply.body;
    ids.push_back(json::parse(reply.body)["correlationID"]);
  }
  for (int i = 0; i < kDeployments; ++i) ASSERT_TRUE(deployd.Next().has_value());
  for (const auto& id : ids) {
    ASSERT_TRUE(deployd.Report(id, pb::in_progress, "working").ok());
    ASSERT_TRUE(deployd.Report(id, pb::in_progress, "still working").ok());
  }
  for (const auto& id : ids) ASSERT_TRUE(deployd.Report(id, pb::success, "done").ok());
  for (const auto& id : ids) ASSERT_TRUE(WaitForPhase(id, "done")) << Phase(id);

  ASSERT_EQ(github_.Deployments().size(), static_cast<std::size_t>(kDeployments));
  for (const auto& deployment : github_.Deployments()) {
    EXPECT_EQ(States(github_.Statuses(deployment["id"].get<long long>())),
              (std::vector<std::string>{"queued", "in_progress", "success"}));
  }
  EXPECT_EQ(Answered("status", 201), kDeployments * 3);
  EXPECT_EQ(Answered("create", 201), kDeployments);
  EXPECT_TRUE(github_.Problems().empty());
}

TEST_F(Github, AFloodOfStateChangesStaysBoundedAndTheFinalStateArrivesLast) {
  auto config = GithubConfig();
  config.github_max_attempts = 10000;
  auto app = Start(config);
  FakeDeployd deployd(Channel(*app), "dev", kDeploydKey);
  github_.FailNext("status", 100000, Failure(503));  // nothing is sent while the flood comes
  auto reply = Deploy(*app, "flood");
  ASSERT_EQ(reply.status, 201) << reply.body;
  const std::string id = json::parse(reply.body)["correlationID"];
  const long long github_id = json::parse(reply.body)["githubDeployment"]["id"];
  ASSERT_TRUE(deployd.Next().has_value());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(
        deployd.Report(id, i % 2 == 0 ? pb::in_progress : pb::pending, "step " + std::to_string(i))
            .ok());
  }
  ASSERT_TRUE(deployd.Report(id, pb::success, "done").ok());
  github_.ClearFailures();

  ASSERT_TRUE(WaitForPhase(id, "done")) << Phase(id);
  const auto states = States(github_.Statuses(github_id));
  // 42 state changes; 16 are kept, the last 26 are folded into the newest (the final one).
  EXPECT_EQ(states.size(), 16U);
  EXPECT_EQ(states.front(), "queued");
  EXPECT_EQ(states.back(), "success");
  for (std::size_t i = 1; i < states.size(); ++i) EXPECT_NE(states[i], states[i - 1]) << i;
  auto metrics = Call(app->HttpPort(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("deployment_hookd_github_dropped_total{reason=\"collapsed\"} 26"),
            std::string::npos)
      << metrics.body;
  EXPECT_TRUE(github_.Problems().empty());
}

TEST_F(Github, OverflowingTheQueueIsLoggedAndCounted) {
  auto config = GithubConfig();
  config.github_queue_limit = 1;
  config.github_create_timeout = 100ms;
  auto app = Start(config);
  github_.HoldCreations(true);
  auto first = Deploy(*app, "first");
  auto second = Deploy(*app, "second");
  github_.HoldCreations(false);
  ASSERT_EQ(first.status, 201);
  ASSERT_EQ(second.status, 201);  // the deployment itself goes ahead
  EXPECT_EQ(Phase(json::parse(second.body)["correlationID"]), "");
  ASSERT_TRUE(github_.WaitUntil([&] { return github_.Deployments().size() == 1; }));
  auto metrics = Call(app->HttpPort(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("deployment_hookd_github_dropped_total{reason=\"queue_full\"} 1"),
            std::string::npos)
      << metrics.body;
}

// The log's text format writes quotes in messages as \"; this undoes it.
std::string Output(const testsupport::RunResult& r) {
  std::string out;
  const std::string all = r.out + r.err;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] == '\\' && i + 1 < all.size() && all[i + 1] == '"') continue;
    out += all[i];
  }
  return out;
}

TEST(GithubStartup, MissingSettingsAndKeysAreClearErrors) {
  using testsupport::Run;
  const std::string hookd = testsupport::BinaryPath("hookd");
  auto ids = Run({hookd, "--github-enabled"}, {}, 30s);
  EXPECT_EQ(ids.exit_code, 1);
  EXPECT_NE(ids.err.find("hookd: --github-install-id and --github-app-id must be specified when "
                         "--github-enabled=true"),
            std::string::npos)
      << ids.err;
  auto no_key = Run({hookd, "--github.enabled", "--github-install-id", "2"},
                    {{"HOOKD_GITHUB_APP_ID", "1"}}, 30s);
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_NE(no_key.err.find("hookd: --github-key-file must be specified when "
                            "--github-enabled=true"),
            std::string::npos)
      << no_key.err;

  const std::string dir = testsupport::MakeTempDir("hookd-github-key");
  const std::string missing = dir + "/missing.pem";
  auto unreadable = Run({hookd, "--github-enabled", "--github-app-id", "1", "--github-install-id",
                         "2", "--github-key-file", missing, "--database-connect-timeout", "1s"},
                        {}, 30s);
  EXPECT_EQ(unreadable.exit_code, 1);
  EXPECT_NE(Output(unreadable)
                .find("Fatal error: cannot instantiate Github installation client: unable to "
                      "read key file \"" +
                      missing + "\": No such file or directory"),
            std::string::npos)
      << unreadable.out << unreadable.err;

  const std::string garbage = dir + "/garbage.pem";
  testsupport::WriteFile(garbage, "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n");
  auto bad = Run({hookd, "--github-enabled", "--github-app-id", "1", "--github-install-id", "2",
                  "--github-key-file", garbage, "--database-connect-timeout", "1s"},
                 {}, 30s);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(
      Output(bad).find("Fatal error: cannot instantiate Github installation client: key file \"" +
                       garbage + "\" holds no PEM-encoded RSA private key"),
      std::string::npos)
      << bad.out << bad.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
