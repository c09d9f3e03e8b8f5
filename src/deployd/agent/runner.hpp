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
};

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
