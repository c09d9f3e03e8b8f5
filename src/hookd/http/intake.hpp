#pragma once
// What the HTTP and gRPC APIs need of the dispatcher: accepting a deployment, naming the
// clusters and cancelling. dispatch::Dispatcher serves them in the process (DispatcherIntake,
// DispatcherCanceller); unit tests use fakes.
#include <string>
#include <vector>

#include "deployment.pb.h"

namespace hookd::dispatch {
class Dispatcher;
}

namespace hookd::http {

class DeploymentIntake {
 public:
  virtual ~DeploymentIntake() = default;
  // Accepts a deployment (Dispatcher::Deploy): `id` the deployment ID to use, `request_key` and
  // `idempotency_key` as there ("" for none). Returns the queued status carrying the request.
  // Errors: common::Error with the user-facing message (kInvalidArgument: the request's fault).
  virtual pb::DeploymentStatus Deploy(pb::DeploymentRequest request, const std::string& id,
                                      const std::string& request_key,
                                      const std::string& idempotency_key) = 0;
  // Every known cluster (Dispatcher::KnownClusters); may throw when the database is down.
  virtual std::vector<std::string> KnownClusters() = 0;
  // The clusters whose deployd is connected to this process.
  virtual std::vector<std::string> ConnectedClusters() = 0;
};

// Cancelling a deployment for the team that owns it (dispatch::CancelDeployment, which
// documents the answer and the errors). Consumers: pb.Deploy/Cancel and POST /api/v1/cancel.
class DeploymentCanceller {
 public:
  virtual ~DeploymentCanceller() = default;
  // The caller has authenticated `team`. Errors: common::Error with the user-facing message.
  virtual pb::DeploymentStatus Cancel(const std::string& id, const std::string& team,
                                      const std::string& reason) = 0;
};

class DispatcherCanceller final : public DeploymentCanceller {
 public:
  explicit DispatcherCanceller(dispatch::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  pb::DeploymentStatus Cancel(const std::string& id, const std::string& team,
                              const std::string& reason) override;

 private:
  dispatch::Dispatcher& dispatcher_;
};

class DispatcherIntake final : public DeploymentIntake {
 public:
  explicit DispatcherIntake(dispatch::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}
  pb::DeploymentStatus Deploy(pb::DeploymentRequest request, const std::string& id,
                              const std::string& request_key,
                              const std::string& idempotency_key) override;
  std::vector<std::string> KnownClusters() override;
  std::vector<std::string> ConnectedClusters() override;

 private:
  dispatch::Dispatcher& dispatcher_;
};

}  // namespace hookd::http
