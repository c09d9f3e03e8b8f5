// GitHub OIDC JWT verification with an injected clock and JWKS fetcher (no network).
#include "hookd/grpc/jwt.hpp"

#include <map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/names.hpp"
#include "hookd/grpc/auth.hpp"
#include "jwt_signer.hpp"
#include "support/fake_clock.hpp"
#include "support/loopback_http_server.hpp"

namespace {

using namespace hookd::grpcapi;
using namespace std::chrono_literals;
using hookdtest::GitHubClaims;
using hookdtest::RsaSigner;

const std::string kIssuer = "https://token.actions.githubusercontent.com";

using testsupport::FakeClock;

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

  std::string Token(const nlohmann::json& claims) { return Signer().Sign(claims); }
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
            "failed to parse token: invalid compact serialization format: invalid number of "
            "segments");
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
  // team_repositories in memory, with Store::AuthorizeRepository's pinning.
  RepositoryCheck Authorized() {
    return [this](const std::string& team, const std::string& repo,
                  const std::string& repository_id) -> std::optional<std::string> {
      ++lookups;
      if (fail_lookup) throw common::Error(common::ErrorCode::kUnavailable, "db down");
      auto it = rows.find({team, repo});
      if (it == rows.end()) return std::nullopt;
      if (it->second.empty()) it->second = repository_id;
      return it->second;
    };
  }
  nlohmann::json ClaimsOf(const std::string& repository_id) {
    auto claims = Claims();
    claims["repository_id"] = repository_id;
    return claims;
  }
  std::string& AuraPin() { return rows[{"aura", "navikt/app"}]; }
  bool fail_lookup = false;
  int lookups = 0;
  std::map<std::pair<std::string, std::string>, std::string> rows{{{"aura", "navikt/app"}, ""}};
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

// ---- Strict token format (security review): one spelling per token. ----

const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// A token, and the same claims respelled in each segment. Header and payload variants carry a
// valid signature over the respelled text, so only the strict decoding can refuse them; a
// respelled signature decodes to the same signature bytes.
class JwtFormat : public Jwt {
 protected:
  struct Parts {
    std::string header, payload, signature;
  };
  static bool Usable(const std::string& segment) {
    return segment.size() % 4 != 0 && segment.find_first_of("-_") != std::string::npos;
  }
  // Segments that need padding and contain '-' or '_' (so that every respelling applies).
  Parts Find() {
    // "???" encodes to "Pz8_" in any alignment; the signature is random.
    for (std::size_t n = 0; n < 200; ++n) {
      nlohmann::json header = {
          {"alg", "RS256"}, {"typ", "JWT"}, {"kid", "key-1"}, {"x", std::string(3 + n % 4, '?')}};
      auto claims = Claims();
      claims["jti"] = std::string(3 + n / 4 % 4, '?') + std::to_string(n);
      const std::string h = hookdtest::Base64Url(header.dump());
      const std::string p = hookdtest::Base64Url(claims.dump());
      const std::string token = Signer().SignSegments(h, p);
      const std::string sig = token.substr(token.rfind('.') + 1);
      if (Usable(h) && Usable(p) && Usable(sig)) return {h, p, sig};
    }
    ADD_FAILURE() << "no suitable token found";
    return {};
  }
  static std::string Padded(std::string s) {
    while (s.size() % 4 != 0) s += '=';
    return s;
  }
  static std::string StandardAlphabet(std::string s) {
    for (char& c : s) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
    return s;
  }
  // The last character with its lowest (unused) bit set.
  static std::string TrailingBits(std::string s) {
    s.back() = kAlphabet[kAlphabet.find(s.back()) | 1U];
    return s;
  }
  static std::string Space(std::string s) { return s.insert(s.size() / 2, " "); }
  static std::string Newline(std::string s) {
    s += '\n';
    return s;
  }
};

TEST_F(JwtFormat, RespelledSegmentsAreRejected) {
  const Parts parts = Find();
  ASSERT_FALSE(parts.header.empty());
  const std::string good = parts.header + "." + parts.payload + "." + parts.signature;
  ASSERT_TRUE(verifier.Verify(good).claims.has_value()) << verifier.Verify(good).error;
  using Respell = std::string (*)(std::string);
  const std::vector<std::pair<const char*, Respell>> respellings = {
      {"padding", Padded},
      {"standard alphabet", StandardAlphabet},
      {"unused bits", TrailingBits},
      {"space", Space},
      {"newline", Newline}};
  for (const auto& [what, respell] : respellings) {
    SCOPED_TRACE(what);
    const std::string header = respell(parts.header);
    ASSERT_NE(header, parts.header);
    auto result = verifier.Verify(Signer().SignSegments(header, parts.payload));
    EXPECT_FALSE(result.claims.has_value());
    EXPECT_EQ(result.failure, JwtFailure::kInvalid);
    EXPECT_EQ(result.error, "failed to parse token: invalid base64url in the header");

    result = verifier.Verify(Signer().SignSegments(parts.header, respell(parts.payload)));
    EXPECT_FALSE(result.claims.has_value());
    EXPECT_EQ(result.error, "failed to parse token: invalid base64url in the payload");

    result = verifier.Verify(parts.header + "." + parts.payload + "." + respell(parts.signature));
    EXPECT_FALSE(result.claims.has_value());
    EXPECT_EQ(result.error, "failed to parse token: invalid base64url in the signature");
  }
}

TEST_F(JwtFormat, ExactlyThreeSegments) {
  const std::string good = Token(Claims());
  ASSERT_TRUE(verifier.Verify(good).claims.has_value());
  const std::string dot = good.substr(0, good.rfind('.'));  // header.payload
  for (const std::string& bad :
       {std::string(), std::string("."), std::string("abc"), dot, good + ".", "." + good,
        good + "." + good.substr(good.rfind('.') + 1), good + "..", dot + ".." + "x.y",
        std::string("a.b.c.d.e")}) {
    auto result = verifier.Verify(bad);
    EXPECT_FALSE(result.claims.has_value()) << bad;
    EXPECT_EQ(result.error,
              "failed to parse token: invalid compact serialization format: invalid number of "
              "segments")
        << bad;
  }
  EXPECT_EQ(fetches, 1);  // only for `good`: a malformed token never reaches the JWKS
}

TEST_F(Jwt, ExpiryIsRequired) {
  auto claims = Claims();
  claims.erase("exp");
  auto result = verifier.Verify(Token(claims));
  EXPECT_FALSE(result.claims.has_value());
  EXPECT_EQ(result.failure, JwtFailure::kInvalid);
  EXPECT_EQ(result.error, "\"exp\" not satisfied: required claim not found");
  claims["exp"] = nullptr;
  EXPECT_EQ(verifier.Verify(Token(claims)).error,
            "\"exp\" not satisfied: required claim not found");
  claims["exp"] = "tomorrow";
  EXPECT_EQ(verifier.Verify(Token(claims)).error, "failed to parse \"exp\": not a number");
}

TEST_F(Jwt, RepositoryIdClaim) {
  auto claims = Claims();
  EXPECT_EQ(verifier.Verify(Token(claims)).claims->repository_id, "");
  claims["repository_id"] = "123456789";
  EXPECT_EQ(verifier.Verify(Token(claims)).claims->repository_id, "123456789");
  claims["repository_id"] = 987;
  EXPECT_EQ(verifier.Verify(Token(claims)).claims->repository_id, "987");
  for (const nlohmann::json& bad :
       {nlohmann::json(""), nlohmann::json("12a"), nlohmann::json("-1"), nlohmann::json(-1),
        nlohmann::json(1.5), nlohmann::json::array({1}), nlohmann::json(std::string(21, '1'))}) {
    claims["repository_id"] = bad;
    auto result = verifier.Verify(Token(claims));
    EXPECT_FALSE(result.claims.has_value()) << bad.dump();
    EXPECT_EQ(result.error, "\"repository_id\" not satisfied: want a decimal string") << bad.dump();
  }
}

TEST_F(JwtAuth, TokenWithoutExpiryIsUnauthenticated) {
  auto claims = Claims();
  claims.erase("exp");
  auto result = CheckJwt(With(Token(claims)), verifier, Authorized(), false);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(result.status.error_message(),
            "invalid JWT token: \"exp\" not satisfied: required claim not found");
  EXPECT_EQ(result.error, "invalid_jwt");
  EXPECT_EQ(lookups, 0);
}

TEST_F(JwtAuth, RepositoryIdIsPinnedOnFirstUse) {
  // A token without repository_id is authorised by name and pins nothing.
  EXPECT_TRUE(CheckJwt(With(Token(Claims())), verifier, Authorized(), false).status.ok());
  EXPECT_EQ(AuraPin(), "");
  // The first token with an ID pins it.
  auto first = CheckJwt(With(Token(ClaimsOf("1001"))), verifier, Authorized(), false);
  EXPECT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(AuraPin(), "1001");
  EXPECT_TRUE(CheckJwt(With(Token(ClaimsOf("1001"))), verifier, Authorized(), true).status.ok());
  // The repository was deleted and someone else created one under the same name.
  for (bool stream : {false, true}) {
    auto impostor = CheckJwt(With(Token(ClaimsOf("2002"))), verifier, Authorized(), stream);
    EXPECT_EQ(impostor.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(impostor.status.error_message(),
              "repo \"navikt/app\" not authorized by team \"aura\": repository_id 2002 is not "
              "the authorized repository_id 1001 (a repository re-created under the same name "
              "must be authorized again)");
    EXPECT_EQ(impostor.error, "repo_not_authorized");
    EXPECT_TRUE(impostor.team.empty());
  }
  EXPECT_EQ(AuraPin(), "1001");
  // Authorised again by the team (the row removed and added): the new repository pins.
  AuraPin() = "";
  EXPECT_TRUE(CheckJwt(With(Token(ClaimsOf("2002"))), verifier, Authorized(), false).status.ok());
  EXPECT_EQ(
      CheckJwt(With(Token(ClaimsOf("1001"))), verifier, Authorized(), false).status.error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(JwtAuth, TeamMustBeADnsLabelBeforeAnyLookup) {
  auto bad = CheckJwt(With(Token(Claims()), "Aura"), verifier, Authorized(), false);
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.status.error_message(),
            "invalid team \"Aura\": must be a lowercase RFC 1123 label: at most 63 characters, "
            "lower case alphanumeric characters or '-', starting and ending with an alphanumeric "
            "character (e.g. 'my-name', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  EXPECT_EQ(bad.error, "invalid_auth_metadata");
  EXPECT_EQ(bad.type, "jwt");
  for (const std::string& team :
       {std::string("aura/../other"), std::string("-aura"), std::string("aura-"),
        std::string("au_ra"), std::string("aura\r\nx"), std::string("aura\0", 5),
        std::string(64, 'a'), std::string("aura.dev")}) {
    // Even with a token that would not verify: no JWKS fetch, no repository lookup.
    for (const std::string& token : {Token(Claims()), std::string("garbage")}) {
      auto result = CheckJwt(With(token, team), verifier, Authorized(), true);
      EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
      EXPECT_EQ(result.status.error_message(), *common::InvalidLabel("team", team));
    }
  }
  EXPECT_EQ(fetches, 0);
  EXPECT_EQ(lookups, 0);
  // 63 characters is still a label.
  rows[{std::string(63, 'a'), "navikt/app"}] = "";
  EXPECT_TRUE(CheckJwt(With(Token(Claims()), std::string(63, 'a')), verifier, Authorized(), false)
                  .status.ok());
}

// ---- Fetching the JWKS. ----

TEST(JwksFetcher, OnlyHttpsUnlessAllowed) {
  try {
    HttpJwksFetcher("http://127.0.0.1:1/jwks");
    ADD_FAILURE() << "an http:// JWKS URL was accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()),
              "invalid JWKS URL \"http://127.0.0.1:1/jwks\": the keys must be fetched over "
              "https:// (http:// only with github-jwks-allow-http)");
  }
  try {
    HttpJwksFetcher("ftp://example.com/jwks", true);
    ADD_FAILURE() << "an ftp:// JWKS URL was accepted";
  } catch (const common::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "invalid JWKS URL \"ftp://example.com/jwks\": want an "
              "https:// URL");
  }
  EXPECT_NO_THROW(HttpJwksFetcher("https://token.actions.githubusercontent.com/.well-known/jwks"));
  EXPECT_NO_THROW(HttpJwksFetcher("http://127.0.0.1:1/jwks", true));
}

namespace http = boost::beast::http;
using Socket = testsupport::LoopbackHttpServer::Socket;
using LoopbackRequest = testsupport::LoopbackHttpServer::Request;

std::string FetchError(const JwksFetcher& fetch) {
  try {
    fetch();
  } catch (const common::Error& e) {
    return e.what();
  }
  return "";
}

TEST(JwksFetcher, ResponsesAreSizeLimited) {
  const std::string jwks = Signer().Jwks();
  // Announced with Content-Length: refused before the body is read.
  testsupport::LoopbackHttpServer announced([](Socket& socket, const LoopbackRequest& request) {
    const std::string target(request.target());
    std::string body =
        target == "/big" ? std::string(kMaxJwksBytes + 1, ' ') : std::string(kMaxJwksBytes, ' ');
    return testsupport::LoopbackHttpServer::Reply(socket, request, http::status::ok,
                                                  "application/json", std::move(body));
  });
  EXPECT_EQ(FetchError(HttpJwksFetcher(announced.Url() + "/big", true)),
            "GET " + announced.Url() + "/big: JWKS response larger than 1048576 bytes");
  // Exactly the limit is fetched (and then fails to parse as a JWKS, elsewhere).
  EXPECT_EQ(HttpJwksFetcher(announced.Url() + "/limit", true)().size(), kMaxJwksBytes);

  // Chunked, without a length: cut off once the limit is passed.
  testsupport::LoopbackHttpServer chunked([&jwks](Socket& socket, const LoopbackRequest& request) {
    boost::system::error_code ec;
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    common::net::write(socket, common::net::buffer(head), ec);
    if (std::string(request.target()) == "/small") {
      const std::string chunk = fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", jwks.size(), jwks);
      common::net::write(socket, common::net::buffer(chunk), ec);
      return false;
    }
    const std::string piece(std::size_t{64} * 1024, ' ');
    const std::string chunk = fmt::format("{:x}\r\n{}\r\n", piece.size(), piece);
    // 64 MiB at most: the client must hang up long before.
    for (int i = 0; i < 1024 && !ec; ++i)
      common::net::write(socket, common::net::buffer(chunk), ec);
    return false;
  });
  EXPECT_EQ(FetchError(HttpJwksFetcher(chunked.Url() + "/endless", true)),
            "GET " + chunked.Url() + "/endless: JWKS response larger than 1048576 bytes");
  EXPECT_EQ(HttpJwksFetcher(chunked.Url() + "/small", true)(), jwks);
}

TEST(JwksFetcher, ErrorStatusIsUnavailable) {
  testsupport::LoopbackHttpServer server([](Socket& socket, const LoopbackRequest& request) {
    return testsupport::LoopbackHttpServer::Reply(socket, request, http::status::bad_gateway,
                                                  "text/plain", "oops");
  });
  try {
    HttpJwksFetcher(server.Url() + "/jwks", true)();
    ADD_FAILURE() << "no error";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kUnavailable);
    EXPECT_EQ(std::string(e.what()), "GET " + server.Url() + "/jwks: HTTP 502");
  }
}

}  // namespace
