#include "deploy-cli/config.hpp"

#include <map>

#include <gtest/gtest.h>

#include "fakes.hpp"
#include "support/fake_env.hpp"

namespace deploy_cli {
namespace {

using testsupport::FakeEnv;

TEST(ConfigTest, DefaultsWithoutEnvironment) {
  const ParseResult r = ParseCommandLine({}, FakeEnv({}));
  EXPECT_TRUE(r.error.empty());
  EXPECT_EQ(r.options.deploy_server, DefaultDeployServer());
  EXPECT_TRUE(r.options.grpc_authentication);
  EXPECT_TRUE(r.options.grpc_use_tls);
  EXPECT_TRUE(r.options.retry);
  EXPECT_FALSE(r.options.wait);
  EXPECT_EQ(r.options.timeout, std::chrono::minutes(10));
  EXPECT_TRUE(r.options.resources.empty());
}

TEST(ConfigTest, FlagBeatsEnvironmentBeatsDefault) {
  const auto env = FakeEnv({{"CLUSTER", "env-cluster"}, {"TEAM", "env-team"}, {"WAIT", "true"}});
  const ParseResult r = ParseCommandLine({"--cluster", "flag-cluster", "--wait=false"}, env);
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.options.cluster, "flag-cluster");
  EXPECT_EQ(r.options.team, "env-team");
  EXPECT_FALSE(r.options.wait);
}

TEST(ConfigTest, EnvironmentBooleansUseGoParseBool) {
  for (const char* yes : {"1", "t", "T", "TRUE", "true", "True"}) {
    EXPECT_TRUE(ParseCommandLine({}, FakeEnv({{"WAIT", yes}})).options.wait) << yes;
  }
  for (const char* no : {"0", "f", "F", "FALSE", "false", "False"}) {
    EXPECT_FALSE(ParseCommandLine({}, FakeEnv({{"RETRY", no}})).options.retry) << no;
  }
  // Anything else keeps the default.
  EXPECT_TRUE(ParseCommandLine({}, FakeEnv({{"RETRY", "yes"}})).options.retry);
  EXPECT_FALSE(ParseCommandLine({}, FakeEnv({{"WAIT", "on"}})).options.wait);
  EXPECT_TRUE(ParseCommandLine({}, FakeEnv({{"GRPC_USE_TLS", ""}})).options.grpc_use_tls);
}

TEST(ConfigTest, EnvironmentDurationInvalidKeepsDefault) {
  EXPECT_EQ(ParseCommandLine({}, FakeEnv({{"TIMEOUT", "90s"}})).options.timeout,
            std::chrono::seconds(90));
  EXPECT_EQ(ParseCommandLine({}, FakeEnv({{"TIMEOUT", "ten minutes"}})).options.timeout,
            std::chrono::minutes(10));
}

TEST(ConfigTest, GetEnvStringSliceStripsSpaces) {
  const ParseResult r =
      ParseCommandLine({}, FakeEnv({{"RESOURCE", "file.name, foo.json, bar.com"}}));
  EXPECT_EQ(r.options.resources, (std::vector<std::string>{"file.name", "foo.json", "bar.com"}));
}

TEST(ConfigTest, ListFlagsRepeatCommaSplitAndReplaceEnvironment) {
  const auto env = FakeEnv({{"RESOURCE", "env.yaml"}, {"VAR", "a=1"}});
  const ParseResult r =
      ParseCommandLine({"--resource", "a.yaml,b.yaml", "--resource=c.yaml", "--var", "x=1"}, env);
  EXPECT_EQ(r.options.resources, (std::vector<std::string>{"a.yaml", "b.yaml", "c.yaml"}));
  EXPECT_EQ(r.options.vars, (std::vector<std::string>{"x=1"}));
}

TEST(ConfigTest, OwnerAndRepositoryAreClearedTogether) {
  const ParseResult r = ParseCommandLine({"--owner", "navikt"}, FakeEnv({}));
  EXPECT_EQ(r.options.owner, "");
  EXPECT_EQ(r.options.repository, "");
  const ParseResult both = ParseCommandLine({"--owner", "o", "--repository", "r"}, FakeEnv({}));
  EXPECT_EQ(both.options.owner, "o");
  EXPECT_EQ(both.options.repository, "r");
}

TEST(ConfigTest, SetButEmptyStringEnvironmentOverridesDefault) {
  EXPECT_EQ(ParseCommandLine({}, FakeEnv({{"DEPLOY_SERVER", ""}})).options.deploy_server, "");
}

TEST(ConfigTest, UsageErrorsUsePflagWording) {
  EXPECT_EQ(ParseCommandLine({"--nope"}, FakeEnv({})).error, "unknown flag: --nope");
  EXPECT_EQ(ParseCommandLine({"--cluster"}, FakeEnv({})).error,
            "flag needs an argument: --cluster");
  EXPECT_EQ(ParseCommandLine({"-x"}, FakeEnv({})).error, "unknown shorthand flag: 'x' in -x");
  EXPECT_EQ(ParseCommandLine({"--wait=maybe"}, FakeEnv({})).error,
            "invalid argument \"maybe\" for \"--wait\" flag: strconv.ParseBool: parsing "
            "\"maybe\": invalid syntax");
  EXPECT_EQ(ParseCommandLine({"--timeout", "soon"}, FakeEnv({})).error,
            "invalid argument \"soon\" for \"--timeout\" flag: time: invalid duration \"soon\"");
}

TEST(ConfigTest, BooleanFlagDoesNotConsumeNextArgument) {
  const ParseResult r = ParseCommandLine({"--wait", "extra", "--", "--cluster"}, FakeEnv({}));
  EXPECT_TRUE(r.options.wait);
  EXPECT_EQ(r.positional, (std::vector<std::string>{"extra", "--cluster"}));
  EXPECT_TRUE(r.options.cluster.empty());
}

TEST(ConfigTest, HelpListsEveryFlagWithItsEnvironmentVariable) {
  EXPECT_TRUE(ParseCommandLine({"--help"}, FakeEnv({})).help);
  const std::string usage = Usage();
  for (const char* text : {"--apikey", "(env APIKEY)", "--workload-name", "(env WORKLOAD_NAME)",
                           "--timeout duration", "(default 10m0s)", "--grpc-use-tls"}) {
    EXPECT_NE(usage.find(text), std::string::npos) << text;
  }
}

// --var and --resource are pflag StringSlices: each occurrence is one encoding/csv record.
TEST(ConfigTest, ListFlagsSplitAsCsvRecords) {
  const struct {
    std::vector<std::string> args;
    std::vector<std::string> vars;
  } cases[] = {
      {{"--var", "one=ONE,two=TWO"}, {"one=ONE", "two=TWO"}},
      {{"--var", "\"one=a,b\""}, {"one=a,b"}},
      {{"--var", "\"x=\"\"q\"\"\""}, {"x=\"q\""}},
      {{"--var", "\"one=a,b\",two=c", "--var=three"}, {"one=a,b", "two=c", "three"}},
      {{"--var", "a,,b,"}, {"a", "", "b", ""}},
      {{"--var", " a , b"}, {" a ", " b"}},
      {{"--var", ""}, {}},
      {{"--var", "first\nsecond"}, {"first"}},
      {{"--var", "\"multi\nline\",x"}, {"multi\nline", "x"}},
      {{"--var", "\n\nx=1\r\n"}, {"x=1"}},
      {{"--var", "key=caf\xC3\xA9"}, {"key=caf\xC3\xA9"}},
  };
  for (const auto& c : cases) {
    const ParseResult r = ParseCommandLine(c.args, FakeEnv({{"VAR", "from-env"}}));
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.options.vars, c.vars) << c.args.back();
  }
  EXPECT_EQ(ParseCommandLine({"--resource", "\"a,b.yaml\",c.yaml"}, FakeEnv({})).options.resources,
            (std::vector<std::string>{"a,b.yaml", "c.yaml"}));
}

TEST(ConfigTest, MalformedCsvRecordIsAFlagError) {
  const struct {
    const char* value;
    const char* error;
  } cases[] = {
      {"\"a",
       R"(invalid argument "\"a" for "--var" flag: parse error on line 1, column 3: extraneous or missing " in quoted-field)"},
      {"x=\"q\"",
       R"(invalid argument "x=\"q\"" for "--var" flag: parse error on line 1, column 3: bare " in non-quoted-field)"},
      {"\"a\"b",
       R"(invalid argument "\"a\"b" for "--var" flag: parse error on line 1, column 3: extraneous or missing " in quoted-field)"},
      {"ok,\"a\nb",
       R"(invalid argument "ok,\"a\nb" for "--var" flag: record on line 1; parse error on line 2, column 2: extraneous or missing " in quoted-field)"},
      {"\n", R"(invalid argument "\n" for "--var" flag: EOF)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ParseCommandLine({"--var", c.value}, FakeEnv({})).error, c.error) << c.value;
  }
}

// The VAR environment variable is split on commas (parts trimmed), not read as CSV.
TEST(ConfigTest, VarEnvironmentIsCommaSplitNotCsv) {
  EXPECT_EQ(ParseCommandLine({}, FakeEnv({{"VAR", "\"one=a,b\", two=c"}})).options.vars,
            (std::vector<std::string>{"\"one=a", "b\"", "two=c"}));
}

TEST(ConfigTest, MalformedVarExitsSixWithUsageAndFatalLine) {
  testing::Harness h;
  EXPECT_EQ(h.Run(testing::Harness::Base({"--var", "\"a"})), 6);
  EXPECT_NE(h.err.str().find("Usage: deploy [flags]"), std::string::npos);
  EXPECT_EQ(
      h.LastErrLine().substr(h.LastErrLine().find("level=")),
      R"(level=error msg="fatal: invalid argument \"\\\"a\" for \"--var\" flag: parse error on line 1, column 3: extraneous or missing \" in quoted-field")");
  EXPECT_TRUE(h.transport.deploy_requests.empty());
}

TEST(ConfigTest, ValidationFailuresInOrder) {
  EXPECT_EQ(Validate(testing::ValidOptions()), std::nullopt);
  Options o = testing::ValidOptions();
  o.resources.clear();
  EXPECT_EQ(Validate(o),
            "at least one Kubernetes resource is required to make sense of the deployment");
  o.workload_name = "app";
  EXPECT_EQ(Validate(o), "workload-image is required when using workload-name");
  o.workload_image = "image:1";
  EXPECT_EQ(Validate(o), std::nullopt);
  o = testing::ValidOptions();
  o.cluster = "";
  EXPECT_EQ(Validate(o),
            "cluster required; see reference section in the documentation for available "
            "environments");
  o = testing::ValidOptions();
  o.apikey = "";
  EXPECT_EQ(Validate(o), "Github token or API key required");
  o.github_token_url = "http://token";
  EXPECT_EQ(Validate(o), "Github token or API key required");
  o.github_bearer_token = "bearer";
  EXPECT_EQ(Validate(o), std::nullopt);
  o = testing::ValidOptions();
  o.apikey = "malformed";
  EXPECT_EQ(Validate(o), "API key must be a hex encoded string");
}

TEST(ConfigTest, GoHexDecodeErrors) {
  std::string error;
  EXPECT_EQ(GoHexDecode("0aFF", &error), std::string("\x0a\xff", 2));
  EXPECT_FALSE(GoHexDecode("malformed", &error));
  EXPECT_EQ(error, "encoding/hex: invalid byte: U+006D 'm'");
  EXPECT_FALSE(GoHexDecode("abc", &error));
  EXPECT_EQ(error, "encoding/hex: odd length hex string");
  EXPECT_FALSE(GoHexDecode("abz", &error));
  EXPECT_EQ(error, "encoding/hex: invalid byte: U+007A 'z'");
}

}  // namespace
}  // namespace deploy_cli
