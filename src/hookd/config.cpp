#include "hookd/config.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/message_size.hpp"
#include "common/names.hpp"
#include "common/time.hpp"

namespace hookd {
namespace {

std::string EnvName(const std::string& key) {
  std::string out = "HOOKD_";
  for (char c : key) {
    if (c == '-' || c == '.') {
      out += '_';
    } else {
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

common::SettingSpec Setting(const std::string& key, const std::string& def, const std::string& help,
                            std::vector<std::string> aliases = {}, bool secret = false,
                            bool boolean = false) {
  common::SettingSpec spec;
  spec.key = key;
  spec.default_value = def;
  spec.help = help;
  spec.env.push_back(EnvName(key));
  for (auto& alias : aliases) spec.env.push_back(std::move(alias));
  spec.secret = secret;
  spec.boolean = boolean;
  return spec;
}

common::SettingSpec Flag(const std::string& key, const std::string& help) {
  return Setting(key, "false", help, {}, false, true);
}

std::map<std::string, std::string> ParsePairs(const std::vector<std::string>& items,
                                              const std::string& what) {
  std::map<std::string, std::string> out;
  for (const auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos) {
      throw common::Error(common::ErrorCode::kInvalidArgument,
                          "unable to parse " + what + ": invalid key-value pair '" + item + "'");
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

constexpr const char* kDefaultEncryptionKey =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::chrono::milliseconds Millis(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

// Precedence of a value's source: flag > environment > config file > default.
int SourceRank(const std::string& source) {
  if (source == "flag" || source == "set") return 3;
  if (source.rfind("env:", 0) == 0) return 2;
  if (source == "file") return 1;
  return 0;
}

// grpc.cli-authentication / grpc.deployd-authentication, or the umbrella grpc-authentication
// when it was given at a higher level than the specific key.
bool AuthenticationSetting(const common::LayeredConfig& s, const std::string& key) {
  const bool umbrella = s.GetBool("grpc-authentication");  // validated even when outranked
  const bool specific = s.GetBool(key);
  return SourceRank(s.Source("grpc-authentication")) > SourceRank(s.Source(key)) ? umbrella
                                                                                 : specific;
}

// A github.<name> setting, also spelt --github-<name> on the command line (the original's README).
common::SettingSpec GithubSetting(common::SettingSpec spec) {
  spec.flag_aliases.push_back("github-" + spec.key.substr(std::string("github.").size()));
  return spec;
}

void BuildGithubConfig(const common::LayeredConfig& s, Config& c) {
  c.github_enabled = s.GetBool("github.enabled");
  c.github_app_id = s.Get("github.app-id");
  c.github_install_id = s.Get("github.install-id");
  c.github_key_file = s.Get("github.key-file");
  c.github_client_id = s.Get("github.client-id");
  c.github_client_secret = s.Get("github.client-secret");
  c.github_api_url = s.Get("github.api-url");
  while (c.github_api_url.size() > 1 && c.github_api_url.back() == '/') c.github_api_url.pop_back();
  c.github_create_timeout = Millis(s.GetDuration("github.create-timeout"));
  if (c.github_create_timeout.count() < 0) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid value \"" + s.Get("github.create-timeout") +
                            "\" for github.create-timeout: want a duration of 0s or more");
  }
  const std::string limit = s.Get("github.queue-limit");
  try {
    std::size_t used = 0;
    const auto value = std::stoull(limit, &used);
    if (used != limit.size() || value == 0) throw std::invalid_argument("bad");
    c.github_queue_limit = static_cast<std::size_t>(value);
  } catch (const std::exception&) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid value \"" + limit +
                            "\" for github.queue-limit: want a positive number of deployments");
  }
  if (!c.github_enabled) return;
  // The original's check and message.
  if (c.github_app_id.empty() || c.github_install_id.empty()) {
    throw common::Error(
        common::ErrorCode::kInvalidArgument,
        "--github-install-id and --github-app-id must be specified when --github-enabled=true");
  }
  auto require_id = [](const std::string& key, const std::string& value) {
    const bool digits =
        value.size() <= 18 && value.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || value.find_first_not_of('0') == std::string::npos) {
      throw common::Error(
          common::ErrorCode::kInvalidArgument,
          "invalid value \"" + value + "\" for " + key + ": want the number GitHub shows for it");
    }
  };
  require_id("github.app-id", c.github_app_id);
  require_id("github.install-id", c.github_install_id);
  if (c.github_key_file.empty()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "--github-key-file must be specified when --github-enabled=true");
  }
  // The installation token travels in every request: TLS, except to a test server on loopback.
  const std::string& url = c.github_api_url;
  const bool https = url.rfind("https://", 0) == 0 && url.size() > 8;
  bool loopback_http = false;
  if (url.rfind("http://", 0) == 0) {
    const std::string rest = url.substr(7);
    loopback_http = !rest.empty() && IsLoopbackAddress(rest.substr(0, rest.find('/')));
  }
  if (!https && !loopback_http) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid github.api-url \"" + url +
                            "\": want an https:// URL (http:// only on a loopback address)");
  }
}

}  // namespace

std::vector<common::SettingSpec> HookdSettings() {
  return {
      Setting("base-url", "http://localhost:8080", "Base URL where hookd can be reached."),
      Setting("listen-address", "127.0.0.1:8080", "IP:PORT of the HTTP server."),
      Setting("log-format", "text", "Log format, either 'json' or 'text'."),
      Setting("log-level", "debug", "Logging verbosity level."),
      Setting("log-link-formatter", "",
              "Where /logs points: empty for hookd's own deployment page, 'GCP' or 'KIBANA' "
              "for the original's redirects."),
      Setting("provision-key", "",
              "Pre-shared key (hex) for /internal/api/v1/provision and /apikey.", {}, true),
      Setting("metrics-path", "/metrics", "HTTP path of the Prometheus metrics."),
      Setting("otel-exporter-otlp-endpoint", "", "OpenTelemetry collector endpoint.",
              {"OTEL_EXPORTER_OTLP_ENDPOINT"}),
      Setting("grpc.address", "127.0.0.1:9090", "IP:PORT of the gRPC server."),
      Flag("grpc.deployd-authentication", "Require pre-shared keys from deployd (pb.Dispatch)."),
      Flag("grpc.cli-authentication", "Require API-key or JWT authentication (pb.Deploy)."),
      Flag("grpc-authentication",
           "Both grpc.cli-authentication and grpc.deployd-authentication (the original README's "
           "flag); either one given at the same or a higher level (flag > env > file) wins."),
      Setting("grpc.keepalive-interval", "15s", "Ping idle gRPC connections this often."),
      Setting("grpc.tls-cert-file", "", "PEM certificate for TLS on the gRPC listener."),
      Setting("grpc.tls-key-file", "", "PEM private key for TLS on the gRPC listener."),
      Setting("database-encryption-key", kDefaultEncryptionKey,
              "Key (hex) that encrypts API keys at rest.", {}, true),
      Setting("database-url", "postgresql://postgres:root@127.0.0.1:5432/hookd",
              "PostgreSQL connection URL.", {"DATABASE_URL"}, true),
      Setting("database-connect-timeout", "5m", "How long to retry the first database connect."),
      Setting("deployd-keys", "",
              "Pre-shared keys of deployd, comma-separated: cluster=KEY binds a key to one "
              "cluster (a plain KEY is accepted for every cluster).",
              {"DEPLOYD_KEYS"}, true),
      Setting("frontend-keys", "", "Accepted X-PSK values of the console API.", {"FRONTEND_KEYS"},
              true),
      Flag("console-require-key",
           "The deployment list (/ and /deployments) requires a frontend key (X-PSK header or "
           "the console's cookie); deployment pages stay as open as /logs."),
      Setting("google-allowed-domains", "", "Unused; kept for compatibility."),
      Setting("google-cluster-projects", "", "cluster=project pairs for GCP log links."),
      Flag("nais-api-insecure-connection", "Plaintext connection to the Nais API."),
      Setting("nais-api-address", "localhost:3001", "Nais API address (unused)."),
      Setting("cluster-migration-redirect", "", "from=to cluster redirects."),
      Setting("clusters", "",
              "Clusters that are always known (comma-separated); a deployd connecting adds its "
              "cluster too. Deployments for other clusters are rejected."),
      Setting("max-message-size", "32MiB",
              "Largest deployment request accepted: gRPC request bytes and HTTP API bodies "
              "(bytes, or with a unit such as 32MiB; the CLI and deployd have the same setting)."),
      Setting("github-jwks-url", "https://token.actions.githubusercontent.com/.well-known/jwks",
              "JWKS of the GitHub OIDC issuer."),
      Flag("github-jwks-allow-http",
           "Allow an http:// github-jwks-url (tests only: the keys must come over TLS)."),
      Setting("github-issuer", "https://token.actions.githubusercontent.com",
              "Expected issuer of GitHub OIDC tokens."),
      GithubSetting(Flag("github.enabled",
                         "Create a GitHub deployment for every deployment that names a repository "
                         "and post its statuses to it (GitHub App authentication).")),
      GithubSetting(Setting("github.app-id", "", "ID of the GitHub App.")),
      GithubSetting(Setting("github.install-id", "", "Installation ID of the GitHub App.")),
      GithubSetting(Setting("github.key-file", "", "PEM file with the GitHub App's private key.")),
      GithubSetting(
          Setting("github.client-id", "", "Client ID of the GitHub App (accepted; unused).")),
      GithubSetting(Setting("github.client-secret", "",
                            "Client secret of the GitHub App (accepted; unused).", {}, true)),
      GithubSetting(
          Setting("github.api-url", "https://api.github.com",
                  "GitHub REST API (GitHub Enterprise: https://HOST/api/v3); http:// only "
                  "on a loopback address.")),
      GithubSetting(Setting("github.create-timeout", "3s",
                            "How long the HTTP API waits for the GitHub deployment; after that it "
                            "answers without one, and GitHub gets it in the background.")),
      GithubSetting(Setting("github.queue-limit", "10000",
                            "At most this many deployments owe GitHub work; further ones are not "
                            "mirrored to GitHub (logged and counted).")),
      Setting("shutdown-grace", "10s", "How long SIGTERM waits for in-flight requests."),
      Flag("insecure",
           "Allow the default database encryption key and disabled gRPC authentication on a "
           "non-loopback listen address (demo and tests only)."),
  };
}

Config BuildConfig(const common::LayeredConfig& s) {
  Config c;
  c.base_url = s.Get("base-url");
  c.listen_address = s.Get("listen-address");
  c.log_format = s.Get("log-format");
  if (c.log_format != "json" && c.log_format != "text") {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid log format \"" + c.log_format + "\": want json or text");
  }
  c.log_level = s.Get("log-level");
  c.log_link_formatter = s.Get("log-link-formatter");
  if (!c.log_link_formatter.empty() && c.log_link_formatter != "GCP" &&
      c.log_link_formatter != "KIBANA") {
    throw common::Error(
        common::ErrorCode::kInvalidArgument,
        "invalid log-link-formatter \"" + c.log_link_formatter + "\": want GCP, KIBANA or empty");
  }
  auto provision = common::HexDecode(s.Get("provision-key"));
  if (!provision) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "provisioning pre-shared key must be a hex encoded string");
  }
  c.provision_key = *provision;
  c.metrics_path = s.Get("metrics-path");
  c.otel_endpoint = s.Get("otel-exporter-otlp-endpoint");
  c.grpc_address = s.Get("grpc.address");
  c.grpc_deployd_authentication = AuthenticationSetting(s, "grpc.deployd-authentication");
  c.grpc_cli_authentication = AuthenticationSetting(s, "grpc.cli-authentication");
  c.grpc_keepalive_interval = Millis(s.GetDuration("grpc.keepalive-interval"));
  c.grpc_tls_cert_file = s.Get("grpc.tls-cert-file");
  c.grpc_tls_key_file = s.Get("grpc.tls-key-file");
  if (c.grpc_tls_cert_file.empty() != c.grpc_tls_key_file.empty()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "grpc.tls-cert-file and grpc.tls-key-file must be given together");
  }
  auto encryption = common::HexDecode(s.Get("database-encryption-key"));
  if (!encryption) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "database encryption key must be a hex encoded string");
  }
  if (encryption->size() != 16 && encryption->size() != 24 && encryption->size() != 32) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "database encryption key must be 16, 24 or 32 bytes (32, 48 or 64 hex "
                        "characters)");
  }
  c.database_encryption_key = *encryption;
  c.database_url = s.Get("database-url");
  c.database_connect_timeout = Millis(s.GetDuration("database-connect-timeout"));
  c.deployd_keys = ParseDeploydKeys(s.GetList("deployd-keys"));
  c.frontend_keys = s.GetList("frontend-keys");
  c.console_require_key = s.GetBool("console-require-key");
  if (c.console_require_key && c.frontend_keys.empty()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "--console-require-key needs at least one key in --frontend-keys");
  }
  c.google_allowed_domains = s.GetList("google-allowed-domains");
  c.google_cluster_projects =
      ParsePairs(s.GetList("google-cluster-projects"), "google cluster projects");
  c.nais_api_insecure_connection = s.GetBool("nais-api-insecure-connection");
  c.nais_api_address = s.Get("nais-api-address");
  c.cluster_migration_redirect =
      ParsePairs(s.GetList("cluster-migration-redirect"), "cluster migration redirects");
  c.clusters = s.GetList("clusters");
  c.max_message_size = common::ParseMaxMessageSize(s.Get("max-message-size"));
  c.github_jwks_url = s.Get("github-jwks-url");
  if (c.github_jwks_url.rfind("http://", 0) != 0 && c.github_jwks_url.rfind("https://", 0) != 0) {
    throw common::Error(
        common::ErrorCode::kInvalidArgument,
        "invalid github-jwks-url \"" + c.github_jwks_url + "\": want an http:// or https:// URL");
  }
  c.github_jwks_allow_http = s.GetBool("github-jwks-allow-http");
  if (c.github_jwks_url.rfind("http://", 0) == 0 && !c.github_jwks_allow_http) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid github-jwks-url \"" + c.github_jwks_url +
                            "\": the JWKS must be fetched over https:// (http:// only with "
                            "github-jwks-allow-http)");
  }
  c.github_issuer = s.Get("github-issuer");
  BuildGithubConfig(s, c);
  c.shutdown_grace = Millis(s.GetDuration("shutdown-grace"));
  c.insecure = s.GetBool("insecure");
  return c;
}

std::vector<DeploydKey> ParseDeploydKeys(const std::vector<std::string>& items) {
  std::vector<DeploydKey> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq != std::string::npos && eq + 1 < item.size() &&
        common::IsDnsLabel(std::string_view(item).substr(0, eq))) {
      out.push_back({item.substr(0, eq), item.substr(eq + 1)});
    } else {
      out.push_back({"", item});
    }
  }
  return out;
}

bool IsLoopbackAddress(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  std::string host = colon == std::string::npos ? host_port : host_port.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::vector<std::string> SecurityWarnings(const Config& c) {
  std::vector<std::string> warnings;
  std::vector<std::string> refusals;
  const bool exposed = !IsLoopbackAddress(c.listen_address) || !IsLoopbackAddress(c.grpc_address);
  auto check = [&](bool unsafe, const std::string& what) {
    if (!unsafe) return;
    warnings.push_back(what);
    if (exposed && !c.insecure) refusals.push_back(what);
  };
  check(c.database_encryption_key == *common::HexDecode(kDefaultEncryptionKey),
        "database-encryption-key is the public default: anyone with the database can decrypt "
        "the API keys");
  check(!c.grpc_cli_authentication,
        "grpc.cli-authentication is off: anyone who reaches the gRPC port can deploy as any team");
  check(!c.grpc_deployd_authentication,
        "grpc.deployd-authentication is off: anyone who reaches the gRPC port can act as deployd "
        "of any cluster");
  bool unbound = false;
  for (const auto& k : c.deployd_keys) unbound |= k.cluster.empty();
  if (unbound) {
    warnings.push_back(
        "deployd-keys has keys without a cluster: any holder of such a key can claim any "
        "cluster; bind keys with cluster=KEY");
  }
  if (!refusals.empty()) {
    std::string message = "refusing to listen beyond loopback (" + c.listen_address + ", " +
                          c.grpc_address + ") with an insecure configuration: ";
    for (std::size_t i = 0; i < refusals.size(); ++i) message += (i ? "; " : "") + refusals[i];
    message += " (fix these, or pass --insecure for a demo)";
    throw common::Error(common::ErrorCode::kInvalidArgument, message);
  }
  return warnings;
}

LoadResult LoadConfig(int argc, const char* const* argv, const common::EnvLookup& env) {
  LoadResult result;
  CLI::App app("hookd: relay between deploy clients and deployd agents", "hookd");
  common::LayeredConfig settings(HookdSettings());
  settings.Bind(app);
  std::string config_file;
  app.add_option("--config", config_file, "YAML configuration file (nested or flat keys).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    result.exit_code = app.exit(e);
    if (result.exit_code != 0) result.exit_code = 1;
    return result;
  }
  try {
    settings.Resolve(env, config_file);
    result.config = BuildConfig(settings);
    result.effective = settings.Describe();
  } catch (const common::Error& e) {
    std::cerr << "hookd: " << e.what() << "\n";
    result.config.reset();
    result.exit_code = 1;
  }
  return result;
}

}  // namespace hookd
