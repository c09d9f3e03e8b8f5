// Attacks of a hostile team, client or agent against the real hookd binary and a real Postgres.
// Each test performs the attack and asserts that it fails: status, message, nothing stored, and
// the process still serving.
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/limits.hpp"
#include "common/pb_json.hpp"
#include "common/uuid.hpp"
#include "harness.hpp"
#include "hookd/http/console.hpp"
#include "support/fake_deployd.hpp"
#include "support/http_call.hpp"
#include "support/process.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;
using nlohmann::json;

const std::string kCrlfTeam = "argocd:argocd-application-controller\r\nX-Injected: 1";
const std::string kLabelRule =
    "must be a lowercase RFC 1123 label: at most 63 characters, lower case alphanumeric "
    "characters or '-', starting and ending with an alphanumeric character (e.g. 'my-name', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const std::string kCrlfTeamMessage =
    "invalid team \"argocd:argocd-application-controller\\r\\nX-Injected: 1\": " + kLabelRule;

std::int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

long ScalarQuery(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  return tx.exec1(sql)[0].as<long>();
}

// The hookd binary on a private database.
class HostileHookd : public HookdProcessTest {
 protected:
  // hookd with the provisioning and console keys as well.
  void Start(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--provision-key", common::HexEncode("provision-secret"),
                                 "--frontend-keys", "console-psk"});
    HookdProcessTest::Start(extra);
  }

  Reply Signed(const std::string& path, const std::string& text, const std::string& key) {
    return Call(http_port_, "POST", path, text,
                {{"Content-Type", "application/json"},
                 {"X-NAIS-Signature", common::HexEncode(common::HmacSha256(key, text))}});
  }

  json DeployBody(const std::string& team = "aura", const std::string& cluster = "dev") {
    return {{"resources", json::array({{{"apiVersion", "v1"},
                                        {"kind", "ConfigMap"},
                                        {"metadata", {{"name", "foo"}, {"namespace", "aura"}}}}})},
            {"team", team},
            {"cluster", cluster},
            {"environment", "dev"},
            {"ref", "main"},
            {"timestamp", NowSeconds()}};
  }

  long Deployments() { return ScalarQuery(db_.Url(), "SELECT count(*) FROM deployment"); }

  // The process is alive and its probe answers.
  void ExpectServing() {
    if (getenv("SHOW_LOG")) std::cerr << hookd_->Log();
    EXPECT_TRUE(hookd_->Running()) << hookd_->Log();
    EXPECT_EQ(Call(http_port_, "GET", "/healthz").status, 200);
  }
};

// ---------------------------------------------------------------------------------------------
// Critical: a team name must never choose deployd's identity.

TEST_F(HostileHookd, CrlfTeamIsRefusedByGrpcDeployAndStatus) {
  Start();
  auto stub = pb::Deploy::NewStub(Channel());
  {
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    pb::DeploymentStatus reply;
    auto status = stub->Deploy(&context, ConfigMapRequest(kCrlfTeam, "dev", "x"), &reply);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), kCrlfTeamMessage);
  }
  {
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    pb::DeploymentStatus reply;
    auto status =
        stub->Deploy(&context, ConfigMapRequest("aura", "dev\r\nX-Injected: 1", "x"), &reply);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "invalid cluster \"dev\\r\\nX-Injected: 1\": " + kLabelRule);
  }
  {
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    pb::DeploymentRequest request;
    request.set_id(common::NewUuidV4());
    request.set_team(kCrlfTeam);
    auto reader = stub->Status(&context, request);
    pb::DeploymentStatus ignored;
    EXPECT_FALSE(reader->Read(&ignored));
    auto status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), kCrlfTeamMessage);
  }
  EXPECT_EQ(Deployments(), 0);
  ExpectServing();
}

TEST_F(HostileHookd, BadTeamInAuthenticationMetadataIsRefusedBeforeAnyLookup) {
  Start({"--grpc.cli-authentication=true"});
  auto stub = pb::Deploy::NewStub(Channel());
  grpc::ClientContext context;
  SetDeadline(context, 20s);
  SignApiKey(context, key_, "Aura");
  pb::DeploymentStatus reply;
  auto status = stub->Deploy(&context, ConfigMapRequest("aura", "dev", "x"), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "invalid team \"Aura\": " + kLabelRule);
  EXPECT_EQ(Deployments(), 0);
}

TEST_F(HostileHookd, BadTeamsAndClustersAreRefusedByEveryHttpEntry) {
  Start();
  // Signed deploy and status: the rule is checked before the signature.
  auto deploy = Signed("/api/v1/deploy", DeployBody(kCrlfTeam).dump(), key_);
  EXPECT_EQ(deploy.status, 400);
  EXPECT_EQ(json::parse(deploy.body)["message"], "invalid deployment request: " + kCrlfTeamMessage);
  auto cluster = Signed("/api/v1/deploy", DeployBody("aura", "Prod_1").dump(), key_);
  EXPECT_EQ(cluster.status, 400);
  EXPECT_EQ(json::parse(cluster.body)["message"],
            "invalid deployment request: invalid cluster \"Prod_1\": " + kLabelRule);
  json status_body = {
      {"deploymentID", common::NewUuidV4()}, {"team", "a/../b"}, {"timestamp", NowSeconds()}};
  auto status = Signed("/api/v1/status", status_body.dump(), key_);
  EXPECT_EQ(status.status, 400);
  EXPECT_EQ(json::parse(status.body)["message"],
            "invalid status request: invalid team \"a/../b\": " + kLabelRule);

  // Provisioning a team whose name would split a header later.
  json provision = {{"team", kCrlfTeam}, {"timestamp", NowSeconds()}};
  auto provisioned = Signed("/internal/api/v1/provision", provision.dump(), "provision-secret");
  EXPECT_EQ(provisioned.status, 400);
  EXPECT_EQ(json::parse(provisioned.body)["message"], "invalid request: " + kCrlfTeamMessage);
  EXPECT_EQ(ScalarQuery(db_.Url(), "SELECT count(*) FROM apikey WHERE team <> 'aura'"), 0);

  // Console endpoints.
  auto console = Call(http_port_, "POST", "/internal/api/v1/console/apikey/Team_A", "",
                      {{"X-PSK", "console-psk"}});
  EXPECT_EQ(console.status, 400);
  EXPECT_EQ(json::parse(console.body)["message"], "invalid team \"Team_A\": " + kLabelRule);
  auto repositories = Call(http_port_, "POST", "/internal/api/v1/team/-bad/repositories",
                           json{{"repository", "navikt/app"}}.dump(),
                           {{"X-PSK", "console-psk"}, {"Content-Type", "application/json"}});
  EXPECT_EQ(repositories.status, 400);
  EXPECT_EQ(json::parse(repositories.body)["message"], "invalid team \"-bad\": " + kLabelRule);
  EXPECT_EQ(ScalarQuery(db_.Url(), "SELECT count(*) FROM team_repositories"), 0);
  EXPECT_EQ(Deployments(), 0);
  ExpectServing();
}

// ---------------------------------------------------------------------------------------------
// High: a deployd key serves only its own cluster.

TEST_F(HostileHookd, DeploydKeysAreBoundToTheirClusters) {
  Start({"--grpc.deployd-authentication=true", "--deployd-keys",
         "local=key-local,local=key-local-2,prod=key-prod"});
  auto channel = Channel();
  // The key of prod cannot claim local.
  FakeDeployd thief(channel, "local", "key-prod");
  auto refused = thief.Ended(20s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(refused->error_message(), "this deployd key is not valid for cluster \"local\"");

  FakeDeployd local(channel, "local", "key-local");
  auto stub = pb::Deploy::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, 20s);
  pb::DeploymentStatus queued;
  ASSERT_TRUE(stub->Deploy(&context, ConfigMapRequest("aura", "local", "x"), &queued).ok());
  auto delivered = local.Next(20s);
  ASSERT_TRUE(delivered.has_value());
  const std::string id = delivered->id();

  // Another key of the same cluster does not replace the connected stream.
  FakeDeployd second(channel, "local", "key-local-2");
  auto second_end = second.Ended(20s);
  ASSERT_TRUE(second_end.has_value());
  EXPECT_EQ(second_end->error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(second_end->error_message(),
            "cluster \"local\" is served by a deployd connected with another key; only a "
            "connection with the same key replaces it");
  EXPECT_FALSE(local.Ended(0ms).has_value());

  // The key of prod reports nothing on a deployment of local.
  auto foreign = local.Report(id, pb::success, "forged", "key-prod");
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(foreign.error_message(), "deployment '" + id +
                                         "' belongs to cluster \"local\", which this deployd key "
                                         "is not valid for");
  EXPECT_EQ(ScalarQuery(db_.Url(),
                        "SELECT count(*) FROM deployment_status WHERE message = "
                        "'forged'"),
            0);
  EXPECT_TRUE(local.Report(id, pb::success, "done").ok());

  // The same key replaces its own stream (a restarted deployd).
  FakeDeployd restarted(channel, "local", "key-local");
  auto replaced = local.Ended(20s);
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->error_code(), grpc::StatusCode::ABORTED);
  // A cluster name that is no label is refused.
  FakeDeployd bad_name(channel, "local\r\nx", "key-local");
  auto bad = bad_name.Ended(20s);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ExpectServing();
}

TEST_F(HostileHookd, PlainDeploydKeysStillWorkWithAWarning) {
  Start({"--grpc.deployd-authentication=true", "--deployd-keys", "shared-key"});
  FakeDeployd any(Channel(), "whatever", "shared-key");
  EXPECT_FALSE(any.Ended(2s).has_value());
  EXPECT_NE(hookd_->Log().find("deployd-keys has keys without a cluster: any holder of such a "
                               "key can claim any cluster; bind keys with cluster=KEY"),
            std::string::npos)
      << hookd_->Log();
}

// ---------------------------------------------------------------------------------------------
// High: poison pill and crash.

TEST_F(HostileHookd, AnUnreadableQueuedRequestFailsItsOwnDeploymentOnly) {
  Start();
  const std::string poison = common::NewUuidV4();
  const std::string expired_poison = common::NewUuidV4();
  {
    pqxx::connection conn(db_.Url());
    pqxx::work tx(conn);
    for (const auto& [id, deadline] :
         {std::pair{poison, std::string("now() + interval '10 minutes'")},
          std::pair{expired_poison, std::string("now() - interval '1 second'")}}) {
      tx.exec_params(
          "INSERT INTO deployment (id, team, created, cluster) VALUES ($1, 'aura', "
          "now(), 'dev')",
          id);
      tx.exec_params(
          "INSERT INTO deployment_queue (deployment_id, cluster, request, deadline, "
          "created) VALUES ($1, 'dev', '\\xffffffffff'::bytea, " +
              deadline + ", now() - interval '1 minute')",
          id);
    }
    tx.commit();
  }
  auto stub = pb::Deploy::NewStub(Channel());
  grpc::ClientContext context;
  SetDeadline(context, 20s);
  pb::DeploymentStatus queued;
  ASSERT_TRUE(stub->Deploy(&context, ConfigMapRequest("aura", "dev", "fine"), &queued).ok());

  FakeDeployd deployd(Channel(), "dev", "");
  auto delivered = deployd.Next(30s);
  ASSERT_TRUE(delivered.has_value()) << hookd_->Log();
  EXPECT_EQ(delivered->id(), queued.request().id());
  EXPECT_FALSE(deployd.Next(1s).has_value());

  auto message_of = [&](const std::string& id) {
    pqxx::connection conn(db_.Url());
    pqxx::nontransaction tx(conn);
    auto rows = tx.exec_params(
        "SELECT status, message FROM deployment_status WHERE deployment_id = $1", id);
    return rows.empty() ? std::string()
                        : rows[0][0].as<std::string>() + ": " + rows[0][1].as<std::string>();
  };
  // The sweeper (every second) ends the expired one; the stream ended the other.
  for (int i = 0; i < 300 && message_of(expired_poison).empty(); ++i) {
    std::this_thread::sleep_for(100ms);
  }
  const std::string expected =
      "error: hookd could not read the queued deployment request: the stored request is not a "
      "readable pb.DeploymentRequest (5 bytes); nothing was applied";
  EXPECT_EQ(message_of(poison), expected);
  EXPECT_EQ(message_of(expired_poison), expected);
  EXPECT_EQ(ScalarQuery(db_.Url(),
                        "SELECT count(*) FROM deployment_queue WHERE deployment_id IN "
                        "('" +
                            poison + "', '" + expired_poison + "')"),
            0);
  ExpectServing();
}

// A resource nested `depth` levels deep (objects within objects).
json Nested(int depth) {
  json inner = json::object();
  for (int i = 1; i < depth; ++i) inner = json{{"x", std::move(inner)}};
  return inner;
}

TEST_F(HostileHookd, DeepDocumentsAreRefusedClearlyAndNothingCrashes) {
  Start();
  // 200,000 levels of arrays in a signed body: refused before the signature, hookd lives.
  const std::string deep_array = std::string(200000, '[') + std::string(200000, ']');
  auto deep = Signed("/api/v1/deploy", deep_array, key_);
  EXPECT_EQ(deep.status, 400);
  EXPECT_EQ(json::parse(deep.body)["message"],
            "unable to unmarshal request body: document is nested more than 512 levels deep "
            "(the limit for one resource)");
  std::string inside = DeployBody().dump();
  inside.replace(inside.find("[{"), 1,
                 "[" + std::string(100000, '[') + std::string(100000, ']') + ",");
  auto nested = Signed("/api/v1/deploy", inside, key_);
  EXPECT_EQ(nested.status, 400);
  EXPECT_EQ(json::parse(nested.body)["message"],
            "unable to unmarshal request body: document is nested more than 512 levels deep "
            "(the limit for one resource)");
  ExpectServing();

  // gRPC: 40 levels (a real CRD's depth) are stored and delivered; 600 are refused clearly.
  auto stub = pb::Deploy::NewStub(Channel());
  pb::DeploymentRequest ok_request = ConfigMapRequest("aura", "dev", "deep");
  json crd = Nested(40);
  crd["kind"] = "ConfigMap";
  crd["apiVersion"] = "v1";
  *ok_request.mutable_kubernetes()->mutable_resources(0) = common::JsonToStruct(crd);
  {
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    pb::DeploymentStatus queued;
    auto status = stub->Deploy(&context, ok_request, &queued);
    ASSERT_TRUE(status.ok()) << status.error_message();
    FakeDeployd deployd(Channel(), "dev", "");
    auto delivered = deployd.Next(30s);
    ASSERT_TRUE(delivered.has_value()) << hookd_->Log();
    EXPECT_EQ(common::StructToJson(delivered->kubernetes().resources(0)), crd);
  }
  {
    pb::DeploymentRequest too_deep = ConfigMapRequest("aura", "dev", "deeper");
    google::protobuf::Struct inner;
    for (int i = 0; i < 600; ++i) {
      google::protobuf::Struct outer;
      *(*outer.mutable_fields())["x"].mutable_struct_value() = std::move(inner);
      inner = std::move(outer);
    }
    *too_deep.mutable_kubernetes()->mutable_resources(0) = std::move(inner);
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    pb::DeploymentStatus reply;
    auto status = stub->Deploy(&context, too_deep, &reply);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(),
              "invalid Kubernetes resources in request: resource 1: document is nested more "
              "than 512 levels deep (the limit for one resource)");
  }
  EXPECT_EQ(Deployments(), 1);
  ExpectServing();
}

// ---------------------------------------------------------------------------------------------
// Medium: verify before parsing, probes, metrics, start-up refusals.

TEST_F(HostileHookd, MetricsLabelRequestsByRouteNotByRawPath) {
  Start();
  std::mt19937 random(42);
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(Call(http_port_, "GET", "/random/" + std::to_string(random())).status, 404);
  }
  EXPECT_EQ(Call(http_port_, "GET", "/internal/api/v1/console/apikey/aura").status, 403);
  auto metrics = Call(http_port_, "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.body.find("/random/"), std::string::npos);
  EXPECT_NE(metrics.body.find(
                "requests_total{code=\"404\",method=\"GET\",path=\"other\",service=\"hookd\"} 300"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("requests_total{code=\"403\",method=\"GET\",path=\"/internal/api/v1/"
                              "console/apikey/{team}\",service=\"hookd\"} 1"),
            std::string::npos);
  EXPECT_LT(metrics.body.size(), 64u * 1024);
}

TEST(HostileStartup, InsecureDefaultsAreRefusedBeyondLoopback) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  const int http_port = testsupport::FreePort();
  auto refused = testsupport::Run(
      {testsupport::BinaryPath("hookd"), "--database-url", db.Url(), "--grpc.address",
       "127.0.0.1:0", "--listen-address", "0.0.0.0:" + std::to_string(http_port)},
      {}, 60s);
  EXPECT_EQ(refused.exit_code, 1);
  const std::string output = refused.out + refused.err;
  EXPECT_NE(output.find("refusing to listen beyond loopback (0.0.0.0:" + std::to_string(http_port) +
                        ", 127.0.0.1:0) with an insecure configuration: database-encryption-key "
                        "is the public default"),
            std::string::npos)
      << output;

  testsupport::ChildProcess allowed({testsupport::BinaryPath("hookd"), "--database-url", db.Url(),
                                     "--grpc.address", "127.0.0.1:0", "--listen-address",
                                     "0.0.0.0:" + std::to_string(http_port), "--insecure"});
  ASSERT_TRUE(testsupport::WaitForPort(http_port, 60s)) << allowed.Log();
  const std::string log = allowed.Log();
  EXPECT_NE(log.find("database-encryption-key is the public default"), std::string::npos) << log;
  EXPECT_NE(log.find("grpc.cli-authentication is off"), std::string::npos) << log;
  EXPECT_NE(log.find("grpc.deployd-authentication is off"), std::string::npos) << log;
}

// ---------------------------------------------------------------------------------------------
// Low.

TEST_F(HostileHookd, ExtremeTimestampsAreOutsideTheTimeframe) {
  Start();
  for (const std::string stamp : {"-9223372036854775808", "9223372036854775807"}) {
    std::string text = DeployBody().dump();
    const auto at = text.find("\"timestamp\":") + 12;
    text.replace(at, text.find('}', at) - at, stamp);
    auto reply = Signed("/api/v1/deploy", text, key_);
    EXPECT_EQ(reply.status, 400) << stamp;
    EXPECT_EQ(json::parse(reply.body)["message"],
              "invalid deployment request: request is not within allowed timeframe")
        << stamp;
  }
  EXPECT_EQ(Deployments(), 0);
}

TEST_F(HostileHookd, StatusOfAnotherTeamsDeploymentIsNotFound) {
  Start();
  const std::string other_key = ProvisionKey(db_.Url(), "other");
  auto created = Signed("/api/v1/deploy", DeployBody().dump(), key_);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id = json::parse(created.body)["correlationID"];
  json ask = {{"deploymentID", id}, {"team", "other"}, {"timestamp", NowSeconds()}};
  auto foreign = Signed("/api/v1/status", ask.dump(), other_key);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(json::parse(foreign.body), (json{{"message", "deployment not found"}}));
  ask["team"] = "aura";
  auto own = Signed("/api/v1/status", ask.dump(), key_);
  EXPECT_EQ(own.status, 200);
  EXPECT_EQ(json::parse(own.body)["status"], "queued");
}

TEST_F(HostileHookd, ASignedBodyReplayedCreatesNothingNew) {
  Start();
  const std::string text = DeployBody().dump();
  auto first = Signed("/api/v1/deploy", text, key_);
  auto replay = Signed("/api/v1/deploy", text, key_);
  ASSERT_EQ(first.status, 201) << first.body;
  ASSERT_EQ(replay.status, 201) << replay.body;
  EXPECT_EQ(json::parse(first.body), json::parse(replay.body));
  EXPECT_EQ(Deployments(), 1);
  EXPECT_EQ(ScalarQuery(db_.Url(), "SELECT count(*) FROM deployment_status"), 1);
  // A new signature (our CLI re-signs each retry) is a new request.
  auto other = Signed("/api/v1/deploy", DeployBody().dump() + " ", key_);
  EXPECT_EQ(other.status, 201);
  EXPECT_EQ(Deployments(), 2);
}

TEST_F(HostileHookd, ClientSetTimesAreBounded) {
  Start();
  auto stub = pb::Deploy::NewStub(Channel());
  auto request = ConfigMapRequest("aura", "dev", "x");
  request.mutable_time()->set_seconds(std::numeric_limits<std::int64_t>::min());
  request.mutable_deadline()->set_seconds(std::numeric_limits<std::int64_t>::max());
  grpc::ClientContext context;
  SetDeadline(context, 20s);
  pb::DeploymentStatus queued;
  ASSERT_TRUE(stub->Deploy(&context, request, &queued).ok());
  // The deadline is at most 24 h ahead; the creation time within the last 24 h.
  EXPECT_EQ(ScalarQuery(db_.Url(),
                        "SELECT count(*) FROM deployment_queue WHERE deadline <= "
                        "now() + interval '24 hours 1 minute' AND deadline > now()"),
            1);
  EXPECT_EQ(ScalarQuery(db_.Url(),
                        "SELECT count(*) FROM deployment WHERE created >= now() - "
                        "interval '24 hours 1 minute' AND created <= now()"),
            1);
  ExpectServing();
}

TEST_F(HostileHookd, PagesAndProbesGiveNothingAway) {
  Start();
  auto created = Signed("/api/v1/deploy", DeployBody().dump(), key_);
  ASSERT_EQ(created.status, 201);
  const std::string id = json::parse(created.body)["correlationID"];
  // The page's headers.
  namespace beast = boost::beast;
  namespace bhttp = beast::http;
  common::net::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(
      {common::net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(http_port_)});
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/logs?delivery_id=" + id, 11};
  req.set(bhttp::field::host, "localhost");
  bhttp::write(stream, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res["X-Content-Type-Options"], "nosniff");
  // The console's deployment page: its inline style and script are allowed by hash only.
  EXPECT_EQ(res["Content-Security-Policy"], hookd::http::ConsoleContentSecurityPolicy());
  EXPECT_EQ(std::string(res["Content-Security-Policy"]).find("unsafe-inline"), std::string::npos);

  // The database refuses hookd: /readyz says so without the database's own words.
  const char* admin = std::getenv("HOOKD_TEST_DATABASE_URL");
  ASSERT_NE(admin, nullptr);
  auto admin_exec = [&](const std::string& sql) {
    pqxx::connection conn(admin);
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
  };
  admin_exec("ALTER DATABASE " + db_.Name() + " ALLOW_CONNECTIONS false");
  admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
             db_.Name() + "'");
  Reply ready;
  for (int i = 0; i < 100; ++i) {
    ready = Call(http_port_, "GET", "/readyz");
    if (ready.status == 503) break;
    std::this_thread::sleep_for(100ms);
  }
  admin_exec("ALTER DATABASE " + db_.Name() + " ALLOW_CONNECTIONS true");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "database unavailable\n");
  EXPECT_NE(hookd_->Log().find("readiness: database unavailable: "), std::string::npos);
  ExpectServing();
}

}  // namespace
