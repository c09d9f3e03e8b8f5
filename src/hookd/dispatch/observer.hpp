#pragma once
#include "deployment.pb.h"
#include "hookd/store/store.hpp"

namespace hookd::dispatch {

// Told by the Dispatcher about accepted deployments and stored statuses (the GitHub mirror).
// Called on the dispatcher's (worker) threads after the database write; must not throw, and must
// not fail or noticeably slow the deployment.
class DeploymentObserver {
 public:
  virtual ~DeploymentObserver() = default;
  // A new deployment was stored with its `queued` status (not for replayed requests).
  virtual void Accepted(const pb::DeploymentRequest& request) = 0;
  // A status of a deployment was stored by this process.
  virtual void StatusStored(const store::StatusRow& row) = 0;
};

}  // namespace hookd::dispatch
