#pragma once
// An in-memory stand-in for the dispatcher's and pb.Dispatch's storage
// (hookd::store::DispatchStore, QueueStore and DeploymentReader in hookd/store/interfaces.hpp),
// for unit tests of the dispatcher and the gRPC services without Postgres. It keeps what the
// Postgres store keeps and follows its rules: a final state is final, the first status confirms a
// queued request and a final one removes it from the queue, a replayed request key answers with the
// first status, only an unhanded request is withdrawn by a cancel, the expiry margins. Thread-safe
// (the gRPC services call it from worker threads). After Fail(e) every call throws e.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/state.hpp"
#include "common/time.hpp"
#include "hookd/store/interfaces.hpp"

namespace testsupport {

class FakeQueueStore final : public hookd::store::DispatchStore,
                             public hookd::store::QueueStore,
                             public hookd::store::DeploymentReader {
 public:
  using StatusRow = hookd::store::StatusRow;
  using QueuedRequest = hookd::store::QueuedRequest;

  // --- DispatchStore
  StatusRow CreateDeployment(const pb::DeploymentRequest& request,
                             const std::vector<hookd::store::ResourceRow>& resources,
                             common::SystemTime created, common::SystemTime deadline,
                             const std::string& queued_message, const std::string& request_key,
                             const std::string& idempotency_key) override {
    const std::lock_guard lock(mutex_);
    Check();
    for (const auto* key : {&request_key, &idempotency_key}) {
      if (key->empty()) continue;
      auto it = keys_.find(request.team() + "|" + *key);
      if (it == keys_.end()) continue;
      auto first = deployments_.at(it->second).statuses.front();
      first.replayed = true;
      return first;
    }
    auto first = CreateUnlocked(request, resources, created, deadline, queued_message);
    for (const auto* key : {&request_key, &idempotency_key}) {
      if (!key->empty()) keys_[request.team() + "|" + *key] = request.id();
    }
    return first;
  }

  StatusRow WriteStatus(const std::string& deployment_id, pb::DeploymentState state,
                        const std::string& message, common::SystemTime created) override {
    const std::lock_guard lock(mutex_);
    Check();
    auto it = deployments_.find(deployment_id);
    if (it == deployments_.end()) {
      throw common::Error(common::ErrorCode::kFailedPrecondition,
                          "deployment " + deployment_id + " does not exist");
    }
    const auto current = common::ParseStateName(it->second.row.state.value_or(""));
    if (current && common::IsFinished(*current)) {
      throw common::Error(common::ErrorCode::kFailedPrecondition,
                          "deployment " + deployment_id + " has already finished (" +
                              *it->second.row.state + "); later statuses are refused");
    }
    auto row = Append(deployment_id, state, message, created);
    if (common::IsFinished(state)) {
      Dequeue(deployment_id);
      cancels_.erase(deployment_id);
    } else if (auto q = queue_.find(deployment_id); q != queue_.end() && !q->second.confirmed) {
      q->second.entry.confirmed_by = q->second.entry.handed_to;
      q->second.confirmed = true;
    }
    return row;
  }

  std::optional<StatusRow> StatusById(const std::string& status_id) override {
    const std::lock_guard lock(mutex_);
    Check();
    for (const auto& [id, d] : deployments_) {
      for (const auto& s : d.statuses) {
        if (s.id == status_id) return s;
      }
    }
    return std::nullopt;
  }

  // --- DeploymentReader (Statuses below serves both)
  std::optional<hookd::store::DeploymentRow> Deployment(const std::string& id) override {
    const std::lock_guard lock(mutex_);
    Check();
    auto it = deployments_.find(id);
    if (it == deployments_.end()) return std::nullopt;
    return it->second.row;
  }
  std::vector<hookd::store::ResourceRow> Resources(const std::string& deployment_id) override {
    const std::lock_guard lock(mutex_);
    Check();
    auto it = deployments_.find(deployment_id);
    if (it == deployments_.end()) return {};
    return it->second.resources;
  }

  std::vector<StatusRow> Statuses(const std::string& deployment_id) override {
    const std::lock_guard lock(mutex_);
    Check();
    auto it = deployments_.find(deployment_id);
    if (it == deployments_.end()) return {};
    return {it->second.statuses.rbegin(), it->second.statuses.rend()};
  }

  std::vector<hookd::store::DeploymentRow> HistoricDeployments(const std::string& cluster,
                                                               common::SystemTime before) override {
    const std::lock_guard lock(mutex_);
    Check();
    std::vector<hookd::store::DeploymentRow> out;
    for (const auto& [id, d] : deployments_) {
      const auto state = d.row.state.value_or("");
      if (d.row.cluster != cluster || d.row.created >= before || queue_.count(id) != 0) continue;
      if (state == "queued" || state == "in_progress") out.push_back(d.row);
    }
    return out;
  }

  std::vector<std::string> LostDeployments(const std::string& cluster,
                                           const std::string& instance) override {
    const std::lock_guard lock(mutex_);
    Check();
    std::vector<std::string> out;
    for (const auto& id : queue_order_) {
      const auto& q = queue_.at(id);
      if (q.entry.cluster == cluster && q.confirmed && !q.entry.confirmed_by.empty() &&
          q.entry.confirmed_by != instance) {
        out.push_back(id);
      }
    }
    return out;
  }

  std::vector<QueuedRequest> ExpiredRequests(common::SystemTime now,
                                             std::chrono::seconds grace) override {
    const std::lock_guard lock(mutex_);
    Check();
    std::vector<QueuedRequest> out;
    for (const auto& id : queue_order_) {
      const auto& q = queue_.at(id);
      const auto span =
          std::max(q.entry.deadline - q.entry.created, common::SystemTime::duration{});
      const auto margin =
          std::min<common::SystemTime::duration>(std::chrono::seconds(30), span / 10);
      const bool expired =
          q.confirmed ? q.entry.deadline + grace <= now : q.entry.deadline - margin <= now;
      if (expired) out.push_back(q.entry);
    }
    return out;
  }

  bool MarkDelivered(const std::string& deployment_id) override {
    const std::lock_guard lock(mutex_);
    Check();
    return Dequeue(deployment_id);
  }

  bool ClusterPresent(const std::string& cluster, common::SystemTime now) override {
    const std::lock_guard lock(mutex_);
    Check();
    auto it = presence_.find(cluster);
    return it != presence_.end() && it->second > now;
  }

  std::vector<std::string> SeenClusters() override {
    const std::lock_guard lock(mutex_);
    Check();
    return {seen_.begin(), seen_.end()};
  }

  hookd::store::CancelOutcome CancelDeployment(const std::string& id, const std::string& team,
                                               const std::string& reason,
                                               pb::DeploymentState withdrawn_state,
                                               const std::string& withdrawn_message,
                                               common::SystemTime now) override {
    const std::lock_guard lock(mutex_);
    Check();
    auto it = deployments_.find(id);
    if (it == deployments_.end()) {
      throw common::Error(common::ErrorCode::kNotFound, "deployment '" + id + "' not found");
    }
    if (it->second.row.team != team) {
      throw common::Error(common::ErrorCode::kPermissionDenied,
                          "deployment '" + id + "' does not belong to team \"" + team +
                              "\"; only its own team may cancel it");
    }
    hookd::store::CancelOutcome out;
    out.cluster = it->second.row.cluster.value_or("");
    out.state = it->second.row.state.value_or("");
    const auto parsed = common::ParseStateName(out.state);
    if (parsed && common::IsFinished(*parsed)) {
      throw common::Error(common::ErrorCode::kFailedPrecondition,
                          "deployment '" + id + "' has already finished (" + out.state +
                              "); there is nothing to cancel");
    }
    if (auto q = queue_.find(id); q != queue_.end() && q->second.entry.handed_to.empty()) {
      Dequeue(id);
      out.withdrawn = true;
      out.status = Append(id, withdrawn_state, withdrawn_message, now);
      return out;
    }
    const std::string list = "," + capabilities_[out.cluster] + ",";
    if (list.find(",cancel,") == std::string::npos) {
      throw common::Error(
          common::ErrorCode::kFailedPrecondition,
          "cluster \"" + out.cluster + "\"'s deployd cannot cancel a running deployment");
    }
    out.already_requested =
        !cancels_.emplace(id, hookd::store::PendingCancel{id, team, reason}).second;
    if (!out.already_requested) cancel_order_.push_back(id);
    return out;
  }

  // --- QueueStore
  void TouchCluster(const std::string& cluster, common::SystemTime now,
                    const std::string& /*credential*/) override {
    const std::lock_guard lock(mutex_);
    Check();
    seen_.insert(cluster);
    presence_[cluster] = now + std::chrono::seconds(90);
  }

  void SetClusterCapabilities(const std::string& cluster,
                              const std::string& capabilities) override {
    const std::lock_guard lock(mutex_);
    Check();
    capabilities_[cluster] = capabilities;
  }

  std::vector<std::string> UnconfirmedIds(const std::string& cluster) override {
    const std::lock_guard lock(mutex_);
    Check();
    std::vector<std::string> out;
    for (const auto& id : queue_order_) {
      const auto& q = queue_.at(id);
      if (q.entry.cluster == cluster && !q.confirmed) out.push_back(id);
    }
    return out;
  }

  std::vector<QueuedRequest> QueuedRequests(const std::vector<std::string>& ids) override {
    const std::lock_guard lock(mutex_);
    Check();
    std::vector<QueuedRequest> out;
    for (const auto& id : queue_order_) {
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) out.push_back(queue_.at(id).entry);
    }
    return out;
  }

  std::vector<std::string> HandOut(const std::vector<std::string>& ids,
                                   const std::string& instance) override {
    const std::lock_guard lock(mutex_);
    Check();
    std::vector<std::string> marked;
    for (const auto& id : ids) {
      auto q = queue_.find(id);
      if (q == queue_.end()) continue;
      q->second.entry.handed_to = instance;
      marked.push_back(id);
      handed_out.push_back(id + "@" + instance);
    }
    return marked;
  }

  std::vector<hookd::store::PendingCancel> PendingCancels(const std::string& cluster) override {
    const std::lock_guard lock(mutex_);
    Check();
    std::vector<hookd::store::PendingCancel> out;
    for (const auto& id : cancel_order_) {
      auto c = cancels_.find(id);
      if (c != cancels_.end() && deployments_.at(id).row.cluster == cluster) {
        out.push_back(c->second);
      }
    }
    return out;
  }

  void ReleasePresence(const std::string& cluster) override {
    const std::lock_guard lock(mutex_);
    Check();
    presence_.erase(cluster);
    released.push_back(cluster);
    changed_.notify_all();
  }

  // --- for tests
  // Stores `request` as a queue entry whose stored form cannot be read (`why`).
  void AddUnreadable(const pb::DeploymentRequest& request, common::SystemTime created,
                     common::SystemTime deadline, const std::string& why) {
    const std::lock_guard lock(mutex_);
    CreateUnlocked(request, {}, created, deadline, "queued");
    queue_.at(request.id()).entry.unreadable = why;
    queue_.at(request.id()).entry.request = pb::DeploymentRequest{};
  }
  // Another replica holds the cluster's presence lease until `until`.
  void SetPresence(const std::string& cluster, common::SystemTime until) {
    const std::lock_guard lock(mutex_);
    presence_[cluster] = until;
  }
  void SetCapabilities(const std::string& cluster, const std::string& capabilities) {
    const std::lock_guard lock(mutex_);
    capabilities_[cluster] = capabilities;
  }
  bool Queued(const std::string& id) {
    const std::lock_guard lock(mutex_);
    return queue_.count(id) != 0;
  }
  std::optional<QueuedRequest> QueueEntry(const std::string& id) {
    const std::lock_guard lock(mutex_);
    auto it = queue_.find(id);
    if (it == queue_.end()) return std::nullopt;
    return it->second.entry;
  }
  std::string State(const std::string& id) {
    const std::lock_guard lock(mutex_);
    auto it = deployments_.find(id);
    return it == deployments_.end() ? "" : it->second.row.state.value_or("");
  }
  // Waits up to `timeout` until the presence of `cluster` was released; whether it was.
  bool WaitReleased(const std::string& cluster, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      return std::find(released.begin(), released.end(), cluster) != released.end();
    });
  }
  void Fail(std::exception_ptr e) {
    const std::lock_guard lock(mutex_);
    failure_ = std::move(e);
  }

  std::vector<std::string> handed_out;  // "<id>@<instance>", in order
  std::vector<std::string> released;    // clusters whose presence was released

 private:
  struct StoredDeployment {
    hookd::store::DeploymentRow row;
    pb::DeploymentRequest request;
    std::vector<hookd::store::ResourceRow> resources;
    std::vector<StatusRow> statuses;  // oldest first
  };
  struct StoredEntry {
    QueuedRequest entry;
    bool confirmed = false;
  };

  void Check() const {
    if (failure_) std::rethrow_exception(failure_);
  }

  StatusRow CreateUnlocked(const pb::DeploymentRequest& request,
                           const std::vector<hookd::store::ResourceRow>& resources,
                           common::SystemTime created, common::SystemTime deadline,
                           const std::string& message) {
    StoredDeployment d;
    d.row.id = request.id();
    d.row.team = request.team();
    d.row.created = created;
    d.row.cluster = request.cluster();
    d.request = request;
    d.resources = resources;
    deployments_[d.row.id] = d;
    QueuedRequest entry;
    entry.deployment_id = request.id();
    entry.cluster = request.cluster();
    entry.request = request;
    entry.deadline = deadline;
    entry.created = created;
    queue_[request.id()] = StoredEntry{entry};
    queue_order_.push_back(request.id());
    return Append(request.id(), pb::queued, message, created);
  }

  StatusRow Append(const std::string& id, pb::DeploymentState state, const std::string& message,
                   common::SystemTime created) {
    auto& d = deployments_.at(id);
    StatusRow row;
    row.id = "status-" + std::to_string(++statuses_);
    row.deployment_id = id;
    row.state = state;
    row.state_name = common::StateName(state);
    row.message = message;
    row.created = created;
    row.team = d.row.team;
    row.cluster = d.row.cluster.value_or("");
    row.deployment_created = d.row.created;
    d.statuses.push_back(row);
    d.row.state = row.state_name;
    return row;
  }

  bool Dequeue(const std::string& id) {
    if (queue_.erase(id) == 0) return false;
    queue_order_.erase(std::remove(queue_order_.begin(), queue_order_.end(), id),
                       queue_order_.end());
    return true;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::exception_ptr failure_;
  std::map<std::string, StoredDeployment> deployments_;
  std::map<std::string, StoredEntry> queue_;
  std::vector<std::string> queue_order_;     // oldest first
  std::map<std::string, std::string> keys_;  // "<team>|<key>" -> deployment ID
  std::set<std::string> seen_;
  std::map<std::string, common::SystemTime> presence_;
  std::map<std::string, std::string> capabilities_;
  std::map<std::string, hookd::store::PendingCancel> cancels_;
  std::vector<std::string> cancel_order_;
  long statuses_ = 0;
};

}  // namespace testsupport
