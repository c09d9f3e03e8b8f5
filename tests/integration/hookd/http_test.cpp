// The HTTP API of hookd against a real Postgres.
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/asio.hpp"
#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "harness.hpp"
#include "hookd/store/migrate.hpp"
#include "support/deploy_body.hpp"
#include "support/fake_deployd.hpp"
#include "support/http_call.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using nlohmann::json;

class HttpApi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.Available()) GTEST_SKIP() << "no test database";
    auto config = TestConfig(db_.Url(), true, true);
    config.provision_key = "provision-secret";
    config.frontend_keys = {"console-psk"};
    config.max_message_size = 100000;
    app_ = std::make_unique<hookd::App>(config);
    app_->Start();
    port_ = app_->HttpPort();
    key_ = ProvisionKey(db_.Url(), "aura");
  }
  void TearDown() override {
    if (app_) app_->Stop();
  }
  Reply Signed(const std::string& path, const json& body, const std::string& key) {
    const std::string text = body.dump();
    return Call(port_, "POST", path, text,
                {{"Content-Type", "application/json"},
                 {"X-NAIS-Signature", common::HexEncode(common::HmacSha256(key, text))}});
  }
  static json DeployBody() {
    return testsupport::DeployBody(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
  }
  std::string Target() { return "127.0.0.1:" + std::to_string(app_->GrpcPort()); }

  testsupport::TestDatabase db_;
  std::unique_ptr<hookd::App> app_;
  int port_ = 0;
  std::string key_;
};

TEST_F(HttpApi, HealthReadinessMetricsAndGoneEndpoints) {
  EXPECT_EQ(Call(port_, "GET", "/healthz").status, 200);
  EXPECT_EQ(Call(port_, "GET", "/readyz").status, 200);
  EXPECT_EQ(Call(port_, "GET", "/events").status, 410);
  EXPECT_EQ(Call(port_, "POST", "/api/v1/").status, 410);
  auto missing = Call(port_, "GET", "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "404 page not found\n");
  EXPECT_EQ(Call(port_, "GET", "/api/v1/deploy").status, 405);
  auto metrics = Call(port_, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find(
                "requests_total{code=\"404\",method=\"GET\",path=\"other\",service=\"hookd\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("request_duration_ms_bucket{"), std::string::npos);
}

TEST_F(HttpApi, SignedDeployIsAcceptedDeliveredAndItsStatusReadable) {
  auto channel = grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
  FakeDeployd deployd(channel, "dev", kDeploydKey);
  auto reply = Signed("/api/v1/deploy", DeployBody(), key_);
  ASSERT_EQ(reply.status, 201) << reply.body;
  EXPECT_EQ(reply.content_type, "application/json");
  auto body = json::parse(reply.body);
  EXPECT_EQ(body["message"], "deployment request accepted and dispatched");
  const std::string id = body["correlationID"];
  EXPECT_NE(body["logURL"].get<std::string>().find("/logs?delivery_id=" + id + "&ts="),
            std::string::npos);
  auto delivered = deployd.Next();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->id(), id);
  EXPECT_EQ(delivered->githubenvironment(), "dev");
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "rolling <out>").ok());

  json status_body = {{"deploymentID", id},
                      {"team", "aura"},
                      {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()}};
  auto status = Signed("/api/v1/status", status_body, key_);
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(json::parse(status.body),
            (json{{"status", "in_progress"}, {"message", "rolling <out>"}}));

  auto page = Call(port_, "GET", "/logs?delivery_id=" + id);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("rolling &lt;out&gt;"), std::string::npos);
  EXPECT_NE(page.body.find("ConfigMap"), std::string::npos);
  EXPECT_NE(page.body.find("http-equiv=\"refresh\""), std::string::npos);
}

// Two attempts of one logical request are signed anew (other bodies), but carry the same
// Idempotency-Key: the second is answered with the first deployment.
TEST_F(HttpApi, IdempotencyKeyAnswersARetryWithTheFirstDeployment) {
  auto attempt = [&](const std::string& ref, const std::string& key) {
    json body = DeployBody();
    body["ref"] = ref;
    const std::string text = body.dump();
    return Call(port_, "POST", "/api/v1/deploy", text,
                {{"Content-Type", "application/json"},
                 {"Idempotency-Key", key},
                 {"X-NAIS-Signature", common::HexEncode(common::HmacSha256(key_, text))}});
  };
  auto first = attempt("first", "ci-run-9");
  ASSERT_EQ(first.status, 201) << first.body;
  auto retry = attempt("second", "ci-run-9");
  ASSERT_EQ(retry.status, 201) << retry.body;
  EXPECT_EQ(json::parse(retry.body)["correlationID"], json::parse(first.body)["correlationID"]);
  auto other = attempt("third", "ci-run-10");
  ASSERT_EQ(other.status, 201) << other.body;
  EXPECT_NE(json::parse(other.body)["correlationID"], json::parse(first.body)["correlationID"]);
  auto bad = attempt("fourth", std::string(129, 'k'));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["message"],
            "invalid idempotency key: it must be 1 to 128 characters of letters, digits, '-', "
            "'_', '.' and ':'");
}

TEST_F(HttpApi, StatusErrorPathsInTheOriginalsOrder) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto message = [](const Reply& reply) { return json::parse(reply.body)["message"]; };
  const json valid = {{"deploymentID", "00000000-0000-4000-8000-000000000000"},
                      {"team", "aura"},
                      {"timestamp", now}};

  auto bad_hex = Call(port_, "POST", "/api/v1/status", valid.dump(),
                      {{"Content-Type", "application/json"}, {"X-NAIS-Signature", "zz"}});
  EXPECT_EQ(bad_hex.status, 400);
  EXPECT_EQ(message(bad_hex), "HMAC digest must be hex encoded");

  auto not_object = Signed("/api/v1/status", json::array(), key_);
  EXPECT_EQ(not_object.status, 400);
  EXPECT_EQ(message(not_object),
            "unable to unmarshal request body: json: cannot unmarshal array into Go value of type "
            "api_v1_status.StatusRequest");

  auto without = [&](const char* field) {
    json body = valid;
    body.erase(field);
    return Signed("/api/v1/status", body, key_);
  };
  EXPECT_EQ(message(without("deploymentID")), "invalid status request: no deployment ID specified");
  EXPECT_EQ(message(without("team")), "invalid status request: no team specified");
  EXPECT_EQ(message(without("timestamp")),
            "invalid status request: request is not within allowed timeframe");

  // A team without keys and a wrong key both fail authentication, before any lookup.
  json ghost = valid;
  ghost["team"] = "ghost";
  auto unknown_team = Signed("/api/v1/status", ghost, key_);
  EXPECT_EQ(unknown_team.status, 403);
  EXPECT_EQ(message(unknown_team), "failed authentication");
  auto wrong_key = Signed("/api/v1/status", valid, "wrong");
  EXPECT_EQ(wrong_key.status, 403);
  EXPECT_EQ(message(wrong_key), "failed authentication");

  auto missing = Signed("/api/v1/status", valid, key_);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(message(missing), "deployment not found");
  EXPECT_EQ(missing.content_type, "application/json");
}

TEST_F(HttpApi, DeployErrorPaths) {
  auto body = DeployBody();
  auto bad_hex = Call(port_, "POST", "/api/v1/deploy", body.dump(),
                      {{"Content-Type", "application/json"}, {"X-NAIS-Signature", "xyz"}});
  EXPECT_EQ(bad_hex.status, 400);
  EXPECT_EQ(json::parse(bad_hex.body)["message"], "HMAC digest must be hex encoded");
  EXPECT_EQ(
      Call(port_, "POST", "/api/v1/deploy", body.dump(), {{"Content-Type", "text/plain"}}).status,
      415);
  auto wrong_key = Signed("/api/v1/deploy", body, "wrong");
  EXPECT_EQ(wrong_key.status, 403);
  EXPECT_EQ(json::parse(wrong_key.body)["message"], "failed authentication");
  // Every invalid field in the original's order is the endpoint's unit test
  // (HttpEndpoints.DeployInvalidRequestsInTheOriginalsOrder); here, one through the real server.
  auto stale = DeployBody();
  stale["timestamp"] = 1000;
  auto reply = Signed("/api/v1/deploy", stale, key_);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(json::parse(reply.body)["message"],
            "invalid deployment request: request is not within allowed timeframe");
  EXPECT_TRUE(json::parse(reply.body).contains("correlationID"));
  auto kindless = DeployBody();
  kindless["resources"] = json::array({json::object()});
  auto r = Signed("/api/v1/deploy", kindless, key_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["message"],
            "invalid Kubernetes resources in request: resource 1: decoding payload: Object 'Kind' "
            "is missing in '{}'");
  auto too_big = Call(port_, "POST", "/api/v1/deploy", std::string(200000, 'x'),
                      {{"Content-Type", "application/json"}});
  EXPECT_EQ(too_big.status, 413);
}

TEST_F(HttpApi, StatusOfUnknownDeployment) {
  json b = {{"deploymentID", "nope"},
            {"team", "aura"},
            {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()}};
  auto reply = Signed("/api/v1/status", b, key_);
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(json::parse(reply.body)["message"], "deployment not found");
  EXPECT_EQ(Call(port_, "GET", "/logs?delivery_id=bad").body,
            "delivery_id 'bad' is not a well-formed UUID\n");
}

TEST_F(HttpApi, ProvisionAndConsoleKeys) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto created = Signed("/internal/api/v1/provision", {{"team", "newteam"}, {"timestamp", now}},
                        "provision-secret");
  ASSERT_EQ(created.status, 201) << created.body;
  auto keys = json::parse(created.body);
  EXPECT_EQ(keys["message"], "API key provisioned successfully");
  ASSERT_EQ(keys["apiKeys"].size(), 1u);
  auto again = Signed("/internal/api/v1/provision", {{"team", "newteam"}, {"timestamp", now}},
                      "provision-secret");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(json::parse(again.body)["message"], "team exists, returning existing keys");
  auto fetched = Signed("/internal/api/v1/apikey", {{"team", "newteam"}, {"timestamp", now}},
                        "provision-secret");
  EXPECT_EQ(fetched.status, 200);
  EXPECT_EQ(json::parse(fetched.body)["apiKeys"], keys["apiKeys"]);
  auto none = Signed("/internal/api/v1/apikey", {{"team", "ghost"}, {"timestamp", now}},
                     "provision-secret");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(json::parse(none.body)["message"], "no api key found for team");
  auto forged = Signed("/internal/api/v1/provision", {{"team", "x"}, {"timestamp", now}}, "wrong");
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(json::parse(forged.body)["message"], "failed authentication");

  auto denied =
      Call(port_, "GET", "/internal/api/v1/console/apikey/newteam", "", {{"X-PSK", "no"}});
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body, "Unauthorized access: Invalid key");
  auto console =
      Call(port_, "GET", "/internal/api/v1/console/apikey/newteam", "", {{"X-PSK", "console-psk"}});
  ASSERT_EQ(console.status, 200);
  EXPECT_EQ(json::parse(console.body)["key"], keys["apiKeys"][0]);
  EXPECT_EQ(
      Call(port_, "POST", "/internal/api/v1/console/apikey/newteam", "", {{"X-PSK", "console-psk"}})
          .status,
      200);
  EXPECT_NE(json::parse(Call(port_, "GET", "/internal/api/v1/console/apikey/newteam", "",
                             {{"X-PSK", "console-psk"}})
                            .body)["key"],
            keys["apiKeys"][0]);  // rotated
}

// hookd started with a config change, no API key needed.
std::unique_ptr<hookd::App> StartApp(const std::string& url, const std::string& formatter) {
  auto config = TestConfig(url, false, true);
  config.log_link_formatter = formatter;
  config.google_cluster_projects = {{"dev-gcp", "nais-dev-2e7b"}};
  auto app = std::make_unique<hookd::App>(config);
  app->Start();
  return app;
}

TEST(HttpLogLinks, GcpRedirectsAsTheOriginal) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  auto app = StartApp(db.Url(), "GCP");
  const int port = app->HttpPort();
  const std::string id = "0f3d8f6c-3c1e-4b8a-9b0e-1c2d3e4f5a6b";
  auto ok = Call(port, "GET", "/logs?delivery_id=" + id + "&ts=1661765494&v=1&cluster=dev-gcp");
  EXPECT_EQ(ok.status, 307);
  EXPECT_EQ(ok.location,
            "https://console.cloud.google.com/logs/query;query=jsonPayload.correlation_id%3d%22"
            "0f3d8f6c-3c1e-4b8a-9b0e-1c2d3e4f5a6b%22;timeRange=2022-08-29T07:31:34Z%2f"
            "2022-08-29T11:31:34Z?authuser=0&project=nais-dev-2e7b");
  EXPECT_EQ(ok.body,
            "<a href=\"" +
                std::string("https://console.cloud.google.com/logs/query;query=jsonPayload."
                            "correlation_id%3d%220f3d8f6c-3c1e-4b8a-9b0e-1c2d3e4f5a6b%22;"
                            "timeRange=2022-08-29T07:31:34Z%2f2022-08-29T11:31:34Z?"
                            "authuser=0&amp;project=nais-dev-2e7b") +
                "\">Temporary Redirect</a>.\n\n");
  auto bad_id = Call(port, "GET", "/logs?delivery_id=nope&ts=1");
  EXPECT_EQ(bad_id.status, 400);
  EXPECT_EQ(bad_id.body, "delivery_id 'nope' is not a well-formed UUID\n");
  auto bad_ts = Call(port, "GET", "/logs?delivery_id=" + id + "&ts=bad-ts");
  EXPECT_EQ(bad_ts.status, 400);
  EXPECT_EQ(bad_ts.body,
            "ts 'bad-ts' is not a well-formed unix timestamp: strconv.Atoi: parsing "
            "\"bad-ts\": invalid syntax\n");
  auto no_ts = Call(port, "GET", "/logs?delivery_id=" + id);
  EXPECT_EQ(no_ts.body,
            "ts '' is not a well-formed unix timestamp: strconv.Atoi: parsing \"\": "
            "invalid syntax\n");
  auto unknown = Call(port, "GET", "/logs?delivery_id=" + id + "&ts=1661765494&cluster=prod");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body, "unknown cluster prod\n");
  app->Stop();
}

TEST(HttpLogLinks, KibanaRedirectsAndRejectsUnknownVersions) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  auto app = StartApp(db.Url(), "KIBANA");
  const std::string id = "0f3d8f6c-3c1e-4b8a-9b0e-1c2d3e4f5a6b";
  auto v0 = Call(app->HttpPort(), "GET", "/logs?delivery_id=" + id + "&ts=1661765494&v=garbage");
  EXPECT_EQ(v0.status, 307);
  EXPECT_EQ(
      v0.location,
      "https://logs.adeo.no/app/kibana#/discover?_a=(index:'96e648c0-980a-11e9-830a-"
      "e17bbd64b4db',query:(language:lucene,query:'+x_delivery_id:\"0f3d8f6c-3c1e-4b8a-9b0e-"
      "1c2d3e4f5a6b\" -level:\"Trace\"'))&_g=(time:(from:'2022-08-29T00:00:00Z',mode:absolute,"
      "to:'2022-08-30T00:00:00Z'))");
  auto v7 = Call(app->HttpPort(), "GET", "/logs?delivery_id=" + id + "&ts=1661765494&v=7");
  EXPECT_EQ(v7.status, 400);
  EXPECT_EQ(v7.body, "version '" + id + "' is not supported\n");
  app->Stop();
}

TEST(HttpMetrics, ExpositionAfterADeployment) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  auto app = StartApp(db.Url(), "");
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(app->GrpcPort()),
                                     grpc::InsecureChannelCredentials());
  FakeDeployd deployd(channel, "dev", kDeploydKey);
  auto stub = pb::Deploy::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, 10s);
  pb::DeploymentStatus queued;
  ASSERT_TRUE(stub->Deploy(&context, ConfigMapRequest("aura", "dev", "foo"), &queued).ok());
  ASSERT_TRUE(deployd.Next().has_value());
  ASSERT_TRUE(deployd.Report(queued.request().id(), pb::success, "done").ok());
  auto text = Call(app->HttpPort(), "GET", "/metrics").body;
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  const std::string labels =
      "cluster=\"dev\",deployment_state=\"success\",repository=\"navikt/app\","
      "team=\"aura\"";
  EXPECT_TRUE(has("deployment_hookd_state_transition{" + labels + "} 1")) << text;
  EXPECT_TRUE(has("deployment_hookd_lead_time_seconds_count{" + labels + "} 1")) << text;
  EXPECT_TRUE(has("deployment_hookd_queue_size 0")) << text;
  EXPECT_TRUE(has("deployment_hookd_cluster_status{cluster=\"dev\"} 1")) << text;
  EXPECT_TRUE(
      has("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Deploy\","
          "grpc_service=\"pb.Deploy\",grpc_type=\"unary\"} 1"))
      << text;
  EXPECT_TRUE(
      has("grpc_server_msg_sent_total{grpc_method=\"Deployments\",grpc_service=\"pb.Dispatch\","
          "grpc_type=\"server_stream\"} 1"))
      << text;
  EXPECT_TRUE(
      has("grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"ReportStatus\","
          "grpc_service=\"pb.Dispatch\",grpc_type=\"unary\"} 1"))
      << text;
  EXPECT_NE(text.find("deployment_hookd_database_queries_count{status=\"ok\"} "),
            std::string::npos);
  app->Stop();
}

TEST(HttpReadiness, NotReadyWhenTheSchemaIsBehind) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  auto app = StartApp(db.Url(), "");
  EXPECT_EQ(Call(app->HttpPort(), "GET", "/readyz").status, 200);
  {
    pqxx::connection conn(db.Url());
    pqxx::nontransaction tx(conn);
    tx.exec("DELETE FROM migrations WHERE version = (SELECT max(version) FROM migrations)");
  }
  const int latest = hookd::store::LatestMigrationVersion();
  auto behind = Call(app->HttpPort(), "GET", "/readyz");
  EXPECT_EQ(behind.status, 503);
  EXPECT_EQ(behind.body, "database schema at version " + std::to_string(latest - 1) + ", want " +
                             std::to_string(latest) + "\n");
  app->Stop();
}

}  // namespace
