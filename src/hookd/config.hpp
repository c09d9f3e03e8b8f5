#pragma once
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.hpp"
#include "common/message_size.hpp"

namespace hookd {

// One pre-shared key of deployd (--deployd-keys). `cluster` set: the key is valid for that
// cluster only (`cluster=key`); empty: any cluster (a plain key, as the original had them).
struct DeploydKey {
  std::string cluster;
  std::string key;
  bool operator==(const DeploydKey&) const = default;
};

// --deployd-keys items: `cluster=key` binds a key to a cluster when `cluster` is a DNS-1123 label
// and `key` is not empty; anything else is a plain key valid for every cluster.
std::vector<DeploydKey> ParseDeploydKeys(const std::vector<std::string>& items);

// The effective configuration of hookd (the original's plus our additions).
struct Config {
  std::string base_url;
  std::string listen_address;
  std::string log_format;
  std::string log_level;
  std::string log_link_formatter;  // "" (our HTML page), "GCP" or "KIBANA"
  std::string provision_key;       // raw bytes (hex-decoded); empty disables provisioning
  std::string metrics_path;
  std::string otel_endpoint;
  std::string grpc_address;
  bool grpc_deployd_authentication = false;
  bool grpc_cli_authentication = false;
  std::chrono::milliseconds grpc_keepalive_interval{15000};
  std::string grpc_tls_cert_file;
  std::string grpc_tls_key_file;
  std::string database_encryption_key;  // raw bytes (hex-decoded)
  std::string database_url;
  std::chrono::milliseconds database_connect_timeout{300000};
  std::vector<DeploydKey> deployd_keys;
  std::vector<std::string> frontend_keys;
  // --console-require-key: the deployment list (`/`, `/deployments`) wants a frontend key
  // (X-PSK header or the console's cookie).
  bool console_require_key = false;
  std::vector<std::string> google_allowed_domains;
  std::map<std::string, std::string> google_cluster_projects;
  bool nais_api_insecure_connection = false;
  std::string nais_api_address;
  std::map<std::string, std::string> cluster_migration_redirect;
  std::vector<std::string> clusters;
  // --max-message-size: largest deployment request (gRPC request bytes, HTTP API body).
  std::size_t max_message_size = common::kDefaultMaxMessageSize;
  std::string github_jwks_url;
  bool github_jwks_allow_http = false;  // http:// JWKS URLs (tests only)
  std::string github_issuer;
  // GitHub deployments and statuses (github.*, spelt --github-* on the command line as in the
  // original's README; see github/mirror.hpp).
  bool github_enabled = false;
  std::string github_app_id;      // digits
  std::string github_install_id;  // digits
  std::string github_key_file;
  std::string github_client_id;      // accepted for compatibility; unused
  std::string github_client_secret;  // accepted for compatibility; unused
  std::string github_api_url = "https://api.github.com";
  std::chrono::milliseconds github_create_timeout{3000};
  std::size_t github_queue_limit = 10000;
  // Not settings: the retry timing and polling of the GitHub work (tests shorten them).
  std::chrono::milliseconds github_retry_base{1000};
  std::chrono::milliseconds github_retry_cap{300000};
  int github_max_attempts = 20;
  std::chrono::milliseconds github_poll_interval{1000};
  std::chrono::milliseconds shutdown_grace{10000};
  // Allows the public default encryption key and disabled gRPC authentication on a listen
  // address that is not loopback (demo and tests only).
  bool insecure = false;
};

// Start-up checks of a configuration that is valid but unsafe: returns the warnings to log;
// throws common::Error{kInvalidArgument} when hookd must refuse to start (the default encryption
// key or authentication off while listening beyond loopback, without --insecure).
std::vector<std::string> SecurityWarnings(const Config& config);
bool IsLoopbackAddress(const std::string& host_port);

// Every setting with its flag, HOOKD_* variable, aliases and default.
std::vector<common::SettingSpec> HookdSettings();

// Converts resolved settings into a validated Config. Throws common::Error{kInvalidArgument}
// with a message naming the bad value.
Config BuildConfig(const common::LayeredConfig& settings);

struct LoadResult {
  std::optional<Config> config;  // nullopt: exit with exit_code (help, usage error)
  int exit_code = 0;
  std::string effective;  // redacted "key=value ..." description for the start-up log
};
// Parses argv (incl. --config <file>) and the environment. Usage errors print to stderr.
LoadResult LoadConfig(int argc, const char* const* argv, const common::EnvLookup& env);

}  // namespace hookd
