#pragma once
// Processing one deployment request: decode, order, annotate, apply each
// resource as the team, report statuses, end with success or failure.
//
// The flow is one coroutine (RunDeploymentAsync) over AsyncTeamCluster: resources are applied in
// order, then every rollout wait runs as its own coroutine on the deployment's executor, at once.
// deployd's engine runs it on its io_context; nothing here starts a thread or blocks one.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "common/time.hpp"
#include "deployment.pb.h"

namespace deployd::agent {

namespace net = common::net;

// Forwards an in_progress message (thread-safe).
using ProgressFn = std::function<void(const std::string& message)>;

inline constexpr const char* kCorrelationAnnotation = "nais.io/deploymentCorrelationID";
inline constexpr const char* kAllSavedMessage =
    "All resources saved to Kubernetes; waiting for completion";
inline constexpr const char* kPruneSkippedMessage =
    "Not every resource was applied: nothing is pruned";

// "system:serviceaccount:<team>:serviceuser-<team>"
std::string TeamServiceAccount(const std::string& team);
// "<first error> (total of <N> errors)"
std::string FailureSummary(const std::string& first_error, std::size_t count);

// Implementations must be thread-safe (deployments report from every engine thread).
class StatusSink {
 public:
  virtual ~StatusSink() = default;
  virtual void Report(pb::DeploymentStatus status) = 0;
};

// A rollout verdict for one resource (phase 2 fills this in with watchers).
struct Verdict {
  pb::DeploymentState state = pb::DeploymentState::success;
  std::string message;
  // For a failure caused by a crashing or failing container: its last log lines, or why they are
  // not available (rollout/container_log.hpp). Appended to the final failure message on lines of
  // their own, not to the resource's in_progress line.
  std::string log{};
};

// Kubernetes as one team sees it, for the engine: coroutines that resume on the caller's
// executor (the deployment's strand). Errors are common::Error whose message is the text the
// original prints after "<identifier>: ".
class AsyncTeamCluster {
 public:
  virtual ~AsyncTeamCluster() = default;
  // Writes one resource; returns it as stored (it may leave out what no wait reads).
  virtual net::awaitable<nlohmann::json> Apply(nlohmann::json object) = 0;
  // The wait for one applied resource; nullopt: nothing to wait for. An exception thrown by this
  // call itself ends the deployment with an error; one from the awaited coroutine ends only this
  // wait (an error verdict with its message).
  virtual net::awaitable<std::optional<Verdict>> AwaitRollout(nlohmann::json applied,
                                                              common::SystemTime deadline,
                                                              ProgressFn progress) = 0;

  // For plans and pruning. The defaults throw common::Error{kFailedPrecondition} "not supported
  // by this cluster".
  // The live object that `ref` names (apiVersion, kind, metadata.name and .namespace; the team's
  // namespace when it names none); nullopt when there is none.
  virtual net::awaitable<std::optional<nlohmann::json>> Get(nlohmann::json ref);
  // Server-side apply of `object` without any wait; with `dry_run` nothing is changed and the
  // answer is what the API server would store.
  virtual net::awaitable<nlohmann::json> Write(nlohmann::json object, bool dry_run);
  // The objects of a group-kind (in namespace `ns`; every one of a cluster-scoped kind) that
  // match `label_selector`, each with apiVersion and kind set. A kind the API server does not
  // serve has none.
  virtual net::awaitable<std::vector<nlohmann::json>> List(std::string group, std::string kind,
                                                           std::string ns,
                                                           std::string label_selector);
  // Deletes the object (propagation Background, only if its uid is still metadata.uid).
  virtual net::awaitable<void> Delete(nlohmann::json object);
};

class AsyncClusterFactory {
 public:
  virtual ~AsyncClusterFactory() = default;
  virtual std::unique_ptr<AsyncTeamCluster> ForTeam(const std::string& team) = 0;
};

// Stable order: Namespaces, then CustomResourceDefinitions, then the rest as given.
std::vector<nlohmann::json> OrderForApply(std::vector<nlohmann::json> resources);

struct RunOptions {
  // This agent's cluster (--cluster). A request for any other cluster is refused.
  std::string cluster;
  // true once deployd has given this deployment up (another deployd took over the cluster): the
  // runner applies nothing more, starts no further waits and returns without a final status.
  std::function<bool()> abandoned;
  // Who cancelled the deployment ("team <t> (reason: <r>)"), nullopt while it is not cancelled.
  // Once cancelled, the runner applies nothing more, starts no further waits (deployd ends the
  // running ones) and reports `failure` with CancelMessage.
  std::function<std::optional<std::string>()> cancelled;
};

// "cancelled by <by>: <applied> of <total> resources had been applied and stay in the cluster"
std::string CancelMessage(const std::string& by, std::size_t applied, std::size_t total);

// One deployment, as the engine runs it: on the caller's executor, every rollout wait a coroutine
// of its own. Refuses, with a final `error` status and before anything reaches Kubernetes, a
// request whose team is not a DNS-1123 label (common::InvalidLabel's message) or whose cluster is
// not options.cluster (`deployment request is for cluster "<theirs>", but this deployd serves
// cluster "<ours>"`). Never throws: any unexpected exception ends the deployment with `error
// deployd could not process the deployment: <reason>`. `clusters`, `sink` and `clock` outlive it.
net::awaitable<void> RunDeploymentAsync(pb::DeploymentRequest request,
                                        AsyncClusterFactory& clusters, StatusSink& sink,
                                        const common::Clock& clock, RunOptions options);

}  // namespace deployd::agent
