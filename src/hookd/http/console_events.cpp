#include "hookd/http/console_events.hpp"

// g++ 12 pairs the allocation and deallocation of an inlined Asio coroutine frame wrongly here
// (-Wmismatched-new-delete on awaitable_frame_base::operator delete): a false positive, both come
// from awaitable_frame_base.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <memory>
#include <optional>

#include <spdlog/spdlog.h>

#include "common/uuid.hpp"
#include "hookd/dispatch/hub.hpp"

namespace hookd::http {
namespace {

namespace net = common::net;
namespace beast = boost::beast;

constexpr auto kWriteTimeout = std::chrono::seconds(30);
// How often a waiting stream looks at `stopping` (no database work).
constexpr auto kStopCheck = std::chrono::seconds(1);

// Wakes the stream's coroutine when a status of its deployment arrives. OnStatus is called from
// any thread; everything else happens on the stream's strand.
class Waker final : public dispatch::StatusSubscriber, public std::enable_shared_from_this<Waker> {
 public:
  explicit Waker(const net::any_io_executor& executor) : timer(executor) {}
  void OnStatus(const dispatch::StatusEventPtr&) override { Wake(); }
  void OnShutdown() override { Wake(); }

  net::steady_timer timer;
  bool dirty = true;  // the first read happens at once

 private:
  void Wake() {
    net::post(timer.get_executor(), [self = shared_from_this()] {
      self->dirty = true;
      self->timer.cancel();
    });
  }
};

std::string Plain(int status, const char* reason, const std::string& body,
                  const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nServer: hookd\r\nContent-Type: text/plain; charset=utf-8\r\n"
         "X-Content-Type-Options: nosniff\r\n" +
         extra + "Content-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

net::awaitable<bool> Write(beast::tcp_stream& stream, const std::string& text) {
  boost::system::error_code ec;
  stream.expires_after(kWriteTimeout);
  co_await net::async_write(stream, net::buffer(text), net::redirect_error(net::use_awaitable, ec));
  co_return !ec;
}

net::awaitable<std::optional<Console::Live>> Read(Console* console, std::string id) {
  co_return console->LiveUpdate(id);
}

struct StreamSlot {
  explicit StreamSlot(Console& c) : console(c) {}
  ~StreamSlot() { console.ReleaseStream(); }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;
  Console& console;
};

struct Subscription {
  Subscription(dispatch::StatusHub& h, std::string i, std::shared_ptr<Waker> w)
      : hub(h), id(std::move(i)), waker(std::move(w)) {
    hub.Subscribe(id, waker);
  }
  ~Subscription() { hub.Unsubscribe(id, waker.get()); }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  dispatch::StatusHub& hub;
  std::string id;
  std::shared_ptr<Waker> waker;
};

}  // namespace

net::awaitable<void> ServeEvents(beast::tcp_stream& stream, Console& console,
                                 const Request& request, net::thread_pool& blocking,
                                 const std::atomic<bool>& stopping) {
  const std::string id = Console::EventsPath(request.path).value_or("");
  if (request.method != "GET") {
    co_await Write(stream, Plain(405, "Method Not Allowed", "method not allowed\n"));
    co_return;
  }
  if (!common::IsUuid(id)) {
    co_await Write(stream, Plain(400, "Bad Request",
                                 "deployment ID '" + id + "' is not a well-formed UUID\n"));
    co_return;
  }
  if (!console.TryAcquireStream()) {
    co_await Write(
        stream, Plain(503, "Service Unavailable",
                      "too many live connections; reload the page later\n", "Retry-After: 30\r\n"));
    co_return;
  }
  StreamSlot slot(console);
  const auto executor = co_await net::this_coro::executor;
  auto waker = std::make_shared<Waker>(executor);
  // Subscribed before the first read: a status stored in between wakes the loop again.
  Subscription subscription(console.Hub(), id, waker);

  bool started = false;
  std::string version;
  int sequence = 0;
  auto last_read = std::chrono::steady_clock::now();
  while (!stopping) {
    const auto now = std::chrono::steady_clock::now();
    const bool heartbeat = now - last_read >= Console::kHeartbeat;
    if (waker->dirty || heartbeat) {
      waker->dirty = false;
      last_read = now;
      std::optional<Console::Live> live;
      bool failed = false;
      try {
        live =
            co_await net::co_spawn(blocking.get_executor(), Read(&console, id), net::use_awaitable);
      } catch (const std::exception& e) {
        spdlog::warn("console events of {}: {}", id, e.what());
        failed = true;
      }
      if (!started) {
        if (failed) {
          co_await Write(stream, Plain(503, "Service Unavailable",
                                       "database is unavailable; try again later\n"));
          co_return;
        }
        if (!live) {
          co_await Write(stream, Plain(404, "Not Found", "deployment '" + id + "' not found\n"));
          co_return;
        }
        // No Content-Length: the body is the stream, until the connection closes.
        const std::string head =
            "HTTP/1.1 200 OK\r\nServer: hookd\r\nContent-Type: text/event-stream\r\n"
            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
            "X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: 3000\n\n";
        if (!co_await Write(stream, head)) co_return;
        started = true;
      }
      std::string out;
      if (failed) {
        out = ": database unavailable\n\n";
      } else if (!live) {
        out = "event: gone\ndata: {}\n\n";
      } else if (live->version != version) {
        version = live->version;
        out = "id: " + std::to_string(++sequence) + "\nevent: update\ndata: " + live->json + "\n\n";
      } else if (heartbeat) {
        out = ": heartbeat\n\n";
      }
      if (!out.empty() && !co_await Write(stream, out)) co_return;
      if (!failed && (!live || live->finished)) break;
    }
    waker->timer.expires_after(kStopCheck);
    boost::system::error_code ignored;
    co_await waker->timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }
}

}  // namespace hookd::http
