#pragma once
// GitHub App authentication: the App's RSA key, the RS256 JWT that identifies the App, and the
// cache of the installation access token that the JWT is exchanged for.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/time.hpp"

namespace hookd::github {

// The App's private key (PEM: PKCS#1 "RSA PRIVATE KEY", as GitHub hands it out, or PKCS#8).
class AppKey {
 public:
  // Reads and parses `path`. Throws common::Error{kInvalidArgument}:
  //   `cannot instantiate Github installation client: unable to read key file "<path>": <reason>`
  //   `cannot instantiate Github installation client: key file "<path>" holds no PEM-encoded RSA
  //    private key`
  static AppKey FromFile(const std::string& path);
  // Same from PEM text; `origin` names it in errors.
  static AppKey FromPem(const std::string& pem, const std::string& origin);

  // RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `input`.
  std::string SignRs256(const std::string& input) const;

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY
};

// The JWT that authenticates the App itself (GitHub: "Generating a JSON Web Token for a GitHub
// App"): header {"alg":"RS256","typ":"JWT"}, claims iat = now - 60 s (GitHub's allowance for clock
// drift), exp = now + 9 min (GitHub refuses more than 10 min), iss = the App ID.
std::string MakeAppJwt(const AppKey& key, const std::string& app_id, common::SystemTime now);
inline constexpr std::chrono::seconds kJwtBackdate{60};
inline constexpr std::chrono::seconds kJwtLifetime{540};

// The installation access token, cached until shortly before it expires (GitHub issues them for
// one hour). Thread-safe.
class TokenCache {
 public:
  explicit TokenCache(std::chrono::seconds renew_before = std::chrono::minutes(5))
      : renew_before_(renew_before) {}
  // The cached token when it is valid for at least `renew_before` more at `now`.
  std::optional<std::string> Get(common::SystemTime now) const;
  void Put(std::string token, common::SystemTime expires_at);
  // Forgets `token` (GitHub answered 401 to it); a newer token stays.
  void Invalidate(const std::string& token);

 private:
  std::chrono::seconds renew_before_;
  mutable std::mutex mutex_;
  std::string token_;
  common::SystemTime expires_at_{};
};

}  // namespace hookd::github
