#pragma once
// provision: the original's tool that provisions a team's deploy API key through hookd's
// POST /internal/api/v1/provision, signed (X-NAIS-Signature, HMAC-SHA256 of the body) with the
// pre-shared provision key that hookd has as --provision-key.
//
// The work is a function of parsed options and ports (clock, environment, HTTP, streams), so the
// tests can drive it; main.cpp only wires the real ports.
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/http_client.hpp"
#include "common/time.hpp"

namespace provision {

// Exit codes: the original's 0 and 1, and 2 for a command line that cannot be parsed (Go's
// flag package exits 2 on usage errors).
enum class ExitCode : int { kSuccess = 0, kFailure = 1, kUsage = 2 };

// The path the request goes to; any path of --server is replaced by it, as in the original.
inline constexpr const char* kProvisionPath = "/internal/api/v1/provision";
inline constexpr const char* kDefaultServer = "http://localhost:8080";

struct Options {
  std::string server = kDefaultServer;  // --server / PROVISION_SERVER
  bool rotate = false;                  // --rotate / PROVISION_ROTATE
  std::string secret;                   // --secret / PROVISION_SECRET (hex)
  std::string team;                     // --team / PROVISION_TEAM
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
// Sends one request to `base_url` ("http(s)://host:port"); throws common::Error on transport
// failures, as common::HttpClient does.
using HttpSend =
    std::function<common::HttpResponse(const std::string& base_url, const common::HttpRequest&)>;

struct Ports {
  const common::Clock& clock;
  EnvLookup env;
  HttpSend send;
  std::ostream& out;  // the API keys, one per line
  std::ostream& err;  // log lines (logrus text format, as the original)
};

struct ParseResult {
  Options options;
  bool help = false;
  std::string error;  // non-empty: usage error (exit 2)
};

// Flags (--flag value, --flag=value; booleans also bare) over PROVISION_* variables over
// defaults. Invalid boolean variables are ignored, as the deploy CLI does.
ParseResult ParseCommandLine(const std::vector<std::string>& args, const EnvLookup& env);
std::string Usage();

// The JSON body the original sends: json.Encoder with two-space indent and a final newline.
std::string Payload(const std::string& team, bool rotate, std::int64_t timestamp);

// Signs and sends the request, logs `<code> <reason>: <message>`, prints the returned keys.
int Run(const Options& options, const Ports& ports);
// Parses and runs; --help prints Usage() on `out` (exit 0), usage errors go to `err` (exit 2).
int RunCommandLine(const std::vector<std::string>& args, const Ports& ports);

// The real HttpSend: one common::HttpClient per call (system CAs for https).
common::HttpResponse SendWithHttpClient(const std::string& base_url,
                                        const common::HttpRequest& request);

}  // namespace provision
