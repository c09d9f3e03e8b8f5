// deployd: the per-cluster agent. Parses the configuration and runs deployd::agent::Agent until
// SIGINT/SIGTERM (exit 0). Fatal configuration errors exit 1.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <thread>

#include <CLI/CLI.hpp>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include "common/config.hpp"
#include "common/error.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "common/tracing.hpp"
#include "deployd/config.hpp"

int main(int argc, char** argv) {
  // Signals are taken by sigwait in this thread only; block them first thing, before any thread
  // starts (a SIGTERM while deployd starts up then still ends it cleanly).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const auto startup_time = std::chrono::system_clock::now();
  // Before any message is parsed: manifests nested as deep as hookd accepts must be readable here.
  common::InstallProtobufLimits();
  // A fixed set of threads whatever the load (the engine's --threads, the hookd receiver, gRPC's
  // own); two malloc arenas keep RSS close to what is in use.
  mallopt(M_ARENA_MAX, 2);
  CLI::App app{"deployd: applies deployments from hookd to this Kubernetes cluster"};
  common::LayeredConfig config(deployd::Settings());
  config.Bind(app);
  std::string config_file;
  app.add_option("--config", config_file,
                 "Configuration file (default ./deployd.yaml or /etc/deployd.yaml)");
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<deployd::agent::Agent> agent;
  try {
    config.Resolve(common::ProcessEnv(), deployd::FindConfigFile(config_file));
    common::SetupLogging(config.Get("log-format"), config.Get("log-level"), "deployd");
    spdlog::info("deployd starting with configuration: {}", config.Describe());
    if (const auto endpoint = config.Get("otel-exporter-otlp-endpoint"); !endpoint.empty()) {
      common::TracerOptions tracing;
      tracing.endpoint = endpoint;
      tracing.service_name = "deployd";
      common::SetGlobalTracer(std::make_unique<common::Tracer>(std::move(tracing)));
      spdlog::info("exporting traces over OTLP/HTTP to {}", endpoint);
    }
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
    // The hookd receiver: one thread for the process's life. Nothing throws past it: an
    // unexpected error is fatal with a message, as a configuration error is.
    receiver = std::thread([&agent] {
      try {
        agent->Run();
      } catch (const std::exception& e) {
        spdlog::critical("hookd receiver: {}", e.what());
        std::fprintf(stderr, "Fatal error: hookd receiver: %s\n", e.what());
        std::_Exit(1);
      }
    });
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
  common::SetGlobalTracer(nullptr);  // exports the spans still queued
  spdlog::info("deployd stopped");
  return 0;
}
