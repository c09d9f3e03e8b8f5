// The pb.Deploy handlers (Deploy, Status, Cancel) against in-memory stores: no Postgres, no
// sockets. Metadata and requests go to DeployHandlers as values; codes and messages are compared
// byte for byte with what the integration tests (tests/integration/hookd/grpc_auth_test.cpp,
// grpc_flow_test.cpp, cancel_test.cpp) pin against the real database.
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "hookd/grpc/deploy_handlers.hpp"
#include "jwt_signer.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_stores.hpp"

namespace grpc_deploy_test {
namespace {

using hookd::grpcapi::DeployAuthOptions;
using hookd::grpcapi::DeployBackends;
using hookd::grpcapi::DeployHandlers;
using hookd::grpcapi::Metadata;
using namespace std::chrono_literals;

constexpr const char* kAuraKey = "team-key-of-aura";
const std::string kIssuer = "https://token.actions.githubusercontent.com";
const std::string kUnknownId = "00000000-0000-4000-8000-000000000000";

long long Unix(common::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

pb::DeploymentRequest Request(const std::string& team, const std::string& id = "") {
  pb::DeploymentRequest request;
  request.set_team(team);
  request.set_cluster("dev");
  request.set_id(id);
  return request;
}

// One key pair for every test (generating RSA keys is slow).
const hookdtest::RsaSigner& Signer() {
  static const hookdtest::RsaSigner signer("key-1");
  return signer;
}

void ExpectStatus(const grpc::Status& status, grpc::StatusCode code, const std::string& message) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_EQ(status.error_message(), message);
}

class GrpcDeployHandlers : public ::testing::Test {
 protected:
  GrpcDeployHandlers()
      : jwks_([] { return Signer().Jwks(); }, clock_), verifier_(jwks_, kIssuer, "hookd", clock_) {
    keys_.Add("aura", kAuraKey, clock_.now - 1h, clock_.now + 24h);
    keys_.Add("other", "team-key-of-other", clock_.now - 1h, clock_.now + 24h);
    Build(true);
  }

  void Build(bool cli_authentication) {
    handlers_ = std::make_unique<DeployHandlers>(
        DeployBackends{keys_, repositories_, deployments_, intake_, canceller_, clock_},
        DeployAuthOptions{cli_authentication, &verifier_, nullptr});
  }

  // Metadata of a CLI signing with `key` as `team` at `at` (now when unset).
  Metadata Signed(const std::string& key, const std::string& team,
                  std::optional<common::SystemTime> at = std::nullopt) const {
    const std::string ts = common::FormatRfc3339(at.value_or(clock_.now));
    return {{"timestamp", ts},
            {"authorization", common::HexEncode(common::HmacSha256(key, ts))},
            {"team", team}};
  }

  Metadata WithJwt(const std::string& repository, const std::string& team = "aura") const {
    return {{"jwt", Signer().Sign(hookdtest::GitHubClaims(Unix(clock_.now), kIssuer, repository))},
            {"team", team}};
  }

  grpc::Status Deploy(const Metadata& metadata, const pb::DeploymentRequest& request) {
    return handlers_->Deploy(metadata, request, false, reply_);
  }

  // Both steps of pb.Deploy/Status, as the stream runs them.
  grpc::Status Status(const Metadata& metadata, const pb::DeploymentRequest& request,
                      std::vector<hookd::store::StatusRow>& history) {
    std::string team;
    auto admitted = handlers_->AdmitStatus(metadata, request, team);
    if (!admitted.ok()) return admitted;
    return handlers_->StatusHistory(request.id(), team, history);
  }

  void AddDeployment(const std::string& id, const std::string& team) {
    hookd::store::DeploymentRow row;
    row.id = id;
    row.team = team;
    row.created = clock_.now;
    row.cluster = "dev";
    deployments_.AddDeployment(row);
  }

  testsupport::FakeClock clock_;
  testsupport::FakeApiKeyStore keys_{clock_};
  testsupport::FakeTeamRepositoryStore repositories_;
  testsupport::FakeDeploymentStore deployments_;
  testsupport::FakeIntake intake_{clock_};
  testsupport::FakeCanceller canceller_;
  hookd::grpcapi::JwksCache jwks_;
  hookd::grpcapi::JwtVerifier verifier_;
  std::unique_ptr<DeployHandlers> handlers_;
  pb::DeploymentStatus reply_;
};

TEST_F(GrpcDeployHandlers, ValidApiKeySignatureDeploys) {
  ASSERT_TRUE(Deploy(Signed(kAuraKey, "aura"), Request("aura")).ok());
  ASSERT_EQ(intake_.accepted.size(), 1U);
  EXPECT_EQ(intake_.accepted[0].request.team(), "aura");
  EXPECT_EQ(intake_.accepted[0].idempotency_key, "");
  EXPECT_EQ(reply_.state(), pb::queued);
}

TEST_F(GrpcDeployHandlers, SignatureAtTheEdgeOfTheWindow) {
  EXPECT_TRUE(Deploy(Signed(kAuraKey, "aura", clock_.now - 29s), Request("aura")).ok());
  ExpectStatus(Deploy(Signed(kAuraKey, "aura", clock_.now - 31s), Request("aura")),
               grpc::StatusCode::DEADLINE_EXCEEDED, "signature expired");
  ExpectStatus(Deploy(Signed(kAuraKey, "aura", clock_.now + 31s), Request("aura")),
               grpc::StatusCode::DEADLINE_EXCEEDED, "signature expired");
  EXPECT_EQ(intake_.accepted.size(), 1U);
}

TEST_F(GrpcDeployHandlers, WrongKeyIsPermissionDenied) {
  ExpectStatus(Deploy(Signed("not-the-key", "aura"), Request("aura")),
               grpc::StatusCode::PERMISSION_DENIED, "failed authentication");
  std::vector<hookd::store::StatusRow> history;
  ExpectStatus(Status(Signed("not-the-key", "aura"), Request("aura", kUnknownId), history),
               grpc::StatusCode::PERMISSION_DENIED, "failed authentication");
  EXPECT_TRUE(intake_.accepted.empty());
}

TEST_F(GrpcDeployHandlers, BadSignatureMetadata) {
  auto full = Signed(kAuraKey, "aura");
  ExpectStatus(Deploy({}, Request("aura")), grpc::StatusCode::UNAUTHENTICATED,
               "request is not signed with API key");
  auto no_timestamp = full;
  no_timestamp.erase("timestamp");
  ExpectStatus(Deploy(no_timestamp, Request("aura")), grpc::StatusCode::UNAUTHENTICATED,
               "API key signature timestamp is not provided");
  auto no_team = full;
  no_team.erase("team");
  ExpectStatus(Deploy(no_team, Request("aura")), grpc::StatusCode::UNAUTHENTICATED,
               "team is not provided in API key signature metadata");
  auto not_hex = full;
  not_hex.find("authorization")->second = "zz-not-hex";
  ExpectStatus(Deploy(not_hex, Request("aura")), grpc::StatusCode::INVALID_ARGUMENT,
               "wrong API key signature format");
  EXPECT_TRUE(intake_.accepted.empty());
}

TEST_F(GrpcDeployHandlers, UnknownTeamIsUnauthenticated) {
  ExpectStatus(Deploy(Signed(kAuraKey, "nobody"), Request("nobody")),
               grpc::StatusCode::UNAUTHENTICATED, "failed authentication");
}

TEST_F(GrpcDeployHandlers, ExpiredKeyIsPermissionDeniedAndRotatedKeyWorks) {
  keys_.RotateApiKey("aura", "rotated-key");  // expires kAuraKey now
  ExpectStatus(Deploy(Signed(kAuraKey, "aura"), Request("aura")),
               grpc::StatusCode::PERMISSION_DENIED, "failed authentication");
  EXPECT_TRUE(Deploy(Signed("rotated-key", "aura"), Request("aura")).ok());
}

TEST_F(GrpcDeployHandlers, KeyStoreFailureIsUnavailable) {
  keys_.failure = std::make_exception_ptr(std::runtime_error("connection refused"));
  ExpectStatus(Deploy(Signed(kAuraKey, "aura"), Request("aura")), grpc::StatusCode::UNAVAILABLE,
               "something wrong happened when communicating with api key service");
}

TEST_F(GrpcDeployHandlers, TeamInMetadataMustMatchRequestTeam) {
  ExpectStatus(Deploy(Signed(kAuraKey, "aura"), Request("other")),
               grpc::StatusCode::PERMISSION_DENIED,
               "authenticated as team \"aura\" but the request is for team \"other\"");
  EXPECT_TRUE(intake_.accepted.empty());
}

TEST_F(GrpcDeployHandlers, ExpiredCallIsRefusedBeforeAnything) {
  ExpectStatus(handlers_->Deploy(Signed(kAuraKey, "aura"), Request("aura"), true, reply_),
               grpc::StatusCode::DEADLINE_EXCEEDED,
               "deployment request timed out while you were waiting");
  pb::CancelRequest cancel;
  cancel.set_id("x");
  cancel.set_team("aura");
  ExpectStatus(handlers_->Cancel(Signed(kAuraKey, "aura"), cancel, true, reply_),
               grpc::StatusCode::DEADLINE_EXCEEDED,
               "cancel request timed out while you were waiting");
  EXPECT_TRUE(intake_.accepted.empty());
  EXPECT_TRUE(canceller_.cancelled.empty());
}

TEST_F(GrpcDeployHandlers, IdempotencyKeyIsPassedOnAndMustNotBeEmpty) {
  auto metadata = Signed(kAuraKey, "aura");
  metadata.emplace("idempotency-key", "retry-1");
  ASSERT_TRUE(Deploy(metadata, Request("aura")).ok());
  ASSERT_EQ(intake_.accepted.size(), 1U);
  EXPECT_EQ(intake_.accepted[0].idempotency_key, "retry-1");
  metadata.find("idempotency-key")->second = "";
  auto status = Deploy(metadata, Request("aura"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("invalid idempotency key: it must be ", 0), 0U)
      << status.error_message();
  EXPECT_EQ(intake_.accepted.size(), 1U);
}

TEST_F(GrpcDeployHandlers, IntakeErrorsKeepTheirCodeAndMessage) {
  intake_.failure = std::make_exception_ptr(common::Error(
      common::ErrorCode::kInvalidArgument, "unknown cluster 'staging'; known clusters: dev, prod"));
  ExpectStatus(Deploy(Signed(kAuraKey, "aura"), Request("aura")),
               grpc::StatusCode::INVALID_ARGUMENT,
               "unknown cluster 'staging'; known clusters: dev, prod");
}

TEST_F(GrpcDeployHandlers, WithoutAuthenticationAnyoneMayDeploy) {
  Build(false);
  EXPECT_TRUE(Deploy({}, Request("aura")).ok());
  EXPECT_EQ(intake_.accepted.size(), 1U);
}

TEST_F(GrpcDeployHandlers, JwtOfAnAuthorizedRepositoryDeploys) {
  repositories_.AddTeamRepository("aura", "navikt/app");
  EXPECT_TRUE(Deploy(WithJwt("navikt/app"), Request("aura")).ok());
  ExpectStatus(Deploy(WithJwt("navikt/elsewhere"), Request("aura")),
               grpc::StatusCode::PERMISSION_DENIED,
               "repo \"navikt/elsewhere\" not authorized by team \"aura\"");
  EXPECT_EQ(intake_.accepted.size(), 1U);
}

TEST_F(GrpcDeployHandlers, JwtWithoutVerifierIsRefused) {
  handlers_ = std::make_unique<DeployHandlers>(
      DeployBackends{keys_, repositories_, deployments_, intake_, canceller_, clock_},
      DeployAuthOptions{true, nullptr, nullptr});
  ExpectStatus(Deploy(WithJwt("navikt/app"), Request("aura")), grpc::StatusCode::UNAUTHENTICATED,
               "invalid JWT token: JWT authentication is not configured");
}

TEST_F(GrpcDeployHandlers, StatusOfUnknownDeploymentIsNotFound) {
  std::vector<hookd::store::StatusRow> history;
  ExpectStatus(Status(Signed(kAuraKey, "aura"), Request("aura", kUnknownId), history),
               grpc::StatusCode::NOT_FOUND, "deployment '" + kUnknownId + "' not found");
  Build(false);
  ExpectStatus(Status({}, Request("", kUnknownId), history), grpc::StatusCode::NOT_FOUND,
               "deployment '" + kUnknownId + "' not found");
}

TEST_F(GrpcDeployHandlers, StatusOfAnotherTeamsDeploymentIsDenied) {
  AddDeployment("d1", "aura");
  std::vector<hookd::store::StatusRow> history;
  ExpectStatus(Status(Signed("team-key-of-other", "other"), Request("", "d1"), history),
               grpc::StatusCode::PERMISSION_DENIED,
               "deployment 'd1' does not belong to team \"other\"");
  EXPECT_TRUE(history.empty());
}

TEST_F(GrpcDeployHandlers, StatusReturnsTheHistoryNewestFirst) {
  AddDeployment("d1", "aura");
  deployments_.AddStatus("d1", pb::queued, "queued", "queued", clock_.now);
  deployments_.AddStatus("d1", pb::success, "success", "done", clock_.now + 1s);
  std::vector<hookd::store::StatusRow> history;
  ASSERT_TRUE(Status(Signed(kAuraKey, "aura"), Request("aura", "d1"), history).ok());
  ASSERT_EQ(history.size(), 2U);
  EXPECT_EQ(history[0].state, pb::success);
  EXPECT_EQ(history[1].state, pb::queued);
}

TEST_F(GrpcDeployHandlers, StatusSignatureTooOldHasTheStreamMessage) {
  std::vector<hookd::store::StatusRow> history;
  ExpectStatus(Status(Signed(kAuraKey, "aura", clock_.now - 60s), Request("aura", "d1"), history),
               grpc::StatusCode::DEADLINE_EXCEEDED, "signature is too old");
}

TEST_F(GrpcDeployHandlers, StatusWithInvalidTeamIsRefusedBeforeAuthentication) {
  std::vector<hookd::store::StatusRow> history;
  auto status = Status({}, Request("Not_A_Label", "d1"), history);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("Not_A_Label"), std::string::npos)
      << status.error_message();
}

TEST_F(GrpcDeployHandlers, StatusWhenStorageFailsIsUnavailable) {
  deployments_.failure = std::make_exception_ptr(std::runtime_error("connection refused"));
  std::vector<hookd::store::StatusRow> history;
  ExpectStatus(Status(Signed(kAuraKey, "aura"), Request("aura", "d1"), history),
               grpc::StatusCode::UNAVAILABLE,
               "unable to determine deployment status; database is unavailable");
}

TEST_F(GrpcDeployHandlers, CancelIsAuthenticatedAndPassedOn) {
  canceller_.answer.set_state(pb::failure);
  pb::CancelRequest cancel;
  cancel.set_id("d1");
  cancel.set_team("aura");
  cancel.set_reason("wrong image");
  ASSERT_TRUE(handlers_->Cancel(Signed(kAuraKey, "aura"), cancel, false, reply_).ok());
  ASSERT_EQ(canceller_.cancelled.size(), 1U);
  EXPECT_EQ(canceller_.cancelled[0].id, "d1");
  EXPECT_EQ(canceller_.cancelled[0].team, "aura");
  EXPECT_EQ(canceller_.cancelled[0].reason, "wrong image");
  EXPECT_EQ(reply_.state(), pb::failure);

  ExpectStatus(handlers_->Cancel(Signed("not-the-key", "aura"), cancel, false, reply_),
               grpc::StatusCode::PERMISSION_DENIED, "failed authentication");
  ExpectStatus(handlers_->Cancel(Signed("team-key-of-other", "other"), cancel, false, reply_),
               grpc::StatusCode::PERMISSION_DENIED,
               "authenticated as team \"other\" but the request is for team \"aura\"");
  EXPECT_EQ(canceller_.cancelled.size(), 1U);
}

TEST_F(GrpcDeployHandlers, CancelErrorsKeepTheirCodeAndMessage) {
  canceller_.failure = std::make_exception_ptr(
      common::Error(common::ErrorCode::kNotFound, "deployment 'no-such-id' not found"));
  pb::CancelRequest cancel;
  cancel.set_id("no-such-id");
  cancel.set_team("aura");
  ExpectStatus(handlers_->Cancel(Signed(kAuraKey, "aura"), cancel, false, reply_),
               grpc::StatusCode::NOT_FOUND, "deployment 'no-such-id' not found");
}

}  // namespace
}  // namespace grpc_deploy_test
