#include "common/tracing.hpp"

#include <gtest/gtest.h>

#include "support/fake_timers.hpp"
#include "support/loopback_http_server.hpp"

namespace common {
namespace {

TEST(TracingTest, Traceparent) {
  const auto parsed = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(parsed->span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(parsed->sampled);
  EXPECT_EQ(FormatTraceparent(*parsed), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  for (const char* bad : {"", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x"}) {
    EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
  }
}

TEST(TracingTest, ChildSpanAndOtlpJson) {
  const auto parent = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  SpanData span =
      StartSpan("Deploy", SpanKind::kServer, parent, SystemTime(std::chrono::nanoseconds(1000)));
  EXPECT_EQ(span.trace_id, parent->trace_id);
  EXPECT_EQ(span.parent_span_id, "00f067aa0ba902b7");
  ASSERT_EQ(span.span_id.size(), 16u);
  span.span_id = "1111111111111111";
  span.end = SystemTime(std::chrono::nanoseconds(3000));
  span.attributes = {{"deploy.team", "aura"}, {"deploy.git-ref-sha", ""}};
  span.error = true;
  span.status_message = "refused";
  EXPECT_EQ(OtlpJson("hookd", {span}),
            R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
            R"({"stringValue":"hookd"}}]},"scopeSpans":[{"scope":{"name":"deploy"},"spans":[)"
            R"({"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"1111111111111111",)"
            R"("parentSpanId":"00f067aa0ba902b7","name":"Deploy","kind":2,)"
            R"("startTimeUnixNano":"1000","endTimeUnixNano":"3000","attributes":[{"key":)"
            R"("deploy.team","value":{"stringValue":"aura"}}],"status":{"code":2,"message":)"
            R"("refused"}}]}]}]})");
  const SpanData root = StartSpan("deploy", SpanKind::kClient, std::nullopt, SystemTime());
  EXPECT_EQ(root.trace_id.size(), 32u);
  EXPECT_TRUE(root.parent_span_id.empty());
}

TEST(TracingTest, FullQueueDropsAndCountsWithoutBlocking) {
  TracerOptions options;
  options.endpoint = "http://127.0.0.1:1";  // nothing listens: exports fail and are counted
  options.service_name = "test";
  options.max_queue = 2;
  options.max_batch = 100;
  options.interval = std::chrono::hours(1);  // nothing is exported before Flush
  options.timeout = std::chrono::milliseconds(2000);
  Tracer tracer(options);
  for (int i = 0; i < 5; ++i) tracer.End(StartSpan("s", SpanKind::kInternal, std::nullopt, {}), {});
  EXPECT_EQ(tracer.Dropped(), 3u);
  tracer.Flush();  // the two queued spans fail to export: dropped too
  EXPECT_EQ(tracer.Dropped(), 5u);
  EXPECT_EQ(tracer.Exported(), 0u);
}

// Spans waiting for export go out once the interval has passed on the tracer's clock.
TEST(TracingTest, QueuedSpansAreExportedAfterTheIntervalByTheClock) {
  testsupport::LoopbackHttpServer collector("{}");
  testsupport::FakeTimers timers;
  TracerOptions options;
  options.endpoint = collector.Url();
  options.service_name = "test";
  options.interval = std::chrono::seconds(5);
  options.timers = &timers;
  Tracer tracer(options);
  ASSERT_TRUE(timers.AwaitWaiting(1));  // the export thread waits for the interval
  tracer.End(StartSpan("s", SpanKind::kInternal, std::nullopt, {}), {});
  timers.Advance(std::chrono::seconds(4));
  ASSERT_TRUE(timers.AwaitWaiting(1));
  EXPECT_EQ(collector.RequestCount(), 0);
  EXPECT_EQ(tracer.Exported(), 0u);
  timers.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(timers.AwaitWaiting(1));  // waiting again: the export is done
  EXPECT_EQ(collector.RequestCount(), 1);
  EXPECT_EQ(tracer.Exported(), 1u);
}

TEST(TracingTest, DisabledTracerDoesNothing) {
  Tracer tracer(TracerOptions{});
  EXPECT_FALSE(tracer.Enabled());
  tracer.End(StartSpan("s", SpanKind::kInternal, std::nullopt, {}), {});
  tracer.Flush();
  EXPECT_EQ(tracer.Dropped(), 0u);
}

}  // namespace
}  // namespace common
