#pragma once
// Where deployd's own Kubernetes credentials come from: a kubeconfig file or the in-cluster
// service account.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "common/http_client.hpp"

namespace deployd::kube {

struct KubeConfig {
  std::string server;  // "https://host:port"
  std::string ca_pem;  // PEM bytes (from *-data or a file)
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;       // static bearer token
  std::string token_file;  // re-read periodically when set (in-cluster)
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
  std::string namespace_;  // context namespace (informational)
  std::string source;      // "kubeconfig <path> context <name>" or "in-cluster"
};

using EnvFn = std::function<std::optional<std::string>(const std::string&)>;

// Parses a kubeconfig (YAML or JSON) text. `dir` resolves relative file paths; `context` empty =
// current-context. Throws common::Error{kInvalidArgument} with messages such as
// `kubeconfig <path>: context "x" not found`.
KubeConfig ParseKubeconfig(const std::string& text, const std::string& path,
                           const std::string& context = "");
KubeConfig LoadKubeconfigFile(const std::string& path, const std::string& context = "");

// In-cluster config from KUBERNETES_SERVICE_HOST/PORT and the files under `sa_dir`
// (default /var/run/secrets/kubernetes.io/serviceaccount). nullopt when not in a cluster.
std::optional<KubeConfig> LoadInCluster(
    const EnvFn& env, const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// deployd's order: --kubeconfig flag if given; else in-cluster when available; else the first
// file of $KUBECONFIG (colon separated); else ~/.kube/config.
KubeConfig ResolveKubeConfig(const std::string& flag_path, const EnvFn& env);

// The HTTP client options for talking to the API server of `config` as deployd (user agent
// `deployd`), keeping up to `max_idle_connections` idle connections.
common::HttpClientOptions HttpOptionsFor(const KubeConfig& config,
                                         std::size_t max_idle_connections);

}  // namespace deployd::kube
