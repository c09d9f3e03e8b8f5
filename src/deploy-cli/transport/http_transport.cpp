// The HTTP API transport (`--deploy-server http(s)://host:port`): the original's public API of
// the original's pre-gRPC HTTP API, served again by our hookd next to gRPC.
#include "deploy-cli/transport/http_transport.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/http_client.hpp"
#include "common/message_size.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "deploy-cli/config.hpp"
#include "deploy-cli/exit_code.hpp"

namespace deploy_cli {

namespace {

grpc::StatusCode CodeForHttpStatus(int status) {
  switch (status) {
    case 400:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return grpc::StatusCode::UNAUTHENTICATED;
    case 403:
      return grpc::StatusCode::PERMISSION_DENIED;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 409:
      return grpc::StatusCode::ALREADY_EXISTS;
    case 410:
      return grpc::StatusCode::UNIMPLEMENTED;
    case 412:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case 413:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 429:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 502:
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    case 504:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    default:
      return status >= 500 ? grpc::StatusCode::INTERNAL : grpc::StatusCode::UNKNOWN;
  }
}

RpcStatus FromException(const common::Error& e) {
  if (e.Code() == common::ErrorCode::kDeadlineExceeded) {
    return {grpc::StatusCode::DEADLINE_EXCEEDED, e.what()};
  }
  if (e.Code() == common::ErrorCode::kInvalidArgument) {
    return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
  }
  return {grpc::StatusCode::UNAVAILABLE, e.what()};
}

std::chrono::milliseconds Remaining(common::SystemTime deadline, const common::Clock& clock) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock.Now());
  return std::max(left, std::chrono::milliseconds(1));
}

class HttpTransport;

// Polls /api/v1/status every 5 s and reports each change of (state, message) as a status.
class PollingStatusStream final : public StatusStream {
 public:
  PollingStatusStream(HttpTransport& transport, pb::DeploymentRequest request,
                      common::SystemTime deadline)
      : transport_(transport), request_(std::move(request)), deadline_(deadline) {}
  RpcStatus Recv(pb::DeploymentStatus& status) override;

 private:
  HttpTransport& transport_;
  pb::DeploymentRequest request_;
  common::SystemTime deadline_;
  bool first_ = true;
  std::string last_state_;
  std::string last_message_;
};

class HttpTransport final : public Transport {
 public:
  explicit HttpTransport(const TransportConfig& config) : config_(config) {
    common::HttpClientOptions options;
    options.base_url = config.server;
    while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
    options.user_agent = "deploy/" + Version();
    try {
      client_ = std::make_unique<common::HttpClient>(options);
    } catch (const std::exception& e) {
      throw CliError(ExitCode::kInvocationFailure,
                     fmt::format("connect to NAIS deploy: {}", e.what()));
    }
  }

  RpcStatus Deploy(const pb::DeploymentRequest& request, common::SystemTime deadline,
                   pb::DeploymentStatus& response) override {
    nlohmann::json resources = nlohmann::json::array();
    for (const auto& resource : request.kubernetes().resources()) {
      resources.push_back(common::StructToJson(resource));
    }
    const nlohmann::json body = {
        {"resources", resources},
        {"team", request.team()},
        {"cluster", request.cluster()},
        {"environment", request.githubenvironment()},
        {"owner", request.repository().owner()},
        {"repository", request.repository().name()},
        {"ref", request.gitrefsha().empty() ? std::string("master") : request.gitrefsha()},
        {"timestamp", UnixNow()},
    };
    nlohmann::json answer;
    int status = 0;
    if (RpcStatus failed =
            Post("/api/v1/deploy", body, deadline, answer, status, config_.idempotency_key);
        !failed.Ok()) {
      return failed;
    }
    if (status != 201) return ErrorFor(status, answer);
    *response.mutable_request() = request;
    response.mutable_request()->set_id(answer.value("correlationID", ""));
    response.set_state(pb::queued);
    response.set_message(answer.value("message", ""));
    *response.mutable_time() = common::ToTimestamp(config_.clock->Now());
    return {};
  }

  RpcStatus OpenStatus(const pb::DeploymentRequest& request, common::SystemTime deadline,
                       std::unique_ptr<StatusStream>& stream) override {
    stream = std::make_unique<PollingStatusStream>(*this, request, deadline);
    return {};
  }

  // POST /api/v1/cancel: 200 with the final status (withdrawn), 202 with the current one (the
  // cluster's deployd was asked to stop it); 409 is a failed precondition here.
  RpcStatus Cancel(const pb::CancelRequest& request, common::SystemTime deadline,
                   pb::DeploymentStatus& response) override {
    const nlohmann::json body = {{"deploymentID", request.id()},
                                 {"team", request.team()},
                                 {"reason", request.reason()},
                                 {"timestamp", UnixNow()}};
    nlohmann::json answer;
    int status = 0;
    if (RpcStatus failed = Post("/api/v1/cancel", body, deadline, answer, status); !failed.Ok()) {
      return failed;
    }
    if (status == 409) {
      RpcStatus refused = ErrorFor(status, answer);
      refused.code = grpc::StatusCode::FAILED_PRECONDITION;
      return refused;
    }
    if (status != 200 && status != 202) return ErrorFor(status, answer);
    const std::string state = answer.is_object() ? answer.value("status", "") : "";
    response.mutable_request()->set_id(request.id());
    response.set_state(common::ParseStateName(state).value_or(pb::in_progress));
    response.set_message(answer.is_object() ? answer.value("message", "") : "");
    *response.mutable_time() = common::ToTimestamp(config_.clock->Now());
    return {};
  }

  // One /api/v1/status call: state name and message.
  RpcStatus QueryStatus(const pb::DeploymentRequest& request, common::SystemTime deadline,
                        std::string& state, std::string& message) {
    const nlohmann::json body = {
        {"deploymentID", request.id()}, {"team", request.team()}, {"timestamp", UnixNow()}};
    nlohmann::json answer;
    int status = 0;
    if (RpcStatus failed = Post("/api/v1/status", body, deadline, answer, status); !failed.Ok()) {
      return failed;
    }
    if (status != 200) return ErrorFor(status, answer);
    state = answer.contains("status") && answer["status"].is_string()
                ? answer["status"].get<std::string>()
                : "";
    message = answer.value("message", "");
    return {};
  }

  void Sleep(std::chrono::nanoseconds d) {
    if (config_.sleep) config_.sleep(d);
  }
  const common::Clock& Clock() const { return *config_.clock; }

 private:
  std::int64_t UnixNow() const {
    return std::chrono::duration_cast<std::chrono::seconds>(config_.clock->Now().time_since_epoch())
        .count();
  }

  static RpcStatus ErrorFor(int status, const nlohmann::json& answer) {
    std::string message = answer.is_object() ? answer.value("message", "") : "";
    if (message.empty()) message = fmt::format("HTTP status {}", status);
    return {CodeForHttpStatus(status), message};
  }

  RpcStatus Post(const std::string& target, const nlohmann::json& body, common::SystemTime deadline,
                 nlohmann::json& answer, int& status, const std::string& idempotency_key = "") {
    common::HttpRequest http;
    http.method = "POST";
    http.target = target;
    http.body = body.dump(2) + "\n";
    if (http.body.size() > config_.max_message_size) {
      return {grpc::StatusCode::RESOURCE_EXHAUSTED,
              common::TooLargeMessage("request body", http.body.size(),
                                      common::CliSizeLimit(config_.max_message_size)) +
                  "; hookd has the same setting and must accept the size too"};
    }
    http.headers.push_back({"Content-Type", "application/json"});
    if (!idempotency_key.empty()) http.headers.push_back({"Idempotency-Key", idempotency_key});
    {  // The HTTP API has no unauthenticated mode: the body is always signed.
      http.headers.push_back(
          {"X-NAIS-Signature", common::HexEncode(common::HmacSha256(config_.api_key, http.body))});
    }
    http.timeout = std::min(Remaining(deadline, *config_.clock), std::chrono::milliseconds(30000));
    common::HttpResponse response;
    try {
      response = client_->Send(http);
    } catch (const common::Error& e) {
      return FromException(e);
    }
    status = response.status;
    answer = nlohmann::json::parse(response.body, nullptr, false);
    if (answer.is_discarded()) {
      if (status >= 200 && status < 300) {
        return {grpc::StatusCode::INTERNAL,
                fmt::format("received invalid response from server: {}", response.body)};
      }
      answer = nlohmann::json::object();
    }
    return {};
  }

  TransportConfig config_;
  std::unique_ptr<common::HttpClient> client_;
};

RpcStatus PollingStatusStream::Recv(pb::DeploymentStatus& status) {
  while (true) {
    if (!first_) {
      const auto left = deadline_ - transport_.Clock().Now();
      if (left <= std::chrono::nanoseconds::zero()) {
        return {grpc::StatusCode::DEADLINE_EXCEEDED, "context deadline exceeded"};
      }
      transport_.Sleep(std::min<std::chrono::nanoseconds>(kRetryInterval, left));
    }
    first_ = false;
    std::string state;
    std::string message;
    const RpcStatus result = transport_.QueryStatus(request_, deadline_, state, message);
    if (!result.Ok()) return result;
    if (state.empty() || (state == last_state_ && message == last_message_)) continue;
    const auto parsed = common::ParseStateName(state);
    if (!parsed) {
      return {grpc::StatusCode::INTERNAL, fmt::format("unknown deployment state \"{}\"", state)};
    }
    last_state_ = state;
    last_message_ = message;
    status.Clear();
    status.mutable_request()->set_id(request_.id());
    status.mutable_request()->set_cluster(request_.cluster());
    status.set_state(*parsed);
    status.set_message(message);
    *status.mutable_time() = common::ToTimestamp(transport_.Clock().Now());
    return {};
  }
}

}  // namespace

std::unique_ptr<Transport> MakeHttpTransport(const TransportConfig& config) {
  return std::make_unique<HttpTransport>(config);
}

}  // namespace deploy_cli
