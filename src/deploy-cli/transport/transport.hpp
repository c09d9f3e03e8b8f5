#pragma once
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/support/status_code_enum.h>

#include "common/message_size.hpp"
#include "common/time.hpp"
#include "deployment.pb.h"

namespace deploy_cli {

// What a failed call means beyond its code, decided by the transport that saw the failure, so
// that no caller has to read it back out of the message.
enum class RpcFailure {
  kOther,
  // gRPC itself refused a message over a size limit (the server's receive limit or our own
  // channel's), as opposed to a RESOURCE_EXHAUSTED sent by the server's code.
  kGrpcMessageTooLarge,
};

// Outcome of one call, with gRPC's codes (the HTTP transport maps its answers onto them).
struct RpcStatus {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  RpcFailure failure = RpcFailure::kOther;
  bool Ok() const noexcept { return code == grpc::StatusCode::OK; }
};

// Whether a failed call is worth another try: UNAVAILABLE or INTERNAL, as the original retries.
bool Retriable(const RpcStatus& status);
// The server's message, or what the code means when it sent none (no failure is shown without
// text): "no message from NAIS deploy; the server cannot be reached or is not ready".
std::string DescribeRpc(const RpcStatus& status);
// "Unavailable: <DescribeRpc>", with the code named as grpc-go names it.
std::string FormatRpc(const RpcStatus& status);

// An open Status stream.
class StatusStream {
 public:
  virtual ~StatusStream() = default;
  // Blocks for the next status. A stream that the server ends cleanly reports
  // {Unknown, "EOF"} (what grpc-go's io.EOF looks like to the original).
  virtual RpcStatus Recv(pb::DeploymentStatus& status) = 0;
};

// The CLI's view of hookd: pb.Deploy/Deploy and pb.Deploy/Status.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual RpcStatus Deploy(const pb::DeploymentRequest& request, common::SystemTime deadline,
                           pb::DeploymentStatus& response) = 0;
  virtual RpcStatus OpenStatus(const pb::DeploymentRequest& request, common::SystemTime deadline,
                               std::unique_ptr<StatusStream>& stream) = 0;
  // pb.Deploy/Cancel (POST /api/v1/cancel over HTTP). A transport without it answers
  // UNIMPLEMENTED.
  virtual RpcStatus Cancel(const pb::CancelRequest& /*request*/, common::SystemTime /*deadline*/,
                           pb::DeploymentStatus& /*response*/) {
    return {grpc::StatusCode::UNIMPLEMENTED, "this transport cannot cancel deployments"};
  }
};

struct TransportConfig {
  std::string server;  // host:port (gRPC) or http(s)://host:port (HTTP API)
  bool use_tls = true;
  std::string root_pem;  // trusted CAs for TLS; empty = the system's CA bundle
  bool authentication = true;
  std::string api_key;    // decoded key bytes (API-key HMAC)
  std::string team;       // metadata `team`
  std::string token_url;  // GitHub OIDC (both set -> JWT credentials)
  std::string bearer_token;
  const common::Clock* clock = nullptr;
  std::function<void(std::chrono::nanoseconds)> sleep;  // the HTTP transport polls
  // --max-message-size: gRPC's send and receive limits (plus envelope); the HTTP API's largest
  // request body.
  std::size_t max_message_size = common::kDefaultMaxMessageSize;
  // Sent with every Deploy call (gRPC metadata `idempotency-key`, HTTP header `Idempotency-Key`):
  // the run's one logical request, the same on every retry. Empty: none sent.
  std::string idempotency_key;
};

// Creates the transport; throws CliError (exit 6 `connect to NAIS deploy: ...`) on failure.
using TransportFactory = std::function<std::unique_ptr<Transport>(const TransportConfig&)>;

// The per-RPC API-key metadata: timestamp (RFC3339Nano), authorization
// (hex HMAC-SHA256 of the timestamp under the key bytes), team.
struct ApiKeyMetadata {
  std::string timestamp;
  std::string authorization;
  std::string team;
};
ApiKeyMetadata MakeApiKeyMetadata(std::string_view key_bytes, std::string_view team,
                                  common::SystemTime now);

}  // namespace deploy_cli
