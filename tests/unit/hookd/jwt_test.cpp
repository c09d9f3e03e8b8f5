// GitHub OIDC JWT verification with an injected clock and JWKS fetcher (no network).
#include "hookd/grpc/jwt.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "hookd/grpc/auth.hpp"
#include "jwt_signer.hpp"

namespace {

using namespace hookd::grpcapi;
using namespace std::chrono_literals;
using hookdtest::GitHubClaims;
using hookdtest::RsaSigner;

const std::string kIssuer = "https://token.actions.githubusercontent.com";

class FakeClock : public common::Clock {
 public:
  common::SystemTime Now() const override { return now; }
  common::SystemTime now = common::SystemTime(std::chrono::seconds(1'800'000'000));
};

long long Unix(common::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

RsaSigner& Signer() {
  static RsaSigner signer("key-1");
  return signer;
}
RsaSigner& OtherSigner() {
  static RsaSigner signer("key-1");  // same kid, different key
  return signer;
}

class Jwt : public ::testing::Test {
 protected:
  Jwt()
      : cache(
            [this] {
              ++fetches;
              if (fail_fetch)
                throw common::Error(common::ErrorCode::kUnavailable, "connection refused");
              return jwks;
            },
            clock),
        verifier(cache, kIssuer, "hookd", clock) {}

  std::string Token(nlohmann::json claims) { return Signer().Sign(claims); }
  nlohmann::json Claims() { return GitHubClaims(Unix(clock.now), kIssuer); }

  FakeClock clock;
  std::string jwks = Signer().Jwks();
  bool fail_fetch = false;
  int fetches = 0;
  JwksCache cache;
  JwtVerifier verifier;
};

TEST_F(Jwt, ValidTokenYieldsTheRepository) {
  auto result = verifier.Verify(Token(Claims()));
  ASSERT_TRUE(result.claims.has_value()) << result.error;
  EXPECT_EQ(result.claims->repository, "navikt/app");
  // Audience may also be a list.
  auto claims = Claims();
  claims["aud"] = {"other", "hookd"};
  EXPECT_TRUE(verifier.Verify(Token(claims)).claims.has_value());
}

TEST_F(Jwt, ExpiryHasFiveSecondsOfSkew) {
  auto claims = Claims();
  claims["exp"] = Unix(clock.now) - 4;
  EXPECT_TRUE(verifier.Verify(Token(claims)).claims.has_value());
  claims["exp"] = Unix(clock.now) - 6;
  auto result = verifier.Verify(Token(claims));
  EXPECT_FALSE(result.claims.has_value());
  EXPECT_EQ(result.failure, JwtFailure::kExpired);
  claims = Claims();
  claims["nbf"] = Unix(clock.now) + 60;
  result = verifier.Verify(Token(claims));
  EXPECT_EQ(result.failure, JwtFailure::kInvalid);
  EXPECT_EQ(result.error, "\"nbf\" not satisfied");
}

TEST_F(Jwt, WrongIssuerAudienceSignatureAndFormat) {
  auto claims = Claims();
  claims["iss"] = "https://evil.example";
  EXPECT_EQ(verifier.Verify(Token(claims)).error, "\"iss\" not satisfied: values do not match");
  claims = Claims();
  claims["aud"] = "sts.amazonaws.com";
  EXPECT_EQ(verifier.Verify(Token(claims)).error, "\"aud\" not satisfied");
  EXPECT_EQ(verifier.Verify(OtherSigner().Sign(Claims())).error,
            "could not verify message using any of the signatures or keys");
  EXPECT_EQ(verifier.Verify("not-a-token").error,
            "failed to parse token: invalid compact serialization format");
  EXPECT_EQ(verifier.Verify(Signer().Sign(Claims(), {{"alg", "HS256"}, {"kid", "key-1"}})).error,
            "unsupported signature algorithm \"HS256\"");
}

TEST_F(Jwt, JwksIsCachedAndRefreshedHourly) {
  EXPECT_TRUE(verifier.Verify(Token(Claims())).claims.has_value());
  EXPECT_TRUE(verifier.Verify(Token(Claims())).claims.has_value());
  EXPECT_EQ(fetches, 1);
  clock.now += 59min;
  EXPECT_TRUE(verifier.Verify(Token(Claims())).claims.has_value());
  EXPECT_EQ(fetches, 1);
  clock.now += 2min;
  EXPECT_TRUE(verifier.Verify(Token(Claims())).claims.has_value());
  EXPECT_EQ(fetches, 2);
}

TEST_F(Jwt, MissingJwksIsUnavailableAndRetriedLater) {
  fail_fetch = true;
  auto result = verifier.Verify(Token(Claims()));
  EXPECT_EQ(result.failure, JwtFailure::kUnavailable);
  EXPECT_EQ(result.error, "GitHub JWKS unavailable: connection refused");
  verifier.Verify(Token(Claims()));
  EXPECT_EQ(fetches, 1);  // not hammered
  fail_fetch = false;
  clock.now += 11s;
  EXPECT_TRUE(verifier.Verify(Token(Claims())).claims.has_value());
  // A failed refresh keeps the old keys.
  fail_fetch = true;
  clock.now += 2h;
  EXPECT_TRUE(verifier.Verify(Token(Claims())).claims.has_value());
}

TEST_F(Jwt, GarbageJwksDoesNotCrash) {
  jwks = "<html>";
  EXPECT_EQ(verifier.Verify(Token(Claims())).failure, JwtFailure::kUnavailable);
}

class JwtAuth : public Jwt {
 protected:
  Metadata With(const std::string& token, const std::string& team = "aura") {
    Metadata m{{"jwt", token}};
    if (!team.empty()) m.emplace("team", team);
    return m;
  }
  RepositoryCheck Authorized() {
    return [this](const std::string& team, const std::string& repo) {
      if (fail_lookup) throw common::Error(common::ErrorCode::kUnavailable, "db down");
      return team == "aura" && repo == "navikt/app";
    };
  }
  bool fail_lookup = false;
};

TEST_F(JwtAuth, JwtPathIsTakenForExactlyOneNonEmptyValue) {
  EXPECT_TRUE(UsesJwt({{"jwt", "x"}}));
  EXPECT_FALSE(UsesJwt({{"jwt", ""}}));
  EXPECT_FALSE(UsesJwt({{"jwt", "x"}, {"jwt", "y"}}));
  EXPECT_FALSE(UsesJwt({{"authorization", "x"}}));
}

TEST_F(JwtAuth, ErrorsHaveTheOriginalCodesAndMessages) {
  auto ok = CheckJwt(With(Token(Claims())), verifier, Authorized(), false);
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.team, "aura");
  EXPECT_EQ(ok.type, "jwt");

  auto claims = Claims();
  claims["exp"] = Unix(clock.now) - 60;
  auto expired = CheckJwt(With(Token(claims)), verifier, Authorized(), false);
  EXPECT_EQ(expired.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(expired.status.error_message(), "authentication token has expired");
  EXPECT_EQ(expired.error, "invalid_jwt");

  auto forged = CheckJwt(With(OtherSigner().Sign(Claims())), verifier, Authorized(), false);
  EXPECT_EQ(forged.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(forged.status.error_message(),
            "invalid JWT token: could not verify message using any of the signatures or keys");

  auto no_repo = CheckJwt(With(Token(GitHubClaims(Unix(clock.now), kIssuer, ""))), verifier,
                          Authorized(), false);
  EXPECT_EQ(no_repo.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(no_repo.status.error_message(), "missing repository in JWT token");
  EXPECT_EQ(no_repo.error, "no_repository");

  auto no_team = CheckJwt(With(Token(Claims()), ""), verifier, Authorized(), false);
  EXPECT_EQ(no_team.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(no_team.status.error_message(), "missing team in metadata");

  auto other_team = CheckJwt(With(Token(Claims()), "other"), verifier, Authorized(), false);
  EXPECT_EQ(other_team.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(other_team.status.error_message(),
            "repo \"navikt/app\" not authorized by team \"other\"");
  EXPECT_EQ(other_team.error, "repo_not_authorized");

  fail_lookup = true;
  auto down = CheckJwt(With(Token(Claims())), verifier, Authorized(), false);
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(down.status.error_message(),
            "something wrong happened when communicating with Nais API");
  auto down_stream = CheckJwt(With(Token(Claims())), verifier, Authorized(), true);
  EXPECT_EQ(down_stream.status.error_message(),
            "something wrong happened when communicating with the teams service");
}

TEST_F(JwtAuth, UnreachableJwksIsUnavailable) {
  fail_fetch = true;
  auto result = CheckJwt(With(Token(Claims())), verifier, Authorized(), false);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(result.status.error_message(),
            "unable to verify JWT token: GitHub JWKS is unavailable");
}

}  // namespace
