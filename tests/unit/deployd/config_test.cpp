#include "deployd/config.hpp"

#include <filesystem>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "support/fake_env.hpp"
#include "support/process.hpp"

namespace deployd {
namespace {

using testsupport::FakeEnv;

void Parse(common::LayeredConfig& config, std::vector<std::string> args,
           const common::EnvLookup& env) {
  CLI::App app;
  config.Bind(app);
  std::reverse(args.begin(), args.end());
  app.parse(args);
  config.Resolve(env, "");
}

// A kubeconfig with one context (a token user on https://127.0.0.1:6443) at `path`.
void WriteKubeconfig(const std::string& path) {
  testsupport::WriteFile(path, R"(current-context: c
clusters: [{name: k, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
}

// deployd's settings after the command line `args` and the environment `env`.
std::unique_ptr<common::LayeredConfig> Configured(std::vector<std::string> args = {},
                                                  std::map<std::string, std::string> env = {}) {
  auto config = std::make_unique<common::LayeredConfig>(Settings());
  Parse(*config, std::move(args), FakeEnv(std::move(env)));
  return config;
}

TEST(DeploydConfig, DefaultsOfTheOriginal) {
  common::LayeredConfig config(Settings());
  Parse(config, {}, FakeEnv({}));
  EXPECT_EQ(config.Get("cluster"), "local");
  EXPECT_EQ(config.Get("grpc.server"), "127.0.0.1:9090");
  EXPECT_FALSE(config.GetBool("grpc.authentication"));
  EXPECT_FALSE(config.GetBool("grpc.use-tls"));
  EXPECT_EQ(config.Get("metrics-listen-address"), "127.0.0.1:8081");
  EXPECT_EQ(config.Get("metrics-path"), "/metrics");
  EXPECT_EQ(config.Get("log-format"), "text");
  EXPECT_EQ(config.Get("log-level"), "debug");
}

TEST(DeploydConfig, EnvironmentAndAliases) {
  common::LayeredConfig config(Settings());
  Parse(
      config, {"--cluster", "prod"},
      FakeEnv({{"DEPLOYD_CLUSTER", "dev"}, {"DEPLOYD_GRPC_USE_TLS", "true"}, {"HOOKD_KEY", "k"}}));
  EXPECT_EQ(config.Get("cluster"), "prod") << "flag beats environment";
  EXPECT_TRUE(config.GetBool("grpc.use-tls"));
  EXPECT_EQ(config.Get("hookd-key"), "k");
  EXPECT_EQ(config.Describe().find("k "), std::string::npos);
}

TEST(DeploydConfig, AuthenticationNeedsAKey) {
  common::LayeredConfig config(Settings());
  Parse(config, {"--grpc.authentication=true"}, FakeEnv({}));
  try {
    ToAgentOptions(config, FakeEnv({}), std::chrono::system_clock::now());
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_STREQ(e.what(), "authenticated gRPC calls enabled, but --hookd-key is not specified");
  }
}

std::string ConversionError(std::vector<std::string> args) {
  common::LayeredConfig config(Settings());
  Parse(config, std::move(args), FakeEnv({}));
  try {
    ToAgentOptions(config, FakeEnv({}), std::chrono::system_clock::now());
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "<no error>";
}

TEST(DeploydConfig, MaxRolloutThreads) {
  EXPECT_EQ(Configured()->Get("max-rollout-threads"), "128");
  EXPECT_EQ(Configured({}, {{"DEPLOYD_MAX_ROLLOUT_THREADS", "64"}})->Get("max-rollout-threads"),
            "64");
  EXPECT_EQ(ConversionError({"--max-rollout-threads", "3"}),
            "invalid value \"3\" for max-rollout-threads: want an integer of at least 4");
  EXPECT_EQ(ConversionError({"--max-rollout-threads", "many"}),
            "invalid value \"many\" for max-rollout-threads: want an integer of at least 4");
  EXPECT_EQ(ConversionError({"--max-concurrent-deployments", "0"}),
            "invalid value \"0\" for max-concurrent-deployments: want a positive integer");
}

TEST(DeploydConfig, ReplacedBackoff) {
  EXPECT_EQ(Configured()->GetDuration("replaced-backoff"), std::chrono::seconds(60));
  EXPECT_EQ(Configured({}, {{"DEPLOYD_REPLACED_BACKOFF", "5m"}})->GetDuration("replaced-backoff"),
            std::chrono::minutes(5));
}

TEST(DeploydConfig, ClusterMustBeADnsLabel) {
  EXPECT_EQ(ConversionError({"--cluster", "Local\r\nX: 1"}),
            "invalid cluster \"Local\\r\\nX: 1\": must be a lowercase RFC 1123 label: at most 63 "
            "characters, lower case alphanumeric characters or '-', starting and ending with an "
            "alphanumeric character (e.g. 'my-name', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
}

}  // namespace
}  // namespace deployd

namespace deployd {
namespace {

// The original README spells deployd's gRPC switches with dashes.
TEST(DeploydConfig, DashedGrpcFlagsOfTheOriginalReadme) {
  common::LayeredConfig config(Settings());
  Parse(config, {"--grpc-authentication", "--grpc-use-tls=true", "--hookd-key", "k"}, FakeEnv({}));
  EXPECT_TRUE(config.GetBool("grpc.authentication"));
  EXPECT_EQ(config.Source("grpc.authentication"), "flag");
  EXPECT_TRUE(config.GetBool("grpc.use-tls"));
  const std::string dir = testsupport::MakeTempDir("deployd-config");
  WriteKubeconfig(dir + "/config");
  config.Set("kubeconfig", dir + "/config");
  auto options = ToAgentOptions(config, FakeEnv({}), std::chrono::system_clock::now());
  EXPECT_TRUE(options.hookd.authentication);
  EXPECT_TRUE(options.hookd.use_tls);
  std::filesystem::remove_all(dir);

  common::LayeredConfig dotted(Settings());
  Parse(dotted, {"--grpc.authentication=false", "--grpc.use-tls"}, FakeEnv({}));
  EXPECT_FALSE(dotted.GetBool("grpc.authentication"));
  EXPECT_TRUE(dotted.GetBool("grpc.use-tls"));

  common::LayeredConfig off(Settings());
  Parse(off, {"--grpc-use-tls=false"}, FakeEnv({{"DEPLOYD_GRPC_USE_TLS", "true"}}));
  EXPECT_FALSE(off.GetBool("grpc.use-tls")) << "the dashed flag beats the environment";
}

}  // namespace
}  // namespace deployd

namespace deployd {
namespace {

// --max-message-size: the largest request deployd receives, announced to hookd.
TEST(DeploydConfig, MaxMessageSize) {
  EXPECT_EQ(Configured()->Get("max-message-size"), "32MiB");
  const auto from_env = Configured({}, {{"DEPLOYD_MAX_MESSAGE_SIZE", "8MiB"}});
  EXPECT_EQ(from_env->Get("max-message-size"), "8MiB");
  const std::string dir = testsupport::MakeTempDir("deployd-config");
  WriteKubeconfig(dir + "/config");
  from_env->Set("kubeconfig", dir + "/config");
  EXPECT_EQ(ToAgentOptions(*from_env, FakeEnv({}), std::chrono::system_clock::now())
                .hookd.max_message_size,
            8u << 20);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(ConversionError({"--max-message-size", "1k"}),
            "invalid value \"1k\" for max-message-size: want a size between 64 KiB and 256 MiB, "
            "such as 33554432 or 32MiB");
}

}  // namespace
}  // namespace deployd
