#include "deployd/kube/watch.hpp"

#include <fmt/format.h>

#include "common/error.hpp"

namespace deployd::kube {
namespace {

bool DropManagedFields(int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
  return !(event == nlohmann::json::parse_event_t::key && parsed == "managedFields");
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
    auto event = nlohmann::json::parse(line, DropManagedFields, false);
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

}  // namespace deployd::kube
