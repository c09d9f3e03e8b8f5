#include "deployd/rollout/tracker.hpp"

#include <fmt/format.h>

namespace deployd::rollout {

std::string EventLine(const nlohmann::json& event) {
  return fmt::format("{}/{} ({}): {}", common::JsonString(event, {"involvedObject", "kind"}),
                     common::JsonString(event, {"involvedObject", "name"}),
                     common::JsonString(event, {"reason"}), common::JsonString(event, {"message"}));
}

RolloutTracker::RolloutTracker(Rule rule, std::string kind, std::string name,
                               common::SystemTime since, TrackerOptions options)
    : rule_(rule),
      kind_(std::move(kind)),
      name_(std::move(name)),
      since_(std::chrono::time_point_cast<std::chrono::seconds>(since)),
      options_(options) {}

std::string RolloutTracker::Prefixed(const std::string& message) const {
  return fmt::format("{}/{}: {}", kind_, name_, message);
}

RolloutTracker::Step RolloutTracker::Finish(Outcome::Kind kind, std::string message,
                                            std::optional<LogSource> log) {
  finished_ = true;
  Step step;
  step.outcome = Outcome{kind, std::move(message), std::move(log)};
  return step;
}

void RolloutTracker::Report(Step& step, const std::string& line) {
  if (reported_.insert(line).second) step.progress.push_back(line);
}

std::string RolloutTracker::Cause() const {
  if (auto it = active_.find(last_active_key_); it != active_.end()) return it->second.message;
  if (!active_.empty()) return active_.begin()->second.message;
  if (!last_warning_.empty()) return last_warning_;
  return last_problem_;
}

RolloutTracker::Step RolloutTracker::OnObject(const std::string& type, const nlohmann::json& object,
                                              common::SystemTime now) {
  if (finished_) return {};
  if (type == "DELETED") {
    return Finish(Outcome::Kind::kFailure,
                  fmt::format("{}/{} was deleted while waiting for its rollout", kind_, name_));
  }
  const Assessment a = rule_ == Rule::kDeployment
                           ? AssessDeployment(object, Cause())
                           : Assess(rule_, object, now, options_.crash_loop_restarts);
  if (a.phase == Phase::kDone) {
    return Finish(Outcome::Kind::kSuccess, rule_ == Rule::kDeployment
                                               ? std::string("Deployment completed successfully.")
                                               : Prefixed(a.message));
  }
  if (a.phase == Phase::kFailed) {
    std::optional<LogSource> log = rule_ == Rule::kPod ? FailedContainer(object) : std::nullopt;
    return Finish(Outcome::Kind::kFailure, Prefixed(a.message), log ? log : last_failed_);
  }
  pending_ = a.message;
  return {};
}

RolloutTracker::Step RolloutTracker::OnPod(const std::string& type, const nlohmann::json& pod,
                                           common::SystemTime now) {
  if (finished_) return {};
  const std::string pod_name = common::JsonString(pod, {"metadata", "name"});
  std::set<std::string>& keys = pod_problems_[pod_name];
  std::set<std::string> current;
  Step step;
  if (type != "DELETED") {
    auto created = common::ParseRfc3339(common::JsonString(pod, {"metadata", "creationTimestamp"}));
    if (created && *created < since_) {
      pod_problems_.erase(pod_name);
      return {};  // a pod of an older rollout
    }
    auto failed_container = FailedContainer(pod);
    if (failed_container) last_failed_ = failed_container;
    for (const auto& p : PodProblems(pod, options_.crash_loop_restarts)) {
      current.insert(p.key);
      last_problem_ = p.message;
      last_active_key_ = p.key;
      auto [it, inserted] = active_.try_emplace(p.key, Active{p.message, now, p.transient});
      it->second.message = p.message;
      it->second.transient = p.transient;
      if (p.fatal_now || (p.transient && now - it->second.first_seen >= options_.transient_grace)) {
        auto failed = Finish(Outcome::Kind::kFailure, Prefixed(p.message),
                             p.fatal_now ? failed_container : std::nullopt);
        failed.progress = std::move(step.progress);
        return failed;
      }
      Report(step, Prefixed(p.message));
    }
  }
  for (const auto& key : keys) {
    if (current.count(key) == 0) active_.erase(key);
  }
  if (current.empty()) {
    pod_problems_.erase(pod_name);
  } else {
    keys = std::move(current);
  }
  return step;
}

RolloutTracker::Step RolloutTracker::OnEvent(const nlohmann::json& event) {
  if (finished_) return {};
  Step step;
  auto line = EventLine(event);
  if (common::JsonString(event, {"type"}) == "Warning") last_warning_ = line;
  Report(step, line);
  return step;
}

std::optional<common::SystemTime> RolloutTracker::NextDue() const {
  if (finished_) return std::nullopt;
  std::optional<common::SystemTime> due;
  for (const auto& [key, problem] : active_) {
    if (!problem.transient) continue;
    auto at = problem.first_seen +
              std::chrono::duration_cast<common::SystemTime::duration>(options_.transient_grace);
    if (!due || at < *due) due = at;
  }
  return due;
}

RolloutTracker::Step RolloutTracker::OnTime(common::SystemTime now) {
  if (finished_) return {};
  for (const auto& [key, problem] : active_) {
    if (problem.transient && now - problem.first_seen >= options_.transient_grace) {
      return Finish(Outcome::Kind::kFailure, Prefixed(problem.message));
    }
  }
  return {};
}

Outcome RolloutTracker::Timeout() const {
  std::string still = pending_;
  const std::string cause = Cause();
  if (!cause.empty() && cause != pending_) still = still.empty() ? cause : still + ": " + cause;
  std::string text = kRolloutTimeoutMessage;
  if (!still.empty()) text += "; still waiting: " + still;
  return Outcome{Outcome::Kind::kTimeout, text};
}

}  // namespace deployd::rollout
