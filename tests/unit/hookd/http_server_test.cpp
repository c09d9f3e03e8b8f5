// The HTTP server around the endpoints, on a loopback port, without Postgres (the endpoints
// reach in-memory stores): the error boundary's 500 on the wire, the 413 for oversized bodies,
// and the in-flight count released on every path.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "hookd/http/server.hpp"
#include "hookd/store/migrations.hpp"
#include "http_fixture.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_stores.hpp"
#include "support/http_call.hpp"

namespace {

class HttpServerUnit : public testsupport::HttpFakesTest {
 protected:
  void SetUp() override {
    config_.metrics_path = "/metrics";
    Build();
    server_ = std::make_unique<hookd::http::Server>(*handlers_, metrics_, "127.0.0.1:0", 1000);
    port_ = server_->Start();
  }
  void TearDown() override { server_->Stop(std::chrono::milliseconds(0)); }

  std::unique_ptr<hookd::http::Server> server_;
  int port_ = 0;
};

TEST_F(HttpServerUnit, AThrowingEndpointAnswers500AndReleasesItsSlot) {
  schema_.failure = std::make_exception_ptr(std::runtime_error("unexpected"));
  const auto ready = testsupport::Call(port_, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "database unavailable\n");
  EXPECT_EQ(server_->InFlight(), 0);

  // A deployment whose dispatcher fails with what no endpoint expects (not a common::Error).
  keys_.Add("aura", "key", clock_.now - std::chrono::hours(1), clock_.now + std::chrono::hours(1));
  intake_.failure = std::make_exception_ptr(std::logic_error("dispatcher broke"));
  const nlohmann::json body = {
      {"resources", {{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "a"}}}}}},
      {"team", "aura"},
      {"cluster", "dev"},
      {"environment", "dev"},
      {"ref", "main"},
      {"timestamp",
       std::chrono::duration_cast<std::chrono::seconds>(clock_.now.time_since_epoch()).count()}};
  const std::string text = body.dump();
  const auto broken =
      testsupport::Call(port_, "POST", "/api/v1/deploy", text,
                        {{"Content-Type", "application/json"},
                         {"X-NAIS-Signature", common::HexEncode(common::HmacSha256("key", text))}});
  EXPECT_EQ(broken.status, 500);
  EXPECT_EQ(broken.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(broken.body, "internal server error\n");
  EXPECT_EQ(server_->InFlight(), 0);
  // The server goes on serving.
  EXPECT_EQ(testsupport::Call(port_, "GET", "/healthz").body, "ok\n");
}

TEST_F(HttpServerUnit, AnOversizedBodyIs413InTheApisJson) {
  const auto reply = testsupport::Call(port_, "POST", "/api/v1/deploy", std::string(2000, ' '),
                                       {{"Content-Type", "application/json"}});
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(reply.content_type, "application/json");
  const std::string message = nlohmann::json::parse(reply.body)["message"];
  EXPECT_EQ(message.rfind("request body is 2000 bytes, more than hookd accepts (", 0), 0u)
      << message;
  EXPECT_TRUE(intake_.accepted.empty());
  EXPECT_EQ(server_->InFlight(), 0);
}

}  // namespace
