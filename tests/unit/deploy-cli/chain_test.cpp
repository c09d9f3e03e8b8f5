// The deploy CLI binary against a running hookd (real Postgres), deployd and kube-sim, over both
// transports: gRPC and the HTTP API (`--deploy-server http://...`).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/http_client.hpp"
#include "support/chain.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;

constexpr const char* kProvisionKey = "0011223344556677";

std::string TestData(const std::string& name) {
  return std::string(DEPLOY_CLI_TESTDATA) + "/" + name;
}

class CliChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(db_.Available());
    testsupport::ChainOptions options;
    options.database_url = db_.Url();
    options.dir_prefix = "cli-chain";
    options.hookd_flags = {"--grpc.cli-authentication=true", "--provision-key", kProvisionKey};
    options.remove_dir = true;
    ASSERT_NO_FATAL_FAILURE(chain_.Start(options));
    apikey_ = Provision("aura");
    ASSERT_FALSE(apikey_.empty()) << chain_.Hookd()->Log();
  }

  void TearDown() override { chain_.Stop(); }

  // POST /internal/api/v1/provision signed with the provision key; returns the team's key.
  std::string Provision(const std::string& team) {
    common::HttpClientOptions options;
    options.base_url = chain_.HttpUrl();
    common::HttpClient client(options);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    common::HttpRequest request;
    request.method = "POST";
    request.target = "/internal/api/v1/provision";
    request.body = nlohmann::json{{"team", team}, {"timestamp", now}}.dump();
    request.headers.push_back({"Content-Type", "application/json"});
    request.headers.push_back(
        {"X-NAIS-Signature",
         common::HexEncode(common::HmacSha256(*common::HexDecode(kProvisionKey), request.body))});
    const auto response = client.Send(request);
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (!body.is_object() || !body.contains("apiKeys")) {
      ADD_FAILURE() << response.status << " " << response.body;
      return "";
    }
    return body["apiKeys"][0].get<std::string>();
  }

  testsupport::RunResult RunCli(std::vector<std::string> args) {
    std::vector<std::string> argv{BinaryPath("deploy"), "--cluster", "local", "--apikey", apikey_,
                                  "--grpc-use-tls=false", "--timeout", "60s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testsupport::Run(argv,
                            {{"GITHUB_STEP_SUMMARY", "\x01unset"}, {"GITHUB_SHA", "\x01unset"},
                             {"APIKEY", "\x01unset"}, {"TEAM", "\x01unset"},
                             {"VAR", "\x01unset"}, {"VARS", "\x01unset"}},
                            90s);
  }

  std::string Logs() const { return chain_.Logs(); }

  nlohmann::json KubectlGet(const std::string& name) {
    auto result = testsupport::Run({"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context", "admin",
                                    "get", "configmap", name, "-n", "aura", "-o", "json"},
                                   {}, 60s);
    if (result.exit_code != 0) return {};
    return nlohmann::json::parse(result.out, nullptr, false);
  }

  testsupport::TestDatabase db_;
  testsupport::Chain chain_;
  std::string apikey_;
};

TEST_F(CliChainTest, HttpApiDeploysTemplatedConfigMap) {
  auto result = RunCli({"--deploy-server", chain_.HttpUrl(),
                        "--resource", TestData("chain-templated.yaml"), "--vars",
                        TestData("chain-chainvars.yaml"), "--var", "name=templated-cm", "--wait"});
  ASSERT_EQ(result.exit_code, 0) << result.err << Logs();
  EXPECT_NE(result.err.find("dispatched to cluster 'local'."), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("Status: success: Deployment completed successfully."),
            std::string::npos)
      << result.err;
  const auto cm = KubectlGet("templated-cm");
  ASSERT_TRUE(cm.is_object());
  EXPECT_EQ(cm["data"]["key-0"], "one");
  EXPECT_EQ(cm["data"]["key-1"], "two");
  EXPECT_TRUE(cm["metadata"]["annotations"].contains("deploy.nais.io/client-version"));
}

TEST_F(CliChainTest, GrpcWithApiKeyDeploysAndPrintsEveryStatus) {
  auto result = RunCli({"--deploy-server", chain_.GrpcAddress(), "--resource",
                        TestData("chain-templated.yaml"), "--var", "name=grpc-cm", "--wait",
                        "--actions"});
  ASSERT_EQ(result.exit_code, 0) << result.err << Logs();
  EXPECT_NE(result.err.find("] Status: queued: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("] Status: in_progress: Successfully applied /v1, Kind=ConfigMap, "
                            "Namespace=aura, Name=grpc-cm"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("] Status: success: Deployment completed successfully."),
            std::string::npos);
  EXPECT_TRUE(KubectlGet("grpc-cm").is_object());
}

TEST_F(CliChainTest, ForbiddenNamespaceEndsAsFailureExitOne) {
  auto result = RunCli({"--deploy-server", chain_.GrpcAddress(), "--resource",
                        TestData("chain-forbidden.yaml"), "--team", "aura", "--wait"});
  EXPECT_EQ(result.exit_code, 1) << result.err << Logs();
  EXPECT_NE(result.err.find("level=error msg=\"Status: failure: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("fatal: deployment failed"), std::string::npos) << result.err;
}

TEST_F(CliChainTest, WrongKeyOverHttpIsRejectedWithExitFour) {
  apikey_ = common::HexEncode(common::RandomBytes(32));
  auto result = RunCli({"--deploy-server", chain_.HttpUrl(),
                        "--resource", TestData("configmap.yaml"), "--retry=false"});
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("fatal: PermissionDenied: failed authentication"), std::string::npos)
      << result.err;
}

}  // namespace
