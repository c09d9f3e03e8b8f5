// The CLI's side of the message size limit (--max-message-size) and of errors without text.
#include <regex>

#include <gtest/gtest.h>

#include "deploy-cli/run.hpp"
#include "deploy-cli/transport/grpc_transport.hpp"
#include "fakes.hpp"

namespace deploy_cli {
namespace {

using grpc::StatusCode;
using testing::Err;
using testing::Harness;
using testing::MakeStatus;

// A ConfigMap with `bytes` of data, in a file that lives as long as the object.
class BigConfigMap : public testing::ScratchFile {
 public:
  explicit BigConfigMap(std::size_t bytes)
      : ScratchFile(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: aura\n"
            "data:\n  blob: " +
            std::string(bytes, 'x') + "\n") {}
};

std::vector<std::string> LimitArgs(const std::string& resource,
                                   std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--resource", resource,   "--cluster", "dev-fss",
                                   "--apikey",   "12345678", "--actions"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(MessageLimit, RequestOverTheLimitIsRefusedBeforeAnythingIsSent) {
  BigConfigMap big(100000);
  for (const bool from_env : {false, true}) {
    Harness h;
    if (from_env) h.env["MAX_MESSAGE_SIZE"] = "64KiB";
    const int code = h.Run(
        LimitArgs(big.Path(), from_env ? std::vector<std::string>{}
                                       : std::vector<std::string>{"--max-message-size", "65536"}));
    EXPECT_EQ(code, 4) << h.err.str();
    EXPECT_TRUE(h.transport.deploy_requests.empty());
    const std::regex expected(
        "::error::fatal: deployment request is ([0-9]+) bytes, more than this client accepts "
        "\\(65536 bytes = 64 KiB, set by --max-message-size or MAX_MESSAGE_SIZE\\); hookd and "
        "deployd have the same setting and must accept the size too");
    std::smatch match;
    const std::string last = h.LastErrLine();
    ASSERT_TRUE(std::regex_match(last, match, expected)) << last;
    EXPECT_GT(std::stoul(match[1]), 100000u);
    EXPECT_LT(std::stoul(match[1]), 101000u);
  }
}

TEST(MessageLimit, DryRunOnlyWarns) {
  BigConfigMap big(100000);
  Harness h;
  EXPECT_EQ(h.Run(LimitArgs(big.Path(), {"--max-message-size", "64KiB", "--dry-run"})), 0);
  EXPECT_NE(h.err.str().find("::warn::deployment request is "), std::string::npos) << h.err.str();
}

TEST(MessageLimit, RequestWithinTheLimitIsSentAndTheChannelUsesTheLimit) {
  BigConfigMap big(100000);
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "queued")};
  h.transport.streams = {testing::FakeTransport::Stream{
      std::deque<testing::FakeTransport::Item>{MakeStatus(pb::success, "done")}}};
  EXPECT_EQ(h.Run(LimitArgs(big.Path(), {"--max-message-size", "1MiB", "--wait"})), 0)
      << h.err.str();
  ASSERT_TRUE(h.transport.config);
  EXPECT_EQ(h.transport.config->max_message_size, 1u << 20);
  ASSERT_EQ(h.transport.deploy_requests.size(), 1u);
  EXPECT_EQ(h.transport.deploy_requests[0].kubernetes().resources_size(), 1);
  // Status needs the ID: the manifests are not sent again.
  ASSERT_EQ(h.transport.status_requests.size(), 1u);
  EXPECT_EQ(h.transport.status_requests[0].id(), "id-1");
  EXPECT_FALSE(h.transport.status_requests[0].has_kubernetes());
}

TEST(MessageLimit, DefaultIs32MiB) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::success, "done")};
  EXPECT_EQ(h.Run(Harness::Base()), 0) << h.err.str();
  EXPECT_EQ(h.transport.config->max_message_size, 32u << 20);
}

TEST(MessageLimit, InvalidSettingIsAnInvocationFailure) {
  Harness h;
  EXPECT_EQ(h.Run(Harness::Base({"--max-message-size", "32", "--actions"})), 6);
  EXPECT_EQ(h.LastErrLine(),
            "::error::fatal: invalid value \"32\" for max-message-size: want a size between 64 KiB "
            "and 256 MiB, such as 33554432 or 32MiB");
  EXPECT_TRUE(h.transport.deploy_requests.empty());
}

TEST(MessageLimit, GrpcSizeRefusalOfTheServerIsExplained) {
  Harness h;
  // What the gRPC transport makes of grpc-go's refusal.
  h.transport.deploys = {
      FromGrpcStatus(grpc::Status(StatusCode::RESOURCE_EXHAUSTED,
                                  "grpc: received message larger than max (4546607 vs. 4194304)"))};
  EXPECT_EQ(h.Run(Harness::Base({"--actions"})), 4);
  ASSERT_EQ(h.transport.deploy_requests.size(), 1u);
  EXPECT_EQ(h.LastErrLine(),
            "::error::fatal: ResourceExhausted: grpc: received message larger than max (4546607 "
            "vs. 4194304); hookd refused the " +
                std::to_string(h.transport.deploy_requests[0].ByteSizeLong()) +
                "-byte deployment request as larger than its limit, which hookd's "
                "--max-message-size or HOOKD_MAX_MESSAGE_SIZE raises (gRPC's default, and an "
                "older hookd's, is 4 MiB)");
}

// The hint follows the failure kind the transport decided, never the wording of the message.
TEST(MessageLimit, SizeRefusalWordingWithoutTheKindGetsNoHint) {
  Harness h;
  // Say, hookd's own code quoting gRPC's words: a plain RESOURCE_EXHAUSTED.
  h.transport.deploys = {Err(StatusCode::RESOURCE_EXHAUSTED,
                             "grpc: received message larger than max (4546607 vs. 4194304)")};
  EXPECT_EQ(h.Run(Harness::Base({"--actions"})), 4);
  EXPECT_EQ(h.LastErrLine(),
            "::error::fatal: ResourceExhausted: grpc: received message larger than max (4546607 "
            "vs. 4194304)");
}

TEST(MessageLimit, SizeRefusalKindGetsTheHintWhateverItsWording) {
  Harness h;
  h.transport.deploys = {
      RpcStatus{StatusCode::RESOURCE_EXHAUSTED, "too big", RpcFailure::kGrpcMessageTooLarge}};
  EXPECT_EQ(h.Run(Harness::Base({"--actions"})), 4);
  ASSERT_EQ(h.transport.deploy_requests.size(), 1u);
  EXPECT_EQ(h.LastErrLine(),
            "::error::fatal: ResourceExhausted: too big; hookd refused the " +
                std::to_string(h.transport.deploy_requests[0].ByteSizeLong()) +
                "-byte deployment request as larger than its limit, which hookd's "
                "--max-message-size or HOOKD_MAX_MESSAGE_SIZE raises (gRPC's default, and an "
                "older hookd's, is 4 MiB)");
}

TEST(MessageLimit, GrpcStatusesAreClassifiedWhereTheyArrive) {
  const auto kind = [](StatusCode code, const std::string& message) {
    return FromGrpcStatus(grpc::Status(code, message)).failure;
  };
  EXPECT_EQ(kind(StatusCode::RESOURCE_EXHAUSTED, "Received message larger than max (9 vs. 4)"),
            RpcFailure::kGrpcMessageTooLarge);
  EXPECT_EQ(kind(StatusCode::RESOURCE_EXHAUSTED, "Sent message larger than max (9 vs. 4)"),
            RpcFailure::kGrpcMessageTooLarge);
  EXPECT_EQ(kind(StatusCode::RESOURCE_EXHAUSTED, "quota exhausted"), RpcFailure::kOther);
  // The same words under another code are the server's text, not gRPC's refusal.
  EXPECT_EQ(kind(StatusCode::INVALID_ARGUMENT, "message larger than max"), RpcFailure::kOther);
  const RpcStatus status = FromGrpcStatus(grpc::Status(StatusCode::NOT_FOUND, "gone"));
  EXPECT_EQ(status.code, StatusCode::NOT_FOUND);
  EXPECT_EQ(status.message, "gone");
}

// ---------------------------------------------------------------------------------------------
// No failure without text.

TEST(EmptyErrors, DeployRefusalWithoutMessageNamesTheCode) {
  Harness h;
  h.transport.deploys = {Err(StatusCode::UNIMPLEMENTED, "")};
  EXPECT_EQ(h.Run(Harness::Base({"--actions"})), 4);
  EXPECT_EQ(h.LastErrLine(),
            "::error::fatal: Unimplemented: no message from NAIS deploy; the server does not "
            "implement this call, or could not parse the request");
}

TEST(EmptyErrors, StatusErrorsWithoutMessageNameTheCode) {
  {
    Harness h;
    h.transport.deploys = {MakeStatus(pb::queued, "queued")};
    h.transport.streams = {Err(StatusCode::UNKNOWN, "")};
    EXPECT_EQ(h.Run(Harness::Base({"--wait", "--actions"})), 5);
    EXPECT_EQ(h.LastErrLine(),
              "::error::fatal: rpc error: code = Unknown desc = no message from NAIS deploy; the "
              "server did not say why");
  }
  {
    Harness h;
    h.transport.deploys = {MakeStatus(pb::queued, "queued")};
    h.transport.streams = {testing::FakeTransport::Stream{
        std::deque<testing::FakeTransport::Item>{Err(StatusCode::PERMISSION_DENIED, "")}}};
    EXPECT_EQ(h.Run(Harness::Base({"--wait", "--actions"})), 5);
    EXPECT_EQ(h.LastErrLine(),
              "::error::fatal: PermissionDenied: no message from NAIS deploy; this client may not "
              "do that");
  }
  {
    // Retried codes warn with the explanation too.
    Harness h;
    h.transport.deploys = {Err(StatusCode::UNAVAILABLE, ""), MakeStatus(pb::success, "done")};
    EXPECT_EQ(h.Run(Harness::Base({"--actions"})), 0);
    EXPECT_NE(h.err.str().find("::warn::Unavailable: no message from NAIS deploy; the server "
                               "cannot be reached or is not ready (retrying in 5s...)"),
              std::string::npos)
        << h.err.str();
  }
}

}  // namespace
}  // namespace deploy_cli
