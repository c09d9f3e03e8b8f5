#pragma once
// In-memory stand-ins for hookd's storage interfaces (hookd/store/interfaces.hpp) and its
// dispatcher intake and canceller (hookd/http/intake.hpp), for unit tests of the HTTP endpoints
// and the gRPC pb.Deploy handlers without Postgres. They keep what the Postgres store keeps, answer
// as it answers (kNotFound for a team without keys, newest expiry first, statuses newest first) and
// can be told to fail: `failure` set makes every call throw it.
#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "hookd/http/intake.hpp"
#include "hookd/store/interfaces.hpp"

namespace testsupport {

// Rethrows `failure` when it is set.
inline void ThrowIfSet(const std::exception_ptr& failure) {
  if (failure) std::rethrow_exception(failure);
}

class FakeApiKeyStore final : public hookd::store::ApiKeyStore {
 public:
  explicit FakeApiKeyStore(const common::Clock& clock) : clock_(clock) {}

  // A key of `team` valid from `created` until `expires`.
  void Add(const std::string& team, const std::string& key, common::SystemTime created,
           common::SystemTime expires) {
    keys_[team].push_back(hookd::store::ApiKey{key, team, created, expires});
  }

  std::vector<hookd::store::ApiKey> ApiKeys(const std::string& team) override {
    ThrowIfSet(failure);
    auto it = keys_.find(team);
    if (it == keys_.end() || it->second.empty()) {
      throw common::Error(common::ErrorCode::kNotFound, "database row not found");
    }
    auto keys = it->second;
    std::stable_sort(keys.begin(), keys.end(),
                     [](const auto& a, const auto& b) { return a.expires > b.expires; });
    return keys;
  }

  void RotateApiKey(const std::string& team, const std::string& key) override {
    ThrowIfSet(failure);
    const auto now = clock_.Now();
    for (auto& k : keys_[team]) {
      if (k.expires > now) k.expires = now;
    }
    keys_[team].push_back(
        hookd::store::ApiKey{key, team, now, now + std::chrono::hours(24 * 365 * 5)});
    ++rotations;
  }

  std::exception_ptr failure;
  int rotations = 0;

 private:
  const common::Clock& clock_;
  std::map<std::string, std::vector<hookd::store::ApiKey>> keys_;
};

// Deployments with their resources and statuses; also the console's list and commit reads.
class FakeDeploymentStore final : public hookd::store::DeploymentReader,
                                  public hookd::store::ConsoleReader {
 public:
  struct Entry {
    hookd::store::DeploymentRow row;
    std::vector<hookd::store::ResourceRow> resources;
    std::vector<hookd::store::StatusRow> statuses;     // oldest first, as added
    std::optional<std::array<std::string, 3>> commit;  // owner, repository, ref
  };

  void AddDeployment(hookd::store::DeploymentRow row,
                     std::vector<hookd::store::ResourceRow> resources = {}) {
    const std::string id = row.id;
    entries_[id] = Entry{std::move(row), std::move(resources), {}, std::nullopt};
  }
  // A status of an added deployment (later calls are newer).
  void AddStatus(const std::string& deployment_id, pb::DeploymentState state,
                 const std::string& state_name, const std::string& message,
                 common::SystemTime created) {
    auto& entry = entries_.at(deployment_id);
    hookd::store::StatusRow status;
    status.id = deployment_id + "-" + std::to_string(entry.statuses.size());
    status.deployment_id = deployment_id;
    status.state = state;
    status.state_name = state_name;
    status.message = message;
    status.created = created;
    entry.statuses.push_back(status);
    entry.row.state = state_name;
  }

  std::optional<hookd::store::DeploymentRow> Deployment(const std::string& id) override {
    ThrowIfSet(failure);
    auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;
    return it->second.row;
  }
  std::vector<hookd::store::ResourceRow> Resources(const std::string& deployment_id) override {
    ThrowIfSet(failure);
    auto it = entries_.find(deployment_id);
    return it == entries_.end() ? std::vector<hookd::store::ResourceRow>{} : it->second.resources;
  }
  std::vector<hookd::store::StatusRow> Statuses(const std::string& deployment_id) override {
    ThrowIfSet(failure);
    auto it = entries_.find(deployment_id);
    if (it == entries_.end()) return {};
    return {it->second.statuses.rbegin(), it->second.statuses.rend()};
  }

  // The commit hookd registered on GitHub for an added deployment.
  void SetCommit(const std::string& deployment_id, const std::string& owner,
                 const std::string& repository, const std::string& ref) {
    entries_.at(deployment_id).commit = {owner, repository, ref};
  }

  std::vector<hookd::store::ListedDeployment> ListDeployments(
      const hookd::store::DeploymentFilter& filter) override {
    ThrowIfSet(failure);
    using Micros = std::chrono::microseconds;
    auto micros = [](common::SystemTime t) {
      return std::chrono::duration_cast<Micros>(t.time_since_epoch()).count();
    };
    auto matches = [](const std::string& want, const std::optional<std::string>& value) {
      return want.empty() || value == want;
    };
    std::vector<hookd::store::ListedDeployment> out;
    for (const auto& [id, entry] : entries_) {
      const auto& row = entry.row;
      if (!matches(filter.team, row.team) || !matches(filter.cluster, row.cluster) ||
          !matches(filter.state, row.state) || !matches(filter.repository, row.github_repository)) {
        continue;
      }
      if (filter.before_micros &&
          (micros(row.created) > *filter.before_micros ||
           (micros(row.created) == *filter.before_micros && row.id >= filter.before_id))) {
        continue;
      }
      hookd::store::ListedDeployment listed{row, std::nullopt};
      for (const auto& status : entry.statuses) {
        if (!listed.last_status || status.created > *listed.last_status) {
          listed.last_status = status.created;
        }
      }
      out.push_back(std::move(listed));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::tie(a.deployment.created, a.deployment.id) >
             std::tie(b.deployment.created, b.deployment.id);
    });
    if (out.size() > static_cast<std::size_t>(filter.limit)) out.resize(filter.limit);
    return out;
  }

  std::optional<hookd::store::DeploymentCommit> DeploymentWithCommit(
      const std::string& id) override {
    ThrowIfSet(failure);
    auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;
    hookd::store::DeploymentCommit out{it->second.row, {}, {}, {}};
    if (it->second.commit) {
      out.owner = (*it->second.commit)[0];
      out.repository = (*it->second.commit)[1];
      out.ref = (*it->second.commit)[2];
    }
    return out;
  }

  std::exception_ptr failure;

 private:
  std::map<std::string, Entry> entries_;
};

// Team repositories, and their JWT authorisation with repository_id pinning as the Postgres store
// does it (the rule: hookd/grpc/auth.hpp): removing a repository drops its pin.
class FakeTeamRepositoryStore final : public hookd::store::TeamRepositoryStore,
                                      public hookd::store::RepositoryAuthorizer {
 public:
  std::vector<std::string> TeamRepositories(const std::string& team) override {
    ThrowIfSet(failure);
    const auto& repos = repositories_[team];
    std::vector<std::string> out;
    out.reserve(repos.size());
    for (const auto& [repository, id] : repos) out.push_back(repository);
    return out;
  }
  bool AddTeamRepository(const std::string& team, const std::string& repository) override {
    ThrowIfSet(failure);
    return repositories_[team].emplace(repository, "").second;
  }
  bool RemoveTeamRepository(const std::string& team, const std::string& repository) override {
    ThrowIfSet(failure);
    return repositories_[team].erase(repository) > 0;
  }
  std::optional<std::string> AuthorizeRepository(const std::string& team,
                                                 const std::string& repository,
                                                 const std::string& repository_id) override {
    ThrowIfSet(failure);
    auto& repos = repositories_[team];
    auto it = repos.find(repository);
    if (it == repos.end()) return std::nullopt;
    if (it->second.empty()) it->second = repository_id;
    return it->second;
  }

  std::exception_ptr failure;

 private:
  // team -> repository ("owner/name") -> pinned repository_id ("" when unpinned)
  std::map<std::string, std::map<std::string, std::string>> repositories_;
};

class FakeSchemaStore final : public hookd::store::SchemaStore {
 public:
  explicit FakeSchemaStore(int schema_version) : version(schema_version) {}
  int SchemaVersion() override {
    ThrowIfSet(failure);
    return version;
  }
  int version;
  std::exception_ptr failure;
};

// Records every accepted deployment and answers with its `queued` status.
class FakeIntake final : public hookd::http::DeploymentIntake {
 public:
  struct Accepted {
    pb::DeploymentRequest request;
    std::string id, request_key, idempotency_key;
  };

  explicit FakeIntake(const common::Clock& clock) : clock_(clock) {}

  pb::DeploymentStatus Deploy(pb::DeploymentRequest request, const std::string& id,
                              const std::string& request_key,
                              const std::string& idempotency_key) override {
    ThrowIfSet(failure);
    request.set_id(id);
    accepted.push_back(Accepted{request, id, request_key, idempotency_key});
    pb::DeploymentStatus status;
    *status.mutable_request() = request;
    status.set_state(pb::queued);
    status.mutable_time()->set_seconds(
        std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count());
    return status;
  }
  std::vector<std::string> KnownClusters() override {
    ThrowIfSet(failure);
    return known;
  }
  std::vector<std::string> ConnectedClusters() override { return connected; }

  std::vector<Accepted> accepted;
  std::vector<std::string> known, connected;
  std::exception_ptr failure;

 private:
  const common::Clock& clock_;
};

// Records every cancel and answers with `answer` (its request ID set to the cancelled one).
class FakeCanceller final : public hookd::http::DeploymentCanceller {
 public:
  struct Cancelled {
    std::string id, team, reason;
  };
  pb::DeploymentStatus Cancel(const std::string& id, const std::string& team,
                              const std::string& reason) override {
    ThrowIfSet(failure);
    cancelled.push_back(Cancelled{id, team, reason});
    auto status = answer;
    status.mutable_request()->set_id(id);
    status.mutable_request()->set_team(team);
    return status;
  }

  pb::DeploymentStatus answer;
  std::vector<Cancelled> cancelled;
  std::exception_ptr failure;
};

}  // namespace testsupport
