#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "deployment.pb.h"
#include "hookd/store/interfaces.hpp"
#include "hookd/store/pool.hpp"
#include "hookd/store/records.hpp"

namespace hookd::store {

// Everything hookd keeps in Postgres. Every method blocks: call from worker threads only.
// Errors: common::Error{kNotFound} where documented, common::Error{kUnavailable} when the
// database cannot be reached, other pqxx exceptions pass through.
class Store final : public ApiKeyStore,
                    public DeploymentReader,
                    public ConsoleReader,
                    public TeamRepositoryStore,
                    public RepositoryAuthorizer,
                    public SchemaStore,
                    public DispatchStore,
                    public QueueStore {
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
  std::optional<StatusRow> StatusById(const std::string& status_id) override;

  // Keys of a team, newest expiry first, decrypted. Throws kNotFound when the team has no rows.
  // Rows that cannot be decrypted are skipped (logged).
  std::vector<ApiKey> ApiKeys(const std::string& team) override;
  // Expires the team's current keys and inserts `key` valid for 5 years, in one transaction.
  void RotateApiKey(const std::string& team, const std::string& key) override;

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
                             const std::string& idempotency_key = "") override;
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
                        const std::string& message, common::SystemTime created) override;

  std::optional<DeploymentRow> Deployment(const std::string& id) override;
  std::vector<ResourceRow> Resources(const std::string& deployment_id) override;
  // Newest first (created DESC).
  std::vector<StatusRow> Statuses(const std::string& deployment_id) override;
  // Keyset pagination over (created, id): the index on created serves both the order and the
  // cursor; ties are broken by id.
  std::vector<ListedDeployment> ListDeployments(const DeploymentFilter& filter) override;
  std::optional<DeploymentCommit> DeploymentWithCommit(const std::string& id) override;
  // Deployments of `cluster` created before `before` whose state is queued/in_progress, except
  // queued ones still waiting in the durable queue (those are delivered instead).
  std::vector<DeploymentRow> HistoricDeployments(const std::string& cluster,
                                                 common::SystemTime before) override;

  // IDs of the requests of `cluster` that no deployd has confirmed yet, oldest first.
  std::vector<std::string> UnconfirmedIds(const std::string& cluster) override;
  // The queue entries of the given deployments (those still queued), oldest first.
  std::vector<QueuedRequest> QueuedRequests(
      const std::vector<std::string>& deployment_ids) override;
  // Records that the requests were written to the stream of deployd instance `instance` (one
  // statement). They stay queued until deployd confirms them with a status.
  void MarkHandedOut(const std::vector<std::string>& deployment_ids, const std::string& instance);
  // Removes a request from the queue (a final state, or a row that cannot be read).
  bool MarkDelivered(const std::string& deployment_id) override;
  // Queue entries that end now, any cluster: unconfirmed ones whose deadline is less than
  // a margin away (10 % of their time, at most 30 s, so a waiting CLI still sees the reason), and
  // confirmed ones `grace` past their deadline (their deployd never reported a final state).
  std::vector<QueuedRequest> ExpiredRequests(common::SystemTime now,
                                             std::chrono::seconds grace) override;
  // Deployments of `cluster` that a deployd instance other than `instance` confirmed and never
  // finished: the process that was running them is gone.
  std::vector<std::string> LostDeployments(const std::string& cluster,
                                           const std::string& instance) override;

  // Known clusters: every cluster whose deployd has connected at least once. Also tells the other
  // replicas that a deployd of `cluster` registered here at `now` (kClusterChannel).
  // `credential` is the fingerprint of the deployd key ("" without deployd authentication).
  // It also takes the cluster's presence lease (ClusterPresent) for this replica until
  // now + kPresenceLease.
  void TouchCluster(const std::string& cluster, common::SystemTime now,
                    const std::string& credential = "") override;
  std::vector<std::string> SeenClusters() override;

  // Presence of deployd streams across replicas: a replica holding the stream of a cluster keeps
  // a lease on it (TouchCluster, then RenewPresence more often than kPresenceLease), and gives it
  // up when the stream ends (ReleasePresence; only a lease of this replica). A replica that dies
  // leaves a lease that runs out.
  static constexpr std::chrono::seconds kPresenceLease{90};
  void RenewPresence(const std::vector<std::string>& clusters, common::SystemTime now);
  void ReleasePresence(const std::string& cluster) override;
  // Some replica holds an unexpired lease on `cluster` at `now`.
  bool ClusterPresent(const std::string& cluster, common::SystemTime now) override;

  // Repositories ("owner/name") allowed to deploy for a team with a GitHub OIDC token.
  bool RepositoryAuthorized(const std::string& team, const std::string& repository);
  std::vector<std::string> TeamRepositories(const std::string& team) override;
  // true when added (false: it was there already).
  bool AddTeamRepository(const std::string& team, const std::string& repository) override;
  // true when removed (false: it was not there).
  bool RemoveTeamRepository(const std::string& team, const std::string& repository) override;

  // SELECT 1 (for readiness).
  void Ping();
  // Schema version of the database (0 when not migrated at all).
  int SchemaVersion() override;

  // JWT authorisation of `repository` for `team` with pinning (the rule: grpc/auth.hpp).
  // nullopt when the team does not authorise the repository. Else the row's repository_id
  // afterwards: a row without one is pinned to `repository_id` when that is not empty (trust on
  // first use; concurrent first uses pin exactly one), "" when it stays unpinned.
  std::optional<std::string> AuthorizeRepository(const std::string& team,
                                                 const std::string& repository,
                                                 const std::string& repository_id) override;

  // Cancel (pb.Deploy/Cancel, POST /api/v1/cancel). Every call blocks, like the rest.
  // Like MarkHandedOut, and returns the IDs it marked: a request withdrawn meanwhile
  // (CancelDeployment) is not among them and must not be sent.
  std::vector<std::string> HandOut(const std::vector<std::string>& deployment_ids,
                                   const std::string& instance) override;
  // Cancels deployment `id` on behalf of `team`, in one transaction that locks the deployment
  // and its queue entry (so a concurrent hand-out either happened before, or marks nothing).
  // Errors (common::Error): kNotFound `deployment '<id>' not found`; kPermissionDenied
  // `deployment '<id>' does not belong to team "<team>"; only its own team may cancel it`;
  // kFailedPrecondition `deployment '<id>' has already finished (<state>); there is nothing to
  // cancel`, or `cluster "<c>"'s deployd cannot cancel a running deployment` when the cluster's
  // deployd did not announce the capability `cancel`.
  CancelOutcome CancelDeployment(const std::string& id, const std::string& team,
                                 const std::string& reason, pb::DeploymentState withdrawn_state,
                                 const std::string& withdrawn_message,
                                 common::SystemTime now) override;
  // Recorded cancels of deployments of `cluster` that have not ended, oldest first.
  std::vector<PendingCancel> PendingCancels(const std::string& cluster) override;
  // What the cluster's deployd announced (comma-separated, "" for nothing); stored at connect.
  void SetClusterCapabilities(const std::string& cluster, const std::string& capabilities) override;

 private:
  ConnectionPool& pool_;
  std::string encryption_key_;
  std::string origin_;
};

}  // namespace hookd::store
