// The deploy CLI binary against a running hookd (real Postgres), deployd and kube-sim, over both
// transports: gRPC and the HTTP API (`--deploy-server http://...`).
#include "support/chain.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
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

// A TCP proxy in front of hookd's HTTP port whose first connection loses hookd's answer: it is
// closed the moment hookd starts to reply, i.e. after hookd handled the request. The client sees
// a network error, as when a connection breaks on its way back.
class AnswerDroppingProxy {
 public:
  explicit AnswerDroppingProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "proxy: cannot listen";
      return;
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~AnswerDroppingProxy() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : relays_) t.join();
  }
  AnswerDroppingProxy(const AnswerDroppingProxy&) = delete;
  AnswerDroppingProxy& operator=(const AnswerDroppingProxy&) = delete;
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int Dropped() const { return dropped_; }

 private:
  void Accept() {
    for (int n = 0;; ++n) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      relays_.emplace_back([this, client, drop = n == 0] { Relay(client, drop); });
    }
  }
  void Relay(int client, bool drop_answer) {
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(target_port_));
    if (::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      char buffer[16384];
      while (::poll(fds, 2, 60'000) > 0) {
        if (fds[0].revents != 0) {
          const auto n = ::read(client, buffer, sizeof buffer);
          if (n <= 0 || ::write(server, buffer, static_cast<std::size_t>(n)) != n) break;
        }
        if (fds[1].revents != 0) {
          if (drop_answer) {
            ++dropped_;
            break;
          }
          const auto n = ::read(server, buffer, sizeof buffer);
          if (n <= 0 || ::write(client, buffer, static_cast<std::size_t>(n)) != n) break;
        }
      }
    }
    ::close(server);
    ::close(client);
  }

  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> dropped_{0};
  std::thread acceptor_;
  std::vector<std::thread> relays_;
};

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

// Idempotent retries through the whole chain: hookd stores the deployment, its answer is lost,
// the CLI retries (a new signature and body, the same idempotency key) and hookd answers with the
// deployment it created. One deployment in Postgres, applied once.
TEST_F(CliChainTest, RetryAfterALostAnswerCreatesNoSecondDeployment) {
  AnswerDroppingProxy proxy(chain_.HttpPort());
  auto result =
      RunCli({"--deploy-server", proxy.Url(), "--resource", TestData("configmap.yaml"), "--wait"});
  ASSERT_EQ(result.exit_code, 0) << result.err << Logs();
  EXPECT_EQ(proxy.Dropped(), 1);
  EXPECT_NE(result.err.find("msg=\"Unavailable: POST " + proxy.Url() + "/api/v1/deploy: "),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("(retrying in 5s...)"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("Status: success: "), std::string::npos) << result.err;
  auto count = testsupport::Run({"psql", db_.Url(), "-tAc",
                                 "SELECT count(*) FROM deployment; SELECT count(*) FROM "
                                 "deployment_idempotency_key"},
                                {}, 30s);
  ASSERT_EQ(count.exit_code, 0) << count.err;
  EXPECT_EQ(count.out, "1\n1\n");
  EXPECT_NE(Logs().find("replayed (idempotency key "), std::string::npos);
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
