// common::HttpClient against a tiny in-process HTTP/1.1 server (plain TCP; TLS is exercised
// against kube-sim in the integration tests).
#include "common/http_client.hpp"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "support/loopback_http_server.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = common::net;
using tcp = net::ip::tcp;

// Echoes "<method> <target> <Impersonate-User> <body>"; /slow never answers: it holds the
// connection until the client gives up and closes it (no sleep: the client's timeout decides);
// /chunked streams watch-like events split across chunks.
bool Echo(testsupport::LoopbackHttpServer::Socket& socket,
          const testsupport::LoopbackHttpServer::Request& req) {
  std::string target(req.target());
  if (target == "/slow") {
    boost::system::error_code ec;
    char byte = 0;
    while (!ec) socket.read_some(net::buffer(&byte, 1), ec);  // until the client hangs up
    return false;
  }
  if (target.rfind("/big/", 0) == 0) {  // /big/<bytes>: a body of that size, Content-Length
    return testsupport::LoopbackHttpServer::Reply(socket, req, http::status::ok, "text/plain",
                                                  std::string(std::stoul(target.substr(5)), 'x'));
  }
  if (target.rfind("/bigchunked/", 0) == 0) {  // the same size, chunked (no length up front)
    boost::system::error_code ec;
    http::response<http::empty_body> res{http::status::ok, 11};
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    http::write_header(socket, sr, ec);
    const std::string piece(4096, 'x');
    for (std::size_t left = std::stoul(target.substr(12)); left > 0 && !ec;) {
      const std::size_t n = std::min(left, piece.size());
      net::write(socket, http::make_chunk(net::buffer(piece.data(), n)), ec);
      left -= n;
    }
    net::write(socket, http::make_chunk_last(), ec);
    return !ec;
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
  return testsupport::LoopbackHttpServer::Reply(socket, req, http::status::ok, "application/json",
                                                std::string(req.method_string()) + " " + target +
                                                    " " + std::string(req["Impersonate-User"]) +
                                                    " " + req.body());
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
      r,
      [&](const common::HttpResponse& h) {
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
    EXPECT_NE(std::string(e.what()).find("connect: Connection refused"), std::string::npos)
        << e.what();
  }
}

// ---- request smuggling: nothing the caller passes may end a line of the request head ----------

// Sends `r` with Send and with Stream; both must refuse it with `message` and nothing may reach
// the server.
void ExpectRefused(common::HttpClient& client, const common::HttpRequest& r,
                   const std::string& message) {
  for (bool stream : {false, true}) {
    try {
      if (stream) {
        client.Stream(r, nullptr, [](std::string_view) { return true; });
      } else {
        client.Send(r);
      }
      ADD_FAILURE() << "sent: " << message;
    } catch (const common::Error& e) {
      EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
      EXPECT_EQ(std::string(e.what()), message);
    }
  }
}

constexpr const char* kTokenRule = "must be a token (letters, digits and !#$%&'*+-.^_`|~)";

TEST(HttpClient, RefusesCrLfAndNulInHeaderValuesBeforeAnythingIsSent) {
  TestServer server;
  common::HttpClient client(Options(server.Port()));
  common::HttpRequest r;
  r.target = "/api/v1/namespaces";
  // The team of a forged request, as deployd would have impersonated it.
  r.headers = {{"Impersonate-User",
                "system:serviceaccount:argocd:argocd-application-controller\r\nX-Injected: 1"}};
  ExpectRefused(
      client, r,
      "invalid value for HTTP header \"Impersonate-User\": must not contain CR, LF, NUL "
      "or other control characters (got "
      "\"system:serviceaccount:argocd:argocd-application-controller\\r\\nX-Injected: 1\")");
  r.headers = {{"Impersonate-User", "only-a-lf\nX-Injected: 1"}};
  ExpectRefused(client, r,
                "invalid value for HTTP header \"Impersonate-User\": must not contain CR, LF, NUL "
                "or other control characters (got \"only-a-lf\\nX-Injected: 1\")");
  r.headers = {{"Impersonate-User", std::string("nul\0after", 9)}};
  ExpectRefused(client, r,
                "invalid value for HTTP header \"Impersonate-User\": must not contain CR, LF, NUL "
                "or other control characters (got \"nul\\x00after\")");
  // Credentials are not repeated, not even escaped.
  r.headers = {{"Authorization", "Bearer s3cret\r\nX-Injected: 1"}};
  ExpectRefused(client, r,
                "invalid value for HTTP header \"Authorization\": must not contain CR, LF, NUL or "
                "other control characters (got a value not shown here)");
  EXPECT_EQ(server.Connections(), 0) << "nothing was sent";
}

TEST(HttpClient, RefusesBadHeaderNamesTargetsAndMethods) {
  TestServer server;
  common::HttpClient client(Options(server.Port()));
  common::HttpRequest r;
  r.headers = {{"X-A\r\nX-Injected", "1"}};
  ExpectRefused(client, r,
                std::string("invalid HTTP header name \"X-A\\r\\nX-Injected\": ") + kTokenRule);
  r.headers = {{"X-A: 1", "1"}};
  ExpectRefused(client, r, std::string("invalid HTTP header name \"X-A: 1\": ") + kTokenRule);
  r.headers = {{"", "1"}};
  ExpectRefused(client, r, std::string("invalid HTTP header name \"\": ") + kTokenRule);
  r.headers.clear();
  r.target = "/api/v1/namespaces/aura\r\nX-Injected: 1";
  ExpectRefused(client, r,
                "invalid HTTP request target \"/api/v1/namespaces/aura\\r\\nX-Injected: 1\": must "
                "not contain spaces, CR, LF, NUL or other control characters");
  r.target = "/a HTTP/1.1";
  ExpectRefused(client, r,
                "invalid HTTP request target \"/a HTTP/1.1\": must not contain spaces, CR, LF, "
                "NUL or other control characters");
  r.target = std::string("/a\0b", 4);
  ExpectRefused(client, r,
                "invalid HTTP request target \"/a\\x00b\": must not contain spaces, CR, LF, NUL or "
                "other control characters");
  r.target = "/";
  r.method = "GET / HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET";
  ExpectRefused(
      client, r,
      std::string("invalid HTTP method \"GET / HTTP/1.1\\r\\nX-Injected: 1\\r\\n\\r\\nGET\": ") +
          kTokenRule);
  EXPECT_EQ(server.Connections(), 0) << "nothing was sent";
}

TEST(HttpClient, RefusesAUserAgentOptionWithALineBreak) {
  TestServer server;
  auto options = Options(server.Port());
  options.user_agent = "deployd\r\nX-Injected: 1";
  common::HttpClient client(options);
  ExpectRefused(client, common::HttpRequest{},
                "invalid value for HTTP header \"User-Agent\": must not contain CR, LF, NUL or "
                "other control characters (got \"deployd\\r\\nX-Injected: 1\")");
  EXPECT_EQ(server.Connections(), 0);
}

TEST(HttpClient, AcceptsOrdinaryHeadersWithTabsAndNonAscii) {
  TestServer server;
  common::HttpClient client(Options(server.Port()));
  common::HttpRequest r;
  r.target = "/ok?q=a%20b";
  r.headers = {{"Impersonate-User", "system:serviceaccount:aura:serviceuser-aura"},
               {"X-Note", "tab\there, caf\xc3\xa9"}};
  EXPECT_EQ(client.Send(r).body, "GET /ok?q=a%20b system:serviceaccount:aura:serviceuser-aura ");
}

// ---- response size limit ------------------------------------------------------------------------

TEST(HttpClient, ResponseBodyLimitDefaultsTo64MiB) {
  EXPECT_EQ(common::HttpClientOptions{}.max_response_body, std::size_t{64} * 1024 * 1024);
}

TEST(HttpClient, ResponseBodyOverTheLimitFailsInsteadOfGrowing) {
  TestServer server;
  auto options = Options(server.Port());
  options.max_response_body = 64 * 1024;
  common::HttpClient client(options);
  const std::string base = "http://127.0.0.1:" + std::to_string(server.Port());
  common::HttpRequest r;
  r.target = "/big/65536";  // exactly the limit: fine
  EXPECT_EQ(client.Send(r).body.size(), 65536U);
  for (std::string target : {"/big/65537", "/big/10000000", "/bigchunked/300000"}) {
    r.target = target;
    try {
      client.Send(r);
      ADD_FAILURE() << target << " was read whole";
    } catch (const common::Error& e) {
      EXPECT_EQ(e.Code(), common::ErrorCode::kFailedPrecondition);
      EXPECT_EQ(std::string(e.what()),
                "GET " + base + target + ": response body is larger than the limit of 65536 bytes");
    }
  }
  // A request may lower it further.
  r.target = "/big/2000";
  r.max_response_body = 1024;
  try {
    client.Send(r);
    ADD_FAILURE() << "read whole";
  } catch (const common::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "GET " + base + "/big/2000: response body is larger than the limit of 1024 bytes");
  }
  // The client is still usable afterwards.
  r.target = "/after";
  r.max_response_body.reset();
  EXPECT_EQ(client.Send(r).body, "GET /after  ");
}

TEST(HttpClient, StreamHandsBodiesOverInPiecesAndHonoursARequestLimit) {
  TestServer server;
  auto options = Options(server.Port());
  options.max_response_body = 1024;  // Send()'s limit: Stream keeps nothing
  common::HttpClient client(options);
  common::HttpRequest r;
  r.target = "/bigchunked/300000";
  std::size_t received = 0;
  std::size_t largest_piece = 0;
  client.Stream(r, nullptr, [&](std::string_view data) {
    received += data.size();
    largest_piece = std::max(largest_piece, data.size());
    return true;
  });
  EXPECT_EQ(received, 300000U);
  EXPECT_LE(largest_piece, 16U * 1024U);
  r.max_response_body = 100000;
  received = 0;
  try {
    client.Stream(r, nullptr, [&](std::string_view data) {
      received += data.size();
      return true;
    });
    ADD_FAILURE() << "streamed past the limit";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kFailedPrecondition);
    EXPECT_EQ(std::string(e.what()), "GET " + server.Url() +
                                         "/bigchunked/300000: response body is larger than the "
                                         "limit of 100000 bytes");
  }
  EXPECT_LE(received, 100000U);
}

TEST(HttpClient, RejectsBadUrls) {
  common::HttpClientOptions o;
  o.base_url = "ftp://x";
  EXPECT_THROW(common::HttpClient{o}, common::Error);
  EXPECT_EQ(common::UrlEncode("a b/c~"), "a%20b%2Fc~");
}

}  // namespace
