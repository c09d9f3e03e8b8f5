#pragma once
// Pure rollout verdicts: object (as returned by the API) -> in progress / done / failed, gated on
// observedGeneration. No I/O here.
#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/json_path.hpp"
#include "common/time.hpp"

namespace deployd::rollout {

enum class Phase { kInProgress, kDone, kFailed };

struct Assessment {
  Phase phase = Phase::kInProgress;
  std::string message;
};

// Which rule applies. kNone: done once written (ConfigMap, Secret, Service w/o LB, ...).
enum class Rule {
  kNone,
  kDeployment,
  kStatefulSet,
  kDaemonSet,
  kReplicaSet,
  kJob,
  kPod,
  kPersistentVolumeClaim,
  kLoadBalancerService,
  kCustomResourceDefinition,
  kNais,        // nais.io Application / Naisjob: naiserator events and status
  kConditions,  // other custom resources: Ready / Stalled / Reconciling conditions
};

Rule RuleFor(const std::string& group, const std::string& kind, const nlohmann::json& object);

// A container in CrashLoopBackOff fails the rollout at once when it has restarted at least this
// many times (--crash-loop-restarts). kubelet restarts a crashed container at once the first time
// and backs off from the second crash on, so `CrashLoopBackOff` with one restart may be a single
// bad start; two restarts are a loop.
inline constexpr int kDefaultCrashLoopRestarts = 2;

// now is used by time-based rules (unschedulable pods).
Assessment Assess(Rule rule, const nlohmann::json& object, common::SystemTime now,
                  int crash_loop_restarts = kDefaultCrashLoopRestarts);

// kubectl's rules: the Progressing condition is only read once the controller has observed the
// latest generation, so a ProgressDeadlineExceeded left from an earlier rollout never fails a new
// one. `cause`, when not empty, is the most specific problem seen during the rollout and is named
// in the failure: `deployment "web" exceeded its progress deadline: <cause> (<condition message>)`.
Assessment AssessDeployment(const nlohmann::json& d, const std::string& cause = "");
Assessment AssessStatefulSet(const nlohmann::json& s);
Assessment AssessDaemonSet(const nlohmann::json& d);
Assessment AssessReplicaSet(const nlohmann::json& r);
Assessment AssessJob(const nlohmann::json& j);
Assessment AssessConditions(const nlohmann::json& o);
Assessment AssessCrd(const nlohmann::json& o);

// A pod's problem, with evidence: fatal ones fail the rollout at once, transient ones once they
// have lasted the grace period, the rest (a crash loop below its restart count) are only reported.
struct PodProblem {
  std::string key;      // pod/container/reason, to track persistence
  std::string message;  // `pod web-abc container web: CrashLoopBackOff: back-off ... (last exit:
                        // Error, code 1, 3 restarts)`
  // fail without waiting (config errors, bad image name, CrashLoopBackOff after
  // `crash_loop_restarts` restarts)
  bool fatal_now = false;
  bool transient = false;  // fails once it has lasted the grace (image pull, unschedulable)
};
std::vector<PodProblem> PodProblems(const nlohmann::json& pod,
                                    int crash_loop_restarts = kDefaultCrashLoopRestarts);

}  // namespace deployd::rollout
