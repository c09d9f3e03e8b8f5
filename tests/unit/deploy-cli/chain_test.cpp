// The deploy CLI binary against a running hookd (real Postgres), deployd and kube-sim, over both
// transports: gRPC and the HTTP API (`--deploy-server http://...`).
#include "support/chain.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/http_client.hpp"
#include "common/limits.hpp"
#include "deep_document.hpp"
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
    std::vector<std::string> argv{BinaryPath("deploy"),   "--cluster", "local", "--apikey", apikey_,
                                  "--grpc-use-tls=false", "--timeout", "60s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testsupport::Run(argv,
                            {{"GITHUB_STEP_SUMMARY", "\x01unset"},
                             {"GITHUB_SHA", "\x01unset"},
                             {"APIKEY", "\x01unset"},
                             {"TEAM", "\x01unset"},
                             {"VAR", "\x01unset"},
                             {"VARS", "\x01unset"}},
                            90s);
  }

  std::string Logs() const { return chain_.Logs(); }

  nlohmann::json KubectlGet(const std::string& name) {
    auto result = testsupport::Run({"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context",
                                    "admin", "get", "configmap", name, "-n", "aura", "-o", "json"},
                                   {}, 60s);
    if (result.exit_code != 0) return {};
    return nlohmann::json::parse(result.out, nullptr, false);
  }

  testsupport::TestDatabase db_;
  testsupport::Chain chain_;
  std::string apikey_;
};

TEST_F(CliChainTest, HttpApiDeploysTemplatedConfigMap) {
  auto result =
      RunCli({"--deploy-server", chain_.HttpUrl(), "--resource", TestData("chain-templated.yaml"),
              "--vars", TestData("chain-chainvars.yaml"), "--var", "name=templated-cm", "--wait"});
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
  auto result =
      RunCli({"--deploy-server", chain_.GrpcAddress(), "--resource",
              TestData("chain-templated.yaml"), "--var", "name=grpc-cm", "--wait", "--actions"});
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
  EXPECT_NE(result.err.find("level=error msg=\"Status: failure: "), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("fatal: deployment failed"), std::string::npos) << result.err;
}

// Argo CD's ApplicationSet CRD nests 35 levels (openAPIV3Schema properties in properties): it
// goes through the CLI, hookd (gRPC and HTTP API), Postgres, the Dispatch stream and deployd to
// the cluster, over both transports.
TEST_F(CliChainTest, ApplicationSetCrd35LevelsDeepIsAppliedOverBothTransports) {
  const std::string dir = ::testing::TempDir() + "cli-chain-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  const std::string rule_path = dir + "/rbac-rule.json";
  std::ofstream(rule_path) << nlohmann::json{{"users",
                                              {"system:serviceaccount:aura:serviceuser-aura"}},
                                             {"verbs", {"*"}},
                                             {"apiGroups", {"apiextensions.k8s.io"}},
                                             {"resources", {"customresourcedefinitions"}}}
                                  .dump();
  // The team may manage CRDs (cluster-wide) in this test.
  const auto granted =
      testsupport::Run({"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context", "admin",
                        "create", "--raw", "/_sim/rbac", "-f", rule_path},
                       {}, 60s);
  ASSERT_EQ(granted.exit_code, 0) << granted.out << granted.err;

  nlohmann::json crd = deploy_cli::testing::ApplicationSetCrd(35);
  const std::string crd_path = dir + "/applicationset-crd.yaml";
  // Over the HTTP API without --wait (its status polling takes seconds); hookd accepts it.
  std::ofstream(crd_path) << deploy_cli::testing::ToBlockYaml(crd);
  auto http =
      RunCli({"--deploy-server", chain_.HttpUrl(), "--resource", crd_path, "--team", "aura"});
  ASSERT_EQ(http.exit_code, 0) << http.err << Logs();
  EXPECT_NE(http.err.find("dispatched to cluster 'local'."), std::string::npos) << http.err;
  // Over gRPC, waiting until deployd has applied it (after the first one).
  crd["metadata"]["labels"] = {{"transport", "grpc"}};
  std::ofstream(crd_path) << deploy_cli::testing::ToBlockYaml(crd);
  auto grpc = RunCli({"--deploy-server", chain_.GrpcAddress(), "--resource", crd_path, "--team",
                      "aura", "--wait"});
  ASSERT_EQ(grpc.exit_code, 0) << grpc.err << Logs();
  EXPECT_NE(grpc.err.find("Status: success: "), std::string::npos) << grpc.err;

  auto stored =
      testsupport::Run({"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context", "admin", "get",
                        "crd", "applicationsets.argoproj.io", "-o", "json"},
                       {}, 60s);
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  const auto object = nlohmann::json::parse(stored.out, nullptr, false);
  ASSERT_TRUE(object.is_object()) << stored.out;
  EXPECT_EQ(object["metadata"]["labels"]["transport"], "grpc");
  EXPECT_EQ(object["spec"]["versions"][0]["schema"], crd["spec"]["versions"][0]["schema"]);
  EXPECT_EQ(common::JsonDepth(object["spec"]["versions"][0]["schema"], 10000), 31u);
}

TEST_F(CliChainTest, WrongKeyOverHttpIsRejectedWithExitFour) {
  apikey_ = common::HexEncode(common::RandomBytes(32));
  auto result = RunCli({"--deploy-server", chain_.HttpUrl(), "--resource",
                        TestData("configmap.yaml"), "--retry=false"});
  EXPECT_EQ(result.exit_code, 4) << result.err;
  EXPECT_NE(result.err.find("fatal: PermissionDenied: failed authentication"), std::string::npos)
      << result.err;
}

}  // namespace
