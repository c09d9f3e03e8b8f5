#pragma once
// The console for people: the list of recent deployments (`/`, `/deployments`) and the page of
// one deployment (`/deployments/{id}`, also what `/logs` shows), with live updates through
// server-sent events (`/deployments/{id}/events`, served by the HTTP server, see
// console_events.hpp). Pages carry no external assets: their one style sheet and one script are
// inline and allowed by their SHA-256 in the Content-Security-Policy. Only names and kinds of
// resources are shown, never manifest content.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/time.hpp"
#include "hookd/config.hpp"
#include "hookd/http/handlers.hpp"
#include "hookd/store/interfaces.hpp"

namespace hookd::dispatch {
class StatusHub;
}

namespace hookd::http {

// The state of one resource of a deployment, derived from the statuses deployd sent:
// "pending" (not applied yet), "applied", "waiting" (rollout in progress), "ready", "failed".
struct ResourceState {
  store::ResourceRow resource;
  std::string state = "pending";
  std::string reason;  // the latest message about the resource ("" when none)
};

// `statuses` newest first (as Store::Statuses returns them); `deployment_state` the stored state.
std::vector<ResourceState> DeriveResourceStates(const std::vector<store::ResourceRow>& resources,
                                                const std::vector<store::StatusRow>& statuses,
                                                const std::string& deployment_state);

// "850ms", "12s", "3m 05s", "2h 03m", "4d 02h" (negative durations count as zero).
std::string FormatDuration(std::chrono::milliseconds d);

// The headers of every console page: a Content-Security-Policy that allows exactly the console's
// inline style and script (by hash), connections to hookd itself and forms posting to hookd.
std::vector<std::pair<std::string, std::string>> ConsoleHeaders();
// The policy alone (tests compare it).
const std::string& ConsoleContentSecurityPolicy();

// One page of the deployment list: keyset pagination over (created, id), newest first.
struct ListQuery {
  std::string team, cluster, state, repository;
  // Cursor of the page: the last row of the previous page ("<unix micros>.<id>"); "" first page.
  std::string before;
  int limit = 50;
};

// What the console reads and listens to.
struct ConsoleBackends {
  store::ConsoleReader& reads;           // the list, and a deployment with its commit
  store::DeploymentReader& deployments;  // a deployment's statuses and resources
  const common::Clock& clock;
  // The clusters the list suggests in its filter (a failure only loses the suggestions).
  std::function<std::vector<std::string>()> known_clusters;
  dispatch::StatusHub& hub;  // new statuses, for the live updates
};

class Console {
 public:
  Console(const Config& config, ConsoleBackends backends);

  // The console's pages; nullopt when `request` is not for one. Blocking (database).
  std::optional<Response> Handle(const Request& request);
  // The page of one deployment (also /logs). `id` must be a well-formed UUID.
  Response DeploymentPage(const std::string& id);

  // Live updates. `/deployments/{id}/events` -> id (nullopt for other paths).
  static std::optional<std::string> EventsPath(const std::string& path);
  // The live sections of a deployment's page as the JSON of an `update` event, with a version
  // that changes whenever the content does. nullopt when the deployment does not exist. Blocking.
  struct Live {
    std::string version;
    std::string json;
    bool finished = false;
  };
  std::optional<Live> LiveUpdate(const std::string& id);

  // At most kMaxStreams event streams at once (TryAcquireStream false beyond that).
  bool TryAcquireStream();
  void ReleaseStream();
  std::size_t Streams() const { return streams_.load(); }
  dispatch::StatusHub& Hub() { return backends_.hub; }

  static constexpr std::size_t kMaxStreams = 200;
  // An event stream writes a comment this often when nothing else happened (proxies and clients
  // see that it is alive) and then also reads the database once, in case a notification was lost.
  static constexpr std::chrono::seconds kHeartbeat{15};
  // Name of the cookie that carries the frontend key (--console-require-key).
  static constexpr const char* kKeyCookie = "hookd_console_key";

 private:
  Response List(const Request& request);
  Response Login(const Request& request);
  bool KeyPresented(const Request& request) const;

  const Config& config_;
  ConsoleBackends backends_;
  std::atomic<std::size_t> streams_{0};
};

}  // namespace hookd::http
