#include "deployd/kube/informer.hpp"

// g++ 12 pairs the allocation and deallocation of an inlined Asio coroutine frame wrongly here
// (-Wmismatched-new-delete on awaitable_frame_base::operator delete): a false positive, both come
// from awaitable_frame_base.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/error.hpp"
#include "common/http_client.hpp"
#include "deployd/kube/async_kube_client.hpp"
#include "deployd/kube/kube_client.hpp"
#include "deployd/kube/watch.hpp"

namespace deployd::kube {
namespace {

using nlohmann::json;

// Watches end on the server's side after this long and resume (client-go: 5-10 minutes).
constexpr int kWatchSeconds = 300;

std::string StringField(const json& o, const char* a, const char* b) {
  if (!o.is_object()) return "";
  auto outer = o.find(a);
  if (outer == o.end() || !outer->is_object()) return "";
  auto inner = outer->find(b);
  return inner != outer->end() && inner->is_string() ? inner->get<std::string>() : "";
}

std::string ResourceVersionOf(const json& object) {
  return StringField(object, "metadata", "resourceVersion");
}

std::string Join(const std::string& path, const std::string& query) {
  return query.empty() ? path : path + "?" + query;
}

std::string WithQuery(const std::string& base_query, const std::string& extra) {
  return base_query.empty() ? extra : base_query + "&" + extra;
}

// Failures that the same request meets again: an oversized answer or event, a request the HTTP
// client refuses, a certificate that does not verify.
bool IsPermanent(const common::Error& e) {
  return e.Code() == common::ErrorCode::kFailedPrecondition ||
         e.Code() == common::ErrorCode::kInvalidArgument;
}

std::chrono::milliseconds BackoffDelay(int failures) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  return common::WithJitter(
      common::BackoffDelay(failures, std::chrono::milliseconds(200), std::chrono::seconds(5)),
      random());
}

bool IsPermanentStatus(int status) { return status < 500 && status != 429 && status != 410; }

std::string WithoutLastPart(const std::string& name) {
  auto dash = name.rfind('-');
  return dash == std::string::npos || dash == 0 ? "" : name.substr(0, dash);
}

}  // namespace

std::vector<std::string> IndexKeys(IndexBy index, const json& object) {
  std::vector<std::string> keys;
  switch (index) {
    case IndexBy::kName: {
      keys.push_back(StringField(object, "metadata", "name"));
      break;
    }
    case IndexBy::kLabels: {
      auto metadata = object.find("metadata");
      if (metadata == object.end() || !metadata->is_object()) break;
      auto labels = metadata->find("labels");
      if (labels == metadata->end() || !labels->is_object()) break;
      for (const auto& [k, v] : labels->items()) {
        if (v.is_string()) keys.push_back(k + "=" + v.get<std::string>());
      }
      break;
    }
    case IndexBy::kEventTarget: {
      auto name = StringField(object, "involvedObject", "name");
      if (name.empty()) break;
      keys.push_back(name);
      auto shorter = WithoutLastPart(name);
      if (!shorter.empty()) keys.push_back(shorter);
      auto shortest = WithoutLastPart(shorter);
      if (!shortest.empty()) keys.push_back(shortest);
      break;
    }
  }
  return keys;
}

void TrimForCache(json& object) {
  if (!object.is_object()) return;
  if (auto metadata = object.find("metadata"); metadata != object.end() && metadata->is_object()) {
    metadata->erase("managedFields");
    if (auto annotations = metadata->find("annotations");
        annotations != metadata->end() && annotations->is_object()) {
      annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
    }
  }
  if (auto spec = object.find("spec"); spec != object.end() && spec->is_object()) {
    json kept = json::object();
    for (const char* key : {"replicas", "selector", "updateStrategy", "type"}) {
      if (auto it = spec->find(key); it != spec->end()) kept[key] = std::move(*it);
    }
    *spec = std::move(kept);
  }
}

std::string InformerSpec::Key() const {
  return fmt::format("{} {}?{} {}{}", user, collection_path, selector_query, keep_objects,
                     relist_objects);
}

// ---- Informer --------------------------------------------------------------------------------

Informer::Informer(const net::any_io_executor& executor, AsyncKubeClient& client, InformerSpec spec,
                   const common::Timers& timers)
    : strand_(net::make_strand(executor)),
      client_(client),
      spec_(std::move(spec)),
      backoff_timer_(timers.MakeTimer(strand_)) {}

void Informer::Start() {
  net::co_spawn(strand_, Run(shared_from_this()), [](const std::exception_ptr& error) {
    // Run catches what it expects; anything else is logged here, never thrown past the
    // io_context.
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      spdlog::error("watch ended unexpectedly: {}", e.what());
    } catch (...) {
      spdlog::error("watch ended unexpectedly");
    }
  });
}

void Informer::Stop() {
  auto self = shared_from_this();
  net::post(strand_, [self] {
    self->stopped_ = true;
    if (self->watch_stop_) self->watch_stop_->Cancel();
    self->backoff_timer_->Cancel();
    for (auto* waiter : self->sync_waiters_) waiter->cancel();
    self->subscribers_.clear();
    self->subscribed_.clear();
    self->objects_.clear();
    self->by_key_.clear();
  });
}

void Informer::Subscribe(std::uint64_t id, std::string key, EventHandler handler) {
  auto self = shared_from_this();
  net::post(strand_, [self, id, key = std::move(key), handler = std::move(handler)] {
    if (self->stopped_) return;
    if (self->failed_) {
      handler(WatchEvent{"ERROR", nullptr, *self->failed_});
    } else if (auto names = self->by_key_.find(key); names != self->by_key_.end()) {
      for (const auto& name : names->second) {
        handler(WatchEvent{"ADDED", self->objects_.at(name).object, ""});
      }
    }
    self->subscribers_[id] = Subscriber{key, handler};
    self->subscribed_.emplace(key, id);
  });
}

void Informer::Unsubscribe(std::uint64_t id) {
  auto self = shared_from_this();
  net::post(strand_, [self, id] {
    auto it = self->subscribers_.find(id);
    if (it == self->subscribers_.end()) return;
    auto range = self->subscribed_.equal_range(it->second.key);
    for (auto s = range.first; s != range.second; ++s) {
      if (s->second == id) {
        self->subscribed_.erase(s);
        break;
      }
    }
    self->subscribers_.erase(it);
  });
}

net::awaitable<void> Informer::WaitSyncedOnStrand(std::shared_ptr<Informer> self,
                                                  std::chrono::milliseconds timeout) {
  net::steady_timer timer(self->strand_);
  timer.expires_after(timeout);
  while (!self->synced_ && !self->stopped_ &&
         net::steady_timer::clock_type::now() < timer.expiry()) {
    self->sync_waiters_.insert(&timer);
    boost::system::error_code ignored;
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
    self->sync_waiters_.erase(&timer);
  }
}

net::awaitable<void> Informer::WaitSynced(std::chrono::milliseconds timeout) {
  co_await net::co_spawn(strand_, WaitSyncedOnStrand(shared_from_this(), timeout),
                         net::use_awaitable);
}

void Informer::Synced() {
  synced_ = true;
  for (auto* waiter : sync_waiters_) waiter->cancel();
}

void Informer::Fail(const std::string& message) {
  spdlog::warn("watch {} as {}: {}", spec_.collection_path, spec_.user, message);
  failed_ = message;
  WatchEvent event{"ERROR", nullptr, message};
  // Copied: a handler may unsubscribe (posted, so not now, but keep it simple and safe).
  auto subscribers = subscribers_;
  for (const auto& [id, subscriber] : subscribers) subscriber.handler(event);
  Synced();
}

void Informer::Deliver(const std::vector<std::string>& keys, const WatchEvent& event) {
  std::set<std::uint64_t> told;
  for (const auto& key : keys) {
    auto range = subscribed_.equal_range(key);
    for (auto it = range.first; it != range.second; ++it) {
      if (!told.insert(it->second).second) continue;
      auto subscriber = subscribers_.find(it->second);
      if (subscriber != subscribers_.end()) subscriber->second.handler(event);
    }
  }
}

void Informer::Put(const std::string& name, Entry entry) {
  Remove(name);
  for (const auto& key : entry.keys) by_key_[key].insert(name);
  objects_[name] = std::move(entry);
}

void Informer::Remove(const std::string& name) {
  auto it = objects_.find(name);
  if (it == objects_.end()) return;
  for (const auto& key : it->second.keys) {
    auto names = by_key_.find(key);
    if (names == by_key_.end()) continue;
    names->second.erase(name);
    if (names->second.empty()) by_key_.erase(names);
  }
  objects_.erase(it);
}

void Informer::Apply(const std::string& type, json object) {
  TrimForCache(object);
  auto keys = IndexKeys(spec_.index, object);
  const auto name = StringField(object, "metadata", "name");
  auto shared = std::make_shared<const json>(std::move(object));
  if (spec_.keep_objects) {
    if (type == "DELETED") {
      if (auto it = objects_.find(name); it != objects_.end()) {
        for (const auto& key : it->second.keys) keys.push_back(key);
      }
      Remove(name);
    } else {
      if (auto it = objects_.find(name); it != objects_.end()) {
        for (const auto& key : it->second.keys) keys.push_back(key);  // labels may have changed
      }
      Put(name, Entry{shared, IndexKeys(spec_.index, *shared)});
    }
  }
  Deliver(keys, WatchEvent{type, shared, ""});
}

void Informer::Replace(json items) {
  std::set<std::string> listed;
  if (items.is_array()) {
    for (auto& item : items) {
      auto name = StringField(item, "metadata", "name");
      listed.insert(name);
      auto it = objects_.find(name);
      if (it != objects_.end() &&
          ResourceVersionOf(*it->second.object) == ResourceVersionOf(item)) {
        continue;  // unchanged since the last list or watch
      }
      Apply(it == objects_.end() ? "ADDED" : "MODIFIED", std::move(item));
    }
  }
  std::vector<std::string> gone;
  for (const auto& [name, entry] : objects_) {
    if (listed.count(name) == 0) gone.push_back(name);
  }
  for (const auto& name : gone) {
    json last = *objects_.at(name).object;
    Apply("DELETED", std::move(last));
  }
}

net::awaitable<void> Informer::Backoff(int failures) {
  co_await backoff_timer_->WaitFor(BackoffDelay(failures));
}

net::awaitable<void> Informer::Run(std::shared_ptr<Informer> self) {
  const InformerSpec& spec = self->spec_;
  int failures = 0;
  while (!self->stopped_) {
    // ---- list
    KubeCall list;
    list.path =
        Join(spec.collection_path, spec.keep_objects ? spec.selector_query : kResourceVersionProbe);
    list.impersonate_user = spec.user;
    json listed;
    std::string error;
    bool permanent = false;
    try {
      listed = co_await self->client_.CallJson(list);
    } catch (const ApiError& e) {
      error = e.what();
      permanent = IsPermanentStatus(e.HttpStatus());
    } catch (const common::Error& e) {
      error = e.what();
      permanent = IsPermanent(e);
    }
    if (self->stopped_) break;
    if (!error.empty()) {
      if (permanent) self->Fail(error);
      co_await self->Backoff(failures++);
      continue;
    }
    std::string rv = ResourceVersionOf(listed);
    if (spec.keep_objects && listed.contains("items")) self->Replace(std::move(listed["items"]));
    listed = json();
    self->failed_.reset();
    self->Synced();

    // ---- watch, resuming from rv until a relist is needed
    bool relist = false;
    while (!relist && !self->stopped_) {
      KubeCall watch;
      watch.path = Join(spec.collection_path,
                        WithQuery(spec.selector_query,
                                  fmt::format("watch=1&resourceVersion={}&allowWatchBookmarks=true&"
                                              "timeoutSeconds={}",
                                              common::UrlEncode(rv), kWatchSeconds)));
      watch.impersonate_user = spec.user;
      watch.timeout = std::chrono::seconds(kWatchSeconds + 15);
      self->watch_stop_ = std::make_shared<common::HttpCancel>();
      WatchDecoder decoder;
      bool error_event = false;
      std::function<bool(const json&)> on_event = [&](const json& event) {
        auto type = event.value("type", "");
        if (type == "ERROR") {
          const json& status = event.contains("object") ? event["object"] : json();
          int code = status.is_object() ? status.value("code", 0) : 0;
          spdlog::debug("watch {}: error event {}", spec.collection_path, status.dump());
          error_event = true;
          relist = true;
          if (code != 410) ++failures;
          return false;
        }
        if (!event.contains("object") || !event["object"].is_object()) return true;
        auto new_rv = ResourceVersionOf(event["object"]);
        if (!new_rv.empty()) rv = new_rv;
        if (type == "BOOKMARK") return true;
        failures = 0;
        self->Apply(type, event["object"]);
        return !self->stopped_;
      };
      std::function<bool(std::string_view)> on_data = [&decoder, &on_event](std::string_view data) {
        return decoder.Feed(data, on_event);
      };
      int status = 0;
      error.clear();
      permanent = false;
      try {
        co_await self->client_.Stream(watch, on_data, self->watch_stop_);
      } catch (const ApiError& e) {
        status = e.HttpStatus();
        error = e.what();
        permanent = IsPermanentStatus(status);
      } catch (const common::Error& e) {
        error = e.what();
        permanent = IsPermanent(e);
      }
      if (self->stopped_) break;
      if (status == 410) {
        relist = true;
      } else if (!error.empty()) {
        spdlog::debug("watch {}: {}; resuming from {}", spec.collection_path, error, rv);
        if (permanent) {
          self->Fail(error);
          relist = true;
        }
        co_await self->Backoff(failures++);
      } else if (error_event && failures > 0) {
        co_await self->Backoff(failures);
      }
      // A clean end (the server's timeout) resumes from rv.
    }
  }
  self->watch_stop_.reset();
}

// ---- InformerRegistry --------------------------------------------------------------------------

InformerRegistry::InformerRegistry(net::any_io_executor executor, AsyncKubeClient& client,
                                   const common::Timers& timers)
    : executor_(std::move(executor)), client_(client), timers_(timers) {}

InformerRegistry::~InformerRegistry() { StopAll(); }

InformerRegistry::Use::~Use() { registry_.Release(informer_); }

std::shared_ptr<InformerRegistry::Use> InformerRegistry::Acquire(const InformerSpec& spec) {
  std::lock_guard lock(mutex_);
  auto& slot = running_[spec.Key()];
  if (!slot.informer) {
    slot.informer = std::make_shared<Informer>(executor_, client_, spec, timers_);
    slot.informer->Start();
  }
  ++slot.uses;
  return std::make_shared<Use>(*this, slot.informer);
}

void InformerRegistry::Release(const std::shared_ptr<Informer>& informer) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(informer->Spec().Key());
  if (it == running_.end() || it->second.informer != informer) return;  // stopped by StopAll
  if (--it->second.uses > 0) return;
  it->second.informer->Stop();
  running_.erase(it);
}

std::uint64_t InformerRegistry::NextId() {
  std::lock_guard lock(mutex_);
  return ++next_id_;
}

std::size_t InformerRegistry::Running() const {
  std::lock_guard lock(mutex_);
  return running_.size();
}

void InformerRegistry::StopAll() {
  std::lock_guard lock(mutex_);
  for (auto& [key, slot] : running_) slot.informer->Stop();
  running_.clear();
}

}  // namespace deployd::kube
