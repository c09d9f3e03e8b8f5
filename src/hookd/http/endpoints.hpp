#pragma once
// The endpoints of hookd's HTTP API, one class each. They see requests as values
// (http/message.hpp) and reach storage only through the narrow interfaces they own
// (store/interfaces.hpp, http/intake.hpp), so each can be tested with in-memory fakes.
// Routing (method, path, the 405/404 answers) and the error boundary are the Router's
// (http/router.hpp); the wiring is Handlers' (http/handlers.hpp).
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "hookd/config.hpp"
#include "hookd/http/intake.hpp"
#include "hookd/http/message.hpp"
#include "hookd/metrics.hpp"
#include "hookd/store/interfaces.hpp"

namespace hookd::http {

class Console;

// GET /readyz: 200 `ready` when the schema is migrated to the latest version and the extra check
// (the LISTEN connection) passes; 503 with the reason otherwise.
class ReadinessEndpoint {
 public:
  explicit ReadinessEndpoint(store::SchemaStore& schema) : schema_(schema) {}
  // Extra readiness condition: "" when fine, else the reason.
  void SetCheck(std::function<std::string()> check) { check_ = std::move(check); }
  Response Handle(const Request& request) const;

 private:
  store::SchemaStore& schema_;
  std::function<std::string()> check_;
};

// GET <metrics path>: the Prometheus text exposition.
class MetricsEndpoint {
 public:
  MetricsEndpoint(DeploymentIntake& intake, Metrics& metrics)
      : intake_(intake), metrics_(metrics) {}
  Response Handle(const Request& request) const;

 private:
  DeploymentIntake& intake_;
  Metrics& metrics_;
};

// POST /api/v1/deploy: a deployment request signed with a key of its team.
class DeployEndpoint {
 public:
  DeployEndpoint(const Config& config, store::ApiKeyStore& keys, DeploymentIntake& intake,
                 const common::Clock& clock)
      : config_(config), keys_(keys), intake_(intake), clock_(clock) {}
  // The GitHub deployment of a new deployment (waits a short time for it), or null: the 201
  // carries it as `githubDeployment`. Unset: never.
  void SetGithubDeployment(std::function<nlohmann::json(const std::string& deployment_id)> lookup) {
    github_deployment_ = std::move(lookup);
  }
  Response Handle(const Request& request) const;

 private:
  const Config& config_;
  store::ApiKeyStore& keys_;
  DeploymentIntake& intake_;
  const common::Clock& clock_;
  std::function<nlohmann::json(const std::string&)> github_deployment_;
};

// POST /api/v1/status: the latest status of a deployment of the signing team.
class StatusEndpoint {
 public:
  StatusEndpoint(store::ApiKeyStore& keys, store::DeploymentReader& deployments,
                 const common::Clock& clock)
      : keys_(keys), deployments_(deployments), clock_(clock) {}
  Response Handle(const Request& request) const;

 private:
  store::ApiKeyStore& keys_;
  store::DeploymentReader& deployments_;
  const common::Clock& clock_;
};

// POST /internal/api/v1/provision (kProvision: creates or rotates a team's key) and
// POST /internal/api/v1/apikey (kApiKey: returns the valid keys), signed with the provision key.
class ProvisionEndpoint {
 public:
  enum class Mode { kProvision, kApiKey };
  ProvisionEndpoint(const Config& config, store::ApiKeyStore& keys, const common::Clock& clock,
                    Mode mode)
      : config_(config), keys_(keys), clock_(clock), mode_(mode) {}
  Response Handle(const Request& request) const;

 private:
  const Config& config_;
  store::ApiKeyStore& keys_;
  const common::Clock& clock_;
  Mode mode_;
};

// GET, POST /internal/api/v1/console/apikey/{team} (X-PSK): read or rotate a team's key.
class ConsoleApiKeyEndpoint {
 public:
  ConsoleApiKeyEndpoint(const Config& config, store::ApiKeyStore& keys, const common::Clock& clock)
      : config_(config), keys_(keys), clock_(clock) {}
  Response Handle(const Request& request, const std::string& team) const;

 private:
  const Config& config_;
  store::ApiKeyStore& keys_;
  const common::Clock& clock_;
};

// /internal/api/v1/team/{team}/repositories (GET, POST) and .../repositories/{owner}/{name}
// (DELETE), X-PSK: the repositories a team authorises for GitHub OIDC deployments.
// `rest` is the path after `/internal/api/v1/team/`.
class TeamRepositoriesEndpoint {
 public:
  TeamRepositoriesEndpoint(const Config& config, store::TeamRepositoryStore& repositories)
      : config_(config), repositories_(repositories) {}
  Response Handle(const Request& request, const std::string& rest) const;

 private:
  const Config& config_;
  store::TeamRepositoryStore& repositories_;
};

// GET /logs?delivery_id=...: the deployment's page (the console's when there is one, else a
// plain page); with a log link formatter configured, a redirect to the logs instead.
class LogsEndpoint {
 public:
  LogsEndpoint(const Config& config, store::DeploymentReader& deployments)
      : config_(config), deployments_(deployments) {}
  void SetConsole(Console* console) { console_ = console; }
  Response Handle(const Request& request) const;

 private:
  Response Page(const Request& request) const;
  Response Redirect(const Request& request) const;

  const Config& config_;
  store::DeploymentReader& deployments_;
  Console* console_ = nullptr;
};

// The original's /logs redirect targets. `formatter` "GCP" -> Google Logs Explorer,
// anything else -> Kibana. Throws common::Error{kInvalidArgument} with the formatter error
// (`unknown cluster <c>`, `version '<id>' is not supported`).
std::string LogLink(const std::string& formatter, const std::string& delivery_id,
                    std::int64_t unix_seconds, int version, const std::string& cluster,
                    const std::map<std::string, std::string>& cluster_projects);
// Rison encoding of a string.
std::string RisonString(const std::string& value);

}  // namespace hookd::http
