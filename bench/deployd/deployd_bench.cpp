// deployd benchmark (prints figures; not a test). Starts kube-sim and the deployd binary, and
// plays hookd in-process (pb.Dispatch). Measures, end to end from the request written on the
// Deployments stream to the final status received by ReportStatus:
//   1. one deployment of N mixed resources (ConfigMaps, Services, Deployments) into namespace
//      `aura`, against `kubectl apply --server-side -f <dir>` of the same files into a fresh
//      namespace (admin context) in the same run; prints both times and the ratio. kubectl does
//      not wait for rollouts, so deployd's time until "All resources saved" is printed as well.
//   2. deployd's RSS (VmRSS) idle, and its peak while 50 deployments run at once.
//   3. "many": one deployment of --many (1,000) Deployments: time until all saved and until the
//      final status, deployd's threads (idle and peak) and its peak RSS while it watches them.
//   4. "batch": --batch (200) deployments of 5 resources each (ConfigMap, Service, Deployment,
//      ConfigMap, Service) sent at once: time until every one is saved and until every one has
//      its final status, threads and peak RSS.
//   Every part prints deployd's thread count (/proc/<pid>/status Threads) idle and at its peak.
//
//   build/bin/deployd_bench [--resources 200] [--concurrent 50] [--rounds 2]
//                       [--time-scale 0.02] [--max-rollout-threads N (default: deployd's)]
//                       [--many 1000] [--batch 200] [--parts mixed,rss,many,batch]
//                       [--deployd-flag --name=value ...] [--deployd PATH (default: this build's)]
//   DEPLOYD_BENCH_KEEP=1 keeps the work directory (kube-sim's and deployd's logs).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "common/time.hpp"
#include "deployd/agent/runner.hpp"
#include "deployment.grpc.pb.h"
#include "support/fake_hookd.hpp"
#include "support/manifests.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Options {
  int resources = 200;
  int concurrent = 50;
  int rounds = 2;
  std::string time_scale = "0.02";
  int max_rollout_threads = 0;  // 0: deployd's default
  int many = 1000;
  int batch = 200;
  std::string parts = "mixed,rss,many,batch";
  std::vector<std::string> deployd_flags;  // passed to deployd as they are
  std::string deployd = "";                // another deployd binary (an older build, say)
  bool Part(const std::string& name) const {
    return ("," + parts + ",").find("," + name + ",") != std::string::npos;
  }
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--resources") {
      o.resources = std::stoi(value);
    } else if (flag == "--rounds") {
      o.rounds = std::stoi(value);
    } else if (flag == "--concurrent") {
      o.concurrent = std::stoi(value);
    } else if (flag == "--time-scale") {
      o.time_scale = value;
    } else if (flag == "--max-rollout-threads") {
      o.max_rollout_threads = std::stoi(value);
    } else if (flag == "--many") {
      o.many = std::stoi(value);
    } else if (flag == "--batch") {
      o.batch = std::stoi(value);
    } else if (flag == "--parts") {
      o.parts = value;
    } else if (flag == "--deployd") {
      o.deployd = value;
    } else if (flag == "--deployd-flag") {
      o.deployd_flags.push_back(value);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return o;
}

using testsupport::FakeHookd;

// The first final status of `id` and when it arrived (it must have finished).
std::pair<Clock::time_point, pb::DeploymentStatus> Finished(FakeHookd& hookd,
                                                            const std::string& id) {
  for (auto& r : hookd.ReportsOf(id)) {
    if (common::IsFinished(r.status.state())) return {r.at, std::move(r.status)};
  }
  throw std::runtime_error("deployment " + id + " has not finished");
}
// When "All resources saved" of `id` arrived (the epoch when it did not).
Clock::time_point Saved(FakeHookd& hookd, const std::string& id) {
  for (const auto& r : hookd.ReportsOf(id)) {
    if (r.status.message() == deployd::agent::kAllSavedMessage) return r.at;
  }
  return {};
}
// The latest "All resources saved" and final status of `ids` (all must have finished).
std::pair<Clock::time_point, Clock::time_point> LastSavedAndFinished(
    FakeHookd& hookd, const std::vector<std::string>& ids) {
  Clock::time_point saved{};
  Clock::time_point finished{};
  for (const auto& id : ids) {
    saved = std::max(saved, Saved(hookd, id));
    finished = std::max(finished, Finished(hookd, id).first);
  }
  return {saved, finished};
}

nlohmann::json ConfigMap(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"data", {{"key", "value-" + name}, {"other", "more data for " + name}}}};
}

nlohmann::json Service(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"labels", {{"app", name}}}}},
          {"spec",
           {{"selector", {{"app", name}}},
            {"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}};
}

nlohmann::json Deployment(const std::string& name, const std::string& scenario = "") {
  nlohmann::json d =
      testsupport::DeploymentManifest(name, {{"name", "app"},
                                             {"image", "ghcr.io/navikt/" + name + ":1"},
                                             {"ports", {{{"containerPort", 8080}}}}});
  d["metadata"]["labels"] = {{"app", name}};
  if (!scenario.empty()) d["metadata"]["annotations"]["test.deployd.io/scenario"] = scenario;
  return d;
}

// N resources, kinds interleaved: ConfigMap, Service, Deployment, ConfigMap, ...
std::vector<nlohmann::json> MixedResources(int n) {
  std::vector<nlohmann::json> out;
  for (int i = 0; i < n; ++i) {
    auto name = "bench-" + std::to_string(i);
    switch (i % 3) {
      case 0:
        out.push_back(ConfigMap(name));
        break;
      case 1:
        out.push_back(Service(name));
        break;
      default:
        out.push_back(Deployment(name));
        break;
    }
  }
  return out;
}

pb::DeploymentRequest Request(const std::string& id, const std::vector<nlohmann::json>& resources) {
  return testsupport::AuraRequest(id, resources, 300s);
}

// A field of /proc/<pid>/status in KiB (0 if unreadable): VmRSS, RssAnon, RssFile.
long StatusKiB(int pid, const std::string& field = "VmRSS") {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return 0;
}
long RssKiB(int pid) { return StatusKiB(pid); }
// "Threads:" of /proc/<pid>/status (a count, not KiB).
long Threads(int pid) { return StatusKiB(pid, "Threads"); }

// User + system CPU time of a process in seconds (/proc/<pid>/stat fields 14 and 15).
double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double MiB(long kib) { return static_cast<double>(kib) / 1024.0; }

// kube-sim's process, for its CPU time beside deployd's (0 until it runs).
int g_sim_pid = 0;

// Thrown by Fail so that the child processes are stopped on the way out.
struct BenchFailure {};

[[noreturn]] void Fail(const std::string& what,
                       const testsupport::ChildProcess* deployd = nullptr) {
  std::fprintf(stderr, "benchmark failed: %s\n", what.c_str());
  if (deployd != nullptr) std::fprintf(stderr, "%s\n", deployd->Log().c_str());
  throw BenchFailure{};
}

}  // namespace

namespace {

void RunMixed(const Options& options, const std::string& dir, const std::string& kubeconfig,
              FakeHookd& hookd, const testsupport::ChildProcess& deployd, long idle_threads);
void RunRss(const Options& options, FakeHookd& hookd, const testsupport::ChildProcess& deployd,
            long idle_kib, long idle_anon_kib, long idle_file_kib);
void RunMany(const Options& options, FakeHookd& hookd, const testsupport::ChildProcess& deployd,
             long idle_threads);
void RunBatch(const Options& options, FakeHookd& hookd, const testsupport::ChildProcess& deployd,
              long idle_threads);

int RunBench(const Options& options, const std::string& dir) {
  auto kubeconfig = dir + "/kubeconfig";
  testsupport::ChildProcess sim(
      {testsupport::BinaryPath("kube-sim"), "--listen", "127.0.0.1:0", "--kubeconfig-out",
       kubeconfig, "--team", "aura", "--time-scale", options.time_scale, "--log-level", "warn"},
      {}, dir + "/kube-sim.log");
  auto deadline = Clock::now() + 20s;
  while (!std::filesystem::exists(kubeconfig) && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  if (!std::filesystem::exists(kubeconfig)) Fail("kube-sim did not start");
  g_sim_pid = sim.Pid();

  FakeHookd hookd;
  int metrics_port = testsupport::FreePort();
  std::vector<std::string> argv = {
      options.deployd.empty() ? testsupport::BinaryPath("deployd") : options.deployd,
      "--cluster",
      "local",
      "--grpc.server",
      hookd.Address(),
      "--kubeconfig",
      kubeconfig,
      "--metrics-listen-address",
      "127.0.0.1:" + std::to_string(metrics_port),
      "--log-level",
      "info",
      "--max-concurrent-deployments",
      std::to_string(options.concurrent)};
  if (options.max_rollout_threads > 0) {
    argv.push_back("--max-rollout-threads");
    argv.push_back(std::to_string(options.max_rollout_threads));
  }
  for (const auto& flag : options.deployd_flags) argv.push_back(flag);
  testsupport::ChildProcess deployd(argv, {}, dir + "/deployd.log");
  if (!hookd.WaitConnected(20s)) Fail("deployd did not connect", &deployd);
  // A first deployment brings up what lives as long as the process (gRPC's threads for status
  // reports, pooled connections); idle is counted after it.
  hookd.Send({Request("bench-warm-up", {ConfigMap("bench-warm-up")})});
  if (!hookd.WaitAllFinished({"bench-warm-up"}, 30s)) Fail("warm-up did not finish", &deployd);
  std::this_thread::sleep_for(500ms);
  long idle_kib = RssKiB(deployd.Pid());
  long idle_anon_kib = StatusKiB(deployd.Pid(), "RssAnon");
  long idle_file_kib = StatusKiB(deployd.Pid(), "RssFile");
  long idle_threads = Threads(deployd.Pid());

  std::printf(
      "deployd benchmark: kube-sim --time-scale %s, %d mixed resources "
      "(ConfigMap/Service/Deployment interleaved)\n",
      options.time_scale.c_str(), options.resources);

  std::printf("deployd threads idle: %ld; RSS idle %.1f MiB\n", idle_threads, MiB(idle_kib));
  if (options.Part("mixed")) RunMixed(options, dir, kubeconfig, hookd, deployd, idle_threads);
  if (options.Part("rss")) RunRss(options, hookd, deployd, idle_kib, idle_anon_kib, idle_file_kib);
  if (options.Part("many")) RunMany(options, hookd, deployd, idle_threads);
  if (options.Part("batch")) RunBatch(options, hookd, deployd, idle_threads);
  deployd.Stop();
  sim.Stop();
  return 0;
}

void RunMixed(const Options& options, const std::string& dir, const std::string& kubeconfig,
              FakeHookd& hookd, const testsupport::ChildProcess& deployd, long idle_threads) {
  // 1a. deployd: one deployment of all resources, request to final status.
  auto resources = MixedResources(options.resources);
  auto start = Clock::now();
  hookd.Send({Request("bench-mixed", resources)});
  long mixed_peak_threads = 0;
  while (!hookd.WaitAllFinished({"bench-mixed"}, 10ms)) {
    mixed_peak_threads = std::max(mixed_peak_threads, Threads(deployd.Pid()));
    if (Clock::now() - start > 300s) Fail("deployment did not finish", &deployd);
  }
  auto [finished_at, final_status] = Finished(hookd, "bench-mixed");
  if (final_status.state() != pb::DeploymentState::success) {
    Fail("deployment ended " + common::StateName(final_status.state()) + ": " +
             final_status.message(),
         &deployd);
  }
  double deployd_total = Seconds(finished_at - start);
  double deployd_saved = Seconds(Saved(hookd, "bench-mixed") - start);

  // 1b. kubectl apply --server-side of the same files into a fresh namespace.
  auto manifests = dir + "/manifests";
  std::filesystem::create_directories(manifests);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/%03zu.json", i);
    testsupport::WriteFile(manifests + name, resources[i].dump(2));
  }
  // (`kubectl create namespace` sends protobuf, which kube-sim does not decode.)
  testsupport::WriteFile(
      dir + "/namespace.json",
      R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench-kubectl"}})");
  auto created = testsupport::Run({"kubectl", "--kubeconfig", kubeconfig, "--context", "admin",
                                   "apply", "--server-side", "-f", dir + "/namespace.json"});
  if (created.exit_code != 0) Fail("kubectl create namespace: " + created.err);
  start = Clock::now();
  auto applied =
      testsupport::Run({"kubectl", "--kubeconfig", kubeconfig, "--context", "admin", "apply",
                        "--server-side", "-n", "bench-kubectl", "-f", manifests},
                       {}, 300s);
  double kubectl_total = Seconds(Clock::now() - start);
  if (applied.exit_code != 0) Fail("kubectl apply: " + applied.err);
  // The same end point as deployd's final status: every Deployment rolled out.
  auto waited = testsupport::Run(
      {"kubectl", "--kubeconfig", kubeconfig, "--context", "admin", "wait", "-n", "bench-kubectl",
       "--for=condition=Available", "deployments", "--all", "--timeout=120s"},
      {}, 150s);
  double kubectl_waited = Seconds(Clock::now() - start);

  std::printf("deployd:  %.3f s request to final status (%.3f s until all %d resources saved)\n",
              deployd_total, deployd_saved, options.resources);
  std::printf("deployd threads: %ld idle, %ld at the peak of that deployment\n", idle_threads,
              mixed_peak_threads);
  std::printf("kubectl apply --server-side: %.3f s (no rollout wait)\n", kubectl_total);
  if (waited.exit_code == 0) {
    std::printf(
        "kubectl apply + kubectl wait --for=condition=Available deployments --all: %.3f s\n",
        kubectl_waited);
  } else {
    std::printf("kubectl wait failed (exit %d): %s\n", waited.exit_code, waited.err.c_str());
  }
  std::printf("ratio deployd/kubectl: %.2f (all saved vs apply), %.2f (final status vs apply)",
              deployd_saved / kubectl_total, deployd_total / kubectl_total);
  if (waited.exit_code == 0) {
    std::printf(", %.2f (final status vs apply+wait)", deployd_total / kubectl_waited);
  }
  std::printf("; target <= 1.00\n");
}

void RunRss(const Options& options, FakeHookd& hookd, const testsupport::ChildProcess& deployd,
            long idle_kib, long idle_anon_kib, long idle_file_kib) {
  // 2. RSS idle and while `concurrent` deployments run at once (one slow Deployment each), in
  // `rounds` rounds (the same workloads again: RSS after each round shows whether memory is kept).
  std::printf(
      "deployd RSS idle: %.1f MiB (target < 20 MiB; RssAnon %.1f MiB, RssFile %.1f MiB "
      "= mapped shared libraries)\n",
      MiB(idle_kib), MiB(idle_anon_kib), MiB(idle_file_kib));
  for (int round = 1; round <= options.rounds; ++round) {
    std::vector<pb::DeploymentRequest> batch;
    std::vector<std::string> ids;
    for (int i = 0; i < options.concurrent; ++i) {
      auto id = "bench-concurrent-" + std::to_string(round) + "-" + std::to_string(i);
      ids.push_back(id);
      batch.push_back(Request(id, {Deployment("concurrent-" + std::to_string(i), "slow")}));
    }
    auto start = Clock::now();
    hookd.Send(std::move(batch));
    long peak_kib = 0;
    long peak_threads = 0;
    bool done = false;
    while (!done) {
      peak_kib = std::max(peak_kib, RssKiB(deployd.Pid()));
      peak_threads = std::max(peak_threads, Threads(deployd.Pid()));
      done = hookd.WaitAllFinished(ids, 10ms);
      if (Clock::now() - start > 300s) Fail("concurrent deployments did not finish", &deployd);
    }
    int failed = 0;
    for (const auto& id : ids) {
      if (Finished(hookd, id).second.state() != pb::DeploymentState::success) ++failed;
    }
    double seconds = Seconds(Clock::now() - start);
    std::this_thread::sleep_for(200ms);
    std::printf(
        "round %d: deployd RSS peak with %d deployments at once: %.1f MiB (%.3f s, %d failed); "
        "after: %.1f MiB; threads peak %ld\n",
        round, options.concurrent, MiB(peak_kib), seconds, failed, MiB(RssKiB(deployd.Pid())),
        peak_threads);
  }
}

// Sends `requests` at once and samples deployd until every one has finished; prints one line.
void RunAtOnce(const std::string& label, std::vector<pb::DeploymentRequest> requests,
               FakeHookd& hookd, const testsupport::ChildProcess& deployd, long idle_threads) {
  std::vector<std::string> ids;
  ids.reserve(requests.size());
  for (const auto& r : requests) ids.push_back(r.id());
  const auto start = Clock::now();
  const double cpu_before = CpuSeconds(deployd.Pid());
  const double sim_cpu_before = CpuSeconds(g_sim_pid);
  hookd.Send(std::move(requests));
  long peak_kib = 0;
  long peak_threads = 0;
  for (bool done = false; !done;) {
    peak_kib = std::max(peak_kib, RssKiB(deployd.Pid()));
    peak_threads = std::max(peak_threads, Threads(deployd.Pid()));
    done = hookd.WaitAllFinished(ids, 10ms);
    if (Clock::now() - start > 600s) Fail(label + " did not finish", &deployd);
  }
  int failed = 0;
  std::string first_failure;
  for (const auto& id : ids) {
    const auto& status = Finished(hookd, id).second;
    if (status.state() == pb::DeploymentState::success) continue;
    if (failed++ == 0) first_failure = status.message();
  }
  auto [saved, finished] = LastSavedAndFinished(hookd, ids);
  std::printf(
      "%s: all saved %.3f s, all final %.3f s, %d failed; threads %ld idle, %ld peak; "
      "RSS peak %.1f MiB, after %.1f MiB; CPU deployd %.1f s, kube-sim %.1f s\n",
      label.c_str(), Seconds(saved - start), Seconds(finished - start), failed, idle_threads,
      peak_threads, MiB(peak_kib), MiB(RssKiB(deployd.Pid())),
      CpuSeconds(deployd.Pid()) - cpu_before, CpuSeconds(g_sim_pid) - sim_cpu_before);
  if (failed > 0) std::printf("  first failure: %s\n", first_failure.c_str());
}

void RunMany(const Options& options, FakeHookd& hookd, const testsupport::ChildProcess& deployd,
             long idle_threads) {
  std::vector<nlohmann::json> resources;
  resources.reserve(static_cast<std::size_t>(options.many));
  for (int i = 0; i < options.many; ++i) {
    resources.push_back(Deployment("many-" + std::to_string(i)));
  }
  std::vector<pb::DeploymentRequest> requests;
  requests.push_back(Request("bench-many", resources));
  RunAtOnce(std::to_string(options.many) + " Deployments in one deployment", std::move(requests),
            hookd, deployd, idle_threads);
}

void RunBatch(const Options& options, FakeHookd& hookd, const testsupport::ChildProcess& deployd,
              long idle_threads) {
  std::vector<pb::DeploymentRequest> requests;
  for (int j = 0; j < options.batch; ++j) {
    auto prefix = "batch-" + std::to_string(j) + "-";
    requests.push_back(
        Request("bench-batch-" + std::to_string(j),
                {ConfigMap(prefix + "0"), Service(prefix + "1"), Deployment(prefix + "2"),
                 ConfigMap(prefix + "3"), Service(prefix + "4")}));
  }
  RunAtOnce(std::to_string(options.batch) + " deployments of 5 resources at once",
            std::move(requests), hookd, deployd, idle_threads);
}

}  // namespace

int main(int argc, char** argv) {
  auto options = Parse(argc, argv);
  auto dir = testsupport::MakeTempDir("deployd-bench");
  int code = 1;
  try {
    code = RunBench(options, dir);
  } catch (const BenchFailure&) {
    code = 1;
  }
  if (std::getenv("DEPLOYD_BENCH_KEEP") == nullptr) std::filesystem::remove_all(dir);
  return code;
}
