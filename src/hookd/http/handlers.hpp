#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "hookd/config.hpp"
#include "hookd/dispatch/dispatcher.hpp"
#include "hookd/metrics.hpp"

namespace hookd::http {

class Console;

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without query string, trailing '/' stripped (chi StripSlashes)
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names lower case
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type;  // empty: no Content-Type header
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

using Metrics = hookd::Metrics;

std::string RouteLabel(const std::string& path, const std::string& metrics_path);

// Every HTTP endpoint. Blocking (database): the server runs it on worker threads.
class Handlers {
 public:
  Handlers(const Config& config, dispatch::Dispatcher& dispatcher, Metrics& metrics);
  Response Handle(const Request& request);
  // The route label of `path` for metrics (RouteLabel with the configured metrics path).
  std::string Route(const std::string& path) const {
    return RouteLabel(path, config_.metrics_path);
  }
  // Probes and metrics: served by their own thread, never queued behind request work.
  bool IsProbe(const std::string& path) const {
    return path == "/healthz" || path == "/readyz" || path == config_.metrics_path;
  }
  // Extra readiness condition (the LISTEN connection); "" when fine, else the reason.
  void SetReadinessCheck(std::function<std::string()> check) { readiness_ = std::move(check); }
  // The GitHub deployment of a new deployment (waits a short time for it), or null: the HTTP
  // API's 201 carries it as `githubDeployment`. Unset: never.
  void SetGithubDeployment(std::function<nlohmann::json(const std::string& deployment_id)> lookup) {
    github_deployment_ = std::move(lookup);
  }
  // The console's pages (`/`, `/deployments...`; `/logs` shows its deployment page). Unset: none.
  void SetConsole(Console* console) { console_ = console; }
  Console* GetConsole() const { return console_; }

 private:
  enum class Signature { kValid, kInvalid, kBackendError };
  bool FrontendKeyValid(const Request& request) const;
  Signature CheckTeamSignature(const std::string& team, const std::string& body,
                               const std::string& mac);
  Response Deploy(const Request& request);
  Response Status(const Request& request);
  Response Logs(const Request& request);
  Response Ready();
  Response Provision(const Request& request, bool apikey_only);
  Response ConsoleApiKey(const Request& request, const std::string& team);
  Response TeamRepositories(const Request& request, const std::string& rest);
  Response LogRedirect(const Request& request);

  const Config& config_;
  dispatch::Dispatcher& dispatcher_;
  Metrics& metrics_;
  std::function<std::string()> readiness_;
  std::function<nlohmann::json(const std::string&)> github_deployment_;
  Console* console_ = nullptr;
};

// URL query string -> map (percent-decoding, '+' as space).
std::map<std::string, std::string> ParseQuery(const std::string& query);
std::string HtmlEscape(const std::string& text);
// Headers of every HTML page: no sniffing, a restrictive Content-Security-Policy, no framing.
std::vector<std::pair<std::string, std::string>> PageHeaders();
// The metrics label of a request path: its route pattern (`/internal/api/v1/team/{team}/...`),
// `other` for paths no route serves, so random paths cannot grow the series.
std::string RouteLabel(const std::string& path, const std::string& metrics_path);

// The original's /logs redirect targets. `formatter` "GCP" -> Google Logs Explorer,
// anything else -> Kibana. Throws common::Error{kInvalidArgument} with the formatter error
// (`unknown cluster <c>`, `version '<id>' is not supported`).
std::string LogLink(const std::string& formatter, const std::string& delivery_id,
                    std::int64_t unix_seconds, int version, const std::string& cluster,
                    const std::map<std::string, std::string>& cluster_projects);
// Rison encoding of a string.
std::string RisonString(const std::string& value);

}  // namespace hookd::http
