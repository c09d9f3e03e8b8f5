#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "deployment.pb.h"
#include "hookd/store/pool.hpp"

namespace hookd::store {

struct ApiKey {
  std::string key;  // raw (decrypted) key bytes
  std::string team;
  common::SystemTime created;
  common::SystemTime expires;
};

struct DeploymentRow {
  std::string id;
  std::string team;
  common::SystemTime created;
  std::optional<long long> github_id;
  std::optional<std::string> github_repository;
  std::optional<std::string> cluster;
  std::optional<std::string> state;
};

struct ResourceRow {
  int index = 0;
  std::string group;
  std::string version;
  std::string kind;
  std::string name;
  std::string ns;
};

struct StatusRow {
  std::string id;
  std::string deployment_id;
  pb::DeploymentState state = pb::success;
  std::string state_name;  // as stored
  std::string message;
  common::SystemTime created;
  // Filled by writes (for metrics): the deployment's team, repository, cluster and creation.
  std::string team;
  std::string repository;
  std::string cluster;
  common::SystemTime deployment_created{};
  // CreateDeployment with a request key seen before: this is the first status of the deployment
  // that the earlier request created, and nothing new was stored.
  bool replayed = false;
};

struct QueuedRequest {
  std::string deployment_id;
  std::string cluster;
  pb::DeploymentRequest request;  // empty when `unreadable` is set
  common::SystemTime deadline;
  common::SystemTime created;
  // Why the stored request could not be parsed ("" when it could). Such a row fails its own
  // deployment and never blocks the others.
  std::string unreadable;
  std::string handed_to;     // deployd instance it was last written to ("" when never)
  std::string confirmed_by;  // deployd instance whose status confirmed it ("" when none yet)
};

// Everything hookd keeps in Postgres. Every method blocks: call from worker threads only.
// Errors: common::Error{kNotFound} where documented, common::Error{kUnavailable} when the
// database cannot be reached, other pqxx exceptions pass through.
class Store {
 public:
  Store(ConnectionPool& pool, std::string encryption_key);

  // Every write that other replicas must see also sends a NOTIFY in its transaction (delivered
  // on commit): channel kQueueChannel with payload "<origin>|<cluster>" for a new queue entry,
  // kStatusChannel with "<origin>|<deployment id>|<status id>|<state>" for a new status,
  // kClusterChannel (TouchCluster) when a deployd registered here.
  // `origin` identifies this process so it can skip its own notifications.
  void SetOrigin(std::string origin) { origin_ = std::move(origin); }
  const std::string& Origin() const { return origin_; }
  static constexpr const char* kQueueChannel = "hookd_queue";
  static constexpr const char* kStatusChannel = "hookd_status";
  // "<origin>|<unix microseconds>|<cluster>": a deployd of the cluster registered at that time.
  static constexpr const char* kClusterChannel = "hookd_cluster";
  // One status by its ID (nullopt when absent).
  std::optional<StatusRow> StatusById(const std::string& status_id);

  // Keys of a team, newest expiry first, decrypted. Throws kNotFound when the team has no rows.
  // Rows that cannot be decrypted are skipped (logged).
  std::vector<ApiKey> ApiKeys(const std::string& team);
  // Expires the team's current keys and inserts `key` valid for 5 years, in one transaction.
  void RotateApiKey(const std::string& team, const std::string& key);

  // Deploy: one transaction writes the deployment, its resources, the queue entry (serialized
  // request, deadline) and the `queued` status, and sets deployment.state. Returns the status.
  // `request_key` (optional): identifies the request within its team; when a deployment was
  // already created under the same team and key, nothing is written and its first status is
  // returned with `replayed` set. `idempotency_key` (optional): the client's name for the logical
  // request (kept a day, ForgetIdempotencyKeys), handled the same way.
  StatusRow CreateDeployment(const pb::DeploymentRequest& request,
                             const std::vector<ResourceRow>& resources, common::SystemTime created,
                             common::SystemTime deadline, const std::string& queued_message,
                             const std::string& request_key = "",
                             const std::string& idempotency_key = "");
  // Forgets request keys created before `before`. Returns how many.
  int ForgetRequestKeys(common::SystemTime before);
  // Forgets idempotency keys created before `before`. Returns how many.
  int ForgetIdempotencyKeys(common::SystemTime before);
  // Inserts a status and updates deployment.state in one transaction. An unknown deployment
  // throws Error{kFailedPrecondition} with the database message; a deployment that already has a
  // final state throws Error{kFailedPrecondition} `deployment <id> has already finished (<state>);
  // later statuses are refused` (the final state is final). The first status of a queued
  // request confirms it; a final status removes it from the queue.
  StatusRow WriteStatus(const std::string& deployment_id, pb::DeploymentState state,
                        const std::string& message, common::SystemTime created);

  std::optional<DeploymentRow> Deployment(const std::string& id);
  std::vector<ResourceRow> Resources(const std::string& deployment_id);
  // Newest first (created DESC).
  std::vector<StatusRow> Statuses(const std::string& deployment_id);
  // Deployments of `cluster` created before `before` whose state is queued/in_progress, except
  // queued ones still waiting in the durable queue (those are delivered instead).
  std::vector<DeploymentRow> HistoricDeployments(const std::string& cluster,
                                                 common::SystemTime before);

  // IDs of the requests of `cluster` that no deployd has confirmed yet, oldest first.
  std::vector<std::string> UnconfirmedIds(const std::string& cluster);
  // The queue entries of the given deployments (those still queued), oldest first.
  std::vector<QueuedRequest> QueuedRequests(const std::vector<std::string>& deployment_ids);
  // Records that the requests were written to the stream of deployd instance `instance` (one
  // statement). They stay queued until deployd confirms them with a status.
  void MarkHandedOut(const std::vector<std::string>& deployment_ids, const std::string& instance);
  // Removes a request from the queue (a final state, or a row that cannot be read).
  bool MarkDelivered(const std::string& deployment_id);
  // Queue entries that end now, any cluster: unconfirmed ones whose deadline is less than
  // a margin away (10 % of their time, at most 30 s, so a waiting CLI still sees the reason), and
  // confirmed ones `grace` past their deadline (their deployd never reported a final state).
  std::vector<QueuedRequest> ExpiredRequests(common::SystemTime now, std::chrono::seconds grace);
  // Deployments of `cluster` that a deployd instance other than `instance` confirmed and never
  // finished: the process that was running them is gone.
  std::vector<std::string> LostDeployments(const std::string& cluster, const std::string& instance);

  // Known clusters: every cluster whose deployd has connected at least once. Also tells the other
  // replicas that a deployd of `cluster` registered here at `now` (kClusterChannel).
  // `credential` is the fingerprint of the deployd key ("" without deployd authentication).
  // It also takes the cluster's presence lease (ClusterPresent) for this replica until
  // now + kPresenceLease.
  void TouchCluster(const std::string& cluster, common::SystemTime now,
                    const std::string& credential = "");
  std::vector<std::string> SeenClusters();

  // Presence of deployd streams across replicas: a replica holding the stream of a cluster keeps
  // a lease on it (TouchCluster, then RenewPresence more often than kPresenceLease), and gives it
  // up when the stream ends (ReleasePresence; only a lease of this replica). A replica that dies
  // leaves a lease that runs out.
  static constexpr std::chrono::seconds kPresenceLease{90};
  void RenewPresence(const std::vector<std::string>& clusters, common::SystemTime now);
  void ReleasePresence(const std::string& cluster);
  // Some replica holds an unexpired lease on `cluster` at `now`.
  bool ClusterPresent(const std::string& cluster, common::SystemTime now);

  // Repositories ("owner/name") allowed to deploy for a team with a GitHub OIDC token.
  bool RepositoryAuthorized(const std::string& team, const std::string& repository);
  std::vector<std::string> TeamRepositories(const std::string& team);
  // true when added (false: it was there already).
  bool AddTeamRepository(const std::string& team, const std::string& repository);
  // true when removed (false: it was not there).
  bool RemoveTeamRepository(const std::string& team, const std::string& repository);

  // SELECT 1 (for readiness).
  void Ping();
  // Schema version of the database (0 when not migrated at all).
  int SchemaVersion();

  // JWT authorisation of `repository` for `team` with pinning (the rule: grpc/auth.hpp).
  // nullopt when the team does not authorise the repository. Else the row's repository_id
  // afterwards: a row without one is pinned to `repository_id` when that is not empty (trust on
  // first use; concurrent first uses pin exactly one), "" when it stays unpinned.
  std::optional<std::string> AuthorizeRepository(const std::string& team,
                                                 const std::string& repository,
                                                 const std::string& repository_id);

 private:
  ConnectionPool& pool_;
  std::string encryption_key_;
  std::string origin_;
};

}  // namespace hookd::store
