#pragma once
// The narrow views of hookd's storage that its consumers depend on. Each interface holds only
// what its consumers call, takes and returns plain values (store/records.hpp) and no database
// types. store::Store (store/store.hpp) implements all of them against Postgres; the unit tests
// use in-memory fakes (tests/support/fake_stores.hpp).
//
// Every method may block: call from worker threads only. Errors as Store documents them:
// common::Error{kNotFound} where stated, anything else (common::Error{kUnavailable}, driver
// exceptions) when the storage cannot answer.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "deployment.pb.h"
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

// The console's own reads. Consumer: the console (its list and deployment pages).
class ConsoleReader {
 public:
  virtual ~ConsoleReader() = default;
  // Deployments matching `filter`, newest first (created, then id, both descending), at most
  // filter.limit of them.
  virtual std::vector<ListedDeployment> ListDeployments(const DeploymentFilter& filter) = 0;
  // nullopt when there is no such deployment.
  virtual std::optional<DeploymentCommit> DeploymentWithCommit(const std::string& id) = 0;
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

// Deployments, their statuses and the durable queue's end of life, as the dispatcher
// (dispatch/dispatcher.hpp) and the cancel (dispatch/cancel.hpp) use them.
class DispatchStore {
 public:
  virtual ~DispatchStore() = default;
  // One transaction writes the deployment, its resources, the queue entry (request, deadline) and
  // the `queued` status with `queued_message`. `request_key`/`idempotency_key` (optional): when a
  // deployment was already created by the same team under the same key, nothing is written and
  // its first status is returned with `replayed` set.
  virtual StatusRow CreateDeployment(const pb::DeploymentRequest& request,
                                     const std::vector<ResourceRow>& resources,
                                     common::SystemTime created, common::SystemTime deadline,
                                     const std::string& queued_message,
                                     const std::string& request_key,
                                     const std::string& idempotency_key) = 0;
  // Stores a status and the deployment's state. kFailedPrecondition for an unknown deployment or
  // one that has already finished. The first status of a queued request confirms it; a final
  // one removes it from the queue.
  virtual StatusRow WriteStatus(const std::string& deployment_id, pb::DeploymentState state,
                                const std::string& message, common::SystemTime created) = 0;
  virtual std::optional<StatusRow> StatusById(const std::string& status_id) = 0;
  // Newest first.
  virtual std::vector<StatusRow> Statuses(const std::string& deployment_id) = 0;
  // Deployments of `cluster` created before `before` and still queued/in_progress that the queue
  // does not hold (handed out before the queue existed).
  virtual std::vector<DeploymentRow> HistoricDeployments(const std::string& cluster,
                                                         common::SystemTime before) = 0;
  // Deployments of `cluster` that a deployd instance other than `instance` confirmed and never
  // finished.
  virtual std::vector<std::string> LostDeployments(const std::string& cluster,
                                                   const std::string& instance) = 0;
  // Queue entries that end now: unconfirmed ones shortly before their deadline, confirmed ones
  // `grace` after it.
  virtual std::vector<QueuedRequest> ExpiredRequests(common::SystemTime now,
                                                     std::chrono::seconds grace) = 0;
  // Removes a request from the queue. false when it was not there.
  virtual bool MarkDelivered(const std::string& deployment_id) = 0;
  // Some replica holds an unexpired lease on the cluster's deployd stream at `now`.
  virtual bool ClusterPresent(const std::string& cluster, common::SystemTime now) = 0;
  // Every cluster whose deployd has connected at least once.
  virtual std::vector<std::string> SeenClusters() = 0;
  // Cancels deployment `id` on behalf of `team` (store/store.hpp has the errors): withdraws a
  // request no deployd has, writing `withdrawn_state` with `withdrawn_message`; records the
  // cancel of one a deployd has.
  virtual CancelOutcome CancelDeployment(const std::string& id, const std::string& team,
                                         const std::string& reason,
                                         pb::DeploymentState withdrawn_state,
                                         const std::string& withdrawn_message,
                                         common::SystemTime now) = 0;
};

// The durable queue and the presence of deployd streams, as a cluster's pb.Dispatch stream
// (grpc/server.cpp) uses them.
class QueueStore {
 public:
  virtual ~QueueStore() = default;
  // A deployd of `cluster` registered at `now` (with key fingerprint `credential`, "" without
  // deployd authentication): the cluster is known, and this replica holds its presence lease.
  virtual void TouchCluster(const std::string& cluster, common::SystemTime now,
                            const std::string& credential) = 0;
  // What the cluster's deployd announced (comma-separated, "" for nothing).
  virtual void SetClusterCapabilities(const std::string& cluster,
                                      const std::string& capabilities) = 0;
  // IDs of the requests of `cluster` that no deployd has confirmed yet, oldest first.
  virtual std::vector<std::string> UnconfirmedIds(const std::string& cluster) = 0;
  // The queue entries of the given deployments (those still queued), oldest first.
  virtual std::vector<QueuedRequest> QueuedRequests(
      const std::vector<std::string>& deployment_ids) = 0;
  // Records that the requests are written to deployd instance `instance` and returns the IDs it
  // marked: a request withdrawn meanwhile (a cancel) is not among them and must not be sent.
  virtual std::vector<std::string> HandOut(const std::vector<std::string>& deployment_ids,
                                           const std::string& instance) = 0;
  // Recorded cancels of deployments of `cluster` that have not ended, oldest first.
  virtual std::vector<PendingCancel> PendingCancels(const std::string& cluster) = 0;
  // Gives up this replica's presence lease on `cluster` (its stream ended).
  virtual void ReleasePresence(const std::string& cluster) = 0;
};

}  // namespace hookd::store
