#include "deploy-cli/config.hpp"

#include <algorithm>
#include <variant>

#include <fmt/format.h>

#include "common/applyset.hpp"
#include "common/error.hpp"
#include "common/message_size.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"

#ifndef DEPLOY_DEFAULT_SERVER
#define DEPLOY_DEFAULT_SERVER "localhost:9090"
#endif
#ifndef DEPLOY_DEFAULT_OWNER
#define DEPLOY_DEFAULT_OWNER ""
#endif
#ifndef DEPLOY_DEFAULT_OTEL_COLLECTOR
#define DEPLOY_DEFAULT_OTEL_COLLECTOR ""
#endif
#ifndef DEPLOY_DEFAULT_TRACING_DASHBOARD
#define DEPLOY_DEFAULT_TRACING_DASHBOARD ""
#endif
#ifndef DEPLOY_VERSION
#define DEPLOY_VERSION "unknown-unknown"
#endif

namespace deploy_cli {

std::string DefaultDeployServer() { return DEPLOY_DEFAULT_SERVER; }
std::string DefaultOwner() { return DEPLOY_DEFAULT_OWNER; }
std::string DefaultOtelCollector() { return DEPLOY_DEFAULT_OTEL_COLLECTOR; }
std::string DefaultTracingDashboard() { return DEPLOY_DEFAULT_TRACING_DASHBOARD; }
std::string Version() { return DEPLOY_VERSION; }

namespace {

using Member =
    std::variant<std::string Options::*, bool Options::*, std::chrono::nanoseconds Options::*,
                 std::vector<std::string> Options::*>;

// A flag --<name>, also read from the environment variable named like it in upper case with '_'
// for '-' (--deploy-server: DEPLOY_SERVER).
struct Flag {
  std::string_view name;
  Member member;
  std::string_view help;
  std::string Env() const {
    std::string env(name);
    for (char& c : env) c = c == '-' ? '_' : static_cast<char>(c - 'a' + 'A');
    return env;
  }
};

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> flags = {
      {"actions", &Options::actions, "Use GitHub Actions compatible error and warning messages."},
      {"apikey", &Options::apikey, "NAIS Deploy API key (hex)."},
      {"applyset", &Options::applyset,
       "With --prune: name of the ApplySet (its parent Secret in the team's namespace) (default: "
       "derived from team, repository and environment)."},
      {"cluster", &Options::cluster, "NAIS cluster to deploy into."},
      {"deploy-server", &Options::deploy_server,
       "gRPC server host:port, or http(s)://host:port for the HTTP API."},
      {"detailed-exitcode", &Options::detailed_exitcode,
       "With --plan: exit 10 when the plan has changes (created, changed or pruned resources), 0 "
       "when it has none."},
      {"dry-run", &Options::dry_run, "Run templating, but don't actually make any requests."},
      {"environment", &Options::environment,
       "Environment for GitHub deployment. Autodetected from nais.yaml if not specified."},
      {"github-bearer-token", &Options::github_bearer_token,
       "Bearer token for the GitHub OIDC token request URL."},
      {"github-token-url", &Options::github_token_url, "GitHub OIDC token request URL."},
      {"grpc-authentication", &Options::grpc_authentication,
       "Use team API key (or GitHub token) to authenticate requests."},
      {"grpc-use-tls", &Options::grpc_use_tls, "Use encrypted connection for gRPC calls."},
      {"idempotency-key", &Options::idempotency_key,
       "Name of this deployment request: a request with a key hookd has seen for the team (a "
       "retry) is answered with the deployment it created instead of a new one (default: a "
       "random key per run, reused by its own retries)."},
      {"max-message-size", &Options::max_message_size,
       "Largest deployment request to send (bytes, or with a unit such as 32MiB); hookd and "
       "deployd have the same setting."},
      {"otel-collector-endpoint", &Options::otel_collector_endpoint,
       "OpenTelemetry collector endpoint."},
      {"output", &Options::output,
       "Output format: text (log lines) or json (one JSON object per status on stdout)."},
      {"owner", &Options::owner, "Owner of GitHub repository."},
      {"plan", &Options::plan,
       "Show what the deployment would change (a server-side dry run as the team) without "
       "changing anything; implies --wait."},
      {"print-payload", &Options::print_payload, "Print templated resources to standard output."},
      {"prune", &Options::prune,
       "Delete resources that an earlier deployment of the same ApplySet applied and this one "
       "no longer contains (kubectl's ApplySet labels and annotations)."},
      {"quiet", &Options::quiet, "Suppress printing of informational messages except errors."},
      {"repository", &Options::repository, "Name of GitHub repository."},
      {"resource", &Options::resources,
       "File with Kubernetes resource. Can be specified multiple times."},
      {"retry", &Options::retry, "Retry deploy when encountering transient errors."},
      {"strict-vars", &Options::strict_vars,
       "Fail when a template refers to a variable that is not defined."},
      {"team", &Options::team,
       "Team making the deployment. Auto-detected from nais.yaml if possible."},
      {"timeout", &Options::timeout, "Time to wait for successful deployment."},
      {"traceparent", &Options::traceparent,
       "The W3C Trace Context traceparent value for the workflow run."},
      {"tracing-dashboard-url", &Options::tracing_dashboard_url,
       "Base URL to the tracing dashboard onto which the trace ID can be appended."},
      {"var", &Options::vars,
       "Template variable in the form KEY=VALUE. Can be specified multiple times."},
      {"vars", &Options::vars_file, "File containing template variables."},
      {"wait", &Options::wait,
       "Block until deployment reaches final state (success, failure, error)."},
      {"workload-image", &Options::workload_image, "Use this image in a companion Image resource."},
      {"workload-name", &Options::workload_name, "Name of workload if no resource specified."},
  };
  return flags;
}

std::vector<std::string> SplitComma(std::string_view s, bool trim) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto pos = s.find(',', start);
    auto part =
        s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
    std::string value = trim ? common::Trim(part) : std::string(part);
    if (!value.empty()) parts.push_back(std::move(value));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

// Go's strconv.Quote, as pflag's %q prints a flag value in its errors.
std::string GoQuote(std::string_view s) {
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // A valid UTF-8 sequence is printed as is, a stray byte as \xNN.
      const std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      bool valid = len > 0 && i + len <= s.size();
      for (std::size_t k = 1; valid && k < len; ++k) {
        valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
      }
      if (valid) {
        out.append(s.substr(i, len));
        i += len - 1;
      } else {
        out += fmt::format("\\x{:02x}", c);
      }
    }
  }
  return out + "\"";
}

// A list flag's value as pflag's StringSlice reads it: the first record of encoding/csv (quotes
// group commas, "" is a quote inside quotes, empty fields are kept, "" alone is no element).
// Returns the fields, or nullopt with Go's csv error in `error`.
std::optional<std::vector<std::string>> ReadCsvRecord(std::string_view input, std::string* error) {
  if (input.empty()) return std::vector<std::string>{};
  std::size_t offset = 0;
  int line_number = 0;
  // csv.Reader.readLine: a line with its '\n'; "\r\n" becomes "\n"; a '\r' before EOF dropped.
  auto read_line = [&](bool& eof) {
    std::string line;
    const auto nl = input.find('\n', offset);
    const std::size_t end = nl == std::string_view::npos ? input.size() : nl + 1;
    line = std::string(input.substr(offset, end - offset));
    eof = line.empty();
    offset = end;
    ++line_number;
    if (nl == std::string_view::npos && !line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() >= 2 && line[line.size() - 2] == '\r' && line.back() == '\n') {
      line.erase(line.size() - 2, 1);
    }
    return line;
  };
  auto length_nl = [](std::string_view l) -> std::size_t {
    return !l.empty() && l.back() == '\n' ? 1 : 0;
  };
  std::string line;
  bool eof = false;
  for (;;) {  // skip empty lines
    line = read_line(eof);
    if (eof) {
      if (error) *error = "EOF";
      return std::nullopt;
    }
    if (line.size() != length_nl(line)) break;
  }
  auto parse_error = [&](int start_line, int at_line, std::size_t column, const char* what) {
    if (error) {
      *error = start_line != at_line
                   ? fmt::format("record on line {}; parse error on line {}, column {}: {}",
                                 start_line, at_line, column, what)
                   : fmt::format("parse error on line {}, column {}: {}", at_line, column, what);
    }
    return std::nullopt;
  };
  static constexpr const char* kBareQuote = "bare \" in non-quoted-field";
  static constexpr const char* kQuote = "extraneous or missing \" in quoted-field";
  const int record_line = line_number;
  int pos_line = line_number;
  std::size_t col = 1;
  std::vector<std::string> fields;
  std::string_view rest = line;
  // The continuation line `rest` looks at once a quoted field spans lines; it lives as long as the
  // record, since the fields after that quoted field are read from it too.
  std::string storage;
  for (;;) {
    if (rest.empty() || rest.front() != '"') {
      const auto comma = rest.find(',');
      std::string_view field = rest.substr(0, comma);
      if (comma == std::string_view::npos) field.remove_suffix(length_nl(field));
      if (const auto quote = field.find('"'); quote != std::string_view::npos) {
        return parse_error(record_line, line_number, col + quote, kBareQuote);
      }
      fields.emplace_back(field);
      if (comma == std::string_view::npos) return fields;
      rest.remove_prefix(comma + 1);
      col += comma + 1;
      continue;
    }
    // Quoted field: may continue over following lines.
    std::string field;
    rest.remove_prefix(1);
    col += 1;
    for (;;) {
      const auto quote = rest.find('"');
      if (quote != std::string_view::npos) {
        field.append(rest.substr(0, quote));
        rest.remove_prefix(quote + 1);
        col += quote + 1;
        if (!rest.empty() && rest.front() == '"') {
          field += '"';
          rest.remove_prefix(1);
          col += 1;
        } else if (!rest.empty() && rest.front() == ',') {
          rest.remove_prefix(1);
          col += 1;
          fields.push_back(std::move(field));
          break;
        } else if (length_nl(rest) == rest.size()) {
          fields.push_back(std::move(field));
          return fields;
        } else {
          return parse_error(record_line, line_number, col - 1, kQuote);
        }
      } else if (!rest.empty()) {
        field.append(rest);
        col += rest.size();
        storage = read_line(eof);
        rest = storage;
        if (!rest.empty()) {
          ++pos_line;
          col = 1;
        }
      } else {
        return parse_error(record_line, pos_line, col, kQuote);
      }
    }
  }
}

const Flag* FindFlag(std::string_view name) {
  for (const auto& flag : Flags()) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

void ApplyEnv(Options& options, const Flag& flag, const std::string& value) {
  std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(options.*member)>;
        if constexpr (std::is_same_v<T, std::string>) {
          options.*member = value;
        } else if constexpr (std::is_same_v<T, bool>) {
          if (auto b = ParseGoBool(value)) options.*member = *b;
        } else if constexpr (std::is_same_v<T, std::chrono::nanoseconds>) {
          if (auto d = common::ParseGoDuration(value)) options.*member = *d;
        } else {
          options.*member = SplitComma(value, true);
        }
      },
      flag.member);
}

std::string TypeName(const Flag& flag) {
  return std::visit(
      [](auto member) -> std::string {
        using T = std::remove_reference_t<decltype(Options{}.*member)>;
        if constexpr (std::is_same_v<T, std::string>) return "string";
        if constexpr (std::is_same_v<T, bool>) return "";
        if constexpr (std::is_same_v<T, std::chrono::nanoseconds>) return "duration";
        return "strings";
      },
      flag.member);
}

std::string DefaultText(const Flag& flag) {
  const Options defaults;
  return std::visit(
      [&](auto member) -> std::string {
        using T = std::remove_cvref_t<decltype(defaults.*member)>;
        const auto& value = defaults.*member;
        if constexpr (std::is_same_v<T, std::string>) {
          return value.empty() ? "" : fmt::format("\"{}\"", value);
        } else if constexpr (std::is_same_v<T, bool>) {
          return value ? "true" : "";
        } else if constexpr (std::is_same_v<T, std::chrono::nanoseconds>) {
          return common::FormatGoDuration(value);
        } else {
          return "";
        }
      },
      flag.member);
}

}  // namespace

std::optional<bool> ParseGoBool(std::string_view text) {
  static constexpr std::string_view kTrue[] = {"1", "t", "T", "TRUE", "true", "True"};
  static constexpr std::string_view kFalse[] = {"0", "f", "F", "FALSE", "false", "False"};
  if (std::find(std::begin(kTrue), std::end(kTrue), text) != std::end(kTrue)) return true;
  if (std::find(std::begin(kFalse), std::end(kFalse), text) != std::end(kFalse)) return false;
  return std::nullopt;
}

std::string InvalidBoolFlag(std::string_view value, std::string_view flag) {
  return fmt::format(
      "invalid argument \"{}\" for \"--{}\" flag: strconv.ParseBool: parsing \"{}\": invalid "
      "syntax",
      value, flag, value);
}

std::optional<FlagArgument> ReadFlagArgument(const std::vector<std::string>& args, std::size_t& i,
                                             const FlagKind& kind, std::string& error) {
  std::string_view body = std::string_view(args[i]).substr(2);
  std::optional<std::string> inline_value;
  if (const auto eq = body.find('='); eq != std::string_view::npos) {
    inline_value = std::string(body.substr(eq + 1));
    body = body.substr(0, eq);
  }
  const std::optional<bool> boolean = kind(body);
  if (!boolean) {
    error = fmt::format("unknown flag: --{}", body);
    return std::nullopt;
  }
  FlagArgument argument{std::string(body), ""};
  if (inline_value) {
    argument.value = std::move(*inline_value);
  } else if (*boolean) {
    argument.value = "true";
  } else if (i + 1 < args.size()) {
    argument.value = args[++i];
  } else {
    error = fmt::format("flag needs an argument: --{}", body);
    return std::nullopt;
  }
  return argument;
}

ParseResult ParseCommandLine(const std::vector<std::string>& args, const EnvLookup& env) {
  ParseResult result;
  Options& options = result.options;
  for (const auto& flag : Flags()) {
    if (auto value = env(flag.Env())) ApplyEnv(options, flag, *value);
  }

  std::vector<std::string_view> lists_seen;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      result.positional.insert(result.positional.end(), args.begin() + static_cast<long>(i) + 1,
                               args.end());
      break;
    }
    if (arg == "-h" || arg == "--help" || arg == "-help") {
      result.help = true;
      continue;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      result.positional.push_back(arg);
      continue;
    }
    if (arg[1] != '-') {
      result.error = fmt::format("unknown shorthand flag: '{}' in {}", arg[1], arg);
      return result;
    }
    const auto argument = ReadFlagArgument(
        args, i,
        [](std::string_view name) -> std::optional<bool> {
          const Flag* found = FindFlag(name);
          if (found == nullptr) return std::nullopt;
          return std::holds_alternative<bool Options::*>(found->member);
        },
        result.error);
    if (!argument) return result;
    const Flag* flag = FindFlag(argument->name);
    const std::string& value = argument->value;
    std::visit(
        [&](auto member) {
          using T = std::remove_reference_t<decltype(options.*member)>;
          if constexpr (std::is_same_v<T, std::string>) {
            options.*member = value;
          } else if constexpr (std::is_same_v<T, bool>) {
            if (auto b = ParseGoBool(value)) {
              options.*member = *b;
            } else {
              result.error = InvalidBoolFlag(value, flag->name);
            }
          } else if constexpr (std::is_same_v<T, std::chrono::nanoseconds>) {
            if (auto d = common::ParseGoDuration(value)) {
              options.*member = *d;
            } else {
              result.error = fmt::format(
                  "invalid argument \"{}\" for \"--{}\" flag: time: invalid duration "
                  "\"{}\"",
                  value, flag->name, value);
            }
          } else {
            auto& list = options.*member;
            if (std::find(lists_seen.begin(), lists_seen.end(), flag->name) == lists_seen.end()) {
              lists_seen.push_back(flag->name);
              list.clear();
            }
            std::string csv_error;
            auto parts = ReadCsvRecord(value, &csv_error);
            if (!parts) {
              result.error = fmt::format("invalid argument {} for \"--{}\" flag: {}",
                                         GoQuote(value), flag->name, csv_error);
              return;
            }
            for (auto& part : *parts) list.push_back(std::move(part));
          }
        },
        flag->member);
    if (!result.error.empty()) return result;
  }

  if (options.owner.empty() || options.repository.empty()) {
    options.owner.clear();
    options.repository.clear();
  }
  return result;
}

std::string Usage() {
  std::string out =
      "deploy prepares and submits Kubernetes resources to a NAIS cluster.\n\n"
      "Usage: deploy [flags]\n\n"
      "Every flag can also be given as an environment variable (shown in parentheses);\n"
      "a flag on the command line wins over the environment.\n\n"
      "Flags:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  std::size_t width = 0;
  for (const auto& flag : Flags()) {
    std::string left = fmt::format("      --{}", flag.name);
    if (auto type = TypeName(flag); !type.empty()) left += " " + type;
    std::string right = fmt::format("{} (env {})", flag.help, flag.Env());
    if (auto def = DefaultText(flag); !def.empty()) right += fmt::format(" (default {})", def);
    width = std::max(width, left.size());
    rows.emplace_back(std::move(left), std::move(right));
  }
  rows.emplace_back("  -h, --help", "Show this help.");
  for (const auto& [left, right] : rows) {
    out += fmt::format("{:<{}}   {}\n", left, width, right);
  }
  out +=
      "\nExit codes: 0 success, 1 deployment failed, 2 deployment error, 3 inactive,\n"
      "4 request rejected, 5 status unavailable, 6 invocation failure, 7 internal error,\n"
      "8 template error, 9 timeout, 10 the plan has changes (--plan --detailed-exitcode).\n"
      "A plan with a refused resource exits 1.\n";
  return out;
}

std::optional<std::string> GoHexDecode(std::string_view text, std::string* error) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  // Go checks the pairs first and reports odd length only when every full pair was valid.
  std::size_t i = 0;
  for (; i + 1 < text.size(); i += 2) {
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    const char bad = hi < 0 ? text[i] : (lo < 0 ? text[i + 1] : '\0');
    if (hi < 0 || lo < 0) {
      if (error) {
        const auto code = static_cast<unsigned char>(bad);
        *error = code >= 0x20 && code < 0x7f
                     ? fmt::format("encoding/hex: invalid byte: U+{:04X} '{}'", code, bad)
                     : fmt::format("encoding/hex: invalid byte: U+{:04X}", code);
      }
      return std::nullopt;
    }
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (i < text.size()) {
    if (nibble(text[i]) < 0) {
      if (error) {
        const auto code = static_cast<unsigned char>(text[i]);
        *error = fmt::format("encoding/hex: invalid byte: U+{:04X} '{}'", code, text[i]);
      }
      return std::nullopt;
    }
    if (error) *error = "encoding/hex: odd length hex string";
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> Validate(const Options& options) {
  if (options.resources.empty() && options.workload_name.empty()) {
    return "at least one Kubernetes resource is required to make sense of the deployment";
  }
  if (!options.workload_name.empty() && options.workload_image.empty()) {
    return "workload-image is required when using workload-name";
  }
  if (options.cluster.empty()) {
    return "cluster required; see reference section in the documentation for available "
           "environments";
  }
  if (options.apikey.empty() &&
      (options.github_token_url.empty() || options.github_bearer_token.empty())) {
    return "Github token or API key required";
  }
  if (!GoHexDecode(options.apikey, nullptr)) return "API key must be a hex encoded string";
  if (options.output != "text" && options.output != "json") {
    return fmt::format("unknown output format \"{}\"; want text or json", options.output);
  }
  try {
    (void)common::ParseMaxMessageSize(options.max_message_size);
  } catch (const common::Error& e) {
    return e.what();
  }
  if (!options.idempotency_key.empty() && !ValidIdempotencyKey(options.idempotency_key)) {
    return "invalid idempotency key: it must be 1 to 128 characters of letters, digits, '-', "
           "'_', '.' and ':'";
  }
  if (options.detailed_exitcode && !options.plan) return "--detailed-exitcode requires --plan";
  if (!options.applyset.empty()) {
    if (!options.prune) return "--applyset requires --prune";
    if (auto problem = common::ApplySetNameProblem(options.applyset)) return *problem;
  }
  return std::nullopt;
}

bool ValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > 128) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
  });
}

}  // namespace deploy_cli
