#include "hookd/dispatch/hub.hpp"

namespace hookd::dispatch {

// Callbacks run outside the lock: a subscriber may unsubscribe (or finish) from inside them.

void StatusHub::Subscribe(const std::string& deployment_id,
                          std::shared_ptr<StatusSubscriber> subscriber) {
  std::lock_guard lock(mutex_);
  subscribers_.emplace(deployment_id, std::move(subscriber));
}

void StatusHub::Unsubscribe(const std::string& deployment_id, const StatusSubscriber* subscriber) {
  std::shared_ptr<StatusSubscriber> removed;  // released after the lock
  std::lock_guard lock(mutex_);
  auto [first, last] = subscribers_.equal_range(deployment_id);
  for (auto it = first; it != last; ++it) {
    if (it->second.get() == subscriber) {
      removed = std::move(it->second);
      subscribers_.erase(it);
      break;
    }
  }
}

void StatusHub::Publish(const StatusEventPtr& event) {
  std::vector<std::shared_ptr<StatusSubscriber>> targets;
  {
    std::lock_guard lock(mutex_);
    auto [first, last] = subscribers_.equal_range(event->status.request().id());
    for (auto it = first; it != last; ++it) targets.push_back(it->second);
  }
  for (const auto& target : targets) target->OnStatus(event);
}

std::size_t StatusHub::SubscriberCount() const {
  std::lock_guard lock(mutex_);
  return subscribers_.size();
}

bool StatusHub::HasSubscribers(const std::string& deployment_id) const {
  std::lock_guard lock(mutex_);
  return subscribers_.count(deployment_id) > 0;
}

std::vector<std::string> StatusHub::SubscribedDeployments() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (auto it = subscribers_.begin(); it != subscribers_.end();
       it = subscribers_.upper_bound(it->first)) {
    out.push_back(it->first);
  }
  return out;
}

void StatusHub::ShutdownAll() {
  std::vector<std::shared_ptr<StatusSubscriber>> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, subscriber] : subscribers_) targets.push_back(subscriber);
  }
  for (const auto& target : targets) target->OnShutdown();
}

bool ClusterRegistry::Register(const std::string& cluster,
                               std::shared_ptr<ClusterConnection> connection,
                               std::chrono::system_clock::time_point registered_at,
                               const std::string& credential) {
  std::shared_ptr<ClusterConnection> previous;
  {
    std::lock_guard lock(mutex_);
    auto& slot = connections_[cluster];
    if (slot.connection && slot.credential != credential) return false;
    previous = std::move(slot.connection);
    slot.connection = std::move(connection);
    slot.registered_at = registered_at;
    slot.credential = credential;
  }
  if (previous) previous->Replace();
  return true;
}

bool ClusterRegistry::ReplaceOlderThan(const std::string& cluster,
                                       std::chrono::system_clock::time_point newer,
                                       const std::string& credential) {
  std::shared_ptr<ClusterConnection> previous;
  {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(cluster);
    if (it == connections_.end() || it->second.registered_at >= newer ||
        it->second.credential != credential) {
      return false;
    }
    previous = std::move(it->second.connection);
    connections_.erase(it);
  }
  previous->Replace();
  return true;
}

void ClusterRegistry::Unregister(const std::string& cluster, const ClusterConnection* connection) {
  std::shared_ptr<ClusterConnection> removed;
  std::lock_guard lock(mutex_);
  auto it = connections_.find(cluster);
  if (it != connections_.end() && it->second.connection.get() == connection) {
    removed = std::move(it->second.connection);
    connections_.erase(it);
  }
}

bool ClusterRegistry::Wake(const std::string& cluster) {
  std::shared_ptr<ClusterConnection> target;
  {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(cluster);
    if (it == connections_.end()) return false;
    target = it->second.connection;
  }
  target->Wake();
  return true;
}

bool ClusterRegistry::IsConnected(const std::string& cluster) const {
  std::lock_guard lock(mutex_);
  return connections_.count(cluster) > 0;
}

std::vector<std::string> ClusterRegistry::Connected() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, entry] : connections_) out.push_back(name);
  return out;
}

void ClusterRegistry::ShutdownAll() {
  std::vector<std::shared_ptr<ClusterConnection>> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, entry] : connections_) targets.push_back(entry.connection);
  }
  for (const auto& target : targets) target->OnShutdown();
}

}  // namespace hookd::dispatch
