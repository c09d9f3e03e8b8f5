#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "common/time.hpp"
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
};

// API-key HMAC authentication of the CLI (spec 2.3.2): HMAC-SHA256 over the `timestamp`
// metadata under any valid key of the `team` metadata. `stream` selects the message of an
// expired signature ("signature expired" for Deploy, "signature is too old" for Status).
// Blocks on the key lookup: call from a worker thread.
AuthResult CheckApiKey(const Metadata& metadata, const KeyLookup& keys, const common::Clock& clock,
                       bool stream);

// Our deliberate fix of spec quirk 11.1: the authenticated team must be the request's team.
grpc::Status CheckTeamMatches(const std::string& authenticated_team,
                              const std::string& request_team);

}  // namespace hookd::grpcapi
