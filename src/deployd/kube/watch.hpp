#pragma once
// Pieces of list-then-watch shared by the informers (informer.hpp): the
// splitting of a chunked watch body into events, and the probe query that only asks a list for
// the collection's resourceVersion.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace deployd::kube {

// Query of the list that only fetches the collection's resourceVersion: no object has an empty
// name, and limit=1 bounds the answer on servers that ignore field selectors. Downloading a whole
// namespace's events per watcher made many concurrent rollouts cost O(n^2) time and memory.
inline constexpr const char* kResourceVersionProbe = "limit=1&fieldSelector=metadata.name%3D";

// Splits a chunked watch body into events; feed data as it arrives (pure; unit tested). Objects'
// metadata.managedFields are left out while parsing (nobody here reads them).
class WatchDecoder {
 public:
  // Kubernetes objects are at most ~1.5 MiB in etcd; their JSON stays well below this.
  static constexpr std::size_t kMaxEventBytes = std::size_t{16} * 1024 * 1024;
  explicit WatchDecoder(std::size_t max_line = kMaxEventBytes) : max_line_(max_line) {}
  // Calls on_line for every complete line. Returns false when on_line asked to stop. Throws
  // common::Error{kFailedPrecondition} (`watch event is larger than the limit of <N> bytes`)
  // when an unfinished line grows past the limit.
  bool Feed(std::string_view data, const std::function<bool(const nlohmann::json&)>& on_event);

 private:
  std::size_t max_line_;
  std::string buffer_;
};

}  // namespace deployd::kube
