#pragma once
// hookd's HTTP API put together: every endpoint (http/endpoints.hpp) on its route
// (http/router.hpp), over the storage and dispatcher interfaces given in Backends.
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "hookd/config.hpp"
#include "hookd/http/endpoints.hpp"
#include "hookd/http/intake.hpp"
#include "hookd/http/message.hpp"
#include "hookd/http/router.hpp"
#include "hookd/metrics.hpp"
#include "hookd/store/interfaces.hpp"

namespace hookd::http {

class Console;

using Metrics = hookd::Metrics;

// URL query string -> map (percent-decoding, '+' as space).
std::map<std::string, std::string> ParseQuery(const std::string& query);
std::string HtmlEscape(const std::string& text);
// Headers of every HTML page: no sniffing, a restrictive Content-Security-Policy, no framing.
std::vector<std::pair<std::string, std::string>> PageHeaders();
// The metrics label of a request path: its route pattern (`/internal/api/v1/team/{team}/...`),
// `other` for paths no route serves, so random paths cannot grow the series.
std::string RouteLabel(const std::string& path, const std::string& metrics_path);

// What the endpoints reach: in the process store::Store and a DispatcherIntake; in unit tests
// in-memory fakes (tests/support/fake_stores.hpp).
struct Backends {
  store::ApiKeyStore& api_keys;
  store::DeploymentReader& deployments;
  store::TeamRepositoryStore& repositories;
  store::SchemaStore& schema;
  DeploymentIntake& intake;
  const common::Clock& clock;
};

// Every HTTP endpoint. Blocking (database): the server runs it on worker threads.
class Handlers {
 public:
  Handlers(const Config& config, Backends backends, Metrics& metrics);
  Handlers(const Handlers&) = delete;
  Handlers& operator=(const Handlers&) = delete;

  // The answer to `request`; never throws (the router's error boundary answers 500).
  Response Handle(const Request& request) const { return router_.Handle(request); }
  // The route label of `path` for metrics (RouteLabel with the configured metrics path).
  std::string Route(const std::string& path) const {
    return RouteLabel(path, config_.metrics_path);
  }
  // Probes and metrics: served by their own thread, never queued behind request work.
  bool IsProbe(const std::string& path) const {
    return path == "/healthz" || path == "/readyz" || path == config_.metrics_path;
  }
  // Extra readiness condition (the LISTEN connection); "" when fine, else the reason.
  void SetReadinessCheck(std::function<std::string()> check) { ready_.SetCheck(std::move(check)); }
  // The GitHub deployment of a new deployment (waits a short time for it), or null: the HTTP
  // API's 201 carries it as `githubDeployment`. Unset: never.
  void SetGithubDeployment(std::function<nlohmann::json(const std::string& deployment_id)> lookup) {
    deploy_.SetGithubDeployment(std::move(lookup));
  }
  // The console's pages (`/`, `/deployments...`; `/logs` shows its deployment page). Unset: none.
  void SetConsole(Console* console) {
    console_ = console;
    logs_.SetConsole(console);
  }
  Console* GetConsole() const { return console_; }
  // More routes (added after the built-in ones, so they cannot shadow them).
  void AddRoute(const std::string& pattern, std::vector<std::string> methods, Endpoint endpoint) {
    router_.Add(pattern, std::move(methods), std::move(endpoint));
  }

 private:
  const Config& config_;
  ReadinessEndpoint ready_;
  MetricsEndpoint metrics_;
  DeployEndpoint deploy_;
  StatusEndpoint status_;
  ProvisionEndpoint provision_;
  ProvisionEndpoint apikey_;
  ConsoleApiKeyEndpoint console_apikey_;
  TeamRepositoriesEndpoint team_repositories_;
  LogsEndpoint logs_;
  Console* console_ = nullptr;
  Router router_;
};

}  // namespace hookd::http
