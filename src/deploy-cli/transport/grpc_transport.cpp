#include "deploy-cli/transport/grpc_transport.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/grpc_error.hpp"
#include "common/hex.hpp"
#include "common/message_size.hpp"
#include "deploy-cli/config.hpp"
#include "deploy-cli/exit_code.hpp"
#include "deploy-cli/transport/github_token.hpp"
#include "deploy-cli/transport/http_transport.hpp"
#include "deployment.grpc.pb.h"

namespace deploy_cli {

ApiKeyMetadata MakeApiKeyMetadata(std::string_view key_bytes, std::string_view team,
                                  common::SystemTime now) {
  ApiKeyMetadata metadata;
  metadata.timestamp = common::FormatRfc3339Nano(now);
  metadata.authorization = common::HexEncode(common::HmacSha256(key_bytes, metadata.timestamp));
  metadata.team = std::string(team);
  return metadata;
}

RpcStatus FromGrpcStatus(const grpc::Status& status) {
  RpcStatus result{status.error_code(), status.error_message()};
  // gRPC reports its own size refusal only in words: "grpc: received message larger than max
  // (4546607 vs. 4194304)" from grpc-go, "Received message larger than max (...)" or "Sent
  // message larger than max (...)" from gRPC C++. Classified once, here, where it arrives.
  if (result.code == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    std::string lower = result.message;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower.find("message larger than max") != std::string::npos) {
      result.failure = RpcFailure::kGrpcMessageTooLarge;
    }
  }
  return result;
}

namespace {

class GrpcStatusStream final : public StatusStream {
 public:
  GrpcStatusStream(std::unique_ptr<grpc::ClientContext> context, pb::Deploy::Stub& stub,
                   const pb::DeploymentRequest& request)
      : context_(std::move(context)), reader_(stub.Status(context_.get(), request)) {}

  ~GrpcStatusStream() override {
    if (!finished_) {
      context_->TryCancel();
      pb::DeploymentStatus drain;
      while (reader_->Read(&drain)) {
      }
      (void)reader_->Finish();
    }
  }
  GrpcStatusStream(const GrpcStatusStream&) = delete;
  GrpcStatusStream& operator=(const GrpcStatusStream&) = delete;

  RpcStatus Recv(pb::DeploymentStatus& status) override {
    if (finished_) return final_;
    if (reader_->Read(&status)) return {};
    finished_ = true;
    const grpc::Status result = reader_->Finish();
    final_ = result.ok() ? RpcStatus{grpc::StatusCode::UNKNOWN, "EOF"} : FromGrpcStatus(result);
    return final_;
  }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<pb::DeploymentStatus>> reader_;
  bool finished_ = false;
  RpcStatus final_;
};

// TLS trust: the system's CA bundle (as Go's crypto/x509 uses), gRPC's own roots as fallback.
grpc::SslCredentialsOptions Roots(const std::string& root_pem) {
  grpc::SslCredentialsOptions options;
  if (!root_pem.empty()) {
    options.pem_root_certs = root_pem;
    return options;
  }
  for (const char* path : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                           "/etc/ssl/cert.pem"}) {
    std::ifstream in(path);
    if (!in) continue;
    std::ostringstream pem;
    pem << in.rdbuf();
    if (!pem.str().empty()) {
      options.pem_root_certs = pem.str();
      break;
    }
  }
  return options;
}

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(const TransportConfig& config) : config_(config) {
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        config.use_tls ? grpc::SslCredentials(Roots(config.root_pem))
                       : grpc::InsecureChannelCredentials();
    // No client keepalive pings: a server with gRPC's default enforcement (5 min) would answer
    // frequent pings with GOAWAY too_many_pings and break long --wait streams.
    grpc::ChannelArguments args;
    args.SetUserAgentPrefix("deploy/" + Version());
    // The request (checked against the limit before it is sent) and the Deploy reply, which
    // carries the request back, fit with the envelope.
    args.SetMaxSendMessageSize(common::GrpcChannelLimit(config.max_message_size));
    args.SetMaxReceiveMessageSize(common::GrpcChannelLimit(config.max_message_size));
    channel_ = grpc::CreateCustomChannel(config.server, credentials, args);
    if (!channel_)
      throw CliError(ExitCode::kInvocationFailure, "connect to NAIS deploy: no channel");
    stub_ = pb::Deploy::NewStub(channel_);
    if (config.authentication && !config.token_url.empty() && !config.bearer_token.empty()) {
      tokens_ =
          std::make_unique<GithubTokenSource>(config.token_url, config.bearer_token, *config.clock);
    }
  }

  RpcStatus Deploy(const pb::DeploymentRequest& request, common::SystemTime deadline,
                   pb::DeploymentStatus& response) override {
    grpc::ClientContext context;
    if (RpcStatus failed = Prepare(context, deadline); !failed.Ok()) return failed;
    if (!config_.idempotency_key.empty()) {
      context.AddMetadata("idempotency-key", config_.idempotency_key);
    }
    // Also in the request (traceParent); the metadata lets gRPC middleware see it.
    if (!request.traceparent().empty()) context.AddMetadata("traceparent", request.traceparent());
    return FromGrpcStatus(stub_->Deploy(&context, request, &response));
  }

  RpcStatus Cancel(const pb::CancelRequest& request, common::SystemTime deadline,
                   pb::DeploymentStatus& response) override {
    grpc::ClientContext context;
    if (RpcStatus failed = Prepare(context, deadline); !failed.Ok()) return failed;
    return FromGrpcStatus(stub_->Cancel(&context, request, &response));
  }

  RpcStatus OpenStatus(const pb::DeploymentRequest& request, common::SystemTime deadline,
                       std::unique_ptr<StatusStream>& stream) override {
    auto context = std::make_unique<grpc::ClientContext>();
    if (RpcStatus failed = Prepare(*context, deadline); !failed.Ok()) return failed;
    stream = std::make_unique<GrpcStatusStream>(std::move(context), *stub_, request);
    return {};
  }

 private:
  RpcStatus Prepare(grpc::ClientContext& context, common::SystemTime deadline) {
    context.set_deadline(deadline);
    if (!config_.authentication) return {};
    if (tokens_) {
      try {
        context.AddMetadata("jwt", tokens_->Token());
      } catch (const common::Error& e) {
        return {common::ToGrpcCode(e.Code()), e.what()};
      } catch (const std::exception& e) {
        return {grpc::StatusCode::UNAVAILABLE, e.what()};
      }
      context.AddMetadata("team", config_.team);
      return {};
    }
    const common::Clock& clock = *config_.clock;
    const ApiKeyMetadata metadata = MakeApiKeyMetadata(config_.api_key, config_.team, clock.Now());
    context.AddMetadata("timestamp", metadata.timestamp);
    context.AddMetadata("authorization", metadata.authorization);
    context.AddMetadata("team", metadata.team);
    return {};
  }

  TransportConfig config_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Deploy::Stub> stub_;
  std::unique_ptr<GithubTokenSource> tokens_;
};

}  // namespace

std::unique_ptr<Transport> MakeGrpcTransport(const TransportConfig& config) {
  return std::make_unique<GrpcTransport>(config);
}

std::unique_ptr<Transport> MakeTransport(const TransportConfig& config) {
  if (config.server.rfind("http://", 0) == 0 || config.server.rfind("https://", 0) == 0) {
    return MakeHttpTransport(config);
  }
  return MakeGrpcTransport(config);
}

}  // namespace deploy_cli
