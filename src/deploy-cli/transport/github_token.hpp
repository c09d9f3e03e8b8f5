#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/time.hpp"

namespace common {
class HttpClient;
}

namespace deploy_cli {

// GitHub Actions OIDC token for hookd: GET <token-url>&audience=hookd
// with `Authorization: bearer <bearer>`; the JSON field `value` is the JWT. The token is cached
// until one minute before its `exp`, so long waits renew it.
class GithubTokenSource {
 public:
  GithubTokenSource(std::string token_url, std::string bearer_token, const common::Clock& clock);
  ~GithubTokenSource();
  GithubTokenSource(const GithubTokenSource&) = delete;
  GithubTokenSource& operator=(const GithubTokenSource&) = delete;

  // Throws common::Error: kUnauthenticated for a non-2xx answer or a token without a usable
  // body, kUnavailable/kDeadlineExceeded for transport failures.
  std::string Token();

 private:
  std::string target_;
  std::string bearer_;
  const common::Clock& clock_;
  std::unique_ptr<common::HttpClient> client_;
  std::mutex mutex_;
  std::string token_;
  common::SystemTime renew_at_{};
};

// `exp` claim of a JWT (unverified), nullopt when absent or malformed.
std::optional<common::SystemTime> JwtExpiry(const std::string& jwt);

}  // namespace deploy_cli
