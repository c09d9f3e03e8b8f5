// API-key and pre-shared-key checks with an injected clock and key lookup (no database).
#include "hookd/grpc/auth.hpp"

#include <gtest/gtest.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "support/fake_clock.hpp"

namespace {

using hookd::grpcapi::CheckApiKey;
using hookd::grpcapi::CheckPreSharedKey;
using hookd::grpcapi::Metadata;
using namespace std::chrono_literals;

using testsupport::FakeClock;

class ApiKeyAuth : public ::testing::Test {
 protected:
  Metadata Signed(const std::string& key, common::SystemTime at, const std::string& team = "aura") {
    const std::string ts = common::FormatRfc3339Nano(at);
    return {{"timestamp", ts},
            {"authorization", common::HexEncode(common::HmacSha256(key, ts))},
            {"team", team}};
  }
  hookd::grpcapi::KeyLookup Lookup() {
    return [this](const std::string& team) -> std::vector<hookd::store::ApiKey> {
      ++lookups;
      if (fail_lookup) throw common::Error(common::ErrorCode::kUnavailable, "db down");
      if (team != "aura") throw common::Error(common::ErrorCode::kNotFound, "not found");
      return keys;
    };
  }
  FakeClock clock;
  std::vector<hookd::store::ApiKey> keys{
      {"valid-key", "aura", clock.now - 24h, clock.now + 24h},
      {"expired-key", "aura", clock.now - 48h, clock.now - 1s},
  };
  bool fail_lookup = false;
  int lookups = 0;
};

TEST_F(ApiKeyAuth, AcceptsAnyValidKeyWithinThirtySeconds) {
  auto result = CheckApiKey(Signed("valid-key", clock.now - 29s), Lookup(), clock, false);
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.team, "aura");
  EXPECT_TRUE(
      CheckApiKey(Signed("valid-key", clock.now + 29s), Lookup(), clock, false).status.ok());
}

TEST_F(ApiKeyAuth, TeamThatIsNotADnsLabelIsRefusedBeforeAnyLookup) {
  auto result =
      CheckApiKey(Signed("valid-key", clock.now, "aura\r\nX-Injected: 1"), Lookup(), clock, false);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.status.error_message().rfind("invalid team \"aura\\r\\nX-Injected: 1\": must be "
                                                "a lowercase RFC 1123 label",
                                                0),
            0u)
      << result.status.error_message();
  EXPECT_EQ(result.error, "invalid_auth_metadata");
  EXPECT_EQ(lookups, 0);
}

TEST_F(ApiKeyAuth, ThirtySecondsSkewIsTooMuch) {
  auto unary = CheckApiKey(Signed("valid-key", clock.now - 30s), Lookup(), clock, false);
  EXPECT_EQ(unary.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(unary.status.error_message(), "signature expired");
  auto stream = CheckApiKey(Signed("valid-key", clock.now + 30s), Lookup(), clock, true);
  EXPECT_EQ(stream.status.error_message(), "signature is too old");
  EXPECT_EQ(lookups, 0);  // no database work for stale requests
}

TEST_F(ApiKeyAuth, ExpiredKeyIsPermissionDenied) {
  auto result = CheckApiKey(Signed("expired-key", clock.now), Lookup(), clock, false);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(result.status.error_message(), "failed authentication");
}

TEST_F(ApiKeyAuth, LookupErrors) {
  auto unknown = CheckApiKey(Signed("valid-key", clock.now, "ghost"), Lookup(), clock, false);
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(unknown.status.error_message(), "failed authentication");
  fail_lookup = true;
  auto down = CheckApiKey(Signed("valid-key", clock.now), Lookup(), clock, false);
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(down.status.error_message(),
            "something wrong happened when communicating with api key service");
}

TEST_F(ApiKeyAuth, MissingAndMalformedMetadataInTheOriginalsOrder) {
  Metadata md;
  EXPECT_EQ(CheckApiKey(md, Lookup(), clock, false).status.error_message(),
            "request is not signed with API key");
  md.emplace("authorization", "zz");
  EXPECT_EQ(CheckApiKey(md, Lookup(), clock, false).status.error_message(),
            "API key signature timestamp is not provided");
  md.emplace("timestamp", common::FormatRfc3339Nano(clock.now));
  EXPECT_EQ(CheckApiKey(md, Lookup(), clock, false).status.error_message(),
            "team is not provided in API key signature metadata");
  md.emplace("team", "aura");
  auto bad_hex = CheckApiKey(md, Lookup(), clock, false);
  EXPECT_EQ(bad_hex.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad_hex.status.error_message(), "wrong API key signature format");
}

TEST(PreSharedKey, ExactMatchRequired) {
  std::vector<std::string> keys{"a", "b"};
  auto none = CheckPreSharedKey({}, keys);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(none.error_message(), "authorization key is not provided");
  auto wrong = CheckPreSharedKey({{"authorization", "c"}}, keys);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(wrong.error_message(), "application is not authorized");
  EXPECT_TRUE(CheckPreSharedKey({{"authorization", "b"}}, keys).ok());
  EXPECT_FALSE(CheckPreSharedKey({{"authorization", "a"}}, {}).ok());
}

TEST(TeamMatch, MetadataTeamMustEqualRequestTeam) {
  EXPECT_TRUE(hookd::grpcapi::CheckTeamMatches("aura", "aura").ok());
  auto denied = hookd::grpcapi::CheckTeamMatches("aura", "other");
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
