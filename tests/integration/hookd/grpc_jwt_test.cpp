// GitHub OIDC JWT authentication of pb.Deploy against hookd with its JWKS served by a
// local HTTP server, and the team_repositories endpoint that authorises repositories.
#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "../../unit/hookd/jwt_signer.hpp"
#include "common/hex.hpp"
#include "common/names.hpp"
#include "harness.hpp"
#include "hookd/store/pool.hpp"
#include "hookd/store/store.hpp"
#include "support/http_call.hpp"
#include "support/loopback_http_server.hpp"
#include "support/process.hpp"

namespace {

using namespace hookdtest;
using StaticHttpServer = testsupport::LoopbackHttpServer;
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
    config.github_jwks_url = jwks_->Url() + "/.well-known/jwks";
    config.github_jwks_allow_http = true;  // the test's JWKS server speaks plain http
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

  // The repository_id pinned for (team, repository); "" when unpinned, "<no row>" when absent.
  std::string PinnedId(const std::string& team, const std::string& repository) {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(
        "SELECT COALESCE(repository_id, '') FROM team_repositories WHERE team = $1 AND "
        "repository = $2",
        team, repository);
    return rows.empty() ? "<no row>" : rows[0][0].as<std::string>();
  }

  grpc::Status StatusWith(const std::string& token, const std::string& team,
                          const pb::DeploymentRequest& request) {
    grpc::ClientContext context;
    context.AddMetadata("jwt", token);
    context.AddMetadata("team", team);
    SetDeadline(context, 5s);
    auto reader = deploy_->Status(&context, request);
    pb::DeploymentStatus first;
    if (reader->Read(&first)) {
      context.TryCancel();
      reader->Finish();
      return grpc::Status::OK;
    }
    return reader->Finish();
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

using hookdtest::ExpectStatus;

// A token of GitHub repository `repository` with ID `repository_id`.
std::string TokenOf(const std::string& repository, const std::string& repository_id) {
  auto claims = GitHubClaims(Now(), kIssuer, repository);
  claims["repository_id"] = repository_id;
  return Signer().Sign(claims);
}

std::string Impostor(const std::string& repository, const std::string& team, const std::string& id,
                     const std::string& pinned) {
  return "repo \"" + repository + "\" not authorized by team \"" + team + "\": repository_id " +
         id + " is not the authorized repository_id " + pinned +
         " (a repository re-created under the same name must be authorized again)";
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
  EXPECT_EQ(jwks_->RequestCount(), 1);  // cached
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
  jwks_->SetResponse("oops", 500);
  ExpectStatus(DeployWith(Signer().Sign(GitHubClaims(Now(), kIssuer)), "aura"),
               grpc::StatusCode::UNAVAILABLE,
               "unable to verify JWT token: GitHub JWKS is unavailable");
  EXPECT_EQ(Call(app_->HttpPort(), "GET", "/healthz").status, 200);
}

// Security review: a repository deleted and re-created under the same name (by someone else)
// gets a new repository_id; the first authentication pinned the old one.
TEST_F(GrpcJwt, RepositoryIdIsPinnedOnFirstUseSoARecreatedRepositoryCannotDeploy) {
  Authorize("aura", "navikt/app");
  EXPECT_EQ(PinnedId("aura", "navikt/app"), "");
  pb::DeploymentStatus queued;
  auto first = DeployWith(TokenOf("navikt/app", "1001"), "aura", &queued);
  ASSERT_TRUE(first.ok()) << first.error_message();
  EXPECT_EQ(PinnedId("aura", "navikt/app"), "1001");

  const std::string impostor = TokenOf("navikt/app", "2002");
  ExpectStatus(DeployWith(impostor, "aura"), grpc::StatusCode::PERMISSION_DENIED,
               Impostor("navikt/app", "aura", "2002", "1001"));
  ExpectStatus(StatusWith(impostor, "aura", queued.request()), grpc::StatusCode::PERMISSION_DENIED,
               Impostor("navikt/app", "aura", "2002", "1001"));
  EXPECT_EQ(PinnedId("aura", "navikt/app"), "1001");  // the impostor did not re-pin it

  // The original repository still deploys; so does a token without the claim (by name).
  EXPECT_TRUE(DeployWith(TokenOf("navikt/app", "1001"), "aura").ok());
  EXPECT_TRUE(StatusWith(TokenOf("navikt/app", "1001"), "aura", queued.request()).ok());
  EXPECT_TRUE(DeployWith(Signer().Sign(GitHubClaims(Now(), kIssuer)), "aura").ok());

  auto metrics = Call(app_->HttpPort(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("deployment_hookd_auth_interceptor_requests{error=\"repo_not_"
                              "authorized\",type=\"jwt\"} 2"),
            std::string::npos)
      << metrics.body;
}

TEST_F(GrpcJwt, PinsArePerTeamAndAuthorizingAgainClearsThem) {
  Authorize("aura", "navikt/app");
  Authorize("other", "navikt/app");
  ASSERT_TRUE(DeployWith(TokenOf("navikt/app", "1001"), "aura").ok());
  EXPECT_EQ(PinnedId("other", "navikt/app"), "");
  ASSERT_TRUE(DeployWith(TokenOf("navikt/app", "2002"), "other").ok());
  EXPECT_EQ(PinnedId("aura", "navikt/app"), "1001");
  EXPECT_EQ(PinnedId("other", "navikt/app"), "2002");
  // The listing endpoint is unchanged by the new column.
  EXPECT_EQ(json::parse(Repositories("GET", "aura/repositories").body),
            (json{{"team", "aura"}, {"repositories", {"navikt/app"}}}));

  // The team knowingly authorises the new repository: remove and add the row again.
  ASSERT_EQ(Repositories("DELETE", "aura/repositories/navikt/app").status, 204);
  Authorize("aura", "navikt/app");
  EXPECT_EQ(PinnedId("aura", "navikt/app"), "");
  ASSERT_TRUE(DeployWith(TokenOf("navikt/app", "2002"), "aura").ok());
  ExpectStatus(DeployWith(TokenOf("navikt/app", "1001"), "aura"),
               grpc::StatusCode::PERMISSION_DENIED, Impostor("navikt/app", "aura", "1001", "2002"));
}

TEST_F(GrpcJwt, ConcurrentFirstUsesPinExactlyOneId) {
  Authorize("aura", "navikt/app");
  hookd::store::ConnectionPool pool(db_.Url(), 8);
  hookd::store::Store store(pool, *common::HexDecode(kEncryptionKeyHex));
  std::vector<std::thread> threads;
  std::vector<std::string> seen(8);
  std::atomic<int> failures{0};
  for (std::size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        seen[i] = store.AuthorizeRepository("aura", "navikt/app", std::to_string(100 + i)).value();
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const std::string pinned = PinnedId("aura", "navikt/app");
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), std::set<std::string>{pinned});
  EXPECT_FALSE(store.AuthorizeRepository("aura", "navikt/other", "1").has_value());
  EXPECT_EQ(store.AuthorizeRepository("aura", "navikt/app", ""), pinned);
}

// Security review: the team in metadata names a Kubernetes namespace and a database row; a bad
// one is refused before the JWKS is fetched or the database is asked.
TEST_F(GrpcJwt, TeamThatIsNotADnsLabelIsRefusedBeforeAnyLookup) {
  Authorize("aura", "navikt/app");
  for (const std::string& team :
       {std::string("Aura"), std::string("aura/../other"), std::string("au_ra"),
        std::string("-aura"), std::string("aura.dev"), std::string("aura x"),
        std::string(64, 'a')}) {
    grpc::ClientContext context;
    context.AddMetadata("jwt", Signer().Sign(GitHubClaims(Now(), kIssuer)));
    context.AddMetadata("team", team);
    SetDeadline(context, 5s);
    pb::DeploymentStatus reply;
    ExpectStatus(deploy_->Deploy(&context, ConfigMapRequest("aura", "dev", "foo"), &reply),
                 grpc::StatusCode::INVALID_ARGUMENT, *common::InvalidLabel("team", team));
  }
  grpc::ClientContext context;
  context.AddMetadata("jwt", "not-even-a-token");
  context.AddMetadata("team", "Aura");
  pb::DeploymentStatus reply;
  ExpectStatus(deploy_->Deploy(&context, ConfigMapRequest("aura", "dev", "foo"), &reply),
               grpc::StatusCode::INVALID_ARGUMENT,
               "invalid team \"Aura\": must be a lowercase RFC 1123 label: at most 63 "
               "characters, lower case alphanumeric characters or '-', starting and ending with "
               "an alphanumeric character (e.g. 'my-name', regex used for validation is "
               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  EXPECT_EQ(jwks_->RequestCount(), 0);
}

TEST_F(GrpcJwt, MalformedTokensAreUnauthenticated) {
  Authorize("aura", "navikt/app");
  const std::string good = Signer().Sign(GitHubClaims(Now(), kIssuer));
  ASSERT_TRUE(DeployWith(good, "aura").ok());
  ExpectStatus(DeployWith(good + "==", "aura"), grpc::StatusCode::UNAUTHENTICATED,
               "invalid JWT token: failed to parse token: invalid base64url in the signature");
  ExpectStatus(DeployWith(good + ".e30", "aura"), grpc::StatusCode::UNAUTHENTICATED,
               "invalid JWT token: failed to parse token: invalid compact serialization format: "
               "invalid number of segments");
  auto no_exp = GitHubClaims(Now(), kIssuer);
  no_exp.erase("exp");
  ExpectStatus(DeployWith(Signer().Sign(no_exp), "aura"), grpc::StatusCode::UNAUTHENTICATED,
               "invalid JWT token: \"exp\" not satisfied: required claim not found");
}

// Without --github-jwks-allow-http an http:// JWKS is never fetched, even when the
// configuration was built in code (the command line refuses it at start, below).
TEST(GrpcJwtHttp, HttpJwksIsNotFetchedWithoutTheFlag) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  StaticHttpServer jwks(Signer().Jwks());
  auto config = TestConfig(db.Url(), true, true);
  config.github_jwks_url = jwks.Url() + "/.well-known/jwks";
  config.github_issuer = kIssuer;
  hookd::App app(config);
  app.Start();
  auto deploy = pb::Deploy::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(app.GrpcPort()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.AddMetadata("jwt", Signer().Sign(GitHubClaims(Now(), kIssuer)));
  context.AddMetadata("team", "aura");
  SetDeadline(context, 10s);
  pb::DeploymentStatus reply;
  ExpectStatus(deploy->Deploy(&context, ConfigMapRequest("aura", "dev", "foo"), &reply),
               grpc::StatusCode::UNAVAILABLE,
               "unable to verify JWT token: GitHub JWKS is unavailable");
  EXPECT_EQ(jwks.RequestCount(), 0);
  app.Stop();
}

const std::string kHttpRefused =
    "hookd: invalid github-jwks-url \"http://127.0.0.1:1/jwks\": the JWKS must be fetched over "
    "https:// (http:// only with github-jwks-allow-http)\n";

TEST(HookdJwtProcess, HttpJwksUrlWithoutTheFlagExitsOne) {
  const std::string hookd = testsupport::BinaryPath("hookd");
  for (const auto& [args, env] :
       std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>>{
           {{hookd, "--github-jwks-url", "http://127.0.0.1:1/jwks"}, {}},
           {{hookd}, {{"HOOKD_GITHUB_JWKS_URL", "http://127.0.0.1:1/jwks"}}},
           {{hookd, "--github-jwks-url", "http://127.0.0.1:1/jwks",
             "--github-jwks-allow-http=false"},
            {{"HOOKD_GITHUB_JWKS_ALLOW_HTTP", "true"}}}}) {
    auto result = testsupport::Run(args, env, 30s);
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.err.find(kHttpRefused), std::string::npos) << result.err;
  }
}

class HookdJwtBinary : public HookdProcessTest {};

TEST_F(HookdJwtBinary, WithTheFlagHttpJwksServesAndARecreatedRepositoryCannotDeploy) {
  StaticHttpServer jwks(Signer().Jwks());
  ASSERT_NO_FATAL_FAILURE(
      Start({"--grpc.cli-authentication=true", "--frontend-keys", kPsk, "--github-jwks-url",
             jwks.Url() + "/.well-known/jwks", "--github-issuer", kIssuer},
            {{"HOOKD_GITHUB_JWKS_ALLOW_HTTP", "true"}}));
  auto added = Call(http_port_, "POST", "/internal/api/v1/team/aura/repositories",
                    R"({"repository":"navikt/app"})",
                    {{"X-PSK", kPsk}, {"Content-Type", "application/json"}});
  ASSERT_EQ(added.status, 201) << added.body;
  auto deploy = pb::Deploy::NewStub(Channel());
  auto deploy_with = [&](const std::string& token) {
    grpc::ClientContext context;
    context.AddMetadata("jwt", token);
    context.AddMetadata("team", "aura");
    SetDeadline(context, 10s);
    pb::DeploymentStatus reply;
    return deploy->Deploy(&context, ConfigMapRequest("aura", "dev", "foo"), &reply);
  };
  auto first = deploy_with(TokenOf("navikt/app", "1001"));
  EXPECT_TRUE(first.ok()) << first.error_message() << hookd_->Log();
  ExpectStatus(deploy_with(TokenOf("navikt/app", "2002")), grpc::StatusCode::PERMISSION_DENIED,
               Impostor("navikt/app", "aura", "2002", "1001"));
  EXPECT_GE(jwks.RequestCount(), 1);
  // hookd bounds its shutdown by --shutdown-grace (10 s); under the sanitizers, on a loaded
  // machine, it once took 5 s, which the default 5 s before SIGKILL did not allow.
  EXPECT_EQ(hookd_->Stop(std::chrono::seconds(15)), 0) << hookd_->Log();
}

}  // namespace
