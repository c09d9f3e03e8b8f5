#include "common/tracing.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/http_client.hpp"
#include "common/timers.hpp"

namespace common {
namespace {

bool LowerHex(std::string_view text, std::size_t size) {
  return text.size() == size &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }) &&
         text.find_first_not_of('0') != std::string_view::npos;
}

std::string Nanos(SystemTime t) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

}  // namespace

std::optional<SpanContext> ParseTraceparent(std::string_view text) {
  // 00-<32 hex>-<16 hex>-<2 hex>
  if (text.size() != 55 || text.substr(0, 3) != "00-" || text[35] != '-' || text[52] != '-') {
    return std::nullopt;
  }
  const auto trace_id = text.substr(3, 32);
  const auto span_id = text.substr(36, 16);
  const auto flags = text.substr(53, 2);
  const bool flags_hex = std::all_of(flags.begin(), flags.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (!LowerHex(trace_id, 32) || !LowerHex(span_id, 16) || !flags_hex) return std::nullopt;
  const int flag_bits = std::stoi(std::string(flags), nullptr, 16);
  return SpanContext{std::string(trace_id), std::string(span_id), (flag_bits & 1) != 0};
}

std::string FormatTraceparent(const SpanContext& context) {
  return "00-" + context.trace_id + "-" + context.span_id + (context.sampled ? "-01" : "-00");
}

std::string NewTraceId() { return HexEncode(RandomBytes(16)); }
std::string NewSpanId() { return HexEncode(RandomBytes(8)); }

SpanData StartSpan(std::string name, SpanKind kind, const std::optional<SpanContext>& parent,
                   SystemTime start) {
  SpanData span;
  span.trace_id = parent ? parent->trace_id : NewTraceId();
  span.parent_span_id = parent ? parent->span_id : "";
  span.span_id = NewSpanId();
  span.name = std::move(name);
  span.kind = kind;
  span.start = start;
  return span;
}

SpanContext ContextOf(const SpanData& span) { return {span.trace_id, span.span_id, true}; }

std::string OtlpJson(const std::string& service_name, const std::vector<SpanData>& spans) {
  auto attribute = [](const std::string& key, const std::string& value) {
    return nlohmann::ordered_json{{"key", key}, {"value", {{"stringValue", value}}}};
  };
  nlohmann::ordered_json out_spans = nlohmann::ordered_json::array();
  for (const auto& span : spans) {
    nlohmann::ordered_json s;
    s["traceId"] = span.trace_id;
    s["spanId"] = span.span_id;
    if (!span.parent_span_id.empty()) s["parentSpanId"] = span.parent_span_id;
    s["name"] = span.name;
    s["kind"] = static_cast<int>(span.kind);
    s["startTimeUnixNano"] = Nanos(span.start);
    s["endTimeUnixNano"] = Nanos(span.end);
    s["attributes"] = nlohmann::ordered_json::array();
    for (const auto& [key, value] : span.attributes) {
      if (!value.empty()) s["attributes"].push_back(attribute(key, value));  // unknown: left out
    }
    if (span.error) {
      s["status"] = {{"code", 2}, {"message", span.status_message}};
    } else {
      s["status"] = {{"code", 1}};
    }
    out_spans.push_back(std::move(s));
  }
  nlohmann::ordered_json resource;
  resource["attributes"] = nlohmann::ordered_json::array({attribute("service.name", service_name)});
  nlohmann::ordered_json scope;
  scope["scope"] = {{"name", "deploy"}};
  scope["spans"] = std::move(out_spans);
  nlohmann::ordered_json resource_spans;
  resource_spans["resource"] = std::move(resource);
  resource_spans["scopeSpans"] = nlohmann::ordered_json::array({std::move(scope)});
  nlohmann::ordered_json body;
  body["resourceSpans"] = nlohmann::ordered_json::array({std::move(resource_spans)});
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Tracer::Tracer(TracerOptions options) : options_(std::move(options)) {
  if (Enabled()) thread_ = std::thread([this] { Loop(); });
}

Tracer::~Tracer() {
  if (!thread_.joinable()) return;
  Flush();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Tracer::End(SpanData span, SystemTime end) {
  if (!Enabled()) return;
  span.end = end;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= options_.max_queue) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() >= options_.max_batch;
  }
  if (wake) wake_.notify_all();
}

void Tracer::Flush() {
  if (!Enabled()) return;
  std::unique_lock lock(mutex_);
  const std::uint64_t ticket = ++flush_requested_;
  wake_.notify_all();
  flushed_.wait(lock, [&] { return flush_done_ >= ticket || stopping_; });
}

// Called with the lock held; exports one batch with the lock released. False when nothing waited.
bool Tracer::ExportSome(std::unique_lock<std::mutex>& lock) {
  if (queue_.empty()) return false;
  const std::size_t n = std::min(queue_.size(), options_.max_batch);
  std::vector<SpanData> batch(std::make_move_iterator(queue_.begin()),
                              std::make_move_iterator(queue_.begin() + static_cast<long>(n)));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
  lock.unlock();
  std::string error;
  try {
    std::string base = options_.endpoint;
    std::string target = "/v1/traces";
    while (!base.empty() && base.back() == '/') base.pop_back();
    if (base.size() >= target.size() &&
        base.compare(base.size() - target.size(), target.size(), target) == 0) {
      base.resize(base.size() - target.size());
    }
    HttpClientOptions client_options;
    client_options.base_url = base;
    client_options.connect_timeout = options_.timeout;
    client_options.request_timeout = options_.timeout;
    client_options.max_response_body = std::size_t{1024} * 1024;
    HttpClient client(client_options);
    HttpRequest request;
    request.method = "POST";
    request.target = target;
    request.headers = {{"Content-Type", "application/json"}};
    request.body = OtlpJson(options_.service_name, batch);
    const HttpResponse response = client.Send(request);
    if (response.status < 200 || response.status > 299) {
      error = "HTTP " + std::to_string(response.status);
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  lock.lock();
  if (error.empty()) {
    exported_ += n;
  } else {
    dropped_ += n;
    const auto now = std::chrono::system_clock::now();
    if (now - last_error_log_ >= std::chrono::minutes(1)) {
      last_error_log_ = now;
      spdlog::warn("exporting {} spans to {}: {}; dropped", n, options_.endpoint, error);
    }
  }
  return true;
}

void Tracer::Loop() {
  const Timers& timers = options_.timers != nullptr ? *options_.timers : RealTimers();
  std::unique_lock lock(mutex_);
  while (true) {
    timers.BlockFor(wake_, lock, options_.interval, [&] {
      return stopping_ || flush_requested_ > flush_done_ || queue_.size() >= options_.max_batch;
    });
    const std::uint64_t flush_target = flush_requested_;
    // Everything queued now, one batch after another.
    while (ExportSome(lock)) {
    }
    if (flush_target > flush_done_) {
      flush_done_ = flush_target;
      flushed_.notify_all();
    }
    if (stopping_) return;
  }
}

namespace {
std::mutex global_mutex;
std::unique_ptr<Tracer>& GlobalSlot() {
  static std::unique_ptr<Tracer> slot = std::make_unique<Tracer>(TracerOptions{});
  return slot;
}
}  // namespace

Tracer& GlobalTracer() {
  std::lock_guard lock(global_mutex);
  return *GlobalSlot();
}

void SetGlobalTracer(std::unique_ptr<Tracer> tracer) {
  std::unique_ptr<Tracer> previous;
  {
    std::lock_guard lock(global_mutex);
    previous = std::move(GlobalSlot());
    GlobalSlot() = tracer ? std::move(tracer) : std::make_unique<Tracer>(TracerOptions{});
  }
}

}  // namespace common
