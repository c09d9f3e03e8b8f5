// GitHub OIDC JWT authentication of pb.Deploy (spec 2.3.2) against hookd with its JWKS served by a
// local HTTP server, and the team_repositories endpoint that authorises repositories.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../../unit/hookd/jwt_signer.hpp"
#include "harness.hpp"
#include "http_call.hpp"
#include "static_http_server.hpp"

namespace {

using namespace hookdtest;
using namespace std::chrono_literals;
using nlohmann::json;

const std::string kIssuer = "https://token.actions.githubusercontent.com";
const std::string kPsk = "console-psk";

RsaSigner& Signer() {
  static RsaSigner signer("gh-1");
  return signer;
}

long long Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class GrpcJwt : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.Available()) GTEST_SKIP() << "no test database";
    jwks_ = std::make_unique<StaticHttpServer>(Signer().Jwks());
    auto config = TestConfig(db_.Url(), true, true);
    config.github_jwks_url = jwks_->Url();
    config.github_issuer = kIssuer;
    config.frontend_keys = {kPsk};
    app_ = std::make_unique<hookd::App>(config);
    app_->Start();
    deploy_ = pb::Deploy::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(app_->GrpcPort()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (app_) app_->Stop();
  }

  Reply Repositories(const std::string& method, const std::string& path,
                     const std::string& body = "", const std::string& psk = kPsk) {
    std::map<std::string, std::string> headers{{"X-PSK", psk}};
    if (!body.empty()) headers["Content-Type"] = "application/json";
    return Call(app_->HttpPort(), method, "/internal/api/v1/team/" + path, body, headers);
  }
  void Authorize(const std::string& team, const std::string& repo) {
    auto reply = Repositories("POST", team + "/repositories", json{{"repository", repo}}.dump());
    ASSERT_EQ(reply.status, 201) << reply.body;
  }

  grpc::Status DeployWith(const std::string& token, const std::string& team,
                          pb::DeploymentStatus* out = nullptr) {
    grpc::ClientContext context;
    context.AddMetadata("jwt", token);
    if (!team.empty()) context.AddMetadata("team", team);
    SetDeadline(context, 10s);
    pb::DeploymentStatus reply;
    auto status = deploy_->Deploy(
        &context, ConfigMapRequest(team.empty() ? "aura" : team, "dev", "foo"), &reply);
    if (out != nullptr) *out = reply;
    return status;
  }

  testsupport::TestDatabase db_;
  std::unique_ptr<StaticHttpServer> jwks_;
  std::unique_ptr<hookd::App> app_;
  std::unique_ptr<pb::Deploy::Stub> deploy_;
};

void ExpectStatus(const grpc::Status& status, grpc::StatusCode code, const std::string& message) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_EQ(status.error_message(), message);
}

TEST_F(GrpcJwt, TeamRepositoriesEndpoint) {
  auto denied = Repositories("GET", "aura/repositories", "", "wrong");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body, "Unauthorized access: Invalid key");
  auto added = Repositories("POST", "aura/repositories", R"({"repository":"navikt/app"})");
  EXPECT_EQ(added.status, 201);
  EXPECT_EQ(added.content_type, "application/json");
  EXPECT_EQ(json::parse(added.body)["message"], "repository authorized");
  auto again = Repositories("POST", "aura/repositories", R"({"repository":"navikt/app"})");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(json::parse(again.body)["message"], "repository already authorized");
  auto bad = Repositories("POST", "aura/repositories", R"({"repository":"app"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["message"], "invalid repository \"app\": want owner/name");
  auto list = Repositories("GET", "aura/repositories");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(json::parse(list.body), (json{{"team", "aura"}, {"repositories", {"navikt/app"}}}));
  EXPECT_EQ(Repositories("DELETE", "aura/repositories/navikt/app").status, 204);
  auto gone = Repositories("DELETE", "aura/repositories/navikt/app");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(json::parse(gone.body)["message"],
            "repository \"navikt/app\" is not authorized by team \"aura\"");
  EXPECT_EQ(json::parse(Repositories("GET", "aura/repositories").body)["repositories"],
            json::array());
}

TEST_F(GrpcJwt, ValidTokenOfAnAuthorizedRepositoryDeploysAndReadsStatus) {
  Authorize("aura", "navikt/app");
  const std::string token = Signer().Sign(GitHubClaims(Now(), kIssuer));
  pb::DeploymentStatus queued;
  auto status = DeployWith(token, "aura", &queued);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(queued.state(), pb::queued);

  grpc::ClientContext context;
  context.AddMetadata("jwt", token);
  context.AddMetadata("team", "aura");
  SetDeadline(context, 2s);
  auto reader = deploy_->Status(&context, queued.request());
  pb::DeploymentStatus first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.state(), pb::queued);
  context.TryCancel();
  reader->Finish();

  auto metrics = Call(app_->HttpPort(), "GET", "/metrics");
  EXPECT_NE(
      metrics.body.find("deployment_hookd_auth_interceptor_requests{error=\"\",type=\"jwt\"} 2"),
      std::string::npos)
      << metrics.body;
  EXPECT_EQ(jwks_->Requests(), 1);  // cached
}

TEST_F(GrpcJwt, InvalidTokensAreRejectedWithTheOriginalMessages) {
  Authorize("aura", "navikt/app");
  auto expired = GitHubClaims(Now() - 3600, kIssuer);
  ExpectStatus(DeployWith(Signer().Sign(expired), "aura"), grpc::StatusCode::UNAUTHENTICATED,
               "authentication token has expired");
  ExpectStatus(DeployWith(Signer().Sign(GitHubClaims(Now(), "https://evil.example")), "aura"),
               grpc::StatusCode::UNAUTHENTICATED,
               "invalid JWT token: \"iss\" not satisfied: values do not match");
  auto audience = GitHubClaims(Now(), kIssuer);
  audience["aud"] = "sts.amazonaws.com";
  ExpectStatus(DeployWith(Signer().Sign(audience), "aura"), grpc::StatusCode::UNAUTHENTICATED,
               "invalid JWT token: \"aud\" not satisfied");
  RsaSigner forger("gh-1");
  ExpectStatus(DeployWith(forger.Sign(GitHubClaims(Now(), kIssuer)), "aura"),
               grpc::StatusCode::UNAUTHENTICATED,
               "invalid JWT token: could not verify message using any of the signatures or keys");
  ExpectStatus(DeployWith(Signer().Sign(GitHubClaims(Now(), kIssuer, "")), "aura"),
               grpc::StatusCode::INVALID_ARGUMENT, "missing repository in JWT token");
  ExpectStatus(DeployWith(Signer().Sign(GitHubClaims(Now(), kIssuer)), ""),
               grpc::StatusCode::INVALID_ARGUMENT, "missing team in metadata");
  ExpectStatus(DeployWith(Signer().Sign(GitHubClaims(Now(), kIssuer, "navikt/other")), "aura"),
               grpc::StatusCode::PERMISSION_DENIED,
               "repo \"navikt/other\" not authorized by team \"aura\"");
  // The team in metadata must still be the request's team (our fix of quirk 11.1).
  Authorize("other", "navikt/app");
  grpc::ClientContext context;
  context.AddMetadata("jwt", Signer().Sign(GitHubClaims(Now(), kIssuer)));
  context.AddMetadata("team", "other");
  pb::DeploymentStatus reply;
  ExpectStatus(deploy_->Deploy(&context, ConfigMapRequest("aura", "dev", "foo"), &reply),
               grpc::StatusCode::PERMISSION_DENIED,
               "authenticated as team \"other\" but the request is for team \"aura\"");
}

TEST_F(GrpcJwt, UnreachableJwksIsUnavailableAndHookdKeepsRunning) {
  Authorize("aura", "navikt/app");
  jwks_->Set("oops", 500);
  ExpectStatus(DeployWith(Signer().Sign(GitHubClaims(Now(), kIssuer)), "aura"),
               grpc::StatusCode::UNAVAILABLE,
               "unable to verify JWT token: GitHub JWKS is unavailable");
  EXPECT_EQ(Call(app_->HttpPort(), "GET", "/healthz").status, 200);
}

}  // namespace
