// The engine's pieces against a small in-process API server: shared watches (one list per
// collection, stopped when unused), rollout waits fed from them, and a list the team may not do.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/asio.hpp"
#include "deployd/agent/rollout_watcher.hpp"
#include "deployd/kube/async_kube_client.hpp"
#include "deployd/kube/informer.hpp"
#include "support/eventually.hpp"
#include "support/fake_timers.hpp"
#include "support/loopback_http_server.hpp"

namespace deployd::agent {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kUser = "system:serviceaccount:aura:serviceuser-aura";

json DeploymentObject(const std::string& name, bool complete) {
  json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata",
             {{"name", name},
              {"namespace", "aura"},
              {"generation", 1},
              {"resourceVersion", "7"},
              {"managedFields", json::array({{{"manager", "deployd"}}})}}},
            {"spec",
             {{"replicas", 1},
              {"selector", {{"matchLabels", {{"app", name}}}}},
              {"template", {{"metadata", {{"labels", {{"app", name}}}}}}}}}};
  if (complete) {
    d["status"] = {{"observedGeneration", 1},
                   {"replicas", 1},
                   {"updatedReplicas", 1},
                   {"availableReplicas", 1}};
  }
  return d;
}

// Lists: Deployments (web and api, rolled out unless `forbid_pods` or not `complete`), pods
// (forbidden when `forbid_pods`), events
// (resourceVersion only). Watches are held open until the test ends. Records every path?query.
class FakeApiServer {
 public:
  // `crash_pod`: the pod watch shows that pod (a crash-looping container of web) once ShowPod is
  // called, and its log never comes (the request is held until Release).
  explicit FakeApiServer(bool forbid_pods, bool complete = true, json crash_pod = nullptr)
      : forbid_pods_(forbid_pods),
        complete_(complete && !forbid_pods),
        crash_pod_(std::move(crash_pod)) {}
  ~FakeApiServer() { Release(); }
  std::string Url() const { return server_.Url(); }
  void Release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  int Count(const std::string& target) {
    std::lock_guard lock(mutex_);
    return static_cast<int>(std::count(requests_.begin(), requests_.end(), target));
  }
  // Requests whose target starts with `prefix`.
  int CountPrefix(const std::string& prefix) {
    std::lock_guard lock(mutex_);
    return static_cast<int>(std::count_if(requests_.begin(), requests_.end(),
                                          [&](const auto& r) { return r.rfind(prefix, 0) == 0; }));
  }
  void ShowPod() {
    std::lock_guard lock(mutex_);
    show_pod_ = true;
    changed_.notify_all();
  }
  // Blocks until a request whose target starts with `prefix` arrived (false after two minutes: a
  // hung test).
  bool AwaitRequest(const std::string& prefix) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 120s, [&] {
      return std::any_of(requests_.begin(), requests_.end(),
                         [&](const std::string& r) { return r.rfind(prefix, 0) == 0; });
    });
  }

 private:
  bool Handle(testsupport::LoopbackHttpServer::Socket& socket,
              const testsupport::LoopbackHttpServer::Request& req) {
    std::string target(req.target());
    {
      std::unique_lock lock(mutex_);
      requests_.push_back(target);
      changed_.notify_all();
      const bool watch = target.find("watch=1") != std::string::npos;
      if (watch && !crash_pod_.is_null() && target.rfind("/api/v1/namespaces/aura/pods?", 0) == 0) {
        // The pod comes once the test has the Deployment written (ShowPod), as a real one would.
        changed_.wait(lock, [this] { return show_pod_ || released_; });
        lock.unlock();
        const std::string event = json{{"type", "ADDED"}, {"object", crash_pod_}}.dump() + "\n";
        std::ostringstream chunk;
        chunk << "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              << "Transfer-Encoding: chunked\r\n\r\n"
              << std::hex << event.size() << "\r\n"
              << event << "\r\n";
        boost::system::error_code ignored;
        net::write(socket, net::buffer(chunk.str()), ignored);
        lock.lock();
      }
      if (watch || target.find("/log?") != std::string::npos) {
        changed_.wait(lock, [this] { return released_; });  // nothing more to say, or no answer
        return false;
      }
    }
    auto path = target.substr(0, target.find('?'));
    if (path == "/apis/apps/v1/namespaces/aura/deployments") {
      json list = {{"kind", "DeploymentList"},
                   {"metadata", {{"resourceVersion", "10"}}},
                   {"items", json::array({DeploymentObject("web", complete_),
                                          DeploymentObject("api", complete_)})}};
      return Reply(socket, req, http::status::ok, list);
    }
    if (path == "/api/v1/namespaces/aura/pods") {
      if (forbid_pods_) {
        return Reply(socket, req, http::status::forbidden,
                     {{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"status", "Failure"},
                      {"message",
                       "pods is forbidden: User \"system:serviceaccount:aura:serviceuser-aura\" "
                       "cannot list resource \"pods\" in API group \"\" in the namespace "
                       "\"aura\""},
                      {"reason", "Forbidden"},
                      {"code", 403}});
      }
      return Reply(socket, req, http::status::ok,
                   {{"kind", "PodList"},
                    {"metadata", {{"resourceVersion", "10"}}},
                    {"items", json::array()}});
    }
    if (path == "/api/v1/namespaces/aura/events") {
      return Reply(socket, req, http::status::ok,
                   {{"kind", "EventList"},
                    {"metadata", {{"resourceVersion", "10"}}},
                    {"items", json::array()}});
    }
    return testsupport::LoopbackHttpServer::Reply(socket, req, http::status::not_found,
                                                  "text/plain", "404 page not found\n");
  }
  static bool Reply(testsupport::LoopbackHttpServer::Socket& socket,
                    const testsupport::LoopbackHttpServer::Request& req, http::status status,
                    const json& body) {
    return testsupport::LoopbackHttpServer::Reply(socket, req, status, "application/json",
                                                  body.dump());
  }

  bool forbid_pods_;
  bool complete_;
  json crash_pod_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool released_ = false;
  bool show_pod_ = false;
  std::vector<std::string> requests_;
  testsupport::LoopbackHttpServer server_{
      [this](auto& socket, const auto& req) { return Handle(socket, req); }};
};

kube::AsyncApplier::Target DeploymentsIn(const std::string& ns) {
  kube::AsyncApplier::Target target;
  target.resource = {"apps", "v1", "Deployment", "deployments", true};
  target.namespace_ = ns;
  return target;
}

struct Outcome {
  std::vector<std::optional<Verdict>> verdicts;
  bool no_wait_for_config_map = false;
  std::size_t informers_while_waiting = 0;
  std::size_t informers_after = 99;
};

// Prepares and awaits the waits for `names` (as if each had just been written), one after the
// other, then stops every watch so that the io_context runs out of work.
net::awaitable<void> WaitFor(RolloutWatcher* watcher, kube::InformerRegistry* informers,
                             std::vector<std::string> names, Outcome* out) {
  json config_map_object = {
      {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "c"}}}};
  kube::AsyncApplier::Target config_maps{{"", "v1", "ConfigMap", "configmaps", true}, "aura"};
  auto config_map = co_await watcher->Prepare(config_map_object, config_maps, kUser, "id-1");
  out->no_wait_for_config_map = config_map == nullptr && informers->Running() == 0;
  std::vector<std::shared_ptr<RolloutWait>> waits;
  for (const auto& name : names) {
    auto object = DeploymentObject(name, false);
    auto target = DeploymentsIn("aura");
    auto wait = co_await watcher->Prepare(object, target, kUser, "id-1");
    kube::ApplyResult result;
    result.object = object;
    result.resource = DeploymentsIn("aura").resource;
    result.namespace_ = "aura";
    result.applied_at = std::chrono::system_clock::now();
    if (wait && watcher->Applied(*wait, result, nullptr)) waits.push_back(wait);
  }
  out->informers_while_waiting = informers->Running();
  const ProgressFn ignore = [](const std::string&) {};
  const auto deadline = std::chrono::system_clock::now() + 20s;
  for (auto& wait : waits) {
    auto verdict = co_await RolloutWatcher::Await(std::move(wait), deadline, ignore);
    out->verdicts.push_back(std::move(verdict));
  }
  out->informers_after = informers->Running();
  informers->StopAll();
}

Outcome RunWaits(FakeApiServer& server, std::vector<std::string> names) {
  net::io_context io;
  kube::KubeConfig config;
  config.server = server.Url();
  kube::AsyncKubeClient client(io.get_executor(), config);
  kube::InformerRegistry informers(io.get_executor(), client);
  RolloutWatcher watcher(informers, RolloutOptions{});
  Outcome out;
  net::co_spawn(io, WaitFor(&watcher, &informers, std::move(names), &out), net::detached);
  io.run_for(30s);
  server.Release();
  return out;
}

TEST(Engine, WaitsShareOneListPerCollectionAndItStopsWhenUnused) {
  FakeApiServer server(false);
  auto out = RunWaits(server, {"web", "api"});
  EXPECT_TRUE(out.no_wait_for_config_map) << "a ConfigMap needs no watch";
  ASSERT_EQ(out.verdicts.size(), 2U);
  for (const auto& verdict : out.verdicts) {
    ASSERT_TRUE(verdict);
    EXPECT_EQ(verdict->state, pb::DeploymentState::success);
    EXPECT_EQ(verdict->message, "Deployment completed successfully.");
  }
  EXPECT_EQ(out.informers_while_waiting, 3U) << "deployments, pods and events of aura";
  EXPECT_EQ(out.informers_after, 0U) << "stopped once no wait needs them";
  EXPECT_EQ(server.Count("/apis/apps/v1/namespaces/aura/deployments"), 1);
  EXPECT_EQ(server.Count("/api/v1/namespaces/aura/pods?limit=1&fieldSelector=metadata.name%3D"), 1)
      << "pods that exist before a write are not needed: only the resourceVersion is listed";
  EXPECT_EQ(server.Count("/api/v1/namespaces/aura/events?limit=1&fieldSelector=metadata.name%3D"),
            1);
}

TEST(Engine, AWatchTheTeamMayNotListEndsTheWaitWithAnError) {
  FakeApiServer server(true);
  auto out = RunWaits(server, {"web"});
  ASSERT_EQ(out.verdicts.size(), 1U);
  ASSERT_TRUE(out.verdicts[0]);
  EXPECT_EQ(out.verdicts[0]->state, pb::DeploymentState::error);
  EXPECT_EQ(out.verdicts[0]->message,
            "watch failed: pods is forbidden: User "
            "\"system:serviceaccount:aura:serviceuser-aura\" cannot list resource \"pods\" in API "
            "group \"\" in the namespace \"aura\"");
}

// A list that fails is tried again after the informer's backoff, on the informer's clock: not a
// moment before its time, and as soon as it has come.
TEST(Informer, AFailedListIsTriedAgainAfterItsBackoffByTheClock) {
  FakeApiServer server(true);  // pods are forbidden
  testsupport::FakeTimers timers;
  net::io_context io;
  kube::KubeConfig config;
  config.server = server.Url();
  kube::AsyncKubeClient client(io.get_executor(), config);
  kube::InformerRegistry informers(io.get_executor(), client, timers);
  auto work = net::make_work_guard(io);
  std::thread thread([&] { io.run_for(120s); });
  kube::InformerSpec spec;
  spec.collection_path = "/api/v1/namespaces/aura/pods";
  spec.user = kUser;
  auto use = informers.Acquire(spec);
  const std::string lists = "/api/v1/namespaces/aura/pods";
  ASSERT_TRUE(server.AwaitRequest(lists));
  ASSERT_TRUE(timers.AwaitWaiting()) << "no backoff after the refused list";
  const auto wake = timers.NextWake();
  ASSERT_TRUE(wake.has_value());
  const auto backoff = *wake - timers.SteadyNow();
  EXPECT_GE(backoff, 100ms);
  EXPECT_LE(backoff, 5s);
  timers.Advance(backoff - 1ms);
  EXPECT_EQ(server.CountPrefix(lists), 1) << "listed again before the backoff was over";
  timers.Advance(1ms);
  EXPECT_TRUE(testsupport::Eventually([&] { return server.CountPrefix(lists) == 2; }));
  ASSERT_TRUE(timers.AwaitWaiting()) << "no backoff after the second refusal";
  use.reset();
  informers.StopAll();
  work.reset();
  io.stop();
  server.Release();
  thread.join();
}

TEST(Informer, IndexKeysAndWhatTheCacheKeeps) {
  EXPECT_EQ(kube::IndexKeys(kube::IndexBy::kName, DeploymentObject("web", false)),
            std::vector<std::string>({"web"}));
  json pod = {{"metadata",
               {{"name", "web-5d4f8c7b9d-x7k2p"},
                {"labels", {{"app", "web"}, {"pod-template-hash", "5d4f8c7b9d"}}}}}};
  EXPECT_EQ(kube::IndexKeys(kube::IndexBy::kLabels, pod),
            std::vector<std::string>({"app=web", "pod-template-hash=5d4f8c7b9d"}));
  json event = {{"involvedObject", {{"kind", "Pod"}, {"name", "web-5d4f8c7b9d-x7k2p"}}}};
  EXPECT_EQ(kube::IndexKeys(kube::IndexBy::kEventTarget, event),
            std::vector<std::string>({"web-5d4f8c7b9d-x7k2p", "web-5d4f8c7b9d", "web"}));
  auto trimmed = DeploymentObject("web", true);
  trimmed["metadata"]["annotations"] = {
      {"kubectl.kubernetes.io/last-applied-configuration", "{...}"}, {"team", "aura"}};
  kube::TrimForCache(trimmed);
  EXPECT_EQ(trimmed["spec"],
            (json{{"replicas", 1}, {"selector", {{"matchLabels", {{"app", "web"}}}}}}));
  EXPECT_FALSE(trimmed["metadata"].contains("managedFields"));
  EXPECT_EQ(trimmed["metadata"]["annotations"], (json{{"team", "aura"}}));
  EXPECT_EQ(trimmed["status"]["availableReplicas"], 1);
}

TEST(AsyncKubeClient, RetriesOnlyWhatIsSafeToSendTwice) {
  kube::KubeCall get;
  EXPECT_TRUE(kube::IsRetryable(get));
  kube::KubeCall apply;
  apply.method = "PATCH";
  apply.content_type = "application/apply-patch+yaml";
  EXPECT_TRUE(kube::IsRetryable(apply));
  kube::KubeCall merge = apply;
  merge.content_type = "application/merge-patch+json";
  EXPECT_FALSE(kube::IsRetryable(merge));
  kube::KubeCall create;
  create.method = "POST";
  EXPECT_FALSE(kube::IsRetryable(create));
  kube::KubeCall update;
  update.method = "PUT";
  EXPECT_FALSE(kube::IsRetryable(update));
}

// A 429 that asks for 30 s is sent again once 30 s have passed on the client's clock, not before.
TEST(AsyncKubeClient, RetryAfterIsWaitedOutOnItsClock) {
  std::atomic<int> calls{0};
  testsupport::LoopbackHttpServer server(
      [&](const testsupport::LoopbackHttpServer::RecordedRequest&)
          -> testsupport::LoopbackHttpServer::Response {
        if (calls.fetch_add(1) == 0) {
          return {429,
                  R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"slow down",)"
                  R"("reason":"TooManyRequests","details":{"retryAfterSeconds":30},"code":429})"};
        }
        return {200, R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}})"};
      });
  testsupport::FakeTimers timers;
  net::io_context io;
  auto work = net::make_work_guard(io);
  kube::KubeConfig config;
  config.server = server.Url();
  kube::AsyncKubeClient client(io.get_executor(), config, timers);
  kube::KubeCall call;
  call.path = "/api/v1/namespaces/aura/configmaps/x";
  std::mutex mutex;
  std::optional<json> got;
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        auto body = co_await client.CallJson(call);
        std::lock_guard lock(mutex);
        got = std::move(body);
      },
      net::detached);
  std::thread runner([&] { io.run(); });
  ASSERT_TRUE(timers.AwaitWaiting(1));  // the retry waits on the clock
  EXPECT_EQ(calls.load(), 1);
  timers.Advance(29s);
  ASSERT_TRUE(timers.AwaitWaiting(1));
  EXPECT_EQ(calls.load(), 1);
  timers.Advance(1s);
  EXPECT_TRUE(testsupport::Eventually([&] {
    std::lock_guard lock(mutex);
    return got.has_value();
  }));
  work.reset();
  io.stop();
  runner.join();
  EXPECT_EQ(calls.load(), 2);
  std::lock_guard lock(mutex);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ((*got)["metadata"]["name"], "x");
}

// Deployment "web" (not rolled out) prepared, written and awaited until `deadline` on an
// io_context of its own thread, the watcher timed by `timers` (and reading container logs through
// the same client when `read_logs`).
class ClockedRollout {
 public:
  ClockedRollout(FakeApiServer& server, const testsupport::FakeTimers& timers,
                 common::SystemTime deadline, bool read_logs)
      : server_(server),
        client_(io_.get_executor(), Config(server)),
        informers_(io_.get_executor(), client_),
        watcher_(informers_, RolloutOptions{}, read_logs ? &client_ : nullptr, timers) {
    net::co_spawn(io_, Run(timers.Now(), deadline), net::detached);
    thread_ = std::thread([this] { io_.run_for(120s); });
  }
  ~ClockedRollout() {
    io_.stop();
    server_.Release();
    if (thread_.joinable()) thread_.join();
  }
  ClockedRollout(const ClockedRollout&) = delete;
  ClockedRollout& operator=(const ClockedRollout&) = delete;

  bool Ended() {
    std::lock_guard lock(mutex_);
    return ended_;
  }
  // Waits for the end (the io_context runs out of work) and returns the verdict.
  std::optional<Verdict> Join() {
    thread_.join();
    std::lock_guard lock(mutex_);
    return verdict_;
  }

 private:
  static kube::KubeConfig Config(const FakeApiServer& server) {
    kube::KubeConfig config;
    config.server = server.Url();
    return config;
  }
  net::awaitable<void> Run(common::SystemTime now, common::SystemTime deadline) {
    auto object = DeploymentObject("web", false);
    auto wait = co_await watcher_.Prepare(object, DeploymentsIn("aura"), kUser, "id-1");
    kube::ApplyResult result;
    result.object = object;
    result.resource = DeploymentsIn("aura").resource;
    result.namespace_ = "aura";
    result.applied_at = now;
    std::optional<Verdict> verdict;
    if (wait && watcher_.Applied(*wait, result, nullptr)) {
      verdict =
          co_await RolloutWatcher::Await(std::move(wait), deadline, [](const std::string&) {});
    }
    informers_.StopAll();
    std::lock_guard lock(mutex_);
    verdict_ = std::move(verdict);
    ended_ = true;
  }

  FakeApiServer& server_;
  net::io_context io_;
  kube::AsyncKubeClient client_;
  kube::InformerRegistry informers_;
  RolloutWatcher watcher_;
  std::thread thread_;
  std::mutex mutex_;
  std::optional<Verdict> verdict_;
  bool ended_ = false;
};

// The rollout's deadline comes by the injected clock: nothing sleeps, and the wait is still
// running one minute before its deadline.
TEST(Engine, ARolloutThatNeverCompletesEndsAtItsDeadlineByTheClock) {
  FakeApiServer server(false, /*complete=*/false);
  testsupport::FakeTimers timers;
  ClockedRollout rollout(server, timers, timers.Now() + 10min, false);
  ASSERT_TRUE(timers.AwaitWaiting()) << "the wait never parked";
  timers.Advance(9min);
  // Woken or not, it waits again: the deadline has not come.
  ASSERT_TRUE(timers.AwaitWaiting());
  EXPECT_FALSE(rollout.Ended()) << "one minute before the deadline the wait is still running";
  timers.Advance(1min);
  const auto verdict = rollout.Join();
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->state, pb::DeploymentState::error);
  EXPECT_EQ(verdict->message,
            "timeout while waiting for deployment to succeed; still waiting: waiting for the "
            "controller to observe the new generation");
}

// A failed rollout's container log that never comes: the read gives up when its 5 s have passed
// by the clock, and the verdict says why the log is missing.
TEST(Engine, AContainerLogThatNeverComesIsGivenUpWhenItsTimeHasPassedByTheClock) {
  testsupport::FakeTimers timers;
  json crashing = {{"name", "web"}, {"restartCount", 3}};
  crashing["state"]["waiting"] = {{"reason", "CrashLoopBackOff"},
                                  {"message", "back-off 40s restarting failed container"}};
  crashing["lastState"]["terminated"] = {{"reason", "Error"}, {"exitCode", 1}};
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}};
  pod["metadata"] = {{"name", "web-1"},
                     {"namespace", "aura"},
                     {"labels", {{"app", "web"}}},
                     {"resourceVersion", "11"},
                     {"creationTimestamp", common::FormatRfc3339(timers.Now() + 1s)}};
  pod["status"] = {{"phase", "Running"}, {"containerStatuses", json::array({crashing})}};
  FakeApiServer server(false, /*complete=*/false, pod);
  ClockedRollout rollout(server, timers, timers.Now() + 10min, true);

  ASSERT_TRUE(timers.AwaitWaiting()) << "the wait never parked";
  server.ShowPod();
  ASSERT_TRUE(server.AwaitRequest("/api/v1/namespaces/aura/pods/web-1/log?container=web"));
  ASSERT_TRUE(timers.AwaitWaiting()) << "the log read is timed";
  timers.Advance(5s - 1ms);
  EXPECT_FALSE(rollout.Ended()) << "the log read has time left";
  timers.Advance(1ms);
  const auto verdict = rollout.Join();
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->state, pb::DeploymentState::failure);
  EXPECT_EQ(verdict->message,
            "Deployment/web: pod web-1 container web: CrashLoopBackOff: back-off 40s restarting "
            "failed container (last exit: Error, code 1, 3 restarts)");
  EXPECT_EQ(verdict->log,
            "Deployment/web: log of container \"web\" in pod web-1 (previous instance): (log not "
            "available: no answer within 5 s)");
}

}  // namespace
}  // namespace deployd::agent
