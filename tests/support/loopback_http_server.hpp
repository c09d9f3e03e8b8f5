#pragma once
// A tiny blocking HTTP/1.1 server on 127.0.0.1:<free port> for client tests: one thread accepts,
// one thread per connection reads requests and hands each to the test's handler, which writes
// the response itself (so it can also stall, stream chunks or close). Header-only: only tests
// that need Beast pay for it.
#include <atomic>
#include <functional>
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
      if (ec || !handler_(socket, request)) return;
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
};

}  // namespace testsupport
