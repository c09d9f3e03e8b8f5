#include "deploy-cli/transport/http_transport.hpp"

#include "deploy-cli/exit_code.hpp"

namespace deploy_cli {

std::unique_ptr<Transport> MakeHttpTransport(const TransportConfig& config) {
  throw CliError(ExitCode::kInvocationFailure,
                 "connect to NAIS deploy: the HTTP API transport is not available in this build (" +
                     config.server + ")");
}

}  // namespace deploy_cli
