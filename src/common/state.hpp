#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "deployment.pb.h"

namespace common {

// Enum names as stored in the database and printed by the CLI: "success", "in_progress", ...
std::string StateName(pb::DeploymentState state);
// nullopt for unknown names (callers decide; the original mapped unknown to success).
std::optional<pb::DeploymentState> ParseStateName(std::string_view name);
// success, error, failure, inactive.
bool IsFinished(pb::DeploymentState state) noexcept;
// error, failure, inactive.
bool IsErrorState(pb::DeploymentState state) noexcept;

inline constexpr std::string_view kQueuedMessage =
    "Deployment request has been put on the queue for further processing.";
inline constexpr std::string_view kSuccessMessage = "Deployment completed successfully.";
inline constexpr std::string_view kInactiveMessage = "Deployment has been lost.";

}  // namespace common
