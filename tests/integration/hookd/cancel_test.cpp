// Cancel (pb.Deploy/Cancel and POST /api/v1/cancel) against a real Postgres: a queued deployment
// is withdrawn and never delivered; a running one gets its cancel sent to a deployd that
// announced the capability (again after a reconnect); every refusal has its code and message.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/capabilities.hpp"
#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "harness.hpp"
#include "support/fake_deployd.hpp"
#include "support/http_call.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;
using nlohmann::json;

const std::multimap<std::string, std::string> kCanCancel = {
    {common::kCapabilitiesMetadata, common::kCancelCapability}};

using hookdtest::QueryCount;

class Cancel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.Available()) GTEST_SKIP() << "no test database";
    app_ = std::make_unique<hookd::App>(TestConfig(db_.Url(), true, true));
    app_->Start();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(app_->GrpcPort()),
                                   grpc::InsecureChannelCredentials());
    deploy_ = pb::Deploy::NewStub(channel_);
    aura_ = ProvisionKey(db_.Url(), "aura");
    other_ = ProvisionKey(db_.Url(), "other");
  }
  void TearDown() override {
    if (app_) app_->Stop();
  }

  std::string Deploy(const std::string& name = "cm") {
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    SignApiKey(context, aura_, "aura");
    pb::DeploymentStatus reply;
    auto status = deploy_->Deploy(&context, ConfigMapRequest("aura", "dev", name), &reply);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return reply.request().id();
  }

  grpc::Status CancelRpc(const std::string& id, const std::string& team, const std::string& reason,
                         pb::DeploymentStatus& reply, const std::string& key = "") {
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    SignApiKey(context, key.empty() ? aura_ : key, team);
    pb::CancelRequest request;
    request.set_id(id);
    request.set_team(team);
    request.set_reason(reason);
    return deploy_->Cancel(&context, request, &reply);
  }

  Reply CancelHttp(const json& body, const std::string& key) {
    const std::string text = body.dump();
    return Call(app_->HttpPort(), "POST", "/api/v1/cancel", text,
                {{"Content-Type", "application/json"},
                 {"X-NAIS-Signature", common::HexEncode(common::HmacSha256(key, text))}});
  }
  static json Body(const std::string& id, const std::string& team, const std::string& reason = "") {
    return {{"deploymentID", id},
            {"team", team},
            {"reason", reason},
            {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()}};
  }
  static std::string Message(const Reply& reply) {
    return json::parse(reply.body).value("message", "");
  }

  testsupport::TestDatabase db_;
  std::unique_ptr<hookd::App> app_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Deploy::Stub> deploy_;
  std::string aura_;
  std::string other_;
};

TEST_F(Cancel, AQueuedDeploymentIsWithdrawnAndNeverDelivered) {
  const std::string id = Deploy("first");
  pb::DeploymentStatus reply;
  auto status = CancelRpc(id, "aura", "wrong image", reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.request().id(), id);
  EXPECT_EQ(reply.state(), pb::failure);
  EXPECT_EQ(reply.message(),
            "cancelled by team aura (reason: wrong image) before it was sent to the cluster");
  EXPECT_EQ(QueryCount(db_.Url(),
                       "SELECT count(*) FROM deployment_queue WHERE deployment_id = '" + id + "'"),
            0);
  EXPECT_EQ(QueryCount(db_.Url(), "SELECT count(*) FROM deployment WHERE id = '" + id +
                                      "' AND state = 'failure'"),
            1);
  // The cluster's deployd connects later: the first thing it gets is the next deployment.
  FakeDeployd deployd(channel_, "dev", kDeploydKey, std::chrono::system_clock::now(), kCanCancel);
  const std::string second = Deploy("second");
  auto got = deployd.Next(20s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id(), second);
  EXPECT_FALSE(got->cancel());
  // Cancelled again: it has finished.
  status = CancelRpc(id, "aura", "", reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "deployment '" + id +
                                        "' has already finished (failure); there is nothing to "
                                        "cancel");
}

TEST_F(Cancel, ARunningDeploymentGetsItsCancelSentToDeploydAgainAfterAReconnect) {
  const auto started = std::chrono::system_clock::now();
  const std::string id = Deploy();
  {
    FakeDeployd deployd(channel_, "dev", kDeploydKey, started, kCanCancel);
    auto got = deployd.Next(20s);
    ASSERT_TRUE(got.has_value());
    ASSERT_EQ(got->id(), id);
    ASSERT_TRUE(deployd.Report(id, pb::in_progress, "applying").ok());
    pb::DeploymentStatus reply;
    auto status = CancelRpc(id, "aura", "stuck", reply);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(reply.state(), pb::in_progress);
    EXPECT_EQ(reply.message(),
              "cancel requested by team aura (reason: stuck); deployd of cluster \"dev\" stops the "
              "deployment and reports its final status");
    auto cancel = deployd.Next(20s);
    ASSERT_TRUE(cancel.has_value());
    EXPECT_EQ(cancel->id(), id);
    EXPECT_TRUE(cancel->cancel());
    EXPECT_EQ(cancel->cancelledby(), "team aura");
    EXPECT_EQ(cancel->cancelreason(), "stuck");
    EXPECT_EQ(cancel->kubernetes().resources_size(), 0);
  }
  // The same deployd process reconnects before it reported the end: the cancel comes again.
  FakeDeployd again(channel_, "dev", kDeploydKey, started, kCanCancel);
  auto resent = again.Next(20s);
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(resent->id(), id);
  EXPECT_TRUE(resent->cancel());
  ASSERT_TRUE(again
                  .Report(id, pb::failure,
                          "cancelled by team aura (reason: stuck): 1 of 1 "
                          "resources had been applied and stay in the cluster")
                  .ok());
  EXPECT_EQ(QueryCount(db_.Url(),
                       "SELECT count(*) FROM deployment_cancel WHERE deployment_id = '" + id + "'"),
            1);
}

TEST_F(Cancel, GrpcRefusals) {
  pb::DeploymentStatus reply;
  auto status = CancelRpc("no-such-id", "aura", "", reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "deployment 'no-such-id' not found");

  status = CancelRpc("", "aura", "", reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "invalid cancel request: no deployment ID specified");

  status = CancelRpc("x", "aura", std::string(1025, 'r'), reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "invalid cancel request: the reason is 1025 bytes long; at most 1024 are allowed");

  const std::string id = Deploy();
  // Another team, with its own key.
  status = CancelRpc(id, "other", "", reply, other_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "deployment '" + id +
                                        "' does not belong to team \"other\"; only its own team "
                                        "may cancel it");
  // Authenticated as one team, asking for another.
  status = CancelRpc(id, "aura", "", reply, other_);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "failed authentication");

  // Handed to a deployd that did not announce the capability (like the original's).
  FakeDeployd old(channel_, "dev", kDeploydKey);
  auto got = old.Next(20s);
  ASSERT_TRUE(got.has_value());
  status = CancelRpc(id, "aura", "", reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "cluster \"dev\"'s deployd cannot cancel a running deployment");
  EXPECT_EQ(QueryCount(db_.Url(), "SELECT count(*) FROM deployment_cancel"), 0);
}

TEST_F(Cancel, HttpAnswers) {
  auto reply = CancelHttp(Body("no-such-id", "aura"), aura_);
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(Message(reply), "deployment 'no-such-id' not found");

  reply = CancelHttp(Body("", "aura"), aura_);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply), "invalid cancel request: no deployment ID specified");

  reply = CancelHttp(Body("x", ""), aura_);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply), "invalid cancel request: no team specified");

  json stale = Body("x", "aura");
  stale["timestamp"] = 1000;
  reply = CancelHttp(stale, aura_);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply), "invalid cancel request: request is not within allowed timeframe");

  reply = Call(app_->HttpPort(), "POST", "/api/v1/cancel", "[1]",
               {{"Content-Type", "application/json"}, {"X-NAIS-Signature", "00"}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply),
            "unable to unmarshal request body: the body must be a JSON object, "
            "not array");

  reply = Call(app_->HttpPort(), "POST", "/api/v1/cancel", "{}",
               {{"Content-Type", "application/json"}, {"X-NAIS-Signature", "zz"}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply), "HMAC digest must be hex encoded");

  EXPECT_EQ(Call(app_->HttpPort(), "GET", "/api/v1/cancel").status, 405);

  const std::string id = Deploy();
  reply = CancelHttp(Body(id, "aura"), other_);  // signed with another team's key
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(Message(reply), "failed authentication");

  reply = CancelHttp(Body(id, "other"), other_);
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(Message(reply), "deployment '" + id +
                                "' does not belong to team \"other\"; only its own team may "
                                "cancel it");

  reply = CancelHttp(Body(id, "aura", "oops"), aura_);
  EXPECT_EQ(reply.status, 200);
  const json answer = json::parse(reply.body);
  EXPECT_EQ(answer.value("deploymentID", ""), id);
  EXPECT_EQ(answer.value("status", ""), "failure");
  EXPECT_EQ(answer.value("message", ""),
            "cancelled by team aura (reason: oops) before it was sent to the cluster");

  reply = CancelHttp(Body(id, "aura"), aura_);
  EXPECT_EQ(reply.status, 409);
  EXPECT_EQ(Message(reply),
            "deployment '" + id + "' has already finished (failure); there is nothing to cancel");

  // Running on a cluster whose deployd cannot cancel: 409; on one that can: 202.
  const std::string running = Deploy("running");
  {
    FakeDeployd old(channel_, "dev", kDeploydKey);
    ASSERT_TRUE(old.Next(20s).has_value());
    reply = CancelHttp(Body(running, "aura"), aura_);
    EXPECT_EQ(reply.status, 409);
    EXPECT_EQ(Message(reply), "cluster \"dev\"'s deployd cannot cancel a running deployment");
  }
  FakeDeployd capable(channel_, "dev", kDeploydKey, std::chrono::system_clock::now(), kCanCancel);
  reply = CancelHttp(Body(running, "aura"), aura_);
  EXPECT_EQ(reply.status, 202);
  EXPECT_EQ(json::parse(reply.body).value("status", ""), "queued");
  auto sent = capable.Next(20s);
  // A new deployd process: the unconfirmed request is sent again first, then its cancel.
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->id(), running);
  EXPECT_FALSE(sent->cancel());
  sent = capable.Next(20s);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->id(), running);
  EXPECT_TRUE(sent->cancel());
}

}  // namespace
