#include "deployd/agent/rollout_watcher.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/http_client.hpp"
#include "deployd/agent/thread_budget.hpp"
#include "deployd/kube/kube_client.hpp"
#include "deployd/kube/watch.hpp"
#include "deployd/rollout/tracker.hpp"
#include "deployd/rollout/verdict.hpp"

namespace deployd::agent {
namespace {

using nlohmann::json;
using rollout::Phase;
using rollout::Rule;
using rollout::StringAt;

std::string EscapeRegex(const std::string& s) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(s, special, R"(\$&)");
}

// Label selector query from spec.selector.matchLabels.
std::string MatchLabelsQuery(const json& object) {
  const json* labels = nullptr;
  if (object.contains("spec") && object["spec"].contains("selector") &&
      object["spec"]["selector"].is_object() &&
      object["spec"]["selector"].contains("matchLabels")) {
    labels = &object["spec"]["selector"]["matchLabels"];
  }
  if (labels == nullptr || !labels->is_object() || labels->empty()) return "";
  std::string selector;
  for (const auto& [k, v] : labels->items()) {
    if (!v.is_string()) continue;
    if (!selector.empty()) selector += ",";
    selector += k + "=" + v.get<std::string>();
  }
  return "labelSelector=" + common::UrlEncode(selector);
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

// Shared state of one wait: the first verdict wins.
struct Race {
  explicit Race(std::string what) : name(std::move(what)) {}
  Race(const Race&) = delete;
  Race& operator=(const Race&) = delete;
  // Whatever way the wait ends, its threads are cancelled and joined before anything they use
  // goes: nothing throws past a joinable thread.
  ~Race() { Finish(); }

  std::string name;  // "<Kind>/<name>"
  std::mutex mutex;
  std::condition_variable cv;
  std::optional<Verdict> verdict;
  // Judges the object, its pods and events (every kind but nais.io's); guarded by mutex.
  std::optional<rollout::RolloutTracker> tracker;
  std::vector<std::unique_ptr<common::HttpCancel>> cancels;
  std::vector<std::thread> threads;

  bool Decided() {
    std::lock_guard lock(mutex);
    return verdict.has_value();
  }
  void Decide(Verdict v) {
    std::lock_guard lock(mutex);
    if (!verdict) verdict = std::move(v);
    cv.notify_all();
  }
  // Feeds the tracker (under the lock), reports the step's lines (outside it) and decides on its
  // outcome. Returns true once the wait is decided.
  template <typename Feed>
  bool Track(const Feed& feed, const ProgressFn& progress) {
    rollout::RolloutTracker::Step step;
    {
      std::lock_guard lock(mutex);
      step = feed(*tracker);
      cv.notify_all();  // a transient problem's due time may have changed
    }
    for (const auto& line : step.progress) progress(line);
    if (step.outcome) Decide(ToVerdict(*step.outcome));
    return Decided();
  }
  // Runs fn on its own thread with its own cancel handle; permanent errors end the wait. A thread
  // the system refuses to start (a full PID cgroup) ends the wait with an error instead.
  void Spawn(std::function<void(common::HttpCancel*)> fn) {
    if (Decided()) return;  // e.g. an earlier Spawn failed
    cancels.push_back(std::make_unique<common::HttpCancel>());
    common::HttpCancel* cancel = cancels.back().get();
    try {
      StartThreadInto(threads, [this, cancel, fn = std::move(fn)] {
        try {
          fn(cancel);
        } catch (const std::exception& e) {
          if (!cancel->Cancelled()) {
            Decide(Verdict{pb::DeploymentState::error, fmt::format("watch failed: {}", e.what())});
          }
        } catch (...) {
          if (!cancel->Cancelled()) {
            Decide(Verdict{pb::DeploymentState::error, "watch failed: unknown exception"});
          }
        }
      });
    } catch (const std::system_error& e) {
      Decide(Verdict{
          pb::DeploymentState::error,
          fmt::format("{}: cannot start a thread to watch the rollout: {}", name, e.what())});
    }
  }
  void Finish() {
    for (auto& c : cancels) c->Cancel();
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

bool UsesPods(Rule rule) {
  return rule == Rule::kDeployment || rule == Rule::kStatefulSet || rule == Rule::kDaemonSet ||
         rule == Rule::kReplicaSet || rule == Rule::kJob;
}

// What a wait watches: one list+watch stream per thread. threads == 0: nothing to wait for.
struct Plan {
  Rule rule = Rule::kNone;
  std::string pod_selector;  // the workload's pods ("": not watched)
  int threads = 0;
};

Plan PlanFor(const kube::ApplyResult& applied) {
  Plan plan;
  plan.rule = rollout::RuleFor(applied.resource.group, applied.resource.kind, applied.object);
  if (plan.rule == Rule::kNone) return plan;
  if (plan.rule == Rule::kConditions && !applied.object.contains("status") &&
      rollout::Assess(plan.rule, applied.object, std::chrono::system_clock::now()).phase ==
          Phase::kDone) {
    return plan;  // a custom resource without status: done once written
  }
  if (plan.rule == Rule::kNais) {
    plan.threads = 2;  // naiserator's events and the object's status
    return plan;
  }
  plan.threads = 1;  // the object
  if (UsesPods(plan.rule)) {
    plan.pod_selector =
        plan.rule == Rule::kJob
            ? "labelSelector=" + common::UrlEncode("job-name=" + kube::RefOf(applied.object).name)
            : MatchLabelsQuery(applied.object);
    if (!plan.pod_selector.empty()) ++plan.threads;
    ++plan.threads;  // the events
  }
  return plan;
}

}  // namespace

bool EventMatchesResource(const std::string& resource_name, const std::string& involved_kind,
                          const std::string& involved_name) {
  auto name = EscapeRegex(resource_name);
  std::string pattern;
  if (involved_kind == "Pod") {
    pattern = "^" + name + "-([a-z0-9]{10}-)?[a-z0-9]{5}$";
  } else if (involved_kind == "ReplicaSet") {
    pattern = "^" + name + "-[a-z0-9]{9,10}$";
  } else if (involved_kind == "Job") {
    pattern = "^" + name + "(-[a-z0-9]{5})?$";
  } else {
    pattern = "^" + name + "$";
  }
  return std::regex_match(involved_name, std::regex(pattern));
}

std::string EventMessage(const json& event) { return rollout::EventLine(event); }

std::optional<Verdict> NaisEventVerdict(const json& event, const std::string& correlation_id) {
  (void)correlation_id;
  auto controller = StringAt(event, {"reportingComponent"});
  if (controller.empty()) controller = StringAt(event, {"reportingController"});
  if (controller != "naiserator") return std::nullopt;
  bool has_annotation = event.contains("metadata") && event["metadata"].contains("annotations") &&
                        event["metadata"]["annotations"].is_object() &&
                        event["metadata"]["annotations"].contains(kCorrelationAnnotation);
  if (!has_annotation) return Verdict{pb::DeploymentState::failure, kRedeployedMessage};
  auto reason = StringAt(event, {"reason"});
  if (reason == "FailedPrepare" || reason == "FailedGenerate" ||
      reason == "FailedSynchronization") {
    return Verdict{pb::DeploymentState::failure, EventMessage(event)};
  }
  if (reason == "RolloutComplete")
    return Verdict{pb::DeploymentState::success, EventMessage(event)};
  return std::nullopt;
}

int RolloutWatcher::Threads(const kube::ApplyResult& applied) { return PlanFor(applied).threads; }

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

std::optional<Verdict> RolloutWatcher::Await(
    const kube::ApplyResult& applied, const std::string& user, const std::string& correlation_id,
    common::SystemTime deadline, const ProgressFn& progress, const std::shared_ptr<Claim>& claim) {
  auto ref = kube::RefOf(applied.object);
  const std::string kind = applied.resource.kind;
  const std::string name = ref.name;
  const std::string ns = applied.namespace_;
  const Plan plan = PlanFor(applied);
  const Rule rule = plan.rule;
  if (plan.threads == 0) return std::nullopt;

  // Events and pods newer than the write (seconds precision, as the original) are relevant; the
  // wait may start later than that when it had to wait for a free thread.
  const auto since = applied.applied_at == std::chrono::system_clock::time_point{}
                         ? std::chrono::system_clock::now()
                         : applied.applied_at;
  const auto watch_start = std::chrono::time_point_cast<std::chrono::seconds>(since);
  const std::string events_path =
      fmt::format("/api/v1/namespaces/{}/events", common::UrlEncode(ns));
  // After everything its threads use: destroyed (cancelled and joined) before any of it.
  Race race(fmt::format("{}/{}", kind, name));
  if (claim) {
    std::lock_guard lock(claim->mutex);
    auto stop = [&race, kind, name](const std::string& reason) {
      race.Decide(
          Verdict{pb::DeploymentState::failure, fmt::format("{}/{}: {}", kind, name, reason)});
    };
    if (claim->stop_reason) stop(*claim->stop_reason);
    claim->on_stop = stop;
  }
  struct Detach {
    const std::shared_ptr<Claim>& claim;
    ~Detach() {
      if (!claim) return;
      std::lock_guard lock(claim->mutex);
      claim->on_stop = nullptr;
    }
  } detach{claim};

  if (rule == Rule::kNais) {
    // The original's event watcher, plus naiserator's status with our correlation ID.
    race.Spawn([&, this](common::HttpCancel* cancel) {
      kube::WatchTarget target{events_path, "", user, true};
      std::set<std::string> seen;
      kube::ListWatch(
          client_, target, deadline, cancel, [&](const std::string& type, const json& ev) {
            if (type == "DELETED") return false;
            if (!EventMatchesResource(name, StringAt(ev, {"involvedObject", "kind"}),
                                      StringAt(ev, {"involvedObject", "name"}))) {
              return false;
            }
            auto annotated = StringAt(ev, {"metadata", "annotations", kCorrelationAnnotation});
            if (!annotated.empty() && annotated != correlation_id) return false;
            auto last = common::ParseRfc3339(StringAt(ev, {"lastTimestamp"}));
            if (!last || *last < watch_start) return false;
            if (auto v = NaisEventVerdict(ev, correlation_id)) {
              race.Decide(*v);
              return true;
            }
            auto text = EventMessage(ev);
            if (seen.insert(text).second) progress(text);
            return race.Decided();
          });
    });
    race.Spawn([&, this](common::HttpCancel* cancel) {
      kube::WatchTarget target{kube::CollectionPath(applied.resource, ns),
                               "fieldSelector=" + common::UrlEncode("metadata.name=" + name), user,
                               true};
      kube::ListWatch(client_, target, deadline, cancel, [&](const std::string&, const json& o) {
        if (StringAt(o, {"status", "correlationID"}) != correlation_id) return race.Decided();
        auto state = StringAt(o, {"status", "synchronizationState"});
        if (state == "RolloutComplete") {
          race.Decide(
              Verdict{pb::DeploymentState::success,
                      fmt::format("{}/{} (RolloutComplete): Successfully deployed.", kind, name)});
          return true;
        }
        if (state == "FailedSynchronization") {
          std::string message;
          if (o.contains("status") && o["status"].contains("conditions") &&
              o["status"]["conditions"].is_array()) {
            for (const auto& c : o["status"]["conditions"]) {
              if (c.value("type", "") == "SynchronizationState") message = c.value("message", "");
            }
          }
          race.Decide(
              Verdict{pb::DeploymentState::failure,
                      fmt::format("{}/{} (FailedSynchronization): {}", kind, name, message)});
          return true;
        }
        return race.Decided();
      });
    });
  } else {
    // The object itself, its pods and the events about them, judged by one tracker.
    race.tracker.emplace(
        rule, kind, name, since,
        rollout::TrackerOptions{options_.transient_grace, options_.crash_loop_restarts});
    race.Spawn([&, this](common::HttpCancel* cancel) {
      kube::WatchTarget target{kube::CollectionPath(applied.resource, ns),
                               "fieldSelector=" + common::UrlEncode("metadata.name=" + name), user,
                               true};
      kube::ListWatch(client_, target, deadline, cancel,
                      [&](const std::string& type, const json& o) {
                        return race.Track(
                            [&](rollout::RolloutTracker& t) {
                              return t.OnObject(type, o, std::chrono::system_clock::now());
                            },
                            progress);
                      });
    });
    if (UsesPods(rule)) {
      const std::string& selector = plan.pod_selector;
      if (!selector.empty()) {
        race.Spawn([&, this, selector](common::HttpCancel* cancel) {
          kube::WatchTarget target{fmt::format("/api/v1/namespaces/{}/pods", common::UrlEncode(ns)),
                                   selector, user, true};
          kube::ListWatch(client_, target, deadline, cancel,
                          [&](const std::string& type, const json& pod) {
                            return race.Track(
                                [&](rollout::RolloutTracker& t) {
                                  return t.OnPod(type, pod, std::chrono::system_clock::now());
                                },
                                progress);
                          });
        });
      }
      // Relevant events (the workload, its replica sets and pods) as progress, no duplicates.
      race.Spawn([&, this](common::HttpCancel* cancel) {
        kube::WatchTarget target{events_path, "", user, false};
        kube::ListWatch(client_, target, deadline, cancel,
                        [&](const std::string& type, const json& ev) {
                          if (type == "DELETED") return race.Decided();
                          if (!EventMatchesResource(name, StringAt(ev, {"involvedObject", "kind"}),
                                                    StringAt(ev, {"involvedObject", "name"}))) {
                            return race.Decided();
                          }
                          return race.Track(
                              [&](rollout::RolloutTracker& t) { return t.OnEvent(ev); }, progress);
                        });
      });
    }
  }

  {
    std::unique_lock lock(race.mutex);
    while (!race.verdict) {
      // (No optional here: g++ 12 warns that a compared optional may be uninitialized.)
      const auto next_due = [&race] {
        return race.tracker ? race.tracker->NextDue().value_or(common::SystemTime::max())
                            : common::SystemTime::max();
      };
      const auto due = next_due();
      race.cv.wait_until(lock, std::min(deadline, due),
                         [&] { return race.verdict.has_value() || next_due() != due; });
      if (race.verdict) break;
      auto now = std::chrono::system_clock::now();
      if (race.tracker) {
        auto step = race.tracker->OnTime(now);
        if (step.outcome) {
          race.verdict = ToVerdict(*step.outcome);
          break;
        }
      }
      if (now >= deadline) {
        race.verdict = race.tracker ? ToVerdict(race.tracker->Timeout())
                                    : Verdict{pb::DeploymentState::error, kTimeoutMessage};
      }
    }
  }
  race.Finish();
  return race.verdict;
}

}  // namespace deployd::agent
