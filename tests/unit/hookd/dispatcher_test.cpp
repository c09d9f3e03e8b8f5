// The dispatcher (accepting deployments, storing statuses and fanning them out, invalidating lost
// deployments, expiring the queue, cancelling) against the in-memory queue store: no Postgres, no
// network, no sleeps. The Postgres store's own behaviour has its integration tests.
#include "hookd/dispatch/dispatcher.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "hookd/dispatch/cancel.hpp"
#include "hookd/dispatch/hub.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_queue_store.hpp"

namespace {

using hookd::dispatch::Dispatcher;

class Recorder final : public hookd::dispatch::StatusSubscriber {
 public:
  void OnStatus(const hookd::dispatch::StatusEventPtr& event) override {
    const std::lock_guard lock(mutex_);
    events.push_back(event->status);
  }
  void OnShutdown() override {}
  std::vector<pb::DeploymentStatus> events;

 private:
  std::mutex mutex_;
};

class DispatcherTest : public ::testing::Test {
 protected:
  static pb::DeploymentRequest Request(const std::string& cluster = "dev") {
    pb::DeploymentRequest request;
    request.set_cluster(cluster);
    request.set_team("aura");
    *request.mutable_kubernetes()->add_resources() = common::JsonToStruct(
        {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}});
    return request;
  }

  // A stream of deployd instance `instance` confirmed deployment `id` (handed out, then a status).
  void Confirm(const std::string& id, const std::string& instance) {
    store.HandOut({id}, instance);
    dispatcher.HandleStatus(id, pb::in_progress, "applying", clock.Now());
  }

  // The code of the common::Error `call` throws; nullopt when it throws none.
  static std::optional<common::ErrorCode> CodeOf(const std::function<void()>& call) {
    try {
      call();
    } catch (const common::Error& e) {
      return e.Code();
    }
    return std::nullopt;
  }

  testsupport::FakeClock clock;
  testsupport::FakeQueueStore store;
  hookd::dispatch::StatusHub hub;
  hookd::dispatch::ClusterRegistry clusters;
  Dispatcher dispatcher{store, hub, clusters, clock};
};

TEST_F(DispatcherTest, DeployStoresQueuesAndSaysThatTheClustersDeploydIsNotConnected) {
  auto recorder = std::make_shared<Recorder>();
  hub.Subscribe("d1", recorder);
  const auto status = dispatcher.Deploy(Request(), "d1");

  EXPECT_EQ(status.state(), pb::queued);
  EXPECT_EQ(status.request().id(), "d1");
  const std::string expected = "deployd for cluster 'dev' is not connected; waiting until " +
                               common::FormatRfc3339(clock.Now() + Dispatcher::kDefaultDeadline);
  EXPECT_EQ(status.message(), expected);
  EXPECT_EQ(store.State("d1"), "queued");
  ASSERT_TRUE(store.QueueEntry("d1"));
  EXPECT_EQ(common::FromTimestamp(store.QueueEntry("d1")->request.deadline()),
            clock.Now() + Dispatcher::kDefaultDeadline);
  ASSERT_EQ(recorder->events.size(), 1u);
  EXPECT_EQ(recorder->events[0].message(), expected);
}

TEST_F(DispatcherTest, DeployWhileAnotherReplicaHoldsTheClusterGivesTheOriginalsMessage) {
  store.SetPresence("dev", clock.Now() + std::chrono::seconds(30));
  EXPECT_EQ(dispatcher.Deploy(Request()).message(), std::string(common::kQueuedMessage));
  clock.Advance(std::chrono::seconds(31));  // the lease ran out
  EXPECT_NE(dispatcher.Deploy(Request()).message(), std::string(common::kQueuedMessage));
}

TEST_F(DispatcherTest, AClientSuppliedIdIsReplacedAndAPlanIsMarked) {
  auto request = Request();
  request.set_id("chosen-by-the-client");
  request.set_plan(true);
  const auto status = dispatcher.Deploy(request);
  EXPECT_NE(status.request().id(), "chosen-by-the-client");
  EXPECT_EQ(status.request().id().size(), 36u);
  EXPECT_EQ(status.message().rfind("[plan] deployd for cluster 'dev'", 0), 0u) << status.message();
}

TEST_F(DispatcherTest, AnUnknownClusterIsRefusedNamingTheKnownOnes) {
  dispatcher.SetRejectUnknownClusters(true);
  dispatcher.SetStaticClusters({"prod"});
  store.TouchCluster("dev", clock.Now(), "");
  try {
    dispatcher.Deploy(Request("nope"));
    FAIL() << "accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(), "unknown cluster 'nope'; known clusters: dev, prod");
  }
  EXPECT_EQ(dispatcher.Deploy(Request("dev")).state(), pb::queued);
  EXPECT_EQ(dispatcher.Deploy(Request("prod")).state(), pb::queued);
}

TEST_F(DispatcherTest, AClusterMigrationRedirectsTheRequest) {
  dispatcher.SetClusterRedirects({{"old", "new"}});
  const auto status = dispatcher.Deploy(Request("old"));
  EXPECT_EQ(status.request().cluster(), "new");
  EXPECT_EQ(store.QueueEntry(status.request().id())->cluster, "new");
}

TEST_F(DispatcherTest, AnInvalidTeamOrClusterNameIsRefusedBeforeAnythingIsStored) {
  auto request = Request("Bad_Cluster");
  EXPECT_EQ(CodeOf([&] { dispatcher.Deploy(request); }), common::ErrorCode::kInvalidArgument);
  request = Request();
  request.set_team("../etc");
  EXPECT_EQ(CodeOf([&] { dispatcher.Deploy(request); }), common::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(store.UnconfirmedIds("dev").empty());
}

TEST_F(DispatcherTest, ADatabaseThatCannotStoreTheDeploymentIsUnavailable) {
  store.Fail(std::make_exception_ptr(std::runtime_error("connection refused")));
  try {
    dispatcher.Deploy(Request());
    FAIL() << "accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kUnavailable);
    EXPECT_STREQ(e.what(), "database is unavailable; try again later");
  }
}

TEST_F(DispatcherTest, AReplayedRequestKeyAnswersWithTheFirstDeploymentAndStoresNothing) {
  const auto first = dispatcher.Deploy(Request(), "", "key-1");
  const auto again = dispatcher.Deploy(Request(), "", "key-1");
  EXPECT_EQ(again.request().id(), first.request().id());
  EXPECT_EQ(store.UnconfirmedIds("dev").size(), 1u);
  const auto other = dispatcher.Deploy(Request(), "", "", "build-7");
  EXPECT_EQ(dispatcher.Deploy(Request(), "", "", "build-7").request().id(), other.request().id());
  EXPECT_EQ(store.UnconfirmedIds("dev").size(), 2u);
}

TEST_F(DispatcherTest, AnInvalidIdempotencyKeyIsRefused) {
  try {
    dispatcher.Deploy(Request(), "", "", "has spaces");
    FAIL() << "accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()), std::string("invalid idempotency key: it must be ") +
                                         Dispatcher::kIdempotencyKeyRule);
  }
}

TEST_F(DispatcherTest, ClientSetTimesAreBounded) {
  auto request = Request();
  *request.mutable_time() = common::ToTimestamp(clock.Now() - std::chrono::hours(24 * 400));
  *request.mutable_deadline() = common::ToTimestamp(clock.Now() + std::chrono::hours(24 * 400));
  const auto status = dispatcher.Deploy(request);
  EXPECT_EQ(common::FromTimestamp(status.request().time()),
            clock.Now() - Dispatcher::kMaxClientHorizon);
  EXPECT_EQ(common::FromTimestamp(status.request().deadline()),
            clock.Now() + Dispatcher::kMaxClientHorizon);
  request.clear_deadline();
  *request.mutable_time() = common::ToTimestamp(clock.Now() + std::chrono::hours(1));
  EXPECT_EQ(common::FromTimestamp(dispatcher.Deploy(request).request().time()), clock.Now());
}

TEST_F(DispatcherTest, StatusesAreStoredFannedOutAndAFinalStateIsFinal) {
  const auto id = dispatcher.Deploy(Request()).request().id();
  auto recorder = std::make_shared<Recorder>();
  hub.Subscribe(id, recorder);
  dispatcher.HandleStatus(id, pb::success, "done", clock.Now());
  EXPECT_EQ(store.State(id), "success");
  EXPECT_FALSE(store.Queued(id));  // a final state leaves the queue
  ASSERT_EQ(recorder->events.size(), 1u);
  EXPECT_EQ(recorder->events[0].state(), pb::success);
  EXPECT_EQ(recorder->events[0].request().id(), id);

  try {
    dispatcher.HandleStatus(id, pb::failure, "late", clock.Now());
    FAIL() << "accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kFailedPrecondition);
    EXPECT_EQ(std::string(e.what()),
              "deployment " + id + " has already finished (success); later statuses are refused");
  }
  EXPECT_EQ(recorder->events.size(), 1u);
  EXPECT_EQ(CodeOf([&] { dispatcher.HandleStatus("unknown", pb::success, "", clock.Now()); }),
            common::ErrorCode::kFailedPrecondition);
}

TEST_F(DispatcherTest, AStatusTheDatabaseCannotStoreIsUnavailableWithTheReason) {
  const auto id = dispatcher.Deploy(Request()).request().id();
  store.Fail(std::make_exception_ptr(std::runtime_error("server closed the connection")));
  try {
    dispatcher.HandleStatus(id, pb::success, "done", clock.Now());
    FAIL() << "accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kUnavailable);
    EXPECT_STREQ(e.what(), "write deployment status to database: server closed the connection");
  }
}

TEST_F(DispatcherTest, ARestartedDeploydLosesWhatItsEarlierProcessConfirmed) {
  const auto earlier = dispatcher.Deploy(Request()).request().id();
  const auto same = dispatcher.Deploy(Request()).request().id();
  const auto unconfirmed = dispatcher.Deploy(Request()).request().id();
  Confirm(earlier, "dev@1");
  Confirm(same, "dev@2");
  store.HandOut({unconfirmed}, "dev@1");  // sent, never confirmed: it is sent again instead

  EXPECT_EQ(dispatcher.InvalidateHistoric("dev", clock.Now(), "dev@2"), 1);
  EXPECT_EQ(store.State(earlier), "inactive");
  EXPECT_EQ(store.Statuses(earlier).front().message, std::string(common::kInactiveMessage));
  EXPECT_FALSE(store.Queued(earlier));
  EXPECT_EQ(store.State(same), "in_progress");
  EXPECT_EQ(store.State(unconfirmed), "queued");
  EXPECT_EQ(store.UnconfirmedIds("dev"), std::vector<std::string>{unconfirmed});
}

TEST_F(DispatcherTest, ExpiredQueueEntriesEndAsErrorsSayingWhereTheyGotStuck) {
  const auto offline = dispatcher.Deploy(Request()).request().id();
  const auto sent = dispatcher.Deploy(Request()).request().id();
  const auto working = dispatcher.Deploy(Request()).request().id();
  store.HandOut({sent}, "dev@1");
  Confirm(working, "dev@1");

  clock.Advance(Dispatcher::kDefaultDeadline - std::chrono::seconds(31));
  EXPECT_EQ(dispatcher.ExpireQueued(), 0);
  // Unconfirmed ones end a margin before the deadline, so that a waiting CLI sees why.
  clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(dispatcher.ExpireQueued(), 2);
  EXPECT_EQ(store.Statuses(offline).front().message,
            "deadline passed before a deployd for cluster 'dev' picked up the deployment "
            "(cluster offline)");
  EXPECT_EQ(store.Statuses(sent).front().message,
            "deadline passed before deployd for cluster 'dev' confirmed the deployment (it was "
            "sent, no status came back)");
  EXPECT_EQ(store.State(working), "in_progress");
  // Confirmed ones get kConfirmedGrace past the deadline: deployd reports its own timeout first.
  clock.Advance(std::chrono::seconds(29) + Dispatcher::kConfirmedGrace);
  EXPECT_EQ(dispatcher.ExpireQueued(), 1);
  EXPECT_EQ(store.State(working), "error");
  EXPECT_EQ(store.Statuses(working).front().message,
            "deadline passed while deployd for cluster 'dev' was working on the deployment; it "
            "reported no final status");
  EXPECT_EQ(dispatcher.ExpireQueued(), 0);
}

TEST_F(DispatcherTest, AnUnreadableQueueEntryFailsOnlyItsOwnDeployment) {
  auto request = Request();
  request.set_id("broken");
  store.AddUnreadable(request, clock.Now(), clock.Now(), "proto: cannot parse invalid wire-format");
  const auto fine = dispatcher.Deploy(Request()).request().id();
  EXPECT_EQ(dispatcher.ExpireQueued(), 1);
  EXPECT_EQ(store.State("broken"), "error");
  EXPECT_EQ(store.Statuses("broken").front().message,
            "hookd could not read the queued deployment request: proto: cannot parse invalid "
            "wire-format; nothing was applied");
  EXPECT_EQ(store.State(fine), "queued");
}

TEST_F(DispatcherTest, AStatusStoredByAnotherReplicaReachesOnlyLocalSubscribers) {
  const auto watched = dispatcher.Deploy(Request()).request().id();
  const auto row = store.WriteStatus(watched, pb::in_progress, "from elsewhere", clock.Now());
  auto recorder = std::make_shared<Recorder>();
  hub.Subscribe(watched, recorder);
  dispatcher.PublishStored(watched, row.id);
  ASSERT_EQ(recorder->events.size(), 1u);
  EXPECT_EQ(recorder->events[0].message(), "from elsewhere");
  dispatcher.Resync();  // every stored status again, oldest first; streams drop duplicates
  ASSERT_EQ(recorder->events.size(), 3u);
  EXPECT_EQ(recorder->events[1].state(), pb::queued);
  EXPECT_EQ(recorder->events[2].message(), "from elsewhere");
}

TEST_F(DispatcherTest, ACancelWithdrawsARequestNoDeploydHasAndRecordsOneADeploydHas) {
  const auto waiting = dispatcher.Deploy(Request()).request().id();
  const auto running = dispatcher.Deploy(Request()).request().id();
  Confirm(running, "dev@1");

  const auto withdrawn = hookd::dispatch::CancelDeployment(dispatcher, waiting, "aura", "oops");
  EXPECT_EQ(withdrawn.state(), pb::failure);
  EXPECT_EQ(withdrawn.message(),
            "cancelled by team aura (reason: oops) before it was sent to the cluster");
  EXPECT_FALSE(store.Queued(waiting));

  // The cluster's deployd never said it can cancel.
  try {
    hookd::dispatch::CancelDeployment(dispatcher, running, "aura", "");
    FAIL() << "accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kFailedPrecondition);
    EXPECT_STREQ(e.what(), "cluster \"dev\"'s deployd cannot cancel a running deployment");
  }
  store.SetCapabilities("dev", "cancel");
  hookd::dispatch::CancelDeployment(dispatcher, running, "aura", "");
  ASSERT_EQ(store.PendingCancels("dev").size(), 1u);
  EXPECT_EQ(store.PendingCancels("dev")[0].deployment_id, running);
  EXPECT_EQ(store.State(running), "in_progress");  // deployd reports how it ended

  try {
    hookd::dispatch::CancelDeployment(dispatcher, running, "other-team", "");
    FAIL() << "accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kPermissionDenied);
  }
  store.Fail(std::make_exception_ptr(std::runtime_error("timeout")));
  try {
    hookd::dispatch::CancelDeployment(dispatcher, running, "aura", "");
    FAIL() << "accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kUnavailable);
    EXPECT_STREQ(e.what(), "database is unavailable: timeout");
  }
}

}  // namespace
