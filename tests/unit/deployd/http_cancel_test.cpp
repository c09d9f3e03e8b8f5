// common::HttpCancel racing with calls that finish: the rollout watcher cancels its watch streams
// from another thread at the moment they end on their own. A call used to let go of its
// connection (and the connection's io_context) before it detached from the cancel handle, so a
// Cancel() in between posted into freed memory (deployd died with signal 11/6 a few times per
// 1,000 deployments), and a Cancel() that came after the answer left a close queued on a pooled
// connection that then broke the next, unrelated call.
//
// scripts/test runs these again in its AddressSanitizer build (build-asan/), where a
// use-after-free is reported the first time it happens instead of corrupting the heap.
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "common/http_client.hpp"
#include "support/loopback_http_server.hpp"

namespace {

namespace http = boost::beast::http;
namespace net = common::net;

bool Answer(testsupport::LoopbackHttpServer::Socket& socket,
            const testsupport::LoopbackHttpServer::Request& req) {
  std::string target(req.target());
  if (target == "/chunked") {  // a short watch-like stream
    boost::system::error_code ec;
    http::response<http::empty_body> res{http::status::ok, 11};
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    http::write_header(socket, sr, ec);
    for (const char* part : {"{\"type\":\"ADDED\"}\n", "{\"type\":\"MODIFIED\"}\n"}) {
      net::write(socket, http::make_chunk(net::buffer(std::string_view(part))), ec);
    }
    net::write(socket, http::make_chunk_last(), ec);
    return !ec;
  }
  return testsupport::LoopbackHttpServer::Reply(socket, req, http::status::ok, "text/plain",
                                                "answer " + target);
}

TEST(HttpCancel, CancelHammeredWhileCallsFinishNeverTouchesAGoneConnection) {
  testsupport::LoopbackHttpServer server(&Answer);
  common::HttpClientOptions options;
  options.base_url = server.Url();
  options.request_timeout = std::chrono::seconds(20);  // a loaded CI machine: no spurious timeouts
  options.max_idle_connections = 1;  // every clean call reuses what the cancelled one left behind
  common::HttpClient client(options);

  constexpr int kRounds = 1000;
  // Every handle lives until the end, so the test itself never cancels a freed handle.
  std::vector<std::unique_ptr<common::HttpCancel>> handles;
  for (int i = 0; i < kRounds; ++i) handles.push_back(std::make_unique<common::HttpCancel>());
  std::atomic<int> current{-1};
  std::atomic<bool> done{false};
  std::atomic<long> cancel_calls{0};

  // Hammers the current handle: each round, after a random pause somewhere between "before the
  // call starts" and "after it has ended", Cancel() in a tight loop until the round changes.
  std::thread canceller([&] {
    std::mt19937 random(12345);
    int seen = -1;
    while (!done.load()) {
      int round = current.load();
      if (round < 0 || round == seen) {
        std::this_thread::yield();
        continue;
      }
      seen = round;
      const auto pause = std::chrono::microseconds(random() % 400);
      const auto until = std::chrono::steady_clock::now() + pause;
      while (std::chrono::steady_clock::now() < until && current.load() == round) {
      }
      while (current.load() == round && !done.load()) {
        handles[static_cast<std::size_t>(round)]->Cancel();
        cancel_calls.fetch_add(1);
      }
      handles[static_cast<std::size_t>(round)]->Cancel();  // and once more after the round
    }
  });

  int completed = 0;
  int cancelled = 0;
  for (int i = 0; i < kRounds; ++i) {
    common::HttpCancel* cancel = handles[static_cast<std::size_t>(i)].get();
    if (i % 4 == 0) cancel->Cancel();  // cancelled before it starts: always ends as cancelled
    current.store(i);
    common::HttpRequest r;
    r.target = i % 2 == 0 ? "/chunked" : "/send-" + std::to_string(i);
    try {
      if (i % 2 == 0) {
        std::string data;
        client.Stream(
            r, nullptr,
            [&data](std::string_view d) {
              data.append(d);
              return true;
            },
            cancel);
        // A stream that ends early because of the cancel returns what it had.
        if (data == "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\"}\n") {
          ++completed;
        } else {
          ++cancelled;
        }
      } else {
        auto response = client.Send(r, cancel);
        EXPECT_EQ(response.body, "answer /send-" + std::to_string(i));
        ++completed;
      }
    } catch (const common::Error& e) {
      // Cancelled somewhere along the way: that is the only acceptable failure.
      ASSERT_EQ(e.Code(), common::ErrorCode::kUnavailable) << e.what();
      ASSERT_TRUE(cancel->Cancelled()) << "failed without a cancel: " << e.what();
      ++cancelled;
    }
    current.store(-1);
    // A call nobody cancels, on the connection the previous call gave back (if it did): it must
    // not be closed under it by a close that a late Cancel() left queued.
    common::HttpRequest clean;
    clean.target = "/clean-" + std::to_string(i);
    ASSERT_EQ(client.Send(clean).body, "answer /clean-" + std::to_string(i)) << "round " << i;
  }
  done.store(true);
  canceller.join();

  EXPECT_GT(completed, 0);
  EXPECT_GT(cancelled, 0);
  EXPECT_GT(cancel_calls.load(), kRounds) << "the handles were hammered";
  RecordProperty("completed", completed);
  RecordProperty("cancelled", cancelled);
  RecordProperty("cancel_calls", std::to_string(cancel_calls.load()));
}

// The same handle shared by two calls at once (a mistake, but not a crash): each call detaches
// only what it attached.
TEST(HttpCancel, OneHandleForTwoConcurrentCallsStaysSafe) {
  testsupport::LoopbackHttpServer server(&Answer);
  common::HttpClientOptions options;
  options.base_url = server.Url();
  options.request_timeout = std::chrono::seconds(20);
  common::HttpClient client(options);
  common::HttpCancel shared;
  std::atomic<bool> stop{false};
  std::thread canceller([&] {
    while (!stop.load()) std::this_thread::yield();
    shared.Cancel();
  });
  auto run = [&](const std::string& prefix) {
    for (int i = 0; i < 200; ++i) {
      common::HttpRequest r;
      r.target = prefix + std::to_string(i);
      try {
        EXPECT_EQ(client.Send(r, &shared).body, "answer " + r.target);
      } catch (const common::Error& e) {
        EXPECT_TRUE(shared.Cancelled()) << e.what();
      }
    }
  };
  std::thread a(run, "/a-");
  std::thread b(run, "/b-");
  stop.store(true);
  a.join();
  b.join();
  canceller.join();
  EXPECT_TRUE(shared.Cancelled());
}

}  // namespace
