#include "hookd/grpc/deployd_auth.hpp"

#include <algorithm>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/names.hpp"

namespace hookd::grpcapi {

bool DeploydIdentity::MayServe(const std::string& cluster) const {
  return any_cluster || std::find(clusters.begin(), clusters.end(), cluster) != clusters.end();
}

DeploydIdentity AuthenticateDeployd(const Metadata& metadata, const std::vector<DeploydKey>& keys,
                                    bool enabled) {
  DeploydIdentity identity;
  if (!enabled) return identity;
  identity.any_cluster = false;
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    identity.status = {grpc::StatusCode::UNAUTHENTICATED, "authorization key is not provided"};
    return identity;
  }
  bool matched = false;
  for (const auto& accepted : keys) {
    // Every key is compared, matching or not, so the time taken does not tell which one matched.
    if (!common::ConstantTimeEqual(it->second, accepted.key)) continue;
    matched = true;
    if (accepted.cluster.empty()) {
      identity.any_cluster = true;
    } else {
      identity.clusters.push_back(accepted.cluster);
    }
  }
  if (!matched) {
    identity.status = {grpc::StatusCode::PERMISSION_DENIED, "application is not authorized"};
    return identity;
  }
  // A fingerprint, not the key: it travels in notifications between replicas.
  identity.credential =
      common::HexEncode(common::HmacSha256("deployd-credential", it->second)).substr(0, 32);
  return identity;
}

grpc::Status CheckDeploydCluster(const DeploydIdentity& identity, const std::string& cluster) {
  if (auto invalid = common::InvalidLabel("cluster", cluster)) {
    return {grpc::StatusCode::INVALID_ARGUMENT, *invalid};
  }
  if (!identity.MayServe(cluster)) {
    return {grpc::StatusCode::PERMISSION_DENIED,
            "this deployd key is not valid for cluster \"" + cluster + "\""};
  }
  return grpc::Status::OK;
}

}  // namespace hookd::grpcapi
