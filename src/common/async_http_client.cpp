// The asynchronous HTTP(S) client. See async_http_client.hpp.
//
// Threading: an AsyncConnection's streams are created with the connection's strand as their
// executor (Beast's tcp_stream timers and its operations must share one strand), and every
// operation on them runs in a coroutine co_spawned onto that strand; the caller awaits it from
// wherever it runs. Only the idle pool is shared between threads (a mutex).
#include "common/async_http_client.hpp"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include "common/error.hpp"
#include "common/http_detail.hpp"

namespace common {
namespace {

using namespace http_detail::names;  // NOLINT(google-build-using-namespace)
using SteadyClock = std::chrono::steady_clock;
using ErrorCodeT = boost::system::error_code;

constexpr std::size_t kChunk = std::size_t{16} * 1024;

struct AsyncConnection {
  explicit AsyncConnection(const net::any_io_executor& executor)
      : strand(net::make_strand(executor)) {}
  net::strand<net::any_io_executor> strand;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  // The response a Stream() is reading.
  std::optional<http::response_parser<http::buffer_body>> stream_parser;

  beast::tcp_stream& Lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  // On the strand.
  void Close() {
    if (!secure && !plain) return;
    ErrorCodeT ignored;
    Lowest().socket().close(ignored);
  }
};
using ConnectionPtr = std::shared_ptr<AsyncConnection>;

std::chrono::milliseconds Remaining(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

struct ReadResult {
  ErrorCodeT ec;
  bool got_some = false;
  bool keep_alive = false;
  HttpResponse response;
};

struct ChunkResult {
  ErrorCodeT ec;
  std::string data;
  bool done = false;
  bool keep_alive = false;
};

// ---- operations on a connection, each run on its strand ------------------------------------

net::awaitable<ErrorCodeT> WriteOn(ConnectionPtr c,
                                   std::shared_ptr<http::request<http::string_body>> req,
                                   std::chrono::milliseconds timeout) {
  ErrorCodeT ec;
  c->Lowest().expires_after(timeout);
  if (c->secure) {
    co_await http::async_write(*c->secure, *req, net::redirect_error(net::use_awaitable, ec));
  } else {
    co_await http::async_write(*c->plain, *req, net::redirect_error(net::use_awaitable, ec));
  }
  co_return ec;
}

net::awaitable<ReadResult> ReadResponseOn(ConnectionPtr c, std::size_t limit,
                                          std::chrono::milliseconds timeout) {
  ReadResult out;
  http::response_parser<http::string_body> parser;
  parser.body_limit(static_cast<std::uint64_t>(limit));
  c->Lowest().expires_after(timeout);
  if (c->secure) {
    co_await http::async_read(*c->secure, c->buffer, parser,
                              net::redirect_error(net::use_awaitable, out.ec));
  } else {
    co_await http::async_read(*c->plain, c->buffer, parser,
                              net::redirect_error(net::use_awaitable, out.ec));
  }
  out.got_some = parser.got_some();
  if (out.ec) co_return out;
  auto res = parser.release();
  out.keep_alive = res.keep_alive();
  out.response = http_detail::ToResponse(res.base());
  out.response.body = std::move(res.body());
  co_return out;
}

net::awaitable<ReadResult> ReadHeaderOn(ConnectionPtr c, std::optional<std::size_t> limit,
                                        std::chrono::milliseconds timeout) {
  ReadResult out;
  c->stream_parser.emplace();
  if (limit) {
    c->stream_parser->body_limit(static_cast<std::uint64_t>(*limit));
  } else {
    c->stream_parser->body_limit(boost::none);  // nothing is kept here: the caller decides
  }
  c->Lowest().expires_after(timeout);
  if (c->secure) {
    co_await http::async_read_header(*c->secure, c->buffer, *c->stream_parser,
                                     net::redirect_error(net::use_awaitable, out.ec));
  } else {
    co_await http::async_read_header(*c->plain, c->buffer, *c->stream_parser,
                                     net::redirect_error(net::use_awaitable, out.ec));
  }
  out.got_some = c->stream_parser->got_some();
  if (!out.ec) out.response = http_detail::ToResponse(c->stream_parser->get().base());
  co_return out;
}

net::awaitable<ChunkResult> ReadSomeOn(ConnectionPtr c, std::chrono::milliseconds timeout) {
  ChunkResult out;
  auto& parser = *c->stream_parser;
  if (parser.is_done()) {
    out.done = true;
    out.keep_alive = parser.get().keep_alive();
    co_return out;
  }
  std::vector<char> chunk(kChunk);
  parser.get().body().data = chunk.data();
  parser.get().body().size = chunk.size();
  c->Lowest().expires_after(timeout);
  if (c->secure) {
    co_await http::async_read_some(*c->secure, c->buffer, parser,
                                   net::redirect_error(net::use_awaitable, out.ec));
  } else {
    co_await http::async_read_some(*c->plain, c->buffer, parser,
                                   net::redirect_error(net::use_awaitable, out.ec));
  }
  if (out.ec == http::error::need_buffer) out.ec = {};
  out.data.assign(chunk.data(), chunk.size() - parser.get().body().size);
  out.done = !out.ec && parser.is_done();
  if (out.done) out.keep_alive = parser.get().keep_alive();
  co_return out;
}

}  // namespace

// ------------------------------------------------------------------------------------------------

// ------------------------------------------------------------------------------------------------

struct AsyncHttpClient::Impl {
  Impl(net::any_io_executor ex, HttpClientOptions o)
      : executor(std::move(ex)),
        options(std::move(o)),
        endpoint(http_detail::ParseBaseUrl(options.base_url)) {
    verify_name = options.tls_server_name.empty() ? endpoint.host : options.tls_server_name;
    if (endpoint.tls) tls.emplace(http_detail::MakeTlsContext(options));
  }

  net::any_io_executor executor;
  HttpClientOptions options;
  http_detail::Endpoint endpoint;
  std::string verify_name;
  std::optional<ssl::context> tls;
  mutable std::mutex mutex;
  std::vector<ConnectionPtr> idle;

  std::string Url(const HttpRequest& r) const {
    return fmt::format("{}{}", options.base_url, r.target);
  }

  [[noreturn]] static void Fail(const std::string& method, const std::string& url,
                                const ErrorCodeT& ec, std::string_view stage) {
    if (ec == beast::error::timeout) {
      throw Error(ErrorCode::kDeadlineExceeded, fmt::format("{} {}: timeout", method, url));
    }
    throw Error(ErrorCode::kUnavailable,
                fmt::format("{} {}: {}: {}", method, url, stage, ec.message()));
  }
  [[noreturn]] void Fail(const HttpRequest& r, const ErrorCodeT& ec, std::string_view stage) const {
    Fail(r.method, Url(r), ec, stage);
  }
  [[noreturn]] void Cancelled(const HttpRequest& r) const {
    throw Error(ErrorCode::kUnavailable, fmt::format("{} {}: cancelled", r.method, Url(r)));
  }
  [[noreturn]] void TooLarge(const HttpRequest& r, std::size_t limit) const {
    throw Error(ErrorCode::kFailedPrecondition,
                fmt::format("{} {}: response body is larger than the limit of {} bytes", r.method,
                            Url(r), limit));
  }

  ConnectionPtr TakeIdle() {
    std::lock_guard lock(mutex);
    if (idle.empty()) return nullptr;
    auto c = std::move(idle.back());
    idle.pop_back();
    return c;
  }
  void GiveBack(ConnectionPtr c) {
    std::lock_guard lock(mutex);
    if (idle.size() < options.max_idle_connections) idle.push_back(std::move(c));
  }
};

namespace {

// A new connection (TCP, then TLS when the base URL is https), on its strand. `impl` outlives
// the call (the client outlives its calls).
net::awaitable<void> ConnectOn(AsyncHttpClient::Impl* impl, ConnectionPtr c, std::string method,
                               std::string url, SteadyClock::time_point deadline) {
  ErrorCodeT ec;
  tcp::resolver resolver(c->strand);
  auto results = co_await resolver.async_resolve(impl->endpoint.host, impl->endpoint.port,
                                                 net::redirect_error(net::use_awaitable, ec));
  if (ec) impl->Fail(method, url, ec, "resolve");
  c->plain.emplace(c->strand);
  c->plain->expires_after(std::min(impl->options.connect_timeout, Remaining(deadline)));
  co_await c->plain->async_connect(results, net::redirect_error(net::use_awaitable, ec));
  if (ec) impl->Fail(method, url, ec, "connect");
  c->plain->socket().set_option(tcp::no_delay(true), ec);
  if (!impl->endpoint.tls) co_return;

  c->secure.emplace(std::move(*c->plain), *impl->tls);
  c->plain.reset();
  if (!http_detail::SetServerName(c->secure->native_handle(), impl->verify_name)) {
    throw Error(ErrorCode::kUnavailable, http_detail::OpenSslError("cannot set TLS server name"));
  }
  if (!impl->options.insecure_skip_tls_verify) {
    c->secure->set_verify_callback(ssl::host_name_verification(impl->verify_name));
  }
  beast::get_lowest_layer(*c->secure)
      .expires_after(std::min(impl->options.connect_timeout, Remaining(deadline)));
  co_await c->secure->async_handshake(ssl::stream_base::client,
                                      net::redirect_error(net::use_awaitable, ec));
  if (ec && ec != beast::error::timeout) {
    // Certificate problems are not worth retrying.
    throw Error(ErrorCode::kFailedPrecondition,
                fmt::format("{} {}: TLS handshake: {}", method, url, ec.message()));
  }
  if (ec) impl->Fail(method, url, ec, "TLS handshake");
}

net::awaitable<void> CloseOn(ConnectionPtr c) {
  c->Close();
  co_return;
}

// Posts a close of `c` to its strand (any thread).
void PostClose(const ConnectionPtr& c) { net::co_spawn(c->strand, CloseOn(c), net::detached); }

}  // namespace

AsyncHttpClient::AsyncHttpClient(net::any_io_executor executor, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(options))) {}

AsyncHttpClient::~AsyncHttpClient() = default;

const HttpClientOptions& AsyncHttpClient::Options() const { return impl_->options; }

std::size_t AsyncHttpClient::IdleConnections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->idle.size();
}

net::awaitable<HttpResponse> AsyncHttpClient::Send(HttpRequest request) {
  Impl* impl = impl_.get();
  const auto timeout = request.timeout.value_or(impl->options.request_timeout);
  const auto deadline = SteadyClock::now() + timeout;
  const std::size_t limit = request.max_response_body.value_or(impl->options.max_response_body);
  auto req = std::make_shared<http::request<http::string_body>>(
      http_detail::BuildRequest(request, impl->options, impl->endpoint));
  for (int attempt = 0;; ++attempt) {
    ConnectionPtr c = attempt == 0 ? impl->TakeIdle() : nullptr;
    const bool reused = c != nullptr;
    if (!reused) {
      c = std::make_shared<AsyncConnection>(impl->executor);
      co_await net::co_spawn(c->strand,
                             ConnectOn(impl, c, request.method, impl->Url(request), deadline),
                             net::use_awaitable);
    }
    auto ec =
        co_await net::co_spawn(c->strand, WriteOn(c, req, Remaining(deadline)), net::use_awaitable);
    if (ec && reused) continue;  // a stale keep-alive connection
    if (ec) impl->Fail(request, ec, "write");
    auto read = co_await net::co_spawn(c->strand, ReadResponseOn(c, limit, Remaining(deadline)),
                                       net::use_awaitable);
    if (read.ec && reused && !read.got_some &&
        (read.ec == http::error::end_of_stream || read.ec == net::error::connection_reset ||
         read.ec == net::error::eof)) {
      continue;
    }
    if (read.ec == http::error::body_limit) impl->TooLarge(request, limit);
    if (read.ec) impl->Fail(request, read.ec, "read");
    if (read.keep_alive) impl->GiveBack(std::move(c));
    co_return std::move(read.response);
  }
}

net::awaitable<HttpResponse> AsyncHttpClient::Stream(
    HttpRequest request, std::function<bool(const HttpResponse&)> on_headers,
    std::function<bool(std::string_view)> on_data, std::shared_ptr<HttpCancel> stop) {
  Impl* impl = impl_.get();
  if (!stop) stop = std::make_shared<HttpCancel>();
  const auto timeout = request.timeout.value_or(impl->options.request_timeout);
  auto req = std::make_shared<http::request<http::string_body>>(
      http_detail::BuildRequest(request, impl->options, impl->endpoint));
  // Detaches the stop handle however the call ends; the connection is not reused after a stop.
  struct Detach {
    HttpCancel& stop;
    std::uint64_t id = 0;
    ~Detach() {
      if (id != 0) stop.Detach(id);
    }
  } detach{*stop};
  for (int attempt = 0;; ++attempt) {
    ConnectionPtr c = attempt == 0 ? impl->TakeIdle() : nullptr;
    const bool reused = c != nullptr;
    if (!reused) c = std::make_shared<AsyncConnection>(impl->executor);
    detach.id = stop->Attach([c] { PostClose(c); });
    if (stop->Cancelled()) impl->Cancelled(request);
    if (!reused) {
      co_await net::co_spawn(
          c->strand,
          ConnectOn(impl, c, request.method, impl->Url(request), SteadyClock::now() + timeout),
          net::use_awaitable);
    }
    auto ec = co_await net::co_spawn(c->strand, WriteOn(c, req, timeout), net::use_awaitable);
    if (ec && reused && !stop->Cancelled()) continue;
    if (ec && stop->Cancelled()) impl->Cancelled(request);
    if (ec) impl->Fail(request, ec, "write");
    std::optional<std::size_t> limit = request.max_response_body;
    auto head =
        co_await net::co_spawn(c->strand, ReadHeaderOn(c, limit, timeout), net::use_awaitable);
    if (head.ec && reused && !head.got_some && !stop->Cancelled()) continue;
    if (head.ec == http::error::body_limit) impl->TooLarge(request, limit.value_or(0));
    if (head.ec && stop->Cancelled()) impl->Cancelled(request);
    if (head.ec) impl->Fail(request, head.ec, "read");
    if (on_headers && !on_headers(head.response)) {
      PostClose(c);
      co_return head.response;
    }
    for (;;) {
      auto chunk = co_await net::co_spawn(c->strand, ReadSomeOn(c, timeout), net::use_awaitable);
      if (!chunk.data.empty() && !on_data(chunk.data)) {
        PostClose(c);
        co_return head.response;
      }
      if (chunk.ec == http::error::body_limit) impl->TooLarge(request, limit.value_or(0));
      if (chunk.ec && stop->Cancelled()) impl->Cancelled(request);
      if (chunk.ec) impl->Fail(request, chunk.ec, "read");
      if (chunk.done) {
        stop->Detach(std::exchange(detach.id, 0));
        if (chunk.keep_alive && !stop->Cancelled()) impl->GiveBack(std::move(c));
        co_return head.response;
      }
    }
  }
}

}  // namespace common
