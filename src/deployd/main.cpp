// deployd: the per-cluster agent. Parses the configuration and runs deployd::agent::Agent until
// SIGINT/SIGTERM (exit 0). Fatal configuration errors exit 1.
#include <csignal>
#include <cstdio>
#include <system_error>
#include <thread>

#include <CLI/CLI.hpp>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "deployd/config.hpp"

int main(int argc, char** argv) {
  const auto startup_time = std::chrono::system_clock::now();
  // Before any message is parsed: manifests nested as deep as hookd accepts must be readable here.
  common::InstallProtobufLimits();
  // A few threads only (the engine's --threads, the hookd receiver, the status reporter, the
  // metrics server, gRPC's); two malloc arenas keep RSS close to what is in use.
  mallopt(M_ARENA_MAX, 2);
  CLI::App app{"deployd: applies deployments from hookd to this Kubernetes cluster"};
  common::LayeredConfig config(deployd::Settings());
  config.Bind(app);
  std::string config_file;
  app.add_option("--config", config_file,
                 "Configuration file (default ./deployd.yaml or /etc/deployd.yaml)");
  CLI11_PARSE(app, argc, argv);

  // Signals are taken by sigwait in this thread only; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<deployd::agent::Agent> agent;
  try {
    config.Resolve(common::ProcessEnv(), deployd::FindConfigFile(config_file));
    common::SetupLogging(config.Get("log-format"), config.Get("log-level"), "deployd");
    spdlog::info("deployd starting with configuration: {}", config.Describe());
    auto options = deployd::ToAgentOptions(config, common::ProcessEnv(), startup_time);
    spdlog::info("kubernetes: {} ({})", options.kube.server, options.kube.source);
    agent = std::make_unique<deployd::agent::Agent>(std::move(options));
    spdlog::info("serving metrics on {}{}", config.Get("metrics-listen-address"),
                 config.Get("metrics-path"));
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    std::fprintf(stderr, "Fatal error: %s\n", e.what());
    return 1;
  }

  std::thread receiver;
  try {
    receiver = std::thread([&agent] { agent->Run(); });
  } catch (const std::system_error& e) {
    spdlog::critical("cannot start the receiver thread: {}", e.what());
    std::fprintf(stderr, "Fatal error: cannot start the receiver thread: %s\n", e.what());
    return 1;
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  spdlog::info("received signal {}; shutting down", signal_number);
  agent->Stop();
  receiver.join();
  agent.reset();
  spdlog::info("deployd stopped");
  return 0;
}
