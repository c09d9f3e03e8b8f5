#pragma once
// REST client for the Kubernetes API: credentials, impersonation, Status error parsing, retries
// of transient failures. Blocking; safe to share between threads.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/http_client.hpp"
#include "deployd/kube/kubeconfig.hpp"

namespace deployd::kube {

// An API answer with status >= 400. what() is the message the user sees: the Status message, or
// for non-Status bodies the client-go generic text (plain 404: "the server could not find the
// requested resource").
class ApiError : public common::Error {
 public:
  ApiError(int http_status, std::string reason, const std::string& message, bool is_status,
           int retry_after_seconds = 0);
  int HttpStatus() const noexcept { return http_status_; }
  const std::string& Reason() const noexcept { return reason_; }
  // false for a plain-text 404 (unknown path / type not served), true for a Status object.
  bool IsStatus() const noexcept { return is_status_; }
  int RetryAfterSeconds() const noexcept { return retry_after_seconds_; }
  bool IsNotFoundObject() const noexcept { return http_status_ == 404 && is_status_; }

 private:
  int http_status_;
  std::string reason_;
  bool is_status_;
  int retry_after_seconds_;
};

// Turns an error response into an ApiError (pure; unit tested).
ApiError ParseApiError(const common::HttpResponse& response);

// Worth retrying: 429, 5xx (except the SSA schema error "field not declared in schema").
bool IsTransient(const ApiError& error);

// Client-side rate limit (token bucket, like client-go's QPS/burst). Pure; time is passed in.
class TokenBucket {
 public:
  TokenBucket(double qps, double burst) : qps_(qps), burst_(burst), tokens_(burst) {}
  // Takes one token; returns how long the caller must wait before using it (0 = now).
  std::chrono::nanoseconds Reserve(std::chrono::steady_clock::time_point now);

 private:
  double qps_;
  double burst_;
  double tokens_;
  std::optional<std::chrono::steady_clock::time_point> last_;
};

struct KubeCall {
  std::string method = "GET";
  std::string path;              // path and query
  std::string impersonate_user;  // Impersonate-User when non-empty
  std::string body;
  std::string content_type;  // for bodies
  std::string accept = "application/json";
  std::optional<std::chrono::milliseconds> timeout;  // per-request (idle for streams)
};

// The bearer token of a kubeconfig: its token, or its token file (re-read at most once a minute,
// as projected service account tokens rotate). Thread-safe. Throws common::Error{kUnauthenticated}
// `cannot read token file <path>`.
class BearerTokenSource {
 public:
  explicit BearerTokenSource(const KubeConfig& config)
      : token_(config.token), token_file_(config.token_file) {}
  std::string Get();

 private:
  std::string token_;
  std::string token_file_;
  std::mutex mutex_;
  std::string file_token_;
  std::chrono::steady_clock::time_point read_at_{};
};

// The HTTP request of a call: Accept, Authorization (when `token` is not empty),
// Impersonate-User, Content-Type and body.
common::HttpRequest BuildKubeRequest(const KubeCall& call, const std::string& token);

// A request log line a test can look at (method, path, impersonated user).
using CallObserver = std::function<void(const KubeCall&, int status)>;

class KubeClient {
 public:
  explicit KubeClient(KubeConfig config);
  ~KubeClient();

  // Sends and returns the response; throws ApiError for status >= 400 and common::Error for
  // transport failures. Retries (capped backoff) 429 (Retry-After), 5xx (IsTransient) and broken
  // connections, at most `max_attempts` times in total; every request passes the rate limit.
  common::HttpResponse Call(const KubeCall& call);
  nlohmann::json CallJson(const KubeCall& call);
  // Streams the body (watch). Non-2xx answers are read whole and thrown as ApiError; transport
  // failures throw common::Error (no retries here: the watch loop decides).
  void Stream(const KubeCall& call, const std::function<bool(std::string_view)>& on_data,
              common::HttpCancel* cancel);

  const KubeConfig& Config() const { return config_; }
  void SetMaxAttempts(int attempts) { max_attempts_ = attempts; }
  void SetSleep(std::function<void(std::chrono::milliseconds)> sleep) { sleep_ = std::move(sleep); }
  // Requests per second and burst; qps <= 0 disables the limit.
  void SetRateLimit(double qps, double burst);

 private:
  common::HttpRequest BuildRequest(const KubeCall& call);

  KubeConfig config_;
  std::unique_ptr<common::HttpClient> http_;
  BearerTokenSource token_{config_};
  void Throttle();

  int max_attempts_ = 5;
  std::mutex bucket_mutex_;
  std::optional<TokenBucket> bucket_;
  std::function<void(std::chrono::milliseconds)> sleep_;
};

}  // namespace deployd::kube
