#pragma once
// Kubernetes objects that the deployd tests and benchmark send.
#include <string>

#include <nlohmann/json.hpp>

namespace testsupport {

// An apps/v1 Deployment `name` (no namespace) of 2 replicas, selected and labelled app=<name>,
// whose pods run `container`.
inline nlohmann::json DeploymentManifest(const std::string& name, nlohmann::json container) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"replicas", 2},
            {"selector", {{"matchLabels", {{"app", name}}}}},
            {"template",
             {{"metadata", {{"labels", {{"app", name}}}}},
              {"spec", {{"containers", nlohmann::json::array({std::move(container)})}}}}}}}};
}

}  // namespace testsupport
