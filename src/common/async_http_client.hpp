#pragma once
// The asynchronous front end of the HTTP(S) client: C++20 coroutines on an io_context that the
// caller runs with any number of threads. Same options, request checks, errors and messages as the
// blocking HttpClient (http_client.hpp), whose types it shares.
//
// Kept-alive connections are pooled and shared by every caller (the pool is thread-safe). Each
// connection has its own strand and every operation on it runs there, so callers may be on any
// executor (their coroutines resume on their own). Deadlines: Send() ends within request.timeout
// (default options.request_timeout) as a whole; Stream() fails when nothing arrived for that long.
// A failed write or an empty answer on a pooled connection (the server closed it while idle) is
// tried once more on a new connection; nothing else is retried here.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/asio.hpp"
#include "common/http_client.hpp"

namespace common {

class AsyncHttpClient {
 public:
  // Throws common::Error{kInvalidArgument} for a bad base URL or TLS data. `executor` runs the
  // connections (each on its own strand).
  AsyncHttpClient(net::any_io_executor executor, HttpClientOptions options);
  ~AsyncHttpClient();
  AsyncHttpClient(const AsyncHttpClient&) = delete;
  AsyncHttpClient& operator=(const AsyncHttpClient&) = delete;

  // The client must outlive the calls (it owns the TLS context and the pool).
  net::awaitable<HttpResponse> Send(HttpRequest request);
  // Hands the body to on_data as it arrives (chunked transfer decoded), on the caller's executor.
  // on_headers is called once before any data; returning false from either ends the call early
  // (the connection is then closed, not reused). Returns the response with an empty body.
  // `stop` (the same handle as HttpClient's) ends a running Stream() from outside, also before
  // the stream started or after it ended: the stream then ends with kUnavailable
  // `<METHOD> <url>: cancelled` (or returns, if its body was complete).
  net::awaitable<HttpResponse> Stream(HttpRequest request,
                                      std::function<bool(const HttpResponse&)> on_headers,
                                      std::function<bool(std::string_view)> on_data,
                                      std::shared_ptr<HttpCancel> stop);

  const HttpClientOptions& Options() const;
  std::size_t IdleConnections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace common
