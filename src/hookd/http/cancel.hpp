#pragma once
// POST /api/v1/cancel: the HTTP equivalent of pb.Deploy/Cancel, signed like /api/v1/deploy
// (header X-NAIS-Signature: hex HMAC-SHA256 of the body under one of the team's API keys).
//
// Body: {"deploymentID": "<id>", "team": "<team>", "reason": "<optional>", "timestamp": <unix s>}
// (the timestamp within 30 s of hookd's clock, as for /api/v1/status). Answers JSON
// {"deploymentID", "status", "message"}: 200 when the deployment was withdrawn from the queue
// (status is its final state), 202 when its cluster's deployd was asked to stop it (status is its
// current state; the final one follows on /api/v1/status). Errors carry {"message"}: 400 bad
// request, 403 failed authentication or another team's deployment, 404 unknown deployment, 409
// already finished or a deployd that cannot cancel, 502 key lookup failed, 503 database down.
#include "common/time.hpp"
#include "hookd/http/intake.hpp"
#include "hookd/http/message.hpp"
#include "hookd/store/interfaces.hpp"

namespace hookd::http {

// What the endpoint reads and changes.
struct CancelBackends {
  store::ApiKeyStore& api_keys;
  DeploymentCanceller& canceller;
  const common::Clock& clock;
};

// The endpoint (registered by App with Handlers::AddRoute for POST). A non-empty body must be
// Content-Type application/json (415 otherwise).
Response Cancel(const Request& request, const CancelBackends& backends);

}  // namespace hookd::http
