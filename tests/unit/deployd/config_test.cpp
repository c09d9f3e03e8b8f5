#include "deployd/config.hpp"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <map>

#include "common/error.hpp"

namespace deployd {
namespace {

common::EnvLookup Env(std::map<std::string, std::string> values) {
  return [values](const std::string& k) -> std::optional<std::string> {
    auto it = values.find(k);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

void Parse(common::LayeredConfig& config, std::vector<std::string> args,
           const common::EnvLookup& env) {
  CLI::App app;
  config.Bind(app);
  std::reverse(args.begin(), args.end());
  app.parse(args);
  config.Resolve(env, "");
}

TEST(DeploydConfig, DefaultsOfTheOriginal) {
  common::LayeredConfig config(Settings());
  Parse(config, {}, Env({}));
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
  Parse(config, {"--cluster", "prod"},
        Env({{"DEPLOYD_CLUSTER", "dev"}, {"DEPLOYD_GRPC_USE_TLS", "true"}, {"HOOKD_KEY", "k"}}));
  EXPECT_EQ(config.Get("cluster"), "prod") << "flag beats environment";
  EXPECT_TRUE(config.GetBool("grpc.use-tls"));
  EXPECT_EQ(config.Get("hookd-key"), "k");
  EXPECT_EQ(config.Describe().find("k "), std::string::npos);
}

TEST(DeploydConfig, AuthenticationNeedsAKey) {
  common::LayeredConfig config(Settings());
  Parse(config, {"--grpc.authentication=true"}, Env({}));
  try {
    ToAgentOptions(config, Env({}), std::chrono::system_clock::now());
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_STREQ(e.what(), "authenticated gRPC calls enabled, but --hookd-key is not specified");
  }
}

}  // namespace
}  // namespace deployd
