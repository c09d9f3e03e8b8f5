// hookd settings: names, environment variables, aliases, validation messages.
#include "hookd/config.hpp"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "config_builder.hpp"

namespace {

using hookdtest::BuildConfig;
using hookdtest::ConfigError;

TEST(HookdConfig, DefaultsAreTheOriginals) {
  auto c = BuildConfig({});
  EXPECT_EQ(c.listen_address, "127.0.0.1:8080");
  EXPECT_EQ(c.grpc_address, "127.0.0.1:9090");
  EXPECT_EQ(c.database_url, "postgresql://postgres:root@127.0.0.1:5432/hookd");
  EXPECT_EQ(c.database_connect_timeout, std::chrono::minutes(5));
  EXPECT_EQ(c.grpc_keepalive_interval, std::chrono::seconds(15));
  EXPECT_FALSE(c.grpc_cli_authentication);
  EXPECT_FALSE(c.grpc_deployd_authentication);
  EXPECT_EQ(c.database_encryption_key.size(), 32u);
  EXPECT_EQ(c.metrics_path, "/metrics");
  EXPECT_TRUE(c.provision_key.empty());
}

TEST(HookdConfig, FlagsEnvironmentAndAliases) {
  auto c = BuildConfig({"--grpc.cli-authentication=true", "--deployd-keys", "a,b"},
                       {{"HOOKD_GRPC_DEPLOYD_AUTHENTICATION", "1"},
                        {"DATABASE_URL", "postgresql://alias"},
                        {"FRONTEND_KEYS", "f1"},
                        {"HOOKD_GOOGLE_CLUSTER_PROJECTS", "dev=proj-dev,prod=proj-prod"},
                        {"HOOKD_CLUSTER_MIGRATION_REDIRECT", "old=new"},
                        {"HOOKD_CLUSTERS", "dev,prod"}});
  EXPECT_TRUE(c.grpc_cli_authentication);
  EXPECT_TRUE(c.grpc_deployd_authentication);
  EXPECT_EQ(c.deployd_keys, (std::vector<hookd::DeploydKey>{{"", "a"}, {"", "b"}}));
  EXPECT_EQ(c.database_url, "postgresql://alias");
  EXPECT_EQ(c.frontend_keys, std::vector<std::string>{"f1"});
  EXPECT_EQ(c.google_cluster_projects.at("prod"), "proj-prod");
  EXPECT_EQ(c.cluster_migration_redirect.at("old"), "new");
  EXPECT_EQ(c.clusters, (std::vector<std::string>{"dev", "prod"}));
  // The prefixed variable wins over the alias.
  auto d = BuildConfig({}, {{"HOOKD_DATABASE_URL", "postgresql://prefixed"},
                            {"DATABASE_URL", "postgresql://alias"}});
  EXPECT_EQ(d.database_url, "postgresql://prefixed");
}

TEST(HookdConfig, BadValuesHaveClearMessages) {
  EXPECT_EQ(ConfigError({"--provision-key", "xyz"}),
            "provisioning pre-shared key must be a hex encoded string");
  EXPECT_EQ(ConfigError({"--google-cluster-projects", "dev"}),
            "unable to parse google cluster projects: invalid key-value pair 'dev'");
  EXPECT_EQ(ConfigError({"--cluster-migration-redirect", "x"}),
            "unable to parse cluster migration redirects: invalid key-value pair 'x'");
  EXPECT_EQ(ConfigError({"--log-format", "xml"}), "invalid log format \"xml\": want json or text");
  EXPECT_EQ(ConfigError({"--database-encryption-key", "abcd"}),
            "database encryption key must be 16, 24 or 32 bytes (32, 48 or 64 hex characters)");
  EXPECT_EQ(ConfigError({"--database-encryption-key", "nothex"}),
            "database encryption key must be a hex encoded string");
  EXPECT_EQ(ConfigError({"--grpc.tls-cert-file", "cert.pem"}),
            "grpc.tls-cert-file and grpc.tls-key-file must be given together");
  EXPECT_FALSE(ConfigError({}, {{"HOOKD_DATABASE_CONNECT_TIMEOUT", "soon"}}).empty());
}

TEST(HookdConfig, GitHubJwksUrlAndIssuer) {
  auto c = BuildConfig({"--github-jwks-url", "http://127.0.0.1:1/jwks", "--github-jwks-allow-http",
                        "--github-issuer", "https://x"});
  EXPECT_EQ(c.github_jwks_url, "http://127.0.0.1:1/jwks");
  EXPECT_TRUE(c.github_jwks_allow_http);
  EXPECT_EQ(ConfigError({"--github-jwks-url", "http://127.0.0.1:1/jwks"}),
            "invalid github-jwks-url \"http://127.0.0.1:1/jwks\": the JWKS must be fetched over "
            "https:// (http:// only with github-jwks-allow-http)");
  EXPECT_EQ(c.github_issuer, "https://x");
  auto d = BuildConfig({});
  EXPECT_EQ(d.github_jwks_url, "https://token.actions.githubusercontent.com/.well-known/jwks");
  EXPECT_EQ(d.github_issuer, "https://token.actions.githubusercontent.com");
  EXPECT_EQ(d.log_link_formatter, "");  // our HTML page unless GCP/KIBANA is given
  EXPECT_EQ(ConfigError({"--github-jwks-url", "ftp://x"}),
            "invalid github-jwks-url \"ftp://x\": want an http:// or https:// URL");
}

}  // namespace

TEST(HookdConfig, DeploydKeysBindToClusters) {
  auto c = BuildConfig({"--deployd-keys", "local=k1,prod=k2,plain,Not-A-Label=x,empty=,a=b=c"}, {});
  EXPECT_EQ(c.deployd_keys, (std::vector<hookd::DeploydKey>{{"local", "k1"},
                                                            {"prod", "k2"},
                                                            {"", "plain"},
                                                            {"", "Not-A-Label=x"},
                                                            {"", "empty="},
                                                            {"a", "b=c"}}));
  auto env = BuildConfig({}, {{"HOOKD_DEPLOYD_KEYS", "dev=secret"}});
  EXPECT_EQ(env.deployd_keys, (std::vector<hookd::DeploydKey>{{"dev", "secret"}}));
}

TEST(HookdConfig, InsecureSettingsWarnOnLoopbackAndStopBeyondIt) {
  auto loopback = BuildConfig({}, {});
  auto warnings = hookd::SecurityWarnings(loopback);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_EQ(warnings[0],
            "database-encryption-key is the public default: anyone with the database can decrypt "
            "the API keys");
  EXPECT_EQ(warnings[1],
            "grpc.cli-authentication is off: anyone who reaches the gRPC port can deploy as any "
            "team");

  auto exposed = BuildConfig({"--listen-address", "0.0.0.0:8080"}, {});
  try {
    hookd::SecurityWarnings(exposed);
    FAIL() << "expected a refusal";
  } catch (const common::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("refusing to listen beyond loopback (0.0.0.0:8080, "
                                          "127.0.0.1:9090) with an insecure configuration: "
                                          "database-encryption-key is the public default",
                                          0),
              0u)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("(fix these, or pass --insecure for a demo)"),
              std::string::npos);
  }
  auto allowed = BuildConfig({"--listen-address", "0.0.0.0:8080", "--insecure"}, {});
  EXPECT_EQ(hookd::SecurityWarnings(allowed).size(), 3u);

  auto safe = BuildConfig(
      {"--grpc.address", "[::]:9090", "--grpc.cli-authentication", "--grpc.deployd-authentication",
       "--deployd-keys", "dev=k", "--database-encryption-key",
       "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"},
      {});
  EXPECT_TRUE(hookd::SecurityWarnings(safe).empty());
  auto unbound = BuildConfig({"--grpc.cli-authentication", "--grpc.deployd-authentication",
                              "--deployd-keys", "k", "--database-encryption-key",
                              "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"},
                             {});
  ASSERT_EQ(hookd::SecurityWarnings(unbound).size(), 1u);
  EXPECT_EQ(hookd::SecurityWarnings(unbound)[0],
            "deployd-keys has keys without a cluster: any holder of such a key can claim any "
            "cluster; bind keys with cluster=KEY");
}

// The original README: "secure listener can be turned on passing --grpc-authentication".
TEST(HookdConfig, GrpcAuthenticationSwitchesOnBothKinds) {
  auto both = BuildConfig({"--grpc-authentication"});
  EXPECT_TRUE(both.grpc_cli_authentication);
  EXPECT_TRUE(both.grpc_deployd_authentication);

  auto from_env = BuildConfig({}, {{"HOOKD_GRPC_AUTHENTICATION", "true"}});
  EXPECT_TRUE(from_env.grpc_cli_authentication);
  EXPECT_TRUE(from_env.grpc_deployd_authentication);

  auto off = BuildConfig({"--grpc-authentication=false"});
  EXPECT_FALSE(off.grpc_cli_authentication);
  EXPECT_FALSE(off.grpc_deployd_authentication);
}

TEST(HookdConfig, SpecificAuthenticationKeyWinsAtTheSameOrAHigherLevel) {
  // Both flags: the specific one wins.
  auto flags = BuildConfig({"--grpc-authentication", "--grpc.deployd-authentication=false"});
  EXPECT_TRUE(flags.grpc_cli_authentication);
  EXPECT_FALSE(flags.grpc_deployd_authentication);

  // The umbrella flag beats a specific environment variable (flag > env).
  auto flag_over_env =
      BuildConfig({"--grpc-authentication"}, {{"HOOKD_GRPC_CLI_AUTHENTICATION", "false"}});
  EXPECT_TRUE(flag_over_env.grpc_cli_authentication);
  EXPECT_TRUE(flag_over_env.grpc_deployd_authentication);

  // A specific flag beats the umbrella environment variable.
  auto env_umbrella =
      BuildConfig({"--grpc.cli-authentication=false"}, {{"HOOKD_GRPC_AUTHENTICATION", "true"}});
  EXPECT_FALSE(env_umbrella.grpc_cli_authentication);
  EXPECT_TRUE(env_umbrella.grpc_deployd_authentication);
}

TEST(HookdConfig, GrpcAuthenticationValueIsValidated) {
  EXPECT_EQ(ConfigError({}, {{"HOOKD_GRPC_AUTHENTICATION", "yes"}}),
            "invalid value \"yes\" for grpc-authentication: want true or false");
}

namespace {

TEST(HookdConfig, ConsoleRequireKeyWantsFrontendKeys) {
  EXPECT_FALSE(BuildConfig({}).console_require_key);
  EXPECT_TRUE(BuildConfig({"--console-require-key", "--frontend-keys=k1"}).console_require_key);
  EXPECT_TRUE(BuildConfig({}, {{"HOOKD_CONSOLE_REQUIRE_KEY", "true"}, {"FRONTEND_KEYS", "k1"}})
                  .console_require_key);
  EXPECT_EQ(ConfigError({"--console-require-key"}),
            "--console-require-key needs at least one key in --frontend-keys");
}

}  // namespace
