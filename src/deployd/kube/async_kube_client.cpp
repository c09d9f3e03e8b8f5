#include "deployd/kube/async_kube_client.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/error.hpp"

namespace deployd::kube {
namespace {

using common::ErrorCode;

std::uint64_t Random() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  return random();
}

}  // namespace

bool IsRetryable(const KubeCall& call) {
  if (call.method == "GET" || call.method == "HEAD") return true;
  return call.method == "PATCH" && call.content_type == "application/apply-patch+yaml";
}

AsyncKubeClient::AsyncKubeClient(net::any_io_executor executor, KubeConfig config,
                                 const common::Timers& timers)
    : config_(std::move(config)), timers_(timers) {
  http_ =
      std::make_unique<common::AsyncHttpClient>(std::move(executor), HttpOptionsFor(config_, 64));
}

AsyncKubeClient::~AsyncKubeClient() = default;

void AsyncKubeClient::SetRateLimit(double qps, double burst) {
  std::lock_guard lock(bucket_mutex_);
  if (qps <= 0) {
    bucket_.reset();
  } else {
    bucket_.emplace(qps, std::max(1.0, burst));
  }
}

net::awaitable<void> AsyncKubeClient::Throttle() {
  std::chrono::nanoseconds wait{0};
  {
    std::lock_guard lock(bucket_mutex_);
    if (!bucket_) co_return;
    wait = bucket_->Reserve(timers_.SteadyNow());
  }
  if (wait.count() > 0) co_await SleepFor(wait);
}

net::awaitable<void> AsyncKubeClient::SleepFor(std::chrono::nanoseconds span) {
  auto timer = timers_.MakeTimer(co_await net::this_coro::executor);
  co_await timer->WaitFor(span);
}

net::awaitable<common::HttpResponse> AsyncKubeClient::Call(KubeCall call) {
  auto request = BuildKubeRequest(call, token_.Get());
  const bool retryable = IsRetryable(call);
  for (int attempt = 0;; ++attempt) {
    const bool last = attempt + 1 >= max_attempts_;
    co_await Throttle();
    common::HttpResponse response;
    std::chrono::milliseconds delay{0};
    try {
      response = co_await http_->Send(request);
    } catch (const common::Error& e) {
      const bool transient =
          e.Code() == ErrorCode::kUnavailable || e.Code() == ErrorCode::kDeadlineExceeded;
      if (last || !transient || !retryable) throw;
      delay = common::WithJitter(
          common::BackoffDelay(attempt, retry_base_, std::chrono::seconds(5)), Random());
      spdlog::warn("kubernetes {} {}: {}; retrying in {} ms", call.method, call.path, e.what(),
                   delay.count());
    }
    if (delay.count() == 0) {
      if (response.status < 400) co_return response;
      auto error = ParseApiError(response);
      const bool again = error.HttpStatus() == 429 || (retryable && IsTransient(error));
      if (!again || last) throw error;
      delay =
          error.RetryAfterSeconds() > 0
              ? std::chrono::milliseconds(std::chrono::seconds(error.RetryAfterSeconds()))
              : common::WithJitter(
                    common::BackoffDelay(attempt, retry_base_, std::chrono::seconds(5)), Random());
      spdlog::warn("kubernetes {} {}: {} {}; retrying in {} ms", call.method, call.path,
                   error.HttpStatus(), error.what(), delay.count());
    }
    co_await SleepFor(delay);
  }
}

net::awaitable<nlohmann::json> AsyncKubeClient::CallJson(KubeCall call) {
  auto response = co_await Call(call);
  // Nobody reads managedFields; leaving them out while parsing keeps big lists small.
  auto drop_managed_fields = [](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    return !(event == nlohmann::json::parse_event_t::key && parsed == "managedFields");
  };
  auto body = nlohmann::json::parse(response.body, drop_managed_fields, false);
  if (body.is_discarded()) {
    throw common::Error(ErrorCode::kInternal,
                        fmt::format("{} {}: response is not JSON", call.method, call.path));
  }
  co_return body;
}

net::awaitable<void> AsyncKubeClient::Stream(KubeCall call,
                                             std::function<bool(std::string_view)> on_data,
                                             std::shared_ptr<common::HttpCancel> stop) {
  auto request = BuildKubeRequest(call, token_.Get());
  co_await Throttle();
  int status = 0;
  common::HttpResponse head;
  std::string error_body;
  auto on_headers = [&status, &head](const common::HttpResponse& response) {
    status = response.status;
    head = response;
    return true;
  };
  auto on_body = [&status, &error_body, &on_data](std::string_view data) {
    if (status >= 300) {
      error_body.append(data);
      return error_body.size() < std::size_t{1024} * 1024;  // keeps at most 1 MiB of an error
    }
    return on_data(data);
  };
  co_await http_->Stream(request, on_headers, on_body, stop);
  if (status >= 300) {
    head.body = std::move(error_body);
    throw ParseApiError(head);
  }
}

}  // namespace deployd::kube
