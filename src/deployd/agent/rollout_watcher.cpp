#include "deployd/agent/rollout_watcher.hpp"

#include <algorithm>
#include <atomic>
#include <deque>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/http_client.hpp"
#include "deployd/rollout/container_log.hpp"
#include "deployd/rollout/tracker.hpp"

// g++ 12 pairs the allocation and deallocation of an inlined Asio coroutine frame wrongly here
// (-Wmismatched-new-delete on awaitable_frame_base::operator delete): a false positive, both come
// from awaitable_frame_base.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace deployd::agent {
namespace {

using nlohmann::json;
using rollout::Phase;
using rollout::Rule;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// `text` is `-` followed by n lower-case letters or digits, with min <= n <= max.
bool IsSuffix(std::string_view text, std::size_t min, std::size_t max) {
  if (text.empty() || text[0] != '-') return false;
  auto part = text.substr(1);
  return part.size() >= min && part.size() <= max &&
         std::all_of(part.begin(), part.end(), IsLowerAlnum);
}

bool UsesPods(Rule rule) {
  return rule == Rule::kDeployment || rule == Rule::kStatefulSet || rule == Rule::kDaemonSet ||
         rule == Rule::kReplicaSet || rule == Rule::kJob;
}

// spec.selector.matchLabels (string values only), or an empty object.
json MatchLabels(const json& object) {
  const json* labels = common::JsonFind(object, {"spec", "selector", "matchLabels"});
  json out = json::object();
  if (labels == nullptr || !labels->is_object()) return out;
  for (const auto& [k, v] : labels->items()) {
    if (v.is_string()) out[k] = v;
  }
  return out;
}

bool LabelsMatch(const json& selector, const json& pod) {
  const json* labels = common::JsonFind(pod, {"metadata", "labels"});
  if (labels == nullptr || !labels->is_object()) return selector.empty();
  for (const auto& [k, v] : selector.items()) {
    auto it = labels->find(k);
    if (it == labels->end() || *it != v) return false;
  }
  return true;
}

Verdict ToVerdict(const rollout::Outcome& outcome) {
  switch (outcome.kind) {
    case rollout::Outcome::Kind::kSuccess:
      return Verdict{pb::DeploymentState::success, outcome.message};
    case rollout::Outcome::Kind::kFailure:
      return Verdict{pb::DeploymentState::failure, outcome.message};
    case rollout::Outcome::Kind::kTimeout:
      break;
  }
  return Verdict{pb::DeploymentState::error, outcome.message};
}

enum class Source { kObject, kPods, kEvents };

// How long a write waits for the first list of a wait's new informers.
constexpr std::chrono::seconds kSyncTimeout{10};

// One GET as `user` (not retried), its body cut at max_bytes, given up after `timeout` (its
// connection is closed then): the body, or the error that ended it.
struct Fetched {
  std::string body;
  std::string error;
};
// `budget` is the whole deadline named in the error (timeout is what is left of it).
net::awaitable<Fetched> TimedGet(const common::Timers& timers, kube::AsyncKubeClient& kube,
                                 kube::KubeCall call, std::size_t max_bytes,
                                 std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds budget) {
  call.timeout = timeout;  // the HTTP client's own limit, should the timer below be late
  // The watchdog runs beside the read on this strand: it stops the read when `timeout` has passed
  // before the read ended.
  struct Watchdog {
    std::unique_ptr<common::Timer> timer;
    std::shared_ptr<common::HttpCancel> stop = std::make_shared<common::HttpCancel>();
    bool finished = false;
    bool expired = false;
  };
  const auto executor = co_await net::this_coro::executor;
  auto watchdog = std::make_shared<Watchdog>();
  watchdog->timer = timers.MakeTimer(executor);
  net::co_spawn(
      executor,
      [watchdog, timeout]() -> net::awaitable<void> {
        co_await watchdog->timer->WaitFor(timeout);
        if (watchdog->finished) co_return;
        watchdog->expired = true;
        watchdog->stop->Cancel();
      },
      net::detached);
  Fetched out;
  try {
    co_await kube.Stream(
        call,
        [&out, max_bytes](std::string_view data) {
          out.body.append(data.substr(0, std::min(data.size(), max_bytes - out.body.size())));
          return out.body.size() < max_bytes;
        },
        watchdog->stop);
  } catch (const std::exception& e) {
    out.error =
        watchdog->expired
            ? fmt::format("no answer within {} s",
                          std::chrono::duration_cast<std::chrono::duration<double>>(budget).count())
            : std::string(e.what());
  }
  watchdog->finished = true;
  watchdog->timer->Cancel();
  co_return out;
}

// A failing container's last lines as `user`, or why they are not available.
net::awaitable<std::string> ReadContainerLog(const common::Timers& timers,
                                             kube::AsyncKubeClient& kube, std::string user,
                                             std::string ns, std::string prefix,
                                             rollout::LogSource source,
                                             std::chrono::milliseconds timeout,
                                             std::chrono::milliseconds budget) {
  kube::KubeCall call;
  call.path = fmt::format(
      "/api/v1/namespaces/{}/pods/{}/log?container={}&tailLines={}&limitBytes={}",
      common::UrlEncode(ns), common::UrlEncode(source.pod), common::UrlEncode(source.container),
      rollout::kLogMaxLines, rollout::kLogFetchBytes);
  if (source.previous) call.path += "&previous=true";
  call.impersonate_user = std::move(user);
  call.accept = "text/plain, */*";
  auto fetched =
      co_await TimedGet(timers, kube, std::move(call), rollout::kLogFetchBytes, timeout, budget);
  if (!fetched.error.empty()) {
    spdlog::info("{}: log of container {} in pod {} not available: {}", prefix, source.container,
                 source.pod, fetched.error);
    co_return rollout::LogUnavailable(prefix, source, fetched.error);
  }
  co_return rollout::LogBlock(prefix, source, rollout::CleanLogLines(fetched.body));
}

// The pods of a failed Job whose failure no pod event showed yet (the Job's status and its pods'
// come on different watches): the newest pod created since the write with a failed container.
net::awaitable<std::optional<rollout::LogSource>> FailedJobContainer(
    const common::Timers& timers, kube::AsyncKubeClient& kube, std::string user, std::string ns,
    std::string job, common::SystemTime since, std::chrono::milliseconds timeout) {
  kube::KubeCall call;
  call.path = fmt::format("/api/v1/namespaces/{}/pods?labelSelector={}", common::UrlEncode(ns),
                          common::UrlEncode("job-name=" + job));
  call.impersonate_user = std::move(user);
  auto fetched =
      co_await TimedGet(timers, kube, std::move(call), std::size_t{4} << 20, timeout, timeout);
  if (!fetched.error.empty()) co_return std::nullopt;
  auto list = json::parse(fetched.body, nullptr, false);
  const json* items = common::JsonFind(list, {"items"});
  if (items == nullptr || !items->is_array()) co_return std::nullopt;
  const auto after = std::chrono::time_point_cast<std::chrono::seconds>(since);
  std::optional<rollout::LogSource> found;
  std::string newest;
  for (const auto& pod : *items) {
    const auto created_text = common::JsonString(pod, {"metadata", "creationTimestamp"});
    auto created = common::ParseRfc3339(created_text);
    if (created && *created < after) continue;
    auto failed = rollout::FailedContainer(pod);
    if (failed && (!found || created_text >= newest)) {
      found = failed;
      newest = created_text;
    }
  }
  co_return found;
}

}  // namespace

// One resource's wait. Everything but `on_stop` runs on `executor` (the deployment's strand):
// informers post what they see there, claims post their stop there.
class RolloutWait : public std::enable_shared_from_this<RolloutWait> {
 public:
  RolloutWait(net::any_io_executor ex, const common::Timers& clock)
      : executor(std::move(ex)), timers(clock), timer(clock.MakeTimer(executor)) {}
  ~RolloutWait() { Release(); }
  RolloutWait(const RolloutWait&) = delete;
  RolloutWait& operator=(const RolloutWait&) = delete;

  struct Item {
    Source source;
    kube::WatchEvent event;
  };

  net::any_io_executor executor;
  const common::Timers& timers;
  std::unique_ptr<common::Timer> timer;  // wakes Await: new items, a stop, a due time, the deadline
  Rule rule = Rule::kNone;
  std::string kind;
  std::string name;
  std::string correlation_id;
  json pod_selector = json::object();
  std::optional<rollout::RolloutTracker> tracker;  // every kind but nais.io's
  common::SystemTime since{};
  // The write's generation and resourceVersion: the object's older states (the informer's cache
  // when the wait subscribed, changes before the write) are not judged.
  std::optional<long long> written_generation;
  std::optional<unsigned long long> written_version;
  std::set<std::string> nais_seen;  // event lines reported (nais.io)
  // What arrived before the write's result was known; judged by Applied (raw objects are not
  // kept longer: a wait may start long after its resource was written).
  std::deque<Item> inbox;
  bool applied = false;
  std::vector<std::string> lines;  // in_progress lines not reported yet
  std::optional<Verdict> verdict;
  // The failure's container, whose log the verdict gets (Await reads it once the wait is over).
  std::optional<rollout::LogSource> log_source;
  kube::AsyncKubeClient* logs = nullptr;
  std::string user;
  std::string namespace_;
  std::chrono::milliseconds log_timeout{0};
  std::optional<std::string> stop_reason;
  std::shared_ptr<RolloutWatcher::Claim> claim;
  struct Subscription {
    std::shared_ptr<kube::InformerRegistry::Use> use;
    std::uint64_t id = 0;
  };
  std::vector<Subscription> subscriptions;

  // Called on an informer's strand: queue it here and wake Await.
  kube::EventHandler HandlerFor(Source source) {
    std::weak_ptr<RolloutWait> weak = weak_from_this();
    return [weak, source](const kube::WatchEvent& event) {
      auto self = weak.lock();
      if (!self) return;
      net::post(self->executor, [self, source, event] { self->Take(Item{source, event}); });
    };
  }

  void Stop(const std::string& reason) {
    std::weak_ptr<RolloutWait> weak = weak_from_this();
    net::post(executor, [weak, reason] {
      auto self = weak.lock();
      if (!self || self->stop_reason) return;
      self->stop_reason = reason;
      self->timer->Cancel();
    });
  }

  void Release() {
    for (auto& s : subscriptions) s.use->Get().Unsubscribe(s.id);
    subscriptions.clear();
    if (claim) {
      std::lock_guard lock(claim->mutex);
      claim->on_stop = nullptr;
    }
    claim.reset();
  }

  // On the executor: queued until the write's result is known, judged from then on.
  void Take(Item item) {
    if (!applied) {
      inbox.push_back(std::move(item));
      return;
    }
    if (verdict) return;
    verdict = Handle(item);
    timer->Cancel();
  }

  // Judges what arrived before the write's result.
  void Drain() {
    applied = true;
    while (!inbox.empty() && !verdict) {
      auto item = std::move(inbox.front());
      inbox.pop_front();
      verdict = Handle(item);
    }
    inbox.clear();
  }

  // Judges one item; a verdict ends the wait. in_progress lines go to `lines`.
  std::optional<Verdict> Handle(const Item& item) {
    const auto& event = item.event;
    if (event.type == "ERROR") {
      return Verdict{pb::DeploymentState::error, fmt::format("watch failed: {}", event.error)};
    }
    const json& object = *event.object;
    const auto now = timers.Now();
    rollout::RolloutTracker::Step step;
    switch (item.source) {
      case Source::kObject:
        if (common::JsonString(object, {"metadata", "name"}) != name || Older(object))
          return std::nullopt;
        if (rule == Rule::kNais) return NaisObject(object);
        step = tracker->OnObject(event.type, object, now);
        break;
      case Source::kPods:
        if (!LabelsMatch(pod_selector, object)) return std::nullopt;
        step = tracker->OnPod(event.type, object, now);
        break;
      case Source::kEvents:
        if (event.type == "DELETED") return std::nullopt;
        if (!EventMatchesResource(name, common::JsonString(object, {"involvedObject", "kind"}),
                                  common::JsonString(object, {"involvedObject", "name"}))) {
          return std::nullopt;
        }
        if (rule == Rule::kNais) return NaisEvent(object);
        step = tracker->OnEvent(object);
        break;
    }
    for (auto& line : step.progress) lines.push_back(std::move(line));
    if (step.outcome) return Conclude(*step.outcome);
    return std::nullopt;
  }

  // The verdict of an outcome; remembers the container whose log a failure gets.
  Verdict Conclude(const rollout::Outcome& outcome) {
    if (outcome.kind == rollout::Outcome::Kind::kFailure) log_source = outcome.log;
    return ToVerdict(outcome);
  }

  void Written(const json& object) {
    written_generation = Generation(object);
    written_version = Version(object);
  }

  bool Older(const json& object) const {
    auto generation = Generation(object);
    if (generation && written_generation && *generation < *written_generation) return true;
    auto version = Version(object);
    return version && written_version && *version < *written_version;
  }

  static std::optional<long long> Generation(const json& object) {
    const json* g = common::JsonFind(object, {"metadata", "generation"});
    if (g == nullptr || !g->is_number_integer()) return std::nullopt;
    return g->get<long long>();
  }

  // resourceVersions are opaque, but etcd's revisions behind them grow with every write; one
  // that is not a number is never compared.
  static std::optional<unsigned long long> Version(const json& object) {
    auto text = common::JsonString(object, {"metadata", "resourceVersion"});
    if (text.empty() || text.size() > 19 ||
        text.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::stoull(text);
  }

  // The original's event watcher, plus naiserator's status with our correlation ID.
  std::optional<Verdict> NaisEvent(const json& ev) {
    auto annotated = common::JsonString(ev, {"metadata", "annotations", kCorrelationAnnotation});
    if (!annotated.empty() && annotated != correlation_id) return std::nullopt;
    auto last = common::ParseRfc3339(common::JsonString(ev, {"lastTimestamp"}));
    if (!last || *last < std::chrono::time_point_cast<std::chrono::seconds>(since)) {
      return std::nullopt;
    }
    if (auto v = NaisEventVerdict(ev, correlation_id)) return v;
    auto text = EventMessage(ev);
    if (nais_seen.insert(text).second) lines.push_back(std::move(text));
    return std::nullopt;
  }

  std::optional<Verdict> NaisObject(const json& o) const {
    if (common::JsonString(o, {"status", "correlationID"}) != correlation_id) return std::nullopt;
    auto state = common::JsonString(o, {"status", "synchronizationState"});
    if (state == "RolloutComplete") {
      return Verdict{pb::DeploymentState::success,
                     fmt::format("{}/{} (RolloutComplete): Successfully deployed.", kind, name)};
    }
    if (state == "FailedSynchronization") {
      std::string message;
      const json* conditions = common::JsonFind(o, {"status", "conditions"});
      if (conditions != nullptr && conditions->is_array()) {
        for (const auto& c : *conditions) {
          if (c.is_object() && c.value("type", "") == "SynchronizationState") {
            message = c.value("message", "");
          }
        }
      }
      return Verdict{pb::DeploymentState::failure,
                     fmt::format("{}/{} (FailedSynchronization): {}", kind, name, message)};
    }
    return std::nullopt;
  }
};

bool EventMatchesResource(const std::string& resource_name, const std::string& involved_kind,
                          const std::string& involved_name) {
  std::string_view rest(involved_name);
  if (rest.substr(0, resource_name.size()) != resource_name) return false;
  rest.remove_prefix(resource_name.size());
  if (involved_kind == "Pod") {
    // <name>-<10>-<5> or <name>-<5>
    if (IsSuffix(rest, 5, 5)) return true;
    return rest.size() == 17 && IsSuffix(rest.substr(0, 11), 10, 10) &&
           IsSuffix(rest.substr(11), 5, 5);
  }
  if (involved_kind == "ReplicaSet") return IsSuffix(rest, 9, 10);
  if (involved_kind == "Job") return rest.empty() || IsSuffix(rest, 5, 5);
  return rest.empty();
}

std::string EventMessage(const json& event) { return rollout::EventLine(event); }

std::optional<Verdict> NaisEventVerdict(const json& event, const std::string& correlation_id) {
  (void)correlation_id;
  auto controller = common::JsonString(event, {"reportingComponent"});
  if (controller.empty()) controller = common::JsonString(event, {"reportingController"});
  if (controller != "naiserator") return std::nullopt;
  bool has_annotation = event.contains("metadata") && event["metadata"].contains("annotations") &&
                        event["metadata"]["annotations"].is_object() &&
                        event["metadata"]["annotations"].contains(kCorrelationAnnotation);
  if (!has_annotation) return Verdict{pb::DeploymentState::failure, kRedeployedMessage};
  auto reason = common::JsonString(event, {"reason"});
  if (reason == "FailedPrepare" || reason == "FailedGenerate" ||
      reason == "FailedSynchronization") {
    return Verdict{pb::DeploymentState::failure, EventMessage(event)};
  }
  if (reason == "RolloutComplete")
    return Verdict{pb::DeploymentState::success, EventMessage(event)};
  return std::nullopt;
}

std::string RolloutWatcher::WorkloadKey(const std::string& group, const std::string& kind,
                                        const std::string& ns, const std::string& name) {
  return group + "/" + kind + "/" + ns + "/" + name;
}

std::shared_ptr<RolloutWatcher::Claim> RolloutWatcher::ClaimObject(
    const json& object, const std::string& correlation_id) {
  auto ref = kube::RefOf(object);
  auto claim = std::make_shared<Claim>();
  claim->key = WorkloadKey(ref.group, ref.kind, ref.namespace_, ref.name);
  claim->correlation_id = correlation_id;
  std::lock_guard lock(claims_mutex_);
  std::vector<std::weak_ptr<Claim>> alive;
  for (auto& weak : claims_) {
    auto other = weak.lock();
    if (!other) continue;
    alive.push_back(other);
    if (other->key != claim->key || other->correlation_id == correlation_id) continue;
    std::lock_guard other_lock(other->mutex);
    if (!other->stop_reason) {
      other->stop_reason = "superseded by deployment " + correlation_id;
      if (other->on_stop) other->on_stop(*other->stop_reason);
    }
  }
  if (shutting_down_) claim->stop_reason = "deployd is shutting down";
  alive.push_back(claim);
  claims_ = std::move(alive);
  return claim;
}

void RolloutWatcher::Shutdown() {
  std::lock_guard lock(claims_mutex_);
  shutting_down_ = true;
  for (auto& weak : claims_) {
    auto claim = weak.lock();
    if (!claim) continue;
    std::lock_guard claim_lock(claim->mutex);
    claim->stop_reason = "deployd is shutting down";
    if (claim->on_stop) claim->on_stop(*claim->stop_reason);
  }
}

void RolloutWatcher::Abandon(const std::set<std::string>& correlation_ids,
                             const std::string& reason) {
  std::lock_guard lock(claims_mutex_);
  for (auto& weak : claims_) {
    auto claim = weak.lock();
    if (!claim || correlation_ids.count(claim->correlation_id) == 0) continue;
    std::lock_guard claim_lock(claim->mutex);
    if (claim->stop_reason) continue;
    claim->stop_reason = reason;
    if (claim->on_stop) claim->on_stop(*claim->stop_reason);
  }
}

net::awaitable<std::shared_ptr<RolloutWait>> RolloutWatcher::Prepare(
    json object, kube::AsyncApplier::Target target, std::string user, std::string correlation_id) {
  const auto& resource = target.resource;
  const Rule rule = rollout::RuleFor(resource.group, resource.kind, object);
  if (rule == Rule::kNone) co_return nullptr;
  auto wait = std::make_shared<RolloutWait>(co_await net::this_coro::executor, timers_);
  wait->rule = rule;
  wait->kind = resource.kind;
  wait->name = kube::RefOf(object).name;
  wait->correlation_id = std::move(correlation_id);
  wait->logs = logs_;
  wait->user = user;
  wait->namespace_ = target.namespace_;
  wait->log_timeout = options_.log_timeout;

  // What to watch: the object's collection (one object's, for cluster-scoped kinds: a cluster's
  // CRDs with their schemas are too big to list for one of them), and for workloads their pods
  // and the namespace's events; for nais.io kinds naiserator's events.
  struct Want {
    kube::InformerSpec spec;
    std::string key;
    Source source;
  };
  std::vector<Want> wants;
  kube::InformerSpec objects;
  objects.collection_path = kube::CollectionPath(resource, target.namespace_);
  if (!resource.namespaced) {
    objects.selector_query = "fieldSelector=" + common::UrlEncode("metadata.name=" + wait->name);
  }
  objects.user = user;
  objects.index = kube::IndexBy::kName;
  wants.push_back(Want{objects, wait->name, Source::kObject});
  const bool namespaced = !target.namespace_.empty();
  // Pods and events of the target's namespace, as seen by `user`. Nothing is cached: those that
  // exist before the write belong to older rollouts, new ones come as they are created.
  auto core_list = [&](const char* plural, kube::IndexBy index) {
    kube::InformerSpec spec;
    spec.collection_path =
        fmt::format("/api/v1/namespaces/{}/{}", common::UrlEncode(target.namespace_), plural);
    spec.user = user;
    spec.index = index;
    spec.keep_objects = false;
    return spec;
  };
  if (UsesPods(rule) && namespaced) {
    wait->pod_selector = rule == Rule::kJob ? json{{"job-name", wait->name}} : MatchLabels(object);
    if (!wait->pod_selector.empty()) {
      auto pods = core_list("pods", kube::IndexBy::kLabels);
      // After an expired watch, the pods come from a full list.
      pods.relist_objects = true;
      auto first = wait->pod_selector.begin();
      wants.push_back(
          Want{pods, first.key() + "=" + first.value().get<std::string>(), Source::kPods});
    }
  }
  if ((UsesPods(rule) || rule == Rule::kNais) && namespaced) {
    wants.push_back(
        Want{core_list("events", kube::IndexBy::kEventTarget), wait->name, Source::kEvents});
  }
  std::vector<std::shared_ptr<kube::InformerRegistry::Use>> uses;
  uses.reserve(wants.size());
  for (const auto& want : wants) uses.push_back(informers_.Acquire(want.spec));
  for (const auto& use : uses) co_await use->Get().WaitSynced(kSyncTimeout);
  for (std::size_t i = 0; i < wants.size(); ++i) {
    auto id = informers_.NextId();
    uses[i]->Get().Subscribe(id, wants[i].key, wait->HandlerFor(wants[i].source));
    wait->subscriptions.push_back(RolloutWait::Subscription{uses[i], id});
  }
  co_return wait;
}

bool RolloutWatcher::Applied(RolloutWait& wait, const kube::ApplyResult& result,
                             const std::shared_ptr<Claim>& claim) const {
  if (wait.rule == Rule::kConditions && !result.object.contains("status") &&
      rollout::Assess(wait.rule, result.object, wait.timers.Now()).phase == Phase::kDone) {
    wait.Release();  // a custom resource without status: done once written
    return false;
  }
  wait.Written(result.object);
  // Events and pods newer than the write (seconds precision, as the original) are relevant.
  wait.since = result.applied_at == common::SystemTime{} ? wait.timers.Now() : result.applied_at;
  if (wait.rule != Rule::kNais) {
    wait.tracker.emplace(
        wait.rule, wait.kind, wait.name, wait.since,
        rollout::TrackerOptions{options_.transient_grace, options_.crash_loop_restarts});
  }
  if (claim) {
    std::weak_ptr<RolloutWait> weak = wait.weak_from_this();
    std::lock_guard lock(claim->mutex);
    wait.claim = claim;
    claim->on_stop = [weak](const std::string& reason) {
      if (auto self = weak.lock()) self->Stop(reason);
    };
    if (claim->stop_reason) wait.Stop(*claim->stop_reason);
  }
  wait.Drain();
  return true;
}

net::awaitable<std::optional<Verdict>> RolloutWatcher::Await(std::shared_ptr<RolloutWait> wait,
                                                             common::SystemTime deadline,
                                                             ProgressFn progress) {
  std::optional<Verdict> verdict;
  while (!verdict) {
    for (const auto& line : wait->lines) progress(line);
    wait->lines.clear();
    if (wait->stop_reason) {
      verdict = Verdict{pb::DeploymentState::failure,
                        fmt::format("{}/{}: {}", wait->kind, wait->name, *wait->stop_reason)};
      break;
    }
    if (wait->verdict) {
      verdict = wait->verdict;
      break;
    }
    const auto now = wait->timers.Now();
    auto due = common::SystemTime::max();
    if (wait->tracker) {
      auto step = wait->tracker->OnTime(now);
      if (step.outcome) {
        verdict = wait->Conclude(*step.outcome);
        break;
      }
      due = wait->tracker->NextDue().value_or(common::SystemTime::max());
    }
    if (now >= deadline) {
      verdict = wait->tracker ? ToVerdict(wait->tracker->Timeout())
                              : Verdict{pb::DeploymentState::error, kTimeoutMessage};
      break;
    }
    co_await wait->timer->WaitUntil(std::min(deadline, due));
  }
  wait->Release();
  const bool failed = verdict && verdict->state == pb::DeploymentState::failure &&
                      wait->logs != nullptr && !wait->stop_reason;
  const auto started = wait->timers.SteadyNow();
  if (failed && !wait->log_source && wait->rule == Rule::kJob) {
    wait->log_source =
        co_await FailedJobContainer(wait->timers, *wait->logs, wait->user, wait->namespace_,
                                    wait->name, wait->since, wait->log_timeout);
  }
  if (failed && wait->log_source) {
    // One deadline for both reads.
    const auto spent =
        std::chrono::duration_cast<std::chrono::milliseconds>(wait->timers.SteadyNow() - started);
    const auto left = std::max(std::chrono::milliseconds(100), wait->log_timeout - spent);
    verdict->log = co_await ReadContainerLog(
        wait->timers, *wait->logs, wait->user, wait->namespace_,
        fmt::format("{}/{}", wait->kind, wait->name), *wait->log_source, left, wait->log_timeout);
  }
  co_return verdict;
}

}  // namespace deployd::agent
