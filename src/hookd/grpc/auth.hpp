#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "common/time.hpp"
#include "hookd/grpc/jwt.hpp"
#include "hookd/store/store.hpp"

namespace hookd::grpcapi {

// Incoming metadata, keys lower case (copied out of the call context).
using Metadata = std::multimap<std::string, std::string>;

// Pre-shared key of deployd (spec 2.3.1): metadata `authorization` must equal one of `keys`.
grpc::Status CheckPreSharedKey(const Metadata& metadata, const std::vector<std::string>& keys);

// Looks up a team's API keys; throws common::Error{kNotFound} when the team has none.
using KeyLookup = std::function<std::vector<store::ApiKey>(const std::string& team)>;

struct AuthResult {
  grpc::Status status;  // OK when authenticated
  std::string team;     // the authenticated team (metadata `team`)
  // Label values of deployment_hookd_auth_interceptor_requests{type,error} (spec 2.3.2).
  std::string type = "api_key";  // "api_key" or "jwt"
  std::string error;             // "" when authenticated
};

// API-key HMAC authentication of the CLI (spec 2.3.2): HMAC-SHA256 over the `timestamp`
// metadata under any valid key of the `team` metadata. `stream` selects the message of an
// expired signature ("signature expired" for Deploy, "signature is too old" for Status).
// Blocks on the key lookup: call from a worker thread.
AuthResult CheckApiKey(const Metadata& metadata, const KeyLookup& keys, const common::Clock& clock,
                       bool stream);

// The JWT path is taken when metadata `jwt` has exactly one non-empty value (spec 2.3.2).
bool UsesJwt(const Metadata& metadata);

// Whether `repository` ("owner/name") may deploy for `team` (table team_repositories).
// Throws when the lookup fails.
using RepositoryCheck = std::function<bool(const std::string& team, const std::string& repo)>;

// GitHub OIDC JWT authentication (spec 2.3.2). `stream` selects the message of a failed
// repository lookup. Blocks (JWKS fetch, database): call from a worker thread.
AuthResult CheckJwt(const Metadata& metadata, const JwtVerifier& verifier,
                    const RepositoryCheck& authorized, bool stream);

// Our deliberate fix of spec quirk 11.1: the authenticated team must be the request's team.
grpc::Status CheckTeamMatches(const std::string& authenticated_team,
                              const std::string& request_team);

}  // namespace hookd::grpcapi
