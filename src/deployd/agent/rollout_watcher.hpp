#pragma once
// Waits for the rollout of one applied resource with watches (no polling) and turns what it sees
// into a Verdict: kind rules from rollout/verdict.hpp, pod failure signals (fail fast with the
// evidence), relevant Events forwarded as progress, naiserator semantics for nais.io kinds.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "deployd/agent/runner.hpp"
#include "deployd/kube/apply.hpp"
#include "deployd/rollout/verdict.hpp"

namespace deployd::kube {
class KubeClient;
}

namespace deployd::agent {

inline constexpr const char* kTimeoutMessage = "timeout while waiting for deployment to succeed";
inline constexpr const char* kRedeployedMessage =
    "this application has been redeployed, aborting monitoring";

struct RolloutOptions {
  // How long a transient pod problem (image pull back-off, unschedulable) may persist.
  std::chrono::milliseconds transient_grace{std::chrono::seconds(60)};
  // CrashLoopBackOff fails the rollout from this restart count on (--crash-loop-restarts).
  int crash_loop_restarts = rollout::kDefaultCrashLoopRestarts;
};

// The original's event name matching (original.md 4.5).
bool EventMatchesResource(const std::string& resource_name, const std::string& involved_kind,
                          const std::string& involved_name);
// `<Kind>/<name> (<reason>): <message>`
std::string EventMessage(const nlohmann::json& event);

// naiserator event decision for one matching event (pure): nullopt = keep watching.
std::optional<Verdict> NaisEventVerdict(const nlohmann::json& event,
                                        const std::string& correlation_id);

using ProgressFn = std::function<void(const std::string& message)>;

class RolloutWatcher {
 public:
  RolloutWatcher(kube::KubeClient& client, RolloutOptions options)
      : client_(client), options_(options) {}

  // A deployment's claim on one written object. Claiming an object supersedes the claims of
  // other deployments on it: their waits end with `<Kind>/<name>: superseded by deployment <id>`
  // instead of two watchers fighting. Released when the last shared_ptr goes.
  struct Claim {
    std::mutex mutex;
    std::string key;
    std::string correlation_id;
    std::optional<std::string> stop_reason;  // "superseded by deployment <id>", ...
    std::function<void(const std::string&)> on_stop;
  };
  std::shared_ptr<Claim> ClaimObject(const nlohmann::json& object,
                                     const std::string& correlation_id);

  // How many threads Await(applied) starts (one per list+watch stream); 0 when it returns at
  // once because there is nothing to wait for.
  static int Threads(const kube::ApplyResult& applied);

  std::optional<Verdict> Await(const kube::ApplyResult& applied, const std::string& user,
                               const std::string& correlation_id, common::SystemTime deadline,
                               const ProgressFn& progress,
                               const std::shared_ptr<Claim>& claim = nullptr);

  // Ends every running wait with `<Kind>/<name>: deployd is shutting down` (SIGTERM).
  void Shutdown();
  // Ends the running waits of these deployments (correlation IDs) with `<Kind>/<name>: <reason>`.
  void Abandon(const std::set<std::string>& correlation_ids, const std::string& reason);

  // "<group>/<Kind>/<namespace>/<name>"
  static std::string WorkloadKey(const std::string& group, const std::string& kind,
                                 const std::string& ns, const std::string& name);

 private:
  kube::KubeClient& client_;
  RolloutOptions options_;
  std::mutex claims_mutex_;
  std::vector<std::weak_ptr<Claim>> claims_;
  bool shutting_down_ = false;
};

}  // namespace deployd::agent
