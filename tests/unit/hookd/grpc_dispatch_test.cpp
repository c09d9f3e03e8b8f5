// hookd's gRPC services (pb.Deploy and pb.Dispatch) served for real on a loopback port, over the
// in-memory stores: a deployment goes from the CLI's Deploy call through the queue to a deployd
// stream, its statuses come back and reach a Status stream, without Postgres. Waits are for
// messages (with generous deadlines), never for time to pass.
#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "deployment.grpc.pb.h"
#include "hookd/dispatch/dispatcher.hpp"
#include "hookd/grpc/server.hpp"
#include "hookd/worker_pool.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_deployd.hpp"
#include "support/fake_queue_store.hpp"
#include "support/fake_stores.hpp"

namespace {

constexpr auto kPatience = std::chrono::seconds(60);  // CI machines are slow; no test waits this

class GrpcDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hookd::grpcapi::GrpcOptions options;
    options.address = "127.0.0.1:0";
    server_ = std::make_unique<hookd::grpcapi::GrpcServer>(
        dispatcher_, hookd::grpcapi::GrpcStores{api_keys_, repositories_, store_, store_}, workers_,
        options);
    const int port = server_->Start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
    deploy_ = pb::Deploy::NewStub(channel_);
  }
  // As hookd stops: the streams end, then the work they posted runs out, then the server goes.
  void TearDown() override {
    server_->Shutdown(std::chrono::milliseconds(0));
    workers_.Join();
  }

  static pb::DeploymentRequest Request() {
    pb::DeploymentRequest request;
    request.set_cluster("dev");
    request.set_team("aura");
    *request.mutable_kubernetes()->add_resources() = common::JsonToStruct(
        {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}});
    return request;
  }

  pb::DeploymentStatus Deploy(const pb::DeploymentRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kPatience);
    pb::DeploymentStatus reply;
    const auto status = deploy_->Deploy(&context, request, &reply);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reply;
  }

  testsupport::FakeClock clock_{std::chrono::system_clock::now()};
  testsupport::FakeQueueStore store_;
  testsupport::FakeApiKeyStore api_keys_{clock_};
  testsupport::FakeTeamRepositoryStore repositories_;
  hookd::dispatch::StatusHub hub_;
  hookd::dispatch::ClusterRegistry clusters_;
  hookd::dispatch::Dispatcher dispatcher_{store_, hub_, clusters_, clock_};
  hookd::WorkerPool workers_{2};
  std::unique_ptr<hookd::grpcapi::GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Deploy::Stub> deploy_;
};

TEST_F(GrpcDispatchTest, ADeploymentTravelsFromDeployThroughTheQueueToDeploydAndBack) {
  // Queued while no deployd is connected: the request waits in the queue.
  const auto queued = Deploy(Request());
  const std::string id = queued.request().id();
  EXPECT_EQ(queued.state(), pb::queued);
  EXPECT_NE(queued.message().find("deployd for cluster 'dev' is not connected"), std::string::npos)
      << queued.message();

  testsupport::FakeDeployd deployd(channel_, "dev", "", clock_.Now(),
                                   {{"deploy-capabilities", "cancel"}});
  auto received = deployd.Next(kPatience);
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->id(), id);
  EXPECT_EQ(received->team(), "aura");
  ASSERT_EQ(store_.handed_out.size(), 1u);
  EXPECT_EQ(store_.handed_out[0], id + "@dev@" + common::FormatRfc3339Nano(clock_.Now()));
  EXPECT_EQ(store_.SeenClusters(), std::vector<std::string>{"dev"});

  // With the stream registered, a new deployment gets the original's queued message.
  const auto second = Deploy(Request());
  EXPECT_EQ(second.message(), std::string(common::kQueuedMessage));
  received = deployd.Next(kPatience);
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->id(), second.request().id());

  // Statuses from deployd are stored and reach a Status stream, which ends with the final one.
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "applying").ok());
  ASSERT_TRUE(deployd.Report(id, pb::success, "rolled out").ok());
  EXPECT_EQ(store_.State(id), "success");
  EXPECT_FALSE(store_.Queued(id));

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kPatience);
  pb::DeploymentRequest which;
  which.set_id(id);
  auto reader = deploy_->Status(&context, which);
  std::vector<std::string> seen;
  pb::DeploymentStatus status;
  while (reader->Read(&status)) seen.push_back(common::StateName(status.state()));
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"queued", "in_progress", "success"}));

  // A status for a deployment that has ended is refused with the reason.
  const auto late = deployd.Report(id, pb::failure, "late");
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(late.error_message(),
            "deployment " + id + " has already finished (success); later statuses are refused");
}

TEST_F(GrpcDispatchTest, ACancelOfARunningDeploymentReachesItsDeploydAfterTheRequest) {
  testsupport::FakeDeployd deployd(channel_, "dev", "", clock_.Now(),
                                   {{"deploy-capabilities", "cancel"}});
  const std::string id = Deploy(Request()).request().id();
  ASSERT_TRUE(deployd.Next(kPatience).has_value());
  ASSERT_TRUE(deployd.Report(id, pb::in_progress, "applying").ok());

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kPatience);
  pb::CancelRequest cancel;
  cancel.set_id(id);
  cancel.set_team("aura");
  cancel.set_reason("wrong image");
  pb::DeploymentStatus answer;
  const auto status = deploy_->Cancel(&context, cancel, &answer);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(answer.state(), pb::in_progress);

  const auto message = deployd.Next(kPatience);
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->id(), id);
  EXPECT_TRUE(message->cancel());
  EXPECT_EQ(message->cancelledby(), "team aura");
  EXPECT_EQ(message->cancelreason(), "wrong image");
}

TEST_F(GrpcDispatchTest, AStreamThatCannotReadTheQueueEndsUnavailableAndRegistersNothing) {
  store_.Fail(std::make_exception_ptr(std::runtime_error("database is down")));
  testsupport::FakeDeployd deployd(channel_, "dev", "", clock_.Now());
  const auto ended = deployd.Ended(kPatience);
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ended->error_message(), "database is down");
}

TEST_F(GrpcDispatchTest, TheEndOfAStreamGivesUpTheClustersPresence) {
  {
    testsupport::FakeDeployd deployd(channel_, "dev", "", clock_.Now());
    EXPECT_TRUE(store_.ClusterPresent("dev", clock_.Now()));
  }
  // Released on a worker thread after the stream is done.
  ASSERT_TRUE(store_.WaitReleased("dev", kPatience));
  EXPECT_FALSE(store_.ClusterPresent("dev", clock_.Now()));
}

}  // namespace
