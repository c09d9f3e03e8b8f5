#pragma once
// Deployments as their controller reports them, for the verdict and tracker tests.
#include <string>

#include <nlohmann/json.hpp>

namespace deployd::rollout {

// Deployment "web": its generation, the generation its controller observed, the replicas it
// asks for, and the replicas the controller reports (all, updated, available).
inline nlohmann::json DeploymentObject(int generation, int observed, int spec, int replicas,
                                       int updated, int available) {
  return {{"metadata", {{"name", "web"}, {"generation", generation}}},
          {"spec", {{"replicas", spec}}},
          {"status",
           {{"observedGeneration", observed},
            {"replicas", replicas},
            {"updatedReplicas", updated},
            {"availableReplicas", available}}}};
}

// `d` with the condition a Deployment gets when it exceeds its progress deadline, naming its new
// ReplicaSet `replica_set`.
inline nlohmann::json WithDeadlineExceeded(nlohmann::json d, const std::string& replica_set) {
  d["status"]["conditions"] = nlohmann::json::array(
      {{{"type", "Progressing"},
        {"status", "False"},
        {"reason", "ProgressDeadlineExceeded"},
        {"message", "ReplicaSet \"" + replica_set + "\" has timed out progressing."}}});
  return d;
}

}  // namespace deployd::rollout
