// Exactly once, under single faults, with real processes: kube-sim, hookd (with Postgres) and
// deployd as child processes, the real CLI. Each test asserts on Postgres (exactly one final
// status per deployment and nothing after it) and on kube-sim's request log (each object written
// once).
//
// The chain's own deployd serves cluster "spare"; the tests run their own deployd processes for
// cluster "local" so that they can stop, kill and replace them.
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <signal.h>

#include "support/chain.hpp"
#include "support/cli_env.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;
using testsupport::ChildProcess;

constexpr const char* kApiKey = "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d";

// A ConfigMap with data.version = `version`.
std::string ConfigMap(const std::string& name, const std::string& version) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name +
         "\n  namespace: aura\ndata:\n  version: \"" + version + "\"\n";
}

bool IsFinal(const std::string& state) {
  return state == "success" || state == "failure" || state == "error" || state == "inactive";
}

struct Row {
  std::string state;
  std::string message;
};

class DeploydFaults : public testsupport::ChainFixture {
 protected:
  void SetUp() override {
    testsupport::ChainOptions options;
    options.dir_prefix = "e2e-once";
    options.time_scale = 0.02;
    options.deployd_flags = {"--cluster", "spare"};
    ASSERT_NO_FATAL_FAILURE(StartChainOn(options));
  }

  void TearDown() override {
    for (auto& d : deployds_) {
      if (d) d->Stop();
    }
    chain_.Stop();
  }

  // A deployd for cluster "local", logging to <chain dir>/deployd-<name>.log.
  ChildProcess& StartDeployd(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{BinaryPath("deployd"),
                                  "--cluster",
                                  "local",
                                  "--grpc.server",
                                  chain_.GrpcAddress(),
                                  "--kubeconfig",
                                  chain_.Kubeconfig(),
                                  "--metrics-listen-address",
                                  "127.0.0.1:" + std::to_string(testsupport::FreePort())};
    argv.insert(argv.end(), extra.begin(), extra.end());
    deployds_.push_back(std::make_unique<ChildProcess>(argv, std::map<std::string, std::string>{},
                                                       chain_.Dir() + "/deployd-" + name + ".log"));
    return *deployds_.back();
  }

  static int Count(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos;
         pos = text.find(needle, pos + needle.size()))
      ++n;
    return n;
  }

  template <typename F>
  static bool Poll(std::chrono::milliseconds timeout, F&& done) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (done()) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(100ms);
    }
  }

  // Runs the CLI for one manifest; returns the new deployment's ID (from Postgres).
  std::string Deploy(const std::string& manifest, bool wait,
                     testsupport::RunResult* out = nullptr) {
    const std::string file = chain_.Dir() + "/manifest-" + std::to_string(++files_) + ".yaml";
    testsupport::WriteFile(file, manifest);
    std::vector<std::string> argv = chain_.CliCommand(kApiKey);
    argv.insert(argv.end(), {"--resource", file, "--team", "aura", "--timeout", "120s",
                             wait ? "--wait=true" : "--wait=false"});
    auto result = testsupport::Run(argv, testsupport::CiEnvironment(), 180s);
    if (out != nullptr) *out = result;
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec("SELECT id FROM deployment ORDER BY created DESC LIMIT 1");
    EXPECT_EQ(rows.size(), 1U);
    if (rows.empty()) return "";
    auto id = rows[0][0].as<std::string>();
    EXPECT_TRUE(seen_ids_.insert(id).second) << "no new deployment: " << result.out << result.err;
    return id;
  }

  std::vector<Row> Statuses(const std::string& id) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(
        "SELECT status, message FROM deployment_status WHERE deployment_id = $1 "
        "ORDER BY created, id",
        id);
    std::vector<Row> out;
    for (const auto& row : rows)
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
    return out;
  }

  std::string State(const std::string& id) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params("SELECT state FROM deployment WHERE id = $1", id);
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }

  bool WaitFinal(const std::string& id, std::chrono::milliseconds timeout) {
    return Poll(timeout, [&] { return IsFinal(State(id)); });
  }

  // Requests in deployment_queue for `id` that hookd has written to a deployd stream.
  bool HandedOut(const std::string& id) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(
        "SELECT 1 FROM deployment_queue WHERE deployment_id = $1 AND handed_to IS NOT NULL", id);
    return !rows.empty();
  }

  static std::string Describe(const std::vector<Row>& rows) {
    std::string out;
    for (const auto& r : rows) out += "  " + r.state + ": " + r.message + "\n";
    return out;
  }

  // Exactly one final status, the last one, `state` (and `message` when not empty).
  void ExpectOneFinalLast(const std::string& id, const std::string& state,
                          const std::string& message = "") {
    auto rows = Statuses(id);
    ASSERT_FALSE(rows.empty()) << id;
    int finals = 0;
    for (const auto& r : rows) finals += IsFinal(r.state) ? 1 : 0;
    EXPECT_EQ(finals, 1) << Describe(rows) << Logs();
    EXPECT_EQ(rows.back().state, state) << Describe(rows) << Logs();
    if (!message.empty()) {
      EXPECT_EQ(rows.back().message, message) << Describe(rows);
    }
    EXPECT_EQ(State(id), state);
  }

  // Writes of one object by anyone but the admin, from kube-sim's request log (real kubectl).
  int Writes(const std::string& path) {
    auto result = testsupport::Run({"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context",
                                    "admin", "get", "--raw", "/_sim/requests"},
                                   {}, 60s);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    if (result.exit_code != 0) return -1;
    // A named value: a range-for over a member of a temporary would dangle.
    const auto log = nlohmann::json::parse(result.out);
    int writes = 0;
    for (const auto& entry : log["items"]) {
      if (entry.value("user", "") == "system:admin") continue;
      if (entry.value("path", "") == path && entry.value("method", "") != "GET") ++writes;
    }
    return writes;
  }

  nlohmann::json Get(const std::string& path) {
    auto result = testsupport::Run({"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context",
                                    "admin", "get", "--raw", path},
                                   {}, 60s);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? nlohmann::json::parse(result.out) : nlohmann::json();
  }

  std::string Logs() const {
    std::string out = chain_.Logs();
    for (const auto& d : deployds_) out += "---- " + d->LogPath() + "\n" + d->Log();
    return out;
  }

  std::vector<std::unique_ptr<ChildProcess>> deployds_;
  std::set<std::string> seen_ids_;
  int files_ = 0;
};

constexpr const char* kSuccess = "Deployment completed successfully.";
constexpr const char* kLost = "Deployment has been lost.";

// (a) deployd is frozen (SIGSTOP) while hookd writes a request to it, then thawed: the request is
// confirmed late (or delivered again after a reconnect, and ignored as a copy), applied once and
// ends with exactly one final status.
TEST_F(DeploydFaults, DeploydStoppedWhileARequestIsWrittenAppliesItOnce) {
  auto& a = StartDeployd("a");
  // The first deployment proves the stream is up.
  auto warmup = Deploy(ConfigMap("warmup", "1"), /*wait=*/true);
  ExpectOneFinalLast(warmup, "success", kSuccess);

  ASSERT_EQ(kill(a.Pid(), SIGSTOP), 0);
  auto id = Deploy(ConfigMap("frozen", "1"), /*wait=*/false);
  ASSERT_TRUE(Poll(30s, [&] { return HandedOut(id); })) << Logs();
  EXPECT_FALSE(IsFinal(State(id)));
  ASSERT_EQ(kill(a.Pid(), SIGCONT), 0);

  ASSERT_TRUE(WaitFinal(id, 60s)) << Logs();
  // A later deployment through the same deployd finishes after anything that could still come.
  auto after = Deploy(ConfigMap("after-frozen", "1"), /*wait=*/true);
  ExpectOneFinalLast(after, "success", kSuccess);
  ExpectOneFinalLast(id, "success", kSuccess);
  EXPECT_EQ(Writes("/api/v1/namespaces/aura/configmaps/frozen"), 1);
}

// (a') deployd is frozen while the request is written and then killed, never confirming it; its
// restart gets the request again from hookd (unconfirmed) and applies it once.
TEST_F(DeploydFaults, DeploydKilledBeforeItConfirmedGetsTheRequestAgainAfterARestart) {
  auto& a = StartDeployd("a");
  auto warmup = Deploy(ConfigMap("warmup", "1"), /*wait=*/true);
  ExpectOneFinalLast(warmup, "success", kSuccess);

  ASSERT_EQ(kill(a.Pid(), SIGSTOP), 0);
  auto id = Deploy(ConfigMap("unconfirmed", "1"), /*wait=*/false);
  ASSERT_TRUE(Poll(30s, [&] { return HandedOut(id); })) << Logs();
  ASSERT_EQ(kill(a.Pid(), SIGKILL), 0);
  EXPECT_EQ(a.Wait(10s), 128 + SIGKILL);
  EXPECT_EQ(Writes("/api/v1/namespaces/aura/configmaps/unconfirmed"), 0);

  StartDeployd("b");
  ASSERT_TRUE(WaitFinal(id, 60s)) << Logs();
  auto after = Deploy(ConfigMap("after-restart", "1"), /*wait=*/true);
  ExpectOneFinalLast(after, "success", kSuccess);
  ExpectOneFinalLast(id, "success", kSuccess);
  EXPECT_EQ(Writes("/api/v1/namespaces/aura/configmaps/unconfirmed"), 1);
}

// (a'') hookd is killed (-9) after it wrote a request to a frozen deployd and before deployd
// confirmed it, and restarted: whether deployd reads the request from the dead connection or gets
// it again from the new hookd (unconfirmed), it is applied once and ends with one final status.
TEST_F(DeploydFaults, HookdKilledBetweenWriteAndConfirmationAppliesTheRequestOnce) {
  auto& a = StartDeployd("a");
  auto warmup = Deploy(ConfigMap("warmup", "1"), /*wait=*/true);
  ExpectOneFinalLast(warmup, "success", kSuccess);

  ASSERT_EQ(kill(a.Pid(), SIGSTOP), 0);
  auto id = Deploy(ConfigMap("hookd-killed", "1"), /*wait=*/false);
  ASSERT_TRUE(Poll(30s, [&] { return HandedOut(id); })) << Logs();
  ASSERT_NO_FATAL_FAILURE(chain_.KillAndRestartHookd());
  ASSERT_EQ(kill(a.Pid(), SIGCONT), 0);

  ASSERT_TRUE(WaitFinal(id, 90s)) << Logs();
  auto after = Deploy(ConfigMap("after-hookd-killed", "1"), /*wait=*/true);
  ExpectOneFinalLast(after, "success", kSuccess);
  ExpectOneFinalLast(id, "success", kSuccess);
  EXPECT_EQ(Writes("/api/v1/namespaces/aura/configmaps/hookd-killed"), 1);
}

// (b) kill -9 of deployd in the middle of a rollout, then a restart: hookd ends the lost
// deployment `inactive` once, and nothing comes after it; the Deployment was written once.
TEST_F(DeploydFaults, DeploydKilledMidRolloutEndsTheDeploymentInactiveOnce) {
  auto& a = StartDeployd("a");
  auto id = Deploy(testsupport::NeverReadyDeployment("lost"), /*wait=*/false);
  ASSERT_TRUE(Poll(60s, [&] {
    for (const auto& r : Statuses(id)) {
      if (r.message == "All resources saved to Kubernetes; waiting for completion") return true;
    }
    return false;
  })) << Logs();
  ASSERT_EQ(kill(a.Pid(), SIGKILL), 0);
  EXPECT_EQ(a.Wait(10s), 128 + SIGKILL);

  StartDeployd("b");
  ASSERT_TRUE(WaitFinal(id, 60s)) << Logs();
  auto after = Deploy(ConfigMap("after-kill", "1"), /*wait=*/true);
  ExpectOneFinalLast(after, "success", kSuccess);
  ExpectOneFinalLast(id, "inactive", kLost);
  EXPECT_EQ(Writes("/apis/apps/v1/namespaces/aura/deployments/lost"), 1);
}

// (c) A second deployd for the same cluster: the first one's stream is replaced, the deployment
// it was rolling out ends `inactive` once (hookd), the first deployd reports nothing more and
// never writes again, and the ConfigMap ends at the version deployed through the second one.
TEST_F(DeploydFaults, SecondDeploydTakesOverAndTheOlderOneNeverWritesAgain) {
  auto& a = StartDeployd("a", {"--replaced-backoff", "10m"});
  auto v1 = Deploy(ConfigMap("versioned", "v1"), /*wait=*/true);
  ExpectOneFinalLast(v1, "success", kSuccess);
  auto rollout = Deploy(testsupport::NeverReadyDeployment("held"), /*wait=*/false);
  ASSERT_TRUE(Poll(60s, [&] {
    for (const auto& r : Statuses(rollout)) {
      if (r.message == "All resources saved to Kubernetes; waiting for completion") return true;
    }
    return false;
  })) << Logs();

  auto& b = StartDeployd("b");
  ASSERT_TRUE(Poll(60s, [&] {
    return a.Log().find(R"(another deployd took over cluster \"local\": hookd ended this )"
                        "deployd's stream (replaced by a newer connection for cluster 'local'); "
                        "this deployd stops the deployments it had and connects again in ") !=
           std::string::npos;
  })) << Logs();
  ASSERT_TRUE(Poll(60s, [&] {
    return a.Log().find("gave up 1 deployments (0 not started yet)") != std::string::npos;
  })) << Logs();
  ASSERT_TRUE(WaitFinal(rollout, 60s)) << Logs();

  auto v2 = Deploy(ConfigMap("versioned", "v2"), /*wait=*/true);
  ExpectOneFinalLast(v2, "success", kSuccess);
  ExpectOneFinalLast(v1, "success", kSuccess);
  ExpectOneFinalLast(rollout, "inactive", kLost);

  auto configmap = Get("/api/v1/namespaces/aura/configmaps/versioned");
  EXPECT_EQ(configmap["data"]["version"], "v2");
  EXPECT_EQ(configmap["metadata"]["annotations"]["nais.io/deploymentCorrelationID"], v2);
  EXPECT_EQ(Writes("/api/v1/namespaces/aura/configmaps/versioned"), 2);
  EXPECT_EQ(Writes("/apis/apps/v1/namespaces/aura/deployments/held"), 1);
  // A sent nothing after the takeover (hookd would have refused it: "has already finished").
  EXPECT_EQ(a.Stop(), 0) << a.Log();
  EXPECT_EQ(a.Log().find("hookd rejected status"), std::string::npos) << a.Log();
  EXPECT_EQ(a.Log().find(v2), std::string::npos) << a.Log();
  EXPECT_NE(b.Log().find(v2), std::string::npos) << b.Log();
  ExpectOneFinalLast(rollout, "inactive", kLost);
}

}  // namespace
