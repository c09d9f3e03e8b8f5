#pragma once
#include <cstddef>
#include <string>

#include "deployment.pb.h"
#include "hookd/dispatch/dispatcher.hpp"

namespace hookd::dispatch {

// The longest reason a cancel may carry (bytes).
inline constexpr std::size_t kMaxCancelReason = 1024;

// "team <team>", plus " (reason: <reason>)" when a reason was given.
std::string CancelledBy(const std::string& team, const std::string& reason);

// Cancels deployment `id` for `team` (pb.Deploy/Cancel and POST /api/v1/cancel; the caller has
// authenticated `team`). Blocking (database).
// - Queued and not yet handed to a deployd: withdrawn from the queue; it ends as `failure`
//   `cancelled by team <team> (reason: <reason>) before it was sent to the cluster`, which is
//   the answer. (`failure`, not `inactive`: a CLI waiting for an `inactive` deployment would
//   send it again.)
// - A deployd has it: the cancel is recorded and sent to the cluster's deployd, which stops the
//   deployment's waits, applies nothing more and reports the final `failure`. The answer is the
//   deployment's current state with a message saying that the cancel was requested.
// Errors (common::Error): kInvalidArgument `invalid cancel request: <why>`, and those of
// store::DispatchStore::CancelDeployment; kUnavailable `database is unavailable: <err>`.
pb::DeploymentStatus CancelDeployment(Dispatcher& dispatcher, const std::string& id,
                                      const std::string& team, const std::string& reason);

}  // namespace hookd::dispatch
