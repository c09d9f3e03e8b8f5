#pragma once
#include <chrono>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"
#include "deploy-cli/config.hpp"
#include "deploy-cli/transport/transport.hpp"

namespace deploy_cli {

class Sleeper {
 public:
  virtual ~Sleeper() = default;
  virtual void Sleep(std::chrono::nanoseconds duration) = 0;
};

class RealSleeper final : public Sleeper {
 public:
  void Sleep(std::chrono::nanoseconds duration) override;
};

// Everything the CLI touches outside itself.
struct Ports {
  const common::Clock& clock;
  Sleeper& sleeper;
  EnvLookup env;
  TransportFactory transport_factory;
  std::ostream& out;             // --print-payload, --output json
  std::ostream& err;             // log lines
  bool err_is_terminal = false;  // live progress output instead of log lines
};

// Runs one deployment with parsed options; returns the process exit code. Never
// throws: failures end with the `fatal: <message>` log line (preceded by the usage text for
// exit 6).
int Run(Options options, const Ports& ports);

// The transport settings a deployment and a cancellation share: server, TLS, authentication,
// team, clock, and credentials (the GitHub token when authentication is on and one is configured,
// else the API key). An API key that is not hex fails with exit 1 when `key_required`, and is
// left out otherwise.
TransportConfig MakeTransportConfig(const Options& options, const Ports& ports, bool key_required);

// Parses args (without argv[0]) with the environment of `ports`, handles --help and usage
// errors (exit 6, or 0 for help), then calls Run.
int RunCommandLine(const std::vector<std::string>& args, const Ports& ports);

// Prefix of the status messages of a plan (one per resource, and the final summary).
inline constexpr std::string_view kPlanPrefix = "plan: ";
// Whether a plan's final summary ("plan: 2 created, 1 changed, 0 unchanged, 0 refused[, 0
// pruned]") counts anything created, changed or pruned.
bool PlanHasChanges(std::string_view summary);

// Go's time.Time.String() in local time: "2006-01-02 15:04:05.999999999 -0700 MST".
std::string GoTimeString(common::SystemTime t, bool with_fraction = true);

}  // namespace deploy_cli
