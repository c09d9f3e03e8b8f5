#include "hookd/grpc/auth.hpp"

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"

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
    return result;
  }
  const std::string* timestamp = First(metadata, "timestamp");
  if (timestamp == nullptr) {
    result.status = {grpc::StatusCode::UNAUTHENTICATED,
                     "API key signature timestamp is not provided"};
    return result;
  }
  const std::string* team = First(metadata, "team");
  if (team == nullptr) {
    result.status = {grpc::StatusCode::UNAUTHENTICATED,
                     "team is not provided in API key signature metadata"};
    return result;
  }
  auto mac = common::HexDecode(*signature);
  if (!mac) {
    result.status = {grpc::StatusCode::INVALID_ARGUMENT, "wrong API key signature format"};
    return result;
  }
  // An unparsable timestamp counts as the zero time, i.e. far too old.
  const auto signed_at = common::ParseRfc3339(*timestamp).value_or(common::SystemTime{});
  const auto now = clock.Now();
  const auto skew = now > signed_at ? now - signed_at : signed_at - now;
  if (skew >= kMaxSkew) {
    result.status = {grpc::StatusCode::DEADLINE_EXCEEDED,
                     stream ? "signature is too old" : "signature expired"};
    return result;
  }
  std::vector<store::ApiKey> team_keys;
  try {
    team_keys = keys(*team);
  } catch (const common::Error& e) {
    if (e.Code() == common::ErrorCode::kNotFound) {
      result.status = {grpc::StatusCode::UNAUTHENTICATED, "failed authentication"};
    } else {
      spdlog::error("API key lookup for team {} failed: {}", *team, e.what());
      result.status = {grpc::StatusCode::UNAVAILABLE,
                       "something wrong happened when communicating with api key service"};
    }
    return result;
  } catch (const std::exception& e) {
    spdlog::error("API key lookup for team {} failed: {}", *team, e.what());
    result.status = {grpc::StatusCode::UNAVAILABLE,
                     "something wrong happened when communicating with api key service"};
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
  return result;
}

grpc::Status CheckTeamMatches(const std::string& authenticated_team,
                              const std::string& request_team) {
  if (authenticated_team == request_team) return grpc::Status::OK;
  return {grpc::StatusCode::PERMISSION_DENIED,
          "authenticated as team \"" + authenticated_team +
              "\" but the request is for team \"" + request_team + "\""};
}

}  // namespace hookd::grpcapi
