// docker-compose.yml: valid for Debian's docker-compose, the database the original README and
// hookd's defaults expect, and command lines that the programs' own configuration code accepts.
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/config.hpp"
#include "deploy-cli/config.hpp"
#include "deployd/config.hpp"
#include "hookd/config.hpp"
#include "packaging.hpp"

namespace packaging {
namespace {

// The ENTRYPOINT program ("/app/<name>") of a Dockerfile.
std::string EntrypointProgram(const std::string& dockerfile) {
  const std::string text = testsupport::ReadFile(dockerfile);
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(R"re(\nENTRYPOINT \["/app/([a-z-]+)"\])re")))
    return "";
  return m[1];
}

// `docker-compose config` (all profiles), normalised, once per test process; nullptr with the
// failure recorded when it does not validate.
const json* Config() {
  static const std::optional<json> config = []() -> std::optional<json> {
    auto result = testsupport::Run(
        {"docker-compose", "-f", Source("docker-compose.yml"), "--profile", "stack", "config"},
        {{"HOME", testsupport::MakeTempDir("compose-home")}}, std::chrono::seconds(60));
    EXPECT_EQ(result.exit_code, 0) << "docker-compose config (scripts/bootstrap installs "
                                      "docker-compose):\n"
                                   << result.out << result.err;
    if (result.exit_code != 0) return std::nullopt;
    return YamlDocs(result.out).at(0);
  }();
  return config ? &*config : nullptr;
}

const json& Service(const std::string& name) { return (*Config())["services"][name]; }

std::vector<std::string> Command(const std::string& service) {
  return Service(service).value("command", json::array()).get<std::vector<std::string>>();
}

// KEY=VALUE of a service's environment (docker-compose config prints a mapping).
std::map<std::string, std::string> Environment(const std::string& service) {
  std::map<std::string, std::string> env;
  const json environment = Service(service).value("environment", json::object());
  for (const auto& [k, v] : environment.items()) {
    env[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return env;
}

void ExpectDatabaseIsWhatHookdsDefaultUrlConnectsTo() {
  const json& pg = Service("postgres-hookd");
  EXPECT_FALSE(pg.contains("profiles")) << "`docker-compose up` starts the database";
  const auto env = Environment("postgres-hookd");
  EXPECT_EQ(env.at("POSTGRES_USER"), "postgres");
  EXPECT_EQ(env.at("POSTGRES_PASSWORD"), "root");
  EXPECT_EQ(env.at("POSTGRES_DB"), "hookd");
  ASSERT_EQ(pg["ports"].size(), 1u) << pg.dump();
  EXPECT_EQ(pg["ports"][0]["published"], 5432);
  EXPECT_EQ(pg["ports"][0]["target"], 5432);

  std::string default_url;
  for (const auto& spec : hookd::HookdSettings()) {
    if (spec.key == "database-url") default_url = spec.default_value;
  }
  EXPECT_EQ(default_url, "postgresql://" + env.at("POSTGRES_USER") + ":" +
                             env.at("POSTGRES_PASSWORD") + "@127.0.0.1:5432/" +
                             env.at("POSTGRES_DB"));
}

void ExpectTheStackIsAProfileWithTheProgramsImages() {
  for (const char* name : {"hookd", "kube-sim", "deployd", "deploy"}) {
    const json& s = Service(name);
    ASSERT_TRUE(s.is_object()) << name;
    EXPECT_EQ(s.value("profiles", json::array()), json::array({"stack"})) << name;
    const std::string dockerfile = s["build"]["context"].get<std::string>() + "/" +
                                   s["build"]["dockerfile"].get<std::string>();
    ASSERT_TRUE(std::filesystem::exists(dockerfile)) << dockerfile;
    EXPECT_EQ(EntrypointProgram(dockerfile), name) << dockerfile;
  }
}

void ExpectHookdCommandLineIsAccepted() {
  std::vector<std::string> args = Command("hookd");
  args.insert(args.begin(), "hookd");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  auto loaded =
      hookd::LoadConfig(static_cast<int>(argv.size()), argv.data(), EnvOf(Environment("hookd")));
  ASSERT_TRUE(loaded.config.has_value()) << "exit " << loaded.exit_code;
  EXPECT_NO_THROW(hookd::SecurityWarnings(*loaded.config)) << "listens beyond loopback";
  const auto pg = Environment("postgres-hookd");
  EXPECT_EQ(loaded.config->database_url, "postgresql://" + pg.at("POSTGRES_USER") + ":" +
                                             pg.at("POSTGRES_PASSWORD") + "@postgres-hookd:5432/" +
                                             pg.at("POSTGRES_DB"));
  EXPECT_EQ(loaded.config->grpc_address, "0.0.0.0:9090");
  EXPECT_EQ(loaded.config->listen_address, "0.0.0.0:8080");
  EXPECT_EQ(Service("hookd")["depends_on"]["postgres-hookd"]["condition"], "service_healthy");
}

void ExpectDeploydCommandLineIsAccepted() {
  common::LayeredConfig config(deployd::Settings());
  CLI::App app;
  config.Bind(app);
  std::string config_file;
  app.add_option("--config", config_file);
  std::vector<std::string> args = Command("deployd");
  std::reverse(args.begin(), args.end());
  ASSERT_NO_THROW(app.parse(args));
  ASSERT_NO_THROW(config.Resolve(EnvOf(Environment("deployd")), ""));
  EXPECT_EQ(config.Get("cluster"), "local");
  EXPECT_EQ(config.Get("grpc.server"), "hookd:9090");
  EXPECT_EQ(config.Get("kubeconfig"), "/kube/config");
  // The kubeconfig kube-sim writes into the shared volume, on the address it listens on.
  EXPECT_EQ(Service("deployd")["network_mode"], "service:kube-sim");
  const auto kube_sim = Command("kube-sim");
  EXPECT_NE(std::find(kube_sim.begin(), kube_sim.end(), "--kubeconfig-out=/kube/config"),
            kube_sim.end());
  EXPECT_NE(std::find(kube_sim.begin(), kube_sim.end(), "--listen=127.0.0.1:6443"), kube_sim.end());
  EXPECT_EQ(Service("deployd")["depends_on"]["kube-sim"]["condition"], "service_healthy");
}

void ExpectKubeSimFlagsExist() {
  for (const auto& flag : FlagNames(Command("kube-sim"))) {
    EXPECT_TRUE(HelpHasFlag("kube-sim", flag)) << "--" << flag;
  }
}

void ExpectCliDeploysTheExampleThroughHookd() {
  auto parsed = deploy_cli::ParseCommandLine(Command("deploy"), EnvOf(Environment("deploy")));
  ASSERT_EQ(parsed.error, "");
  EXPECT_TRUE(parsed.positional.empty());
  EXPECT_EQ(deploy_cli::Validate(parsed.options), std::nullopt);
  EXPECT_EQ(parsed.options.deploy_server, "hookd:9090");
  EXPECT_TRUE(parsed.options.wait);
  EXPECT_FALSE(parsed.options.grpc_use_tls);
  // The resource comes from the repository's examples/ through the service's volume.
  ASSERT_EQ(parsed.options.resources.size(), 1u);
  // docker-compose config prints it as "<absolute source>:<target>:ro".
  const std::string mount = Service("deploy")["volumes"][0].get<std::string>();
  const std::string volume = mount.substr(0, mount.find(':'));
  const std::string target =
      mount.substr(volume.size() + 1, mount.find(':', volume.size() + 1) - volume.size() - 1);
  EXPECT_EQ(volume, Source("examples"));
  ASSERT_EQ(parsed.options.resources[0].rfind(target + "/", 0), 0u);
  EXPECT_TRUE(std::filesystem::exists(volume + parsed.options.resources[0].substr(target.size())));
}

// One test: under ctest every test is a process of its own, and docker-compose takes a while
// to start.
TEST(Compose, ValidAndEveryCommandLineIsAcceptedByItsProgram) {
  ASSERT_NE(Config(), nullptr);
  {
    SCOPED_TRACE("database");
    ExpectDatabaseIsWhatHookdsDefaultUrlConnectsTo();
  }
  {
    SCOPED_TRACE("stack");
    ExpectTheStackIsAProfileWithTheProgramsImages();
  }
  {
    SCOPED_TRACE("hookd");
    ExpectHookdCommandLineIsAccepted();
  }
  {
    SCOPED_TRACE("deployd");
    ExpectDeploydCommandLineIsAccepted();
  }
  {
    SCOPED_TRACE("kube-sim");
    ExpectKubeSimFlagsExist();
  }
  {
    SCOPED_TRACE("deploy");
    ExpectCliDeploysTheExampleThroughHookd();
  }
}

}  // namespace
}  // namespace packaging
