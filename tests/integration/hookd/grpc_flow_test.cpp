// The main job through gRPC: Deploy -> deployd stream -> ReportStatus -> Status stream.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/error.hpp"
#include "common/state.hpp"
#include "harness.hpp"
#include "hookd/store/pool.hpp"
#include "hookd/store/store.hpp"
#include "support/eventually.hpp"
#include "support/fake_deployd.hpp"
#include "support/fake_timers.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;

struct StatusReader {
  StatusReader(pb::Deploy::Stub& stub, const pb::DeploymentRequest& request, const std::string& key,
               const std::string& team) {
    if (!key.empty()) SignApiKey(context, key, team);
    SetDeadline(context, 20s);
    reader = stub.Status(&context, request);
  }
  std::optional<pb::DeploymentStatus> Next() {
    pb::DeploymentStatus status;
    if (!reader->Read(&status)) return std::nullopt;
    return status;
  }
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<pb::DeploymentStatus>> reader;
};

using testsupport::Eventually;

using hookdtest::QueryCount;

class GrpcFlow : public InProcessHookdTest {
 protected:
  grpc::Status Deploy(const pb::DeploymentRequest& request, pb::DeploymentStatus& reply,
                      const std::string& team = "aura") {
    grpc::ClientContext context;
    SignApiKey(context, key_, team);
    SetDeadline(context, 10s);
    return deploy_->Deploy(&context, request, &reply);
  }
};

TEST_F(GrpcFlow, DeployIsDeliveredAndStatusesStreamUntilFinal) {
  FakeDeployd deployd(hookd_->Channel(), "dev", kDeploydKey);
  auto request = ConfigMapRequest("aura", "dev", "foo");
  request.set_id("client-chosen-id-is-ignored");
  pb::DeploymentStatus queued;
  auto status = Deploy(request, queued);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(queued.state(), pb::queued);
  EXPECT_EQ(queued.message(), common::kQueuedMessage);
  const std::string id = queued.request().id();
  EXPECT_NE(id, "client-chosen-id-is-ignored");
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(queued.request().team(), "aura");
  EXPECT_EQ(queued.request().kubernetes().resources_size(), 1);

  auto delivered = deployd.Next();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->id(), id);
  EXPECT_EQ(delivered->cluster(), "dev");
  EXPECT_EQ(delivered->gitrefsha(), "abc123");
  ASSERT_EQ(delivered->kubernetes().resources_size(), 1);
  EXPECT_EQ(delivered->kubernetes().resources(0).fields().at("kind").string_value(), "ConfigMap");

  StatusReader reader(*deploy_, queued.request(), key_, "aura");
  auto first = reader.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->state(), pb::queued);
  EXPECT_EQ(first->request().id(), id);

  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "applying").ok());
  auto second = reader.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->state(), pb::in_progress);
  EXPECT_EQ(second->message(), "applying");

  ASSERT_TRUE(deployd.Report(id, pb::success, std::string(common::kSuccessMessage)).ok());
  auto third = reader.Next();
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->state(), pb::success);
  EXPECT_FALSE(reader.Next().has_value());  // the server ends the stream after a final status
  auto end = reader.reader->Finish();
  EXPECT_TRUE(end.ok()) << end.error_message();

  // Stored: deployment row with state, resources, three statuses.
  hookd::store::ConnectionPool pool(db_.Url(), 1);
  hookd::store::Store store(pool, "");
  auto row = store.Deployment(id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->state.value_or(""), "success");
  EXPECT_EQ(row->cluster.value_or(""), "dev");
  EXPECT_EQ(row->github_repository.value_or(""), "navikt/app");
  auto resources = store.Resources(id);
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].kind, "ConfigMap");
  EXPECT_EQ(resources[0].version, "v1");
  EXPECT_EQ(resources[0].group, "");
  EXPECT_EQ(resources[0].name, "foo");
  EXPECT_EQ(resources[0].ns, "aura");
  EXPECT_EQ(store.Statuses(id).size(), 3u);
}

TEST_F(GrpcFlow, StatusOfFinishedDeploymentSendsFinalStatusAndEnds) {
  FakeDeployd deployd(hookd_->Channel(), "dev", kDeploydKey);
  pb::DeploymentStatus queued;
  ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "dev", "foo"), queued).ok());
  ASSERT_TRUE(deployd.Next().has_value());
  ASSERT_TRUE(deployd.Report(queued.request().id(), pb::failure, "broken").ok());
  StatusReader reader(*deploy_, queued.request(), key_, "aura");
  // The stored history, oldest first, then the end.
  auto first = reader.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->state(), pb::queued);
  auto last = reader.Next();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->state(), pb::failure);
  EXPECT_EQ(last->message(), "broken");
  EXPECT_FALSE(reader.Next().has_value());
  EXPECT_TRUE(reader.reader->Finish().ok());
}

TEST_F(GrpcFlow, LateStatusStreamSendsTheWholeHistoryInOrderThenEnds) {
  FakeDeployd deployd(hookd_->Channel(), "dev", kDeploydKey);
  pb::DeploymentStatus queued;
  ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "dev", "foo"), queued).ok());
  ASSERT_TRUE(deployd.Next().has_value());
  const std::string id = queued.request().id();
  // More statuses than a stream may have waiting (64): the history is not capped by that.
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(deployd.Report(id, pb::in_progress, "step " + std::to_string(i)).ok());
  }
  ASSERT_TRUE(deployd.Report(id, pb::success, std::string(common::kSuccessMessage)).ok());
  // The client connects after the end: every status once, oldest first, then the end.
  StatusReader reader(*deploy_, queued.request(), key_, "aura");
  auto first = reader.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->state(), pb::queued);
  for (int i = 0; i < 150; ++i) {
    auto next = reader.Next();
    ASSERT_TRUE(next.has_value()) << i;
    EXPECT_EQ(next->message(), "step " + std::to_string(i));
  }
  auto last = reader.Next();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->state(), pb::success);
  EXPECT_FALSE(reader.Next().has_value());
  EXPECT_TRUE(reader.reader->Finish().ok());
}

TEST_F(GrpcFlow, StatusOfUnknownDeploymentIsNotFound) {
  pb::DeploymentRequest request;
  request.set_id("00000000-0000-4000-8000-000000000000");
  request.set_team("aura");
  StatusReader reader(*deploy_, request, key_, "aura");
  EXPECT_FALSE(reader.Next().has_value());
  auto status = reader.reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "deployment '00000000-0000-4000-8000-000000000000' not found");
}

TEST_F(GrpcFlow, OfflineClusterKeepsDeploymentQueuedUntilDeploydConnects) {
  pb::DeploymentStatus queued;
  ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "later", "foo"), queued).ok());
  EXPECT_EQ(queued.state(), pb::queued);
  // deployd starts after the deployment was made: it must still get it (not invalidate it).
  FakeDeployd deployd(hookd_->Channel(), "later", kDeploydKey);
  auto delivered = deployd.Next();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->id(), queued.request().id());
  // Delivered once only: a reconnect does not send it again.
  auto again = deployd.Next(500ms);
  EXPECT_FALSE(again.has_value());
}

TEST_F(GrpcFlow, ReconnectInvalidatesDeploymentsHandedToThePreviousDeployd) {
  pb::DeploymentStatus queued;
  {
    FakeDeployd deployd(hookd_->Channel(), "dev", kDeploydKey);
    ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "dev", "foo"), queued).ok());
    ASSERT_TRUE(deployd.Next().has_value());
    ASSERT_TRUE(deployd.Report(queued.request().id(), pb::in_progress, "working").ok());
  }
  StatusReader reader(*deploy_, queued.request(), key_, "aura");
  auto history = reader.Next();
  ASSERT_TRUE(history.has_value());
  EXPECT_EQ(history->state(), pb::queued);
  auto current = reader.Next();
  ASSERT_TRUE(current.has_value());
  EXPECT_EQ(current->state(), pb::in_progress);
  // The status confirmed the delivery (the request stays queued until its final state).
  EXPECT_EQ(QueryCount(db_.Url(), "SELECT count(*) FROM deployment_queue WHERE deployment_id = '" +
                                      queued.request().id() + "' AND confirmed IS NOT NULL"),
            1);
  FakeDeployd restarted(hookd_->Channel(), "dev", kDeploydKey, std::chrono::system_clock::now());
  auto lost = reader.Next();
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(lost->state(), pb::inactive);
  EXPECT_EQ(lost->message(), "Deployment has been lost.");
  EXPECT_FALSE(reader.Next().has_value());
  EXPECT_FALSE(restarted.Next(500ms).has_value());  // not re-delivered
}

TEST_F(GrpcFlow, SecondDeploydForSameClusterReplacesTheFirst) {
  FakeDeployd first(hookd_->Channel(), "dev", kDeploydKey);
  // Registered once its cluster is recorded (that happens right after registration).
  ASSERT_TRUE(Eventually([&] {
    return QueryCount(db_.Url(), "SELECT count(*) FROM cluster WHERE name = 'dev'") == 1;
  }));
  FakeDeployd second(hookd_->Channel(), "dev", kDeploydKey);
  auto ended = first.Ended();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ended->error_message(), "replaced by a newer connection for cluster 'dev'");
  pb::DeploymentStatus queued;
  ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "dev", "foo"), queued).ok());
  auto delivered = second.Next();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->id(), queued.request().id());
}

// hookd judges deadlines by its clock, and its sweeper waits on it: with a clock the test moves, a
// deployment queued for a minute ends when its time is up, not before, without a minute passing.
// A request no deployd has confirmed ends a tenth of its time (at most 30 s) before its deadline,
// so that the CLI, which waits until the deadline, hears the reason: here at 54 s.
TEST(GrpcFlowClock, QueuedDeploymentEndsAtItsDeadlineByTheClock) {
  testsupport::TestDatabase db;
  if (!db.Available()) GTEST_SKIP() << "no test database";
  testsupport::FakeTimers timers(std::chrono::system_clock::now());
  Hookd hookd(db.Url(), true, true, &timers);
  const std::string key = ProvisionKey(db.Url(), "aura");
  auto deploy = pb::Deploy::NewStub(hookd.Channel());
  auto request = ConfigMapRequest("aura", "offline", "foo");
  *request.mutable_deadline() = common::ToTimestamp(timers.Now() + 60s);
  pb::DeploymentStatus queued;
  {
    grpc::ClientContext context;
    SignApiKey(context, key, "aura", timers.Now());
    SetDeadline(context, 10s);
    ASSERT_TRUE(deploy->Deploy(&context, request, &queued).ok());
  }
  // The CLI's view: a Status stream that hears the end.
  StatusReader reader(*deploy, queued.request(), key, "aura");
  auto first = reader.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->state(), pb::queued);
  const std::string errors = "SELECT count(*) FROM deployment_status WHERE deployment_id = '" +
                             queued.request().id() + "' AND status = 'error'";
  // The sweeper is parked in its wait; each Advance wakes it once, and it parks again when its
  // sweep is done.
  ASSERT_TRUE(timers.AwaitWaiting(1));
  timers.Advance(53s);
  ASSERT_TRUE(timers.AwaitWaiting(1));
  EXPECT_EQ(QueryCount(db.Url(), errors), 0) << "ended before its time";
  timers.Advance(2s);
  ASSERT_TRUE(timers.AwaitWaiting(1));
  EXPECT_EQ(QueryCount(db.Url(), errors), 1);
  EXPECT_EQ(QueryCount(db.Url(),
                       "SELECT count(*) FROM deployment_status WHERE message = 'deadline passed "
                       "before a deployd for cluster ''offline'' picked up the deployment "
                       "(cluster offline)'"),
            1);
  auto expired = reader.Next();
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(expired->state(), pb::error);
  EXPECT_EQ(expired->message(),
            "deadline passed before a deployd for cluster 'offline' picked up the deployment "
            "(cluster offline)");
  EXPECT_FALSE(reader.Next().has_value());
}

// A borrower waits for a free connection up to the pool's timeout, measured on its clock.
TEST(ConnectionPoolClock, AWaitForAFreeConnectionEndsAtItsTimeoutByTheClock) {
  testsupport::TestDatabase db;
  if (!db.Available()) GTEST_SKIP() << "no test database";
  testsupport::FakeTimers timers;
  hookd::store::ConnectionPool pool(db.Url(), 1, std::chrono::seconds(10), &timers);
  std::mutex mutex;
  std::condition_variable changed;
  bool holding = false;
  bool release = false;
  std::thread holder([&] {
    pool.With([&](pqxx::connection&) {
      std::unique_lock lock(mutex);
      holding = true;
      changed.notify_all();
      changed.wait(lock, [&] { return release; });
    });
  });
  {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return holding; });
  }
  std::string error;
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    try {
      pool.With([](pqxx::connection&) {});
      error = "got a connection";
    } catch (const common::Error& e) {
      error = e.what();
    }
    done = true;
  });
  ASSERT_TRUE(timers.AwaitWaiting(1));
  timers.Advance(9s);
  ASSERT_TRUE(timers.AwaitWaiting(1));
  EXPECT_FALSE(done.load()) << error;
  timers.Advance(1s);
  waiter.join();
  EXPECT_EQ(error, "database is busy: no connection became free in time");
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  holder.join();
  // The slot came back: the next borrower gets it without waiting.
  bool ran = false;
  pool.With([&](pqxx::connection&) { ran = true; });
  EXPECT_TRUE(ran);
}

TEST_F(GrpcFlow, InvalidResourceIsRejectedWithoutWritingAnything) {
  auto request = ConfigMapRequest("aura", "dev", "foo");
  *request.mutable_kubernetes()->add_resources() =
      common::JsonToStruct(nlohmann::json{{"apiVersion", "v1"}});
  pb::DeploymentStatus reply;
  auto status = Deploy(request, reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "invalid Kubernetes resources in request: resource 2: decoding payload: Object "
            "'Kind' is missing in '{\"apiVersion\":\"v1\"}'");
}

TEST_F(GrpcFlow, ReportStatusForUnknownDeploymentIsFailedPrecondition) {
  FakeDeployd deployd(hookd_->Channel(), "dev", kDeploydKey);
  auto status = deployd.Report("does-not-exist", pb::success, "x");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("foreign key"), std::string::npos)
      << status.error_message();
}

TEST_F(GrpcFlow, SlowStatusSubscriberDoesNotBlockReporting) {
  FakeDeployd deployd(hookd_->Channel(), "dev", kDeploydKey);
  pb::DeploymentStatus queued;
  ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "dev", "foo"), queued).ok());
  ASSERT_TRUE(deployd.Next().has_value());
  // A subscriber that never reads. ReportStatus must stay fast regardless.
  StatusReader idle(*deploy_, queued.request(), key_, "aura");
  // 400 statuses of 32 KB: far more than HTTP/2 flow control lets through to a reader that
  // does not read, so the server-side buffer (64 statuses) must overflow.
  for (int i = 0; i < 400; ++i) {
    auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(deployd
                    .Report(queued.request().id(), pb::in_progress,
                            "line " + std::to_string(i) + std::string(32000, 'x'))
                    .ok());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  }
  // Past its bounded buffer the idle subscriber's stream ends with UNAVAILABLE (the CLI then
  // reconnects and reads the latest status from the database); nothing else was blocked.
  int received = 0;
  while (idle.Next().has_value()) ++received;
  EXPECT_LT(received, 400);
  auto end = idle.reader->Finish();
  EXPECT_EQ(end.error_code(), grpc::StatusCode::UNAVAILABLE) << end.error_message();
  EXPECT_NE(end.error_message().find("status stream cannot keep up"), std::string::npos)
      << end.error_message();
}

}  // namespace

namespace {

TEST(GrpcClusters, UnknownClusterIsRejectedWhenClustersAreConfigured) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  auto config = hookdtest::TestConfig(db.Url(), false, false);
  config.clusters = {"dev", "prod"};
  hookd::App app(config);
  app.Start();
  auto stub = pb::Deploy::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(app.GrpcPort()),
                                                      grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  hookdtest::SetDeadline(context, std::chrono::seconds(10));
  pb::DeploymentStatus reply;
  auto status = stub->Deploy(&context, hookdtest::ConfigMapRequest("aura", "staging", "x"), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "unknown cluster 'staging'; known clusters: dev, prod");
  grpc::ClientContext ok_context;
  hookdtest::SetDeadline(ok_context, std::chrono::seconds(10));
  EXPECT_TRUE(
      stub->Deploy(&ok_context, hookdtest::ConfigMapRequest("aura", "prod", "x"), &reply).ok());
  app.Stop();
}

}  // namespace
