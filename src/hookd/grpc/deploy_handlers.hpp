#pragma once
// The logic of pb.Deploy (Deploy, Status, Cancel) without gRPC's call machinery: authentication,
// the team checks and what each call asks of storage and the dispatcher, all through narrow
// interfaces (store/interfaces.hpp, http/intake.hpp). grpc/server.cpp reads the request, runs it
// here on a worker thread and writes the answer; unit tests call it directly with in-memory
// fakes. Every method blocks (storage): call from worker threads.
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "common/time.hpp"
#include "deployment.pb.h"
#include "hookd/grpc/auth.hpp"
#include "hookd/grpc/jwt.hpp"
#include "hookd/http/intake.hpp"
#include "hookd/metrics.hpp"
#include "hookd/store/interfaces.hpp"

namespace hookd::grpcapi {

// What pb.Deploy reads and changes.
struct DeployBackends {
  store::ApiKeyStore& api_keys;
  store::RepositoryAuthorizer& repositories;
  store::DeploymentReader& deployments;
  http::DeploymentIntake& intake;
  http::DeploymentCanceller& canceller;
  const common::Clock& clock;
};

struct DeployAuthOptions {
  // --cli-authentication: every call is signed with a team API key or carries a GitHub JWT.
  bool cli_authentication = false;
  // GitHub OIDC JWT verification (metadata `jwt`); nullptr rejects JWTs as invalid.
  const JwtVerifier* jwt = nullptr;
  // Optional: auth outcomes are counted here.
  Metrics* metrics = nullptr;
};

class DeployHandlers {
 public:
  DeployHandlers(DeployBackends backends, DeployAuthOptions options)
      : backends_(backends), options_(options) {}

  // CLI authentication: the JWT path when metadata `jwt` has exactly one non-empty value, the
  // API-key path otherwise. `stream` selects the messages of pb.Deploy/Status.
  AuthResult Authenticate(const Metadata& metadata, bool stream);

  // pb.Deploy/Deploy once its request was read. `expired`: the caller went away or the call's
  // deadline passed. Metadata `idempotency-key` (optional) names the logical request: a retry
  // with the same key is answered with the deployment the first attempt created.
  grpc::Status Deploy(const Metadata& metadata, const pb::DeploymentRequest& request, bool expired,
                      pb::DeploymentStatus& reply);

  // pb.Deploy/Cancel once its request was read; only the deployment's own team may cancel it.
  grpc::Status Cancel(const Metadata& metadata, const pb::CancelRequest& request, bool expired,
                      pb::DeploymentStatus& reply);

  // pb.Deploy/Status, first step (before subscribing to new statuses): checks the request's team
  // and authenticates. `team` becomes the authenticated team ("" without CLI authentication).
  grpc::Status AdmitStatus(const Metadata& metadata, const pb::DeploymentRequest& request,
                           std::string& team);

  // pb.Deploy/Status, second step (after subscribing, so that nothing is missed): the
  // deployment's stored statuses, newest first. NOT_FOUND for an unknown deployment,
  // PERMISSION_DENIED for another team's (with CLI authentication), UNAVAILABLE when storage
  // fails.
  grpc::Status StatusHistory(const std::string& id, const std::string& team,
                             std::vector<store::StatusRow>& history);

 private:
  DeployBackends backends_;
  DeployAuthOptions options_;
};

}  // namespace hookd::grpcapi
