#pragma once
// hookd's client of the GitHub REST API, authenticated as a GitHub App installation: the App JWT
// is exchanged for an installation token (POST /app/installations/{id}/access_tokens), which is
// cached and renewed five minutes before it expires, or at once when GitHub answers 401.
// Blocking; safe to share between threads.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/http_client.hpp"
#include "common/time.hpp"
#include "hookd/github/app_auth.hpp"
#include "hookd/github/policy.hpp"

namespace hookd::github {

struct ApiOptions {
  std::string api_url = "https://api.github.com";  // GitHub Enterprise: https://<host>/api/v3
  std::string app_id;
  std::string install_id;
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
};

struct Response {
  Answer answer;        // status and rate-limit headers
  nlohmann::json body;  // the parsed JSON body (null when there was none or it was not JSON)
  std::string error;    // transport error (status 0), or GitHub's "message" otherwise
};

// For whom a request is made: labels of deployment_hookd_github_requests.
struct Labels {
  std::string repository;  // owner/name
  std::string team;
};

// The Accept header of the original's deployment calls (previews that carried the in_progress
// and queued states; GitHub ignores them now that those are generally available).
inline constexpr const char* kDeploymentsAccept =
    "application/vnd.github.ant-man-preview+json, application/vnd.github.flash-preview+json";
inline constexpr const char* kTaskName = "NAIS_DIRECT_DEPLOY";

class Api {
 public:
  // Called once per answered request (not for transport errors), with its HTTP status.
  using Observer = std::function<void(int status, const Labels& labels)>;
  Api(ApiOptions options, AppKey key, const common::Clock& clock, Observer observer);

  // One call with the installation token. A 401 renews the token and repeats the call once. When
  // no token can be had, the token exchange's response is returned. While the rate limit pauses
  // requests nothing is sent, and the answer is a 429 with Retry-After until the pause ends.
  Response Call(const std::string& method, const std::string& target, const nlohmann::json& body,
                const std::string& accept, const Labels& labels, common::HttpCancel* cancel);

  // The original's access check: GET /orgs/{owner}/teams/{team} (the team by slug), then
  // GET /organizations/{org id}/team/{team id}/repos/{owner}/{repo}. Returns the first response
  // that is not a success, else the last one. A 404 carries the original's reason as its error:
  // "team does not exist on GitHub" or "team has no admin access to repository".
  Response TeamAccess(const std::string& owner, const std::string& repository,
                      const std::string& team, common::HttpCancel* cancel);
  // POST /repos/{owner}/{repo}/deployments.
  Response CreateDeployment(const std::string& owner, const std::string& repository,
                            const std::string& team, const std::string& ref,
                            const std::string& environment, common::HttpCancel* cancel);
  // POST /repos/{owner}/{repo}/deployments/{id}/statuses; `description` is truncated here.
  Response CreateStatus(const std::string& owner, const std::string& repository,
                        const std::string& team, long long deployment_id, const std::string& state,
                        const std::string& description, const std::string& log_url,
                        common::HttpCancel* cancel);

  // While the rate limit is spent, nothing is sent before this time (in the past otherwise).
  common::SystemTime PausedUntil() const;
  const common::Clock& Clock() const { return clock_; }

 private:
  Response Send(const std::string& method, const std::string& target,
                const std::string& authorization, const nlohmann::json& body,
                const std::string& accept, const Labels& labels, common::HttpCancel* cancel);
  // The cached installation token, or a new one. Empty with `failure` set when it cannot be had.
  std::string Token(const Labels& labels, common::HttpCancel* cancel, Response& failure);

  ApiOptions options_;
  AppKey key_;
  const common::Clock& clock_;
  Observer observer_;
  common::HttpClient http_;
  TokenCache tokens_;
  std::mutex exchange_mutex_;  // one token exchange at a time
  mutable std::mutex pause_mutex_;
  common::SystemTime paused_until_{};
};

}  // namespace hookd::github
