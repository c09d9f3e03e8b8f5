// hookd as separate processes: two replicas on one database (LISTEN/NOTIFY), and Postgres going
// away and coming back while hookd runs.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/state.hpp"
#include "harness.hpp"
#include "hookd/store/pool.hpp"
#include "hookd/store/store.hpp"
#include "support/eventually.hpp"
#include "support/fake_deployd.hpp"
#include "support/http_call.hpp"
#include "support/process.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// One hookd child process on its own ports.
struct HookdProcess {
  HookdProcess(const std::string& database_url, bool cli_auth)
      : grpc_port(testsupport::FreePort()),
        http_port(testsupport::FreePort()),
        process({testsupport::BinaryPath("hookd"), "--database-url", database_url, "--grpc.address",
                 "127.0.0.1:" + std::to_string(grpc_port), "--listen-address",
                 "127.0.0.1:" + std::to_string(http_port),
                 std::string("--grpc.cli-authentication=") + (cli_auth ? "true" : "false"),
                 "--grpc.deployd-authentication=true", "--deployd-keys", kDeploydKey,
                 "--database-connect-timeout", "20s", "--log-level", "info"}) {}
  bool WaitReady() {
    return testsupport::WaitForPort(grpc_port, 30s) && testsupport::WaitForPort(http_port, 30s);
  }
  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port),
                               grpc::InsecureChannelCredentials());
  }
  int grpc_port;
  int http_port;
  testsupport::ChildProcess process;
};

using testsupport::Eventually;

bool ClusterConnected(int http_port, const std::string& cluster) {
  auto metrics = Call(http_port, "GET", "/metrics");
  return metrics.body.find("deployment_hookd_cluster_status{cluster=\"" + cluster + "\"} 1\n") !=
         std::string::npos;
}

TEST(HookdReplicas, DeploymentAcceptedByOneReplicaReachesTheDeploydOfAnother) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  HookdProcess a(db.Url(), true);
  ASSERT_TRUE(a.WaitReady()) << a.process.Log();
  HookdProcess b(db.Url(), true);
  ASSERT_TRUE(b.WaitReady()) << b.process.Log();
  ASSERT_TRUE(Eventually([&] { return Call(b.http_port, "GET", "/readyz").status == 200; }));
  const std::string key = ProvisionKey(db.Url(), "aura");

  FakeDeployd deployd(a.Channel(), "dev", kDeploydKey);
  ASSERT_TRUE(Eventually([&] { return ClusterConnected(a.http_port, "dev"); })) << a.process.Log();

  auto deploy = pb::Deploy::NewStub(b.Channel());
  const auto started = Clock::now();
  pb::DeploymentStatus queued;
  {
    grpc::ClientContext context;
    SignApiKey(context, key, "aura");
    SetDeadline(context, 10s);
    auto status = deploy->Deploy(&context, ConfigMapRequest("aura", "dev", "foo"), &queued);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  // B knows that dev's deployd is connected (to A): the queued status does not say otherwise.
  EXPECT_EQ(queued.message(), common::kQueuedMessage);
  const std::string id = queued.request().id();
  grpc::ClientContext context;
  SignApiKey(context, key, "aura");
  SetDeadline(context, 10s);
  auto reader = deploy->Status(&context, queued.request());
  pb::DeploymentStatus status;
  ASSERT_TRUE(reader->Read(&status));
  EXPECT_EQ(status.state(), pb::queued);

  // Without notifications this would wait for a periodic sweep (30 s).
  auto delivered = deployd.Next(3s);
  ASSERT_TRUE(delivered.has_value()) << a.process.Log();
  EXPECT_EQ(delivered->id(), id);
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "applying").ok());
  ASSERT_TRUE(reader->Read(&status));
  EXPECT_EQ(status.state(), pb::in_progress);
  EXPECT_EQ(status.message(), "applying");
  ASSERT_TRUE(deployd.Report(id, pb::success, std::string(common::kSuccessMessage)).ok());
  ASSERT_TRUE(reader->Read(&status));
  EXPECT_EQ(status.state(), pb::success);
  EXPECT_FALSE(reader->Read(&status));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_LT(Clock::now() - started, 3s);

  // Idempotent retries across replicas: a request with a key that the team used before answers
  // with the first deployment (the unique constraint in Postgres decides), whichever replica the
  // retry reaches; a key of another team, or none, creates a new one.
  auto deploy_a = pb::Deploy::NewStub(a.Channel());
  const std::string other_key = ProvisionKey(db.Url(), "other");
  auto deploy_with = [&](pb::Deploy::Stub& stub, const std::string& team, const std::string& api,
                         const std::string& idempotency, pb::DeploymentStatus& out) {
    grpc::ClientContext call;
    SignApiKey(call, api, team);
    SetDeadline(call, 10s);
    if (!idempotency.empty()) call.AddMetadata("idempotency-key", idempotency);
    return stub.Deploy(&call, ConfigMapRequest(team, "dev", "retried"), &out);
  };
  pb::DeploymentStatus first, retried, other_team, without;
  ASSERT_TRUE(deploy_with(*deploy, "aura", key, "ci-run-1", first).ok());
  ASSERT_TRUE(deploy_with(*deploy_a, "aura", key, "ci-run-1", retried).ok());
  EXPECT_EQ(retried.request().id(), first.request().id());
  EXPECT_EQ(retried.state(), pb::queued);
  ASSERT_TRUE(deploy_with(*deploy_a, "other", other_key, "ci-run-1", other_team).ok());
  EXPECT_NE(other_team.request().id(), first.request().id());
  ASSERT_TRUE(deploy_with(*deploy_a, "aura", key, "", without).ok());
  EXPECT_NE(without.request().id(), first.request().id());
  auto bad = deploy_with(*deploy_a, "aura", key, "two words", without);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(),
            "invalid idempotency key: it must be 1 to 128 characters of letters, digits, '-', "
            "'_', '.' and ':'");
  {
    hookd::store::ConnectionPool pool(db.Url(), 1);
    int rows = 0;
    pool.With([&](pqxx::connection& conn) {
      pqxx::nontransaction tx(conn);
      rows = tx.exec(
                   "SELECT count(*) FROM deployment WHERE id IN (SELECT deployment_id FROM "
                   "deployment_resource WHERE name = 'retried')")[0][0]
                 .as<int>();
    });
    EXPECT_EQ(rows, 3);  // first (and its retry), other team's, the one without a key
  }
  for (int i = 0; i < 3; ++i) {  // each once; finished, so that none is redelivered below
    auto sent = deployd.Next(3s);
    ASSERT_TRUE(sent.has_value());
    ASSERT_TRUE(deployd.Report(sent->id(), pb::success, "done").ok());
  }

  // The deployd reconnects to the other replica: its old stream on A ends, so a half-open
  // connection there never takes deployments away from the new one.
  FakeDeployd moved(b.Channel(), "dev", kDeploydKey);
  auto ended = deployd.Ended(5s);
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ended->error_message(), "replaced by a newer connection for cluster 'dev'");
  pb::DeploymentStatus next;
  {
    grpc::ClientContext deploy_context;
    SignApiKey(deploy_context, key, "aura");
    SetDeadline(deploy_context, 10s);
    ASSERT_TRUE(
        deploy->Deploy(&deploy_context, ConfigMapRequest("aura", "dev", "bar"), &next).ok());
  }
  auto redelivered = moved.Next(3s);
  ASSERT_TRUE(redelivered.has_value());
  EXPECT_EQ(redelivered->id(), next.request().id());
}

// A private Postgres that the test can stop and start again on the same port.
class PrivatePostgres {
 public:
  PrivatePostgres() : dir_(testsupport::MakeTempDir("hookd-pg")), port_(testsupport::FreePort()) {}
  ~PrivatePostgres() {
    Stop();
    testsupport::Run({"rm", "-rf", dir_});
  }
  std::string Start() {
    auto result = testsupport::Run(
        {testsupport::SourceDir() + "/scripts/pg", "start", dir_, std::to_string(port_)}, {}, 120s);
    if (result.exit_code != 0) return "";
    std::string url = result.out;
    while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
    return url;
  }
  void Stop() {
    testsupport::Run({testsupport::SourceDir() + "/scripts/pg", "stop", dir_}, {}, 120s);
  }

 private:
  std::string dir_;
  int port_;
};

grpc::Status DeployTo(pb::Deploy::Stub& stub, const std::string& cluster) {
  grpc::ClientContext context;
  SetDeadline(context, 10s);
  pb::DeploymentStatus reply;
  return stub.Deploy(&context, ConfigMapRequest("aura", cluster, "foo"), &reply);
}

TEST(HookdPostgresRestart, UnavailableWhileDownAndRecoversByItself) {
  PrivatePostgres postgres;
  const std::string url = postgres.Start();
  ASSERT_FALSE(url.empty());
  HookdProcess hookd(url, false);
  ASSERT_TRUE(hookd.WaitReady()) << hookd.process.Log();
  ASSERT_TRUE(Eventually([&] { return Call(hookd.http_port, "GET", "/readyz").status == 200; }));
  auto deploy = pb::Deploy::NewStub(hookd.Channel());
  ASSERT_TRUE(DeployTo(*deploy, "dev").ok());
  FakeDeployd deployd(hookd.Channel(), "dev", kDeploydKey);
  ASSERT_TRUE(deployd.Next(5s).has_value());

  postgres.Stop();
  auto down = Call(hookd.http_port, "GET", "/readyz");
  EXPECT_EQ(down.status, 503) << down.body;
  auto refused = DeployTo(*deploy, "dev");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_EQ(refused.error_message(), "database is unavailable; try again later");
  EXPECT_TRUE(hookd.process.Running());

  ASSERT_EQ(postgres.Start(), url);
  ASSERT_TRUE(
      Eventually([&] { return Call(hookd.http_port, "GET", "/readyz").status == 200; }, 20s))
      << hookd.process.Log();
  auto accepted = DeployTo(*deploy, "dev");
  EXPECT_TRUE(accepted.ok()) << accepted.error_message();
  EXPECT_TRUE(deployd.Next(5s).has_value());
  // LISTEN is back: a deployment written by someone else (another replica) is delivered at once.
  hookd::store::ConnectionPool pool(url, 1);
  hookd::store::Store other(pool, *common::HexDecode(kEncryptionKeyHex));
  other.SetOrigin("another-replica");
  auto request = ConfigMapRequest("aura", "dev", "bar");
  request.set_id("6f1c8a52-8d0e-4c1e-9a44-1f6f9d2b7c30");
  other.CreateDeployment(request, {}, std::chrono::system_clock::now(),
                         std::chrono::system_clock::now() + 5min, "queued");
  auto delivered = deployd.Next(3s);
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->id(), request.id());
  EXPECT_EQ(hookd.process.Stop(), 0) << hookd.process.Log();
}

}  // namespace
