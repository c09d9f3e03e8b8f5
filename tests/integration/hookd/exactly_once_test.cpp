// Exactly once, hookd's side: a request counts as delivered when deployd confirms it, a final
// state is final, a reconnect of the same deployd process keeps its work, and the deadline ends
// every unfinished deployment. Real Postgres; deployd is the FakeDeployd stand-in.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/hex.hpp"
#include "harness.hpp"
#include "hookd/dispatch/dispatcher.hpp"
#include "hookd/store/migrate.hpp"
#include "hookd/store/pool.hpp"
#include "support/fake_deployd.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;

using hookdtest::QueryCount;

class ExactlyOnce : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.Available()) GTEST_SKIP() << "no test database";
    hookd_ = std::make_unique<Hookd>(db_.Url(), false, true);
    deploy_ = pb::Deploy::NewStub(hookd_->Channel());
  }

  std::string Deploy(const std::string& cluster = "dev") {
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    pb::DeploymentStatus reply;
    auto status = deploy_->Deploy(&context, ConfigMapRequest("aura", cluster, "cm"), &reply);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reply.request().id();
  }

  long long Finals(const std::string& id) {
    return QueryCount(db_.Url(), "SELECT count(*) FROM deployment_status WHERE deployment_id = '" +
                                     id +
                                     "' AND status IN ('success', 'failure', 'error', 'inactive')");
  }

  testsupport::TestDatabase db_;
  std::unique_ptr<Hookd> hookd_;
  std::unique_ptr<pb::Deploy::Stub> deploy_;
};

TEST_F(ExactlyOnce, AWrittenButUnconfirmedRequestGoesToTheNextConnection) {
  const auto started = std::chrono::system_clock::now();
  const std::string id = Deploy();
  {
    // Receives the request and stalls: no status.
    FakeDeployd stalled(hookd_->Channel(), "dev", kDeploydKey, started);
    auto got = stalled.Next(20s);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->id(), id);
  }
  EXPECT_EQ(QueryCount(db_.Url(), "SELECT count(*) FROM deployment_queue WHERE deployment_id = '" +
                                      id + "' AND confirmed IS NULL AND handed_to LIKE 'dev@%'"),
            1);
  // The same process reconnects: it gets the request again (and would drop it if it had it).
  FakeDeployd again(hookd_->Channel(), "dev", kDeploydKey, started);
  auto resent = again.Next(20s);
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(resent->id(), id);
  ASSERT_TRUE(again.Report(id, pb::in_progress, "applying").ok());
  ASSERT_TRUE(again.Report(id, pb::success, "done").ok());
  EXPECT_EQ(Finals(id), 1);
  EXPECT_EQ(QueryCount(db_.Url(), "SELECT count(*) FROM deployment_queue"), 0);
  EXPECT_FALSE(again.Next(500ms).has_value());
}

TEST_F(ExactlyOnce, AFinalStateIsFinal) {
  FakeDeployd deployd(hookd_->Channel(), "dev", kDeploydKey);
  const std::string id = Deploy();
  ASSERT_TRUE(deployd.Next(20s).has_value());
  ASSERT_TRUE(deployd.Report(id, pb::success, "done").ok());
  for (auto state : {pb::in_progress, pb::success, pb::error}) {
    auto late = deployd.Report(id, state, "late");
    EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(late.error_message(), "deployment " + id +
                                        " has already finished (success); later statuses are "
                                        "refused");
  }
  EXPECT_EQ(QueryCount(db_.Url(), "SELECT count(*) FROM deployment_status WHERE message = 'late'"),
            0);

  // Racing final statuses (two deployd, a replica's sweeper): exactly one is stored.
  const std::string raced = Deploy();
  ASSERT_TRUE(deployd.Next(20s).has_value());
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (deployd.Report(raced, i % 2 ? pb::success : pb::failure, "racer").ok()) ++accepted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_EQ(Finals(raced), 1);
}

TEST_F(ExactlyOnce, AReconnectOfTheSameProcessKeepsItsWorkAndARestartLosesIt) {
  const auto started = std::chrono::system_clock::now() - 1h;
  std::string running;
  {
    FakeDeployd deployd(hookd_->Channel(), "dev", kDeploydKey, started);
    running = Deploy();
    ASSERT_TRUE(deployd.Next(20s).has_value());
    ASSERT_TRUE(deployd.Report(running, pb::in_progress, "rolling out").ok());
  }
  // Queued while it was offline: older than nothing it knows, still its work to do.
  const std::string queued_offline = Deploy();
  FakeDeployd reconnected(hookd_->Channel(), "dev", kDeploydKey, started);
  auto delivered = reconnected.Next(20s);
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->id(), queued_offline);
  ASSERT_TRUE(reconnected.Report(queued_offline, pb::in_progress, "rolling out").ok());
  EXPECT_EQ(
      QueryCount(db_.Url(), "SELECT count(*) FROM deployment_status WHERE status = 'inactive'"), 0);
  ASSERT_TRUE(reconnected.Report(running, pb::success, "done").ok());
  EXPECT_EQ(Finals(running), 1);

  // A restarted process (a new start time): what the old one confirmed is lost, once.
  FakeDeployd restarted(hookd_->Channel(), "dev", kDeploydKey, std::chrono::system_clock::now());
  auto lost_once = [&] {
    return QueryCount(db_.Url(), "SELECT count(*) FROM deployment_status WHERE deployment_id = '" +
                                     queued_offline + "' AND status = 'inactive'");
  };
  for (int i = 0; i < 200 && lost_once() == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(lost_once(), 1);
  EXPECT_EQ(Finals(queued_offline), 1);
  EXPECT_EQ(Finals(running), 1);
  EXPECT_FALSE(restarted.Next(500ms).has_value());
}

class ManualClock final : public common::Clock {
 public:
  common::SystemTime Now() const override { return now; }
  common::SystemTime now = std::chrono::system_clock::now();
};

// The sweeper's rule, with a clock the test moves: unconfirmed requests end a little before their
// deadline (a CLI waiting until then sees why), confirmed ones a grace after it, each exactly once.
TEST(ExactlyOnceDeadline, TheDeadlineEndsEveryUnfinishedDeploymentOnce) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  {
    pqxx::connection conn(db.Url());
    hookd::store::Migrate(conn);
  }
  hookd::store::ConnectionPool pool(db.Url(), 2);
  hookd::store::Store store(pool, *common::HexDecode(kEncryptionKeyHex));
  hookd::dispatch::StatusHub hub;
  hookd::dispatch::ClusterRegistry clusters;
  ManualClock clock;
  hookd::dispatch::Dispatcher dispatcher(store, hub, clusters, clock);
  const auto start = clock.now;
  auto request = [&] {
    auto r = ConfigMapRequest("aura", "prod", "cm");
    *r.mutable_time() = common::ToTimestamp(start);
    *r.mutable_deadline() = common::ToTimestamp(start + 10min);
    return r;
  };
  const std::string offline = dispatcher.Deploy(request()).request().id();
  const std::string sent = dispatcher.Deploy(request()).request().id();
  const std::string confirmed = dispatcher.Deploy(request()).request().id();
  store.MarkHandedOut({sent, confirmed}, "prod@1");
  clock.now = start + 1s;
  dispatcher.HandleStatus(confirmed, pb::in_progress, "rolling out", clock.now);

  auto message = [&](const std::string& id) {
    auto statuses = store.Statuses(id);  // newest first
    return statuses.front().state_name + ": " + statuses.front().message;
  };
  clock.now = start + 10min - 31s;
  EXPECT_EQ(dispatcher.ExpireQueued(), 0);
  clock.now = start + 10min - 29s;
  EXPECT_EQ(dispatcher.ExpireQueued(), 2);
  EXPECT_EQ(message(offline),
            "error: deadline passed before a deployd for cluster 'prod' picked up the deployment "
            "(cluster offline)");
  EXPECT_EQ(message(sent),
            "error: deadline passed before deployd for cluster 'prod' confirmed the deployment "
            "(it was sent, no status came back)");
  EXPECT_EQ(message(confirmed), "in_progress: rolling out");
  clock.now = start + 10min + 59s;
  EXPECT_EQ(dispatcher.ExpireQueued(), 0);
  clock.now = start + 10min + 61s;
  EXPECT_EQ(dispatcher.ExpireQueued(), 1);
  EXPECT_EQ(message(confirmed),
            "error: deadline passed while deployd for cluster 'prod' was working on the "
            "deployment; it reported no final status");
  clock.now = start + 1h;
  EXPECT_EQ(dispatcher.ExpireQueued(), 0);
  for (const auto& id : {offline, sent, confirmed}) {
    EXPECT_EQ(
        QueryCount(db.Url(), "SELECT count(*) FROM deployment_status WHERE deployment_id = '" + id +
                                 "' AND status = 'error'"),
        1);
  }
  EXPECT_EQ(QueryCount(db.Url(), "SELECT count(*) FROM deployment_queue"), 0);
}

}  // namespace
