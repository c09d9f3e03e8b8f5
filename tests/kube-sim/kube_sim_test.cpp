// kube-sim driven by the real kubectl and by raw HTTP requests (spec kube-api.md section 7).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test_client.hpp"

namespace kubesim::testing {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

const char* kApplyType = "application/apply-patch+yaml";

class KubeSimTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { sim_ = new Sim({"--team", "aura", "--team", "other-team", "--time-scale", "0.02"}); }
  static void TearDownTestSuite() {
    delete sim_;
    sim_ = nullptr;
  }
  static Sim& sim() { return *sim_; }
  static Headers AsTeam(const std::string& team = "aura") {
    return {{"Impersonate-User", "system:serviceaccount:" + team + ":serviceuser-" + team}};
  }
  static Sim* sim_;
};
Sim* KubeSimTest::sim_ = nullptr;

std::string ConfigMap(const std::string& name, const std::string& ns, const std::string& value) {
  return json{{"apiVersion", "v1"}, {"kind", "ConfigMap"},
              {"metadata", {{"name", name}, {"namespace", ns}}}, {"data", {{"key", value}}}}.dump();
}

// ---- kubeconfig, TLS, basics -------------------------------------------------------------------

TEST_F(KubeSimTest, KubeconfigHasTwoContextsAndTheCa) {
  std::string kc = testsupport::ReadFile(sim().kubeconfig_path);
  EXPECT_NE(kc.find("current-context: deployd"), std::string::npos);
  EXPECT_NE(kc.find("- name: admin"), std::string::npos);
  EXPECT_NE(kc.find("certificate-authority-data: "), std::string::npos);
  EXPECT_EQ(sim().server.rfind("https://127.0.0.1:", 0), 0u);
  EXPECT_NE(sim().ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_FALSE(sim().admin_token.empty());
  EXPECT_NE(sim().admin_token, sim().deployd_token);
}

TEST_F(KubeSimTest, VersionIsAnonymous) {
  auto r = sim().client().Do("GET", "/version");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Json()["gitVersion"], "v1.32.4");
  EXPECT_EQ(r.Json()["minor"], "32");
}

TEST_F(KubeSimTest, UnknownTokenIs401) {
  auto r = sim().client().Do("GET", "/api/v1/namespaces", "", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Json(), json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})"));
}

TEST_F(KubeSimTest, AnonymousDiscoveryIsForbidden) {
  auto r = sim().client().Do("GET", "/api");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Json()["message"], "forbidden: User \"system:anonymous\" cannot get path \"/api\"");
}

TEST_F(KubeSimTest, UnknownPathIsPlainText404) {
  auto r = sim().Admin("GET", "/apis/nais.io/v9/namespaces/aura/applications/x");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "404 page not found\n");
  EXPECT_EQ(r.Header("content-type"), "text/plain; charset=utf-8");
  auto g = sim().Admin("GET", "/apis/nais.io/v1beta7");
  EXPECT_EQ(g.status, 404);
  EXPECT_EQ(g.body, "404 page not found\n");
}

TEST_F(KubeSimTest, MissingObjectIsStatus404) {
  auto r = sim().Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/web");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Json(), json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"web\" not found","reason":"NotFound","details":{"name":"web","group":"apps","kind":"deployments"},"code":404})"));
}

// ---- discovery -------------------------------------------------------------------------------------

TEST_F(KubeSimTest, LegacyAndAggregatedDiscovery) {
  auto core = sim().Deployd("GET", "/api/v1");
  ASSERT_EQ(core.status, 200);
  bool found = false;
  json core_body = core.Json();
  for (const auto& r : core_body["resources"]) found = found || (r["name"] == "configmaps" && r["kind"] == "ConfigMap");
  EXPECT_TRUE(found);

  auto groups = sim().Deployd("GET", "/apis");
  ASSERT_EQ(groups.status, 200);
  EXPECT_EQ(groups.Json()["kind"], "APIGroupList");

  auto nais = sim().Deployd("GET", "/apis/nais.io");
  ASSERT_EQ(nais.status, 200);
  EXPECT_EQ(nais.Json()["preferredVersion"]["version"], "v1");

  auto v1alpha1 = sim().Deployd("GET", "/apis/nais.io/v1alpha1");
  ASSERT_EQ(v1alpha1.status, 200);
  EXPECT_EQ(v1alpha1.Json()["resources"][0]["name"], "applications");

  Headers agg{{"Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"}};
  auto a = sim().Deployd("GET", "/apis", "", agg);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.Header("content-type"), "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  json body = a.Json();
  EXPECT_EQ(body["kind"], "APIGroupDiscoveryList");
  bool apps = false;
  for (const auto& item : body["items"]) {
    if (item["metadata"]["name"] != "apps") continue;
    for (const auto& r : item["versions"][0]["resources"]) {
      if (r["resource"] == "deployments") {
        apps = true;
        EXPECT_EQ(r["scope"], "Namespaced");
        EXPECT_EQ(r["subresources"].size(), 2u);
      }
    }
  }
  EXPECT_TRUE(apps);
  auto acore = sim().Deployd("GET", "/api", "", agg);
  EXPECT_EQ(acore.Json()["items"].size(), 1u);
}

TEST_F(KubeSimTest, KubectlApiResources) {
  auto r = sim().Kubectl({"--context", "admin", "api-resources"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("applications"), std::string::npos);
  EXPECT_NE(r.out.find("nais.io/v1alpha1"), std::string::npos);
  EXPECT_NE(r.out.find("deployments"), std::string::npos);
  EXPECT_NE(r.out.find("naisjobs"), std::string::npos);
}

// ---- kubectl: apply, get, table, can-i ----------------------------------------------------------------

TEST_F(KubeSimTest, KubectlServerSideApplyAndGet) {
  std::string path = sim().dir + "/configmap.yaml";
  testsupport::WriteFile(path,
                         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: foo\n  namespace: aura\n"
                         "  labels:\n    app: foo\ndata:\n  a: \"1\"\n  b: \"yes\"\n");
  auto apply = sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_EQ(apply.out, "configmap/foo serverside-applied\n");

  auto get = sim().Kubectl({"--context", "admin", "get", "configmap", "foo", "-n", "aura", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  json cm = json::parse(get.out);
  EXPECT_EQ(cm["data"]["a"], "1");
  EXPECT_EQ(cm["data"]["b"], "yes");
  EXPECT_EQ(cm["metadata"]["labels"]["app"], "foo");
  EXPECT_EQ(cm["metadata"]["uid"].get<std::string>().size(), 36u);
  std::string rv = cm["metadata"]["resourceVersion"];

  auto again = sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto get2 = sim().Kubectl({"--context", "admin", "get", "configmap", "foo", "-n", "aura", "-o", "json"});
  EXPECT_EQ(json::parse(get2.out)["metadata"]["resourceVersion"], rv);

  auto raw = sim().Admin("GET", "/api/v1/namespaces/aura/configmaps/foo");
  json mf = raw.Json()["metadata"]["managedFields"];
  ASSERT_EQ(mf.size(), 1u);
  EXPECT_EQ(mf[0]["manager"], "kubectl");
  EXPECT_EQ(mf[0]["operation"], "Apply");
  EXPECT_TRUE(mf[0]["fieldsV1"]["f:data"].contains("f:a"));

  auto table = sim().Kubectl({"--context", "admin", "get", "configmaps", "-n", "aura"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("DATA"), std::string::npos);
  EXPECT_NE(table.out.find("\nfoo "), std::string::npos) << table.out;
}

TEST_F(KubeSimTest, KubectlAuthCanI) {
  auto yes = sim().Kubectl({"--context", "admin", "auth", "can-i", "create", "configmaps", "-n", "aura",
                            "--as=system:serviceaccount:aura:serviceuser-aura"});
  EXPECT_EQ(yes.exit_code, 0) << yes.err;
  EXPECT_EQ(yes.out, "yes\n");
  auto no = sim().Kubectl({"--context", "admin", "auth", "can-i", "create", "configmaps", "-n", "other",
                           "--as=system:serviceaccount:aura:serviceuser-aura"});
  EXPECT_EQ(no.exit_code, 1);
  EXPECT_EQ(no.out, "no\n");
  auto deployd = sim().Kubectl({"auth", "can-i", "impersonate", "serviceaccounts", "-n", "anything"});
  EXPECT_EQ(deployd.out, "yes\n") << deployd.err;
  auto deployd_no = sim().Kubectl({"auth", "can-i", "get", "configmaps", "-n", "aura"});
  EXPECT_EQ(deployd_no.out, "no\n") << deployd_no.err;
}

// ---- impersonation -------------------------------------------------------------------------------------

TEST_F(KubeSimTest, ImpersonatedTeamGetsItsNamespaceOnly) {
  auto ok = sim().Deployd("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("team-cm", "aura", "v"), AsTeam());
  EXPECT_EQ(ok.status, 201) << ok.body;
  auto denied = sim().Deployd("GET", "/apis/nais.io/v1alpha1/namespaces/not-aura/applications/myapplication-unauthorized", "", AsTeam());
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.Json()["message"],
            "applications.nais.io \"myapplication-unauthorized\" is forbidden: User \"system:serviceaccount:aura:serviceuser-aura\" "
            "cannot get resource \"applications\" in API group \"nais.io\" in the namespace \"not-aura\"");
  EXPECT_EQ(denied.Json()["details"], json::parse(R"({"name":"myapplication-unauthorized","group":"nais.io","kind":"applications"})"));
  auto list = sim().Deployd("GET", "/apis/apps/v1/namespaces/other-team/deployments", "", AsTeam());
  EXPECT_EQ(list.Json()["message"],
            "deployments.apps is forbidden: User \"system:serviceaccount:aura:serviceuser-aura\" cannot list resource "
            "\"deployments\" in API group \"apps\" in the namespace \"other-team\"");
  auto create = sim().Deployd("POST", "/api/v1/namespaces/other-team/configmaps", ConfigMap("x", "other-team", "v"), AsTeam());
  EXPECT_EQ(create.Json()["message"],
            "configmaps is forbidden: User \"system:serviceaccount:aura:serviceuser-aura\" cannot create resource "
            "\"configmaps\" in API group \"\" in the namespace \"other-team\"");
}

TEST_F(KubeSimTest, ImpersonationDenialsNameTheRealUser) {
  auto user = sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps", "", {{"Impersonate-User", "alice"}});
  EXPECT_EQ(user.status, 403);
  EXPECT_EQ(user.Json()["message"],
            "users \"alice\" is forbidden: User \"system:serviceaccount:nais-system:deployd\" cannot impersonate resource "
            "\"users\" in API group \"\" at the cluster scope");

  // Take the impersonate permission away from deployd.
  auto rules = sim().Admin("GET", "/_sim/rbac").Json()["rules"];
  json kept = json::array();
  for (const auto& r : rules) {
    if (r["users"] != json::array({"system:serviceaccount:nais-system:deployd"})) kept.push_back(r);
  }
  ASSERT_EQ(sim().Admin("PUT", "/_sim/rbac", json{{"rules", kept}}.dump()).status, 200);
  auto sa = sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps", "", AsTeam());
  ASSERT_EQ(sim().Admin("POST", "/_sim/rbac/reset").status, 200);
  EXPECT_EQ(sa.status, 403);
  EXPECT_EQ(sa.Json(), json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"serviceaccounts \"serviceuser-aura\" is forbidden: User \"system:serviceaccount:nais-system:deployd\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"aura\"",
    "reason":"Forbidden","details":{"name":"serviceuser-aura","kind":"serviceaccounts"},"code":403})"));
  EXPECT_EQ(sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps", "", AsTeam()).status, 200);
}

TEST_F(KubeSimTest, ImpersonateGroupWithoutUserIs400) {
  auto r = sim().Admin("GET", "/api/v1/namespaces", "", {{"Impersonate-Group", "system:masters"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["reason"], "BadRequest");
  EXPECT_EQ(r.Json()["message"], "requested [{Group  system:masters    }] without impersonating a user");
}

TEST_F(KubeSimTest, SelfSubjectReviewShowsTheImpersonatedIdentity) {
  auto r = sim().Deployd("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                         R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})", AsTeam());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json()["status"]["userInfo"]["username"], "system:serviceaccount:aura:serviceuser-aura");
  EXPECT_EQ(r.Json()["status"]["userInfo"]["groups"],
            json::parse(R"(["system:serviceaccounts","system:serviceaccounts:aura","system:authenticated"])"));
  auto self = sim().Deployd("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                            R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})");
  EXPECT_EQ(self.Json()["status"]["userInfo"]["username"], "system:serviceaccount:nais-system:deployd");
}

// ---- server-side apply and writes ------------------------------------------------------------------------

TEST_F(KubeSimTest, ServerSideApplyCreateNoopChange) {
  std::string path = "/apis/apps/v1/namespaces/aura/deployments/ssa-web";
  auto body = [](int replicas) {
    return json{{"apiVersion", "apps/v1"}, {"kind", "Deployment"},
                {"metadata", {{"name", "ssa-web"}, {"namespace", "aura"}, {"annotations", {{"test.deployd.io/scenario", "never"}}}}},
                {"spec", {{"replicas", replicas}, {"selector", {{"matchLabels", {{"app", "ssa-web"}}}}},
                          {"template", {{"metadata", {{"labels", {{"app", "ssa-web"}}}}},
                                        {"spec", {{"containers", {{{"name", "web"}, {"image", "nginx:1"}}}}}}}}}}}
        .dump();
  };
  Headers h{{"Content-Type", kApplyType}};
  auto created = sim().Deployd("PATCH", path + "?fieldManager=deployd&force=true", body(2), {h[0], AsTeam()[0]});
  ASSERT_EQ(created.status, 201) << created.body;
  json c = created.Json();
  EXPECT_EQ(c["metadata"]["generation"], 1);
  EXPECT_EQ(c["kind"], "Deployment");
  std::string rv = c["metadata"]["resourceVersion"];

  auto noop = sim().Deployd("PATCH", path + "?fieldManager=deployd&force=true", body(2), {h[0], AsTeam()[0]});
  ASSERT_EQ(noop.status, 200) << noop.body;
  EXPECT_EQ(noop.Json()["metadata"]["resourceVersion"], rv);

  auto changed = sim().Deployd("PATCH", path + "?fieldManager=deployd&force=true", body(3), {h[0], AsTeam()[0]});
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_NE(changed.Json()["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(changed.Json()["metadata"]["generation"], 2);
  EXPECT_EQ(changed.Json()["spec"]["replicas"], 3);
}

TEST_F(KubeSimTest, ApplyWithoutFieldManagerIs422) {
  auto r = sim().Admin("PATCH", "/api/v1/namespaces/aura/configmaps/nofm", ConfigMap("nofm", "aura", "x"), {{"Content-Type", kApplyType}});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["message"], "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
  EXPECT_EQ(r.Json()["reason"], "Invalid");
}

TEST_F(KubeSimTest, ApplyVersionMismatchIs400) {
  auto r = sim().Admin("PATCH", "/apis/apps/v1/namespaces/aura/deployments/x?fieldManager=t",
                       R"({"apiVersion":"apps/v1beta1","kind":"Deployment","metadata":{"name":"x"}})", {{"Content-Type", kApplyType}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["message"], "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, expected: apps/v1");
}

TEST_F(KubeSimTest, CreateInMissingNamespaceIs404) {
  auto r = sim().Admin("POST", "/api/v1/namespaces/nope/configmaps", ConfigMap("a", "nope", "x"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Json(), json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"namespaces \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"namespaces"},"code":404})"));
  auto apply = sim().Admin("PATCH", "/api/v1/namespaces/nope/configmaps/a?fieldManager=t", ConfigMap("a", "nope", "x"), {{"Content-Type", kApplyType}});
  EXPECT_EQ(apply.status, 404);
  EXPECT_EQ(apply.Json()["message"], "namespaces \"nope\" not found");
  auto list = sim().Admin("GET", "/api/v1/namespaces/nope/configmaps");
  EXPECT_EQ(list.status, 200);
  EXPECT_TRUE(list.Json()["items"].empty());
}

TEST_F(KubeSimTest, CreateTwiceIsAlreadyExists) {
  ASSERT_EQ(sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("twice", "aura", "x")).status, 201);
  auto r = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("twice", "aura", "x"));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Json()["reason"], "AlreadyExists");
  EXPECT_EQ(r.Json()["message"], "configmaps \"twice\" already exists");
}

TEST_F(KubeSimTest, PutWithStaleResourceVersionIsConflict) {
  auto c = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("stale", "aura", "1"));
  ASSERT_EQ(c.status, 201);
  json obj = c.Json();
  obj["data"]["key"] = "2";
  auto ok = sim().Admin("PUT", "/api/v1/namespaces/aura/configmaps/stale", obj.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  obj["data"]["key"] = "3";
  auto stale = sim().Admin("PUT", "/api/v1/namespaces/aura/configmaps/stale", obj.dump());
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.Json()["message"],
            "Operation cannot be fulfilled on configmaps \"stale\": the object has been modified; please apply your changes to the latest version and try again");
}

TEST_F(KubeSimTest, InvalidNameIs422) {
  auto r = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("Bad_Name", "aura", "1"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["message"],
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must "
            "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
            "(e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
}

TEST_F(KubeSimTest, DeleteReturnsStatusSuccess) {
  auto c = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("doomed", "aura", "1"));
  ASSERT_EQ(c.status, 201);
  auto d = sim().Admin("DELETE", "/api/v1/namespaces/aura/configmaps/doomed");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.Json()["status"], "Success");
  EXPECT_EQ(d.Json()["details"]["uid"], c.Json()["metadata"]["uid"]);
  EXPECT_EQ(sim().Admin("GET", "/api/v1/namespaces/aura/configmaps/doomed").status, 404);
}

// ---- control API -------------------------------------------------------------------------------------------

TEST_F(KubeSimTest, RequestLogRecordsImpersonationHeaders) {
  std::size_t next = sim().Admin("GET", "/_sim/requests").Json()["next"];
  sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps?limit=5", "", AsTeam());
  auto log = sim().Admin("GET", "/_sim/requests?since=" + std::to_string(next));
  ASSERT_EQ(log.status, 200);
  json items = log.Json()["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["method"], "GET");
  EXPECT_EQ(items[0]["path"], "/api/v1/namespaces/aura/configmaps");
  EXPECT_EQ(items[0]["query"], "limit=5");
  EXPECT_EQ(items[0]["headers"]["impersonate-user"][0], "system:serviceaccount:aura:serviceuser-aura");
  EXPECT_EQ(items[0]["headers"]["authorization"][0], "<redacted>");
  EXPECT_EQ(items[0]["user"], "system:serviceaccount:aura:serviceuser-aura");
  EXPECT_EQ(items[0]["status"], 200);
}

TEST_F(KubeSimTest, ControlApiNeedsAdmin) {
  EXPECT_EQ(sim().Deployd("GET", "/_sim/requests").status, 403);
  EXPECT_EQ(sim().client().Do("GET", "/_sim/requests").status, 401);
}

TEST_F(KubeSimTest, InjectedFaults) {
  json fault{{"method", "GET"}, {"path", "/api/v1/namespaces/aura/configmaps/faulty"}, {"count", 2}, {"code", 429}, {"retryAfterSeconds", 1}};
  ASSERT_EQ(sim().Admin("POST", "/_sim/faults", fault.dump()).status, 201);
  for (int i = 0; i < 2; ++i) {
    auto r = sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps/faulty", "", AsTeam());
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.Header("retry-after"), "1");
    EXPECT_EQ(r.Json()["reason"], "TooManyRequests");
    EXPECT_EQ(r.Json()["details"]["retryAfterSeconds"], 1);
  }
  EXPECT_EQ(sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps/faulty", "", AsTeam()).status, 404);
  json five{{"method", "PATCH"}, {"path", "/apis/apps/v1/namespaces/aura/*"}, {"code", 503}};
  ASSERT_EQ(sim().Admin("POST", "/_sim/faults", five.dump()).status, 201);
  auto r = sim().Deployd("PATCH", "/apis/apps/v1/namespaces/aura/deployments/x?fieldManager=a", "{}", {{"Content-Type", kApplyType}, AsTeam()[0]});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Json()["reason"], "ServiceUnavailable");
}

}  // namespace
}  // namespace kubesim::testing
