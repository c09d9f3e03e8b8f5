#pragma once
#include <memory>

#include "deploy-cli/transport/transport.hpp"

namespace deploy_cli {

// gRPC transport to config.server (TLS with the system roots unless use_tls is false); with
// authentication, API-key HMAC metadata on every call (or the GitHub OIDC `jwt` when token URL
// and bearer token are set).
std::unique_ptr<Transport> MakeGrpcTransport(const TransportConfig& config);

// Picks the HTTP transport for http:// and https:// servers, gRPC otherwise.
std::unique_ptr<Transport> MakeTransport(const TransportConfig& config);

}  // namespace deploy_cli
