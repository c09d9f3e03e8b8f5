// provision: provisions a team's deploy API key through hookd. Only wires the real ports; see
// provision.hpp.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "provision/provision.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  const common::SystemClock clock;
  const provision::Ports ports{
      clock,
      [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
        if (value == nullptr) return std::nullopt;
        return std::string(value);
      },
      &provision::SendWithHttpClient,
      std::cout,
      std::cerr,
  };
  return provision::RunCommandLine(args, ports);
}
