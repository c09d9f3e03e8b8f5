#include "deployd/kube/kubeconfig.hpp"

#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/crypto.hpp"
#include "common/error.hpp"

namespace deployd::kube {
namespace {

using common::Error;
using common::ErrorCode;

std::string ReadWholeFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kInvalidArgument, fmt::format("cannot read {} {}", what, path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// kubeconfig's *-data fields: standard Base64; line breaks and blanks inside are skipped.
std::string Base64Decode(const std::string& text, const std::string& what) {
  std::string clean;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') clean.push_back(c);
  }
  auto bytes = common::Base64Decode(clean);
  if (!bytes) throw Error(ErrorCode::kInvalidArgument, fmt::format("{}: invalid base64", what));
  return *bytes;
}

std::string Str(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap()) return "";
  auto v = node[key];
  if (!v || !v.IsScalar()) return "";
  return v.as<std::string>();
}

bool Bool(const YAML::Node& node, const char* key) {
  auto s = Str(node, key);
  return s == "true" || s == "True" || s == "TRUE" || s == "1";
}

std::optional<YAML::Node> FindNamed(const YAML::Node& list, const std::string& name,
                                    const char* inner) {
  if (!list || !list.IsSequence()) return std::nullopt;
  for (const auto& item : list) {
    if (Str(item, "name") == name) return item[inner];
  }
  return std::nullopt;
}

// The `inner` node of the entry `name` of root[<inner>s]; `kubeconfig <path>: <inner> "<name>" not
// found` when there is none.
YAML::Node RequireNamed(const YAML::Node& root, const std::string& name, const std::string& inner,
                        const std::string& path) {
  auto entry = FindNamed(root[inner + "s"], name, inner.c_str());
  if (!entry) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("kubeconfig {}: {} \"{}\" not found", path, inner, name));
  }
  return *entry;
}

std::string Resolve(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || dir.empty()) return path;
  return dir + "/" + path;
}

// "-data" field wins over the file field.
std::string DataOrFile(const YAML::Node& node, const char* data_key, const char* file_key,
                       const std::string& dir, const std::string& what) {
  auto data = Str(node, data_key);
  if (!data.empty()) return Base64Decode(data, what);
  auto file = Str(node, file_key);
  if (!file.empty()) return ReadWholeFile(Resolve(dir, file), what);
  return "";
}

}  // namespace

KubeConfig ParseKubeconfig(const std::string& text, const std::string& path,
                           const std::string& context) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("kubeconfig {}: {}", path, e.what()));
  }
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash);
  std::string ctx_name = context.empty() ? Str(root, "current-context") : context;
  if (ctx_name.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("kubeconfig {}: no current-context", path));
  }
  const YAML::Node ctx = RequireNamed(root, ctx_name, "context", path);
  auto cluster_name = Str(ctx, "cluster");
  const YAML::Node cluster = RequireNamed(root, cluster_name, "cluster", path);
  auto user_name = Str(ctx, "user");
  std::optional<YAML::Node> user_entry;  // a context without a user has no credentials
  if (!user_name.empty()) user_entry = RequireNamed(root, user_name, "user", path);

  KubeConfig c;
  c.source = fmt::format("kubeconfig {} context {}", path, ctx_name);
  c.server = Str(cluster, "server");
  if (c.server.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("kubeconfig {}: cluster \"{}\" has no server", path, cluster_name));
  }
  c.insecure_skip_tls_verify = Bool(cluster, "insecure-skip-tls-verify");
  c.tls_server_name = Str(cluster, "tls-server-name");
  c.ca_pem = DataOrFile(cluster, "certificate-authority-data", "certificate-authority", dir,
                        "certificate authority");
  c.namespace_ = Str(ctx, "namespace");
  if (user_entry) {
    const YAML::Node user = *user_entry;
    c.token = Str(user, "token");
    auto token_file = Str(user, "tokenFile");
    if (c.token.empty() && !token_file.empty()) c.token_file = Resolve(dir, token_file);
    c.client_cert_pem = DataOrFile(user, "client-certificate-data", "client-certificate", dir,
                                   "client certificate");
    c.client_key_pem = DataOrFile(user, "client-key-data", "client-key", dir, "client key");
  }
  return c;
}

KubeConfig LoadKubeconfigFile(const std::string& path, const std::string& context) {
  return ParseKubeconfig(ReadWholeFile(path, "kubeconfig"), path, context);
}

std::optional<KubeConfig> LoadInCluster(const EnvFn& env, const std::string& sa_dir) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || !port || host->empty() || port->empty()) return std::nullopt;
  KubeConfig c;
  c.source = "in-cluster";
  bool ipv6 = host->find(':') != std::string::npos;
  c.server = fmt::format("https://{}:{}", ipv6 ? "[" + *host + "]" : *host, *port);
  c.token_file = sa_dir + "/token";
  c.ca_pem = ReadWholeFile(sa_dir + "/ca.crt", "in-cluster CA");
  std::ifstream ns(sa_dir + "/namespace");
  if (ns) std::getline(ns, c.namespace_);
  return c;
}

KubeConfig ResolveKubeConfig(const std::string& flag_path, const EnvFn& env) {
  if (!flag_path.empty()) return LoadKubeconfigFile(flag_path);
  if (auto in_cluster = LoadInCluster(env)) return *in_cluster;
  auto list = env("KUBECONFIG");
  if (list && !list->empty()) {
    std::string first = list->substr(0, list->find(':'));
    return LoadKubeconfigFile(first);
  }
  auto home = env("HOME");
  if (!home || home->empty()) {
    throw Error(
        ErrorCode::kInvalidArgument,
        "no Kubernetes configuration: not in a cluster, no --kubeconfig, $KUBECONFIG or $HOME");
  }
  return LoadKubeconfigFile(*home + "/.kube/config");
}

common::HttpClientOptions HttpOptionsFor(const KubeConfig& config,
                                         std::size_t max_idle_connections) {
  common::HttpClientOptions options;
  options.base_url = config.server;
  options.ca_pem = config.ca_pem;
  options.client_cert_pem = config.client_cert_pem;
  options.client_key_pem = config.client_key_pem;
  options.tls_server_name = config.tls_server_name;
  options.insecure_skip_tls_verify = config.insecure_skip_tls_verify;
  options.user_agent = "deployd";
  options.max_idle_connections = max_idle_connections;
  return options;
}

}  // namespace deployd::kube
