// The HTTP endpoints, router and error boundary against in-memory stores: no Postgres, no
// sockets. Requests go to Handlers::Handle as values; answers are compared byte for byte with what
// the integration tests (tests/integration/hookd/http_test.cpp) pin against the real database.
#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "hookd/http/handlers.hpp"
#include "hookd/store/migrations.hpp"
#include "http_fixture.hpp"
#include "support/deploy_body.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_stores.hpp"

namespace {

using hookd::http::Request;
using hookd::http::Response;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kTeamKey = "team-key-of-aura";
constexpr const char* kProvisionKey = "provision-secret";
constexpr const char* kPsk = "console-psk";

class HttpEndpoints : public testsupport::HttpFakesTest {
 protected:
  HttpEndpoints() {
    config_.base_url = "http://hookd.test";
    config_.metrics_path = "/metrics";
    config_.provision_key = kProvisionKey;
    config_.frontend_keys = {kPsk};
    keys_.Add("aura", kTeamKey, clock_.now - 1h, clock_.now + 24h);
    Build();
  }

  std::int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock_.now.time_since_epoch()).count();
  }

  Response Call(const std::string& method, const std::string& path, const std::string& body = "",
                std::map<std::string, std::string> headers = {}) const {
    Request r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.headers = std::move(headers);
    return handlers_->Handle(r);
  }

  Response Signed(const std::string& path, const std::string& body, const std::string& key,
                  std::map<std::string, std::string> extra = {}) const {
    extra.emplace("content-type", "application/json");
    extra.emplace("x-nais-signature", common::HexEncode(common::HmacSha256(key, body)));
    return Call("POST", path, body, std::move(extra));
  }
  Response Signed(const std::string& path, const json& body, const std::string& key) const {
    return Signed(path, body.dump(), key);
  }

  json DeployBody() const { return testsupport::DeployBody(Now()); }

  static json Body(const Response& r) { return json::parse(r.body); }
};

// ---- /api/v1/deploy ----

TEST_F(HttpEndpoints, DeploySignedWithTheTeamKeyIsAcceptedAndDispatched) {
  const auto reply =
      Signed("/api/v1/deploy", DeployBody().dump(), kTeamKey, {{"idempotency-key", "retry-1"}});
  ASSERT_EQ(reply.status, 201) << reply.body;
  EXPECT_EQ(reply.content_type, "application/json");
  const json body = Body(reply);
  EXPECT_EQ(body["message"], "deployment request accepted and dispatched");
  ASSERT_EQ(intake_.accepted.size(), 1u);
  const auto& accepted = intake_.accepted[0];
  EXPECT_EQ(body["correlationID"], accepted.id);
  EXPECT_EQ(body["logURL"], "http://hookd.test/logs?delivery_id=" + accepted.id +
                                "&ts=" + std::to_string(Now()) + "&v=1");
  EXPECT_FALSE(body.contains("githubDeployment"));
  EXPECT_EQ(accepted.idempotency_key, "retry-1");
  EXPECT_EQ(accepted.request.cluster(), "dev");
  EXPECT_EQ(accepted.request.team(), "aura");
  EXPECT_EQ(accepted.request.gitrefsha(), "main");
  EXPECT_EQ(accepted.request.repository().owner(), "navikt");
  EXPECT_EQ(accepted.request.repository().name(), "app");
  EXPECT_EQ(accepted.request.githubenvironment(), "dev");
  ASSERT_EQ(accepted.request.kubernetes().resources_size(), 1);
  EXPECT_EQ(accepted.request.deadline().seconds() - accepted.request.time().seconds(), 30 * 60);
}

TEST_F(HttpEndpoints, DeployRequestKeyIsTheHexSignature) {
  const std::string text = DeployBody().dump();
  ASSERT_EQ(Signed("/api/v1/deploy", text, kTeamKey).status, 201);
  ASSERT_EQ(intake_.accepted.size(), 1u);
  EXPECT_EQ(intake_.accepted[0].request_key, common::HexEncode(common::HmacSha256(kTeamKey, text)));
  EXPECT_EQ(intake_.accepted[0].idempotency_key, "");
}

TEST_F(HttpEndpoints, DeployCarriesTheGithubDeploymentWhenThereIsOne) {
  handlers_->SetGithubDeployment([](const std::string& id) { return json{{"id", id.size()}}; });
  const auto reply = Signed("/api/v1/deploy", DeployBody(), kTeamKey);
  ASSERT_EQ(reply.status, 201);
  EXPECT_EQ(Body(reply)["githubDeployment"], json({{"id", 36}}));
}

TEST_F(HttpEndpoints, DeployWithAWrongSignatureFailsAuthentication) {
  const auto reply = Signed("/api/v1/deploy", DeployBody(), "wrong");
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(Body(reply)["message"], "failed authentication");
  EXPECT_TRUE(Body(reply).contains("correlationID"));
  EXPECT_TRUE(intake_.accepted.empty());
}

TEST_F(HttpEndpoints, DeployForATeamWithoutKeysFailsAuthentication) {
  auto body = DeployBody();
  body["team"] = "ghost";
  const auto reply = Signed("/api/v1/deploy", body, kTeamKey);
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(Body(reply)["message"], "failed authentication");
  EXPECT_TRUE(intake_.accepted.empty());
}

TEST_F(HttpEndpoints, DeploySignedWithAnExpiredKeyFailsAuthentication) {
  keys_.Add("old", "expired-key", clock_.now - 48h, clock_.now - 1s);
  auto body = DeployBody();
  body["team"] = "old";
  const auto reply = Signed("/api/v1/deploy", body, "expired-key");
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(Body(reply)["message"], "failed authentication");
}

TEST_F(HttpEndpoints, DeployWithAFailingKeyStoreIs502) {
  keys_.failure = std::make_exception_ptr(
      common::Error(common::ErrorCode::kUnavailable, "database is unavailable"));
  const auto reply = Signed("/api/v1/deploy", DeployBody(), kTeamKey);
  EXPECT_EQ(reply.status, 502);
  EXPECT_EQ(Body(reply)["message"],
            "something wrong happened when communicating with api key service");
}

TEST_F(HttpEndpoints, DeployMalformedBodies) {
  const auto bad_hex = Call("POST", "/api/v1/deploy", DeployBody().dump(),
                            {{"content-type", "application/json"}, {"x-nais-signature", "xyz"}});
  EXPECT_EQ(bad_hex.status, 400);
  EXPECT_EQ(Body(bad_hex)["message"], "HMAC digest must be hex encoded");

  const auto truncated = Signed("/api/v1/deploy", std::string("{\"team\":"), kTeamKey);
  EXPECT_EQ(truncated.status, 400);
  EXPECT_EQ(Body(truncated)["message"].get<std::string>().rfind(
                "unable to unmarshal request body: [json.exception.parse_error.101]", 0),
            0u)
      << truncated.body;

  const auto empty = Signed("/api/v1/deploy", std::string(), kTeamKey);
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(Body(empty)["message"],
            "unable to unmarshal request body: unexpected end of JSON input");

  const auto array = Signed("/api/v1/deploy", json::array(), kTeamKey);
  EXPECT_EQ(Body(array)["message"],
            "unable to unmarshal request body: json: cannot unmarshal array into Go value of type "
            "api_v1_deploy.DeploymentRequest");

  auto wrong_type = DeployBody();
  wrong_type["team"] = 7;
  EXPECT_EQ(Body(Signed("/api/v1/deploy", wrong_type, kTeamKey))["message"],
            "unable to unmarshal request body: json: cannot unmarshal number into field team of "
            "type string");

  const auto text =
      Call("POST", "/api/v1/deploy", DeployBody().dump(), {{"content-type", "text/plain"}});
  EXPECT_EQ(text.status, 415);
  EXPECT_EQ(text.body, "");
  EXPECT_TRUE(intake_.accepted.empty());
}

TEST_F(HttpEndpoints, DeployInvalidRequestsInTheOriginalsOrder) {
  struct Case {
    const char* field;
    json value;
    const char* message;
  };
  for (const auto& c : std::vector<Case>{
           {"cluster", "", "invalid deployment request: no cluster specified"},
           {"environment", "", "invalid deployment request: no environment specified"},
           {"team", "", "invalid deployment request: no team specified"},
           {"ref", "", "invalid deployment request: no commit ref specified"},
           {"resources", json::object(),
            "invalid deployment request: resources field must be a list"},
           {"resources", json::array(),
            "invalid deployment request: resources must contain at least one Kubernetes resource"},
           {"timestamp", Now() - 31,
            "invalid deployment request: request is not within allowed timeframe"},
           {"timestamp", Now() + 31,
            "invalid deployment request: request is not within allowed timeframe"},
       }) {
    auto body = DeployBody();
    body[c.field] = c.value;
    const auto reply = Signed("/api/v1/deploy", body, kTeamKey);
    EXPECT_EQ(reply.status, 400) << c.field;
    EXPECT_EQ(Body(reply)["message"], c.message) << c.field;
  }
  auto edge = DeployBody();
  edge["timestamp"] = Now() - 30;  // the window includes its ends
  EXPECT_EQ(Signed("/api/v1/deploy", edge, kTeamKey).status, 201);
  auto bad_key = DeployBody();
  EXPECT_EQ(Body(Signed("/api/v1/deploy", bad_key.dump(), kTeamKey,
                        {{"idempotency-key", "has space"}}))["message"],
            "invalid idempotency key: it must be 1 to 128 characters of letters, digits, '-', "
            "'_', '.' and ':'");
}

TEST_F(HttpEndpoints, DeployErrorsOfTheDispatcher) {
  intake_.failure = std::make_exception_ptr(
      common::Error(common::ErrorCode::kInvalidArgument, "cluster 'dev' is unknown"));
  auto reply = Signed("/api/v1/deploy", DeployBody(), kTeamKey);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Body(reply)["message"], "cluster 'dev' is unknown");
  intake_.failure =
      std::make_exception_ptr(common::Error(common::ErrorCode::kUnavailable, "connection lost"));
  reply = Signed("/api/v1/deploy", DeployBody(), kTeamKey);
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(Body(reply)["message"], "database is unavailable; try again later");
}

// ---- /api/v1/status ----

class HttpStatus : public HttpEndpoints {
 protected:
  static constexpr const char* kId = "00000000-0000-4000-8000-000000000000";
  json StatusBody(const std::string& team = "aura") const {
    return {{"deploymentID", kId}, {"team", team}, {"timestamp", Now()}};
  }
  void AddDeployment(const std::string& team) {
    hookd::store::DeploymentRow row;
    row.id = kId;
    row.team = team;
    row.created = clock_.now;
    deployments_.AddDeployment(row);
    deployments_.AddStatus(kId, pb::queued, "queued", "waiting", clock_.now);
    deployments_.AddStatus(kId, pb::success, "success", "all resources are ready", clock_.now);
  }
};

TEST_F(HttpStatus, AnswersTheLatestStatus) {
  AddDeployment("aura");
  const auto reply = Signed("/api/v1/status", StatusBody(), kTeamKey);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(reply.body, "{\"message\":\"all resources are ready\",\"status\":\"success\"}\n");
}

TEST_F(HttpStatus, AnotherTeamsDeploymentIsNotFound) {
  AddDeployment("other");
  const auto reply = Signed("/api/v1/status", StatusBody(), kTeamKey);
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.body, "{\"message\":\"deployment not found\"}\n");
  EXPECT_EQ(reply.content_type, "application/json");
}

TEST_F(HttpStatus, ErrorPathsInTheOriginalsOrder) {
  auto without = [&](const char* field) {
    json body = StatusBody();
    body.erase(field);
    return Body(Signed("/api/v1/status", body, kTeamKey))["message"];
  };
  EXPECT_EQ(without("deploymentID"), "invalid status request: no deployment ID specified");
  EXPECT_EQ(without("team"), "invalid status request: no team specified");
  EXPECT_EQ(without("timestamp"),
            "invalid status request: request is not within allowed timeframe");
  const auto ghost = Signed("/api/v1/status", StatusBody("ghost"), kTeamKey);
  EXPECT_EQ(ghost.status, 403);
  EXPECT_EQ(Body(ghost)["message"], "failed authentication");
  EXPECT_EQ(Signed("/api/v1/status", StatusBody(), "wrong").status, 403);
}

TEST_F(HttpStatus, DatabaseDownIs503) {
  AddDeployment("aura");
  deployments_.failure = std::make_exception_ptr(std::runtime_error("connection refused"));
  const auto reply = Signed("/api/v1/status", StatusBody(), kTeamKey);
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(Body(reply)["message"],
            "unable to determine deployment status; database is unavailable");
}

// ---- provisioning and the console's key endpoint ----

TEST_F(HttpEndpoints, ProvisionCreatesReturnsAndRotatesKeys) {
  const json request = {{"team", "newteam"}, {"timestamp", Now()}};
  const auto created = Signed("/internal/api/v1/provision", request, kProvisionKey);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(Body(created)["message"], "API key provisioned successfully");
  ASSERT_EQ(Body(created)["apiKeys"].size(), 1u);
  const auto again = Signed("/internal/api/v1/provision", request, kProvisionKey);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(Body(again)["message"], "team exists, returning existing keys");
  EXPECT_EQ(Body(again)["apiKeys"], Body(created)["apiKeys"]);
  const auto fetched = Signed("/internal/api/v1/apikey", request, kProvisionKey);
  EXPECT_EQ(fetched.status, 200);
  EXPECT_EQ(fetched.body, json({{"apiKeys", Body(created)["apiKeys"]}}).dump() + "\n");
  const json rotate = {{"team", "newteam"}, {"rotate", true}, {"timestamp", Now()}};
  const auto rotated = Signed("/internal/api/v1/provision", rotate, kProvisionKey);
  EXPECT_EQ(rotated.status, 201);
  EXPECT_NE(Body(rotated)["apiKeys"], Body(created)["apiKeys"]);
  EXPECT_EQ(keys_.rotations, 2);
}

TEST_F(HttpEndpoints, ProvisionErrors) {
  const json ghost = {{"team", "ghost"}, {"timestamp", Now()}};
  const auto none = Signed("/internal/api/v1/apikey", ghost, kProvisionKey);
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(Body(none)["message"], "no api key found for team");
  keys_.Add("stale", "k", clock_.now - 48h, clock_.now - 1h);
  const auto stale =
      Signed("/internal/api/v1/apikey", {{"team", "stale"}, {"timestamp", Now()}}, kProvisionKey);
  EXPECT_EQ(stale.status, 404);
  EXPECT_EQ(Body(stale)["message"], "no valid keys for team found");
  const auto forged = Signed("/internal/api/v1/provision", ghost, "wrong");
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(Body(forged)["message"], "failed authentication");
  const auto bad_team = Signed("/internal/api/v1/provision",
                               {{"team", "Not A Label"}, {"timestamp", Now()}}, kProvisionKey);
  EXPECT_EQ(bad_team.status, 400);
  EXPECT_EQ(Body(bad_team)["message"].get<std::string>().rfind("invalid request: ", 0), 0u);
  keys_.failure = std::make_exception_ptr(std::runtime_error("down"));
  const auto down = Signed("/internal/api/v1/provision", ghost, kProvisionKey);
  EXPECT_EQ(down.status, 502);
  EXPECT_EQ(Body(down)["message"], "unable to communicate with team API key backend");
}

TEST_F(HttpEndpoints, ProvisionDoesNotExistWithoutAProvisionKey) {
  config_.provision_key.clear();
  Build();
  const auto reply =
      Signed("/internal/api/v1/provision", {{"team", "x"}, {"timestamp", Now()}}, kProvisionKey);
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.body, "404 page not found\n");
}

TEST_F(HttpEndpoints, ConsoleApiKeyReadsAndRotates) {
  const auto denied = Call("GET", "/internal/api/v1/console/apikey/aura", "", {{"x-psk", "no"}});
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body, "Unauthorized access: Invalid key");
  const auto read = Call("GET", "/internal/api/v1/console/apikey/aura", "", {{"x-psk", kPsk}});
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(Body(read)["key"], common::HexEncode(kTeamKey));
  EXPECT_EQ(Body(read)["team"], "aura");
  EXPECT_EQ(Call("POST", "/internal/api/v1/console/apikey/aura", "", {{"x-psk", kPsk}}).status,
            200);
  const auto rotated = Call("GET", "/internal/api/v1/console/apikey/aura", "", {{"x-psk", kPsk}});
  EXPECT_NE(Body(rotated)["key"], common::HexEncode(kTeamKey));
  EXPECT_EQ(Call("GET", "/internal/api/v1/console/apikey/ghost", "", {{"x-psk", kPsk}}).status,
            404);
}

// ---- team repositories ----

TEST_F(HttpEndpoints, TeamRepositoriesAddListRemove) {
  const std::map<std::string, std::string> psk = {{"x-psk", kPsk},
                                                  {"content-type", "application/json"}};
  const std::string base = "/internal/api/v1/team/aura/repositories";
  auto added = Call("POST", base, R"({"repository":"navikt/app"})", psk);
  EXPECT_EQ(added.status, 201);
  EXPECT_EQ(
      Body(added),
      json({{"team", "aura"}, {"repository", "navikt/app"}, {"message", "repository authorized"}}));
  EXPECT_EQ(Call("POST", base, R"({"repository":"navikt/app"})", psk).status, 200);
  EXPECT_EQ(Call("GET", base, "", psk).body,
            "{\"repositories\":[\"navikt/app\"],\"team\":\"aura\"}\n");
  EXPECT_EQ(Call("DELETE", base + "/navikt/app", "", psk).status, 204);
  const auto gone = Call("DELETE", base + "/navikt/app", "", psk);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(Body(gone)["message"], "repository \"navikt/app\" is not authorized by team \"aura\"");
  EXPECT_EQ(Body(Call("POST", base, R"({"repository":"app"})", psk))["message"],
            "invalid repository \"app\": want owner/name");
  // Without the key: 403 before anything else, whatever the method.
  EXPECT_EQ(Call("PUT", base).status, 403);
  const auto put = Call("PUT", base, "", psk);
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.headers, (decltype(put.headers){{"Allow", "GET, POST"}}));
  repositories_.failure = std::make_exception_ptr(std::runtime_error("down"));
  const auto down = Call("GET", base, "", psk);
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(Body(down)["message"], "database is unavailable; try again later");
}

// ---- probes, /logs ----

TEST_F(HttpEndpoints, Probes) {
  EXPECT_EQ(Call("GET", "/healthz").body, "ok\n");
  const auto ready = Call("GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready\n");
  handlers_->SetReadinessCheck([] { return std::string("not listening"); });
  EXPECT_EQ(Call("GET", "/readyz").body, "not listening\n");
  handlers_->SetReadinessCheck(nullptr);
  schema_.version = 1;
  const auto behind = Call("GET", "/readyz");
  EXPECT_EQ(behind.status, 503);
  EXPECT_EQ(behind.body, "database schema at version 1, want " +
                             std::to_string(hookd::store::LatestMigrationVersion()) + "\n");
  schema_.failure = std::make_exception_ptr(std::runtime_error("password=secret refused"));
  const auto down = Call("GET", "/readyz");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(down.body, "database unavailable\n");  // the reason only in the log
  const auto metrics = Call("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(HttpEndpoints, LogsPageOfADeployment) {
  const std::string id = "00000000-0000-4000-8000-000000000001";
  hookd::store::DeploymentRow row;
  row.id = id;
  row.team = "aura";
  row.cluster = "dev";
  row.created = clock_.now;
  deployments_.AddDeployment(
      row, {hookd::store::ResourceRow{0, "apps", "v1", "Deployment", "<app>", "aura"}});
  deployments_.AddStatus(id, pb::queued, "queued", "waiting", clock_.now);
  Request r{"GET", "/logs", {{"delivery_id", id}}, {}, ""};
  const auto page = handlers_->Handle(r);
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<td>&lt;app&gt;</td>"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("http-equiv=\"refresh\""), std::string::npos);
  r.query["delivery_id"] = "00000000-0000-4000-8000-000000000002";
  EXPECT_EQ(handlers_->Handle(r).body,
            "deployment '00000000-0000-4000-8000-000000000002' not found\n");
  r.query["delivery_id"] = "bad";
  EXPECT_EQ(handlers_->Handle(r).body, "delivery_id 'bad' is not a well-formed UUID\n");
}

// ---- router ----

TEST_F(HttpEndpoints, RouterUnknownPathsAreNotFound) {
  for (const char* path : {"/nope", "/api/v1/deploy/x", "/internal/api/v1/team",
                           "/internal/api/v1/console/apikey/a/b"}) {
    const auto reply = Call("GET", path);
    EXPECT_EQ(reply.status, 404) << path;
    EXPECT_EQ(reply.body, "404 page not found\n") << path;
    EXPECT_EQ(reply.content_type, "text/plain; charset=utf-8");
  }
  EXPECT_EQ(Call("GET", "/events").status, 410);
  EXPECT_EQ(Call("POST", "/api/v1").status, 410);
}

TEST_F(HttpEndpoints, RouterWrongMethodIs405WithAllow) {
  const auto deploy = Call("GET", "/api/v1/deploy");
  EXPECT_EQ(deploy.status, 405);
  EXPECT_EQ(deploy.body, "");
  EXPECT_EQ(deploy.content_type, "");
  EXPECT_EQ(deploy.headers, (decltype(deploy.headers){{"Allow", "POST"}}));
  EXPECT_EQ(Call("POST", "/metrics").headers, (decltype(deploy.headers){{"Allow", "GET"}}));
  EXPECT_EQ(Call("DELETE", "/internal/api/v1/console/apikey/aura", "", {{"x-psk", kPsk}}).headers,
            (decltype(deploy.headers){{"Allow", "GET, POST"}}));
}

TEST_F(HttpEndpoints, InternalApiRefusesNonJsonBodiesOnEveryPath) {
  for (const char* path : {"/internal/api/v1/provision", "/internal/api/v1/unknown"}) {
    const auto reply = Call("POST", path, "x", {{"content-type", "text/plain"}});
    EXPECT_EQ(reply.status, 415) << path;
  }
}

TEST(HttpRouter, PatternsAndFirstMatchWins) {
  hookd::http::Router router;
  std::string seen;
  router.Add("/a/{x}", {"GET"}, [&](const Request&, const hookd::http::PathParams& p) {
    seen = "one:" + p.at("x");
    return Response{200, "", "", {}};
  });
  router.Add("/a/{x}", {"POST"}, [&](const Request&, const hookd::http::PathParams& p) {
    seen = "two:" + p.at("x");
    return Response{201, "", "", {}};
  });
  router.Add("/b/{rest...}", {}, [&](const Request&, const hookd::http::PathParams& p) {
    seen = "rest:" + p.at("rest");
    return Response{202, "", "", {}};
  });
  EXPECT_EQ(router.Handle(Request{"GET", "/a/1", {}, {}, ""}).status, 200);
  EXPECT_EQ(seen, "one:1");
  EXPECT_EQ(router.Handle(Request{"POST", "/a/2", {}, {}, ""}).status, 201);
  EXPECT_EQ(seen, "two:2");
  const auto put = router.Handle(Request{"PUT", "/a/3", {}, {}, ""});
  EXPECT_EQ(put.status, 405);
  EXPECT_EQ(put.headers, (decltype(put.headers){{"Allow", "GET, POST"}}));
  EXPECT_EQ(router.Handle(Request{"PATCH", "/b/x/y/z", {}, {}, ""}).status, 202);
  EXPECT_EQ(seen, "rest:x/y/z");
  EXPECT_EQ(router.Handle(Request{"GET", "/b", {}, {}, ""}).status, 404);
  EXPECT_EQ(router.Handle(Request{"GET", "/a", {}, {}, ""}).status, 404);
  EXPECT_EQ(router.Handle(Request{"GET", "/a/1/2", {}, {}, ""}).status, 404);
}

// ---- the error boundary ----

class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  CapturedLog(const CapturedLog&) = delete;
  CapturedLog& operator=(const CapturedLog&) = delete;
  std::string Text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(HttpEndpoints, AnExceptionFromAnEndpointIsALogged500) {
  // The dispatcher's driver failing with something other than common::Error: nothing in the
  // endpoint expects it.
  intake_.failure = std::make_exception_ptr(std::runtime_error("driver exploded"));
  CapturedLog log;
  const auto reply = Signed("/api/v1/deploy", DeployBody(), kTeamKey);
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(reply.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(reply.body, "internal server error\n");
  const std::string text = log.Text();
  EXPECT_NE(text.find("POST /api/v1/deploy: unexpected error: driver exploded"), std::string::npos)
      << text;
  // No secrets: neither the signature header nor the body are logged.
  EXPECT_EQ(text.find(kTeamKey), std::string::npos);
  EXPECT_EQ(text.find("navikt"), std::string::npos);
}

TEST(HttpRouter, NonStandardExceptionsAre500Too) {
  hookd::http::Router router;
  router.Add("/x", {}, [](const Request&, const hookd::http::PathParams&) -> Response {
    throw 42;  // NOLINT(hicpp-exception-baseclass): what the boundary must survive
  });
  CapturedLog log;
  const auto reply = router.Handle(Request{"GET", "/x", {}, {}, ""});
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(reply.body, "internal server error\n");
  EXPECT_NE(log.Text().find("GET /x: unexpected error"), std::string::npos);
}

TEST(HttpQuery, DecodesAsGosRequestQuery) {
  using Map = std::map<std::string, std::string>;
  EXPECT_EQ(hookd::http::ParseQuery("delivery_id=a%2Fb&ts=1&v=x+y%20z"),
            (Map{{"delivery_id", "a/b"}, {"ts", "1"}, {"v", "x y z"}}));
  // First value wins; empty pairs and keys without '=' are kept as Go keeps them.
  EXPECT_EQ(hookd::http::ParseQuery("a=1&a=2&&flag"), (Map{{"a", "1"}, {"flag", ""}}));
  // A malformed escape leaves that pair out, and only that pair.
  EXPECT_EQ(hookd::http::ParseQuery("bad=%zz&also=%4&good=%41"), (Map{{"good", "A"}}));
  EXPECT_EQ(hookd::http::ParseQuery(""), Map{});
}

}  // namespace
