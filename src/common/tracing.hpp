#pragma once
// OpenTelemetry traces, exported over OTLP/HTTP with the JSON encoding (POST <endpoint>/v1/traces)
// by a small exporter of our own (no C++ OpenTelemetry SDK is packaged for Debian 12).
// Spans are linked across the programs by W3C traceparent values: the CLI's span is the parent
// of hookd's `Deploy`, which is the parent of hookd's queue/dispatch spans and of deployd's
// `Deploy to Kubernetes`, whose children are one span per resource with `apply` and `wait`.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/time.hpp"

namespace common {

// The IDs of one span as a W3C traceparent carries them.
struct SpanContext {
  std::string trace_id;  // 32 lower-case hex digits, not all zero
  std::string span_id;   // 16 lower-case hex digits, not all zero
  bool sampled = true;
};

// `00-<trace id>-<span id>-<flags>`; nullopt for anything else (other versions, bad lengths,
// upper-case or non-hex digits, all-zero IDs).
std::optional<SpanContext> ParseTraceparent(std::string_view text);
std::string FormatTraceparent(const SpanContext& context);
std::string NewTraceId();  // 16 random bytes, hex
std::string NewSpanId();   // 8 random bytes, hex

enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3 };

// One finished span as exported.
struct SpanData {
  std::string trace_id;
  std::string span_id;
  std::string parent_span_id;  // empty for a root span
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  SystemTime start;
  SystemTime end;
  std::vector<std::pair<std::string, std::string>> attributes;
  bool error = false;  // status code ERROR (with `status_message`), else OK
  std::string status_message;
};

// A span being timed: the child of `parent` (a new trace when there is none). Record it with
// Tracer::End. Cheap to create whether or not tracing is on.
SpanData StartSpan(std::string name, SpanKind kind, const std::optional<SpanContext>& parent,
                   SystemTime start);
SpanContext ContextOf(const SpanData& span);

// The OTLP/JSON body (ExportTraceServiceRequest) for `spans` of one service.
std::string OtlpJson(const std::string& service_name, const std::vector<SpanData>& spans);

class Timers;  // common/timers.hpp

struct TracerOptions {
  std::string endpoint;          // OTLP/HTTP base URL ("http://collector:4318"); empty = off
  std::string service_name;      // resource attribute service.name
  std::size_t max_queue = 2048;  // spans waiting for export; more are dropped and counted
  std::size_t max_batch = 512;   // spans per POST
  std::chrono::milliseconds interval{5000};  // export at least this often while spans wait
  std::chrono::milliseconds timeout{5000};   // per POST (and for the flush at shutdown)
  // The clock of the export interval (null: the system's); outlives the tracer.
  const Timers* timers = nullptr;
};

// Batches finished spans on a bounded queue and exports them from a thread of its own, so that
// End never blocks (it only takes a short lock, and drops the span when the queue is full).
// Export failures are logged (at most once a minute) and the batch is dropped. The destructor
// exports what is queued (bounded by options.timeout per POST) and stops the thread.
class Tracer {
 public:
  explicit Tracer(TracerOptions options);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  bool Enabled() const { return !options_.endpoint.empty(); }
  void End(SpanData span, SystemTime end);
  // Exports everything queued now, then returns (for shutdown and tests).
  void Flush();
  std::uint64_t Dropped() const { return dropped_.load(); }
  std::uint64_t Exported() const { return exported_.load(); }

 private:
  void Loop();
  bool ExportSome(std::unique_lock<std::mutex>& lock);

  const TracerOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::deque<SpanData> queue_;
  std::uint64_t flush_requested_ = 0;
  std::uint64_t flush_done_ = 0;
  bool stopping_ = false;
  bool exporting_ = false;
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> exported_{0};
  SystemTime last_error_log_{};
  std::thread thread_;
};

// The process's tracer (a disabled one until SetGlobalTracer).
Tracer& GlobalTracer();
// Installs the process's tracer; the previous one (if any) is flushed and destroyed.
void SetGlobalTracer(std::unique_ptr<Tracer> tracer);

}  // namespace common
