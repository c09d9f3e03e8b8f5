// Large manifests and the one message size limit, through the real chain: the deploy CLI ->
// hookd (real Postgres) -> deployd -> kube-sim, checked with the real kubectl. Also the queued
// status of a cluster whose deployd is not connected, and what a large unsigned body costs the
// hookd binary in memory (measured here, on the plain build: a sanitizer's shadow memory and
// quarantine would swamp the figure).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/time.hpp"
#include "support/chain.hpp"
#include "support/cli_env.hpp"
#include "support/http_call.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"
#include "support/sanitizers.hpp"

namespace {

// The CI job's environment for the CLI, plus `extra`.
std::map<std::string, std::string> Environment(std::map<std::string, std::string> extra) {
  extra.insert(testsupport::CiEnvironment().begin(), testsupport::CiEnvironment().end());
  return extra;
}

using namespace std::chrono_literals;
using testsupport::BinaryPath;

constexpr const char* kApiKey = "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d";
// One ConfigMap's data: Kubernetes keeps an object below about 1 MiB.
constexpr std::size_t kConfigMapBytes = 850000;

// `count` ConfigMaps named <prefix>-<i> of kConfigMapBytes each, in one file (the shape of a
// generated dashboard or CRD bundle); returns its path.
std::string WriteConfigMapSet(const std::string& dir, const std::string& prefix, int count) {
  std::string path = dir + "/" + prefix + ".yaml";
  std::ofstream out(path);
  for (int i = 0; i < count; ++i) {
    out << "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " << prefix << "-" << i
        << "\n  namespace: aura\n  labels:\n    team: aura\ndata:\n  dashboard.json: '"
        << std::string(kConfigMapBytes, static_cast<char>('a' + i % 26)) << "'\n";
  }
  return path;
}

testsupport::RunResult RunCli(const std::string& server, const std::string& resource,
                              std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{BinaryPath("deploy"),
                                "--resource",
                                resource,
                                "--cluster",
                                "local",
                                "--apikey",
                                kApiKey,
                                "--grpc-authentication=false",
                                "--grpc-use-tls=false",
                                "--deploy-server",
                                server,
                                "--actions",
                                "--timeout",
                                "120s"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return testsupport::Run(argv, Environment({{"MAX_MESSAGE_SIZE", "\x01unset"}}), 150s);
}

// The last line of the CLI's log, which carries `fatal: ...` on failure.
std::string LastLine(const std::string& text) {
  std::string trimmed = text;
  while (!trimmed.empty() && trimmed.back() == '\n') trimmed.pop_back();
  const auto nl = trimmed.rfind('\n');
  return nl == std::string::npos ? trimmed : trimmed.substr(nl + 1);
}

// Matches `line` against `pattern` (one group: a size in bytes) and returns that size (0 if it
// does not match).
std::size_t SizeIn(const std::string& line, const std::string& pattern) {
  std::smatch match;
  if (!std::regex_match(line, match, std::regex(pattern))) return 0;
  return std::stoul(match[1]);
}

// hookd alone (no deployd, no kube-sim) on a private database, on free ports, with `extra` flags.
struct LoneHookd {
  explicit LoneHookd(const testsupport::TestDatabase& db,
                     const std::vector<std::string>& extra = {})
      : process(Argv(db, extra)) {}
  // Both ports accept connections.
  bool Up() const {
    return testsupport::WaitForPort(grpc_port, 30s) && testsupport::WaitForPort(http_port, 30s);
  }
  std::vector<std::string> Argv(const testsupport::TestDatabase& db,
                                const std::vector<std::string>& extra) const {
    std::vector<std::string> argv{BinaryPath("hookd"),
                                  "--database-url",
                                  db.Url(),
                                  "--grpc.address",
                                  "127.0.0.1:" + std::to_string(grpc_port),
                                  "--listen-address",
                                  "127.0.0.1:" + std::to_string(http_port)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  const int grpc_port = testsupport::FreePort();
  const int http_port = testsupport::FreePort();
  testsupport::ChildProcess process;
};

class LimitsChain : public testsupport::ChainFixture {
 protected:
  void StartChain(std::vector<std::string> hookd_flags, std::vector<std::string> deployd_flags) {
    testsupport::ChainOptions options;
    options.dir_prefix = "e2e-limits";
    options.hookd_flags = std::move(hookd_flags);
    options.deployd_flags = std::move(deployd_flags);
    options.remove_dir = true;
    StartChainOn(options);
  }

  long Deployments() {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    return tx.exec1("SELECT count(*) FROM deployment")[0].as<long>();
  }

  // The ConfigMap as the real kubectl sees it (null when it does not exist).
  nlohmann::json KubectlGet(const std::string& name) {
    auto result = testsupport::Run({"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context",
                                    "admin", "get", "configmap", name, "-n", "aura", "-o", "json"},
                                   {}, 60s);
    if (result.exit_code != 0) return nullptr;
    return nlohmann::json::parse(result.out, nullptr, false);
  }
};

TEST_F(LimitsChain, FiveMegabyteManifestDeploysAndLargerOnesNameTheLimitThatRefusedThem) {
  // hookd at 6 MiB, the CLI and deployd at their default (32 MiB).
  ASSERT_NO_FATAL_FAILURE(StartChain({"--max-message-size", "6MiB"}, {}));
  const std::string five_mb = WriteConfigMapSet(chain_.Dir(), "dashboards", 6);
  ASSERT_GT(std::filesystem::file_size(five_mb), 5000000u);

  auto deployed = RunCli(chain_.GrpcAddress(), five_mb, {"--wait"});
  ASSERT_EQ(deployed.exit_code, 0) << LastLine(deployed.err) << chain_.Logs();
  EXPECT_NE(deployed.err.find("Status: success: Deployment completed successfully."),
            std::string::npos)
      << LastLine(deployed.err);
  for (int i = 0; i < 6; ++i) {
    const auto cm = KubectlGet("dashboards-" + std::to_string(i));
    ASSERT_TRUE(cm.is_object()) << i;
    EXPECT_EQ(cm["data"]["dashboard.json"].get<std::string>().size(), kConfigMapBytes);
  }
  EXPECT_EQ(Deployments(), 1);

  // Within the CLI's limit, over hookd's: hookd names its own limit and setting (gRPC, then the
  // HTTP API). Nothing is stored.
  const std::string seven_mb = WriteConfigMapSet(chain_.Dir(), "bigger", 8);
  const std::string hookd_limit =
      " bytes, more than hookd accepts \\(6291456 bytes = 6 MiB, set by hookd's "
      "--max-message-size or HOOKD_MAX_MESSAGE_SIZE\\)";
  auto grpc = RunCli(chain_.GrpcAddress(), seven_mb);
  EXPECT_EQ(grpc.exit_code, 4) << grpc.err;
  EXPECT_GT(
      SizeIn(LastLine(grpc.err),
             "::error::fatal: ResourceExhausted: deployment request is ([0-9]+)" + hookd_limit),
      8 * kConfigMapBytes)
      << LastLine(grpc.err);
  auto http = RunCli(chain_.HttpUrl(), seven_mb);
  EXPECT_EQ(http.exit_code, 4) << http.err;
  EXPECT_GT(SizeIn(LastLine(http.err),
                   "::error::fatal: ResourceExhausted: request body is ([0-9]+)" + hookd_limit),
            8 * kConfigMapBytes)
      << LastLine(http.err);

  // Over the CLI's own limit: refused before anything is sent.
  auto cli = RunCli(chain_.GrpcAddress(), five_mb, {"--max-message-size", "4MiB"});
  EXPECT_EQ(cli.exit_code, 4) << cli.err;
  EXPECT_GT(SizeIn(LastLine(cli.err),
                   "::error::fatal: deployment request is ([0-9]+) bytes, more than this client "
                   "accepts \\(4194304 bytes = 4 MiB, set by --max-message-size or "
                   "MAX_MESSAGE_SIZE\\); hookd and deployd have the same setting and must accept "
                   "the size too"),
            6 * kConfigMapBytes)
      << LastLine(cli.err);
  EXPECT_EQ(Deployments(), 1);
}

TEST_F(LimitsChain, DeploydWithASmallerLimitEndsTheDeploymentWithItsLimit) {
  ASSERT_NO_FATAL_FAILURE(StartChain({}, {"--max-message-size", "1MiB"}));
  const std::string two_mb = WriteConfigMapSet(chain_.Dir(), "pair", 2);
  auto result = RunCli(chain_.GrpcAddress(), two_mb, {"--wait"});
  EXPECT_EQ(result.exit_code, 2) << result.err << chain_.Logs();
  EXPECT_GT(SizeIn(LastLine(result.err.substr(0, result.err.rfind("::error::fatal"))),
                   "::error::Status: error: deployment request is ([0-9]+) bytes, more than the "
                   "deployd of cluster 'local' accepts \\(1048576 bytes = 1 MiB, set by deployd's "
                   "--max-message-size or DEPLOYD_MAX_MESSAGE_SIZE\\); nothing was applied"),
            2 * kConfigMapBytes)
      << result.err;
  EXPECT_EQ(LastLine(result.err), "::error::fatal: deployment system encountered an error");
  EXPECT_TRUE(KubectlGet("pair-0").is_null());
}

TEST(QueuedWithoutDeployd, StatusSaysTheClustersDeploydIsNotConnectedUntilWhen) {
  testsupport::TestDatabase db;
  ASSERT_TRUE(db.Available());
  LoneHookd hookd(db);
  ASSERT_TRUE(hookd.Up()) << hookd.process.Log();
  const int grpc_port = hookd.grpc_port;
  const auto before = std::chrono::system_clock::now();
  auto result = RunCli("127.0.0.1:" + std::to_string(grpc_port),
                       testsupport::SourceDir() + "/examples/configmap.yaml");
  const auto after = std::chrono::system_clock::now();
  ASSERT_EQ(result.exit_code, 0) << result.err << hookd.process.Log();
  std::smatch match;
  const std::string line = LastLine(result.err);
  ASSERT_TRUE(std::regex_match(
      line, match,
      std::regex("\\[[^ ]+\\] Status: queued: deployd for cluster 'local' is not connected; "
                 "waiting until ([0-9T:-]+Z)")))
      << result.err;
  // The deadline is the CLI's: its start plus --timeout (120 s), to the second.
  const auto deadline = common::ParseRfc3339(match[1].str());
  ASSERT_TRUE(deadline.has_value()) << match[1];
  EXPECT_GE(*deadline, before + 120s - 1s);
  EXPECT_LE(*deadline, after + 120s);
}

// A request is verified before its JSON is parsed into a tree: ~5 MiB of nested empty arrays,
// unsigned, costs hookd about its size, not a DOM of it (~20 times its size).
TEST(HookdMemory, UnsignedLargeBodiesCostTheirSizeNotADom) {
  testsupport::TestDatabase db;
  ASSERT_TRUE(db.Available());
  LoneHookd hookd(db, {"--max-message-size", "8MiB"});
  ASSERT_TRUE(hookd.Up()) << hookd.process.Log();
  const int http_port = hookd.http_port;
  nlohmann::json body = {{"resources", nlohmann::json::array()},
                         {"team", "aura"},
                         {"cluster", "local"},
                         {"environment", "dev"},
                         {"ref", "main"},
                         {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count()}};
  std::string text = body.dump();
  std::string filler = "[";
  for (int i = 0; i < 1800000; ++i) filler += "[],";
  filler += "[]]";
  text.insert(text.find("\"resources\":[") + 13, filler);
  ASSERT_GT(text.size(), 5u << 20);
  ASSERT_TRUE(nlohmann::json::accept(text));
  const long before = testsupport::ProcStatus(hookd.process.Pid(), "VmHWM");
  for (int i = 0; i < 3; ++i) {
    auto reply = testsupport::Call(
        http_port, "POST", "/api/v1/deploy", text,
        {{"Content-Type", "application/json"}, {"X-NAIS-Signature", std::string(64, '7')}});
    EXPECT_EQ(reply.status, 403);
    EXPECT_EQ(nlohmann::json::parse(reply.body, nullptr, false).value("message", ""),
              "failed authentication");
  }
  const long after = testsupport::ProcStatus(hookd.process.Pid(), "VmHWM");
  std::cout << "unsigned " << text.size() / 1024 << " KiB body x3: hookd peak RSS " << before
            << " -> " << after << " KiB\n";
  ASSERT_GT(before, 0);
  // The body itself is held a few times (socket buffer, request, scan), and freed blocks may stay
  // in another thread's malloc arena: 35 MiB typically, 48 MiB seen on a loaded machine. A DOM
  // would be >100 MiB. (Under AddressSanitizer, SANITIZERS=1, every freed body stays in its
  // quarantine: no bound to hold.)
  if (!testsupport::kAddressSanitizer) {
    EXPECT_LT(after - before, 72 * 1024)
        << "peak RSS grew from " << before << " to " << after << " KiB";
  }
  EXPECT_TRUE(hookd.process.Running()) << hookd.process.Log();
  EXPECT_EQ(testsupport::Call(http_port, "GET", "/healthz").status, 200);
}

}  // namespace
