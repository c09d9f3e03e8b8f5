// manifests/: kustomize bases for hookd, deployd, the canary and its target. Built with kubectl's
// kustomize, checked for what an operator relies on, applied to kube-sim (server-side dry run,
// then for real), deployd's ServiceAccount checked with `kubectl auth can-i`, and the canary's
// command line run through a real hookd, deployd and kube-sim.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.hpp"
#include "deploy-cli/config.hpp"
#include "deployd/kube/kubeconfig.hpp"
#include "packaging.hpp"
#include "support/chain.hpp"
#include "support/postgres.hpp"

namespace packaging {
namespace {

using namespace std::chrono_literals;

std::vector<json> Kustomize(const std::string& dir) {
  auto r = testsupport::Run({"kubectl", "kustomize", Source("manifests/" + dir)});
  EXPECT_EQ(r.exit_code, 0) << "kubectl kustomize manifests/" << dir << ": " << r.err;
  if (r.exit_code != 0) return {};
  return YamlDocs(r.out);
}

const json& Find(const std::vector<json>& docs, const std::string& kind, const std::string& name) {
  static const json kNull;
  for (const auto& d : docs) {
    if (d.value("kind", "") == kind && d["metadata"].value("name", "") == name) return d;
  }
  ADD_FAILURE() << kind << "/" << name << " not found";
  return kNull;
}

// The object whose generated name (kustomize adds a hash suffix) starts with `name-`.
const json& FindGenerated(const std::vector<json>& docs, const std::string& kind,
                          const std::string& name) {
  static const json kNull;
  for (const auto& d : docs) {
    if (d.value("kind", "") == kind && d["metadata"].value("name", "").rfind(name + "-", 0) == 0) {
      return d;
    }
  }
  ADD_FAILURE() << kind << "/" << name << "-<hash> not found";
  return kNull;
}

const json& Container(const json& pod_spec, const std::string& name) {
  static const json kNull;
  for (const auto& c : pod_spec["containers"]) {
    if (c["name"] == name) return c;
  }
  ADD_FAILURE() << "container " << name << " not found";
  return kNull;
}

// What every long-running container of ours must have.
void ExpectHardened(const json& pod_spec, const json& container) {
  EXPECT_EQ(pod_spec["securityContext"]["runAsNonRoot"], true);
  EXPECT_GT(pod_spec["securityContext"].value("runAsUser", 0), 0);
  EXPECT_EQ(container["securityContext"]["runAsNonRoot"], true);
  EXPECT_EQ(container["securityContext"]["readOnlyRootFilesystem"], true);
  EXPECT_EQ(container["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(container["securityContext"]["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_TRUE(container["resources"]["requests"].contains("cpu")) << container.dump();
  EXPECT_TRUE(container["resources"]["requests"].contains("memory")) << container.dump();
  EXPECT_TRUE(container["resources"]["limits"].contains("memory")) << container.dump();
}

// Environment variable name -> value (or "secret:<name>/<key>").
std::map<std::string, std::string> EnvOfContainer(const json& container) {
  std::map<std::string, std::string> env;
  for (const auto& e : container.value("env", json::array())) {
    if (e.contains("value")) {
      env[e["name"]] = e["value"].get<std::string>();
    } else if (e.contains("valueFrom") && e["valueFrom"].contains("secretKeyRef")) {
      const auto& ref = e["valueFrom"]["secretKeyRef"];
      env[e["name"]] =
          "secret:" + ref["name"].get<std::string>() + "/" + ref["key"].get<std::string>();
    } else {
      env[e["name"]] = "";
    }
  }
  return env;
}

void ExpectProbe(const json& container, const char* probe, const char* path, const char* port) {
  ASSERT_TRUE(container.contains(probe)) << probe;
  EXPECT_EQ(container[probe]["httpGet"]["path"], path) << probe;
  EXPECT_EQ(container[probe]["httpGet"]["port"], port) << probe;
}

int PortNamed(const json& container, const std::string& name) {
  for (const auto& p : container["ports"]) {
    if (p["name"] == name) return p["containerPort"].get<int>();
  }
  ADD_FAILURE() << "port " << name << " not found";
  return 0;
}

// Every secret reference names a key that the overlay's generated Secret has.
void ExpectSecretsExist(const std::vector<json>& docs,
                        const std::map<std::string, std::string>& env) {
  for (const auto& [name, value] : env) {
    if (value.rfind("secret:", 0) != 0) continue;
    const std::string secret = value.substr(7, value.find('/') - 7);
    const std::string key = value.substr(value.find('/') + 1);
    const json& s = Find(docs, "Secret", secret);
    if (!s.is_null() && key != "frontend-keys") {  // frontend-keys is optional
      EXPECT_TRUE(s["data"].contains(key)) << name << " -> " << value;
    }
  }
}

TEST(Manifests, HookdDeploymentServiceBudgetAndPolicy) {
  const auto docs = Kustomize("hookd");
  const json& deployment = Find(docs, "Deployment", "hookd");
  ASSERT_FALSE(deployment.is_null());
  EXPECT_GE(deployment["spec"]["replicas"].get<int>(), 2) << "several replicas";
  const json& pod = deployment["spec"]["template"]["spec"];
  const json& c = Container(pod, "hookd");
  EXPECT_EQ(c["image"], "hookd");
  ExpectHardened(pod, c);
  ExpectProbe(c, "livenessProbe", "/healthz", "http");
  ExpectProbe(c, "readinessProbe", "/readyz", "http");
  ExpectProbe(c, "startupProbe", "/healthz", "http");
  EXPECT_EQ(PortNamed(c, "http"), 8080);
  EXPECT_EQ(PortNamed(c, "grpc"), 9090);
  EXPECT_EQ(pod["serviceAccountName"], "hookd");

  const auto env = EnvOfContainer(c);
  for (const auto& [name, value] : env) {
    EXPECT_TRUE(HelpHasEnv("hookd", name)) << name << " is not in hookd --help";
  }
  EXPECT_EQ(env.at("HOOKD_LISTEN_ADDRESS"), "0.0.0.0:8080");
  EXPECT_EQ(env.at("HOOKD_GRPC_ADDRESS"), "0.0.0.0:9090");
  EXPECT_EQ(env.at("HOOKD_GRPC_CLI_AUTHENTICATION"), "true");
  EXPECT_EQ(env.at("HOOKD_GRPC_DEPLOYD_AUTHENTICATION"), "true");
  for (const char* secret : {"HOOKD_DATABASE_URL", "HOOKD_DATABASE_ENCRYPTION_KEY",
                             "HOOKD_DEPLOYD_KEYS", "HOOKD_PROVISION_KEY"}) {
    EXPECT_EQ(env.at(secret).rfind("secret:hookd/", 0), 0u) << secret;
  }

  const json labels = deployment["spec"]["selector"]["matchLabels"];
  EXPECT_EQ(Find(docs, "PodDisruptionBudget", "hookd")["spec"]["selector"]["matchLabels"], labels);
  EXPECT_EQ(Find(docs, "PodDisruptionBudget", "hookd")["spec"]["minAvailable"], 1);
  const json& service = Find(docs, "Service", "hookd");
  EXPECT_EQ(service["spec"]["selector"], labels);
  std::map<std::string, std::string> targets;
  for (const auto& p : service["spec"]["ports"]) targets[p["name"]] = p["targetPort"];
  EXPECT_EQ(targets, (std::map<std::string, std::string>{{"http", "http"}, {"grpc", "grpc"}}));

  const json& policy = Find(docs, "NetworkPolicy", "hookd");
  EXPECT_EQ(policy["spec"]["podSelector"]["matchLabels"], labels);
  std::set<int> in;
  for (const auto& rule : policy["spec"]["ingress"]) {
    for (const auto& p : rule["ports"]) in.insert(p["port"].get<int>());
  }
  EXPECT_EQ(in, (std::set<int>{8080, 9090}));
  std::set<int> out;
  for (const auto& rule : policy["spec"]["egress"]) {
    for (const auto& p : rule["ports"]) out.insert(p["port"].get<int>());
  }
  EXPECT_EQ(out, (std::set<int>{53, 443, 5432})) << "DNS, GitHub/OTLP, Postgres";

  const json& account = Find(docs, "ServiceAccount", "hookd");
  EXPECT_EQ(account["automountServiceAccountToken"], false);
  for (const auto& d : docs)
    EXPECT_EQ(d["metadata"].value("namespace", "nais-system"), "nais-system");
}

TEST(Manifests, DeploydMayImpersonateServiceAccountsAndNothingElse) {
  const auto docs = Kustomize("deployd");
  const json& role = Find(docs, "ClusterRole", "deployd");
  EXPECT_EQ(role["rules"], json::parse(R"([{"apiGroups":[""],"resources":["serviceaccounts"],
                                           "verbs":["impersonate"]}])"));
  const json& binding = Find(docs, "ClusterRoleBinding", "deployd");
  EXPECT_EQ(binding["roleRef"]["name"], "deployd");
  EXPECT_EQ(binding["subjects"], json::parse(R"([{"kind":"ServiceAccount","name":"deployd",
                                                  "namespace":"nais-system"}])"));
  for (const auto& d : docs) {
    const std::string kind = d["kind"];
    EXPECT_TRUE(kind != "Role" && kind != "RoleBinding" &&
                (kind != "ClusterRole" || d["metadata"]["name"] == "deployd"))
        << "deployd gets no other permissions: " << kind;
  }

  const json& deployment = Find(docs, "Deployment", "deployd");
  ASSERT_FALSE(deployment.is_null());
  EXPECT_EQ(deployment["spec"]["replicas"], 1) << "one deployd per cluster";
  const json& pod = deployment["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"], "deployd");
  const json& c = Container(pod, "deployd");
  EXPECT_EQ(c["image"], "deployd");
  ExpectHardened(pod, c);
  ExpectProbe(c, "livenessProbe", "/healthz", "metrics");
  ExpectProbe(c, "readinessProbe", "/readyz", "metrics");
  const auto env = EnvOfContainer(c);
  for (const auto& [name, value] : env) {
    EXPECT_TRUE(HelpHasEnv("deployd", name)) << name << " is not in deployd --help";
  }
  EXPECT_EQ(env.at("DEPLOYD_METRICS_LISTEN_ADDRESS"),
            "0.0.0.0:" + std::to_string(PortNamed(c, "metrics")));
  EXPECT_EQ(env.at("DEPLOYD_GRPC_AUTHENTICATION"), "true");
  EXPECT_EQ(env.at("DEPLOYD_HOOKD_KEY"), "secret:deployd/hookd-key");
  EXPECT_EQ(Find(docs, "Service", "deployd")["spec"]["ports"][0]["targetPort"], "metrics");
}

TEST(Manifests, ExampleOverlayWiresSecretsImagesAndTheCluster) {
  const auto docs = Kustomize("example");
  const json& hookd = Find(docs, "Deployment", "hookd");
  const json& deployd = Find(docs, "Deployment", "deployd");
  const json& canary = Find(docs, "CronJob", "deploy-canary");
  ASSERT_FALSE(hookd.is_null() || deployd.is_null() || canary.is_null());
  const json& canary_pod = canary["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  // Generated Secrets have hash suffixes; every reference points at a generated one's key.
  std::set<std::string> images;
  for (const auto* pod :
       {&hookd["spec"]["template"]["spec"], &deployd["spec"]["template"]["spec"], &canary_pod}) {
    for (const auto& c : (*pod)["containers"]) {
      ExpectSecretsExist(docs, EnvOfContainer(c));
      images.insert(c["image"].get<std::string>());
    }
  }
  EXPECT_EQ(images, (std::set<std::string>{"ghcr.io/example/deploy/deploy:1.0.0",
                                           "ghcr.io/example/deploy/deployd:1.0.0",
                                           "ghcr.io/example/deploy/hookd:1.0.0"}));
  EXPECT_EQ(EnvOfContainer(Container(deployd["spec"]["template"]["spec"], "deployd"))
                .at("DEPLOYD_CLUSTER"),
            "example-cluster");
  EXPECT_EQ(EnvOfContainer(Container(canary_pod, "deploy")).at("CLUSTER"), "example-cluster");
  // Each image name of the bases is a program with a Dockerfile.
  for (const char* program : {"hookd", "deployd", "deploy"}) {
    EXPECT_TRUE(std::filesystem::exists(Source("Dockerfile." + std::string(program)))) << program;
  }
}

// The canary's container: its command line and variables as the deploy CLI parses them.
struct CanaryCommand {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
};

CanaryCommand CanaryCommandOf(const std::vector<json>& docs, const std::string& pod_name) {
  const json& cronjob = Find(docs, "CronJob", "deploy-canary");
  const json& pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  const json& c = Container(pod, "deploy");
  CanaryCommand out;
  out.env = EnvOfContainer(c);
  out.env["POD_NAME"] = pod_name;  // the downward API
  for (const auto& a : c["args"]) {
    std::string arg = a;
    // Kubernetes expands $(VAR) in args from the container's environment.
    for (const auto& [name, value] : out.env) {
      const std::string ref = "$(" + name + ")";
      for (auto pos = arg.find(ref); pos != std::string::npos; pos = arg.find(ref)) {
        arg.replace(pos, ref.size(), value);
      }
    }
    out.args.push_back(arg);
  }
  return out;
}

TEST(Manifests, CanaryCronJobAndItsAlerts) {
  const auto docs = Kustomize("canary");
  const json& cronjob = Find(docs, "CronJob", "deploy-canary");
  ASSERT_FALSE(cronjob.is_null());
  EXPECT_EQ(cronjob["spec"]["schedule"], "*/5 * * * *");
  EXPECT_EQ(cronjob["spec"]["concurrencyPolicy"], "Forbid");
  const json& pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  const json& c = Container(pod, "deploy");
  EXPECT_EQ(c["image"], "deploy");
  ExpectHardened(pod, c);
  // The template comes from the generated ConfigMap.
  const json& config = FindGenerated(docs, "ConfigMap", "deploy-canary");
  EXPECT_EQ(pod["volumes"][0]["configMap"]["name"], config["metadata"]["name"]);
  EXPECT_EQ(config["data"]["canary.yaml"],
            testsupport::ReadFile(Source("manifests/canary/canary.yaml")));

  const auto command = CanaryCommandOf(docs, "deploy-canary-29000000-abcde");
  for (const auto& flag : FlagNames(command.args)) {
    EXPECT_TRUE(HelpHasFlag("deploy", flag)) << "--" << flag;
  }
  for (const auto& [name, value] : command.env) {
    EXPECT_TRUE(name == "POD_NAME" || HelpHasEnv("deploy", name)) << name;
  }
  auto env = command.env;
  env["APIKEY"] = "00ff";
  auto parsed = deploy_cli::ParseCommandLine(command.args, EnvOf(env));
  ASSERT_EQ(parsed.error, "");
  EXPECT_EQ(deploy_cli::Validate(parsed.options), std::nullopt);
  EXPECT_TRUE(parsed.options.wait);
  EXPECT_EQ(parsed.options.team, "deploy-canary");
  EXPECT_EQ(parsed.options.vars, std::vector<std::string>{"run=deploy-canary-29000000-abcde"});

  // The target cluster's side: team deploy-canary's namespace and service user, bound to a Role
  // in that namespace only.
  const auto target = Kustomize("canary-target");
  EXPECT_FALSE(Find(target, "Namespace", "deploy-canary").is_null());
  EXPECT_EQ(Find(target, "ServiceAccount", "serviceuser-deploy-canary")["metadata"]["namespace"],
            "deploy-canary");
  const json& binding = Find(target, "RoleBinding", "deploy-canary");
  EXPECT_EQ(binding["roleRef"]["kind"], "Role");
  EXPECT_EQ(binding["subjects"][0]["name"], "serviceuser-deploy-canary");
  for (const auto& d : target) {
    EXPECT_NE(d["kind"], "ClusterRoleBinding") << "the canary team gets no cluster-wide rights";
  }
}

// Metric names in PrometheusRule expressions must be ones hookd or deployd export.
TEST(Manifests, AlertsUseTheMetricNamesTheDaemonsExport) {
  const std::string sources = testsupport::ReadFile(Source("src/hookd/metrics.cpp")) +
                              testsupport::ReadFile(Source("src/deployd/agent/metrics.cpp"));
  std::set<std::string> alerts;
  for (const char* dir : {"hookd", "canary"}) {
    for (const auto& d : Kustomize(dir)) {
      if (d["kind"] != "PrometheusRule") continue;
      EXPECT_EQ(d["apiVersion"], "monitoring.coreos.com/v1");
      for (const auto& group : d["spec"]["groups"]) {
        for (const auto& rule : group["rules"]) {
          const std::string expr = rule["expr"];
          alerts.insert(rule["alert"].get<std::string>());
          EXPECT_TRUE(rule["labels"].contains("severity")) << rule.dump();
          EXPECT_TRUE(rule["annotations"].contains("summary")) << rule.dump();
          // A metric name, not a label name (those are followed by =, !=, =~ or !~).
          static const std::regex kMetric(R"(\b(deployment_[a-z_]+)\b(?!\s*(=|!)))");
          int metrics = 0;
          for (std::sregex_iterator it(expr.begin(), expr.end(), kMetric), end; it != end; ++it) {
            ++metrics;
            EXPECT_NE(sources.find("\"" + (*it)[1].str()), std::string::npos)
                << (*it)[1] << " in alert " << rule["alert"] << " is not exported";
          }
          EXPECT_GT(metrics, 0) << rule.dump();
        }
      }
    }
  }
  EXPECT_EQ(alerts, (std::set<std::string>{"DeployCanaryFailing", "DeployCanaryNotSinging",
                                           "DeployCanaryMetricMissing", "DeploydDisconnected",
                                           "DeployQueueGrowing", "GitHubRequestsFailing"}));
}

// ---- Against kube-sim with the real kubectl ----

class KubeSimApply : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testsupport::MakeTempDir("manifests");
    kubeconfig_ = dir_ + "/kubeconfig";
    kube_sim_ = std::make_unique<testsupport::ChildProcess>(
        std::vector<std::string>{testsupport::BinaryPath("kube-sim"), "--listen", "127.0.0.1:0",
                                 "--kubeconfig-out", kubeconfig_},
        std::map<std::string, std::string>{}, dir_ + "/kube-sim.log");
    for (int i = 0; i < 500 && !std::filesystem::exists(kubeconfig_); ++i) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(std::filesystem::exists(kubeconfig_)) << kube_sim_->Log();
  }
  void TearDown() override {
    if (kube_sim_) {
      EXPECT_EQ(kube_sim_->Stop(), 0) << kube_sim_->Log();
    }
    std::filesystem::remove_all(dir_);
  }

  testsupport::RunResult Kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {"kubectl", "--kubeconfig", kubeconfig_, "--context", "admin",
                               "--cache-dir", dir_ + "/cache"});
    return testsupport::Run(args, {}, 60s);
  }

  // "yes"/"no" of `kubectl auth can-i ... --as=<deployd's service account>`.
  std::string DeploydCan(std::vector<std::string> what) {
    what.insert(what.begin(), {"auth", "can-i"});
    what.push_back("--as=system:serviceaccount:nais-system:deployd");
    auto r = Kubectl(what);
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }

  std::string dir_;
  std::string kubeconfig_;
  std::unique_ptr<testsupport::ChildProcess> kube_sim_;
};

TEST_F(KubeSimApply, ServerSideDryRunThenApplyAndDeploydCanOnlyImpersonate) {
  // kube-sim's fixture lets its own deployd user impersonate; drop that rule, so that only the
  // applied ClusterRole can grant it.
  auto rbac = Kubectl({"get", "--raw", "/_sim/rbac"});
  ASSERT_EQ(rbac.exit_code, 0) << rbac.err;
  json rules = json::parse(rbac.out);
  json kept = json::array();
  for (const auto& r : rules["rules"]) {
    if (r.value("users", json::array()).dump().find("nais-system:deployd") == std::string::npos) {
      kept.push_back(r);
    }
  }
  ASSERT_EQ(kept.size() + 1, rules["rules"].size());
  // kube-sim's control API, with the admin credentials of its kubeconfig.
  const auto admin = deployd::kube::LoadKubeconfigFile(kubeconfig_, "admin");
  common::HttpClientOptions http;
  http.base_url = admin.server;
  http.ca_pem = admin.ca_pem;
  common::HttpClient client(http);
  common::HttpRequest put;
  put.method = "PUT";
  put.target = "/_sim/rbac";
  put.headers = {{"Authorization", "Bearer " + admin.token}, {"Content-Type", "application/json"}};
  put.body = json{{"rules", kept}}.dump();
  ASSERT_EQ(client.Send(put).status, 200);
  EXPECT_EQ(DeploydCan({"impersonate", "serviceaccounts"}), "no");

  // The PrometheusRule CRD is the Prometheus operator's, not ours: test data, not in the bases.
  auto crd = Kubectl({"apply", "--server-side", "-f",
                      Source("tests/packaging/testdata/prometheusrules-crd.yaml")});
  ASSERT_EQ(crd.exit_code, 0) << crd.out << crd.err;

  // Like kube-apiserver, a dry run cannot create objects in a namespace that does not exist yet:
  // the overlay's namespaces first (as an operator does on a new cluster).
  json namespaces = json::array();
  for (const auto& d : Kustomize("example")) {
    if (d["kind"] == "Namespace") namespaces.push_back(d);
  }
  ASSERT_EQ(namespaces.size(), 2u);
  testsupport::WriteFile(
      dir_ + "/namespaces.json",
      json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", namespaces}}.dump());
  auto created = Kubectl({"apply", "--server-side", "-f", dir_ + "/namespaces.json"});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;

  auto dry =
      Kubectl({"apply", "--server-side", "--dry-run=server", "-k", Source("manifests/example")});
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err << kube_sim_->Log();
  EXPECT_NE(dry.out.find("deployment.apps/hookd serverside-applied (server dry run)"),
            std::string::npos)
      << dry.out;
  EXPECT_EQ(Kubectl({"get", "deployment", "hookd", "-n", "nais-system"}).exit_code, 1)
      << "a dry run stores nothing";

  auto applied = Kubectl({"apply", "--server-side", "-k", Source("manifests/example")});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  for (const char* line :
       {"namespace/deploy-canary serverside-applied", "serviceaccount/deployd serverside-applied",
        "clusterrole.rbac.authorization.k8s.io/deployd serverside-applied",
        "clusterrolebinding.rbac.authorization.k8s.io/deployd serverside-applied",
        "deployment.apps/hookd serverside-applied", "deployment.apps/deployd serverside-applied",
        "service/hookd serverside-applied", "poddisruptionbudget.policy/hookd serverside-applied",
        "networkpolicy.networking.k8s.io/hookd serverside-applied",
        "cronjob.batch/deploy-canary serverside-applied",
        "prometheusrule.monitoring.coreos.com/hookd serverside-applied",
        "prometheusrule.monitoring.coreos.com/deploy-canary serverside-applied"}) {
    EXPECT_NE(applied.out.find(line), std::string::npos) << line << "\n" << applied.out;
  }
  auto got = Kubectl({"get", "deployment", "hookd", "-n", "nais-system", "-o", "json"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(json::parse(got.out)["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/example/deploy/hookd:1.0.0");

  // deployd's ServiceAccount: impersonate service accounts, and nothing else. Its rules are
  // those of an account without bindings plus exactly that one line.
  const auto list = [this](const std::string& account) {
    auto r = Kubectl({"auth", "can-i", "--list", "--as=system:serviceaccount:" + account});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::multiset<std::string> rows;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) rows.insert(line);
    return rows;
  };
  auto deployd_rules = list("nais-system:deployd");
  for (const auto& row : list("nais-system:nobody")) {
    auto it = deployd_rules.find(row);
    ASSERT_NE(it, deployd_rules.end()) << row;
    deployd_rules.erase(it);
  }
  ASSERT_EQ(deployd_rules.size(), 1u) << testing::PrintToString(deployd_rules);
  EXPECT_TRUE(std::regex_match(*deployd_rules.begin(),
                               std::regex(R"(serviceaccounts +\[\] +\[\] +\[impersonate\])")))
      << *deployd_rules.begin();
  EXPECT_EQ(DeploydCan({"impersonate", "serviceaccounts", "-n", "aura"}), "yes");
  EXPECT_EQ(DeploydCan({"impersonate", "users"}), "no");
}

// The canary's command line (from the CronJob, with the downward API's pod name) through hookd,
// deployd and kube-sim, with an API key that `provision` got for team deploy-canary, into the
// namespace and permissions of manifests/canary-target.
TEST(CanaryThroughTheChain, TheCronJobsCommandLineRollsOutTheCanary) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  const std::string provision_key = "0123456789abcdef0123456789abcdef";
  testsupport::ChainOptions options;
  options.database_url = db.Url();
  options.dir_prefix = "canary";
  options.time_scale = 0.02;
  options.authentication = true;
  options.deployd_key = "canary-deployd-key";
  options.hookd_flags = {"--provision-key", provision_key};
  testsupport::Chain chain;
  ASSERT_NO_FATAL_FAILURE(chain.Start(options));

  const std::string cache = chain.Dir() + "/cache";
  auto target = testsupport::Run(
      {"kubectl", "--kubeconfig", chain.Kubeconfig(), "--context", "admin", "--cache-dir", cache,
       "apply", "--server-side", "-k", Source("manifests/canary-target")},
      {}, 60s);
  ASSERT_EQ(target.exit_code, 0) << target.out << target.err;

  auto key = testsupport::Run({testsupport::BinaryPath("provision"), "--server", chain.HttpUrl(),
                               "--team", "deploy-canary", "--secret", provision_key},
                              {}, 30s);
  ASSERT_EQ(key.exit_code, 0) << key.err;
  ASSERT_EQ(key.out.size(), 65u) << key.out;

  const std::string pod_name = "deploy-canary-29000000-x7k2p";
  auto command = CanaryCommandOf(Kustomize("canary"), pod_name);
  std::map<std::string, std::string> env{{"GITHUB_STEP_SUMMARY", "\x01unset"},
                                         {"GITHUB_ACTIONS", "\x01unset"},
                                         {"GITHUB_SHA", "\x01unset"}};
  for (const auto& [name, value] : command.env) env[name] = value;
  env["APIKEY"] = key.out.substr(0, 64);       // the Secret's value
  env["DEPLOY_SERVER"] = chain.GrpcAddress();  // the hookd Service, here on loopback
  for (auto& arg : command.args) {             // the ConfigMap mounted at /canary
    if (arg == "--resource=/canary/canary.yaml") {
      arg = "--resource=" + Source("manifests/canary/canary.yaml");
    }
  }
  command.args.insert(command.args.begin(), testsupport::BinaryPath("deploy"));
  auto run = testsupport::Run(command.args, env, 120s);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err << chain.Logs();
  EXPECT_NE((run.out + run.err).find("success: Deployment completed successfully."),
            std::string::npos)
      << run.out << run.err;

  auto deployment = testsupport::Run(
      {"kubectl", "--kubeconfig", chain.Kubeconfig(), "--context", "admin", "--cache-dir", cache,
       "get", "deployment", "deploy-canary", "-n", "deploy-canary", "-o", "json"},
      {}, 60s);
  ASSERT_EQ(deployment.exit_code, 0) << deployment.err;
  EXPECT_EQ(json::parse(deployment.out)["spec"]["template"]["metadata"]["annotations"]
                                       ["deploy.nais.io/canary-run"],
            pod_name);
  chain.Stop();
}

}  // namespace
}  // namespace packaging
