#pragma once
#include <memory>

#include <grpcpp/support/status.h>

#include "deploy-cli/transport/transport.hpp"

namespace deploy_cli {

// gRPC transport to config.server (TLS with the system roots unless use_tls is false); with
// authentication, API-key HMAC metadata on every call (or the GitHub OIDC `jwt` when token URL
// and bearer token are set).
std::unique_ptr<Transport> MakeGrpcTransport(const TransportConfig& config);

// A gRPC call's outcome as the CLI sees it: code and message, and the failure kind (gRPC's own
// refusal of a message over a size limit is recognised here and nowhere else).
RpcStatus FromGrpcStatus(const grpc::Status& status);

// Picks the HTTP transport for http:// and https:// servers, gRPC otherwise.
std::unique_ptr<Transport> MakeTransport(const TransportConfig& config);

}  // namespace deploy_cli
