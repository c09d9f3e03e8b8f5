// End to end: the seed's example command line through CLI -> hookd -> deployd -> kube-sim, with
// a real Postgres, then the real kubectl checks the result.
#include "support/chain.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "support/cli_env.hpp"
#include "support/loopback_http_server.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;

constexpr const char* kDeploydKey = "e2e-deployd-psk";

// The whole chain on loopback: kube-sim, hookd and deployd as child processes.
class ChainTest : public testsupport::ChainFixture {
 protected:
  void StartChain(bool authentication) {
    testsupport::ChainOptions options;
    options.dir_prefix = "e2e";
    options.authentication = authentication;
    options.deployd_key = kDeploydKey;
    options.hookd_flags = {"--log-level", "debug"};
    StartChainOn(options);
  }

  std::string Logs() const { return chain_.Logs(); }

  testsupport::RunResult RunCli(const std::vector<std::string>& extra,
                                const std::string& cluster = "local",
                                const std::string& timeout = "60s") {
    std::vector<std::string> argv{BinaryPath("deploy"),
                                  "--resource",
                                  testsupport::SourceDir() + "/examples/configmap.yaml",
                                  "--cluster",
                                  cluster,
                                  "--deploy-server",
                                  chain_.GrpcAddress(),
                                  "--grpc-use-tls=false",
                                  "--wait",
                                  "--timeout",
                                  timeout};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // A CI-like environment without GitHub variables from the machine running the tests.
    return testsupport::Run(argv, testsupport::CiEnvironment(), 90s);
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
    auto result =
        testsupport::Run({"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context", "admin",
                          "get", "configmap", "hello-deploy", "-n", "aura", "-o", "json"},
                         {}, 60s);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    if (result.exit_code != 0) return {};
    return nlohmann::json::parse(result.out);
  }
};

TEST_F(ChainTest, SeedExampleWithoutAuthenticationDeploysConfigMap) {
  StartChain(/*authentication=*/false);
  if (HasFatalFailure()) return;

  // The seed README's command line (any API key is accepted when authentication is off).
  auto result =
      RunCli({"--apikey", "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d",
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
  const std::string apikey = testsupport::ProvisionApiKey(db_.Url(), "aura");

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
  testsupport::ProvisionApiKey(db_.Url(), "aura");
  const std::string wrong = common::HexEncode(common::RandomBytes(32));

  auto result = RunCli({"--apikey", wrong, "--team", "aura", "--retry=false"});
  EXPECT_EQ(result.exit_code, 4) << result.out << result.err;
  EXPECT_NE(result.err.find("fatal: PermissionDenied: failed authentication"), std::string::npos)
      << result.err;
}

// A cluster whose deployd never connects: the queue ends the deployment a little before the CLI's
// own deadline, so the pipeline sees why (exit 2 with the cluster named), not a bare timeout.
TEST_F(ChainTest, OfflineClusterEndsWithTheReasonBeforeTheCliGivesUp) {
  ASSERT_NO_FATAL_FAILURE(StartChain(false));
  auto result =
      RunCli({"--apikey", "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d",
              "--grpc-authentication=false"},
             "offline", "30s");
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err << Logs();
  // While it waits, the queued status says why.
  EXPECT_NE(result.err.find("Status: queued: deployd for cluster 'offline' is not connected; "
                            "waiting until "),
            std::string::npos)
      << result.err;
  EXPECT_NE((result.out + result.err)
                .find("deadline passed before a deployd for cluster 'offline' picked up the "
                      "deployment (cluster offline)"),
            std::string::npos)
      << result.out << result.err;
}

}  // namespace

// What an operator searches and follows: traces exported to an OTLP/HTTP collector by the CLI,
// hookd and deployd form one tree under the CLI's trace ID, and every JSON log line about the
// deployment carries its fields (what hookd's log links search for).
TEST_F(ChainTest, TracesFormOneTreeAndLogLinesCarryTheDeploymentFields) {
  std::mutex mutex;
  std::vector<std::string> bodies;
  testsupport::LoopbackHttpServer collector(
      [&](testsupport::LoopbackHttpServer::Socket& socket,
          const testsupport::LoopbackHttpServer::Request& request) {
        if (request.method() == boost::beast::http::verb::post &&
            request.target() == "/v1/traces" &&
            request[boost::beast::http::field::content_type] == "application/json") {
          std::lock_guard lock(mutex);
          bodies.push_back(request.body());
        }
        return testsupport::LoopbackHttpServer::Reply(
            socket, request, boost::beast::http::status::ok, "application/json", "{}");
      });
  testsupport::ChainOptions options;
  options.dir_prefix = "e2e-traces";
  options.hookd_flags = {"--log-format", "json", "--otel-exporter-otlp-endpoint", collector.Url()};
  options.deployd_flags = {"--log-format", "json", "--otel-exporter-otlp-endpoint",
                           collector.Url()};
  ASSERT_NO_FATAL_FAILURE(StartChainOn(options));

  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string workflow_span = "00f067aa0ba902b7";
  auto result =
      RunCli({"--apikey", "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d",
              "--grpc-authentication=false", "--otel-collector-endpoint", collector.Url(),
              "--traceparent", "00-" + trace_id + "-" + workflow_span + "-01"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err << Logs();
  std::string id;
  StoredStates(&id);
  ASSERT_FALSE(id.empty());
  // The CLI's own lines about the deployment carry the same fields, in logrus text.
  EXPECT_NE(result.err.find("msg=\"Status: success: Deployment completed successfully.\" "
                            "cluster=local correlation_id=" +
                            id + " delivery_id=" + id + " team=aura\n"),
            std::string::npos)
      << result.err;
  chain_.Stop();  // SIGTERM: hookd and deployd export the spans still queued
  std::string all_logs;
  for (const char* name : {"/hookd.log", "/deployd.log"}) {
    std::ifstream file(chain_.Dir() + name);
    all_logs += std::string(std::istreambuf_iterator<char>(file), {});
  }

  // Log lines of hookd and deployd that name the deployment.
  int about = 0;
  std::istringstream logs(all_logs);
  for (std::string line; std::getline(logs, line);) {
    if (line.empty() || line.front() != '{') continue;
    const auto entry = nlohmann::json::parse(line);
    const std::string msg = entry.value("msg", "");
    if (msg.find(id) == std::string::npos) continue;
    ++about;
    EXPECT_EQ(entry.value("correlation_id", ""), id) << line;
    EXPECT_EQ(entry.value("delivery_id", ""), id) << line;
    EXPECT_EQ(entry.value("cluster", ""), "local") << line;
    EXPECT_EQ(entry.value("team", ""), "aura") << line;
  }
  EXPECT_GE(about, 4) << all_logs;  // queued, sent, received, statuses, finished

  struct Span {
    std::string service, trace, id, parent;
    std::map<std::string, std::string> attributes;
  };
  std::map<std::string, Span> by_name;  // the last span of each name
  std::lock_guard lock(mutex);
  for (const auto& body : bodies) {
    const auto parsed = nlohmann::json::parse(body);
    for (const auto& rs : parsed["resourceSpans"]) {
      const std::string service = rs["resource"]["attributes"][0]["value"]["stringValue"];
      for (const auto& ss : rs["scopeSpans"]) {
        for (const auto& s : ss["spans"]) {
          Span span{service,
                    s["traceId"].get<std::string>(),
                    s["spanId"].get<std::string>(),
                    s.value("parentSpanId", ""),
                    {}};
          for (const auto& a : s["attributes"]) {
            span.attributes[a["key"].get<std::string>()] =
                a["value"]["stringValue"].get<std::string>();
          }
          EXPECT_EQ(s["status"]["code"], 1) << s.dump();
          EXPECT_LE(std::stoull(s["startTimeUnixNano"].get<std::string>()),
                    std::stoull(s["endTimeUnixNano"].get<std::string>()));
          by_name[s["name"].get<std::string>()] = span;
        }
      }
    }
  }
  for (const char* name : {"deploy", "Deploy", "Queue", "Dispatch", "Deploy to Kubernetes",
                           "ConfigMap/hello-deploy", "apply", "wait"}) {
    ASSERT_EQ(by_name.count(name), 1u) << name << "\n" << ::testing::PrintToString(bodies);
    EXPECT_EQ(by_name[name].trace, trace_id) << name;
  }
  EXPECT_EQ(by_name["deploy"].service, "deploy");
  EXPECT_EQ(by_name["deploy"].parent, workflow_span);
  EXPECT_EQ(by_name["deploy"].attributes["deploy.id"], id);
  EXPECT_EQ(by_name["Deploy"].service, "hookd");
  EXPECT_EQ(by_name["Deploy"].parent, by_name["deploy"].id);
  EXPECT_EQ(by_name["Deploy"].attributes["deploy.team"], "aura");
  EXPECT_EQ(by_name["Queue"].parent, by_name["Deploy"].id);
  EXPECT_EQ(by_name["Dispatch"].parent, by_name["Deploy"].id);
  EXPECT_EQ(by_name["Deploy to Kubernetes"].service, "deployd");
  EXPECT_EQ(by_name["Deploy to Kubernetes"].parent, by_name["Deploy"].id);
  EXPECT_EQ(by_name["Deploy to Kubernetes"].attributes["deploy.id"], id);
  const Span& resource = by_name["ConfigMap/hello-deploy"];
  EXPECT_EQ(resource.parent, by_name["Deploy to Kubernetes"].id);
  EXPECT_EQ(resource.attributes.at("k8s.kind"), "ConfigMap");
  EXPECT_EQ(resource.attributes.at("k8s.namespace"), "aura");
  EXPECT_EQ(resource.attributes.at("k8s.apiVersion"), "v1");
  EXPECT_EQ(by_name["apply"].parent, resource.id);
  EXPECT_EQ(by_name["wait"].parent, resource.id);
}
