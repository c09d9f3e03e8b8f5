#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/message_size.hpp"
#include "hookd/config.hpp"
#include "hookd/dispatch/dispatcher.hpp"
#include "hookd/grpc/jwt.hpp"
#include "hookd/metrics.hpp"
#include "hookd/store/interfaces.hpp"
#include "hookd/worker_pool.hpp"

namespace hookd::grpcapi {

struct GrpcOptions {
  std::string address = "127.0.0.1:9090";
  bool cli_authentication = false;
  bool deployd_authentication = false;
  std::vector<DeploydKey> deployd_keys;  // --deployd-keys
  std::chrono::milliseconds keepalive_interval{15000};
  // Optional TLS on the listener (PEM files); plaintext h2c when both are empty.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Statuses a Status stream may have waiting before it is ended with UNAVAILABLE.
  std::size_t status_buffer = 64;
  // --max-message-size: largest request accepted (pb.Deploy/Deploy and Status carry the
  // manifests); larger ones are refused with RESOURCE_EXHAUSTED naming the limit.
  std::size_t max_message_size = common::kDefaultMaxMessageSize;
  // GitHub OIDC JWT verification (metadata `jwt`); nullptr rejects JWTs as invalid.
  const JwtVerifier* jwt = nullptr;
  // Optional grpc_server_* and auth metrics.
  Metrics* metrics = nullptr;
};

// The storage the gRPC services reach, besides the dispatcher's: pb.Deploy's reads and
// pb.Dispatch's queue (store::Store in hookd; in-memory fakes in the unit tests).
struct GrpcStores {
  store::ApiKeyStore& api_keys;
  store::RepositoryAuthorizer& repositories;
  store::DeploymentReader& deployments;
  store::QueueStore& queue;
};

// The gRPC listener with pb.Deploy and pb.Dispatch (callback API: streams hold no thread).
class GrpcServer {
 public:
  GrpcServer(dispatch::Dispatcher& dispatcher, GrpcStores stores, WorkerPool& workers,
             GrpcOptions options);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Binds and starts serving. Returns the bound port. Throws common::Error{kUnavailable} when
  // the address cannot be bound.
  int Start();
  // Ends every open stream (deployd and CLIs reconnect elsewhere), then shuts down, cancelling
  // whatever is still running after `grace`. Call from a non-gRPC thread.
  void Shutdown(std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hookd::grpcapi
