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
#include "support/loopback_http_server.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = common::net;
using tcp = net::ip::tcp;

// Echoes "<method> <target> <Impersonate-User> <body>"; /slow stalls past the client's timeout
// and closes; /chunked streams watch-like events split across chunks.
bool Echo(testsupport::LoopbackHttpServer::Socket& socket,
          const testsupport::LoopbackHttpServer::Request& req) {
  std::string target(req.target());
  if (target == "/slow") {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return false;
  }
  if (target == "/chunked") {
    boost::system::error_code ec;
    http::response<http::empty_body> res{http::status::ok, 11};
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    http::write_header(socket, sr, ec);
    for (const char* part : {"{\"type\":\"ADDED\"}\n", "{\"type\":", "\"MODIFIED\"}\n"}) {
      net::write(socket, http::make_chunk(net::buffer(std::string_view(part))), ec);
    }
    net::write(socket, http::make_chunk_last(), ec);
    return !ec;
  }
  return testsupport::LoopbackHttpServer::Reply(
      socket, req, http::status::ok, "application/json",
      std::string(req.method_string()) + " " + target + " " +
          std::string(req["Impersonate-User"]) + " " + req.body());
}

class TestServer : public testsupport::LoopbackHttpServer {
 public:
  TestServer() : LoopbackHttpServer(&Echo) {}
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
  EXPECT_EQ(server.Connections(), 1);
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
  EXPECT_EQ(server.Connections(), 1);
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
