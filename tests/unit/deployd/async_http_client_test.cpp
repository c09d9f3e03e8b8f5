// The asynchronous HTTP client (deployd's engine) against a local server: kept-alive connections
// are reused, checks refuse what could smuggle a header, a stream ends when stopped, and a body
// over the limit is an error.
#include "common/async_http_client.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "support/loopback_http_server.hpp"

namespace {

namespace http = boost::beast::http;
namespace net = common::net;
using namespace std::chrono_literals;

struct Results {
  std::vector<std::string> bodies;
  std::string error;
  std::string streamed;
};

net::awaitable<void> SendTwice(common::AsyncHttpClient* client, Results* out) {
  common::HttpRequest request;
  request.target = "/hello";
  for (int i = 0; i < 2; ++i) {
    auto response = co_await client->Send(request);
    out->bodies.push_back(std::to_string(response.status) + " " + response.body);
  }
  common::HttpRequest bad;
  bad.target = "/hello";
  bad.headers.push_back({"Impersonate-User", "aura\r\nX-Injected: 1"});
  try {
    co_await client->Send(bad);
  } catch (const common::Error& e) {
    out->error = e.what();
  }
}

TEST(AsyncHttpClient, ReusesKeptAliveConnectionsAndRefusesHeaderInjection) {
  testsupport::LoopbackHttpServer server([](auto& socket, const auto& req) {
    return testsupport::LoopbackHttpServer::Reply(socket, req, http::status::ok, "text/plain",
                                                  "hi");
  });
  net::io_context io;
  common::HttpClientOptions options;
  options.base_url = server.Url();
  common::AsyncHttpClient client(io.get_executor(), options);
  Results out;
  net::co_spawn(io, SendTwice(&client, &out), net::detached);
  io.run_for(10s);
  EXPECT_EQ(out.bodies, std::vector<std::string>({"200 hi", "200 hi"}));
  EXPECT_EQ(server.Connections(), 1) << "the second request reused the connection";
  EXPECT_EQ(client.IdleConnections(), 1U);
  EXPECT_EQ(out.error,
            "invalid value for HTTP header \"Impersonate-User\": must not contain CR, LF, NUL or "
            "other control characters (got \"aura\\r\\nX-Injected: 1\")");
}

net::awaitable<void> StreamUntilStopped(common::AsyncHttpClient* client,
                                        std::shared_ptr<common::HttpCancel> stop, Results* out) {
  common::HttpRequest request;
  request.target = "/watch";
  std::function<bool(std::string_view)> on_data = [out, stop](std::string_view data) {
    out->streamed.append(data);
    stop->Cancel();  // from inside, as an informer that stops does
    return true;
  };
  try {
    co_await client->Stream(request, nullptr, on_data, stop);
  } catch (const common::Error& e) {
    out->error = e.what();
  }
}

TEST(AsyncHttpClient, AStoppedStreamEndsAsCancelled) {
  std::mutex mutex;
  std::condition_variable released;
  bool done = false;
  testsupport::LoopbackHttpServer server([&](auto& socket, const auto& req) {
    // A chunked body that never ends (as a watch): one piece, then nothing until the test ends.
    http::response<http::empty_body> res{http::status::ok, 11};
    res.chunked(true);
    http::response_serializer<http::empty_body> head(res);
    boost::system::error_code ec;
    http::write_header(socket, head, ec);
    std::string piece = "{\"type\":\"ADDED\"}\n";
    net::write(socket, http::make_chunk(net::buffer(piece)), ec);
    std::unique_lock lock(mutex);
    released.wait_for(lock, 20s, [&] { return done; });
    (void)req;
    return false;
  });
  net::io_context io;
  common::HttpClientOptions options;
  options.base_url = server.Url();
  common::AsyncHttpClient client(io.get_executor(), options);
  Results out;
  auto stop = std::make_shared<common::HttpCancel>();
  net::co_spawn(io, StreamUntilStopped(&client, stop, &out), net::detached);
  io.run_for(10s);
  {
    std::lock_guard lock(mutex);
    done = true;
    released.notify_all();
  }
  EXPECT_EQ(out.streamed, "{\"type\":\"ADDED\"}\n");
  EXPECT_EQ(out.error, "GET " + server.Url() + "/watch: cancelled");
  EXPECT_EQ(client.IdleConnections(), 0U) << "a stopped stream's connection is not reused";
}

net::awaitable<void> SendLarge(common::AsyncHttpClient* client, Results* out) {
  common::HttpRequest request;
  request.target = "/large";
  request.max_response_body = 16;
  try {
    co_await client->Send(request);
  } catch (const common::Error& e) {
    out->error = e.what();
  }
}

TEST(AsyncHttpClient, BodyOverTheLimitIsAnError) {
  testsupport::LoopbackHttpServer server([](auto& socket, const auto& req) {
    return testsupport::LoopbackHttpServer::Reply(socket, req, http::status::ok, "text/plain",
                                                  std::string(100, 'x'));
  });
  net::io_context io;
  common::HttpClientOptions options;
  options.base_url = server.Url();
  common::AsyncHttpClient client(io.get_executor(), options);
  Results out;
  net::co_spawn(io, SendLarge(&client, &out), net::detached);
  io.run_for(10s);
  EXPECT_EQ(out.error,
            "GET " + server.Url() + "/large: response body is larger than the limit of 16 bytes");
}

}  // namespace
