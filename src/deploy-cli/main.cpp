// deploy: the NAIS deploy CLI for CI pipelines. Only wires the real ports; see run.hpp.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "common/limits.hpp"
#include "common/time.hpp"
#include "deploy-cli/run.hpp"
#include "deploy-cli/transport/grpc_transport.hpp"

int main(int argc, char** argv) {
  common::InstallProtobufLimits();
  std::vector<std::string> args(argv + 1, argv + argc);
  common::SystemClock clock;
  deploy_cli::RealSleeper sleeper;
  const deploy_cli::Ports ports{
      clock,
      sleeper,
      [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
        if (value == nullptr) return std::nullopt;
        return std::string(value);
      },
      &deploy_cli::MakeTransport,
      std::cout,
      std::cerr,
      isatty(STDERR_FILENO) == 1,
  };
  return deploy_cli::RunCommandLine(args, ports);
}
