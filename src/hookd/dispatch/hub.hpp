#pragma once
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "deployment.pb.h"

namespace hookd::dispatch {

// One stored status, as fanned out to waiting Status streams.
struct StatusEvent {
  std::string status_id;        // deployment_status.id, used to drop duplicates
  pb::DeploymentStatus status;  // request carries the deployment ID
};
using StatusEventPtr = std::shared_ptr<const StatusEvent>;

// A waiting Status stream. OnStatus must never block (it is called from whoever stored the
// status); a subscriber that cannot keep up ends itself.
class StatusSubscriber {
 public:
  virtual ~StatusSubscriber() = default;
  virtual void OnStatus(const StatusEventPtr& event) = 0;
  virtual void OnShutdown() = 0;
};

// Fan-out of statuses to the subscribers of one deployment ID (not to everyone).
class StatusHub {
 public:
  void Subscribe(const std::string& deployment_id, std::shared_ptr<StatusSubscriber> subscriber);
  void Unsubscribe(const std::string& deployment_id, const StatusSubscriber* subscriber);
  void Publish(const StatusEventPtr& event);
  std::size_t SubscriberCount() const;
  bool HasSubscribers(const std::string& deployment_id) const;
  // Deployment IDs with at least one subscriber.
  std::vector<std::string> SubscribedDeployments() const;
  // Tells every subscriber that hookd is going away.
  void ShutdownAll();

 private:
  mutable std::mutex mutex_;
  std::multimap<std::string, std::shared_ptr<StatusSubscriber>> subscribers_;
};

// The deployd stream of one cluster.
class ClusterConnection {
 public:
  virtual ~ClusterConnection() = default;
  // New work may be queued for this cluster: look at the queue. Never blocks.
  virtual void Wake() = 0;
  // A newer connection for the same cluster took over: end this stream.
  virtual void Replace() = 0;
  virtual void OnShutdown() = 0;
};

// cluster -> connected deployd stream. A second connection for a cluster replaces the first when
// it holds the same credential (so a half-open connection never locks a cluster out); a
// connection with another credential is refused while the first one is connected, so no holder
// of another key can take a cluster over.
class ClusterRegistry {
 public:
  // `credential`: fingerprint of the key the stream authenticated with ("" when deployd
  // authentication is off). false (and nothing changed) when a connection with another
  // credential holds `cluster`.
  bool Register(const std::string& cluster, std::shared_ptr<ClusterConnection> connection,
                std::chrono::system_clock::time_point registered_at = {},
                const std::string& credential = "");
  // Another replica registered a deployd for `cluster` at `newer` with `credential`: a local
  // connection of that cluster with the same credential registered before then is replaced
  // (ended). true if one was.
  bool ReplaceOlderThan(const std::string& cluster, std::chrono::system_clock::time_point newer,
                        const std::string& credential = "");
  // Removes `connection` if it is still the registered one for `cluster`.
  void Unregister(const std::string& cluster, const ClusterConnection* connection);
  // Wakes the cluster's stream; false when no deployd of that cluster is connected here.
  bool Wake(const std::string& cluster);
  bool IsConnected(const std::string& cluster) const;
  std::vector<std::string> Connected() const;
  void ShutdownAll();

 private:
  mutable std::mutex mutex_;
  struct Entry {
    std::shared_ptr<ClusterConnection> connection;
    std::chrono::system_clock::time_point registered_at;
    std::string credential;
  };
  std::map<std::string, Entry> connections_;
};

}  // namespace hookd::dispatch
