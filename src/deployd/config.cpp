#include "deployd/config.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/message_size.hpp"
#include "common/names.hpp"

namespace deployd {

std::vector<common::SettingSpec> Settings() {
  auto env = [](const std::string& key) {
    std::string name = "DEPLOYD_";
    for (char c : key)
      name.push_back(c == '-' || c == '.' ? '_' : static_cast<char>(std::toupper(c)));
    return name;
  };
  auto spec = [&](std::string key, std::string def, std::string help, bool boolean = false,
                  std::vector<std::string> aliases = {}, bool secret = false) {
    common::SettingSpec s;
    s.env.push_back(env(key));
    for (auto& a : aliases) s.env.push_back(a);
    s.key = std::move(key);
    s.default_value = std::move(def);
    s.help = std::move(help);
    s.boolean = boolean;
    s.secret = secret;
    return s;
  };
  // The original's README spells these two with dashes; both names are accepted.
  auto dashed = [](common::SettingSpec s, std::string alias) {
    s.flag_aliases.push_back(std::move(alias));
    return s;
  };
  return {
      spec("cluster", "local", "Apply changes only within this cluster."),
      dashed(spec("grpc.authentication", "false", "Use token authentication on gRPC connection.",
                  true),
             "grpc-authentication"),
      dashed(spec("grpc.use-tls", "false", "Use secure connection when connecting to gRPC server.",
                  true),
             "grpc-use-tls"),
      spec("grpc.server", "127.0.0.1:9090", "gRPC server endpoint on hookd."),
      spec("max-message-size", "32MiB",
           "Largest deployment request received from hookd (bytes, or with a unit such as "
           "32MiB); announced to hookd, which fails larger deployments with this limit in the "
           "message. hookd and the CLI have the same setting."),
      spec("hookd-key", "", "Pre-shared key used for authentication with hookd.", false,
           {"HOOKD_KEY"}, true),
      spec("log-format", "text", "Log format, either 'json' or 'text'."),
      spec("log-level", "debug", "Logging verbosity level."),
      spec("metrics-listen-address", "127.0.0.1:8081", "Serve metrics on this address."),
      spec("metrics-path", "/metrics", "Serve metrics on this endpoint."),
      spec("otel-exporter-otlp-endpoint", "", "OpenTelemetry collector endpoint (OTLP/HTTP, JSON).",
           false, {"OTEL_EXPORTER_OTLP_ENDPOINT"}),
      spec("kubeconfig", "",
           "Path to a kubeconfig file (default: in-cluster, then $KUBECONFIG, then "
           "~/.kube/config)."),
      spec("apply-mode", "server-side-apply",
           "How resources are written: server-side-apply or create-or-update (the original's)."),
      spec("apply-force", "true", "Force server-side apply conflicts (take over fields).", true),
      spec("max-concurrent-deployments", "16", "Deployments processed at the same time."),
      spec("max-rollout-threads", "128",
           "Accepted for compatibility and unused: rollout waits are coroutines on the --threads "
           "engine threads and take no thread of their own."),
      spec("threads", "2",
           "Threads that run deployd's engine: every Kubernetes call, shared watch, deployment "
           "and rollout wait (their number does not grow with the load)."),
      spec("kube-qps", "200",
           "Client-side rate limit for Kubernetes API requests (per second; 0 = off)."),
      spec("kube-burst", "400", "Burst size of the Kubernetes API rate limit."),
      spec("replaced-backoff", "60s",
           "How long to wait before connecting again after another deployd took over the cluster "
           "(with jitter: half to all of it; doubled for every further takeover in a row, up to "
           "10 minutes)."),
      spec("transient-failure-grace", "60s",
           "How long a transient pod problem (image pull back-off, unschedulable) may last before "
           "the rollout fails."),
      spec("crash-loop-restarts", "2",
           "A container in CrashLoopBackOff fails the rollout once it has restarted this many "
           "times (0: at once); before that it is reported as progress."),
  };
}

agent::AgentOptions ToAgentOptions(const common::LayeredConfig& config,
                                   const common::EnvLookup& env, common::SystemTime startup_time) {
  agent::AgentOptions o;
  o.hookd.cluster = config.Get("cluster");
  // Sent to hookd and compared with every request's cluster.
  common::RequireLabel("cluster", o.hookd.cluster);
  o.hookd.server = config.Get("grpc.server");
  o.hookd.authentication = config.GetBool("grpc.authentication");
  o.hookd.use_tls = config.GetBool("grpc.use-tls");
  o.hookd.key = config.Get("hookd-key");
  o.hookd.startup_time = startup_time;
  o.hookd.max_message_size = common::ParseMaxMessageSize(config.Get("max-message-size"));
  if (o.hookd.authentication && o.hookd.key.empty()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "authenticated gRPC calls enabled, but --hookd-key is not specified");
  }
  o.metrics_listen_address = config.Get("metrics-listen-address");
  o.metrics_path = config.Get("metrics-path");
  o.apply.mode = kube::ParseApplyMode(config.Get("apply-mode"));
  o.apply.force = config.GetBool("apply-force");
  auto positive = [&config](const std::string& key, int minimum) {
    const auto& n = config.Get(key);
    int value = 0;
    auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), value);
    if (ec != std::errc() || ptr != n.data() + n.size() || value < minimum) {
      throw common::Error(
          common::ErrorCode::kInvalidArgument,
          minimum == 1 ? fmt::format("invalid value \"{}\" for {}: want a positive integer", n, key)
                       : fmt::format("invalid value \"{}\" for {}: want an integer of at least {}",
                                     n, key, minimum));
    }
    return value;
  };
  o.max_concurrent_deployments = positive("max-concurrent-deployments", 1);
  // A Deployment's wait needs 4 threads at once; fewer could never watch one.
  o.max_rollout_threads = positive("max-rollout-threads", 4);
  o.threads = positive("threads", 1);
  o.rollout.transient_grace = std::chrono::duration_cast<std::chrono::milliseconds>(
      config.GetDuration("transient-failure-grace"));
  o.rollout.crash_loop_restarts = positive("crash-loop-restarts", 0);
  o.hookd.replaced_backoff =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.GetDuration("replaced-backoff"));
  o.hookd.replaced_backoff_cap = std::max(o.hookd.replaced_backoff, o.hookd.replaced_backoff_cap);
  auto number = [&config](const std::string& key) {
    const auto& text = config.Get(key);
    try {
      std::size_t used = 0;
      double v = std::stod(text, &used);
      if (used == text.size() && v >= 0) return v;
    } catch (const std::exception&) {
    }
    throw common::Error(
        common::ErrorCode::kInvalidArgument,
        fmt::format("invalid value \"{}\" for {}: want a non-negative number", text, key));
  };
  o.kube_qps = number("kube-qps");
  o.kube_burst = number("kube-burst");
  o.kube = kube::ResolveKubeConfig(config.Get("kubeconfig"), env);
  return o;
}

std::string FindConfigFile(const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  for (const char* dir : {".", "/etc"}) {
    for (const char* ext : {"yaml", "yml", "json"}) {
      auto path = fmt::format("{}/deployd.{}", dir, ext);
      std::error_code ec;
      if (std::filesystem::is_regular_file(path, ec)) return path;
    }
  }
  return "";
}

}  // namespace deployd
