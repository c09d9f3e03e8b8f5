#include "deployd/kube/kube_client.hpp"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/strings.hpp"

namespace deployd::kube {
namespace {

using common::ErrorCode;

ErrorCode CodeForStatus(int status) {
  switch (status) {
    case 400:
    case 422:
      return ErrorCode::kInvalidArgument;
    case 401:
      return ErrorCode::kUnauthenticated;
    case 403:
      return ErrorCode::kPermissionDenied;
    case 404:
      return ErrorCode::kNotFound;
    case 409:
      return ErrorCode::kConflict;
    case 429:
    case 503:
      return ErrorCode::kUnavailable;
    case 504:
      return ErrorCode::kDeadlineExceeded;
    default:
      return ErrorCode::kInternal;
  }
}

std::string GenericReason(int status) {
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return status >= 500 ? "InternalError" : "";
  }
}

}  // namespace

ApiError::ApiError(int http_status, std::string reason, const std::string& message, bool is_status,
                   int retry_after_seconds)
    : common::Error(CodeForStatus(http_status), message),
      http_status_(http_status),
      reason_(std::move(reason)),
      is_status_(is_status),
      retry_after_seconds_(retry_after_seconds) {}

ApiError ParseApiError(const common::HttpResponse& response) {
  int retry_after = 0;
  auto header = response.Header("Retry-After");
  if (!header.empty()) {
    try {
      retry_after = std::stoi(header);
    } catch (const std::exception&) {
      retry_after = 0;
    }
  }
  if (response.Header("Content-Type").rfind("application/json", 0) == 0) {
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_object() && body.value("kind", "") == "Status") {
      int code = body.value("code", response.status);
      if (code == 0) code = response.status;
      if (retry_after == 0 && body.contains("details") && body["details"].is_object()) {
        retry_after = body["details"].value("retryAfterSeconds", 0);
      }
      return ApiError(code, body.value("reason", ""), body.value("message", ""), true, retry_after);
    }
  }
  std::string message;
  switch (response.status) {
    case 404:
      message = "the server could not find the requested resource";
      break;
    case 401:
      message = "Unauthorized";
      break;
    default: {
      auto text = common::Trim(response.body);
      message =
          text.empty()
              ? fmt::format("the server responded with status {}", response.status)
              : fmt::format(
                    "an error on the server (\"{}\") has prevented the request from succeeding",
                    text);
    }
  }
  return ApiError(response.status, GenericReason(response.status), message, false, retry_after);
}

bool IsTransient(const ApiError& error) {
  if (error.HttpStatus() == 429) return true;
  if (error.HttpStatus() < 500) return false;
  return std::string(error.what()).find("field not declared in schema") == std::string::npos;
}

std::chrono::nanoseconds TokenBucket::Reserve(std::chrono::steady_clock::time_point now) {
  if (last_) {
    double elapsed = std::chrono::duration<double>(now - *last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
  }
  last_ = now;
  tokens_ -= 1.0;
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<long long>(-tokens_ / qps_ * 1e9));
}

void KubeClient::SetRateLimit(double qps, double burst) {
  std::lock_guard lock(bucket_mutex_);
  if (qps <= 0) {
    bucket_.reset();
  } else {
    bucket_.emplace(qps, std::max(1.0, burst));
  }
}

void KubeClient::Throttle() {
  std::chrono::nanoseconds wait{0};
  {
    std::lock_guard lock(bucket_mutex_);
    if (!bucket_) return;
    wait = bucket_->Reserve(std::chrono::steady_clock::now());
  }
  if (wait.count() > 0) std::this_thread::sleep_for(wait);
}

KubeClient::KubeClient(KubeConfig config) : config_(std::move(config)) {
  http_ = std::make_unique<common::HttpClient>(HttpOptionsFor(config_, 16));
  sleep_ = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

KubeClient::~KubeClient() = default;

std::string BearerTokenSource::Get() {
  if (!token_.empty()) return token_;
  if (token_file_.empty()) return "";
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (file_token_.empty() || now - read_at_ > std::chrono::minutes(1)) {
    std::ifstream in(token_file_);
    if (!in) {
      throw common::Error(ErrorCode::kUnauthenticated,
                          fmt::format("cannot read token file {}", token_file_));
    }
    std::ostringstream out;
    out << in.rdbuf();
    file_token_ = common::Trim(out.str());
    read_at_ = now;
  }
  return file_token_;
}

common::HttpRequest BuildKubeRequest(const KubeCall& call, const std::string& token) {
  common::HttpRequest request;
  request.timeout = call.timeout;
  request.method = call.method;
  request.target = call.path;
  request.headers.push_back({"Accept", call.accept});
  if (!token.empty()) request.headers.push_back({"Authorization", "Bearer " + token});
  if (!call.impersonate_user.empty()) {
    request.headers.push_back({"Impersonate-User", call.impersonate_user});
  }
  if (!call.body.empty() || !call.content_type.empty()) {
    request.headers.push_back(
        {"Content-Type", call.content_type.empty() ? "application/json" : call.content_type});
    request.body = call.body;
  }
  return request;
}

common::HttpRequest KubeClient::BuildRequest(const KubeCall& call) {
  return BuildKubeRequest(call, token_.Get());
}

void KubeClient::Stream(const KubeCall& call, const std::function<bool(std::string_view)>& on_data,
                        common::HttpCancel* cancel) {
  auto request = BuildRequest(call);
  Throttle();
  int status = 0;
  common::HttpResponse head;
  std::string error_body;
  http_->Stream(
      request,
      [&](const common::HttpResponse& response) {
        status = response.status;
        head = response;
        return true;
      },
      [&](std::string_view data) {
        if (status >= 300) {
          error_body.append(data);
          return error_body.size() < std::size_t{1024} * 1024;  // keeps at most 1 MiB of an error
        }
        return on_data(data);
      },
      cancel);
  if (status >= 300) {
    head.body = std::move(error_body);
    throw ParseApiError(head);
  }
}

common::HttpResponse KubeClient::Call(const KubeCall& call) {
  auto request = BuildRequest(call);
  static thread_local std::mt19937_64 random{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    bool last = attempt + 1 >= max_attempts_;
    common::HttpResponse response;
    Throttle();
    try {
      response = http_->Send(request);
    } catch (const common::Error& e) {
      bool retryable =
          e.Code() == ErrorCode::kUnavailable || e.Code() == ErrorCode::kDeadlineExceeded;
      if (last || !retryable) throw;
      auto delay = common::WithJitter(
          common::BackoffDelay(attempt, std::chrono::milliseconds(200), std::chrono::seconds(5)),
          random());
      spdlog::warn("kubernetes {} {}: {}; retrying in {} ms", call.method, call.path, e.what(),
                   delay.count());
      sleep_(delay);
      continue;
    }
    if (response.status < 400) return response;
    auto error = ParseApiError(response);
    if (!IsTransient(error) || last) throw error;
    auto delay =
        error.RetryAfterSeconds() > 0
            ? std::chrono::milliseconds(std::chrono::seconds(error.RetryAfterSeconds()))
            : common::WithJitter(common::BackoffDelay(attempt, std::chrono::milliseconds(200),
                                                      std::chrono::seconds(5)),
                                 random());
    spdlog::warn("kubernetes {} {}: {} {}; retrying in {} ms", call.method, call.path,
                 error.HttpStatus(), error.what(), delay.count());
    sleep_(delay);
  }
}

nlohmann::json KubeClient::CallJson(const KubeCall& call) {
  auto response = Call(call);
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_discarded()) {
    throw common::Error(ErrorCode::kInternal,
                        fmt::format("{} {}: response is not JSON", call.method, call.path));
  }
  return body;
}

}  // namespace deployd::kube
