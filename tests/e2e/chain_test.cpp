// End to end: the seed's example command line through CLI -> hookd -> deployd -> kube-sim, with
// a real Postgres, then the real kubectl checks the result.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;
using testsupport::ChildProcess;

constexpr const char* kDefaultEncryptionKey =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr const char* kDeploydKey = "e2e-deployd-psk";

// The whole chain on loopback: kube-sim, hookd and deployd as child processes.
class ChainTest : public ::testing::Test {
 protected:
  void StartChain(bool authentication) {
    ASSERT_TRUE(db_.Available());
    dir_ = testsupport::MakeTempDir("e2e");
    kubeconfig_ = dir_ + "/kubeconfig";
    kube_sim_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BinaryPath("kube-sim"), "--listen", "127.0.0.1:0",
                                 "--kubeconfig-out", kubeconfig_, "--team", "aura"},
        std::map<std::string, std::string>{}, dir_ + "/kube-sim.log");
    for (int i = 0; i < 500 && !std::filesystem::exists(kubeconfig_); ++i) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(std::filesystem::exists(kubeconfig_)) << kube_sim_->Log();

    grpc_port_ = testsupport::FreePort();
    const int http_port = testsupport::FreePort();
    std::vector<std::string> hookd_args{BinaryPath("hookd"),
                                        "--database-url", db_.Url(),
                                        "--grpc.address", "127.0.0.1:" + std::to_string(grpc_port_),
                                        "--listen-address", "127.0.0.1:" + std::to_string(http_port),
                                        "--log-level", "debug"};
    if (authentication) {
      for (const char* a : {"--grpc.cli-authentication=true", "--grpc.deployd-authentication=true"}) {
        hookd_args.emplace_back(a);
      }
      hookd_args.insert(hookd_args.end(), {"--deployd-keys", kDeploydKey});
    }
    hookd_ = std::make_unique<ChildProcess>(hookd_args, std::map<std::string, std::string>{},
                                            dir_ + "/hookd.log");
    ASSERT_TRUE(testsupport::WaitForPort(grpc_port_, 30s)) << hookd_->Log();

    std::vector<std::string> deployd_args{
        BinaryPath("deployd"), "--cluster", "local",
        "--grpc.server", "127.0.0.1:" + std::to_string(grpc_port_),
        "--kubeconfig", kubeconfig_,
        "--metrics-listen-address", "127.0.0.1:" + std::to_string(testsupport::FreePort())};
    if (authentication) {
      deployd_args.insert(deployd_args.end(),
                          {"--grpc.authentication=true", "--hookd-key", kDeploydKey});
    }
    deployd_ = std::make_unique<ChildProcess>(deployd_args, std::map<std::string, std::string>{},
                                              dir_ + "/deployd.log");
  }

  void TearDown() override {
    // Stop in reverse order; every daemon must exit cleanly on SIGTERM.
    if (deployd_) {
      EXPECT_EQ(deployd_->Stop(), 0) << deployd_->Log();
    }
    if (hookd_) {
      EXPECT_EQ(hookd_->Stop(), 0) << hookd_->Log();
    }
    if (kube_sim_) {
      EXPECT_EQ(kube_sim_->Stop(), 0) << kube_sim_->Log();
    }
  }

  std::string Logs() const {
    std::string out;
    for (const auto* p : {kube_sim_.get(), hookd_.get(), deployd_.get()}) {
      if (p != nullptr) out += "---- " + p->LogPath() + "\n" + p->Log();
    }
    return out;
  }

  // Inserts an API key for `team` the way the original stores it.
  std::string ProvisionApiKey(const std::string& team) {
    const std::string key = common::RandomBytes(32);
    const std::string stored =
        common::EncryptApiKey(*common::HexDecode(kDefaultEncryptionKey), key);
    pqxx::connection conn(db_.Url());
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO apikey (key, team, created, expires) "
        "VALUES ($1, $2, NOW(), NOW() + MAKE_INTERVAL(years := 5))",
        stored, team);
    tx.commit();
    return common::HexEncode(key);
  }

  testsupport::RunResult RunCli(const std::vector<std::string>& extra) {
    std::vector<std::string> argv{BinaryPath("deploy"),
                                  "--resource", testsupport::SourceDir() + "/examples/configmap.yaml",
                                  "--cluster", "local",
                                  "--deploy-server", "127.0.0.1:" + std::to_string(grpc_port_),
                                  "--grpc-use-tls=false", "--wait", "--timeout", "60s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // A CI-like environment without GitHub variables from the machine running the tests.
    return testsupport::Run(argv,
                            {{"GITHUB_STEP_SUMMARY", "\x01unset"}, {"GITHUB_ACTIONS", "\x01unset"},
                             {"GITHUB_SHA", "\x01unset"}, {"APIKEY", "\x01unset"},
                             {"TEAM", "\x01unset"}},
                            90s);
  }

  // States of the only deployment, oldest first, as hookd stored them.
  std::vector<std::string> StoredStates(std::string* deployment_id) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto deployments = tx.exec("SELECT id, team, cluster, state FROM deployment");
    EXPECT_EQ(deployments.size(), 1u);
    if (deployments.empty()) return {};
    *deployment_id = deployments[0][0].as<std::string>();
    EXPECT_EQ(deployments[0][1].as<std::string>(), "aura");
    EXPECT_EQ(deployments[0][2].as<std::string>(), "local");
    EXPECT_EQ(deployments[0][3].as<std::string>(), "success");
    auto rows = tx.exec_params(
        "SELECT status FROM deployment_status WHERE deployment_id = $1 ORDER BY created, id",
        *deployment_id);
    std::vector<std::string> states;
    for (const auto& row : rows) states.push_back(row[0].as<std::string>());
    return states;
  }

  void ExpectQueuedInProgressSuccess(const std::vector<std::string>& states) {
    ASSERT_GE(states.size(), 3u);
    EXPECT_EQ(states.front(), "queued");
    EXPECT_EQ(states.back(), "success");
    for (std::size_t i = 1; i + 1 < states.size(); ++i) EXPECT_EQ(states[i], "in_progress");
  }

  // The ConfigMap as the real kubectl sees it.
  nlohmann::json KubectlGetConfigMap() {
    auto result = testsupport::Run({"kubectl", "--kubeconfig", kubeconfig_, "--context", "admin",
                                    "get", "configmap", "hello-deploy", "-n", "aura", "-o", "json"},
                                   {}, 60s);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    if (result.exit_code != 0) return {};
    return nlohmann::json::parse(result.out);
  }

  testsupport::TestDatabase db_;
  std::string dir_;
  std::string kubeconfig_;
  int grpc_port_ = 0;
  std::unique_ptr<ChildProcess> kube_sim_;
  std::unique_ptr<ChildProcess> hookd_;
  std::unique_ptr<ChildProcess> deployd_;
};

TEST_F(ChainTest, SeedExampleWithoutAuthenticationDeploysConfigMap) {
  StartChain(/*authentication=*/false);
  if (HasFatalFailure()) return;

  // The seed README's command line (any API key is accepted when authentication is off).
  auto result = RunCli({"--apikey", "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d",
                        "--grpc-authentication=false"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err << Logs();
  const std::string output = result.out + result.err;
  EXPECT_NE(output.find("dispatched to cluster 'local'"), std::string::npos) << output;
  EXPECT_NE(output.find("success: Deployment completed successfully."), std::string::npos)
      << output;

  std::string id;
  ExpectQueuedInProgressSuccess(StoredStates(&id));
  ASSERT_FALSE(id.empty());

  auto cm = KubectlGetConfigMap();
  ASSERT_TRUE(cm.is_object());
  EXPECT_EQ(cm["data"]["greeting"], "Hello from deploy");
  EXPECT_EQ(cm["metadata"]["annotations"]["nais.io/deploymentCorrelationID"], id);
}

TEST_F(ChainTest, SeedExampleWithApiKeyAuthenticationDeploysConfigMap) {
  StartChain(/*authentication=*/true);
  if (HasFatalFailure()) return;
  const std::string apikey = ProvisionApiKey("aura");

  auto result = RunCli({"--apikey", apikey, "--team", "aura"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err << Logs();
  EXPECT_NE((result.out + result.err).find("success: Deployment completed successfully."),
            std::string::npos);

  std::string id;
  ExpectQueuedInProgressSuccess(StoredStates(&id));
  auto cm = KubectlGetConfigMap();
  ASSERT_TRUE(cm.is_object());
  EXPECT_EQ(cm["metadata"]["annotations"]["nais.io/deploymentCorrelationID"], id);
}

TEST_F(ChainTest, WrongApiKeyIsRejectedWithExitCode4) {
  StartChain(/*authentication=*/true);
  if (HasFatalFailure()) return;
  ProvisionApiKey("aura");
  const std::string wrong = common::HexEncode(common::RandomBytes(32));

  auto result = RunCli({"--apikey", wrong, "--team", "aura", "--retry=false"});
  EXPECT_EQ(result.exit_code, 4) << result.out << result.err;
  EXPECT_NE(result.err.find("fatal: PermissionDenied: failed authentication"), std::string::npos)
      << result.err;
}

}  // namespace
