#include "hookd/http/intake.hpp"

#include <utility>

#include "hookd/dispatch/cancel.hpp"
#include "hookd/dispatch/dispatcher.hpp"

namespace hookd::http {

pb::DeploymentStatus DispatcherIntake::Deploy(pb::DeploymentRequest request, const std::string& id,
                                              const std::string& request_key,
                                              const std::string& idempotency_key) {
  return dispatcher_.Deploy(std::move(request), id, request_key, idempotency_key);
}

std::vector<std::string> DispatcherIntake::KnownClusters() { return dispatcher_.KnownClusters(); }

std::vector<std::string> DispatcherIntake::ConnectedClusters() {
  return dispatcher_.Clusters().Connected();
}

pb::DeploymentStatus DispatcherCanceller::Cancel(const std::string& id, const std::string& team,
                                                 const std::string& reason) {
  return dispatch::CancelDeployment(dispatcher_, id, team, reason);
}

}  // namespace hookd::http
