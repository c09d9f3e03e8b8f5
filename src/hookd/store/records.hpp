#pragma once
// The plain values that cross the storage boundary: what the store interfaces
// (store/interfaces.hpp) take and return. No database types.
#include <optional>
#include <string>

#include "common/time.hpp"
#include "deployment.pb.h"

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

// A filter of the console's deployment list; an empty string matches every value.
struct DeploymentFilter {
  std::string team, cluster, state, repository;
  // Only the deployments after this cursor in the list's order (created, then id, newest first):
  // created at `before_micros` (unix microseconds) with an id below `before_id`, or earlier.
  std::optional<long long> before_micros;
  std::string before_id;
  int limit = 50;
};

// A row of the console's deployment list.
struct ListedDeployment {
  DeploymentRow deployment;
  std::optional<common::SystemTime> last_status;  // when its newest status was written
};

// A deployment with the commit hookd registered on GitHub for it (github_deployment), if any.
struct DeploymentCommit {
  DeploymentRow deployment;
  std::optional<std::string> owner, repository, ref;
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

// What a cancel did (DispatchStore::CancelDeployment).
struct CancelOutcome {
  // true: the request had not been handed to a deployd; it left the queue and `status` (the
  // final status `withdrawn_state` with `withdrawn_message`) was written. false: a deployd has
  // it; the cancel is recorded and the cluster's stream was notified.
  bool withdrawn = false;
  StatusRow status;
  std::string cluster;
  std::string state;               // the deployment's state before the cancel
  bool already_requested = false;  // not withdrawn: a cancel was recorded earlier
};

// A recorded cancel of a deployment that has not ended (QueueStore::PendingCancels).
struct PendingCancel {
  std::string deployment_id;
  std::string team;
  std::string reason;
};

}  // namespace hookd::store
