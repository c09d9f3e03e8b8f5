#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "common/time.hpp"
#include "hookd/grpc/jwt.hpp"
#include "hookd/store/store.hpp"

namespace hookd::grpcapi {

// Incoming metadata, keys lower case (copied out of the call context).
using Metadata = std::multimap<std::string, std::string>;

// Pre-shared key of deployd: metadata `authorization` must equal one of `keys`.
grpc::Status CheckPreSharedKey(const Metadata& metadata, const std::vector<std::string>& keys);

// Looks up a team's API keys; throws common::Error{kNotFound} when the team has none.
using KeyLookup = std::function<std::vector<store::ApiKey>(const std::string& team)>;

struct AuthResult {
  grpc::Status status;  // OK when authenticated
  std::string team;     // the authenticated team (metadata `team`)
  // Label values of deployment_hookd_auth_interceptor_requests{type,error}.
  std::string type = "api_key";  // "api_key" or "jwt"
  std::string error;             // "" when authenticated
};

// API-key HMAC authentication of the CLI: HMAC-SHA256 over the `timestamp`
// metadata under any valid key of the `team` metadata. `stream` selects the message of an
// expired signature ("signature expired" for Deploy, "signature is too old" for Status).
// Blocks on the key lookup: call from a worker thread.
AuthResult CheckApiKey(const Metadata& metadata, const KeyLookup& keys, const common::Clock& clock,
                       bool stream);

// The JWT path is taken when metadata `jwt` has exactly one non-empty value.
bool UsesJwt(const Metadata& metadata);

// Looks up the row (team, repository) of table team_repositories and pins its repository_id on
// first use: nullopt when the team does not authorise `repo` ("owner/name"); else the row's
// repository_id after pinning: `repository_id` when the row had none and `repository_id` is not
// empty (trust on first use), the stored one otherwise ("" when the row was never pinned).
// Throws when the lookup fails. (store::Store::AuthorizeRepository.)
using RepositoryCheck = std::function<std::optional<std::string>(
    const std::string& team, const std::string& repo, const std::string& repository_id)>;

// GitHub OIDC JWT authentication. `stream` selects the message of a failed
// repository lookup. Blocks (JWKS fetch, database): call from a worker thread.
//
// Authorisation rule. A token's `repository` ("owner/name") must be authorised by the team in
// table team_repositories. Names can be reused: when a repository is deleted (or renamed) and
// someone else creates one under the same name, GitHub gives it a new `repository_id`. So, when
// the token carries `repository_id` and the authorised row has one, they must be equal, else
// PERMISSION_DENIED naming the repository and both IDs. A row without one (added through
// /internal/api/v1/team/{team}/repositories, which knows only names) is pinned to the ID of the
// first token that authenticates with it (trust on first use); removing and adding the row
// again clears the pin. A token without `repository_id` is authorised by name alone (GitHub's
// tokens always carry it).
//
// The `team` metadata must be a DNS-1123 label (it is a Kubernetes namespace); a bad one is
// INVALID_ARGUMENT with common::InvalidLabel's message before the token is even verified, so
// no JWKS fetch or database lookup happens for it.
AuthResult CheckJwt(const Metadata& metadata, const JwtVerifier& verifier,
                    const RepositoryCheck& authorized, bool stream);

// Our deliberate fix of spec quirk 11.1: the authenticated team must be the request's team.
grpc::Status CheckTeamMatches(const std::string& authenticated_team,
                              const std::string& request_team);

}  // namespace hookd::grpcapi
