// kube-sim driven by the real kubectl and by raw HTTP requests.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "support/eventually.hpp"
#include "test_client.hpp"

namespace kubesim::testing {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

class KubeSimTest : public SharedSimTest {
 protected:
  static void SetUpTestSuite() { StartSim({"aura", "other-team"}); }
  static Headers AsTeam(const std::string& team = "aura") {
    return {{"Impersonate-User", "system:serviceaccount:" + team + ":serviceuser-" + team}};
  }
};

std::string ConfigMap(const std::string& name, const std::string& ns, const std::string& value) {
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"data", {{"key", value}}}}
      .dump();
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
  EXPECT_EQ(
      r.Json(),
      json::parse(
          R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})"));
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
  EXPECT_EQ(
      r.Json(),
      json::parse(
          R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"web\" not found","reason":"NotFound","details":{"name":"web","group":"apps","kind":"deployments"},"code":404})"));
}

// ---- discovery
// -------------------------------------------------------------------------------------

TEST_F(KubeSimTest, LegacyAndAggregatedDiscovery) {
  auto core = sim().Deployd("GET", "/api/v1");
  ASSERT_EQ(core.status, 200);
  bool found = false;
  json core_body = core.Json();
  for (const auto& r : core_body["resources"])
    found = found || (r["name"] == "configmaps" && r["kind"] == "ConfigMap");
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

  Headers agg{
      {"Accept",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"}};
  auto a = sim().Deployd("GET", "/apis", "", agg);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.Header("content-type"),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
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

// ---- kubectl: apply, get, table, can-i
// ----------------------------------------------------------------

TEST_F(KubeSimTest, KubectlServerSideApplyAndGet) {
  std::string path = sim().dir + "/configmap.yaml";
  testsupport::WriteFile(
      path,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: foo\n  namespace: aura\n"
      "  labels:\n    app: foo\ndata:\n  a: \"1\"\n  b: \"yes\"\n");
  auto apply = sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_EQ(apply.out, "configmap/foo serverside-applied\n");

  auto get =
      sim().Kubectl({"--context", "admin", "get", "configmap", "foo", "-n", "aura", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  json cm = json::parse(get.out);
  EXPECT_EQ(cm["data"]["a"], "1");
  EXPECT_EQ(cm["data"]["b"], "yes");
  EXPECT_EQ(cm["metadata"]["labels"]["app"], "foo");
  EXPECT_EQ(cm["metadata"]["uid"].get<std::string>().size(), 36u);
  std::string rv = cm["metadata"]["resourceVersion"];

  auto again = sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  auto get2 =
      sim().Kubectl({"--context", "admin", "get", "configmap", "foo", "-n", "aura", "-o", "json"});
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
  auto yes = sim().Kubectl({"--context", "admin", "auth", "can-i", "create", "configmaps", "-n",
                            "aura", "--as=system:serviceaccount:aura:serviceuser-aura"});
  EXPECT_EQ(yes.exit_code, 0) << yes.err;
  EXPECT_EQ(yes.out, "yes\n");
  auto no = sim().Kubectl({"--context", "admin", "auth", "can-i", "create", "configmaps", "-n",
                           "other", "--as=system:serviceaccount:aura:serviceuser-aura"});
  EXPECT_EQ(no.exit_code, 1);
  EXPECT_EQ(no.out, "no\n");
  auto deployd =
      sim().Kubectl({"auth", "can-i", "impersonate", "serviceaccounts", "-n", "anything"});
  EXPECT_EQ(deployd.out, "yes\n") << deployd.err;
  auto deployd_no = sim().Kubectl({"auth", "can-i", "get", "configmaps", "-n", "aura"});
  EXPECT_EQ(deployd_no.out, "no\n") << deployd_no.err;
}

// ---- impersonation
// -------------------------------------------------------------------------------------

TEST_F(KubeSimTest, ImpersonatedTeamGetsItsNamespaceOnly) {
  auto ok = sim().Deployd("POST", "/api/v1/namespaces/aura/configmaps",
                          ConfigMap("team-cm", "aura", "v"), AsTeam());
  EXPECT_EQ(ok.status, 201) << ok.body;
  auto denied = sim().Deployd(
      "GET", "/apis/nais.io/v1alpha1/namespaces/not-aura/applications/myapplication-unauthorized",
      "", AsTeam());
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.Json()["message"],
            "applications.nais.io \"myapplication-unauthorized\" is forbidden: User "
            "\"system:serviceaccount:aura:serviceuser-aura\" "
            "cannot get resource \"applications\" in API group \"nais.io\" in the namespace "
            "\"not-aura\"");
  EXPECT_EQ(
      denied.Json()["details"],
      json::parse(
          R"({"name":"myapplication-unauthorized","group":"nais.io","kind":"applications"})"));
  auto list = sim().Deployd("GET", "/apis/apps/v1/namespaces/other-team/deployments", "", AsTeam());
  EXPECT_EQ(list.Json()["message"],
            "deployments.apps is forbidden: User \"system:serviceaccount:aura:serviceuser-aura\" "
            "cannot list resource "
            "\"deployments\" in API group \"apps\" in the namespace \"other-team\"");
  auto create = sim().Deployd("POST", "/api/v1/namespaces/other-team/configmaps",
                              ConfigMap("x", "other-team", "v"), AsTeam());
  EXPECT_EQ(create.Json()["message"],
            "configmaps is forbidden: User \"system:serviceaccount:aura:serviceuser-aura\" cannot "
            "create resource "
            "\"configmaps\" in API group \"\" in the namespace \"other-team\"");
}

TEST_F(KubeSimTest, ImpersonationDenialsNameTheRealUser) {
  auto user = sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps", "",
                            {{"Impersonate-User", "alice"}});
  EXPECT_EQ(user.status, 403);
  EXPECT_EQ(user.Json()["message"],
            "users \"alice\" is forbidden: User \"system:serviceaccount:nais-system:deployd\" "
            "cannot impersonate resource "
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
  EXPECT_EQ(sa.Json(),
            json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"serviceaccounts \"serviceuser-aura\" is forbidden: User \"system:serviceaccount:nais-system:deployd\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"aura\"",
    "reason":"Forbidden","details":{"name":"serviceuser-aura","kind":"serviceaccounts"},"code":403})"));
  EXPECT_EQ(sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps", "", AsTeam()).status, 200);
}

TEST_F(KubeSimTest, ImpersonateGroupWithoutUserIs400) {
  auto r = sim().Admin("GET", "/api/v1/namespaces", "", {{"Impersonate-Group", "system:masters"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["reason"], "BadRequest");
  EXPECT_EQ(r.Json()["message"],
            "requested [{Group  system:masters    }] without impersonating a user");
}

TEST_F(KubeSimTest, SelfSubjectReviewShowsTheImpersonatedIdentity) {
  auto r = sim().Deployd("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                         R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})",
                         AsTeam());
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.Json()["status"]["userInfo"]["username"],
            "system:serviceaccount:aura:serviceuser-aura");
  EXPECT_EQ(
      r.Json()["status"]["userInfo"]["groups"],
      json::parse(
          R"(["system:serviceaccounts","system:serviceaccounts:aura","system:authenticated"])"));
  auto self =
      sim().Deployd("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})");
  EXPECT_EQ(self.Json()["status"]["userInfo"]["username"],
            "system:serviceaccount:nais-system:deployd");
}

// ---- server-side apply and writes
// ------------------------------------------------------------------------

TEST_F(KubeSimTest, ServerSideApplyCreateNoopChange) {
  std::string path = "/apis/apps/v1/namespaces/aura/deployments/ssa-web";
  auto body = [](int replicas) {
    return json{{"apiVersion", "apps/v1"},
                {"kind", "Deployment"},
                {"metadata",
                 {{"name", "ssa-web"},
                  {"namespace", "aura"},
                  {"annotations", {{"test.deployd.io/scenario", "never"}}}}},
                {"spec",
                 {{"replicas", replicas},
                  {"selector", {{"matchLabels", {{"app", "ssa-web"}}}}},
                  {"template",
                   {{"metadata", {{"labels", {{"app", "ssa-web"}}}}},
                    {"spec", {{"containers", {{{"name", "web"}, {"image", "nginx:1"}}}}}}}}}}}
        .dump();
  };
  Headers h{{"Content-Type", kApplyType}};
  auto created = sim().Deployd("PATCH", path + "?fieldManager=deployd&force=true", body(2),
                               {h[0], AsTeam()[0]});
  ASSERT_EQ(created.status, 201) << created.body;
  json c = created.Json();
  EXPECT_EQ(c["metadata"]["generation"], 1);
  EXPECT_EQ(c["kind"], "Deployment");
  std::string rv = c["metadata"]["resourceVersion"];

  auto noop = sim().Deployd("PATCH", path + "?fieldManager=deployd&force=true", body(2),
                            {h[0], AsTeam()[0]});
  ASSERT_EQ(noop.status, 200) << noop.body;
  EXPECT_EQ(noop.Json()["metadata"]["resourceVersion"], rv);

  auto changed = sim().Deployd("PATCH", path + "?fieldManager=deployd&force=true", body(3),
                               {h[0], AsTeam()[0]});
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_NE(changed.Json()["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(changed.Json()["metadata"]["generation"], 2);
  EXPECT_EQ(changed.Json()["spec"]["replicas"], 3);
}

TEST_F(KubeSimTest, ApplyWithoutFieldManagerIs422) {
  auto r = sim().Admin("PATCH", "/api/v1/namespaces/aura/configmaps/nofm",
                       ConfigMap("nofm", "aura", "x"), {{"Content-Type", kApplyType}});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["message"],
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required "
            "for apply patch");
  EXPECT_EQ(r.Json()["reason"], "Invalid");
}

TEST_F(KubeSimTest, ApplyVersionMismatchIs400) {
  auto r =
      sim().Admin("PATCH", "/apis/apps/v1/namespaces/aura/deployments/x?fieldManager=t",
                  R"({"apiVersion":"apps/v1beta1","kind":"Deployment","metadata":{"name":"x"}})",
                  {{"Content-Type", kApplyType}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["message"],
            "Incorrect version specified in apply patch. Specified patch version: apps/v1beta1, "
            "expected: apps/v1");
}

TEST_F(KubeSimTest, CreateInMissingNamespaceIs404) {
  auto r = sim().Admin("POST", "/api/v1/namespaces/nope/configmaps", ConfigMap("a", "nope", "x"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(
      r.Json(),
      json::parse(
          R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"namespaces \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"namespaces"},"code":404})"));
  auto apply = sim().Admin("PATCH", "/api/v1/namespaces/nope/configmaps/a?fieldManager=t",
                           ConfigMap("a", "nope", "x"), {{"Content-Type", kApplyType}});
  EXPECT_EQ(apply.status, 404);
  EXPECT_EQ(apply.Json()["message"], "namespaces \"nope\" not found");
  auto list = sim().Admin("GET", "/api/v1/namespaces/nope/configmaps");
  EXPECT_EQ(list.status, 200);
  EXPECT_TRUE(list.Json()["items"].empty());
}

TEST_F(KubeSimTest, CreateTwiceIsAlreadyExists) {
  ASSERT_EQ(
      sim()
          .Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("twice", "aura", "x"))
          .status,
      201);
  auto r =
      sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("twice", "aura", "x"));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Json()["reason"], "AlreadyExists");
  EXPECT_EQ(r.Json()["message"], "configmaps \"twice\" already exists");
}

TEST_F(KubeSimTest, PutWithStaleResourceVersionIsConflict) {
  auto c =
      sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("stale", "aura", "1"));
  ASSERT_EQ(c.status, 201);
  json obj = c.Json();
  obj["data"]["key"] = "2";
  auto ok = sim().Admin("PUT", "/api/v1/namespaces/aura/configmaps/stale", obj.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  obj["data"]["key"] = "3";
  auto stale = sim().Admin("PUT", "/api/v1/namespaces/aura/configmaps/stale", obj.dump());
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(stale.Json()["message"],
            "Operation cannot be fulfilled on configmaps \"stale\": the object has been modified; "
            "please apply your changes to the latest version and try again");
}

TEST_F(KubeSimTest, InvalidNameIs422) {
  auto r =
      sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("Bad_Name", "aura", "1"));
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["message"],
            "ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a "
            "lowercase RFC 1123 subdomain must "
            "consist of lower case alphanumeric characters, '-' or '.', and must start and end "
            "with an alphanumeric character "
            "(e.g. 'example.com', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
}

TEST_F(KubeSimTest, DeleteReturnsStatusSuccess) {
  auto c =
      sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("doomed", "aura", "1"));
  ASSERT_EQ(c.status, 201);
  auto d = sim().Admin("DELETE", "/api/v1/namespaces/aura/configmaps/doomed");
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.Json()["status"], "Success");
  EXPECT_EQ(d.Json()["details"]["uid"], c.Json()["metadata"]["uid"]);
  EXPECT_EQ(sim().Admin("GET", "/api/v1/namespaces/aura/configmaps/doomed").status, 404);
}

// ---- control API
// -------------------------------------------------------------------------------------------

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
  EXPECT_EQ(items[0]["headers"]["impersonate-user"][0],
            "system:serviceaccount:aura:serviceuser-aura");
  EXPECT_EQ(items[0]["headers"]["authorization"][0], "<redacted>");
  EXPECT_EQ(items[0]["user"], "system:serviceaccount:aura:serviceuser-aura");
  EXPECT_EQ(items[0]["status"], 200);
}

TEST_F(KubeSimTest, ControlApiNeedsAdmin) {
  EXPECT_EQ(sim().Deployd("GET", "/_sim/requests").status, 403);
  EXPECT_EQ(sim().client().Do("GET", "/_sim/requests").status, 401);
}

TEST_F(KubeSimTest, InjectedFaults) {
  json fault{{"method", "GET"},
             {"path", "/api/v1/namespaces/aura/configmaps/faulty"},
             {"count", 2},
             {"code", 429},
             {"retryAfterSeconds", 1}};
  ASSERT_EQ(sim().Admin("POST", "/_sim/faults", fault.dump()).status, 201);
  for (int i = 0; i < 2; ++i) {
    auto r = sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps/faulty", "", AsTeam());
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.Header("retry-after"), "1");
    EXPECT_EQ(r.Json()["reason"], "TooManyRequests");
    EXPECT_EQ(r.Json()["details"]["retryAfterSeconds"], 1);
  }
  EXPECT_EQ(sim().Deployd("GET", "/api/v1/namespaces/aura/configmaps/faulty", "", AsTeam()).status,
            404);
  json five{{"method", "PATCH"}, {"path", "/apis/apps/v1/namespaces/aura/*"}, {"code", 503}};
  ASSERT_EQ(sim().Admin("POST", "/_sim/faults", five.dump()).status, 201);
  auto r = sim().Deployd("PATCH", "/apis/apps/v1/namespaces/aura/deployments/x?fieldManager=a",
                         "{}", {{"Content-Type", kApplyType}, AsTeam()[0]});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Json()["reason"], "ServiceUnavailable");
}

// ---- watch
// ---------------------------------------------------------------------------------------------------

TEST_F(KubeSimTest, WatchWithoutResourceVersionStartsWithAdded) {
  ASSERT_EQ(sim()
                .Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("w1", "aura", "1"))
                .status,
            201);
  auto r = sim().Deployd("GET",
                         "/api/v1/namespaces/aura/"
                         "configmaps?watch=1&fieldSelector=metadata.name%3Dw1&timeoutSeconds=1",
                         "", AsTeam());
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
  auto events = Lines(r.body);
  ASSERT_EQ(events.size(), 1u) << r.body;
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["kind"], "ConfigMap");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "w1");
}

TEST_F(KubeSimTest, WatchFromResourceVersionReplaysLaterChanges) {
  auto c = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("w2", "aura", "1"));
  ASSERT_EQ(c.status, 201);
  std::string rv = c.Json()["metadata"]["resourceVersion"];
  std::string merge = R"({"data":{"key":"2"}})";
  ASSERT_EQ(sim().MergePatch("/api/v1/namespaces/aura/configmaps/w2", merge).status, 200);
  ASSERT_EQ(sim().Admin("DELETE", "/api/v1/namespaces/aura/configmaps/w2").status, 200);
  auto r = sim().Admin(
      "GET",
      "/api/v1/namespaces/aura/"
      "configmaps?watch=true&fieldSelector=metadata.name%3Dw2&timeoutSeconds=1&resourceVersion=" +
          rv);
  auto events = Lines(r.body);
  ASSERT_EQ(events.size(), 2u) << r.body;
  EXPECT_EQ(events[0]["type"], "MODIFIED");
  EXPECT_EQ(events[0]["object"]["data"]["key"], "2");
  EXPECT_EQ(events[1]["type"], "DELETED");
  EXPECT_GT(std::stoull(events[1]["object"]["metadata"]["resourceVersion"].get<std::string>()),
            std::stoull(events[0]["object"]["metadata"]["resourceVersion"].get<std::string>()));
}

TEST_F(KubeSimTest, WatchFromCompactedResourceVersionIsExpired) {
  auto c = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("w3", "aura", "1"));
  std::string rv = c.Json()["metadata"]["resourceVersion"];
  ASSERT_EQ(
      sim().MergePatch("/api/v1/namespaces/aura/configmaps/w3", R"({"data":{"key":"2"}})").status,
      200);
  auto compact = sim().Admin("POST", "/_sim/compact");
  ASSERT_EQ(compact.status, 200);
  std::string compacted = compact.Json()["compactedResourceVersion"];
  auto r = sim().Admin(
      "GET", "/api/v1/namespaces/aura/configmaps?watch=1&timeoutSeconds=5&resourceVersion=" + rv);
  ASSERT_EQ(r.status, 200);
  auto events = Lines(r.body);
  ASSERT_EQ(events.size(), 1u) << r.body;
  EXPECT_EQ(events[0]["type"], "ERROR");
  EXPECT_EQ(events[0]["object"]["code"], 410);
  EXPECT_EQ(events[0]["object"]["reason"], "Expired");
  EXPECT_EQ(events[0]["object"]["message"],
            "too old resource version: " + rv + " (" + compacted + ")");
}

TEST_F(KubeSimTest, WatchSendsBookmarksWhenAllowed) {
  std::string rv = sim()
                       .Admin("GET", "/api/v1/namespaces/aura/configmaps")
                       .Json()["metadata"]["resourceVersion"];
  auto r =
      sim().Admin("GET",
                  "/api/v1/namespaces/kube-public/"
                  "configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=" +
                      rv);
  auto events = Lines(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["type"], "BOOKMARK");
  EXPECT_EQ(events[0]["object"]["kind"], "ConfigMap");
  EXPECT_FALSE(events[0]["object"]["metadata"]["resourceVersion"].get<std::string>().empty());
}

TEST_F(KubeSimTest, SelectorsFilterListsAndBadFieldsAre400) {
  json labelled = json::parse(ConfigMap("sel-a", "aura", "1"));
  labelled["metadata"]["labels"] = {{"tier", "front"}};
  ASSERT_EQ(sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", labelled.dump()).status, 201);
  auto in = sim().Admin(
      "GET", "/api/v1/namespaces/aura/configmaps?labelSelector=tier%20in%20(front,back)");
  ASSERT_EQ(in.Json()["items"].size(), 1u);
  EXPECT_EQ(in.Json()["items"][0]["metadata"]["name"], "sel-a");
  EXPECT_FALSE(in.Json()["items"][0].contains("kind"));
  auto not_front =
      sim().Admin("GET", "/api/v1/namespaces/aura/configmaps?labelSelector=tier!%3Dfront");
  json not_front_body = not_front.Json();
  for (const auto& item : not_front_body["items"]) EXPECT_NE(item["metadata"]["name"], "sel-a");
  auto bad = sim().Admin("GET", "/api/v1/namespaces/aura/configmaps?fieldSelector=spec.foo%3Dx");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.Json()["message"], "field label not supported: spec.foo");
}

TEST_F(KubeSimTest, KubectlGetWatchStreams) {
  ASSERT_EQ(sim()
                .Admin("POST", "/api/v1/namespaces/aura/configmaps", ConfigMap("kw", "aura", "1"))
                .status,
            201);
  auto r = sim().Kubectl({"--context", "admin", "get", "configmap", "kw", "-n", "aura", "--watch",
                          "--request-timeout=2s"});
  EXPECT_NE(r.out.find("kw "), std::string::npos) << r.out << r.err;
}

// ---- server-side apply conflicts
// --------------------------------------------------------------------------------

TEST_F(KubeSimTest, ApplyConflictsAndForce) {
  std::string path = "/api/v1/namespaces/aura/configmaps/owned";
  Headers h{{"Content-Type", kApplyType}};
  ASSERT_EQ(
      sim().Admin("PATCH", path + "?fieldManager=alpha", ConfigMap("owned", "aura", "1"), h).status,
      201);
  auto conflict =
      sim().Admin("PATCH", path + "?fieldManager=beta", ConfigMap("owned", "aura", "2"), h);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.Json(),
            json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
    "message":"Apply failed with 1 conflict: conflict with \"alpha\": .data.key","reason":"Conflict",
    "details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"alpha\"","field":".data.key"}]},"code":409})"));
  // Same value: shared ownership, no conflict.
  EXPECT_EQ(
      sim().Admin("PATCH", path + "?fieldManager=gamma", ConfigMap("owned", "aura", "1"), h).status,
      200);
  auto forced = sim().Admin("PATCH", path + "?fieldManager=beta&force=true",
                            ConfigMap("owned", "aura", "2"), h);
  ASSERT_EQ(forced.status, 200) << forced.body;
  EXPECT_EQ(forced.Json()["data"]["key"], "2");
  json forced_body = forced.Json();
  for (const auto& e : forced_body["metadata"]["managedFields"]) {
    if (e["manager"] == "beta")
      EXPECT_TRUE(e["fieldsV1"]["f:data"].contains("f:key"));
    else
      EXPECT_FALSE(e["fieldsV1"].contains("f:data")) << e.dump();
  }
  // An Update manager is named with its apiVersion.
  auto patched = sim().MergePatch(path + "?fieldManager=patcher", R"({"data":{"key":"3"}})");
  ASSERT_EQ(patched.status, 200);
  auto c2 = sim().Admin("PATCH", path + "?fieldManager=beta", ConfigMap("owned", "aura", "2"), h);
  EXPECT_EQ(c2.status, 409);
  EXPECT_EQ(c2.Json()["message"],
            "Apply failed with 1 conflict: conflict with \"patcher\" using v1: .data.key");
}

TEST_F(KubeSimTest, ApplyRemovesFieldsTheManagerNoLongerApplies) {
  std::string path = "/api/v1/namespaces/aura/configmaps/shrink?fieldManager=deployd";
  Headers h{{"Content-Type", kApplyType}};
  json two = json::parse(ConfigMap("shrink", "aura", "1"));
  two["data"]["other"] = "x";
  ASSERT_EQ(sim().Admin("PATCH", path, two.dump(), h).status, 201);
  auto r = sim().Admin("PATCH", path, ConfigMap("shrink", "aura", "1"), h);
  ASSERT_EQ(r.status, 200);
  EXPECT_FALSE(r.Json()["data"].contains("other")) << r.body;
}

TEST_F(KubeSimTest, KubectlApplyConflictAndForceConflicts) {
  std::string path = sim().dir + "/kc-conflict.yaml";
  testsupport::WriteFile(path,
                         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kconf\n  namespace: "
                         "aura\ndata:\n  a: \"1\"\n");
  ASSERT_EQ(sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path}).exit_code,
            0);
  testsupport::WriteFile(path,
                         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kconf\n  namespace: "
                         "aura\ndata:\n  a: \"2\"\n");
  auto conflict = sim().Kubectl(
      {"--context", "admin", "apply", "--server-side", "--field-manager", "other", "-f", path});
  EXPECT_NE(conflict.exit_code, 0);
  EXPECT_NE(conflict.err.find("Apply failed with 1 conflict: conflict with \"kubectl\": .data.a"),
            std::string::npos)
      << conflict.err;
  EXPECT_NE(conflict.err.find("--force-conflicts"), std::string::npos);
  auto forced = sim().Kubectl({"--context", "admin", "apply", "--server-side", "--field-manager",
                               "other", "--force-conflicts", "-f", path});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(sim().Admin("GET", "/api/v1/namespaces/aura/configmaps/kconf").Json()["data"]["a"],
            "2");
}

// ---- controllers
// ----------------------------------------------------------------------------------------------------

std::string DeploymentYaml(const std::string& name, const std::string& scenario,
                           int deadline = 600) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
         "\n  namespace: aura\n  annotations:\n"
         "    test.deployd.io/scenario: " +
         scenario +
         "\nspec:\n  replicas: 2\n  progressDeadlineSeconds: " + std::to_string(deadline) +
         "\n  selector:\n    matchLabels:\n      app: " + name +
         "\n  template:\n    metadata:\n      labels:\n        app: " + name +
         "\n    spec:\n      containers:\n      - name: web\n        image: ghcr.io/example/" +
         name + ":1\n";
}

using testsupport::Eventually;

TEST_F(KubeSimTest, KubectlRolloutStatusSucceeds) {
  std::string path = sim().dir + "/dep-ok.yaml";
  testsupport::WriteFile(path, DeploymentYaml("rollout-ok", "success"));
  ASSERT_EQ(sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path}).exit_code,
            0);
  auto r = sim().Kubectl({"--context", "admin", "rollout", "status", "deployment/rollout-ok", "-n",
                          "aura", "--timeout=30s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deployment \"rollout-ok\" successfully rolled out"), std::string::npos)
      << r.out;
  json d = sim().Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/rollout-ok").Json();
  EXPECT_EQ(d["metadata"]["generation"], 1);
  EXPECT_EQ(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
  EXPECT_EQ(d["status"]["availableReplicas"], 2);
  auto pods = sim()
                  .Admin("GET", "/api/v1/namespaces/aura/pods?labelSelector=app%3Drollout-ok")
                  .Json()["items"];
  EXPECT_EQ(pods.size(), 2u);
  auto events = sim()
                    .Admin("GET",
                           "/api/v1/namespaces/aura/"
                           "events?fieldSelector=involvedObject.name%3Drollout-ok,involvedObject."
                           "kind%3DDeployment")
                    .Json()["items"];
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["reason"], "ScalingReplicaSet");
}

TEST_F(KubeSimTest, KubectlRolloutStatusFailsOnProgressDeadline) {
  std::string path = sim().dir + "/dep-crash.yaml";
  testsupport::WriteFile(path, DeploymentYaml("rollout-crash", "crashloop", 20));
  ASSERT_EQ(sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path}).exit_code,
            0);
  auto r = sim().Kubectl({"--context", "admin", "rollout", "status", "deployment/rollout-crash",
                          "-n", "aura", "--timeout=30s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("deployment \"rollout-crash\" exceeded its progress deadline"),
            std::string::npos)
      << r.err;
  auto pods = sim()
                  .Admin("GET", "/api/v1/namespaces/aura/pods?labelSelector=app%3Drollout-crash")
                  .Json()["items"];
  ASSERT_FALSE(pods.empty());
  EXPECT_EQ(pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff");
  EXPECT_EQ(pods[0]["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 1);
}

TEST_F(KubeSimTest, ImagePullScenario) {
  std::string path = sim().dir + "/dep-pull.yaml";
  testsupport::WriteFile(path, DeploymentYaml("pull", "imagepull"));
  ASSERT_EQ(sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path}).exit_code,
            0);
  EXPECT_TRUE(Eventually([] {
    auto pods =
        sim().Admin("GET", "/api/v1/namespaces/aura/pods?labelSelector=app%3Dpull").Json()["items"];
    return !pods.empty() && pods[0]["status"].contains("containerStatuses") &&
           pods[0]["status"]["containerStatuses"][0]["state"]["waiting"].value("reason", "") ==
               "ImagePullBackOff";
  }));
  auto events = sim()
                    .Admin("GET", "/api/v1/namespaces/aura/events?fieldSelector=reason%3DFailed")
                    .Json()["items"];
  bool pull_failed = false;
  for (const auto& e : events) pull_failed = pull_failed || e["message"] == "Error: ErrImagePull";
  EXPECT_TRUE(pull_failed);
}

TEST_F(KubeSimTest, KubectlWaitForJobComplete) {
  std::string path = sim().dir + "/job.yaml";
  testsupport::WriteFile(path,
                         "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n  namespace: "
                         "aura\nspec:\n  template:\n"
                         "    spec:\n      restartPolicy: Never\n      containers:\n      - name: "
                         "c\n        image: busybox\n");
  ASSERT_EQ(sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path}).exit_code,
            0);
  auto r = sim().Kubectl({"--context", "admin", "wait", "--for=condition=complete", "job/once",
                          "-n", "aura", "--timeout=30s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job.batch/once condition met\n");
}

TEST_F(KubeSimTest, JobFailureScenario) {
  std::string body =
      R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"fails","namespace":"aura",
    "annotations":{"test.deployd.io/scenario":"fail"}},"spec":{"backoffLimit":2,"template":{"spec":{"restartPolicy":"Never",
    "containers":[{"name":"c","image":"busybox"}]}}}})";
  ASSERT_EQ(sim().Admin("POST", "/apis/batch/v1/namespaces/aura/jobs", body).status, 201);
  json job;
  EXPECT_TRUE(Eventually([&] {
    job = sim().Admin("GET", "/apis/batch/v1/namespaces/aura/jobs/fails").Json();
    return job["status"].contains("conditions");
  }));
  EXPECT_EQ(job["status"]["failed"], 3);
  EXPECT_EQ(job["status"]["conditions"][1]["type"], "Failed");
  EXPECT_EQ(job["status"]["conditions"][1]["reason"], "BackoffLimitExceeded");
  EXPECT_EQ(job["status"]["conditions"][1]["message"],
            "Job has reached the specified backoff limit");
}

// ---- nais.io
// -----------------------------------------------------------------------------------------------------------

std::string Application(const std::string& name, const std::string& correlation,
                        const std::string& scenario = "") {
  json app = NaisApplication(name, correlation, 2);
  if (!scenario.empty()) app["metadata"]["annotations"]["test.deployd.io/scenario"] = scenario;
  return app.dump();
}

TEST_F(KubeSimTest, ApplicationReachesRolloutComplete) {
  std::string path =
      "/apis/nais.io/v1alpha1/namespaces/aura/applications/myapp?fieldManager=deployd&force=true";
  auto r = sim().Deployd("PATCH", path, Application("myapp", "corr-1"),
                         {{"Content-Type", kApplyType}, AsTeam()[0]});
  ASSERT_EQ(r.status, 201) << r.body;
  json app;
  EXPECT_TRUE(Eventually([&] {
    app = sim().Admin("GET", "/apis/nais.io/v1alpha1/namespaces/aura/applications/myapp").Json();
    return app.contains("status") &&
           app["status"].value("synchronizationState", "") == "RolloutComplete";
  }));
  EXPECT_EQ(app["status"]["correlationID"], "corr-1");
  EXPECT_EQ(app["metadata"]["finalizers"][0], "naiserator.nais.io/finalizer");
  EXPECT_EQ(app["metadata"]["labels"]["team"], "aura");
  std::string uid = app["metadata"]["uid"];
  auto events =
      sim()
          .Admin("GET",
                 "/api/v1/namespaces/aura/"
                 "events?fieldSelector=involvedObject.name%3Dmyapp,involvedObject.uid%3D" +
                     uid)
          .Json()["items"];
  std::vector<std::string> reasons;
  for (const auto& e : events) {
    reasons.push_back(e["reason"]);
    EXPECT_EQ(e["reportingComponent"], "naiserator");
    EXPECT_EQ(e["metadata"]["annotations"]["nais.io/deploymentCorrelationID"], "corr-1");
  }
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "Synchronized"), reasons.end());
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "RolloutComplete"), reasons.end());
  EXPECT_EQ(sim().Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/myapp").status, 200);
  // Deleting waits for naiserator's finalizer, which it removes.
  EXPECT_EQ(
      sim().Admin("DELETE", "/apis/nais.io/v1alpha1/namespaces/aura/applications/myapp").status,
      200);
  EXPECT_TRUE(Eventually([] {
    return sim().Admin("GET", "/apis/nais.io/v1alpha1/namespaces/aura/applications/myapp").status ==
           404;
  }));
}

TEST_F(KubeSimTest, ApplicationFailedSynchronization) {
  auto r = sim().Deployd(
      "PATCH",
      "/apis/nais.io/v1alpha1/namespaces/aura/applications/badapp?fieldManager=deployd&force=true",
      Application("badapp", "corr-2", "failsync"), {{"Content-Type", kApplyType}, AsTeam()[0]});
  ASSERT_EQ(r.status, 201) << r.body;
  json app;
  EXPECT_TRUE(Eventually([&] {
    app = sim().Admin("GET", "/apis/nais.io/v1alpha1/namespaces/aura/applications/badapp").Json();
    return app.contains("status") && app["status"].contains("synchronizationState");
  }));
  EXPECT_EQ(app["status"]["synchronizationState"], "FailedSynchronization");
  EXPECT_EQ(app["status"]["correlationID"], "corr-2");
}

TEST_F(KubeSimTest, StrictValidationOfCustomResources) {
  json app = json::parse(Application("strict", "c"));
  app["spec"]["unknownField"] = 1;
  app["spec"]["nestedField"] = 2;
  auto r = sim().Admin("POST",
                       "/apis/nais.io/v1alpha1/namespaces/aura/applications?fieldValidation=Strict",
                       app.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["message"],
            "Application in version \"v1alpha1\" cannot be handled as a Application: strict "
            "decoding error: unknown field "
            "\"spec.nestedField\", unknown field \"spec.unknownField\"");
  auto warn =
      sim().Admin("POST", "/apis/nais.io/v1alpha1/namespaces/aura/applications", app.dump());
  ASSERT_EQ(warn.status, 201);
  EXPECT_FALSE(warn.Json()["spec"].contains("unknownField"));
  EXPECT_NE(warn.Header("warning").find("unknown field \\\"spec."), std::string::npos)
      << warn.Header("warning");
  json bad = json::parse(Application("typed", "c"));
  bad["spec"]["replicas"]["min"] = "two";
  auto invalid =
      sim().Admin("POST", "/apis/nais.io/v1alpha1/namespaces/aura/applications", bad.dump());
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(invalid.Json()["message"],
            "Application.nais.io \"typed\" is invalid: spec.replicas.min: Invalid value: "
            "\"string\": spec.replicas.min in body must be of type integer: \"string\"");
}

TEST_F(KubeSimTest, PutOfCustomResourceNeedsResourceVersion) {
  auto c = sim().Admin("POST", "/apis/nais.io/v1alpha1/namespaces/aura/applications",
                       Application("putme", "c", "never"));
  ASSERT_EQ(c.status, 201);
  json obj = json::parse(Application("putme", "c", "never"));
  auto r =
      sim().Admin("PUT", "/apis/nais.io/v1alpha1/namespaces/aura/applications/putme", obj.dump());
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.Json()["message"],
            "applications.nais.io \"putme\" is invalid: metadata.resourceVersion: Invalid value: "
            "0: must be specified for an update");
}

TEST_F(KubeSimTest, KubectlAppliesACrdThenACustomResource) {
  std::string crd = sim().dir + "/crd.yaml";
  testsupport::WriteFile(crd, R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
)");
  auto a = sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", crd});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(
      a.out,
      "customresourcedefinition.apiextensions.k8s.io/widgets.example.com serverside-applied\n");
  std::string cr = sim().dir + "/widget.yaml";
  testsupport::WriteFile(cr,
                         "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  "
                         "namespace: aura\nspec:\n  size: 3\n");
  auto b = sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", cr});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(b.out, "widget.example.com/w serverside-applied\n");
  auto get = sim().Kubectl({"--context", "admin", "get", "wd", "w", "-n", "aura", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(json::parse(get.out)["spec"]["size"], 3);
}

TEST_F(KubeSimTest, StatusSubresourceWritesOnlyStatus) {
  std::string base = "/apis/apps/v1/namespaces/aura/deployments/statusonly";
  json d{{"apiVersion", "apps/v1"},
         {"kind", "Deployment"},
         {"metadata",
          {{"name", "statusonly"},
           {"namespace", "aura"},
           {"annotations", {{"test.deployd.io/scenario", "never"}}}}},
         {"spec",
          {{"selector", {{"matchLabels", {{"app", "s"}}}}},
           {"template",
            {{"metadata", {{"labels", {{"app", "s"}}}}},
             {"spec", {{"containers", {{{"name", "c"}, {"image", "i"}}}}}}}}}},
         {"status", {{"replicas", 99}}}};
  auto created = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", d.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_FALSE(created.Json().contains("status"));
  EXPECT_EQ(created.Json()["spec"]["replicas"], 1);
  EXPECT_EQ(created.Json()["spec"]["progressDeadlineSeconds"], 600);
  auto st = sim().MergePatch(base + "/status?fieldManager=ctl",
                             R"({"spec":{"replicas":5},"status":{"replicas":1}})");
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(st.Json()["status"]["replicas"], 1);
  EXPECT_EQ(st.Json()["spec"]["replicas"], 1);
  EXPECT_EQ(st.Json()["metadata"]["generation"], 1);
  bool status_manager = false;
  json st_body = st.Json();
  for (const auto& e : st_body["metadata"]["managedFields"])
    status_manager = status_manager || (e["manager"] == "ctl" && e["subresource"] == "status");
  EXPECT_TRUE(status_manager);
  auto main = sim().MergePatch(base + "?fieldManager=ctl",
                               R"({"spec":{"replicas":3},"status":{"replicas":7}})");
  EXPECT_EQ(main.Json()["status"]["replicas"], 1);
  EXPECT_EQ(main.Json()["spec"]["replicas"], 3);
  EXPECT_EQ(main.Json()["metadata"]["generation"], 2);
}

TEST_F(KubeSimTest, KubectlRolloutStatusForStatefulSet) {
  std::string path = sim().dir + "/sts.yaml";
  testsupport::WriteFile(
      path,
      "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\n  namespace: aura\nspec:\n  "
      "replicas: 2\n"
      "  serviceName: db\n  selector:\n    matchLabels:\n      app: db\n  template:\n    "
      "metadata:\n      labels:\n"
      "        app: db\n    spec:\n      containers:\n      - name: db\n        image: postgres\n");
  ASSERT_EQ(sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", path}).exit_code,
            0);
  auto r = sim().Kubectl(
      {"--context", "admin", "rollout", "status", "statefulset/db", "-n", "aura", "--timeout=30s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("partitioned roll out complete"), std::string::npos) << r.out;
}

TEST_F(KubeSimTest, AggregatedDiscoveryEtag) {
  Headers agg{{"Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}};
  auto first = sim().Deployd("GET", "/apis", "", agg);
  std::string etag = first.Header("etag");
  ASSERT_FALSE(etag.empty());
  agg.emplace_back("If-None-Match", etag);
  EXPECT_EQ(sim().Deployd("GET", "/apis", "", agg).status, 304);
}

TEST_F(KubeSimTest, ProtocolErrors) {
  auto proto_only = sim().Admin("GET", "/api/v1/namespaces/aura/configmaps", "",
                                {{"Accept", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(proto_only.status, 406);
  EXPECT_EQ(proto_only.Json()["reason"], "NotAcceptable");
  auto force = sim().MergePatch("/api/v1/namespaces/aura/configmaps/x?force=true", "{}");
  EXPECT_EQ(force.status, 422);
  EXPECT_EQ(force.Json()["message"],
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for "
            "non-apply patch");
  ASSERT_EQ(
      sim()
          .Admin(
              "POST", "/apis/nais.io/v1/namespaces/aura/images",
              R"({"apiVersion":"nais.io/v1","kind":"Image","metadata":{"name":"img"},"spec":{"image":"x"}})")
          .status,
      201);
  auto smp = sim().Admin("PATCH", "/apis/nais.io/v1/namespaces/aura/images/img", "{}",
                         {{"Content-Type", "application/strategic-merge-patch+json"}});
  EXPECT_EQ(smp.status, 415);
  EXPECT_EQ(smp.Json()["message"],
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, "
            "application/merge-patch+json, application/apply-patch+yaml");
  auto missing = sim().MergePatch("/api/v1/namespaces/aura/configmaps/absent", "{}");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.Json()["message"], "configmaps \"absent\" not found");
}

TEST_F(KubeSimTest, WatchFromFutureResourceVersionTimesOut) {
  auto r = sim().Admin(
      "GET",
      "/api/v1/namespaces/aura/configmaps?watch=1&timeoutSeconds=10&resourceVersion=999999999");
  auto events = Lines(r.body);
  ASSERT_EQ(events.size(), 1u) << r.body;
  EXPECT_EQ(events[0]["type"], "ERROR");
  EXPECT_EQ(events[0]["object"]["code"], 504);
  EXPECT_EQ(events[0]["object"]["reason"], "Timeout");
  EXPECT_EQ(events[0]["object"]["details"]["causes"][0]["reason"], "ResourceVersionTooLarge");
}

TEST(KubeSimProcess, PlainHttpAndCleanExitOnSigterm) {
  Sim plain({"--plain-http", "--team", "blue"});
  EXPECT_EQ(plain.server.rfind("http://127.0.0.1:", 0), 0u);
  EXPECT_TRUE(plain.ca_pem.empty());
  auto ns = plain.Admin("GET", "/api/v1/namespaces/blue");
  EXPECT_EQ(ns.status, 200);
  EXPECT_EQ(plain.Admin("GET", "/api/v1/namespaces/aura").status, 404);
  auto sa = plain.Deployd("GET", "/api/v1/namespaces/blue/serviceaccounts/serviceuser-blue", "",
                          {{"Impersonate-User", "system:serviceaccount:blue:serviceuser-blue"}});
  EXPECT_EQ(sa.status, 200) << sa.body;
  EXPECT_EQ(plain.process->Stop(), 0);
}

}  // namespace
}  // namespace kubesim::testing
