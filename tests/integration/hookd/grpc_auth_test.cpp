// Authentication error paths with exact codes and messages.
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "harness.hpp"
#include "support/fake_deployd.hpp"

namespace {

using namespace hookdtest;
using testsupport::FakeDeployd;
using namespace std::chrono_literals;

class GrpcAuth : public InProcessHookdTest {
 protected:
  // Deploy with hand-made metadata.
  grpc::Status DeployWith(const std::vector<std::pair<std::string, std::string>>& metadata,
                          const std::string& team = "aura") {
    grpc::ClientContext context;
    for (const auto& [k, v] : metadata) context.AddMetadata(k, v);
    SetDeadline(context, 10s);
    pb::DeploymentStatus reply;
    return deploy_->Deploy(&context, ConfigMapRequest(team, "dev", "foo"), &reply);
  }
  grpc::Status StatusWith(const std::vector<std::pair<std::string, std::string>>& metadata) {
    grpc::ClientContext context;
    for (const auto& [k, v] : metadata) context.AddMetadata(k, v);
    SetDeadline(context, 10s);
    pb::DeploymentRequest request;
    request.set_id("00000000-0000-4000-8000-000000000000");
    auto reader = deploy_->Status(&context, request);
    pb::DeploymentStatus status;
    while (reader->Read(&status)) {
    }
    return reader->Finish();
  }
  std::vector<std::pair<std::string, std::string>> Signed(
      const std::string& key, const std::string& team,
      std::chrono::system_clock::time_point at = std::chrono::system_clock::now()) {
    const std::string ts = common::FormatRfc3339Nano(at);
    return {{"timestamp", ts},
            {"authorization", common::HexEncode(common::HmacSha256(key, ts))},
            {"team", team}};
  }
};

using hookdtest::ExpectStatus;

TEST_F(GrpcAuth, ValidSignatureIsAccepted) { EXPECT_TRUE(DeployWith(Signed(key_, "aura")).ok()); }

TEST_F(GrpcAuth, MissingMetadata) {
  auto full = Signed(key_, "aura");
  ExpectStatus(DeployWith({}), grpc::StatusCode::UNAUTHENTICATED,
               "request is not signed with API key");
  ExpectStatus(DeployWith({full[1], full[2]}), grpc::StatusCode::UNAUTHENTICATED,
               "API key signature timestamp is not provided");
  ExpectStatus(DeployWith({full[0], full[1]}), grpc::StatusCode::UNAUTHENTICATED,
               "team is not provided in API key signature metadata");
  ExpectStatus(StatusWith({}), grpc::StatusCode::UNAUTHENTICATED,
               "request is not signed with API key");
}

TEST_F(GrpcAuth, SignatureNotHex) {
  auto md = Signed(key_, "aura");
  md[1].second = "zz-not-hex";
  ExpectStatus(DeployWith(md), grpc::StatusCode::INVALID_ARGUMENT,
               "wrong API key signature format");
}

TEST_F(GrpcAuth, OldOrFutureOrGarbageTimestamp) {
  ExpectStatus(DeployWith(Signed(key_, "aura", std::chrono::system_clock::now() - 31s)),
               grpc::StatusCode::DEADLINE_EXCEEDED, "signature expired");
  ExpectStatus(DeployWith(Signed(key_, "aura", std::chrono::system_clock::now() + 31s)),
               grpc::StatusCode::DEADLINE_EXCEEDED, "signature expired");
  auto md = Signed(key_, "aura");
  md[0].second = "yesterday";
  md[1].second = common::HexEncode(common::HmacSha256(key_, "yesterday"));
  ExpectStatus(DeployWith(md), grpc::StatusCode::DEADLINE_EXCEEDED, "signature expired");
  ExpectStatus(StatusWith(Signed(key_, "aura", std::chrono::system_clock::now() - 60s)),
               grpc::StatusCode::DEADLINE_EXCEEDED, "signature is too old");
}

TEST_F(GrpcAuth, UnknownTeamIsUnauthenticated) {
  ExpectStatus(DeployWith(Signed(key_, "nobody"), "nobody"), grpc::StatusCode::UNAUTHENTICATED,
               "failed authentication");
}

TEST_F(GrpcAuth, WrongKeyIsPermissionDenied) {
  ExpectStatus(DeployWith(Signed(common::RandomBytes(32), "aura")),
               grpc::StatusCode::PERMISSION_DENIED, "failed authentication");
  ExpectStatus(StatusWith(Signed(common::RandomBytes(32), "aura")),
               grpc::StatusCode::PERMISSION_DENIED, "failed authentication");
}

TEST_F(GrpcAuth, ExpiredKeyIsPermissionDeniedAndRotatedKeyWorks) {
  const std::string old_key = key_;
  const std::string new_key = ProvisionKey(db_.Url(), "aura");  // rotation expires the old one
  ExpectStatus(DeployWith(Signed(old_key, "aura")), grpc::StatusCode::PERMISSION_DENIED,
               "failed authentication");
  EXPECT_TRUE(DeployWith(Signed(new_key, "aura")).ok());
}

TEST_F(GrpcAuth, TeamInMetadataMustMatchRequestTeam) {
  // Deliberate fix of the original's quirk 11.1: authenticated as aura, deploying as "other".
  ExpectStatus(DeployWith(Signed(key_, "aura"), "other"), grpc::StatusCode::PERMISSION_DENIED,
               "authenticated as team \"aura\" but the request is for team \"other\"");
}

TEST_F(GrpcAuth, StatusOfAnotherTeamsDeploymentIsDenied) {
  grpc::ClientContext context;
  SignApiKey(context, key_, "aura");
  SetDeadline(context, 10s);
  pb::DeploymentStatus queued;
  ASSERT_TRUE(deploy_->Deploy(&context, ConfigMapRequest("aura", "dev", "foo"), &queued).ok());
  const std::string other_key = ProvisionKey(db_.Url(), "other");
  grpc::ClientContext status_context;
  SignApiKey(status_context, other_key, "other");
  SetDeadline(status_context, 10s);
  pb::DeploymentRequest request;
  request.set_id(queued.request().id());
  auto reader = deploy_->Status(&status_context, request);
  pb::DeploymentStatus status;
  EXPECT_FALSE(reader->Read(&status));
  ExpectStatus(reader->Finish(), grpc::StatusCode::PERMISSION_DENIED,
               "deployment '" + queued.request().id() + "' does not belong to team \"other\"");
}

TEST_F(GrpcAuth, DeploydPreSharedKey) {
  {
    FakeDeployd none(hookd_->Channel(), "dev", "");
    auto ended = none.Ended();
    ASSERT_TRUE(ended.has_value());
    ExpectStatus(*ended, grpc::StatusCode::UNAUTHENTICATED, "authorization key is not provided");
  }
  {
    FakeDeployd wrong(hookd_->Channel(), "dev", "wrong-key");
    auto ended = wrong.Ended();
    ASSERT_TRUE(ended.has_value());
    ExpectStatus(*ended, grpc::StatusCode::PERMISSION_DENIED, "application is not authorized");
  }
  FakeDeployd good(hookd_->Channel(), "dev", kDeploydKey);
  ExpectStatus(good.Report("x", pb::success, "m", ""), grpc::StatusCode::UNAUTHENTICATED,
               "authorization key is not provided");
  ExpectStatus(good.Report("x", pb::success, "m", "nope"), grpc::StatusCode::PERMISSION_DENIED,
               "application is not authorized");
  EXPECT_FALSE(good.Ended(300ms).has_value());  // the right key keeps its stream
}

TEST(GrpcNoAuth, WithoutAuthenticationAnyoneMayDeploy) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  Hookd hookd(db.Url(), false, false);
  FakeDeployd deployd(hookd.Channel(), "local", "");
  auto stub = pb::Deploy::NewStub(hookd.Channel());
  grpc::ClientContext context;
  SetDeadline(context, 10s);
  pb::DeploymentStatus reply;
  auto status = stub->Deploy(&context, ConfigMapRequest("aura", "local", "foo"), &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  auto delivered = deployd.Next();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->id(), reply.request().id());
  EXPECT_TRUE(deployd.Report(reply.request().id(), pb::success, "done").ok());
}

}  // namespace
