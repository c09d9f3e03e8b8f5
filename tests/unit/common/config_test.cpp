#include "common/config.hpp"

#include <fstream>
#include <map>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "support/fake_env.hpp"

namespace common {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

std::vector<SettingSpec> Specs() {
  std::vector<SettingSpec> specs;
  auto add = [&](std::string key, std::string def, std::vector<std::string> env, bool secret,
                 bool boolean, bool list) {
    SettingSpec s;
    s.key = std::move(key);
    s.default_value = std::move(def);
    s.help = "help for " + s.key;
    s.env = std::move(env);
    s.secret = secret;
    s.boolean = boolean;
    s.list = list;
    specs.push_back(std::move(s));
  };
  add("grpc.address", "127.0.0.1:9090", {"HOOKD_GRPC_ADDRESS"}, false, false, false);
  add("grpc.cli-authentication", "false", {"HOOKD_GRPC_CLI_AUTHENTICATION"}, false, true, false);
  add("database-url", "postgresql://postgres:root@127.0.0.1:5432/hookd",
      {"HOOKD_DATABASE_URL", "DATABASE_URL"}, true, false, false);
  add("deployd-keys", "", {"HOOKD_DEPLOYD_KEYS", "DEPLOYD_KEYS"}, true, false, true);
  add("database-connect-timeout", "5m", {"HOOKD_DATABASE_CONNECT_TIMEOUT"}, false, false, false);
  add("log-level", "debug", {"HOOKD_LOG_LEVEL"}, false, false, false);
  return specs;
}

using Env = std::map<std::string, std::string>;

using testsupport::FakeEnv;

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

// Parses `args` (without the program name) and resolves with `env` and `file`.
std::unique_ptr<LayeredConfig> Load(std::vector<std::string> args, Env env = {},
                                    const std::string& file = "") {
  auto config = std::make_unique<LayeredConfig>(Specs());
  CLI::App app("test");
  config->Bind(app);
  std::vector<const char*> argv{"prog"};
  for (const auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  config->Resolve(FakeEnv(std::move(env)), file);
  return config;
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.Code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(ConfigTest, DefaultsWithoutBindOrResolve) {
  LayeredConfig config(Specs());
  EXPECT_EQ(config.Get("grpc.address"), "127.0.0.1:9090");
  EXPECT_EQ(config.Source("grpc.address"), "default");
  EXPECT_THROW(config.Get("nope"), std::out_of_range);
  EXPECT_THROW(config.Source("nope"), std::out_of_range);
}

TEST(ConfigTest, Defaults) {
  auto c = Load({});
  EXPECT_EQ(c->Get("grpc.address"), "127.0.0.1:9090");
  EXPECT_EQ(c->Source("grpc.address"), "default");
  EXPECT_FALSE(c->GetBool("grpc.cli-authentication"));
  EXPECT_EQ(c->GetDuration("database-connect-timeout"), minutes(5));
  EXPECT_TRUE(c->GetList("deployd-keys").empty());
}

TEST(ConfigTest, PrecedenceFlagOverEnvOverFileOverDefault) {
  const std::string file = WriteFile("precedence.yaml",
                                     "grpc:\n  address: file:1\n"
                                     "log-level: info\n"
                                     "database-connect-timeout: 1m\n");
  const Env env{{"HOOKD_GRPC_ADDRESS", "env:1"}, {"HOOKD_LOG_LEVEL", "warn"}};

  auto all = Load({"--grpc.address", "flag:1"}, env, file);
  EXPECT_EQ(all->Get("grpc.address"), "flag:1");
  EXPECT_EQ(all->Source("grpc.address"), "flag");
  EXPECT_EQ(all->Get("log-level"), "warn");
  EXPECT_EQ(all->Source("log-level"), "env:HOOKD_LOG_LEVEL");
  EXPECT_EQ(all->Get("database-connect-timeout"), "1m");
  EXPECT_EQ(all->Source("database-connect-timeout"), "file");
  EXPECT_EQ(all->Get("database-url"), "postgresql://postgres:root@127.0.0.1:5432/hookd");
  EXPECT_EQ(all->Source("database-url"), "default");

  auto env_file = Load({}, env, file);
  EXPECT_EQ(env_file->Get("grpc.address"), "env:1");
  EXPECT_EQ(env_file->Source("grpc.address"), "env:HOOKD_GRPC_ADDRESS");

  auto file_only = Load({}, {}, file);
  EXPECT_EQ(file_only->Get("grpc.address"), "file:1");
  EXPECT_EQ(file_only->Source("grpc.address"), "file");

  auto flag_only = Load({"--grpc.address=flag:2"});
  EXPECT_EQ(flag_only->Get("grpc.address"), "flag:2");
  EXPECT_EQ(flag_only->Source("grpc.address"), "flag");

  auto flag_file = Load({"--grpc.address", "flag:3"}, {}, file);
  EXPECT_EQ(flag_file->Get("grpc.address"), "flag:3");
}

TEST(ConfigTest, FlagEqualToDefaultStillCountsAsFlag) {
  auto c = Load({"--log-level", "debug"}, {{"HOOKD_LOG_LEVEL", "error"}});
  EXPECT_EQ(c->Get("log-level"), "debug");
  EXPECT_EQ(c->Source("log-level"), "flag");
}

TEST(ConfigTest, EnvAliasesAndEmptyValues) {
  auto alias = Load({}, {{"DATABASE_URL", "postgres://alias"}});
  EXPECT_EQ(alias->Get("database-url"), "postgres://alias");
  EXPECT_EQ(alias->Source("database-url"), "env:DATABASE_URL");

  auto both =
      Load({}, {{"DATABASE_URL", "postgres://alias"}, {"HOOKD_DATABASE_URL", "postgres://p"}});
  EXPECT_EQ(both->Get("database-url"), "postgres://p");
  EXPECT_EQ(both->Source("database-url"), "env:HOOKD_DATABASE_URL");

  auto empty_first = Load({}, {{"HOOKD_DATABASE_URL", ""}, {"DATABASE_URL", "postgres://alias"}});
  EXPECT_EQ(empty_first->Get("database-url"), "postgres://alias");

  const std::string file = WriteFile("empty-env.yaml", "log-level: info\n");
  auto empty_env = Load({}, {{"HOOKD_LOG_LEVEL", ""}}, file);
  EXPECT_EQ(empty_env->Get("log-level"), "info");
  EXPECT_EQ(empty_env->Source("log-level"), "file");
}

TEST(ConfigTest, BooleanFlagForms) {
  auto bare = Load({"--grpc.cli-authentication"});
  EXPECT_TRUE(bare->GetBool("grpc.cli-authentication"));
  EXPECT_EQ(bare->Source("grpc.cli-authentication"), "flag");

  auto eq_true = Load({"--grpc.cli-authentication=true"});
  EXPECT_TRUE(eq_true->GetBool("grpc.cli-authentication"));

  auto eq_false =
      Load({"--grpc.cli-authentication=false"}, {{"HOOKD_GRPC_CLI_AUTHENTICATION", "true"}});
  EXPECT_FALSE(eq_false->GetBool("grpc.cli-authentication"));
  EXPECT_EQ(eq_false->Source("grpc.cli-authentication"), "flag");

  auto eq_one = Load({"--grpc.cli-authentication=1"});
  EXPECT_TRUE(eq_one->GetBool("grpc.cli-authentication"));

  auto last_wins = Load({"--grpc.cli-authentication", "--grpc.cli-authentication=false"});
  EXPECT_FALSE(last_wins->GetBool("grpc.cli-authentication"));
}

TEST(ConfigTest, BooleanFlagDoesNotConsumeNextArgument) {
  auto config = std::make_unique<LayeredConfig>(Specs());
  CLI::App app("test");
  config->Bind(app);
  std::vector<std::string> rest;
  app.add_option("rest", rest);
  std::vector<const char*> argv{"prog", "--grpc.cli-authentication", "false"};
  app.parse(static_cast<int>(argv.size()), argv.data());
  config->Resolve(FakeEnv({}), "");
  EXPECT_TRUE(config->GetBool("grpc.cli-authentication"));
  EXPECT_EQ(rest, std::vector<std::string>{"false"});
}

TEST(ConfigTest, BooleanFromEnvAndFile) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    EXPECT_TRUE(
        Load({}, {{"HOOKD_GRPC_CLI_AUTHENTICATION", t}})->GetBool("grpc.cli-authentication"))
        << t;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    EXPECT_FALSE(
        Load({}, {{"HOOKD_GRPC_CLI_AUTHENTICATION", f}})->GetBool("grpc.cli-authentication"))
        << f;
  }
  const std::string file = WriteFile("bool.yaml", "grpc:\n  cli-authentication: yes\n");
  EXPECT_TRUE(Load({}, {}, file)->GetBool("grpc.cli-authentication"));
}

TEST(ConfigTest, InvalidBoolean) {
  auto c = Load({}, {{"HOOKD_GRPC_CLI_AUTHENTICATION", "yes"}});
  EXPECT_EQ(ErrorOf([&] { c->GetBool("grpc.cli-authentication"); }),
            "invalid value \"yes\" for grpc.cli-authentication: want true or false");
  auto f = Load({"--grpc.cli-authentication=maybe"});
  EXPECT_EQ(ErrorOf([&] { f->GetBool("grpc.cli-authentication"); }),
            "invalid value \"maybe\" for grpc.cli-authentication: want true or false");
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(Load({"--database-connect-timeout", "90s"})->GetDuration("database-connect-timeout"),
            seconds(90));
  EXPECT_EQ(Load({}, {{"HOOKD_DATABASE_CONNECT_TIMEOUT", "1h30m"}})
                ->GetDuration("database-connect-timeout"),
            minutes(90));
  auto bad = Load({"--database-connect-timeout=10"});
  EXPECT_EQ(ErrorOf([&] { bad->GetDuration("database-connect-timeout"); }),
            "invalid value \"10\" for database-connect-timeout: want a duration such as 10s");
}

TEST(ConfigTest, Lists) {
  EXPECT_EQ(Load({}, {{"HOOKD_DEPLOYD_KEYS", "a, b ,,c"}})->GetList("deployd-keys"),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Load({"--deployd-keys", "a,b", "--deployd-keys", "c"}, {{"DEPLOYD_KEYS", "x"}})
                ->GetList("deployd-keys"),
            (std::vector<std::string>{"a", "b", "c"}));
  const std::string file = WriteFile("list.yaml", "deployd-keys:\n  - k1\n  - k2\n");
  auto from_file = Load({}, {}, file);
  EXPECT_EQ(from_file->GetList("deployd-keys"), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(from_file->Get("deployd-keys"), "k1,k2");
  const std::string scalar = WriteFile("list2.yaml", "deployd-keys: k1,k2\n");
  EXPECT_EQ(Load({}, {}, scalar)->GetList("deployd-keys"), (std::vector<std::string>{"k1", "k2"}));
}

TEST(ConfigTest, NonListFlagLastWins) {
  auto c = Load({"--log-level", "info", "--log-level", "error"});
  EXPECT_EQ(c->Get("log-level"), "error");
}

TEST(ConfigTest, FlatAndNestedFileKeys) {
  const std::string flat = WriteFile("flat.yaml", "grpc.address: flat:1\n");
  EXPECT_EQ(Load({}, {}, flat)->Get("grpc.address"), "flat:1");
  const std::string nested =
      WriteFile("nested.yaml", "grpc: {address: nested:1, cli-authentication: true}\n");
  auto c = Load({}, {}, nested);
  EXPECT_EQ(c->Get("grpc.address"), "nested:1");
  EXPECT_TRUE(c->GetBool("grpc.cli-authentication"));
  const std::string numbers = WriteFile("numbers.yaml", "log-level: 5\n");
  EXPECT_EQ(Load({}, {}, numbers)->Get("log-level"), "5");
  const std::string upper = WriteFile("upper.yaml", "GRPC:\n  Address: upper:1\nLog-Level: info\n");
  auto u = Load({}, {}, upper);
  EXPECT_EQ(u->Get("grpc.address"), "upper:1");
  EXPECT_EQ(u->Get("log-level"), "info");
  const std::string json_file = WriteFile("config.json", R"({"grpc": {"address": "json:1"}})");
  EXPECT_EQ(Load({}, {}, json_file)->Get("grpc.address"), "json:1");
  const std::string null_value = WriteFile("null.yaml", "log-level:\n");
  auto n = Load({}, {}, null_value);
  EXPECT_EQ(n->Get("log-level"), "");
  EXPECT_EQ(n->Source("log-level"), "file");
  const std::string empty = WriteFile("empty.yaml", "# nothing\n");
  EXPECT_EQ(Load({}, {}, empty)->Source("grpc.address"), "default");
}

TEST(ConfigTest, FileErrors) {
  const std::string unknown = WriteFile("unknown.yaml", "grpc:\n  adress: x\n");
  EXPECT_EQ(ErrorOf([&] { Load({}, {}, unknown); }),
            "config file " + unknown + ": unknown key \"grpc.adress\"");
  const std::string unknown_top = WriteFile("unknown2.yaml", "bogus: 1\n");
  EXPECT_EQ(ErrorOf([&] { Load({}, {}, unknown_top); }),
            "config file " + unknown_top + ": unknown key \"bogus\"");
  const std::string missing = ::testing::TempDir() + "/does-not-exist.yaml";
  EXPECT_EQ(ErrorOf([&] { Load({}, {}, missing); }),
            "config file " + missing + ": cannot open: No such file or directory");
  const std::string invalid = WriteFile("invalid.yaml", "grpc: [1, 2\n");
  EXPECT_EQ(ErrorOf([&] { Load({}, {}, invalid); }),
            "config file " + invalid +
                ": line 1, column 7: while parsing a flow sequence: did not find expected ',' "
                "or ']'");
  const std::string not_map = WriteFile("notmap.yaml", "- a\n");
  EXPECT_EQ(ErrorOf([&] { Load({}, {}, not_map); }),
            "config file " + not_map + ": top level must be a mapping");
}

TEST(ConfigTest, DescribeRedactsSecrets) {
  auto c = Load({"--deployd-keys", "k1"}, {{"DATABASE_URL", "postgres://user:pw@db/x"}});
  EXPECT_EQ(c->Describe(),
            "database-connect-timeout=5m database-url=*** deployd-keys=*** "
            "grpc.address=127.0.0.1:9090 grpc.cli-authentication=false log-level=debug");
  auto empty_secret = Load({}, {{"DATABASE_URL", ""}});
  empty_secret->Set("database-url", "");
  EXPECT_NE(empty_secret->Describe().find("database-url= "), std::string::npos);
  EXPECT_NE(empty_secret->Describe().find("deployd-keys= "), std::string::npos);
}

TEST(ConfigTest, SetOverrides) {
  auto c = Load({});
  c->Set("log-level", "trace");
  EXPECT_EQ(c->Get("log-level"), "trace");
  EXPECT_EQ(c->Source("log-level"), "set");
  EXPECT_THROW(c->Set("nope", "x"), std::out_of_range);
}

TEST(ConfigTest, HelpListsFlags) {
  LayeredConfig config(Specs());
  CLI::App app("test");
  config.Bind(app);
  const std::string help = app.help();
  EXPECT_NE(help.find("--grpc.address"), std::string::npos);
  EXPECT_NE(help.find("HOOKD_GRPC_ADDRESS"), std::string::npos);
  EXPECT_EQ(help.find("postgresql://postgres:root"), std::string::npos) << "secret default shown";
}

TEST(ConfigTest, ProcessEnvReadsEnvironment) {
  const EnvLookup env = ProcessEnv();
  EXPECT_EQ(env("DEPLOY_COMMON_TEST_SURELY_UNSET_VARIABLE"), std::nullopt);
  EXPECT_TRUE(env("PATH").has_value());
}

}  // namespace
}  // namespace common
