// Cancel through the whole chain (real CLI, hookd with Postgres, deployd, kube-sim): a `deploy
// --wait` whose Deployment never becomes ready ends when `deploy cancel` cancels it, and what was
// applied stays; a queued deployment cancelled over the HTTP API is never delivered to the
// deployd that connects later.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "support/chain.hpp"
#include "support/cli_env.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;
using testsupport::ChildProcess;

constexpr const char* kDeploydKey = "e2e-cancel-psk";

std::string ConfigMap(const std::string& name) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name +
         "\n  namespace: aura\ndata:\n  a: b\n";
}

class CancelChain : public testsupport::ChainFixture {
 protected:
  void SetUp() override {
    testsupport::ChainOptions options;
    options.dir_prefix = "e2e-cancel";
    options.authentication = true;
    options.deployd_key = kDeploydKey;
    ASSERT_NO_FATAL_FAILURE(StartChainOn(options));
    apikey_ = testsupport::ProvisionApiKey(db_.Url(), "aura");
  }
  void TearDown() override {
    later_.reset();
    chain_.Stop();
  }

  std::string Manifest(const std::string& text) {
    std::string file = chain_.Dir() + "/manifest-" + std::to_string(++files_) + ".yaml";
    testsupport::WriteFile(file, text);
    return file;
  }

  std::vector<std::string> DeployArgs(const std::string& file, const std::string& cluster,
                                      const std::string& server, bool wait) {
    return {BinaryPath("deploy"),
            "--resource",
            file,
            "--cluster",
            cluster,
            "--team",
            "aura",
            "--apikey",
            apikey_,
            "--deploy-server",
            server,
            "--grpc-use-tls=false",
            wait ? "--wait=true" : "--wait=false",
            "--timeout",
            "120s"};
  }

  testsupport::RunResult CancelCli(const std::string& id, const std::string& server,
                                   const std::string& reason) {
    return testsupport::Run(
        {BinaryPath("deploy"), "cancel", id, "--reason", reason, "--team", "aura", "--apikey",
         apikey_, "--deploy-server", server, "--grpc-use-tls=false", "--timeout", "90s"},
        testsupport::CiEnvironment(), 120s);
  }

  // Polls `query` (one row, one column) until it equals `want`.
  bool WaitFor(const std::string& query, const std::string& want,
               std::chrono::milliseconds timeout = 90s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      pqxx::connection conn(db_.Url());
      pqxx::read_transaction tx(conn);
      auto rows = tx.exec(query);
      if (!rows.empty() && !rows[0][0].is_null() && rows[0][0].as<std::string>() == want) {
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(100ms);
    }
  }

  std::string OnlyValue(const std::string& query) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec(query);
    return rows.empty() || rows[0][0].is_null() ? "" : rows[0][0].as<std::string>();
  }

  testsupport::RunResult Kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context",
                                  "admin"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testsupport::Run(argv, {}, 60s);
  }

  std::string apikey_;
  int files_ = 0;
  std::unique_ptr<ChildProcess> later_;
};

TEST_F(CancelChain, CancelEndsAWaitingDeployAndWhatWasAppliedStays) {
  const std::string file =
      Manifest(ConfigMap("settings") + "---\n" + testsupport::NeverReadyDeployment("stuck"));
  ChildProcess waiting(DeployArgs(file, "local", chain_.GrpcAddress(), true),
                       testsupport::CiEnvironment(), chain_.Dir() + "/deploy-wait.log");
  // Both resources applied; deployd waits for the rollout that never comes.
  ASSERT_TRUE(
      WaitFor("SELECT count(*) FROM deployment_status WHERE message = 'All resources "
              "saved to Kubernetes; waiting for completion'",
              "1"))
      << waiting.Log() << chain_.Logs();
  const std::string id = OnlyValue("SELECT id FROM deployment");
  ASSERT_FALSE(id.empty());

  auto cancel = CancelCli(id, chain_.GrpcAddress(), "wrong image");
  const std::string message =
      "cancelled by team aura (reason: wrong image): 2 of 2 resources had been applied and stay "
      "in the cluster";
  EXPECT_EQ(cancel.exit_code, 0) << cancel.out << cancel.err << chain_.Logs();
  EXPECT_NE(cancel.err.find(message), std::string::npos) << cancel.err;
  EXPECT_NE(cancel.err.find("Deployment " + id + " cancelled."), std::string::npos) << cancel.err;

  // The waiting CLI ends with the cancel: exit 1 (final state failure), saying so.
  EXPECT_EQ(waiting.Wait(90s), 1) << waiting.Log();
  EXPECT_NE(waiting.Log().find(message), std::string::npos) << waiting.Log();
  EXPECT_NE(waiting.Log().find("fatal: deployment was cancelled"), std::string::npos)
      << waiting.Log();

  EXPECT_EQ(OnlyValue("SELECT state FROM deployment WHERE id = '" + id + "'"), "failure");
  EXPECT_EQ(OnlyValue("SELECT message FROM deployment_status WHERE deployment_id = '" + id +
                      "' ORDER BY created DESC, id DESC LIMIT 1"),
            message);
  // What was applied stays.
  auto deployment = Kubectl({"get", "deployment", "stuck", "-n", "aura", "-o", "name"});
  EXPECT_EQ(deployment.exit_code, 0) << deployment.err;
  EXPECT_EQ(deployment.out, "deployment.apps/stuck\n");
  auto cm = Kubectl({"get", "configmap", "settings", "-n", "aura", "-o", "name"});
  EXPECT_EQ(cm.exit_code, 0) << cm.err;

  // Cancelled again: refused (exit 4) with the final state.
  auto again = CancelCli(id, chain_.GrpcAddress(), "again");
  EXPECT_EQ(again.exit_code, 4) << again.err;
  EXPECT_NE(again.err.find("cancel refused: FailedPrecondition: deployment '" + id +
                           "' has already finished (failure); there is nothing to cancel"),
            std::string::npos)
      << again.err;
}

TEST_F(CancelChain, AQueuedDeploymentCancelledOverHttpIsNeverDelivered) {
  // Cluster "later" has no deployd yet: the deployment waits in hookd's queue.
  auto queued = testsupport::Run(
      DeployArgs(Manifest(ConfigMap("withdrawn")), "later", chain_.HttpUrl(), false),
      testsupport::CiEnvironment(), 120s);
  ASSERT_EQ(queued.exit_code, 0) << queued.err;
  const std::string id = OnlyValue("SELECT id FROM deployment");
  ASSERT_FALSE(id.empty());

  auto cancel = CancelCli(id, chain_.HttpUrl(), "not yet");
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err << chain_.Logs();
  EXPECT_NE(cancel.err.find("cancelled by team aura (reason: not yet) before it was sent to the "
                            "cluster"),
            std::string::npos)
      << cancel.err;
  EXPECT_EQ(OnlyValue("SELECT count(*) FROM deployment_queue"), "0");

  // deployd of "later" connects; a new deployment is delivered, the cancelled one never.
  later_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{BinaryPath("deployd"), "--cluster", "later", "--grpc.server",
                               chain_.GrpcAddress(), "--kubeconfig", chain_.Kubeconfig(),
                               "--metrics-listen-address",
                               "127.0.0.1:" + std::to_string(testsupport::FreePort()),
                               "--grpc.authentication=true", "--hookd-key", kDeploydKey},
      std::map<std::string, std::string>{}, chain_.Dir() + "/deployd-later.log");
  auto next = testsupport::Run(
      DeployArgs(Manifest(ConfigMap("delivered")), "later", chain_.GrpcAddress(), true),
      testsupport::CiEnvironment(), 150s);
  EXPECT_EQ(next.exit_code, 0) << next.err << later_->Log();
  EXPECT_EQ(Kubectl({"get", "configmap", "delivered", "-n", "aura", "-o", "name"}).exit_code, 0);
  auto withdrawn = Kubectl({"get", "configmap", "withdrawn", "-n", "aura", "-o", "name"});
  EXPECT_NE(withdrawn.exit_code, 0);
  EXPECT_NE(withdrawn.err.find("NotFound"), std::string::npos) << withdrawn.err;
  EXPECT_EQ(later_->Log().find(id), std::string::npos) << later_->Log();
  EXPECT_EQ(OnlyValue("SELECT count(*) FROM deployment_status WHERE deployment_id = '" + id + "'"),
            "2");  // queued, then the cancel
}

}  // namespace
