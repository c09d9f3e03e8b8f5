#include "common/state.hpp"

namespace common {

std::string StateName(pb::DeploymentState state) {
  if (pb::DeploymentState_IsValid(state)) return pb::DeploymentState_Name(state);
  return std::to_string(static_cast<int>(state));
}

std::optional<pb::DeploymentState> ParseStateName(std::string_view name) {
  pb::DeploymentState state{};
  if (pb::DeploymentState_Parse(std::string(name), &state)) return state;
  return std::nullopt;
}

bool IsFinished(pb::DeploymentState state) noexcept {
  return state == pb::success || state == pb::error || state == pb::failure ||
         state == pb::inactive;
}

bool IsErrorState(pb::DeploymentState state) noexcept {
  return state == pb::error || state == pb::failure || state == pb::inactive;
}

}  // namespace common
