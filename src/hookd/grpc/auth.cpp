#include "hookd/grpc/auth.hpp"

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/names.hpp"

namespace hookd::grpcapi {
namespace {

const std::string* First(const Metadata& metadata, const std::string& key) {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

constexpr auto kMaxSkew = std::chrono::seconds(30);

}  // namespace

grpc::Status CheckPreSharedKey(const Metadata& metadata, const std::vector<std::string>& keys) {
  const std::string* key = First(metadata, "authorization");
  if (key == nullptr) {
    return {grpc::StatusCode::UNAUTHENTICATED, "authorization key is not provided"};
  }
  for (const auto& accepted : keys) {
    if (common::ConstantTimeEqual(*key, accepted)) return grpc::Status::OK;
  }
  return {grpc::StatusCode::PERMISSION_DENIED, "application is not authorized"};
}

AuthResult CheckApiKey(const Metadata& metadata, const KeyLookup& keys, const common::Clock& clock,
                       bool stream) {
  AuthResult result;
  const std::string* signature = First(metadata, "authorization");
  if (signature == nullptr) {
    result.status = {grpc::StatusCode::UNAUTHENTICATED, "request is not signed with API key"};
    result.error = "invalid_auth_metadata";
    return result;
  }
  const std::string* timestamp = First(metadata, "timestamp");
  if (timestamp == nullptr) {
    result.status = {grpc::StatusCode::UNAUTHENTICATED,
                     "API key signature timestamp is not provided"};
    result.error = "invalid_auth_metadata";
    return result;
  }
  const std::string* team = First(metadata, "team");
  if (team == nullptr) {
    result.status = {grpc::StatusCode::UNAUTHENTICATED,
                     "team is not provided in API key signature metadata"};
    result.error = "invalid_auth_metadata";
    return result;
  }
  // Before any lookup: the team name reaches the database and, later, deployd's headers.
  if (auto message = team->empty() ? std::nullopt : common::InvalidLabel("team", *team)) {
    result.status = {grpc::StatusCode::INVALID_ARGUMENT, *message};
    result.error = "invalid_auth_metadata";
    return result;
  }
  auto mac = common::HexDecode(*signature);
  if (!mac) {
    result.status = {grpc::StatusCode::INVALID_ARGUMENT, "wrong API key signature format"};
    result.error = "invalid_auth_metadata";
    return result;
  }
  // An unparsable timestamp counts as the zero time, i.e. far too old.
  const auto signed_at = common::ParseRfc3339(*timestamp).value_or(common::SystemTime{});
  const auto now = clock.Now();
  const auto skew = now > signed_at ? now - signed_at : signed_at - now;
  if (skew >= kMaxSkew) {
    result.status = {grpc::StatusCode::DEADLINE_EXCEEDED,
                     stream ? "signature is too old" : "signature expired"};
    result.error = "signature_expired";
    return result;
  }
  std::vector<store::ApiKey> team_keys;
  try {
    team_keys = keys(*team);
  } catch (const common::Error& e) {
    if (e.Code() == common::ErrorCode::kNotFound) {
      result.status = {grpc::StatusCode::UNAUTHENTICATED, "failed authentication"};
      result.error = "team_not_found";
    } else {
      spdlog::error("API key lookup for team {} failed: {}", *team, e.what());
      result.status = {grpc::StatusCode::UNAVAILABLE,
                       "something wrong happened when communicating with api key service"};
      result.error = "database_error";
    }
    return result;
  } catch (const std::exception& e) {
    spdlog::error("API key lookup for team {} failed: {}", *team, e.what());
    result.status = {grpc::StatusCode::UNAVAILABLE,
                     "something wrong happened when communicating with api key service"};
    result.error = "database_error";
    return result;
  }
  for (const auto& key : team_keys) {
    if (key.key.empty() || key.expires <= now) continue;
    if (common::ConstantTimeEqual(common::HmacSha256(key.key, *timestamp), *mac)) {
      result.team = *team;
      result.status = grpc::Status::OK;
      return result;
    }
  }
  result.status = {grpc::StatusCode::PERMISSION_DENIED, "failed authentication"};
  result.error = "invalid_api_key";
  return result;
}

bool UsesJwt(const Metadata& metadata) {
  auto [first, last] = metadata.equal_range("jwt");
  return first != last && std::next(first) == last && !first->second.empty();
}

AuthResult CheckJwt(const Metadata& metadata, const JwtVerifier& verifier,
                    const RepositoryCheck& authorized, bool stream) {
  AuthResult result;
  result.type = "jwt";
  const std::string* team = First(metadata, "team");
  if (team != nullptr && !team->empty()) {
    if (auto message = common::InvalidLabel("team", *team)) {
      result.status = {grpc::StatusCode::INVALID_ARGUMENT, *message};
      result.error = "invalid_auth_metadata";
      return result;
    }
  }
  auto verified = verifier.Verify(metadata.find("jwt")->second);
  if (!verified.claims) {
    switch (verified.failure) {
      case JwtFailure::kExpired:
        result.status = {grpc::StatusCode::UNAUTHENTICATED, "authentication token has expired"};
        result.error = "invalid_jwt";
        break;
      case JwtFailure::kUnavailable:
        spdlog::error("verifying a JWT: {}", verified.error);
        result.status = {grpc::StatusCode::UNAVAILABLE,
                         "unable to verify JWT token: GitHub JWKS is unavailable"};
        result.error = "jwks_unavailable";
        break;
      case JwtFailure::kInvalid:
        result.status = {grpc::StatusCode::UNAUTHENTICATED, "invalid JWT token: " + verified.error};
        result.error = "invalid_jwt";
        break;
    }
    return result;
  }
  const std::string& repository = verified.claims->repository;
  if (repository.empty()) {
    result.status = {grpc::StatusCode::INVALID_ARGUMENT, "missing repository in JWT token"};
    result.error = "no_repository";
    return result;
  }
  if (team == nullptr || team->empty()) {
    result.status = {grpc::StatusCode::INVALID_ARGUMENT, "missing team in metadata"};
    result.error = "no_team";
    return result;
  }
  const std::string& repository_id = verified.claims->repository_id;
  std::optional<std::string> pinned;
  try {
    pinned = authorized(*team, repository, repository_id);
  } catch (const std::exception& e) {
    spdlog::error("checking repository {} for team {}: {}", repository, *team, e.what());
    result.status = {grpc::StatusCode::UNAVAILABLE,
                     stream ? "something wrong happened when communicating with the teams service"
                            : "something wrong happened when communicating with Nais API"};
    result.error = "teams_service_error";
    return result;
  }
  if (!pinned) {
    result.status = {grpc::StatusCode::PERMISSION_DENIED,
                     "repo \"" + repository + "\" not authorized by team \"" + *team + "\""};
    result.error = "repo_not_authorized";
    return result;
  }
  // The rule in auth.hpp: a repository of the same name but another ID is not the one that was
  // authorised (deleted and re-created, or renamed away and the name taken).
  if (!repository_id.empty() && !pinned->empty() && *pinned != repository_id) {
    spdlog::warn(
        "refused a JWT of repository {} (repository_id {}) for team {}: authorized "
        "with repository_id {}",
        repository, repository_id, *team, *pinned);
    result.status = {grpc::StatusCode::PERMISSION_DENIED,
                     "repo \"" + repository + "\" not authorized by team \"" + *team +
                         "\": repository_id " + repository_id +
                         " is not the authorized repository_id " + *pinned +
                         " (a repository re-created under the same name must be authorized "
                         "again)"};
    result.error = "repo_not_authorized";
    return result;
  }
  result.team = *team;
  result.status = grpc::Status::OK;
  return result;
}

grpc::Status CheckTeamMatches(const std::string& authenticated_team,
                              const std::string& request_team) {
  if (authenticated_team == request_team) return grpc::Status::OK;
  return {grpc::StatusCode::PERMISSION_DENIED, "authenticated as team \"" + authenticated_team +
                                                   "\" but the request is for team \"" +
                                                   request_team + "\""};
}

}  // namespace hookd::grpcapi
