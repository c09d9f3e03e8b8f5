#pragma once
// The server state shared by api.cpp and controllers.cpp. One mutex guards everything.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "internal.hpp"

namespace kubesim {

struct WatchEvent {
  std::uint64_t rv = 0;
  std::string group;
  std::string plural;
  std::string ns;
  std::string type;  // ADDED, MODIFIED, DELETED
  Json object;       // new state (last state for DELETED)
  Json previous;     // old state (null for ADDED)
};

struct Rule {
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::vector<std::string> namespaces;  // empty: every namespace and the cluster scope
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;
  std::vector<std::string> resource_names;
  std::vector<std::string> non_resource_urls;
};

struct Attributes {
  std::string verb;
  bool resource_request = false;
  std::string group;
  std::string version;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
  std::string path;  // non-resource requests
};

struct Fault {
  std::string method;  // "" or "*" = any
  std::string path;    // exact, or prefix when it ends with '*'
  int count = 1;
  int code = 500;
  std::string reason;
  std::string message;
  int retry_after_seconds = 0;
};

class Controllers;

struct Api::State {
  Options options;
  std::mutex mu;
  std::condition_variable cv;
  Registry registry;
  std::map<std::string, Identity> tokens;
  std::vector<Rule> rules;
  std::uint64_t rv = 1;
  std::map<std::string, Json> objects;  // key: group|plural|ns|name
  std::deque<WatchEvent> history;
  std::uint64_t compacted_rv = 0;  // watches from an RV below this get 410
  std::deque<Json> request_log;    // the newest kRequestLogLimit requests
  std::size_t request_seq = 0;
  static constexpr std::size_t kRequestLogLimit = 50000;
  std::vector<Fault> faults;
  // Bumped by DELETE /_sim/watches: every open watch ends (a clean EOF, as when an apiserver
  // restarts).
  std::uint64_t watch_epoch = 0;
  int open_watches = 0;
  // The controllers' clock: real steady time (frozen at start with manual_clock)
  // plus what POST /_sim/clock advanced.
  std::chrono::steady_clock::time_point clock_start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration clock_offset{0};
  std::chrono::steady_clock::time_point SimSteady() const {
    return (options.manual_clock ? clock_start : std::chrono::steady_clock::now()) + clock_offset;
  }
  std::unique_ptr<Controllers> controllers;
  std::uint32_t pod_ips = 0;  // pod IPs handed out (10.244.0.0/16, as kind's pod CIDR)

  // What the kubelet and the CNI write into a pod's status: `hostIP` once it is bound to the
  // node, `podIP` once its sandbox runs (a container left ContainerCreating); kept afterwards.
  void AssignPodNetwork(const Json& old, Json& next);

  // ---- called with `mu` held ----
  static std::string Key(const std::string& group, const std::string& plural, const std::string& ns,
                         const std::string& name) {
    return group + "|" + plural + "|" + ns + "|" + name;
  }
  Json* Lookup(const ResourceType& rt, const std::string& ns, const std::string& name);
  // Stores `object` with a new resourceVersion and records the watch event; returns it.
  Json& Commit(const ResourceType& rt, Json object, const std::string& type);
  void Remove(const ResourceType& rt, const std::string& ns, const std::string& name);
  bool Authorize(const Identity& who, const Attributes& a) const;
  // The rules that stored ClusterRoleBindings and RoleBindings grant `who` (RBAC is allow-only,
  // so they add to `rules`): cluster-wide for a ClusterRoleBinding, the binding's namespace for
  // a RoleBinding (which may refer to a ClusterRole). Aggregated ClusterRoles are not expanded.
  std::vector<Rule> BoundRules(const Identity& who) const;
  void InstallDefaultRbac();

  // Internal writes used by the controllers (operation Update, manager given).
  // Creates or updates the whole object (status included); returns the stored object, or null
  // when the namespace is gone. `status_only` writes as the /status subresource.
  Json ControllerWrite(const std::string& group, const std::string& version,
                       const std::string& plural, Json object, const std::string& manager,
                       bool status_only);
  Json ControllerGet(const std::string& group, const std::string& plural, const std::string& ns,
                     const std::string& name);
  void ControllerDelete(const std::string& group, const std::string& plural, const std::string& ns,
                        const std::string& name);
  // A delete as the garbage collector sends it: objects with finalizers, or with policy
  // Foreground/Orphan (its finalizer added), get a deletionTimestamp; others are removed.
  void DeleteObject(const ResourceType& rt, const std::string& ns, const std::string& name,
                    const std::string& policy);
  // The ServiceAccount "default" and the ConfigMap "kube-root-ca.crt" of a namespace (what the
  // serviceaccount and root-ca-cert-publisher controllers create).
  void EnsureNamespaceDefaults(const std::string& ns);
  std::chrono::system_clock::time_point Now() const { return SimWallNow(); }
};

// The simulated controllers; own a thread that follows the watch history.
class Controllers {
 public:
  explicit Controllers(Api::State& state);
  ~Controllers();
  Controllers(const Controllers&) = delete;
  Controllers& operator=(const Controllers&) = delete;
  void Start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubesim
