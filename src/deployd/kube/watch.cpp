#include "deployd/kube/watch.hpp"

#include <algorithm>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/error.hpp"
#include "deployd/kube/kube_client.hpp"

namespace deployd::kube {
namespace {

std::string ResourceVersionOf(const nlohmann::json& object) {
  if (!object.is_object() || !object.contains("metadata")) return "";
  const auto& m = object["metadata"];
  if (!m.is_object() || !m.contains("resourceVersion") || !m["resourceVersion"].is_string())
    return "";
  return m["resourceVersion"].get<std::string>();
}

std::string Join(const std::string& path, const std::string& query) {
  return query.empty() ? path : path + "?" + query;
}

std::string WithQuery(const std::string& base_query, const std::string& extra) {
  return base_query.empty() ? extra : base_query + "&" + extra;
}

bool Cancelled(common::HttpCancel* cancel) { return cancel != nullptr && cancel->Cancelled(); }

// Failures that the same request meets again: an oversized answer or event, a request the HTTP
// client refuses, a certificate that does not verify.
bool IsPermanent(const common::Error& e) {
  return e.Code() == common::ErrorCode::kFailedPrecondition ||
         e.Code() == common::ErrorCode::kInvalidArgument;
}

// Sleeps up to d, waking early on cancel (checked every 50 ms).
void Pause(std::chrono::milliseconds d, common::HttpCancel* cancel, common::SystemTime deadline) {
  auto until = std::min(std::chrono::system_clock::now() + d, deadline);
  while (std::chrono::system_clock::now() < until && !Cancelled(cancel)) {
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(50), std::chrono::duration_cast<std::chrono::milliseconds>(
                                           until - std::chrono::system_clock::now()) +
                                           std::chrono::milliseconds(1)));
  }
}

}  // namespace

bool WatchDecoder::Feed(std::string_view data,
                        const std::function<bool(const nlohmann::json&)>& on_event) {
  buffer_.append(data);
  std::size_t start = 0;
  for (;;) {
    auto nl = buffer_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(buffer_.data() + start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    auto event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_discarded()) continue;
    if (!on_event(event)) {
      buffer_.erase(0, start);
      return false;
    }
  }
  buffer_.erase(0, start);
  // What is left is an unfinished line (one event, one object): it must not grow without bound.
  if (buffer_.size() > max_line_) {
    buffer_.clear();
    throw common::Error(common::ErrorCode::kFailedPrecondition,
                        fmt::format("watch event is larger than the limit of {} bytes", max_line_));
  }
  return true;
}

bool ListWatch(KubeClient& client, const WatchTarget& target, common::SystemTime deadline,
               common::HttpCancel* cancel, const WatchHandler& handler) {
  std::mt19937_64 random{std::random_device{}()};
  int failures = 0;
  auto backoff = [&] {
    auto d = common::WithJitter(
        common::BackoffDelay(failures++, std::chrono::milliseconds(200), std::chrono::seconds(5)),
        random());
    Pause(d, cancel, deadline);
  };
  for (;;) {  // list
    if (Cancelled(cancel) || std::chrono::system_clock::now() >= deadline) return false;
    std::string rv;
    KubeCall list;
    list.path = Join(target.collection_path,
                     target.initial_objects ? target.selector_query : kResourceVersionProbe);
    list.impersonate_user = target.impersonate_user;
    nlohmann::json listed;
    try {
      listed = client.CallJson(list);
    } catch (const ApiError& e) {
      if (e.HttpStatus() < 500 && e.HttpStatus() != 429 && e.HttpStatus() != 410) throw;
      backoff();
      continue;
    } catch (const common::Error& e) {
      if (IsPermanent(e)) throw;
      backoff();
      continue;
    }
    rv = ResourceVersionOf(listed);
    if (target.initial_objects && listed.contains("items") && listed["items"].is_array()) {
      for (const auto& item : listed["items"]) {
        if (handler("ADDED", item)) return true;
      }
    }
    bool relist = false;
    while (!relist) {  // watch, resuming from rv
      auto remaining = std::chrono::duration_cast<std::chrono::seconds>(
          deadline - std::chrono::system_clock::now());
      if (Cancelled(cancel) || remaining.count() <= 0) return false;
      auto timeout_seconds = std::clamp<long long>(remaining.count(), 1, 300);
      KubeCall watch;
      watch.path = Join(target.collection_path,
                        WithQuery(target.selector_query,
                                  fmt::format("watch=1&resourceVersion={}&allowWatchBookmarks=true&"
                                              "timeoutSeconds={}",
                                              common::UrlEncode(rv), timeout_seconds)));
      watch.impersonate_user = target.impersonate_user;
      watch.timeout = std::chrono::seconds(timeout_seconds + 15);
      WatchDecoder decoder;
      bool stop = false;
      bool error_event = false;
      try {
        client.Stream(
            watch,
            [&](std::string_view data) {
              return decoder.Feed(data, [&](const nlohmann::json& event) {
                auto type = event.value("type", "");
                const auto& object = event.contains("object") ? event["object"] : nlohmann::json();
                if (type == "ERROR") {
                  int code = object.is_object() ? object.value("code", 0) : 0;
                  spdlog::debug("watch {}: error event {}", target.collection_path, object.dump());
                  error_event = true;
                  relist = true;
                  if (code != 410) ++failures;
                  return false;
                }
                auto new_rv = ResourceVersionOf(object);
                if (!new_rv.empty()) rv = new_rv;
                if (type == "BOOKMARK") return true;
                failures = 0;
                if (handler(type, object)) {
                  stop = true;
                  return false;
                }
                return true;
              });
            },
            cancel);
      } catch (const ApiError& e) {
        if (e.HttpStatus() == 410) {
          relist = true;
          continue;
        }
        if (e.HttpStatus() < 500 && e.HttpStatus() != 429) throw;
        backoff();
        continue;
      } catch (const common::Error& e) {
        if (Cancelled(cancel)) return false;
        if (IsPermanent(e)) throw;
        spdlog::debug("watch {}: {}; resuming from {}", target.collection_path, e.what(), rv);
        backoff();
        continue;
      }
      if (stop) return true;
      if (error_event && failures > 0) backoff();
      // Clean end (server timeout) without an error: resume from rv.
    }
  }
}

}  // namespace deployd::kube
