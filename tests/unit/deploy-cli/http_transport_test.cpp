// The HTTP API transport against a fake hookd HTTP server.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "deploy-cli/run.hpp"
#include "deploy-cli/transport/grpc_transport.hpp"
#include "fakes.hpp"
#include "support/loopback_http_server.hpp"

namespace deploy_cli {
namespace {

using nlohmann::json;
using FakeHttpRequest = testsupport::LoopbackHttpServer::RecordedRequest;
using FakeHttpResponse = testsupport::LoopbackHttpServer::Response;
using FakeHttpServer = testsupport::LoopbackHttpServer;

struct HttpRun {
  testing::FakeClock clock;
  testing::FakeSleeper sleeper{clock};
  std::ostringstream out;
  std::ostringstream err;

  int Run(const std::string& url, std::vector<std::string> extra) {
    const Ports ports = testing::RealTransportPorts(clock, sleeper, out, err);
    std::vector<std::string> args = {"--resource",      testing::TestData("configmap.yaml"),
                                     "--cluster",       "local",
                                     "--apikey",        "1234567812345678",
                                     "--deploy-server", url};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCommandLine(args, ports);
  }
};

TEST(HttpTransportTest, DeploysSignedBodyThenPollsStatusUntilSuccess) {
  std::vector<std::string> states = {"queued", "in_progress", "in_progress", "success"};
  std::size_t polls = 0;
  FakeHttpServer server([&](const FakeHttpRequest& r) -> FakeHttpResponse {
    if (r.target == "/api/v1/deploy") {
      return {
          201,
          R"({"message":"deployment request accepted and dispatched","correlationID":"abc-123"})"};
    }
    const std::string state = states.at(std::min(polls++, states.size() - 1));
    return {200, json{{"status", state}, {"message", "msg " + state}}.dump()};
  });
  HttpRun run;
  EXPECT_EQ(run.Run(server.Url(), {"--wait"}), 0) << run.err.str();
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 5u);
  const FakeHttpRequest& deploy = requests[0];
  EXPECT_EQ(deploy.method, "POST");
  EXPECT_EQ(deploy.headers.at("content-type"), "application/json");
  EXPECT_EQ(
      deploy.headers.at("x-nais-signature"),
      common::HexEncode(common::HmacSha256(*common::HexDecode("1234567812345678"), deploy.body)));
  const json body = json::parse(deploy.body);
  EXPECT_EQ(body["team"], "aura");
  EXPECT_EQ(body["cluster"], "local");
  EXPECT_EQ(body["environment"], "local:aura");
  EXPECT_EQ(body["ref"], "master");
  EXPECT_EQ(body["timestamp"], 1'700'000'000);
  EXPECT_EQ(body["resources"][0]["kind"], "ConfigMap");
  const json status = json::parse(requests[1].body);
  EXPECT_EQ(status["deploymentID"], "abc-123");
  EXPECT_EQ(status["team"], "aura");
  const std::string log = run.err.str();
  EXPECT_NE(log.find("dispatched to cluster 'local'."), std::string::npos);
  EXPECT_NE(log.find("Status: in_progress: msg in_progress"), std::string::npos);
  EXPECT_NE(log.find("Status: success: msg success"), std::string::npos);
  // The unchanged in_progress answer is not logged twice.
  EXPECT_EQ(log.find("Status: in_progress"), log.rfind("Status: in_progress"));
  EXPECT_EQ(run.sleeper.sleeps.size(), 3u);
}

TEST(HttpTransportTest, BodyIsSignedEvenWithGrpcAuthenticationOff) {
  FakeHttpServer server([](const FakeHttpRequest&) -> FakeHttpResponse {
    return {201, R"({"correlationID":"id"})"};
  });
  HttpRun run;
  EXPECT_EQ(run.Run(server.Url(), {"--grpc-authentication=false"}), 0) << run.err.str();
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers.at("x-nais-signature"),
            common::HexEncode(
                common::HmacSha256(*common::HexDecode("1234567812345678"), requests[0].body)));
}

TEST(HttpTransportTest, ForbiddenIsRejectedDeployment) {
  FakeHttpServer server([](const FakeHttpRequest&) -> FakeHttpResponse {
    return {403, R"({"message":"failed authentication","correlationID":"x"})"};
  });
  HttpRun run;
  EXPECT_EQ(run.Run(server.Url(), {}), 4);
  EXPECT_NE(run.err.str().find("fatal: PermissionDenied: failed authentication"), std::string::npos)
      << run.err.str();
}

TEST(HttpTransportTest, ServiceUnavailableIsRetried) {
  int calls = 0;
  FakeHttpServer server([&](const FakeHttpRequest&) -> FakeHttpResponse {
    if (calls++ < 2) return {503, R"({"message":"deploy unavailable; try again later"})"};
    return {201, R"({"message":"ok","correlationID":"id"})"};
  });
  HttpRun run;
  EXPECT_EQ(run.Run(server.Url(), {}), 0) << run.err.str();
  EXPECT_NE(
      run.err.str().find("Unavailable: deploy unavailable; try again later (retrying in 5s...)"),
      std::string::npos);
  EXPECT_EQ(run.sleeper.sleeps.size(), 2u);
}

// Each attempt is signed anew (its body carries a new timestamp), so only the idempotency key
// tells hookd that the three requests are one.
TEST(HttpTransportTest, RetriesOfOneRunSendOneIdempotencyKey) {
  int calls = 0;
  FakeHttpServer server([&](const FakeHttpRequest&) -> FakeHttpResponse {
    if (calls++ < 2) return {503, R"({"message":"database is unavailable; try again later"})"};
    return {201, R"({"message":"ok","correlationID":"id"})"};
  });
  HttpRun run;
  EXPECT_EQ(run.Run(server.Url(), {}), 0) << run.err.str();
  auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 3u);
  const std::string key = requests[0].headers["idempotency-key"];
  EXPECT_EQ(key.size(), 36u) << key;  // a random UUID
  EXPECT_EQ(requests[1].headers["idempotency-key"], key);
  EXPECT_EQ(requests[2].headers["idempotency-key"], key);
  EXPECT_NE(requests[0].body, requests[2].body);

  // The next run is another logical request; --idempotency-key names one explicitly.
  HttpRun second;
  EXPECT_EQ(second.Run(server.Url(), {}), 0) << second.err.str();
  HttpRun named;
  EXPECT_EQ(named.Run(server.Url(), {"--idempotency-key", "pipeline-7.deploy"}), 0);
  requests = server.Requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_NE(requests[3].headers["idempotency-key"], key);
  EXPECT_EQ(requests[4].headers["idempotency-key"], "pipeline-7.deploy");
}

TEST(HttpTransportTest, UnknownDeploymentOnStatusExitsFive) {
  FakeHttpServer server([](const FakeHttpRequest& r) -> FakeHttpResponse {
    if (r.target == "/api/v1/deploy") return {201, R"({"correlationID":"id"})"};
    return {404, R"({"message":"deployment not found"})"};
  });
  HttpRun run;
  EXPECT_EQ(run.Run(server.Url(), {"--wait"}), 5);
  EXPECT_NE(run.err.str().find("fatal: NotFound: deployment not found"), std::string::npos)
      << run.err.str();
}

TEST(HttpTransportTest, UnreachableServerRetriesUntilTimeout) {
  HttpRun run;
  EXPECT_EQ(run.Run("http://127.0.0.1:1", {"--timeout", "10s"}), 9);
  EXPECT_NE(run.err.str().find("(retrying in 5s...)"), std::string::npos) << run.err.str();
}

}  // namespace
}  // namespace deploy_cli
