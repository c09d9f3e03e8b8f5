#pragma once
// deployd's asynchronous Kubernetes client (C++20 coroutines on the engine's io_context): the
// same credentials, impersonation, Status errors (ApiError) and messages as the blocking
// KubeClient, over common::AsyncHttpClient's kept-alive connections.
//
// - Rate limit: one token bucket (--kube-qps/--kube-burst) for every request, watches included;
//   a caller without a token waits on a timer, never on a thread.
// - Retries with capped exponential backoff and jitter, at most max_attempts in total: reads
//   (GET), server-side apply (PATCH application/apply-patch+yaml, idempotent) and any request the
//   server refused without processing it (429, Retry-After honoured). Other writes (POST, PUT,
//   merge patches) are sent once: repeating one whose answer was lost could do it twice. Watches
//   are not retried here; the informer resumes them.
// - Deadlines: every call has one (KubeCall::timeout, default 30 s per attempt; for streams the
//   longest silence allowed).
// Thread-safe; every coroutine resumes on its caller's executor. Throws ApiError for answers
// >= 400 and common::Error for transport failures (http_client.hpp).
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "common/async_http_client.hpp"
#include "common/timers.hpp"
#include "deployd/kube/kube_client.hpp"
#include "deployd/kube/kubeconfig.hpp"

namespace deployd::kube {

namespace net = common::net;

// Whether a failed call may be sent again (see above).
bool IsRetryable(const KubeCall& call);

class AsyncKubeClient {
 public:
  // `timers`: the clock of the rate limit and of the waits between attempts; outlives the client.
  AsyncKubeClient(net::any_io_executor executor, KubeConfig config,
                  const common::Timers& timers = common::RealTimers());
  ~AsyncKubeClient();

  net::awaitable<common::HttpResponse> Call(KubeCall call);
  net::awaitable<nlohmann::json> CallJson(KubeCall call);
  // Streams the body of a watch to on_data (on the caller's executor; return false to stop).
  // Non-2xx answers are read whole and thrown as ApiError. `stop` ends it from any thread.
  net::awaitable<void> Stream(KubeCall call, std::function<bool(std::string_view)> on_data,
                              std::shared_ptr<common::HttpCancel> stop);

  const KubeConfig& Config() const { return config_; }
  void SetMaxAttempts(int attempts) { max_attempts_ = attempts; }
  // Requests per second and burst; qps <= 0 disables the limit.
  void SetRateLimit(double qps, double burst);
  // First retry delay (doubled per attempt, at most 5 s).
  void SetRetryBase(std::chrono::milliseconds base) { retry_base_ = base; }

 private:
  net::awaitable<void> Throttle();
  net::awaitable<void> SleepFor(std::chrono::nanoseconds span);

  KubeConfig config_;
  const common::Timers& timers_;
  BearerTokenSource token_{config_};
  std::unique_ptr<common::AsyncHttpClient> http_;
  std::mutex bucket_mutex_;
  std::optional<TokenBucket> bucket_;
  int max_attempts_ = 5;
  std::chrono::milliseconds retry_base_{200};
};

}  // namespace deployd::kube
