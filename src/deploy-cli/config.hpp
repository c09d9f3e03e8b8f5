#pragma once
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace deploy_cli {

// Environment lookup; nullopt = not set (set-but-empty is a value, as Go's os.LookupEnv).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Built-in defaults; the organisation-specific ones are build-time options (CMake cache
// variables DEPLOY_DEFAULT_*), see the README.
std::string DefaultDeployServer();
std::string DefaultOwner();
std::string DefaultOtelCollector();
std::string DefaultTracingDashboard();
// "<date>-<revision>", the value of the deploy.nais.io/client-version annotation.
std::string Version();

inline constexpr std::chrono::seconds kRetryInterval{5};

// Every flag of the original CLI (plus our additions at the end).
struct Options {
  std::string apikey;
  bool actions = false;
  std::string cluster;
  std::string deploy_server = DefaultDeployServer();
  bool dry_run = false;
  std::string environment;
  std::string github_token_url;
  std::string github_bearer_token;
  bool grpc_authentication = true;
  bool grpc_use_tls = true;
  std::string otel_collector_endpoint = DefaultOtelCollector();
  std::string owner = DefaultOwner();
  bool print_payload = false;
  bool quiet = false;
  std::string repository;
  std::vector<std::string> resources;
  bool retry = true;
  std::string team;
  std::string traceparent;
  std::chrono::nanoseconds timeout = std::chrono::minutes(10);
  std::string tracing_dashboard_url = DefaultTracingDashboard();
  std::vector<std::string> vars;  // --var KEY=VALUE or KEY
  std::string vars_file;          // --vars
  bool wait = false;
  std::string workload_image;
  std::string workload_name;
  // Additions (not in the original).
  std::string output = "text";  // text | json
  bool strict_vars = false;     // missing template variables are errors
  // Largest deployment request sent (bytes, or with a unit: common::ParseMaxMessageSize); also
  // the gRPC channel's limits. Checked in Validate.
  std::string max_message_size = "32MiB";
  // Names the logical deployment request for hookd (a retry sends it again, and hookd answers
  // with the deployment the first attempt created). Empty: a new random key for this run.
  std::string idempotency_key;
  // Plan: a server-side dry run of every resource; the plan is printed and nothing is changed.
  bool plan = false;
  // With plan: exit 10 (ExitCode::kPlanHasChanges) when the plan creates, changes or prunes.
  bool detailed_exitcode = false;
  // Prune: delete what an earlier deployment of the same ApplySet applied and this one lacks.
  bool prune = false;
  // The ApplySet's name (its parent Secret); empty: derived from team, repository, environment.
  std::string applyset;
};

// What an idempotency key may be (hookd's rule): 1 to 128 characters of letters, digits, '-',
// '_', '.' and ':'.
bool ValidIdempotencyKey(std::string_view key);

struct ParseResult {
  Options options;
  bool help = false;                    // -h / --help given
  std::string error;                    // non-empty: a usage error (pflag wording)
  std::vector<std::string> positional;  // arguments that are not flags (ignored, warned)
};

// Parses the command line (without argv[0]) the way spf13/pflag does, on top of defaults taken
// from the environment (flag > environment > built-in default):
//   --name=value, --name value, boolean --name / --name=false, `--` ends flags, lists may be
//   repeated and are comma-split; the first command-line use of a list replaces the env value.
// Environment: booleans via Go strconv.ParseBool (invalid -> default), durations via Go syntax
// (invalid -> default), lists split on ',' with parts trimmed (empty parts dropped).
// Afterwards: if owner or repository is empty, both are cleared.
ParseResult ParseCommandLine(const std::vector<std::string>& args, const EnvLookup& env);

// Help text: one line per flag with its environment variable and default.
std::string Usage();

// Go strconv.ParseBool: 1 t T TRUE true True 0 f F FALSE false False.
std::optional<bool> ParseGoBool(std::string_view text);
// pflag's error for a boolean flag's value that ParseGoBool refuses.
std::string InvalidBoolFlag(std::string_view value, std::string_view flag);

// One flag on a command line as pflag reads it (the deploy CLI's and provision's): `--name=value`,
// `--name value`, or a boolean's bare `--name` (value "true").
struct FlagArgument {
  std::string name;
  std::string value;
};
// Whether a flag of that name exists (nullopt: unknown) and whether it is a boolean.
using FlagKind = std::function<std::optional<bool>(std::string_view name)>;
// Reads the flag at args[i], which starts with "--"; `i` moves past a separate value. On an
// unknown flag or a missing value, pflag's error message goes to `error` and nullopt comes back.
std::optional<FlagArgument> ReadFlagArgument(const std::vector<std::string>& args, std::size_t& i,
                                             const FlagKind& kind, std::string& error);

// Spec 5.2; the first failing rule's message, or nullopt.
std::optional<std::string> Validate(const Options& options);

// Go encoding/hex.DecodeString with its error texts ("encoding/hex: odd length hex string",
// "encoding/hex: invalid byte: U+006D 'm'"). Returns the bytes or sets `error`.
std::optional<std::string> GoHexDecode(std::string_view text, std::string* error);

}  // namespace deploy_cli
