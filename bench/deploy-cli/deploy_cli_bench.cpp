// Benchmarks of the deploy CLI (issue 6), printing figures:
//  1. prepare and sign a 1,000-document manifest with templating (target < 0.5 s);
//  2. start-up of the `deploy` binary to its first request at a fake hookd (target < 50 ms);
//  3. YAML to JSON conversion of a 5 MB multi-document manifest (common::YamlDocumentsToJson).
// Usage: build/bin/deploy_cli_bench [--documents N] [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/yaml_json.hpp"
#include "deploy-cli/manifest/prepare.hpp"
#include "deploy-cli/transport/transport.hpp"
#include "deployment.grpc.pb.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string Manifest(int documents) {
  std::ostringstream out;
  for (int i = 0; i < documents; ++i) {
    out << "---\n"
        << "apiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n"
        << "  name: app-" << i << "\n  namespace: {{team}}\n  labels:\n    team: {{team}}\n"
        << "spec:\n  image: {{image}}\n  replicas:\n    min: {{replicas}}\n    max: 4\n"
        << "  env:\n    - name: ENVIRONMENT\n      value: \"{{environment}}\"\n"
        << "  ingresses:\n"
        << "  {{#each ingresses as |url|}}\n    - \"{{url}}/app-" << i << "\"\n  {{/each}}\n"
        << "  {{#if debug}}\n  debug: true\n  {{/if}}\n";
  }
  return out.str();
}

double PrepareOnce(const std::string& manifest_path, const std::string& vars_path) {
  common::SystemClock clock;
  std::ostringstream sink;
  deploy_cli::Logger log(sink, clock);
  deploy_cli::Options options;
  options.resources = {manifest_path};
  options.vars_file = vars_path;
  options.vars = {"image=ghcr.io/navikt/app:1.2.3", "debug"};
  options.cluster = "dev";
  const deploy_cli::EnvLookup env = [](const std::string&) -> std::optional<std::string> {
    return std::nullopt;
  };
  const auto start = Clock::now();
  const auto request =
      deploy_cli::Prepare(options, env, log, clock.Now(), clock.Now() + std::chrono::minutes(10));
  std::string wire;
  request.SerializeToString(&wire);
  const auto key = *common::HexDecode("1234567812345678");
  const auto signature = common::HexEncode(common::HmacSha256(key, wire));  // HTTP API signing
  const auto metadata = deploy_cli::MakeApiKeyMetadata(key, request.team(), clock.Now());
  const auto elapsed = Clock::now() - start;
  if (request.kubernetes().resources_size() == 0 || signature.size() != 64 ||
      metadata.authorization.empty()) {
    std::cerr << "unexpected result\n";
  }
  return Ms(elapsed);
}

class FirstRequestService final : public pb::Deploy::Service {
 public:
  grpc::Status Deploy(grpc::ServerContext*, const pb::DeploymentRequest* request,
                      pb::DeploymentStatus* response) override {
    {
      std::lock_guard lock(mutex_);
      arrived_ = Clock::now();
    }
    *response->mutable_request() = *request;
    response->mutable_request()->set_id("bench");
    response->set_state(pb::success);
    return grpc::Status::OK;
  }
  Clock::time_point Arrived() {
    std::lock_guard lock(mutex_);
    return arrived_;
  }

 private:
  std::mutex mutex_;
  Clock::time_point arrived_;
};

double StartupOnce(const std::string& binary, const std::string& manifest, int port,
                   FirstRequestService& service) {
  const std::string server = "127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args = {binary,
                                   "--resource",
                                   manifest,
                                   "--cluster",
                                   "local",
                                   "--apikey",
                                   "00",
                                   "--deploy-server",
                                   server,
                                   "--grpc-authentication=false",
                                   "--grpc-use-tls=false",
                                   "--quiet"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = Clock::now();
  pid_t pid = 0;
  if (posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    std::cerr << "cannot start " << binary << "\n";
    return -1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "deploy exited with " << WEXITSTATUS(status) << "\n";
    return -1;
  }
  return Ms(service.Arrived() - start);
}

// An untemplated manifest of at least `bytes` bytes: documents with the usual shapes (block and
// flow collections, quoted and block scalars).
std::string PlainManifest(std::size_t bytes) {
  std::string out;
  for (std::size_t i = 0; out.size() < bytes; ++i) {
    const std::string n = std::to_string(i);
    out += "---\napiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: app-";
    out += n;
    out += "\n  namespace: aura\n  labels:\n    team: aura\nspec:\n  image: ghcr.io/navikt/app:1.";
    out += n;
    out +=
        "\n  replicas: {min: 2, max: 4}\n  env:\n    - name: ENVIRONMENT\n"
        "      value: \"dev\"\n    - name: FLAG\n      value: 'on'\n  config: |\n"
        "    line one\n    line two\n  ingresses:\n    - https://app-";
    out += n;
    out += ".example.com\n";
  }
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int documents = 1000;
  int runs = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--documents") documents = std::stoi(argv[i + 1]);
    if (flag == "--runs") runs = std::stoi(argv[i + 1]);
  }
  const auto dir =
      std::filesystem::temp_directory_path() / ("deploy-cli-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string manifest = (dir / "manifest.yaml").string();
  const std::string vars = (dir / "vars.yaml").string();
  std::ofstream(manifest) << Manifest(documents);
  std::ofstream(vars) << "team: aura\nenvironment: dev\nreplicas: 2\ningresses:\n"
                         "  - https://a.example.com\n  - https://b.example.com\n";

  std::vector<double> prepare;
  prepare.reserve(static_cast<std::size_t>(runs));
  for (int i = 0; i < runs; ++i) prepare.push_back(PrepareOnce(manifest, vars));
  std::printf(
      "prepare+sign %d templated documents: median %.1f ms, min %.1f ms (target < 500 ms)\n",
      documents, Median(prepare), *std::min_element(prepare.begin(), prepare.end()));

  const std::string big = PlainManifest(5 << 20);
  std::vector<double> yaml;
  std::size_t converted = 0;
  for (int i = 0; i < runs; ++i) {
    const auto start = Clock::now();
    converted = common::YamlDocumentsToJson(big).size();
    yaml.push_back(Ms(Clock::now() - start));
  }
  std::printf("YAML to JSON of a %.1f MB manifest (%zu documents): median %.1f ms, min %.1f ms\n",
              static_cast<double>(big.size()) / (1 << 20), converted, Median(yaml),
              *std::min_element(yaml.begin(), yaml.end()));

  FirstRequestService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  const std::string binary = (std::filesystem::path(argv[0]).parent_path() / "deploy").string();
  const std::string small = (dir / "configmap.yaml").string();
  std::ofstream(small)
      << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: aura\n";
  std::vector<double> startup;
  for (int i = 0; i < runs; ++i) {
    const double ms = StartupOnce(binary, small, port, service);
    if (ms >= 0) startup.push_back(ms);
  }
  server->Shutdown();
  if (!startup.empty()) {
    std::printf("start-up to first request: median %.1f ms, min %.1f ms (target < 50 ms)\n",
                Median(startup), *std::min_element(startup.begin(), startup.end()));
  }
  std::filesystem::remove_all(dir);
  return 0;
}
