#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/time.hpp"

namespace hookd::grpcapi {

// The RSA public keys of a JWKS document, by `kid`. Only RSA keys ("kty":"RSA") with "n" and "e"
// are kept; others are ignored. Throws common::Error{kInvalidArgument} when the document is not a
// JWKS (`invalid JWKS: <reason>`).
class JwkSet {
 public:
  static JwkSet Parse(const std::string& json);
  // Verifies an RS256 signature of `signing_input` with the key `kid` (any key when kid is
  // empty). false on a mismatch or an unknown kid.
  bool VerifyRs256(const std::string& kid, const std::string& signing_input,
                   const std::string& signature) const;
  bool HasKey(const std::string& kid) const;
  std::size_t Size() const { return keys_.size(); }

 private:
  std::map<std::string, std::shared_ptr<void>> keys_;  // kid -> EVP_PKEY
};

// Fetches the JWKS document from its URL (throws common::Error when it cannot).
using JwksFetcher = std::function<std::string()>;

// Largest JWKS document accepted (GitHub's is about 2 KiB).
inline constexpr std::size_t kMaxJwksBytes = std::size_t{1024} * 1024;

// A fetcher that GETs `url` with common::HttpClient (5 s timeout, 2xx required, at most
// kMaxJwksBytes). The keys that authenticate every JWT must come over TLS: an http:// URL throws
// common::Error{kInvalidArgument} here unless `allow_http` (--github-jwks-allow-http, for tests).
// A larger body fails with common::Error{kUnavailable}
// `GET <url>: JWKS response larger than 1048576 bytes`.
JwksFetcher HttpJwksFetcher(const std::string& url, bool allow_http = false);

// The JWKS, fetched on first use and refreshed hourly; an unknown kid triggers an early refresh
// (at most once a minute); a failed fetch keeps the previous keys and is retried after 10 s.
// Never throws out of Keys() except common::Error{kUnavailable} when no keys were ever fetched.
class JwksCache {
 public:
  JwksCache(JwksFetcher fetcher, const common::Clock& clock);
  // The current keys; `kid` unknown -> may refresh first.
  std::shared_ptr<const JwkSet> Keys(const std::string& kid);

  static constexpr std::chrono::hours kRefreshInterval{1};
  static constexpr std::chrono::seconds kRetryInterval{10};
  static constexpr std::chrono::minutes kUnknownKidInterval{1};

 private:
  JwksFetcher fetcher_;
  const common::Clock& clock_;
  std::mutex mutex_;
  std::shared_ptr<const JwkSet> keys_;
  common::SystemTime fetched_{};
  common::SystemTime last_attempt_{};
  std::string last_error_;
};

struct JwtClaims {
  std::string repository;     // "" when the claim is absent
  std::string repository_id;  // decimal digits; "" when the claim is absent
  std::string subject;
};

enum class JwtFailure { kExpired, kInvalid, kUnavailable };

struct JwtResult {
  std::optional<JwtClaims> claims;  // set when valid
  JwtFailure failure = JwtFailure::kInvalid;
  std::string error;  // library-style reason, e.g. `"iss" not satisfied: values do not match`
};

// Verifies a GitHub Actions OIDC token: exactly three strict base64url segments
// (common::Base64UrlDecodeStrict: one spelling per token, no variant of a valid token verifies),
// RS256 signature under the JWKS, issuer, audience (`hookd`), a required `exp` and optional nbf/iat
// with 5 s skew, and a well-formed `repository_id` when present.
class JwtVerifier {
 public:
  JwtVerifier(JwksCache& jwks, std::string issuer, std::string audience,
              const common::Clock& clock);
  JwtResult Verify(const std::string& token) const;

  static constexpr std::chrono::seconds kSkew{5};

 private:
  JwksCache& jwks_;
  std::string issuer_;
  std::string audience_;
  const common::Clock& clock_;
};

}  // namespace hookd::grpcapi
