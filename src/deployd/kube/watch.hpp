#pragma once
// List-then-watch of a collection (kube-api.md 5.7): list, then watch from the list's
// resourceVersion with bookmarks; resume after broken connections and clean server timeouts;
// re-list on 410 Expired/Gone; back off on other errors. No fixed-interval polling.
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/http_client.hpp"
#include "common/time.hpp"

namespace deployd::kube {

class KubeClient;

struct WatchTarget {
  std::string collection_path;  // e.g. /apis/apps/v1/namespaces/aura/deployments
  std::string selector_query;   // e.g. "fieldSelector=metadata.name%3Dweb" (may be empty)
  std::string impersonate_user;
  // false: existing objects do not matter (events: only new ones). The list is then only a probe
  // for the current resourceVersion (kResourceVersionProbe) and the watch starts from there.
  bool initial_objects = true;
};

// Query of the list that only fetches the collection's resourceVersion: no object has an empty
// name, and limit=1 bounds the answer on servers that ignore field selectors. Downloading a whole
// namespace's events per watcher made many concurrent rollouts cost O(n^2) time and memory.
inline constexpr const char* kResourceVersionProbe = "limit=1&fieldSelector=metadata.name%3D";

// type: ADDED | MODIFIED | DELETED. Return true to stop watching.
using WatchHandler = std::function<bool(const std::string& type, const nlohmann::json& object)>;

// Splits a chunked watch body into events; feed data as it arrives (pure; unit tested).
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

// Runs until the handler returns true (returns true), or the deadline passes / cancel fires
// (returns false). Throws ApiError for permanent list/watch failures (403, 404, 400).
bool ListWatch(KubeClient& client, const WatchTarget& target, common::SystemTime deadline,
               common::HttpCancel* cancel, const WatchHandler& handler);

}  // namespace deployd::kube
