// `deploy --plan` and `deploy --prune` through the whole chain (CLI -> hookd -> deployd ->
// kube-sim, real Postgres), with the real kubectl reading the cluster and, for ApplySets, taking
// over a set deployd wrote and handing one back.
#include <chrono>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/applyset.hpp"
#include "support/chain.hpp"
#include "support/cli_env.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;

constexpr const char* kApiKey = "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d";

std::string ConfigMap(const std::string& name, const std::string& value) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name +
         "\n  namespace: aura\ndata:\n  value: \"" + value + "\"\n";
}

class PlanPruneTest : public testsupport::ChainFixture {
 protected:
  void SetUp() override {
    testsupport::ChainOptions options;
    options.dir_prefix = "e2e-plan";
    ASSERT_NO_FATAL_FAILURE(StartChainOn(options));
  }

  // Writes a manifest file into the chain's directory; returns its path.
  std::string Manifest(const std::string& name, const std::string& text) {
    std::string path = chain_.Dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  testsupport::RunResult Deploy(const std::vector<std::string>& files,
                                const std::vector<std::string>& extra) {
    std::vector<std::string> argv = chain_.CliCommand(kApiKey);
    argv.insert(argv.end(), {"--wait", "--timeout", "60s"});
    for (const auto& file : files) {
      argv.push_back("--resource");
      argv.push_back(file);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    return testsupport::Run(argv, testsupport::CiEnvironment(), 90s);
  }

  testsupport::RunResult Kubectl(std::vector<std::string> args,
                                 const std::map<std::string, std::string>& env = {}) {
    args.insert(args.begin(),
                {"kubectl", "--kubeconfig", chain_.Kubeconfig(), "--context", "admin"});
    return testsupport::Run(args, env, 60s);
  }

  // name -> resourceVersion of every ConfigMap and Secret in namespace aura.
  std::map<std::string, std::string> Versions() {
    auto result = Kubectl({"get", "configmaps,secrets", "-n", "aura", "-o", "json"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    std::map<std::string, std::string> out;
    if (result.exit_code != 0) return out;
    const auto list = nlohmann::json::parse(result.out);  // outlives the loop over its items
    for (const auto& item : list["items"]) {
      out[item["kind"].get<std::string>() + "/" + item["metadata"]["name"].get<std::string>()] =
          item["metadata"]["resourceVersion"].get<std::string>();
    }
    return out;
  }

  bool Exists(const std::string& kind, const std::string& name) {
    auto result = Kubectl({"get", kind, name, "-n", "aura", "-o", "name"});
    return result.exit_code == 0;
  }

  nlohmann::json Get(const std::string& kind, const std::string& name) {
    auto result = Kubectl({"get", kind, name, "-n", "aura", "-o", "json"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? nlohmann::json::parse(result.out) : nlohmann::json();
  }

  // Statuses (state, message) of the newest deployment, oldest first.
  std::vector<std::pair<std::string, std::string>> LastStatuses() {
    pqxx::connection conn(db_.Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec(
        "SELECT status, message FROM deployment_status WHERE deployment_id = "
        "(SELECT id FROM deployment ORDER BY created DESC LIMIT 1) ORDER BY created, id");
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& row : rows)
      out.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    return out;
  }

  std::string Logs() const { return chain_.Logs(); }
};

TEST_F(PlanPruneTest, PlanShowsCreatedChangedUnchangedAndChangesNothing) {
  const auto same = Manifest("same.yaml", ConfigMap("plan-same", "1"));
  const auto changing = Manifest("changing.yaml", ConfigMap("plan-changing", "old"));
  const auto secret = Manifest("secret.yaml",
                               "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plan-secret\n"
                               "  namespace: aura\nstringData:\n  password: old-password\n"
                               "  kept: kept-value\n");
  auto first = Deploy({same, changing, secret}, {});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err << Logs();

  // Nothing differs: every resource unchanged, exit 0 even with --detailed-exitcode.
  auto unchanged = Deploy({same, changing, secret}, {"--plan", "--detailed-exitcode"});
  EXPECT_EQ(unchanged.exit_code, 0) << unchanged.out << unchanged.err << Logs();
  EXPECT_EQ(unchanged.out,
            "unchanged ConfigMap aura/plan-same\n"
            "unchanged ConfigMap aura/plan-changing\n"
            "unchanged Secret aura/plan-secret\n"
            "0 created, 0 changed, 3 unchanged, 0 refused\n")
      << unchanged.err;

  Manifest("changing.yaml", ConfigMap("plan-changing", "new"));
  Manifest("secret.yaml",
           "apiVersion: v1\nkind: Secret\nmetadata:\n  name: plan-secret\n"
           "  namespace: aura\nstringData:\n  password: new-password\n  kept: kept-value\n");
  const auto created = Manifest("created.yaml", ConfigMap("plan-created", "x"));
  const auto before = Versions();
  auto plan = Deploy({same, changing, secret, created}, {"--plan", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 10) << plan.out << plan.err << Logs();
  EXPECT_NE(plan.out.find("unchanged ConfigMap aura/plan-same\n"
                          "changed ConfigMap aura/plan-changing\n"
                          "--- live\n"
                          "+++ planned\n"),
            std::string::npos)
      << plan.out;
  EXPECT_NE(plan.out.find("-  value: old\n+  value: new\n"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("changed Secret aura/plan-secret\n"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("-  password: \"***\"\n+  password: \"*** (changed)\"\n"),
            std::string::npos)
      << plan.out;
  // Neither value of the Secret is shown (nor its base64 form).
  for (const char* hidden : {"old-password", "new-password", "kept-value", "b2xkLXBhc3N3b3Jk",
                             "bmV3LXBhc3N3b3Jk", "a2VwdC12YWx1ZQ=="}) {
    EXPECT_EQ((plan.out + plan.err).find(hidden), std::string::npos) << hidden;
  }
  EXPECT_NE(plan.out.find("created ConfigMap aura/plan-created\n"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("1 created, 2 changed, 1 unchanged, 0 refused\n"), std::string::npos)
      << plan.out;
  EXPECT_NE(plan.err.find("The plan has changes (exit code 10)."), std::string::npos) << plan.err;

  // Nothing was written: same objects, same resourceVersions; the new one does not exist.
  EXPECT_EQ(Versions(), before);
  EXPECT_FALSE(Exists("configmap", "plan-created"));
  EXPECT_EQ(Get("configmap", "plan-changing")["data"]["value"], "old");

  // hookd recorded the plan as a deployment of its own, with its own trail.
  const auto statuses = LastStatuses();
  ASSERT_GE(statuses.size(), 3u);
  EXPECT_EQ(statuses.front().first, "queued");
  EXPECT_EQ(statuses.front().second.rfind("[plan] ", 0), 0u) << statuses.front().second;
  EXPECT_EQ(statuses.back(),
            std::make_pair(std::string("success"),
                           std::string("plan: 1 created, 2 changed, 1 unchanged, 0 refused")));
  bool saw_changed = false;
  for (const auto& [state, message] : statuses) {
    if (message.rfind("plan: changed ConfigMap aura/plan-changing\n", 0) == 0) saw_changed = true;
  }
  EXPECT_TRUE(saw_changed);

  // Without --detailed-exitcode a plan with changes exits 0.
  auto plain = Deploy({same, changing}, {"--plan"});
  EXPECT_EQ(plain.exit_code, 0) << plain.out << plain.err;
}

TEST_F(PlanPruneTest, RefusedResourceFailsThePlanWithTheApiMessage) {
  const auto ok = Manifest("ok.yaml", ConfigMap("plan-ok", "1"));
  // Another team's namespace: the team may not write there.
  const auto foreign = Manifest("foreign.yaml",
                                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: foreign\n"
                                "  namespace: kube-system\ndata:\n  a: b\n");
  auto plan = Deploy({ok, foreign}, {"--plan", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 1) << plan.out << plan.err << Logs();
  EXPECT_NE(plan.out.find("created ConfigMap aura/plan-ok\n"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("refused ConfigMap kube-system/foreign\nget existing resource: "
                          "configmaps \"foreign\" is forbidden: User "
                          "\"system:serviceaccount:aura:serviceuser-aura\" cannot get resource "
                          "\"configmaps\" in API group \"\" in the namespace \"kube-system\""),
            std::string::npos)
      << plan.out;
  EXPECT_NE(plan.out.find("1 created, 0 changed, 0 unchanged, 1 refused\n"), std::string::npos)
      << plan.out;
  EXPECT_FALSE(Exists("configmap", "plan-ok"));
}

TEST_F(PlanPruneTest, PruneDeletesOnlyWhatTheSetNoLongerContains) {
  const auto a = Manifest("a.yaml", ConfigMap("prune-a", "1"));
  const auto b = Manifest("b.yaml", ConfigMap("prune-b", "1"));
  auto unrelated =
      Kubectl({"create", "configmap", "unrelated", "-n", "aura", "--from-literal=x=y"});
  ASSERT_EQ(unrelated.exit_code, 0) << unrelated.err;

  auto first = Deploy({a, b}, {"--prune", "--applyset", "my-set"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err << Logs();
  const std::string id = common::ApplySetId("my-set", "aura", "Secret", "");
  auto parent = Get("secret", "my-set");
  EXPECT_EQ(parent["metadata"]["labels"]["applyset.kubernetes.io/id"], id);
  EXPECT_EQ(parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
            "ConfigMap");
  EXPECT_EQ(parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"],
            "kubectl/v1.32.0-deployd");
  EXPECT_EQ(Get("configmap", "prune-b")["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
            id);

  // The plan shows what would go, and deletes nothing.
  auto plan = Deploy({a}, {"--prune", "--applyset", "my-set", "--plan", "--detailed-exitcode"});
  EXPECT_EQ(plan.exit_code, 10) << plan.out << plan.err << Logs();
  EXPECT_EQ(plan.out,
            "unchanged ConfigMap aura/prune-a\n"
            "pruned ConfigMap aura/prune-b\n"
            "0 created, 0 changed, 1 unchanged, 0 refused, 1 pruned\n")
      << plan.err;
  EXPECT_TRUE(Exists("configmap", "prune-b"));

  auto second = Deploy({a}, {"--prune", "--applyset", "my-set"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err << Logs();
  EXPECT_NE(second.err.find("Pruned ConfigMap aura/prune-b"), std::string::npos) << second.err;
  EXPECT_FALSE(Exists("configmap", "prune-b"));
  EXPECT_TRUE(Exists("configmap", "prune-a"));
  EXPECT_TRUE(Exists("configmap", "unrelated"));  // never in the set: never deleted

  // A failed apply prunes nothing.
  const auto bad = Manifest("bad.yaml",
                            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n"
                            "  namespace: kube-system\ndata:\n  a: b\n");
  auto failed = Deploy({a, bad}, {"--prune", "--applyset", "my-set", "--team", "aura"});
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("Not every resource was applied: nothing is pruned"), std::string::npos)
      << failed.err;
  EXPECT_NE(failed.err.find("; nothing was pruned"), std::string::npos) << failed.err;
  EXPECT_TRUE(Exists("configmap", "prune-a"));
}

TEST_F(PlanPruneTest, KubectlAndDeploydTakeOverEachOthersSets) {
  const auto a = Manifest("a.yaml", ConfigMap("set-a", "1"));
  const auto b = Manifest("b.yaml", ConfigMap("set-b", "1"));
  auto ours = Deploy({a, b}, {"--prune", "--applyset", "shared"});
  ASSERT_EQ(ours.exit_code, 0) << ours.out << ours.err << Logs();

  // kubectl prunes the set deployd wrote.
  auto taken = Kubectl({"apply", "--prune", "--applyset=shared", "-n", "aura", "-f", a},
                       {{"KUBECTL_APPLYSET", "true"}});
  ASSERT_EQ(taken.exit_code, 0) << taken.out << taken.err;
  EXPECT_FALSE(Exists("configmap", "set-b")) << taken.out;
  EXPECT_TRUE(Exists("configmap", "set-a"));

  // deployd prunes a set kubectl wrote.
  const auto c = Manifest("c.yaml", ConfigMap("set-c", "1"));
  const auto d = Manifest("d.yaml", ConfigMap("set-d", "1"));
  auto kubectl_set =
      Kubectl({"apply", "--prune", "--applyset=from-kubectl", "-n", "aura", "-f", c, "-f", d},
              {{"KUBECTL_APPLYSET", "true"}});
  ASSERT_EQ(kubectl_set.exit_code, 0) << kubectl_set.out << kubectl_set.err;
  auto back = Deploy({c}, {"--prune", "--applyset", "from-kubectl"});
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err << Logs();
  EXPECT_FALSE(Exists("configmap", "set-d"));
  EXPECT_TRUE(Exists("configmap", "set-c"));
}

}  // namespace
