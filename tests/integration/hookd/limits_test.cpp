// The hookd binary and a real Postgres: the message size limit on every path into hookd, the one
// out of it (the deployd stream), requests gRPC cannot parse, and the queued status that says
// whether the cluster's deployd is connected. Every refusal has text, and hookd logs it.
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/state.hpp"
#include "common/time.hpp"
#include "harness.hpp"
#include "support/deep_request.hpp"
#include "support/eventually.hpp"
#include "support/fake_deployd.hpp"
#include "support/http_call.hpp"
#include "support/process.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;

const std::string kServes =
    " (it serves /pb.Deploy/Deploy, /pb.Deploy/Status, /pb.Deploy/Cancel, "
    "/pb.Dispatch/Deployments, "
    "/pb.Dispatch/ReportStatus and /grpc.health.v1.Health)";

using testsupport::Eventually;

using testsupport::wire::Tag;
using testsupport::wire::Varint;

// A pb.DeploymentRequest (team aura, cluster dev) whose resource nests `levels` objects.
std::string DeepRequestBytes(int levels) {
  return testsupport::wire::DeepRequestBytes(
      levels, Tag(pb::DeploymentRequest::kClusterFieldNumber) + Varint(3) + "dev" +
                  Tag(pb::DeploymentRequest::kTeamFieldNumber) + Varint(4) + "aura");
}

// A request with one ConfigMap holding `bytes` of data.
pb::DeploymentRequest BigRequest(const std::string& cluster, std::size_t bytes) {
  auto request = ConfigMapRequest("aura", cluster, "big");
  (*request.mutable_kubernetes()->mutable_resources(0)->mutable_fields())["data"]
      .mutable_struct_value()
      ->mutable_fields()
      ->
      operator[]("blob")
      .set_string_value(std::string(bytes, 'x'));
  return request;
}

// Calls `method` with raw request bytes, the way any gRPC client may (generic stub: no parsing on
// this side), reads whatever comes back and returns the final status.
grpc::Status RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                     const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  SetDeadline(context, 20s);
  grpc::CompletionQueue queue;
  auto call = stub.PrepareCall(&context, method, &queue);
  auto step = [&queue](void* tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(queue.Next(&got, &ok));
    EXPECT_EQ(got, tag);
    return ok;
  };
  int tags[5];
  call->StartCall(&tags[0]);
  step(&tags[0]);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, &tags[1]);
  step(&tags[1]);
  call->WritesDone(&tags[2]);
  step(&tags[2]);
  grpc::ByteBuffer reply;
  do {
    call->Read(&reply, &tags[3]);
  } while (step(&tags[3]));
  grpc::Status status;
  call->Finish(&status, &tags[4]);
  step(&tags[4]);
  queue.Shutdown();
  void* ignored = nullptr;
  bool ok = false;
  while (queue.Next(&ignored, &ok)) {
  }
  return status;
}

class HookdLimits : public HookdProcessTest {
 protected:
  grpc::Status Deploy(const pb::DeploymentRequest& request, pb::DeploymentStatus& reply) {
    auto stub = pb::Deploy::NewStub(Channel());
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    return stub->Deploy(&context, request, &reply);
  }

  // hookd logged a line containing `text` (it may take a moment to reach the file).
  ::testing::AssertionResult Logged(const std::string& text) {
    if (Eventually([&] { return hookd_->Log().find(text) != std::string::npos; })) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "hookd did not log \"" << text << "\":\n"
                                         << hookd_->Log();
  }
};

TEST_F(HookdLimits, RequestsGrpcCannotParseAreRefusedWithTheReasonAndLogged) {
  Start();
  auto channel = Channel();
  struct Case {
    std::string method;
    std::string bytes;
    grpc::StatusCode code;
    std::string message;
  };
  const std::string garbage = "this is not protobuf";
  const std::vector<Case> cases = {
      {"/pb.Deploy/Deploy", garbage, grpc::StatusCode::INVALID_ARGUMENT,
       "unable to parse the request as pb.DeploymentRequest: malformed protobuf at byte 0: "
       "unexpected end of group"},
      {"/pb.Deploy/Deploy", DeepRequestBytes(100000), grpc::StatusCode::INVALID_ARGUMENT,
       "invalid Kubernetes resources in request: document is nested more than 512 levels deep "
       "(the limit for one resource)"},
      {"/pb.Deploy/Deploy", std::string("\x2a\x02\xff\xfe", 4), grpc::StatusCode::INVALID_ARGUMENT,
       "unable to parse the request as pb.DeploymentRequest: field pb.DeploymentRequest.team at "
       "byte 0 is not valid UTF-8"},
      {"/pb.Deploy/Status", garbage, grpc::StatusCode::INVALID_ARGUMENT,
       "unable to parse the request as pb.DeploymentRequest: malformed protobuf at byte 0: "
       "unexpected end of group"},
      {"/pb.Deploy/Status", DeepRequestBytes(100000), grpc::StatusCode::INVALID_ARGUMENT,
       "invalid Kubernetes resources in request: document is nested more than 512 levels deep "
       "(the limit for one resource)"},
      {"/pb.Dispatch/ReportStatus", garbage, grpc::StatusCode::INVALID_ARGUMENT,
       "unable to parse the request as pb.DeploymentStatus: malformed protobuf at byte 0: "
       "unexpected end of group"},
      {"/pb.Dispatch/Deployments", garbage, grpc::StatusCode::INVALID_ARGUMENT,
       "unable to parse the request as pb.GetDeploymentOpts: malformed protobuf at byte 0: "
       "unexpected end of group"},
      {"/pb.Deploy/Rollback", "", grpc::StatusCode::UNIMPLEMENTED,
       "hookd does not implement /pb.Deploy/Rollback" + kServes},
      {"/nais.Other/Call", garbage, grpc::StatusCode::UNIMPLEMENTED,
       "hookd does not implement /nais.Other/Call" + kServes},
  };
  for (const auto& c : cases) {
    const auto status = RawCall(channel, c.method, c.bytes);
    EXPECT_EQ(status.error_code(), c.code) << c.method << ": " << status.error_message();
    EXPECT_EQ(status.error_message(), c.message) << c.method;
    EXPECT_TRUE(Logged(c.method.substr(1) + " from ")) << c.method;
  }
  EXPECT_TRUE(Logged("pb.Deploy/Deploy from ipv4:127.0.0.1:"));
  EXPECT_TRUE(
      Logged(" ended with InvalidArgument: invalid Kubernetes resources in request: "
             "document is nested more than 512 levels deep"));
  EXPECT_TRUE(Logged(" ended with Unimplemented: hookd does not implement /pb.Deploy/Rollback"));
  // A request it can read, for a deployment it does not know: logged with the deployment ID.
  pb::DeploymentRequest unknown;
  unknown.set_id("no-such-deployment");
  const auto status = RawCall(channel, "/pb.Deploy/Status", unknown.SerializeAsString());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "deployment 'no-such-deployment' not found");
  // (The text log format escapes quotes.)
  EXPECT_TRUE(
      Logged("for deployment \\\"no-such-deployment\\\" ended with NotFound: deployment "
             "'no-such-deployment' not found"));
  EXPECT_TRUE(hookd_->Running());
}

TEST_F(HookdLimits, OversizeRequestsNameHookdsLimitAndSetting) {
  Start({"--max-message-size", "1MiB"});
  const std::string limit =
      "1048576 bytes = 1 MiB, set by hookd's --max-message-size or HOOKD_MAX_MESSAGE_SIZE)";
  // gRPC: over the limit (read, then refused by hookd itself).
  auto big = BigRequest("dev", 1536u << 10);
  pb::DeploymentStatus reply;
  auto status = Deploy(big, reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "deployment request is " + std::to_string(big.ByteSizeLong()) +
                                        " bytes, more than hookd accepts (" + limit);
  EXPECT_TRUE(Logged("pb.Deploy/Deploy from ipv4:127.0.0.1:"));
  EXPECT_TRUE(Logged("ended with ResourceExhausted: deployment request is "));
  // Beyond twice the limit gRPC cuts the message off itself, still with text.
  status = Deploy(BigRequest("dev", 3u << 20), reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("larger than max"), std::string::npos)
      << status.error_message();
  // Within the limit: accepted (and queued for the offline cluster).
  EXPECT_TRUE(Deploy(BigRequest("dev", 900u << 10), reply).ok());

  // The HTTP API: the body against the same limit, the answer in the API's JSON.
  const std::string body(1200000, ' ');
  auto http =
      Call(http_port_, "POST", "/api/v1/deploy", body, {{"Content-Type", "application/json"}});
  EXPECT_EQ(http.status, 413);
  EXPECT_EQ(http.content_type, "application/json");
  EXPECT_EQ(nlohmann::json::parse(http.body)["message"],
            "request body is 1200000 bytes, more than hookd accepts (" + limit);
  EXPECT_TRUE(Logged("POST /api/v1/deploy: refused: request body is 1200000 bytes"));
  EXPECT_TRUE(hookd_->Running());
}

TEST_F(HookdLimits, InvalidSettingStopsHookdWithTheRange) {
  auto result = testsupport::Run({testsupport::BinaryPath("hookd"), "--max-message-size", "4"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("hookd: invalid value \"4\" for max-message-size: want a size between "
                            "64 KiB and 256 MiB, such as 33554432 or 32MiB"),
            std::string::npos)
      << result.err;
  auto from_env =
      testsupport::Run({testsupport::BinaryPath("hookd")}, {{"HOOKD_MAX_MESSAGE_SIZE", "1TiB"}});
  EXPECT_EQ(from_env.exit_code, 1);
  EXPECT_NE(from_env.err.find("invalid value \"1TiB\" for max-message-size"), std::string::npos)
      << from_env.err;
}

TEST_F(HookdLimits, RequestLargerThanTheDeploydAcceptsFailsAtOnceNamingItsLimit) {
  Start();
  // Our deployd announces its limit; an older one (the original's) announces none and has gRPC's
  // 4 MiB default.
  FakeDeployd small(Channel(), "small", "", std::chrono::system_clock::now(),
                    {{"max-message-size", "65536"}});
  FakeDeployd old(Channel(), "old", "");
  for (const auto& [cluster, size, limit] :
       {std::tuple<std::string, std::size_t, std::string>{
            "small", 100000,
            "the deployd of cluster 'small' accepts (65536 bytes = 64 KiB, set by deployd's "
            "--max-message-size or DEPLOYD_MAX_MESSAGE_SIZE); nothing was applied"},
        {"old", 5u << 20,
         "the deployd of cluster 'old' accepts (4194304 bytes = 4 MiB, gRPC's default: this "
         "deployd announces no --max-message-size); nothing was applied"}}) {
    pb::DeploymentStatus queued;
    ASSERT_TRUE(Deploy(BigRequest(cluster, size), queued).ok());
    EXPECT_EQ(queued.message(), common::kQueuedMessage);
    auto stub = pb::Deploy::NewStub(Channel());
    grpc::ClientContext context;
    SetDeadline(context, 20s);
    pb::DeploymentRequest follow;
    follow.set_id(queued.request().id());
    auto reader = stub->Status(&context, follow);
    pb::DeploymentStatus status;
    pb::DeploymentStatus last;
    while (reader->Read(&status)) last = status;
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(last.state(), pb::error);
    // The size hookd sends: the stored request, with the ID, time and deadline hookd set.
    pb::DeploymentRequest sent = queued.request();
    EXPECT_EQ(last.message(), "deployment request is " + std::to_string(sent.ByteSizeLong()) +
                                  " bytes, more than " + limit);
  }
  // Nothing was sent to either.
  EXPECT_FALSE(small.Next(100ms).has_value());
  EXPECT_FALSE(old.Next(100ms).has_value());
  // A request within the limit goes through.
  pb::DeploymentStatus queued;
  ASSERT_TRUE(Deploy(BigRequest("small", 1000), queued).ok());
  auto delivered = small.Next(10s);
  ASSERT_TRUE(delivered.has_value()) << hookd_->Log();
  EXPECT_EQ(delivered->id(), queued.request().id());
}

TEST_F(HookdLimits, QueuedStatusSaysWhetherTheClustersDeploydIsConnected) {
  Start();
  pb::DeploymentStatus queued;
  ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "local", "a"), queued).ok());
  EXPECT_EQ(queued.state(), pb::queued);
  EXPECT_EQ(queued.message(),
            "deployd for cluster 'local' is not connected; waiting until " +
                common::FormatRfc3339(common::FromTimestamp(queued.request().deadline())));
  {
    FakeDeployd deployd(Channel(), "local", "");
    ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "local", "b"), queued).ok());
    EXPECT_EQ(queued.message(), common::kQueuedMessage);
  }
  // The deployd went away: the next request says so again (once hookd saw the stream end).
  ASSERT_TRUE(Logged("deployd for cluster local disconnected"));
  ASSERT_TRUE(Deploy(ConfigMapRequest("aura", "local", "c"), queued).ok());
  EXPECT_EQ(
      queued.message().rfind("deployd for cluster 'local' is not connected; waiting until ", 0), 0u)
      << queued.message();
}

}  // namespace
