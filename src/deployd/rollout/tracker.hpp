#pragma once
// One resource's rollout wait as a pure state machine. The caller feeds it what its watches see
// (the object, the workload's pods, the workload's events) and the time; it answers with the
// in_progress lines to report and, once, the outcome. No I/O and no clock: `now` is passed in.
// Not thread-safe: it has one owner.
//
// Pod problems (PodProblems) fail the rollout at once when fatal, after `transient_grace` when
// transient (image pull back-off, unschedulable: the grace counts from when the problem was first
// seen and starts again when it went away), and are only reported while a crash loop is below
// `crash_loop_restarts`. A failure that does not name a pod problem itself (the progress deadline,
// deployd's own deadline) names the most specific cause seen: a pod problem that is still there,
// else the workload's last Warning event, else the last pod problem seen.
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "deployd/rollout/container_log.hpp"
#include "deployd/rollout/verdict.hpp"

namespace deployd::rollout {

struct TrackerOptions {
  // How long a transient pod problem (image pull back-off, unschedulable) may last.
  std::chrono::milliseconds transient_grace{std::chrono::seconds(60)};
  // CrashLoopBackOff fails the rollout from this restart count on (--crash-loop-restarts).
  int crash_loop_restarts = kDefaultCrashLoopRestarts;
};

struct Outcome {
  enum class Kind { kSuccess, kFailure, kTimeout };
  Kind kind = Kind::kSuccess;
  std::string message;
  // A failure caused by a crashing or failing container: the container whose log explains it
  // (the failing pod's, or for a workload that failed as a whole the last one seen failing).
  std::optional<LogSource> log{};
  bool operator==(const Outcome&) const = default;
};

// `<Kind>/<name> (<reason>): <message>` of an event's involved object.
std::string EventLine(const nlohmann::json& event);

// The original's message for deployd's own deadline.
inline constexpr const char* kRolloutTimeoutMessage =
    "timeout while waiting for deployment to succeed";

class RolloutTracker {
 public:
  // kind and name make the `<Kind>/<name>: ` prefix of messages. Pods created before `since`
  // (compared in whole seconds, as creationTimestamp has no fraction) belong to older rollouts and
  // are not looked at.
  RolloutTracker(Rule rule, std::string kind, std::string name, common::SystemTime since,
                 TrackerOptions options);

  struct Step {
    std::vector<std::string> progress;  // in_progress lines, each reported once per wait
    std::optional<Outcome> outcome;     // set once: the wait is over
  };

  // type: ADDED, MODIFIED or DELETED (the object went away while it was waited for: failure).
  Step OnObject(const std::string& type, const nlohmann::json& object, common::SystemTime now);
  // A pod of the workload (the caller selects them by the workload's label selector).
  Step OnPod(const std::string& type, const nlohmann::json& pod, common::SystemTime now);
  // An event about the workload, its ReplicaSets or pods (the caller matches the names): reported
  // once per text; a Warning event is remembered as a cause.
  Step OnEvent(const nlohmann::json& event);
  // When a transient pod problem will have lasted its grace (OnTime then fails the rollout).
  std::optional<common::SystemTime> NextDue() const;
  Step OnTime(common::SystemTime now);
  // deployd's own deadline: `timeout while waiting for deployment to succeed[; still waiting:
  // <what the object waits for>[: <cause>]]`.
  Outcome Timeout() const;

  bool Finished() const { return finished_; }
  const std::string& Pending() const { return pending_; }
  // The most specific cause seen so far ("" when none).
  std::string Cause() const;

 private:
  struct Active {
    std::string message;
    common::SystemTime first_seen;
    bool transient = false;
  };
  std::string Prefixed(const std::string& message) const;
  Step Finish(Outcome::Kind kind, std::string message, std::optional<LogSource> log = std::nullopt);
  void Report(Step& step, const std::string& line);

  Rule rule_;
  std::string kind_;
  std::string name_;
  common::SystemTime since_;
  TrackerOptions options_;
  bool finished_ = false;
  std::string pending_;  // what the object still waits for (its last in-progress assessment)
  std::map<std::string, Active> active_;                       // problem key -> problem
  std::map<std::string, std::set<std::string>> pod_problems_;  // pod name -> its problem keys
  std::string last_active_key_;                                // the active problem seen last
  std::string last_warning_;                                   // the last Warning event's line
  std::string last_problem_;              // the last pod problem seen, even if gone
  std::optional<LogSource> last_failed_;  // the last container seen crashing or failed
  std::set<std::string> reported_;
};

}  // namespace deployd::rollout
