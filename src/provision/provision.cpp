#include "provision/provision.hpp"

#include <array>
#include <chrono>
#include <exception>

#include <boost/beast/http/status.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/strings.hpp"
#include "deploy-cli/config.hpp"
#include "deploy-cli/log.hpp"

namespace provision {
namespace {

using nlohmann::json;

struct FlagSpec {
  const char* name;
  const char* env;
  bool boolean;
  std::string Options::*text;
  bool Options::*flag;
};

const std::array<FlagSpec, 4> kFlags{{
    {"rotate", "PROVISION_ROTATE", true, nullptr, &Options::rotate},
    {"secret", "PROVISION_SECRET", false, &Options::secret, nullptr},
    {"server", "PROVISION_SERVER", false, &Options::server, nullptr},
    {"team", "PROVISION_TEAM", false, &Options::team, nullptr},
}};

const FlagSpec* FindFlag(std::string_view name) {
  for (const auto& flag : kFlags) {
    if (name == flag.name) return &flag;
  }
  return nullptr;
}

// "http(s)://host[:port]" of --server; the path (if any) is dropped, as the original replaced
// it. nullopt when the URL has no http(s) scheme or no host.
std::optional<std::string> Origin(const std::string& server) {
  std::string_view rest = server;
  std::string scheme;
  for (const char* s : {"http://", "https://"}) {
    if (rest.rfind(s, 0) == 0) {
      scheme = s;
      rest.remove_prefix(scheme.size());
      break;
    }
  }
  if (scheme.empty()) return std::nullopt;
  const auto end = rest.find_first_of("/?#");
  const std::string_view host = rest.substr(0, end);
  if (host.empty()) return std::nullopt;
  for (const char c : host) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  }
  return scheme + std::string(host);
}

std::string StatusLine(int code) {
  const auto reason = boost::beast::http::obsolete_reason(
      static_cast<boost::beast::http::status>(static_cast<unsigned>(code)));
  if (reason == "<unknown-status>") return std::to_string(code);
  return fmt::format("{} {}", code, std::string_view(reason.data(), reason.size()));
}

}  // namespace

std::string Usage() {
  return R"(provision provisions team API keys.

Usage: provision --team TEAM --secret KEY [--server URL] [--rotate]

Asks hookd for the deploy API key of a team: POST <server>/internal/api/v1/provision, signed
with the pre-shared provision key that hookd was started with (hookd --provision-key). A team
without a valid key gets a new one; a team with one gets its valid keys back, unless --rotate
asks for a new key (which ends every older key of the team at once).

The API keys are printed on standard output, one per line; messages go to standard error.

Flags:
      --rotate          Rotate API key if it already exists. (env PROVISION_ROTATE)
      --secret string   Pre-shared secret: hookd's provision key (hex). (env PROVISION_SECRET)
      --server string   URL to API server (hookd's HTTP address). (env PROVISION_SERVER) (default "http://localhost:8080")
      --team string     Provision API key for this team. (env PROVISION_TEAM)
  -h, --help            Show this help.

A flag on the command line wins over the environment.
Exit codes: 0 key provisioned or returned, 1 failure, 2 invalid command line.
)";
}

ParseResult ParseCommandLine(const std::vector<std::string>& args, const EnvLookup& env) {
  ParseResult result;
  Options& options = result.options;
  for (const auto& flag : kFlags) {
    const auto value = env ? env(flag.env) : std::nullopt;
    if (!value || value->empty()) continue;
    if (flag.boolean) {
      if (auto b = deploy_cli::ParseGoBool(*value)) options.*flag.flag = *b;
    } else {
      options.*flag.text = *value;
    }
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help" || arg == "-help") {
      result.help = true;
      continue;
    }
    if (arg.size() < 3 || arg[0] != '-' || arg[1] != '-') {
      result.error = arg.size() >= 2 && arg[0] == '-' && arg[1] != '-'
                         ? fmt::format("unknown shorthand flag: '{}' in {}", arg[1], arg)
                         : fmt::format("unexpected argument \"{}\"", arg);
      return result;
    }
    const auto argument = deploy_cli::ReadFlagArgument(
        args, i,
        [](std::string_view name) -> std::optional<bool> {
          const FlagSpec* found = FindFlag(name);
          if (found == nullptr) return std::nullopt;
          return found->boolean;
        },
        result.error);
    if (!argument) return result;
    const FlagSpec* flag = FindFlag(argument->name);
    if (flag->boolean) {
      auto b = deploy_cli::ParseGoBool(argument->value);
      if (!b) {
        result.error = deploy_cli::InvalidBoolFlag(argument->value, flag->name);
        return result;
      }
      options.*flag->flag = *b;
    } else {
      options.*flag->text = argument->value;
    }
  }
  return result;
}

std::string Payload(const std::string& team, bool rotate, std::int64_t timestamp) {
  // Same field order and layout as the original's json.Encoder with SetIndent("", "  ").
  return "{\n  \"team\": " + json(team).dump(-1, ' ', false, json::error_handler_t::replace) +
         ",\n  \"rotate\": " + (rotate ? "true" : "false") +
         ",\n  \"timestamp\": " + std::to_string(timestamp) + "\n}\n";
}

int Run(const Options& options, const Ports& ports) {
  deploy_cli::Logger log(ports.err, ports.clock);
  const auto fail = [&log](const std::string& message) {
    log.Error("fatal: " + message);
    return static_cast<int>(ExitCode::kFailure);
  };

  const auto origin = Origin(options.server);
  if (!origin) {
    return fail("wrong format of base URL: \"" + options.server +
                "\": want http://host[:port] or https://host[:port]");
  }
  // Ours: the original sent these on and let hookd refuse them (400 no team / 403).
  if (options.team.empty()) return fail("no team specified (--team or PROVISION_TEAM)");
  if (options.secret.empty()) {
    return fail("no pre-shared secret specified (--secret or PROVISION_SECRET)");
  }
  std::string hex_error;
  const auto key = deploy_cli::GoHexDecode(options.secret, &hex_error);
  if (!key) return fail("pre-shared secret must be a hex encoded string: " + hex_error);

  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(ports.clock.Now().time_since_epoch())
          .count();
  common::HttpRequest request;
  request.method = "POST";
  request.target = kProvisionPath;
  request.body = Payload(options.team, options.rotate, static_cast<std::int64_t>(now));
  request.headers = {
      {"Content-Type", "application/json"},
      {"X-NAIS-Signature", common::HexEncode(common::HmacSha256(*key, request.body))},
  };

  const std::string url = *origin + kProvisionPath;
  log.Info("Submitting provision request to " + url + "...");
  common::HttpResponse response;
  try {
    response = ports.send(*origin, request);
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  std::string message;
  std::vector<std::string> keys;
  try {
    const json body = json::parse(response.body);
    if (!body.is_object()) throw std::runtime_error("not an object");
    if (body.contains("message") && body["message"].is_string()) {
      message = body["message"].get<std::string>();
    }
    if (body.contains("apiKeys") && body["apiKeys"].is_array()) {
      for (const auto& k : body["apiKeys"]) {
        if (k.is_string()) keys.push_back(k.get<std::string>());
      }
    }
  } catch (const std::exception&) {
    message = common::Trim(response.body, "\r\n");  // not JSON: the body is the message
  }

  const std::string line = StatusLine(response.status) + ": " + message;
  if (response.status >= 400) {
    log.Error(line);
    return static_cast<int>(ExitCode::kFailure);
  }
  log.Info(line);
  for (const auto& k : keys) ports.out << k << '\n';
  ports.out.flush();
  return static_cast<int>(ExitCode::kSuccess);
}

int RunCommandLine(const std::vector<std::string>& args, const Ports& ports) {
  auto parsed = ParseCommandLine(args, ports.env);
  if (parsed.help) {
    ports.out << Usage();
    return static_cast<int>(ExitCode::kSuccess);
  }
  if (!parsed.error.empty()) {
    ports.err << parsed.error << "\n\n" << Usage();
    return static_cast<int>(ExitCode::kUsage);
  }
  return Run(parsed.options, ports);
}

common::HttpResponse SendWithHttpClient(const std::string& base_url,
                                        const common::HttpRequest& request) {
  common::HttpClientOptions options;
  options.base_url = base_url;
  options.user_agent = "provision";
  options.max_idle_connections = 0;
  options.max_response_body = std::size_t{1} << 20;  // a few keys and a message
  common::HttpClient client(options);
  return client.Send(request);
}

}  // namespace provision
