#pragma once
// A fake GitHub REST API on 127.0.0.1:<free port> that behaves like api.github.com for the calls
// hookd makes, checks each of them and records them all:
//   POST /app/installations/{id}/access_tokens   the App JWT is verified with the App's public
//                                                key (RS256, iss, iat/exp within GitHub's rules);
//                                                answers a new installation token
//   GET  /orgs/{org}/teams/{team}                404 unless the team was added
//   GET  /organizations/{org id}/team/{team id}/repos/{owner}/{repo}
//                                                404 unless the team has the repository
//   POST /repos/{owner}/{repo}/deployments       body checked (ref, task, auto_merge, contexts)
//   POST /repos/{owner}/{repo}/deployments/{id}/statuses
//                                                state, description (<= 140 bytes), log_url
// Every call needs a User-Agent and (but the token exchange) a live installation token, as on
// github.com. Whatever breaks these rules is answered as GitHub would and listed in Problems().
// Tests script failures (FailNext), hold deployment creations (HoldCreations) and revoke tokens.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time.hpp"

namespace hookdtest {

struct GithubCall {
  std::string route;  // token, team, access, create, status, other
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  int answered = 0;  // the HTTP status the fake answered
  std::chrono::system_clock::time_point at;
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
};

struct ScriptedAnswer {
  int status = 500;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body = R"({"message":"scripted failure"})";
};

inline ScriptedAnswer Failure(int status) {
  ScriptedAnswer answer;
  answer.status = status;
  return answer;
}

class FakeGithub {
 public:
  static constexpr const char* kAppId = "424242";
  static constexpr const char* kInstallId = "31337";
  static constexpr long long kOrgId = 7000001;
  // GitHub's deployment ids are beyond 2^31.
  static constexpr long long kFirstDeploymentId = 3000000000LL;

  FakeGithub();
  ~FakeGithub();
  FakeGithub(const FakeGithub&) = delete;
  FakeGithub& operator=(const FakeGithub&) = delete;

  // The clock of tokens, JWT checks, calls' times and created_at (the system's until set).
  // `clock` outlives this fake.
  void SetClock(const common::Clock& clock);

  std::string Url() const;
  // The App's private key as GitHub hands it out (PKCS#1 PEM), written to `path`.
  void WriteKeyFile(const std::string& path) const;

  // `team` of organisation `org` exists and has access to `repositories` (of that org).
  void AddTeam(const std::string& org, const std::string& team,
               const std::set<std::string>& repositories);
  void SetTokenLifetime(std::chrono::seconds lifetime);
  // Every token issued so far stops working (401 Bad credentials).
  void RevokeTokens();
  // The next `count` calls of `route` get `answer` instead of their normal one.
  void FailNext(const std::string& route, int count, const ScriptedAnswer& answer);
  // Forgets the scripted answers not used yet.
  void ClearFailures();
  // While held, deployment creations wait (unanswered) until released.
  void HoldCreations(bool hold);

  std::vector<GithubCall> Calls(const std::string& route = "") const;
  // Statuses accepted for a GitHub deployment id (request bodies), in arrival order.
  std::vector<nlohmann::json> Statuses(long long deployment_id) const;
  // GitHub deployments created (response bodies), in order.
  std::vector<nlohmann::json> Deployments() const;
  std::vector<std::string> Problems() const;
  // Waits until `condition` holds (checked after every call); false after `timeout`.
  bool WaitUntil(const std::function<bool()>& condition,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hookdtest
