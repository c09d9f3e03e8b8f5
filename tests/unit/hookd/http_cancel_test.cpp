// POST /api/v1/cancel against in-memory stores: no Postgres, no sockets. Answers are compared
// byte for byte with what tests/integration/hookd/cancel_test.cpp pins against the real database.
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "hookd/http/cancel.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_stores.hpp"

namespace http_cancel_test {
namespace {

using hookd::http::Request;
using hookd::http::Response;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAuraKey = "team-key-of-aura";

class HttpCancel : public ::testing::Test {
 protected:
  HttpCancel() {
    keys_.Add("aura", kAuraKey, clock_.now - 1h, clock_.now + 24h);
    keys_.Add("other", "team-key-of-other", clock_.now - 1h, clock_.now + 24h);
  }

  json Body(const std::string& id, const std::string& team, const std::string& reason = "") const {
    json body = {
        {"deploymentID", id},
        {"team", team},
        {"timestamp",
         std::chrono::duration_cast<std::chrono::seconds>(clock_.now.time_since_epoch()).count()}};
    if (!reason.empty()) body["reason"] = reason;
    return body;
  }

  Response Post(const std::string& body, std::map<std::string, std::string> headers) {
    Request r;
    r.method = "POST";
    r.path = "/api/v1/cancel";
    r.body = body;
    r.headers = std::move(headers);
    return hookd::http::Cancel(r, hookd::http::CancelBackends{keys_, canceller_, clock_});
  }

  Response Signed(const json& body, const std::string& key) {
    const std::string text = body.dump();
    return Post(text, {{"content-type", "application/json"},
                       {"x-nais-signature", common::HexEncode(common::HmacSha256(key, text))}});
  }

  static std::string Message(const Response& r) { return json::parse(r.body).value("message", ""); }

  testsupport::FakeClock clock_;
  testsupport::FakeApiKeyStore keys_{clock_};
  testsupport::FakeCanceller canceller_;
};

TEST_F(HttpCancel, WithdrawnDeploymentIs200AndRunningOneIs202) {
  canceller_.answer.set_state(pb::failure);
  canceller_.answer.set_message("cancelled by team aura (reason: oops) before it was sent");
  auto reply = Signed(Body("d1", "aura", "oops"), kAuraKey);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "application/json");
  EXPECT_EQ(json::parse(reply.body),
            (json{{"deploymentID", "d1"},
                  {"status", "failure"},
                  {"message", "cancelled by team aura (reason: oops) before it was sent"}}));
  ASSERT_EQ(canceller_.cancelled.size(), 1U);
  EXPECT_EQ(canceller_.cancelled[0].reason, "oops");

  canceller_.answer.set_state(pb::in_progress);
  reply = Signed(Body("d2", "aura"), kAuraKey);
  EXPECT_EQ(reply.status, 202);
  EXPECT_EQ(json::parse(reply.body).value("status", ""), "in_progress");
}

TEST_F(HttpCancel, BadRequests) {
  auto reply = Signed(Body("", "aura"), kAuraKey);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply), "invalid cancel request: no deployment ID specified");
  reply = Signed(Body("x", ""), kAuraKey);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply), "invalid cancel request: no team specified");
  json stale = Body("x", "aura");
  stale["timestamp"] = 1000;
  reply = Signed(stale, kAuraKey);
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply), "invalid cancel request: request is not within allowed timeframe");
  reply = Post("[1]", {{"content-type", "application/json"}, {"x-nais-signature", "00"}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply),
            "unable to unmarshal request body: the body must be a JSON object, not array");
  reply = Post("{}", {{"content-type", "application/json"}, {"x-nais-signature", "zz"}});
  EXPECT_EQ(reply.status, 400);
  EXPECT_EQ(Message(reply), "HMAC digest must be hex encoded");
  reply = Post("{}", {{"content-type", "text/plain"}, {"x-nais-signature", "00"}});
  EXPECT_EQ(reply.status, 415);
  EXPECT_TRUE(canceller_.cancelled.empty());
}

TEST_F(HttpCancel, AuthenticationFailures) {
  auto reply = Signed(Body("d1", "aura"), "team-key-of-other");
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(Message(reply), "failed authentication");
  reply = Signed(Body("d1", "nobody"), kAuraKey);
  EXPECT_EQ(reply.status, 403);
  EXPECT_EQ(Message(reply), "failed authentication");
  keys_.failure = std::make_exception_ptr(std::runtime_error("connection refused"));
  reply = Signed(Body("d1", "aura"), kAuraKey);
  EXPECT_EQ(reply.status, 502);
  EXPECT_EQ(Message(reply), "something wrong happened when communicating with api key service");
  EXPECT_TRUE(canceller_.cancelled.empty());
}

TEST_F(HttpCancel, CancellerErrorsMapToStatuses) {
  const std::map<common::ErrorCode, int> expected = {{common::ErrorCode::kInvalidArgument, 400},
                                                     {common::ErrorCode::kPermissionDenied, 403},
                                                     {common::ErrorCode::kNotFound, 404},
                                                     {common::ErrorCode::kFailedPrecondition, 409}};
  for (const auto& [code, status] : expected) {
    canceller_.failure =
        std::make_exception_ptr(common::Error(code, "why " + std::to_string(status)));
    auto reply = Signed(Body("d1", "aura"), kAuraKey);
    EXPECT_EQ(reply.status, status);
    EXPECT_EQ(Message(reply), "why " + std::to_string(status));
  }
  canceller_.failure = std::make_exception_ptr(
      common::Error(common::ErrorCode::kUnavailable, "database is unavailable: gone"));
  auto reply = Signed(Body("d1", "aura"), kAuraKey);
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(Message(reply), "database is unavailable; try again later");
}

}  // namespace
}  // namespace http_cancel_test
