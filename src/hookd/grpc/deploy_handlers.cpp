#include "hookd/grpc/deploy_handlers.hpp"

#include <exception>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/grpc_error.hpp"
#include "common/names.hpp"
#include "hookd/dispatch/rules.hpp"

namespace hookd::grpcapi {
namespace {

// gRPC metadata of pb.Deploy/Deploy naming the logical request (see Dispatcher::Deploy).
constexpr const char* kIdempotencyKeyMetadata = "idempotency-key";

}  // namespace

AuthResult DeployHandlers::Authenticate(const Metadata& metadata, bool stream) {
  AuthResult result;
  if (UsesJwt(metadata)) {
    if (options_.jwt == nullptr) {
      result.type = "jwt";
      result.error = "invalid_jwt";
      result.status = {grpc::StatusCode::UNAUTHENTICATED,
                       "invalid JWT token: JWT authentication is not configured"};
    } else {
      result = CheckJwt(
          metadata, *options_.jwt,
          [this](const std::string& team, const std::string& repository,
                 const std::string& repository_id) {
            return backends_.repositories.AuthorizeRepository(team, repository, repository_id);
          },
          stream);
    }
  } else {
    result = CheckApiKey(
        metadata, [this](const std::string& team) { return backends_.api_keys.ApiKeys(team); },
        backends_.clock, stream);
  }
  if (options_.metrics != nullptr) options_.metrics->ObserveAuth(result.type, result.error);
  return result;
}

grpc::Status DeployHandlers::Deploy(const Metadata& metadata, const pb::DeploymentRequest& request,
                                    bool expired, pb::DeploymentStatus& reply) {
  try {
    if (expired) {
      return {grpc::StatusCode::DEADLINE_EXCEEDED,
              "deployment request timed out while you were waiting"};
    }
    if (options_.cli_authentication) {
      auto auth = Authenticate(metadata, false);
      if (!auth.status.ok()) return auth.status;
      if (auto status = CheckTeamMatches(auth.team, request.team()); !status.ok()) return status;
    }
    // Optional (an original CLI sends none).
    std::string idempotency_key;
    if (auto it = metadata.find(kIdempotencyKeyMetadata); it != metadata.end()) {
      idempotency_key = it->second;
      if (idempotency_key.empty()) {
        return {
            grpc::StatusCode::INVALID_ARGUMENT,
            std::string("invalid idempotency key: it must be ") + dispatch::kIdempotencyKeyRule};
      }
    }
    reply = backends_.intake.Deploy(request, "", "", idempotency_key);
    return grpc::Status::OK;
  } catch (const common::Error& e) {
    return common::ToGrpcStatus(e);
  } catch (...) {
    return common::CurrentExceptionToGrpcStatus();
  }
}

grpc::Status DeployHandlers::Cancel(const Metadata& metadata, const pb::CancelRequest& request,
                                    bool expired, pb::DeploymentStatus& reply) {
  try {
    if (expired) {
      return {grpc::StatusCode::DEADLINE_EXCEEDED,
              "cancel request timed out while you were waiting"};
    }
    if (options_.cli_authentication) {
      auto auth = Authenticate(metadata, false);
      if (!auth.status.ok()) return auth.status;
      if (auto status = CheckTeamMatches(auth.team, request.team()); !status.ok()) return status;
    }
    reply = backends_.canceller.Cancel(request.id(), request.team(), request.reason());
    return grpc::Status::OK;
  } catch (const common::Error& e) {
    return common::ToGrpcStatus(e);
  } catch (...) {
    return common::CurrentExceptionToGrpcStatus();
  }
}

grpc::Status DeployHandlers::AdmitStatus(const Metadata& metadata,
                                         const pb::DeploymentRequest& request, std::string& team) {
  team.clear();
  if (!request.team().empty()) {
    if (auto invalid = common::InvalidLabel("team", request.team())) {
      return {grpc::StatusCode::INVALID_ARGUMENT, *invalid};
    }
  }
  if (!options_.cli_authentication) return grpc::Status::OK;
  auto auth = Authenticate(metadata, true);
  if (!auth.status.ok()) return auth.status;
  if (!request.team().empty()) {
    if (auto status = CheckTeamMatches(auth.team, request.team()); !status.ok()) return status;
  }
  team = auth.team;
  return grpc::Status::OK;
}

grpc::Status DeployHandlers::StatusHistory(const std::string& id, const std::string& team,
                                           std::vector<store::StatusRow>& history) {
  history.clear();
  try {
    auto deployment = backends_.deployments.Deployment(id);
    if (!deployment) return {grpc::StatusCode::NOT_FOUND, "deployment '" + id + "' not found"};
    if (options_.cli_authentication && deployment->team != team) {
      return {grpc::StatusCode::PERMISSION_DENIED,
              "deployment '" + id + "' does not belong to team \"" + team + "\""};
    }
    history = backends_.deployments.Statuses(id);
    return grpc::Status::OK;
  } catch (const std::exception& e) {
    spdlog::error("reading statuses of deployment {}: {}", id, e.what());
    history.clear();
    return {grpc::StatusCode::UNAVAILABLE,
            "unable to determine deployment status; database is unavailable"};
  }
}

}  // namespace hookd::grpcapi
