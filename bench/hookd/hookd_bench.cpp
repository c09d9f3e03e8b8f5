// hookd benchmark (prints figures; not a test). Starts a private Postgres (scripts/pg) and the
// hookd binary, connects a deployd-like client that receives every request, then for each client
// count N runs N concurrent clients sending signed Deploy RPCs (10 resources each) and prints
// deploys/s, p50/p99 latency and hookd's peak RSS. In the same run pgbench measures the TPS of the
// equivalent insert transaction on the same Postgres. Finally it holds 1,000 deployd streams open
// and prints hookd's RSS.
//
//   build/bin/hookd_bench [--seconds 5] [--clients 16,64] [--streams 1000]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/http_client.hpp"
#include "common/pb_json.hpp"
#include "common/time.hpp"
#include "deployment.grpc.pb.h"
#include "hookd/store/pool.hpp"
#include "hookd/store/store.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kEncryptionKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kDeploydKey = "bench-deployd-key";

struct Options {
  int seconds = 5;
  std::vector<int> clients = {16, 64};
  int streams = 1000;
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--seconds") {
      o.seconds = std::stoi(value);
    } else if (flag == "--streams") {
      o.streams = std::stoi(value);
    } else if (flag == "--clients") {
      o.clients.clear();
      std::stringstream in(value);
      for (std::string part; std::getline(in, part, ',');) o.clients.push_back(std::stoi(part));
    } else {
      std::cerr << "usage: hookd_bench [--seconds N] [--clients 16,64] [--streams 1000]\n";
      std::exit(2);
    }
  }
  return o;
}

// VmRSS / VmHWM of a process in KiB.
long ProcStatusKib(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

double Mib(long kib) { return static_cast<double>(kib) / 1024.0; }

// Resets the peak RSS (VmHWM) of a process so each level reports its own peak.
void ResetPeak(int pid) {
  std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
  out << "5";
}

std::shared_ptr<grpc::Channel> NewChannel(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // own TCP connection per channel
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

pb::DeploymentRequest Request() {
  pb::DeploymentRequest request;
  request.set_team("bench");
  request.set_cluster("bench");
  request.set_gitrefsha("0123456789abcdef");
  request.mutable_repository()->set_owner("navikt");
  request.mutable_repository()->set_name("bench");
  for (int i = 0; i < 10; ++i) {
    nlohmann::json cm = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", {{"name", "cm-" + std::to_string(i)}, {"namespace", "bench"}}},
        {"data", {{"key", std::string(200, 'x')}}}};
    *request.mutable_kubernetes()->add_resources() = common::JsonToStruct(cm);
  }
  return request;
}

// Reads the Deployments stream of one cluster and counts what arrives.
class Receiver {
 public:
  Receiver(std::shared_ptr<grpc::Channel> channel, const std::string& cluster)
      : stub_(pb::Dispatch::NewStub(channel)) {
    context_.AddMetadata("authorization", kDeploydKey);
    pb::GetDeploymentOpts opts;
    opts.set_cluster(cluster);
    *opts.mutable_startuptime() = common::ToTimestamp(std::chrono::system_clock::now());
    reader_ = stub_->Deployments(&context_, opts);
    thread_ = std::thread([this] {
      pb::DeploymentRequest request;
      while (reader_->Read(&request)) ++received;
      reader_->Finish();
    });
  }
  ~Receiver() {
    context_.TryCancel();
    thread_.join();
  }
  std::atomic<long> received{0};

 private:
  std::unique_ptr<pb::Dispatch::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<pb::DeploymentRequest>> reader_;
  std::thread thread_;
};

struct LevelResult {
  long deploys = 0;
  long errors = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  std::string first_error;
};

LevelResult RunClients(int port, const std::string& key, int clients, int seconds) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < (clients + 3) / 4; ++i) channels.push_back(NewChannel(port));
  std::mutex mutex;
  std::vector<double> latencies;
  LevelResult result;
  const auto template_request = Request();
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto stub = pb::Deploy::NewStub(channels[static_cast<std::size_t>(c) / 4]);
      std::vector<double> mine;
      long errors = 0;
      std::string first_error;
      while (Clock::now() < end) {
        grpc::ClientContext context;
        const std::string ts = common::FormatRfc3339Nano(std::chrono::system_clock::now());
        context.AddMetadata("timestamp", ts);
        context.AddMetadata("authorization", common::HexEncode(common::HmacSha256(key, ts)));
        context.AddMetadata("team", "bench");
        context.set_deadline(std::chrono::system_clock::now() + 30s);
        auto request = template_request;
        *request.mutable_time() = common::ToTimestamp(std::chrono::system_clock::now());
        *request.mutable_deadline() = common::ToTimestamp(std::chrono::system_clock::now() + 10min);
        pb::DeploymentStatus reply;
        const auto t0 = Clock::now();
        auto status = stub->Deploy(&context, request, &reply);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (status.ok()) {
          mine.push_back(ms);
        } else {
          if (errors++ == 0) first_error = status.error_message();
        }
      }
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      result.errors += errors;
      if (result.first_error.empty()) result.first_error = first_error;
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  result.deploys = static_cast<long>(latencies.size());
  std::sort(latencies.begin(), latencies.end());
  if (!latencies.empty()) {
    result.p50_ms = latencies[latencies.size() / 2];
    result.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  }
  return result;
}

// pgbench with the insert transaction hookd commits per deployment.
double PgbenchTps(const std::string& url, int clients, int seconds, const std::string& dir) {
  std::string script =
      "\\set id random(1, 9000000000000000000)\n"
      "BEGIN;\n"
      "INSERT INTO deployment (id, team, created, github_repository, cluster) VALUES "
      "((:id)::text, 'bench', now(), 'navikt/bench', 'pgbench');\n";
  for (int i = 0; i < 10; ++i) {
    script +=
        "INSERT INTO deployment_resource (id, deployment_id, \"index\", \"group\", version, "
        "kind, name, namespace) VALUES (gen_random_uuid()::text, (:id)::text, " +
        std::to_string(i) + ", '', 'v1', 'ConfigMap', 'cm-" + std::to_string(i) + "', 'bench');\n";
  }
  script +=
      "INSERT INTO deployment_status (id, deployment_id, status, message, created) VALUES "
      "(gen_random_uuid()::text, (:id)::text, 'queued', 'Deployment request queued', now());\n"
      "END;\n";
  const std::string path = dir + "/deploy.sql";
  testsupport::WriteFile(path, script);
  const std::string pgbench = "/usr/lib/postgresql/15/bin/pgbench";
  auto run = testsupport::Run({pgbench, "-n", "-c", std::to_string(clients), "-j", "2", "-T",
                               std::to_string(seconds), "-f", path, url},
                              {}, std::chrono::seconds(seconds + 60));
  auto pos = run.out.find("tps = ");
  if (run.exit_code != 0 || pos == std::string::npos) {
    std::cerr << "pgbench failed: " << run.out << run.err << "\n";
    return 0;
  }
  return std::stod(run.out.substr(pos + 6));
}

// Opens `count` Deployments streams (clusters stream-0...) without reading them.
class IdleStreams {
 public:
  IdleStreams(int port, int count) {
    for (int i = 0; i < (count + 99) / 100; ++i) channels_.push_back(NewChannel(port));
    for (int i = 0; i < count; ++i) {
      auto call = std::make_unique<Call>();
      call->stub = pb::Dispatch::NewStub(channels_[static_cast<std::size_t>(i) / 100]);
      call->context.AddMetadata("authorization", kDeploydKey);
      pb::GetDeploymentOpts opts;
      opts.set_cluster("stream-" + std::to_string(i));
      *opts.mutable_startuptime() = common::ToTimestamp(std::chrono::system_clock::now());
      call->reader = call->stub->PrepareAsyncDeployments(&call->context, opts, &cq_);
      call->reader->StartCall(call.get());
      calls_.push_back(std::move(call));
    }
    drain_ = std::thread([this] {
      void* tag = nullptr;
      bool ok = false;
      while (cq_.Next(&tag, &ok)) {
      }
    });
  }
  ~IdleStreams() {
    for (auto& call : calls_) call->context.TryCancel();
    calls_.clear();
    cq_.Shutdown();
    drain_.join();
  }

 private:
  struct Call {
    std::unique_ptr<pb::Dispatch::Stub> stub;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReader<pb::DeploymentRequest>> reader;
  };
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<Call>> calls_;
  std::thread drain_;
};

long ConnectedClusters(int http_port) {
  common::HttpClientOptions options;
  options.base_url = "http://127.0.0.1:" + std::to_string(http_port);
  common::HttpClient client(options);
  common::HttpRequest request;
  request.target = "/metrics";
  std::string body;
  try {
    body = client.Send(request).body;
  } catch (const std::exception&) {
    return 0;
  }
  long n = 0;
  std::stringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("deployment_hookd_cluster_status{", 0) == 0 && line.size() > 2 &&
        line.compare(line.size() - 2, 2, " 1") == 0) {
      ++n;
    }
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = Parse(argc, argv);
  const std::string dir = testsupport::MakeTempDir("hookd-bench");
  const std::string pg = testsupport::SourceDir() + "/scripts/pg";
  const std::string pg_dir = testsupport::MakeTempDir("hookd-bench-pg");  // owned by postgres
  auto started = testsupport::Run({pg, "start", pg_dir}, {}, 120s);
  if (started.exit_code != 0) {
    std::cerr << "cannot start Postgres: " << started.err << "\n";
    return 1;
  }
  std::string url = started.out;
  while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
  int rc = 0;
  {
    const int grpc_port = testsupport::FreePort();
    const int http_port = testsupport::FreePort();
    testsupport::ChildProcess hookd(
        {testsupport::BinaryPath("hookd"), "--database-url", url, "--grpc.address",
         "127.0.0.1:" + std::to_string(grpc_port), "--listen-address",
         "127.0.0.1:" + std::to_string(http_port), "--grpc.cli-authentication=true",
         "--grpc.deployd-authentication=true", "--deployd-keys", kDeploydKey, "--log-level",
         "warn"},
        {}, dir + "/hookd.log");
    if (!testsupport::WaitForPort(grpc_port, 30s)) {
      std::cerr << "hookd did not start:\n" << hookd.Log();
      return 1;
    }
    std::this_thread::sleep_for(1s);  // settle before measuring idle memory
    std::printf("hookd benchmark (%d s per level; %u CPU cores; Postgres with fsync=off)\n",
                options.seconds, std::thread::hardware_concurrency());
    std::printf(
        "hookd idle RSS: %.1f MiB (target < 20 MiB), of which anonymous %.1f MiB and "
        "file-backed (shared libraries) %.1f MiB\n",
        Mib(ProcStatusKib(hookd.Pid(), "VmRSS")), Mib(ProcStatusKib(hookd.Pid(), "RssAnon")),
        Mib(ProcStatusKib(hookd.Pid(), "RssFile")));

    if (options.streams > 0) {
      ResetPeak(hookd.Pid());
      IdleStreams streams(grpc_port, options.streams);
      const auto deadline = Clock::now() + 60s;
      long connected = 0;
      while ((connected = ConnectedClusters(http_port)) < options.streams &&
             Clock::now() < deadline) {
        std::this_thread::sleep_for(200ms);
      }
      std::printf(
          "%ld deployd streams connected: hookd RSS %.1f MiB (anonymous %.1f MiB), "
          "peak %.1f MiB (target < 64 MiB)\n",
          connected, Mib(ProcStatusKib(hookd.Pid(), "VmRSS")),
          Mib(ProcStatusKib(hookd.Pid(), "RssAnon")), Mib(ProcStatusKib(hookd.Pid(), "VmHWM")));
    }
    hookd::store::ConnectionPool pool(url, 1);
    hookd::store::Store store(pool, *common::HexDecode(kEncryptionKeyHex));
    const std::string key = common::RandomBytes(32);
    store.RotateApiKey("bench", key);

    auto deployd_channel = NewChannel(grpc_port);
    Receiver deployd(deployd_channel, "bench");
    std::this_thread::sleep_for(500ms);
    RunClients(grpc_port, key, 4, 1);  // warm-up

    std::printf("\n%8s %12s %10s %10s %10s %14s %14s %8s\n", "clients", "deploys/s", "p50 ms",
                "p99 ms", "errors", "hookd peak MiB", "pgbench TPS", "ratio");
    for (int clients : options.clients) {
      ResetPeak(hookd.Pid());
      const long before = deployd.received;
      auto result = RunClients(grpc_port, key, clients, options.seconds);
      const long peak = ProcStatusKib(hookd.Pid(), "VmHWM");
      const double rate = static_cast<double>(result.deploys) / result.seconds;
      const double tps = PgbenchTps(url, clients, options.seconds, dir);
      std::printf("%8d %12.0f %10.2f %10.2f %10ld %14.1f %14.0f %7.0f%%\n", clients, rate,
                  result.p50_ms, result.p99_ms, result.errors, Mib(peak), tps,
                  tps > 0 ? 100.0 * rate / tps : 0.0);
      if (!result.first_error.empty())
        std::printf("  first error: %s\n", result.first_error.c_str());
      // Everything accepted reaches the deployd-like client.
      const auto deadline = Clock::now() + 30s;
      while (deployd.received - before < result.deploys && Clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
      }
      std::printf("  delivered to deployd: %ld of %ld\n", deployd.received - before,
                  result.deploys);
    }
    std::printf("  (target: hookd deploys/s >= 70%% of pgbench TPS)\n");

    if (hookd.Stop() != 0) {
      std::cerr << "hookd exited with an error:\n" << hookd.Log();
      rc = 1;
    }
  }
  testsupport::Run({pg, "stop", pg_dir}, {}, 60s);
  testsupport::Run({"rm", "-rf", dir, pg_dir});
  return rc;
}
