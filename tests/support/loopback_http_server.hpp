#pragma once
// The tests' one HTTP/1.1 server, on 127.0.0.1:<free port>: one thread accepts, one thread per
// connection reads requests. Three ways to answer:
//  - a Handler writes the response itself (so it can also stall, stream chunks or close);
//  - a Responder returns status and body for each request (`Connection: close`);
//  - a fixed status and body, changeable with SetResponse (e.g. a JWKS document).
// Every request is recorded (Requests(), RequestCount()). Header-only: only tests that need Beast
// pay for it.
#include <atomic>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/asio.hpp"

namespace testsupport {

class LoopbackHttpServer {
 public:
  using Socket = common::net::ip::tcp::socket;
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  // Writes the response for `request`; returns false to close the connection.
  using Handler = std::function<bool(Socket& socket, const Request& request)>;
  // A request as the server saw it; header names in lower case.
  struct RecordedRequest {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;
    std::string body;
  };
  struct Response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
  };
  using Responder = std::function<Response(const RecordedRequest& request)>;

  explicit LoopbackHttpServer(Responder responder)
      : LoopbackHttpServer(
            Handler([responder = std::move(responder)](Socket& socket, const Request& request) {
              const Response r = responder(Record(request));
              ReplyAndClose(socket, r);
              return false;
            })) {}
  // Answers every request with `body` and `status` until SetResponse changes them.
  explicit LoopbackHttpServer(std::string body, int status = 200)
      : LoopbackHttpServer(Handler([this](Socket& socket, const Request&) {
          Response r;
          {
            std::lock_guard lock(fixed_mutex_);
            r = fixed_;
          }
          ReplyAndClose(socket, r);
          return false;
        })) {
    SetResponse(std::move(body), status);
  }

  explicit LoopbackHttpServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(ioc_, {common::net::ip::make_address("127.0.0.1"), 0}),
        port_(acceptor_.local_endpoint().port()) {
    thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~LoopbackHttpServer() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    Socket wake(ioc_);  // a blocked accept returns once somebody connects
    wake.connect({common::net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)},
                 ec);
    thread_.join();
    for (auto& t : sessions_) t.join();
  }
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  int Port() const { return port_; }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Connections accepted so far.
  int Connections() const { return connections_.load(); }
  // Requests read so far, in order.
  std::vector<RecordedRequest> Requests() const {
    std::lock_guard lock(requests_mutex_);
    return requests_;
  }
  int RequestCount() const {
    std::lock_guard lock(requests_mutex_);
    return static_cast<int>(requests_.size());
  }
  void SetResponse(std::string body, int status = 200) {
    std::lock_guard lock(fixed_mutex_);
    fixed_.body = std::move(body);
    fixed_.status = status;
  }

  static RecordedRequest Record(const Request& request) {
    RecordedRequest r;
    r.method = std::string(request.method_string());
    r.target = std::string(request.target());
    for (const auto& field : request) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(field.value());
    }
    r.body = request.body();
    return r;
  }

  // Writes a complete response with `body` (keep-alive as the request asked).
  static bool Reply(Socket& socket, const Request& request, boost::beast::http::status status,
                    const std::string& content_type, std::string body) {
    boost::beast::http::response<boost::beast::http::string_body> res{status, 11};
    res.set(boost::beast::http::field::content_type, content_type);
    res.body() = std::move(body);
    res.keep_alive(request.keep_alive());
    res.prepare_payload();
    boost::system::error_code ec;
    boost::beast::http::write(socket, res, ec);
    return !ec;
  }

 private:
  static void ReplyAndClose(Socket& socket, const Response& r) {
    boost::beast::http::response<boost::beast::http::string_body> res{
        static_cast<boost::beast::http::status>(r.status), 11};
    res.set(boost::beast::http::field::content_type, r.content_type);
    res.body() = r.body;
    res.keep_alive(false);
    res.prepare_payload();
    boost::system::error_code ec;
    boost::beast::http::write(socket, res, ec);
    socket.shutdown(Socket::shutdown_send, ec);
  }

  void AcceptLoop() {
    for (;;) {
      Socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      ++connections_;
      sessions_.emplace_back([this, s = std::move(socket)]() mutable { Session(std::move(s)); });
    }
  }

  void Session(Socket socket) {
    boost::beast::flat_buffer buffer;
    for (;;) {
      Request request;
      boost::system::error_code ec;
      boost::beast::http::read(socket, buffer, request, ec);
      if (ec) return;
      {
        std::lock_guard lock(requests_mutex_);
        requests_.push_back(Record(request));
      }
      if (!handler_(socket, request)) return;
    }
  }

  Handler handler_;
  common::net::io_context ioc_;
  common::net::ip::tcp::acceptor acceptor_;
  int port_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::vector<std::thread> sessions_;
  mutable std::mutex requests_mutex_;
  std::vector<RecordedRequest> requests_;
  std::mutex fixed_mutex_;
  Response fixed_;
};

}  // namespace testsupport
