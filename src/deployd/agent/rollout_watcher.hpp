#pragma once
// Waits for the rollouts of applied resources, fed by the shared watches (kube/informer.hpp): one
// coroutine per wait, on the deployment's strand, no thread of its own. What the watches see goes
// to the pure judges: rollout::RolloutTracker (kind rules, pod problems with their grace, the
// cause named in failures, relevant Events forwarded as progress) and, for nais.io kinds,
// naiserator's events and status (NaisEventVerdict).
//
// A wait is prepared before its resource is written (Prepare: the informers it reads are listed
// and subscribed to first, so nothing the write causes is missed; what arrives is queued for it),
// told the write's result (Applied), then awaited (Await) until a verdict or the deadline.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "common/time.hpp"
#include "common/timers.hpp"
#include "deployd/agent/runner.hpp"
#include "deployd/kube/apply.hpp"
#include "deployd/kube/async_kube_client.hpp"
#include "deployd/kube/informer.hpp"
#include "deployd/rollout/verdict.hpp"

namespace deployd::agent {

namespace net = common::net;

inline constexpr const char* kTimeoutMessage = "timeout while waiting for deployment to succeed";
inline constexpr const char* kRedeployedMessage =
    "this application has been redeployed, aborting monitoring";

struct RolloutOptions {
  // How long a transient pod problem (image pull back-off, unschedulable) may persist.
  std::chrono::milliseconds transient_grace{std::chrono::seconds(60)};
  // CrashLoopBackOff fails the rollout from this restart count on (--crash-loop-restarts).
  int crash_loop_restarts = rollout::kDefaultCrashLoopRestarts;
  // How long reading a failing container's log may take (rollout/container_log.hpp); the final
  // status then says `(log not available: no answer within <n> s)`.
  std::chrono::milliseconds log_timeout{std::chrono::seconds(5)};
};

// The original's event name matching.
bool EventMatchesResource(const std::string& resource_name, const std::string& involved_kind,
                          const std::string& involved_name);
// `<Kind>/<name> (<reason>): <message>`
std::string EventMessage(const nlohmann::json& event);

// naiserator event decision for one matching event (pure): nullopt = keep watching.
std::optional<Verdict> NaisEventVerdict(const nlohmann::json& event,
                                        const std::string& correlation_id);

class RolloutWait;

class RolloutWatcher {
 public:
  // `informers` (and `logs`, when given) outlive the watcher and every wait. With `logs`, a
  // failure caused by a crashing or failing container carries that container's last log lines
  // (Verdict::log), read through it as the wait's user. `timers` (outliving the watcher too)
  // times the waits: deadlines, pod problems' grace, the log read.
  RolloutWatcher(kube::InformerRegistry& informers, RolloutOptions options,
                 kube::AsyncKubeClient* logs = nullptr,
                 const common::Timers& timers = common::RealTimers())
      : informers_(informers), options_(options), logs_(logs), timers_(timers) {}

  // A deployment's claim on one written object. Claiming an object supersedes the claims of
  // other deployments on it: their waits end with `<Kind>/<name>: superseded by deployment <id>`
  // instead of two watchers fighting. Released when the last shared_ptr goes. on_stop runs under
  // the claim's mutex, on whichever thread stops it (it only posts).
  struct Claim {
    std::mutex mutex;
    std::string key;
    std::string correlation_id;
    std::optional<std::string> stop_reason;  // "superseded by deployment <id>", ...
    std::function<void(const std::string&)> on_stop;
  };
  std::shared_ptr<Claim> ClaimObject(const nlohmann::json& object,
                                     const std::string& correlation_id);

  // Before `object` is written to `target` as `user`: the wait its rollout needs, subscribed to
  // the informers it reads (listed first when new), or nullptr for kinds without a rollout. On the
  // deployment's strand (the wait's events are posted to the caller's executor).
  net::awaitable<std::shared_ptr<RolloutWait>> Prepare(nlohmann::json object,
                                                       kube::AsyncApplier::Target target,
                                                       std::string user,
                                                       std::string correlation_id);
  // After the write: false when there is nothing to wait for after all (a custom resource
  // without status); the wait then lets its informers go.
  bool Applied(RolloutWait& wait, const kube::ApplyResult& result,
               const std::shared_ptr<Claim>& claim) const;
  // Until the verdict or `deadline`; on the wait's strand. Lets the informers go when it returns.
  static net::awaitable<std::optional<Verdict>> Await(std::shared_ptr<RolloutWait> wait,
                                                      common::SystemTime deadline,
                                                      ProgressFn progress);

  // Ends every running wait with `<Kind>/<name>: deployd is shutting down` (SIGTERM).
  void Shutdown();
  // Ends the running waits of these deployments (correlation IDs) with `<Kind>/<name>: <reason>`.
  void Abandon(const std::set<std::string>& correlation_ids, const std::string& reason);

  // "<group>/<Kind>/<namespace>/<name>"
  static std::string WorkloadKey(const std::string& group, const std::string& kind,
                                 const std::string& ns, const std::string& name);

 private:
  kube::InformerRegistry& informers_;
  RolloutOptions options_;
  kube::AsyncKubeClient* logs_;
  const common::Timers& timers_;
  std::mutex claims_mutex_;
  std::vector<std::weak_ptr<Claim>> claims_;
  bool shutting_down_ = false;
};

}  // namespace deployd::agent
