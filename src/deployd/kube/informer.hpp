#pragma once
// Shared watches, after client-go's informers: one list+watch per (collection, impersonated user),
// e.g. the Deployments of namespace aura as the team aura, however many deployments wait for
// Deployments there. Each informer runs as one coroutine on its own strand:
//   list (all objects, or for events only the resourceVersion: kResourceVersionProbe), then watch
//   from the list's resourceVersion with bookmarks; a watch that ends (server timeout, broken
//   connection) resumes from the last resourceVersion seen, with capped backoff after failures;
//   410 Gone (or an ERROR event with code 410) lists again and reports the differences.
// It keeps a cache of what it lists and watches (trimmed to what rollout verdicts read: no
// managedFields, no pod templates or pod specs) and hands every change to the subscribers whose
// key the object is found under (IndexBy). A new subscriber first gets the cached objects under
// its key as ADDED. A list or watch that fails permanently (403, 404, 400, an oversized event)
// is reported to every subscriber as an ERROR event and retried with backoff.
//
// Informers live while some InformerRegistry::Use holds them: the last one to go stops it (the
// watch connection is closed, nothing is cached any more).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "common/async_http_client.hpp"
#include "common/timers.hpp"

namespace deployd::kube {

namespace net = common::net;

class AsyncKubeClient;

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED; ERROR: the list or watch failed (`error`)
  ObjectPtr object;
  std::string error;
};
// Runs on the informer's strand; must not block (subscribers post to their own strand).
using EventHandler = std::function<void(const WatchEvent&)>;

// The keys an object is found under.
enum class IndexBy {
  kName,         // metadata.name
  kLabels,       // "<label>=<value>" for each label (pods, found by one pair of their selector)
  kEventTarget,  // involvedObject.name, and without its last one and two "-<suffix>" parts
};
std::vector<std::string> IndexKeys(IndexBy index, const nlohmann::json& object);

// What an informer caches of an object: no metadata.managedFields nor last-applied annotation,
// and of the spec only what rollout verdicts read (replicas, selector, updateStrategy, type).
void TrimForCache(nlohmann::json& object);

struct InformerSpec {
  std::string collection_path;  // /apis/apps/v1/namespaces/aura/deployments
  std::string selector_query;   // "" or e.g. fieldSelector=metadata.name%3Dwidgets.example.com
  std::string user;             // Impersonate-User of its list and watch calls
  IndexBy index = IndexBy::kName;
  // false (events): the list only fetches the resourceVersion, nothing is cached and new
  // subscribers get changes from then on.
  bool keep_objects = true;
  // With keep_objects false: a list after the first (the watch expired, 410) still fetches the
  // objects and hands them on as MODIFIED, for what changed while nobody watched (pods).
  bool relist_objects = false;
  std::string Key() const;
};

class Informer : public std::enable_shared_from_this<Informer> {
 public:
  // `client` and `timers` (the clock of the backoff between failed calls) outlive the informer.
  Informer(const net::any_io_executor& executor, AsyncKubeClient& client, InformerSpec spec,
           const common::Timers& timers = common::RealTimers());
  const InformerSpec& Spec() const { return spec_; }

  void Start();
  // Any thread. Ends the watch; subscribers get nothing more.
  void Stop();
  // Any thread. `handler` first gets the cached objects under `key` (or the current failure).
  void Subscribe(std::uint64_t id, std::string key, EventHandler handler);
  void Unsubscribe(std::uint64_t id);
  // Returns (on the caller's executor) once the first list answered or failed, the informer
  // stopped, or `timeout` passed (an API server that does not answer: the caller goes on, and its
  // subscription gets the objects when the list comes). A subscriber that subscribes after a
  // successful sync misses no change made after the call.
  net::awaitable<void> WaitSynced(std::chrono::milliseconds timeout);

 private:
  struct Entry {
    ObjectPtr object;
    std::vector<std::string> keys;
  };
  struct Subscriber {
    std::string key;
    EventHandler handler;
  };

  static net::awaitable<void> Run(std::shared_ptr<Informer> self);
  static net::awaitable<void> WaitSyncedOnStrand(std::shared_ptr<Informer> self,
                                                 std::chrono::milliseconds timeout);
  net::awaitable<void> Backoff(int failures);
  // On the strand.
  void Replace(nlohmann::json items);
  void Apply(const std::string& type, nlohmann::json object);
  void Deliver(const std::vector<std::string>& keys, const WatchEvent& event);
  void Fail(const std::string& message);
  void Synced();
  void Put(const std::string& name, Entry entry);
  void Remove(const std::string& name);

  net::strand<net::any_io_executor> strand_;
  AsyncKubeClient& client_;
  const InformerSpec spec_;
  // On the strand:
  bool stopped_ = false;
  bool synced_ = false;
  std::optional<std::string> failed_;
  std::map<std::string, Entry> objects_;                  // by name
  std::map<std::string, std::set<std::string>> by_key_;   // index key -> names
  std::map<std::uint64_t, Subscriber> subscribers_;       // by id
  std::multimap<std::string, std::uint64_t> subscribed_;  // index key -> subscriber ids
  std::shared_ptr<common::HttpCancel> watch_stop_;
  std::unique_ptr<common::Timer> backoff_timer_;
  std::set<net::steady_timer*> sync_waiters_;  // timers of WaitSynced calls, in their frames
};

// Hands out running informers by spec and stops each when its last user lets go. Thread-safe.
class InformerRegistry {
 public:
  // Its informers back off by `timers` (which outlives the registry).
  InformerRegistry(net::any_io_executor executor, AsyncKubeClient& client,
                   const common::Timers& timers = common::RealTimers());
  ~InformerRegistry();
  InformerRegistry(const InformerRegistry&) = delete;
  InformerRegistry& operator=(const InformerRegistry&) = delete;

  // Keeps one informer running while it exists.
  class Use {
   public:
    Use(InformerRegistry& registry, std::shared_ptr<Informer> informer)
        : registry_(registry), informer_(std::move(informer)) {}
    ~Use();
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    Informer& Get() const { return *informer_; }

   private:
    InformerRegistry& registry_;
    std::shared_ptr<Informer> informer_;
  };

  std::shared_ptr<Use> Acquire(const InformerSpec& spec);
  // Subscription ids, unique in the process.
  std::uint64_t NextId();
  std::size_t Running() const;
  // Stops every informer (shutdown); later Acquire calls still work.
  void StopAll();

 private:
  void Release(const std::shared_ptr<Informer>& informer);

  net::any_io_executor executor_;
  AsyncKubeClient& client_;
  const common::Timers& timers_;
  mutable std::mutex mutex_;
  struct Slot {
    std::shared_ptr<Informer> informer;
    int uses = 0;
  };
  std::map<std::string, Slot> running_;
  std::uint64_t next_id_ = 0;
};

}  // namespace deployd::kube
