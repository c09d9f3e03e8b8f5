#include "deployd/rollout/verdict.hpp"

#include <fmt/format.h>

namespace deployd::rollout {

namespace {

using nlohmann::json;

std::optional<json> Condition(const json& o, const std::string& type) {
  if (!common::JsonHas(o, {"status", "conditions"}) || !o["status"]["conditions"].is_array())
    return std::nullopt;
  for (const auto& c : o["status"]["conditions"]) {
    if (c.is_object() && c.value("type", "") == type) return c;
  }
  return std::nullopt;
}

bool ConditionTrue(const json& o, const std::string& type) {
  auto c = Condition(o, type);
  return c && c->value("status", "") == "True";
}

std::string Name(const json& o) { return common::JsonString(o, {"metadata", "name"}); }

// Generation gate: nullopt when the controller has observed the latest generation.
std::optional<Assessment> GenerationGate(const json& o, bool require_observed) {
  bool has_gen = common::JsonHas(o, {"metadata", "generation"});
  bool has_obs = common::JsonHas(o, {"status", "observedGeneration"});
  if (!has_gen) return std::nullopt;
  if (!has_obs) {
    if (!require_observed) return std::nullopt;
    return Assessment{Phase::kInProgress,
                      "waiting for the controller to observe the new generation"};
  }
  if (common::JsonInt(o, {"status", "observedGeneration"}) <
      common::JsonInt(o, {"metadata", "generation"})) {
    return Assessment{
        Phase::kInProgress,
        fmt::format("waiting for the controller to observe generation {} (observed {})",
                    common::JsonInt(o, {"metadata", "generation"}),
                    common::JsonInt(o, {"status", "observedGeneration"}))};
  }
  return std::nullopt;
}

}  // namespace

Rule RuleFor(const std::string& group, const std::string& kind, const json& object) {
  if (group == "apps" || group == "extensions") {
    if (kind == "Deployment") return Rule::kDeployment;
    if (kind == "StatefulSet") return Rule::kStatefulSet;
    if (kind == "DaemonSet") return Rule::kDaemonSet;
    if (kind == "ReplicaSet") return Rule::kReplicaSet;
  }
  if (group == "batch" && kind == "Job") return Rule::kJob;
  if (group.empty()) {
    if (kind == "Pod") return Rule::kPod;
    if (kind == "PersistentVolumeClaim") return Rule::kPersistentVolumeClaim;
    if (kind == "Service") {
      return common::JsonString(object, {"spec", "type"}) == "LoadBalancer"
                 ? Rule::kLoadBalancerService
                 : Rule::kNone;
    }
    return Rule::kNone;
  }
  if (group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition") {
    return Rule::kCustomResourceDefinition;
  }
  if (group == "nais.io" && (kind == "Application" || kind == "Naisjob")) return Rule::kNais;
  if (group.find('.') == std::string::npos)
    return Rule::kNone;  // other built-in groups (rbac, policy, ...)
  if (group.size() > 8 && group.rfind(".k8s.io") == group.size() - 7) return Rule::kNone;
  return Rule::kConditions;
}

Assessment AssessDeployment(const json& d, const std::string& cause) {
  if (auto gate = GenerationGate(d, true)) return *gate;
  auto progressing = Condition(d, "Progressing");
  if (progressing && progressing->value("reason", "") == "ProgressDeadlineExceeded") {
    auto message = progressing->value("message", "");
    if (cause.empty()) {
      return {Phase::kFailed, fmt::format("deployment \"{}\" exceeded its progress deadline: {}",
                                          Name(d), message)};
    }
    return {Phase::kFailed, fmt::format("deployment \"{}\" exceeded its progress deadline: {} ({})",
                                        Name(d), cause, message)};
  }
  long long spec = common::JsonInt(d, {"spec", "replicas"}, 1);
  long long replicas = common::JsonInt(d, {"status", "replicas"});
  long long updated = common::JsonInt(d, {"status", "updatedReplicas"});
  long long available = common::JsonInt(d, {"status", "availableReplicas"});
  if (updated < spec) {
    return {Phase::kInProgress,
            fmt::format("{} out of {} new replicas have been updated", updated, spec)};
  }
  if (replicas > updated) {
    return {Phase::kInProgress,
            fmt::format("{} old replicas are pending termination", replicas - updated)};
  }
  if (available < updated) {
    return {Phase::kInProgress,
            fmt::format("{} of {} updated replicas are available", available, updated)};
  }
  return {Phase::kDone, fmt::format("deployment \"{}\" successfully rolled out", Name(d))};
}

Assessment AssessStatefulSet(const json& s) {
  if (common::JsonString(s, {"spec", "updateStrategy", "type"}) == "OnDelete") {
    return {Phase::kDone, "OnDelete update strategy: not watched"};
  }
  if (common::JsonInt(s, {"status", "observedGeneration"}) == 0) {
    return {Phase::kInProgress, "waiting for the controller to observe the statefulset"};
  }
  if (auto gate = GenerationGate(s, true)) return *gate;
  long long spec = common::JsonInt(s, {"spec", "replicas"}, 1);
  long long ready = common::JsonInt(s, {"status", "readyReplicas"});
  if (ready < spec)
    return {Phase::kInProgress, fmt::format("Waiting for {} pods to be ready", spec - ready)};
  if (common::JsonHas(s, {"spec", "updateStrategy", "rollingUpdate"})) {
    long long partition =
        common::JsonInt(s, {"spec", "updateStrategy", "rollingUpdate", "partition"});
    long long updated = common::JsonInt(s, {"status", "updatedReplicas"});
    if (updated < spec - partition) {
      return {
          Phase::kInProgress,
          fmt::format(
              "Waiting for partitioned roll out to finish: {} out of {} new pods have been updated",
              updated, spec - partition)};
    }
    return {Phase::kDone, fmt::format("statefulset \"{}\" rolled out", Name(s))};
  }
  if (common::JsonString(s, {"status", "updateRevision"}) !=
      common::JsonString(s, {"status", "currentRevision"})) {
    return {Phase::kInProgress, "waiting for statefulset rolling update to complete"};
  }
  return {Phase::kDone, fmt::format("statefulset \"{}\" rolled out", Name(s))};
}

Assessment AssessDaemonSet(const json& d) {
  auto type = common::JsonString(d, {"spec", "updateStrategy", "type"});
  if (!type.empty() && type != "RollingUpdate")
    return {Phase::kDone, "OnDelete update strategy: not watched"};
  if (!common::JsonHas(d, {"status", "observedGeneration"})) {
    return {Phase::kInProgress, "waiting for the controller to observe the daemonset"};
  }
  if (auto gate = GenerationGate(d, true)) return *gate;
  long long desired = common::JsonInt(d, {"status", "desiredNumberScheduled"});
  long long updated = common::JsonInt(d, {"status", "updatedNumberScheduled"});
  long long available = common::JsonInt(d, {"status", "numberAvailable"});
  if (updated < desired) {
    return {Phase::kInProgress,
            fmt::format("{} out of {} new pods have been updated", updated, desired)};
  }
  if (available < desired) {
    return {Phase::kInProgress,
            fmt::format("{} of {} updated pods are available", available, desired)};
  }
  return {Phase::kDone, fmt::format("daemon set \"{}\" successfully rolled out", Name(d))};
}

Assessment AssessReplicaSet(const json& r) {
  if (auto gate = GenerationGate(r, false)) return *gate;
  if (ConditionTrue(r, "ReplicaFailure")) {
    auto c = Condition(r, "ReplicaFailure");
    return {Phase::kInProgress, fmt::format("replica failure: {}", c->value("message", ""))};
  }
  long long spec = common::JsonInt(r, {"spec", "replicas"}, 1);
  if (common::JsonInt(r, {"status", "availableReplicas"}) < spec ||
      common::JsonInt(r, {"status", "readyReplicas"}) < spec) {
    return {Phase::kInProgress,
            fmt::format("{} of {} replicas are available",
                        common::JsonInt(r, {"status", "availableReplicas"}), spec)};
  }
  return {Phase::kDone, fmt::format("replica set \"{}\" is available", Name(r))};
}

Assessment AssessJob(const json& j) {
  for (const char* type : {"Failed", "FailureTarget"}) {
    if (ConditionTrue(j, type)) {
      auto c = Condition(j, type);
      return {Phase::kFailed,
              fmt::format("job failed: {}: {}", c->value("reason", ""), c->value("message", ""))};
    }
  }
  if (ConditionTrue(j, "Complete"))
    return {Phase::kDone, fmt::format("job \"{}\" completed", Name(j))};
  return {Phase::kInProgress, fmt::format("job \"{}\": {} active, {} succeeded, {} failed", Name(j),
                                          common::JsonInt(j, {"status", "active"}),
                                          common::JsonInt(j, {"status", "succeeded"}),
                                          common::JsonInt(j, {"status", "failed"}))};
}

Assessment AssessConditions(const json& o) {
  if (common::JsonHas(o, {"metadata", "deletionTimestamp"}))
    return {Phase::kInProgress, "resource is being deleted"};
  if (auto gate = GenerationGate(o, false)) return *gate;
  if (ConditionTrue(o, "Reconciling")) {
    auto c = Condition(o, "Reconciling");
    return {Phase::kInProgress, fmt::format("reconciling: {}", c->value("message", ""))};
  }
  if (ConditionTrue(o, "Stalled")) {
    auto c = Condition(o, "Stalled");
    return {Phase::kFailed,
            fmt::format("{}: {}", c->value("reason", "Stalled"), c->value("message", ""))};
  }
  if (auto ready = Condition(o, "Ready")) {
    if (ready->value("status", "") == "True") return {Phase::kDone, "Ready"};
    return {Phase::kInProgress, fmt::format("not ready: {}", ready->value("message", ""))};
  }
  return {Phase::kDone, "resource is current"};
}

Assessment AssessCrd(const json& o) {
  auto names = Condition(o, "NamesAccepted");
  if (names && names->value("status", "") == "False") {
    return {Phase::kFailed, fmt::format("names not accepted: {}", names->value("message", ""))};
  }
  auto established = Condition(o, "Established");
  if (established && established->value("status", "") == "True")
    return {Phase::kDone, "established"};
  if (established && established->value("status", "") == "False" &&
      established->value("reason", "") != "Installing") {
    return {Phase::kFailed, fmt::format("not established: {}", established->value("message", ""))};
  }
  return {Phase::kInProgress, "waiting for the CRD to be established"};
}

Assessment Assess(Rule rule, const json& object, common::SystemTime now, int crash_loop_restarts) {
  (void)now;
  switch (rule) {
    case Rule::kNone:
      return {Phase::kDone, "written"};
    case Rule::kDeployment:
      return AssessDeployment(object);
    case Rule::kStatefulSet:
      return AssessStatefulSet(object);
    case Rule::kDaemonSet:
      return AssessDaemonSet(object);
    case Rule::kReplicaSet:
      return AssessReplicaSet(object);
    case Rule::kJob:
      return AssessJob(object);
    case Rule::kPod: {
      auto phase = common::JsonString(object, {"status", "phase"});
      if (phase == "Succeeded") return {Phase::kDone, "pod succeeded"};
      if (phase == "Failed")
        return {Phase::kFailed,
                fmt::format("pod failed: {}", common::JsonString(object, {"status", "message"}))};
      for (const auto& p : PodProblems(object, crash_loop_restarts)) {
        if (p.fatal_now) return {Phase::kFailed, p.message};
      }
      if (phase == "Running" && ConditionTrue(object, "Ready"))
        return {Phase::kDone, "pod is ready"};
      return {Phase::kInProgress, fmt::format("pod is {}", phase.empty() ? "pending" : phase)};
    }
    case Rule::kPersistentVolumeClaim:
      return common::JsonString(object, {"status", "phase"}) == "Bound"
                 ? Assessment{Phase::kDone, "bound"}
                 : Assessment{Phase::kInProgress, "waiting for the claim to be bound"};
    case Rule::kLoadBalancerService: {
      if (common::JsonHas(object, {"status", "loadBalancer", "ingress"}) &&
          !object["status"]["loadBalancer"]["ingress"].empty()) {
        return {Phase::kDone, "load balancer ready"};
      }
      return {Phase::kInProgress, "waiting for the load balancer address"};
    }
    case Rule::kCustomResourceDefinition:
      return AssessCrd(object);
    case Rule::kNais:
      return {Phase::kInProgress, "waiting for naiserator"};
    case Rule::kConditions:
      return AssessConditions(object);
  }
  return {Phase::kDone, ""};
}

std::vector<PodProblem> PodProblems(const json& pod, int crash_loop_restarts) {
  std::vector<PodProblem> out;
  auto pod_name = Name(pod);
  if (auto scheduled = Condition(pod, "PodScheduled")) {
    if (scheduled->value("status", "") == "False" &&
        scheduled->value("reason", "") == "Unschedulable") {
      out.push_back(
          {pod_name + "/Unschedulable",
           fmt::format("pod {} cannot be scheduled: {}", pod_name, scheduled->value("message", "")),
           false, true});
    }
  }
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    if (!common::JsonHas(pod, {"status", list}) || !pod["status"][list].is_array()) continue;
    for (const auto& c : pod["status"][list]) {
      auto container = c.value("name", "");
      auto reason = common::JsonString(c, {"state", "waiting", "reason"});
      auto message = common::JsonString(c, {"state", "waiting", "message"});
      if (reason.empty()) continue;
      const bool crash_loop = reason == "CrashLoopBackOff";
      const bool fatal =
          (crash_loop && common::JsonInt(c, {"restartCount"}) >= crash_loop_restarts) ||
          reason == "CreateContainerConfigError" || reason == "InvalidImageName" ||
          reason == "ErrImageNeverPull" || reason == "CreateContainerError" ||
          reason == "RunContainerError";
      const bool transient = reason == "ErrImagePull" || reason == "ImagePullBackOff" ||
                             reason == "RegistryUnavailable" || reason == "ImageInspectError";
      if (!fatal && !transient && !crash_loop) continue;
      std::string text = fmt::format("pod {} container {}: {}", pod_name, container, reason);
      if (!message.empty()) text += ": " + message;
      if (common::JsonHas(c, {"lastState", "terminated"})) {
        text += fmt::format(" (last exit: {}, code {}, {} restarts)",
                            common::JsonString(c, {"lastState", "terminated", "reason"}),
                            common::JsonInt(c, {"lastState", "terminated", "exitCode"}),
                            common::JsonInt(c, {"restartCount"}));
      }
      out.push_back({pod_name + "/" + container + "/" + (transient ? "image" : reason), text, fatal,
                     transient});
    }
  }
  return out;
}

}  // namespace deployd::rollout
