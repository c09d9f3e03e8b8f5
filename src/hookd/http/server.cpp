#include "hookd/http/server.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "common/message_size.hpp"
#include "hookd/http/console_events.hpp"

namespace hookd::http {
namespace {

namespace net = common::net;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr auto kLingerTimeout = std::chrono::seconds(10);
constexpr std::size_t kIoThreads = 2;
constexpr std::size_t kBlockingThreads = 4;

Request ToRequest(const bhttp::request<bhttp::string_body>& in) {
  Request r;
  r.method = std::string(in.method_string());
  std::string target(in.target());
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = ParseQuery(target.substr(q + 1));
  while (r.path.size() > 1 && r.path.back() == '/') r.path.pop_back();
  for (const auto& field : in) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace(std::move(name), std::string(field.value()));
  }
  r.body = in.body();
  return r;
}

// Methods as metric labels: the standard ones, anything else as `other`.
std::string MethodLabel(const std::string& method) {
  static const char* const kKnown[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  for (const char* known : kKnown) {
    if (method == known) return method;
  }
  return "other";
}

bhttp::response<bhttp::string_body> ToBeast(const Response& out, unsigned version,
                                            bool keep_alive) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(out.status), version};
  res.set(bhttp::field::server, "hookd");
  if (!out.content_type.empty()) res.set(bhttp::field::content_type, out.content_type);
  for (const auto& [k, v] : out.headers) res.set(k, v);
  res.body() = out.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace

struct Server::Impl {
  Impl(Handlers& h, Metrics& m, std::string a, std::size_t b)
      : handlers(h), metrics(m), address(std::move(a)), max_body(b), acceptor(io) {}

  // Handle never throws: the router is the error boundary of every endpoint (a logged 500).
  static net::awaitable<Response> RunHandler(Handlers* handlers, Request request) {
    co_return handlers->Handle(request);
  }

  // Keeps the in-flight count right whatever happens to the session; the last one out wakes
  // Stop().
  struct InFlight {
    explicit InFlight(Impl& i) : impl(i) { ++impl.in_flight; }
    ~InFlight() {
      if (--impl.in_flight == 0) {
        std::lock_guard lock(impl.drain_mutex);
        impl.all_done.notify_all();
      }
    }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
    Impl& impl;
  };

  net::awaitable<void> Session(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(max_body);
      stream.expires_after(kIdleTimeout);
      co_await bhttp::async_read(stream, buffer, parser,
                                 net::redirect_error(net::use_awaitable, ec));
      if (ec == bhttp::error::body_limit) {
        // Beast refuses a Content-Length over the limit before reading the body; a chunked body
        // once the limit is passed (size unknown).
        std::optional<std::size_t> size;
        if (auto length = parser.content_length()) size = static_cast<std::size_t>(*length);
        const std::string message =
            common::TooLargeMessage("request body", size, common::HookdSizeLimit(max_body));
        spdlog::warn("{} {}: refused: {}", std::string(parser.get().method_string()),
                     std::string(parser.get().target()), message);
        // JSON with `message`, as every answer of the HTTP API.
        Response too_large{
            413, "application/json", nlohmann::json{{"message", message}}.dump(), {}};
        auto res = ToBeast(too_large, 11, false);
        co_await bhttp::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
        // Lingering close: the client is probably still sending the body and reads the answer
        // only afterwards; closing now would reset the connection and lose the 413. So the rest
        // is read and dropped: up to twice the limit, for at most kLingerTimeout.
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream.expires_after(kLingerTimeout);
        std::vector<char> scratch(std::size_t{64} << 10);
        for (std::size_t drained = 0; drained <= 2 * max_body;) {
          drained += co_await stream.async_read_some(net::buffer(scratch),
                                                     net::redirect_error(net::use_awaitable, ec));
          if (ec) break;
        }
        break;
      }
      if (ec) break;
      auto started = std::chrono::steady_clock::now();
      auto in = parser.release();
      Request request = ToRequest(in);
      // The console's live updates: a stream, not one answer; the connection ends with it.
      if (Console* console = handlers.GetConsole();
          console != nullptr && Console::EventsPath(request.path)) {
        {
          InFlight counted(*this);
          co_await ServeEvents(stream, *console, request, blocking, stopping);
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        metrics.ObserveRequest(MethodLabel(request.method), handlers.Route(request.path), 200,
                               seconds);
        break;
      }
      Response response;
      {
        InFlight counted(*this);
        // Probes get their own thread so that they answer while request work queues up.
        auto& pool = handlers.IsProbe(request.path) ? probes : blocking;
        response = co_await net::co_spawn(pool.get_executor(), RunHandler(&handlers, request),
                                          net::use_awaitable);
      }
      const bool keep_alive = in.keep_alive() && !stopping;
      auto res = ToBeast(response, in.version(), keep_alive);
      stream.expires_after(kIdleTimeout);
      co_await bhttp::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      metrics.ObserveRequest(MethodLabel(request.method), handlers.Route(request.path),
                             response.status, seconds);
      spdlog::debug("{} {} {} {:.3f}s", request.method, std::string(in.target()), response.status,
                    seconds);
      if (ec || !keep_alive) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  net::awaitable<void> AcceptLoop() {
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor.async_accept(net::make_strand(io),
                                                   net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (stopping) co_return;
        continue;
      }
      auto executor = socket.get_executor();
      net::co_spawn(executor, Session(beast::tcp_stream(std::move(socket))), LogIfFailed);
    }
  }

  static void LogIfFailed(const std::exception_ptr& error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      spdlog::debug("HTTP connection ended: {}", e.what());
    }
  }

  Handlers& handlers;
  Metrics& metrics;
  std::string address;
  std::size_t max_body;
  // Before `io`: a request still running when Stop() gives up is destroyed with `io`, and its
  // InFlight guard then still counts down and notifies.
  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};
  std::mutex drain_mutex;
  std::condition_variable all_done;  // in_flight reached 0
  net::io_context io;
  net::thread_pool blocking{kBlockingThreads};
  net::thread_pool probes{1};
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
};

Server::Server(Handlers& handlers, Metrics& metrics, std::string address, std::size_t max_body)
    : impl_(std::make_unique<Impl>(handlers, metrics, std::move(address), max_body)) {}

Server::~Server() { Stop(std::chrono::milliseconds(0)); }

int Server::Start() {
  auto colon = impl_->address.rfind(':');
  if (colon == std::string::npos) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid listen address '" + impl_->address + "': want HOST:PORT");
  }
  std::string host = impl_->address.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results = resolver.resolve(host, impl_->address.substr(colon + 1), ec);
  if (ec || results.empty()) {
    throw common::Error(common::ErrorCode::kUnavailable,
                        "unable to resolve listen address " + impl_->address);
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    throw common::Error(common::ErrorCode::kUnavailable,
                        "unable to listen for HTTP on " + impl_->address + ": " + ec.message());
  }
  const int port = impl_->acceptor.local_endpoint().port();
  net::co_spawn(impl_->io, impl_->AcceptLoop(), Impl::LogIfFailed);
  for (std::size_t i = 0; i < kIoThreads; ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
  spdlog::info("HTTP server listening on {} (port {})", impl_->address, port);
  return port;
}

int Server::InFlight() const { return impl_->in_flight.load(); }

void Server::Stop(std::chrono::milliseconds grace) {
  if (impl_->threads.empty()) return;
  impl_->stopping = true;
  net::post(impl_->io, [this] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
  });
  {
    std::unique_lock lock(impl_->drain_mutex);
    impl_->all_done.wait_for(lock, grace, [this] { return impl_->in_flight.load() == 0; });
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->blocking.join();
  impl_->probes.join();
}

}  // namespace hookd::http
