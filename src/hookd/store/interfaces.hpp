#pragma once
// The narrow views of hookd's storage that its consumers depend on. Each interface holds only
// what its consumers call, takes and returns plain values (store/records.hpp) and no database
// types. store::Store (store/store.hpp) implements all of them against Postgres; the unit tests
// use in-memory fakes (tests/support/fake_stores.hpp).
//
// Every method may block: call from worker threads only. Errors as Store documents them:
// common::Error{kNotFound} where stated, anything else (common::Error{kUnavailable}, driver
// exceptions) when the storage cannot answer.
#include <optional>
#include <string>
#include <vector>

#include "hookd/store/records.hpp"

namespace hookd::store {

// Team API keys. Consumers: the signed HTTP endpoints (deploy, status), provisioning
// (`/internal/api/v1/provision`, `/internal/api/v1/apikey`) and the console's key endpoint.
class ApiKeyStore {
 public:
  virtual ~ApiKeyStore() = default;
  // Keys of a team, newest expiry first, decrypted. Throws kNotFound when the team has no keys.
  virtual std::vector<ApiKey> ApiKeys(const std::string& team) = 0;
  // Expires the team's current keys and stores `key` valid for 5 years, atomically.
  virtual void RotateApiKey(const std::string& team, const std::string& key) = 0;
};

// Reading one deployment. Consumers: the HTTP status endpoint and the `/logs` page.
class DeploymentReader {
 public:
  virtual ~DeploymentReader() = default;
  virtual std::optional<DeploymentRow> Deployment(const std::string& id) = 0;
  // In request order.
  virtual std::vector<ResourceRow> Resources(const std::string& deployment_id) = 0;
  // Newest first.
  virtual std::vector<StatusRow> Statuses(const std::string& deployment_id) = 0;
};

// Repositories ("owner/name") a team authorises to deploy with a GitHub OIDC token.
// Consumer: the HTTP team repositories endpoint.
class TeamRepositoryStore {
 public:
  virtual ~TeamRepositoryStore() = default;
  virtual std::vector<std::string> TeamRepositories(const std::string& team) = 0;
  // true when added (false: it was there already).
  virtual bool AddTeamRepository(const std::string& team, const std::string& repository) = 0;
  // true when removed (false: it was not there).
  virtual bool RemoveTeamRepository(const std::string& team, const std::string& repository) = 0;
};

// JWT authorisation of a repository for a team, with repository_id pinning (the rule:
// grpc/auth.hpp). Consumer: pb.Deploy's JWT authentication.
class RepositoryAuthorizer {
 public:
  virtual ~RepositoryAuthorizer() = default;
  // nullopt when `team` does not authorise `repository` ("owner/name"). Else the row's
  // repository_id afterwards: a row without one is pinned to `repository_id` when that is not
  // empty (trust on first use), "" when it stays unpinned.
  virtual std::optional<std::string> AuthorizeRepository(const std::string& team,
                                                         const std::string& repository,
                                                         const std::string& repository_id) = 0;
};

// The schema's migration version. Consumer: the readiness probe.
class SchemaStore {
 public:
  virtual ~SchemaStore() = default;
  // 0 when not migrated at all.
  virtual int SchemaVersion() = 0;
};

}  // namespace hookd::store
