#pragma once
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "deployment.pb.h"
#include "hookd/dispatch/hub.hpp"
#include "hookd/dispatch/observer.hpp"
#include "hookd/dispatch/rules.hpp"
#include "hookd/metrics.hpp"
#include "hookd/store/interfaces.hpp"

namespace hookd::dispatch {

// Resource identifiers of a request, in order. Throws common::Error{kInvalidArgument}
// `invalid Kubernetes resources in request: resource <n>: decoding payload: <reason>`.
std::vector<store::ResourceRow> ParseResources(const pb::DeploymentRequest& request);

// The transport-neutral core of hookd: accepting deployments, storing statuses and fanning them
// out, invalidating lost deployments, expiring the durable queue. Blocking (database): call it
// from worker threads. Errors are common::Error with the user-facing message. Storage is reached
// only through store::DispatchStore (Postgres in hookd, an in-memory fake in the unit tests).
class Dispatcher {
 public:
  Dispatcher(store::DispatchStore& store, StatusHub& hub, ClusterRegistry& clusters,
             const common::Clock& clock);

  // Fixed clusters (--clusters) that are always known, and --cluster-migration-redirect.
  void SetStaticClusters(std::vector<std::string> clusters);
  void SetClusterRedirects(std::map<std::string, std::string> redirects);

  // Accepts a deployment: new ID, stored with its resources and the `queued` status in one
  // transaction, queued durably for its cluster, handed to the cluster's stream if connected.
  // Returns the queued status carrying the full request.
  // `id`: the deployment ID to use (the HTTP API uses its correlation ID); a new UUID if empty.
  // An unknown cluster (see KnownClusters) is rejected with kInvalidArgument when
  // `reject_unknown_clusters` is on.
  // `request_key`: see Store::CreateDeployment; a replayed request returns the first status of the
  // deployment created earlier (its request carries that deployment's ID) and changes nothing.
  // `idempotency_key`: the client's name for the logical request (it sends the same key when it
  // retries); like `request_key`, and validated first (kInvalidArgument, kIdempotencyKeyRule).
  pb::DeploymentStatus Deploy(pb::DeploymentRequest request, const std::string& id = "",
                              const std::string& request_key = "",
                              const std::string& idempotency_key = "");
  // What an idempotency key may be: its rule, as error messages say it.
  static constexpr const char* kIdempotencyKeyRule = dispatch::kIdempotencyKeyRule;
  static bool ValidIdempotencyKey(const std::string& key) { return IsValidIdempotencyKey(key); }
  void SetRejectUnknownClusters(bool reject) { reject_unknown_clusters_ = reject; }
  // Optional: state transitions, queue size and lead time are recorded here.
  void SetMetrics(Metrics* metrics) { metrics_ = metrics; }
  // Optional: told about new deployments and stored statuses (the GitHub mirror).
  void SetObserver(DeploymentObserver* observer) { observer_ = observer; }

  // A status stored by another replica (LISTEN/NOTIFY): read it and fan it out to the local
  // subscribers of the deployment, if any. Blocking.
  void PublishStored(const std::string& deployment_id, const std::string& status_id);
  // Another replica stored `state` for a deployment: keeps this process's queue-size gauge right.
  void ObserveRemoteState(const std::string& deployment_id, const std::string& state) {
    if (metrics_ != nullptr) metrics_->ObserveRemoteState(deployment_id, state);
  }
  // After notifications may have been missed (listener reconnect): every subscribed
  // deployment's stored statuses are fanned out again (streams drop the ones already sent).
  void Resync();

  // Stores a status and fans it out. Unknown deployment -> kFailedPrecondition; database down
  // -> kUnavailable `write deployment status to database: <err>`.
  store::StatusRow HandleStatus(const std::string& deployment_id, pb::DeploymentState state,
                                const std::string& message, common::SystemTime time);
  // After a status was stored (by HandleStatus, or by another write such as a cancel): records
  // it in the metrics, fans it out to local subscribers and tells the observer.
  void AnnounceStored(const store::StatusRow& row);

  // A deployd process `instance` of `cluster` (started at `startup`) connected: deployments that
  // an earlier process confirmed and never finished become `inactive` ("Deployment has been
  // lost."); the ones this process confirmed go on; unconfirmed ones are sent again. Returns how
  // many were invalidated.
  int InvalidateHistoric(const std::string& cluster, common::SystemTime startup,
                         const std::string& instance);

  // Queue entries past their deadline end as `error` naming the cluster: unconfirmed ones a
  // little before it (so a CLI waiting until the deadline sees why), confirmed ones
  // kConfirmedGrace after it (deployd reports its own timeout first). Returns how many.
  int ExpireQueued();
  // A queue entry whose stored request cannot be parsed: removed from the queue, and its
  // deployment ends as `error` saying so. Blocking; throws when the database fails.
  void FailUnreadable(const store::QueuedRequest& entry);
  // A queue entry the cluster's deployd cannot receive (`reason`, e.g. larger than its limit):
  // removed from the queue, and its deployment ends as `error` with the reason. Blocking.
  void FailUndeliverable(const store::QueuedRequest& entry, const std::string& reason);

  // The message of a new deployment's `queued` status: the original's while a deployd of
  // `cluster` is connected (to this replica or another, Store::ClusterPresent), else
  // "deployd for cluster '<cluster>' is not connected; waiting until <deadline, RFC 3339>".
  std::string QueuedMessage(const std::string& cluster, common::SystemTime deadline);

  // Known clusters: --clusters, every cluster that ever connected, and the connected ones.
  std::vector<std::string> KnownClusters();

  store::DispatchStore& Store() { return store_; }
  StatusHub& Hub() { return hub_; }
  ClusterRegistry& Clusters() { return clusters_; }
  const common::Clock& Clock() const { return clock_; }

  // Queue deadline for requests without one (the original's HTTP API used now + 30 min).
  static constexpr std::chrono::minutes kDefaultDeadline = dispatch::kDefaultDeadline;
  // How far a client-set deadline may lie ahead, and a client-set time behind.
  static constexpr std::chrono::hours kMaxClientHorizon{24};
  // How long after its deadline a deployment that deployd confirmed may still end by itself.
  static constexpr std::chrono::seconds kConfirmedGrace{60};

 private:
  store::DispatchStore& store_;
  StatusHub& hub_;
  ClusterRegistry& clusters_;
  const common::Clock& clock_;
  std::vector<std::string> static_clusters_;
  std::map<std::string, std::string> redirects_;
  bool reject_unknown_clusters_ = false;
  Metrics* metrics_ = nullptr;
  DeploymentObserver* observer_ = nullptr;
};

// Status as sent on the wire: request carries only the deployment ID (like the original).
pb::DeploymentStatus ToWireStatus(const store::StatusRow& row);

}  // namespace hookd::dispatch
