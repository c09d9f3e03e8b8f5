#pragma once
#include <memory>

#include "deploy-cli/transport/transport.hpp"

namespace deploy_cli {

// The seed's HTTP API: POST <server>/api/v1/deploy (X-NAIS-Signature = hex HMAC-SHA256 of the
// body under the key), then POST /api/v1/status polled every 5 s as a status "stream".
std::unique_ptr<Transport> MakeHttpTransport(const TransportConfig& config);

}  // namespace deploy_cli
