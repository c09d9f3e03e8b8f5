#include "hookd/dispatch/cancel.hpp"

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"

namespace hookd::dispatch {

std::string CancelledBy(const std::string& team, const std::string& reason) {
  std::string out = "team " + team;
  if (!reason.empty()) out += " (reason: " + reason + ")";
  return out;
}

pb::DeploymentStatus CancelDeployment(Dispatcher& dispatcher, const std::string& id,
                                      const std::string& team, const std::string& reason) {
  std::string invalid;
  if (id.empty()) {
    invalid = "no deployment ID specified";
  } else if (team.empty()) {
    invalid = "no team specified";
  } else if (auto bad_team = common::InvalidLabel("team", team)) {
    invalid = *bad_team;
  } else if (reason.size() > kMaxCancelReason) {
    invalid = "the reason is " + std::to_string(reason.size()) + " bytes long; at most " +
              std::to_string(kMaxCancelReason) + " are allowed";
  }
  if (!invalid.empty()) {
    throw common::Error(common::ErrorCode::kInvalidArgument, "invalid cancel request: " + invalid);
  }
  const std::string by = CancelledBy(team, reason);
  const auto now = dispatcher.Clock().Now();
  store::CancelOutcome outcome;
  try {
    outcome = dispatcher.Store().CancelDeployment(
        id, team, reason, pb::failure, "cancelled by " + by + " before it was sent to the cluster",
        now);
  } catch (const common::Error& e) {
    if (e.Code() != common::ErrorCode::kUnavailable && e.Code() != common::ErrorCode::kInternal) {
      throw;
    }
    throw common::Error(common::ErrorCode::kUnavailable,
                        std::string("database is unavailable: ") + e.what());
  } catch (const std::exception& e) {
    throw common::Error(common::ErrorCode::kUnavailable,
                        std::string("database is unavailable: ") + e.what());
  }
  const auto fields = common::DeploymentFields(id, team, outcome.cluster);
  if (outcome.withdrawn) {
    common::LogWith(spdlog::level::info, fields,
                    "deployment {} withdrawn from the queue of cluster {}: cancelled by {}", id,
                    outcome.cluster, by);
    dispatcher.AnnounceStored(outcome.status);
    return ToWireStatus(outcome.status);
  }
  common::LogWith(spdlog::level::info, fields,
                  "deployment {} of cluster {}: cancel requested by {}{}", id, outcome.cluster, by,
                  outcome.already_requested ? " (requested before)" : "");
  // Another replica holding the stream hears the notification; this one wakes its own.
  dispatcher.Clusters().Wake(outcome.cluster);
  pb::DeploymentStatus answer;
  answer.mutable_request()->set_id(id);
  *answer.mutable_time() = common::ToTimestamp(now);
  answer.set_state(common::ParseStateName(outcome.state).value_or(pb::in_progress));
  answer.set_message("cancel requested by " + by + "; deployd of cluster " +
                     common::Quote(outcome.cluster) +
                     " stops the deployment and reports its final status");
  return answer;
}

}  // namespace hookd::dispatch
