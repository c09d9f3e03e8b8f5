// common::HttpClient against a tiny in-process HTTP/1.1 server (plain TCP; TLS is exercised
// against kube-sim in the integration tests).
#include "common/http_client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/asio.hpp"
#include "common/error.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = common::net;
using tcp = net::ip::tcp;

class TestServer {
 public:
  TestServer() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~TestServer() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    // Wake a blocked accept by connecting once.
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
    for (auto& t : sessions_) t.join();
  }
  int Port() const { return port_; }
  std::atomic<int> connections{0};

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      ++connections;
      sessions_.emplace_back([this, s = std::move(socket)]() mutable { Session(std::move(s)); });
    }
  }

  void Session(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      std::string target(req.target());
      if (target == "/slow") {
        std::this_thread::sleep_for(std::chrono::milliseconds(600));
        return;
      }
      if (target == "/chunked") {
        http::response<http::empty_body> res{http::status::ok, 11};
        res.chunked(true);
        http::response_serializer<http::empty_body> sr{res};
        http::write_header(socket, sr, ec);
        for (const char* part : {"{\"type\":\"ADDED\"}\n", "{\"type\":", "\"MODIFIED\"}\n"}) {
          net::write(socket, http::make_chunk(net::buffer(std::string_view(part))), ec);
        }
        net::write(socket, http::make_chunk_last(), ec);
        continue;
      }
      http::response<http::string_body> res{http::status::ok, 11};
      res.set(http::field::content_type, "application/json");
      res.body() = std::string(req.method_string()) + " " + target + " " +
                   std::string(req["Impersonate-User"]) + " " + req.body();
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = acceptor_.local_endpoint().port();
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<std::thread> sessions_;
};

common::HttpClientOptions Options(int port) {
  common::HttpClientOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  o.request_timeout = std::chrono::milliseconds(200);
  return o;
}

TEST(HttpClient, SendsAndReusesKeptAliveConnections) {
  TestServer server;
  common::HttpClient client(Options(server.Port()));
  common::HttpRequest r;
  r.method = "PATCH";
  r.target = "/api/v1/x?a=1";
  r.headers.push_back({"Impersonate-User", "u"});
  r.body = "body";
  auto first = client.Send(r);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "PATCH /api/v1/x?a=1 u body");
  EXPECT_EQ(first.Header("content-type"), "application/json");
  auto second = client.Send(r);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(server.connections.load(), 1);
}

TEST(HttpClient, StreamsChunkedBodies) {
  TestServer server;
  common::HttpClient client(Options(server.Port()));
  common::HttpRequest r;
  r.target = "/chunked";
  std::string data;
  int status = 0;
  client.Stream(
      r, [&](const common::HttpResponse& h) {
        status = h.status;
        return true;
      },
      [&](std::string_view chunk) {
        data += chunk;
        return true;
      });
  EXPECT_EQ(status, 200);
  EXPECT_EQ(data, "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n");
  // The connection is reusable after a complete chunked body.
  r.target = "/after";
  EXPECT_EQ(client.Send(r).body, "GET /after  ");
  EXPECT_EQ(server.connections.load(), 1);
}

TEST(HttpClient, TimeoutIsDeadlineExceeded) {
  TestServer server;
  common::HttpClient client(Options(server.Port()));
  common::HttpRequest r;
  r.target = "/slow";
  try {
    client.Send(r);
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kDeadlineExceeded);
    EXPECT_EQ(std::string(e.what()),
              "GET http://127.0.0.1:" + std::to_string(server.Port()) + "/slow: timeout");
  }
}

TEST(HttpClient, ConnectionRefusedIsUnavailable) {
  int port = 0;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  common::HttpClient client(Options(port));
  try {
    client.Send(common::HttpRequest{});
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kUnavailable);
    EXPECT_NE(std::string(e.what()).find("connect: Connection refused"), std::string::npos) << e.what();
  }
}

TEST(HttpClient, RejectsBadUrls) {
  common::HttpClientOptions o;
  o.base_url = "ftp://x";
  EXPECT_THROW(common::HttpClient{o}, common::Error);
  EXPECT_EQ(common::UrlEncode("a b/c~"), "a%20b%2Fc~");
}

}  // namespace
