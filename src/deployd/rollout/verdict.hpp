#pragma once
// Pure rollout verdicts: object (as returned by the API) -> in progress / done / failed, gated on
// observedGeneration (kube-api.md 6, peers.md). No I/O here.
#include <chrono>
#include <initializer_list>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

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

// The value at a path of object keys; nullptr when a step is missing or not an object.
const nlohmann::json* Find(const nlohmann::json& o, std::initializer_list<const char*> path);
// The string at a path of object keys; "" when missing or not a string.
std::string StringAt(const nlohmann::json& o, std::initializer_list<const char*> path);

Rule RuleFor(const std::string& group, const std::string& kind, const nlohmann::json& object);

// now is used by time-based rules (unschedulable pods).
Assessment Assess(Rule rule, const nlohmann::json& object, common::SystemTime now);

Assessment AssessDeployment(const nlohmann::json& d);
Assessment AssessStatefulSet(const nlohmann::json& s);
Assessment AssessDaemonSet(const nlohmann::json& d);
Assessment AssessReplicaSet(const nlohmann::json& r);
Assessment AssessJob(const nlohmann::json& j);
Assessment AssessConditions(const nlohmann::json& o);
Assessment AssessCrd(const nlohmann::json& o);

// A pod's problem that should fail the rollout, with evidence. `first_seen` is when this
// pod/container/reason was first observed (for transient reasons with a grace period).
struct PodProblem {
  std::string key;      // pod/container/reason, to track persistence
  std::string message;  // `pod web-abc container web: CrashLoopBackOff: back-off ... (last exit: Error, code 1, 3 restarts)`
  bool fatal_now = false;  // fail without waiting (CrashLoopBackOff, config errors, bad image name)
};
std::vector<PodProblem> PodProblems(const nlohmann::json& pod);

}  // namespace deployd::rollout
