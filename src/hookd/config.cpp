#include "hookd/config.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

#include "common/error.hpp"
#include "common/hex.hpp"
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
      Setting("google-allowed-domains", "", "Unused; kept for compatibility."),
      Setting("google-cluster-projects", "", "cluster=project pairs for GCP log links."),
      Flag("nais-api-insecure-connection", "Plaintext connection to the Nais API."),
      Setting("nais-api-address", "localhost:3001", "Nais API address (unused)."),
      Setting("cluster-migration-redirect", "", "from=to cluster redirects."),
      Setting("clusters", "",
              "Clusters that are always known (comma-separated); a deployd connecting adds its "
              "cluster too. Deployments for other clusters are rejected."),
      Setting("max-request-body-size", "4194304", "Largest accepted HTTP request body (bytes)."),
      Setting("github-jwks-url", "https://token.actions.githubusercontent.com/.well-known/jwks",
              "JWKS of the GitHub OIDC issuer."),
      Flag("github-jwks-allow-http",
           "Allow an http:// github-jwks-url (tests only: the keys must come over TLS)."),
      Setting("github-issuer", "https://token.actions.githubusercontent.com",
              "Expected issuer of GitHub OIDC tokens."),
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
  c.grpc_deployd_authentication = s.GetBool("grpc.deployd-authentication");
  c.grpc_cli_authentication = s.GetBool("grpc.cli-authentication");
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
  c.google_allowed_domains = s.GetList("google-allowed-domains");
  c.google_cluster_projects =
      ParsePairs(s.GetList("google-cluster-projects"), "google cluster projects");
  c.nais_api_insecure_connection = s.GetBool("nais-api-insecure-connection");
  c.nais_api_address = s.Get("nais-api-address");
  c.cluster_migration_redirect =
      ParsePairs(s.GetList("cluster-migration-redirect"), "cluster migration redirects");
  c.clusters = s.GetList("clusters");
  const std::string body = s.Get("max-request-body-size");
  try {
    std::size_t used = 0;
    auto value = std::stoull(body, &used);
    if (used != body.size() || value == 0) throw std::invalid_argument("bad");
    c.max_request_body_bytes = static_cast<std::size_t>(value);
  } catch (const std::exception&) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid value \"" + body +
                            "\" for max-request-body-size: want a positive number of bytes");
  }
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
