#include <fmt/format.h>

#include "common/grpc_error.hpp"
#include "deploy-cli/transport/transport.hpp"

namespace deploy_cli {
namespace {

// What a code means when the server sent no message: no failure is shown without text.
const char* ExplainCode(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::CANCELLED:
      return "the call was cancelled";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "the server refused the request as invalid";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "the call did not finish before its deadline";
    case grpc::StatusCode::NOT_FOUND:
      return "the server does not know what was asked for";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "this client may not do that";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "the request exceeds a limit of the server, such as its message size";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "the server does not implement this call, or could not parse the request";
    case grpc::StatusCode::INTERNAL:
      return "the server had an internal error";
    case grpc::StatusCode::UNAVAILABLE:
      return "the server cannot be reached or is not ready";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "the server did not accept the credentials";
    default:
      return "the server did not say why";
  }
}

}  // namespace

bool Retriable(const RpcStatus& status) {
  return status.code == grpc::StatusCode::UNAVAILABLE || status.code == grpc::StatusCode::INTERNAL;
}

std::string DescribeRpc(const RpcStatus& status) {
  if (!status.message.empty()) return status.message;
  return fmt::format("no message from NAIS deploy; {}", ExplainCode(status.code));
}

std::string FormatRpc(const RpcStatus& status) {
  return fmt::format("{}: {}", common::GoCodeName(status.code), DescribeRpc(status));
}

}  // namespace deploy_cli
