#pragma once
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "hookd/config.hpp"
#include "hookd/grpc/auth.hpp"

namespace hookd::grpcapi {

// Who a deployd is, as far as its pre-shared key tells (pb.Dispatch).
struct DeploydIdentity {
  grpc::Status status;                // OK when the key was accepted (or authentication is off)
  bool any_cluster = true;            // a plain key (or no authentication): no cluster binding
  std::vector<std::string> clusters;  // the clusters the key is bound to
  std::string credential;             // fingerprint of the key; "" without authentication

  bool MayServe(const std::string& cluster) const;
};

// Metadata `authorization` against the configured keys (constant-time comparisons).
// No key -> UNAUTHENTICATED `authorization key is not provided`; no match -> PERMISSION_DENIED
// `application is not authorized` (the original's messages). `enabled` false: everyone is
// accepted for every cluster.
DeploydIdentity AuthenticateDeployd(const Metadata& metadata, const std::vector<DeploydKey>& keys,
                                    bool enabled);

// The checks a Dispatch stream for `cluster` passes before it is registered: the cluster name is a
// DNS-1123 label (INVALID_ARGUMENT) and the key may serve it (PERMISSION_DENIED
// `this deployd key is not valid for cluster "<c>"`).
grpc::Status CheckDeploydCluster(const DeploydIdentity& identity, const std::string& cluster);

}  // namespace hookd::grpcapi
