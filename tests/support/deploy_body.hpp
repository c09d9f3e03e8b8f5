#pragma once
// The body of a POST /api/v1/deploy that the HTTP API tests sign and send: team aura, cluster
// dev, one ConfigMap, from the repository navikt/app.
#include <cstdint>

#include <nlohmann/json.hpp>

namespace testsupport {

// `timestamp`: unix seconds (hookd refuses a body more than 30 s from its clock).
inline nlohmann::json DeployBody(std::int64_t timestamp) {
  using nlohmann::json;
  return {{"resources", json::array({{{"apiVersion", "v1"},
                                      {"kind", "ConfigMap"},
                                      {"metadata", {{"name", "foo"}, {"namespace", "aura"}}}}})},
          {"team", "aura"},
          {"cluster", "dev"},
          {"environment", "dev"},
          {"ref", "main"},
          {"owner", "navikt"},
          {"repository", "app"},
          {"timestamp", timestamp}};
}

}  // namespace testsupport
