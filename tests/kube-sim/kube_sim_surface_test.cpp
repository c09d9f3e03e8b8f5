// kube-sim's wire and surface as other clients use them (issue 13): discovery negotiation
// (aggregated v2 and v2beta1), /openapi/v2, HEAD, sendInitialEvents watches, limit/continue, the
// built-in groups of a v1.32 cluster, pods/log, create token; and `kpt live` and kubectl 1.27
// and 1.33 unmodified.
#include <algorithm>
#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "test_client.hpp"

namespace kubesim::testing {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

class KubeSimSurfaceTest : public SharedSimTest {
 protected:
  // A kubectl binary: "kubectl" (the dispatcher, v1.32 against kube-sim) or "1.27" etc.
  static std::string Binary(const std::string& version) {
    if (version.empty()) return "kubectl";
    std::string dir =
        testsupport::Run({"sh", "-c", "dirname \"$(readlink -f \"$(command -v kubectl)\")\""}).out;
    if (!dir.empty() && dir.back() == '\n') dir.pop_back();
    return dir + "/kubectl." + version;
  }
  static testsupport::RunResult Run(const std::string& binary, std::vector<std::string> args,
                                    const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv{
        binary, "--kubeconfig", sim().kubeconfig_path, "--context", "admin", "-n", "aura"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::map<std::string, std::string> all{
        {"HOME", sim().dir},
        {"KUBECACHEDIR", sim().dir + "/cache-" + std::to_string(binary.size())}};
    all.insert(env.begin(), env.end());
    return testsupport::Run(argv, all, std::chrono::seconds(60));
  }
  static std::string Ok(std::vector<std::string> args,
                        const std::map<std::string, std::string>& env = {},
                        const std::string& binary = "kubectl") {
    auto r = Run(binary, std::move(args), env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  static std::string File(const std::string& name, const std::string& text) {
    std::string path = sim().dir + "/" + name;
    testsupport::WriteFile(path, text);
    return path;
  }
  static std::size_t Next() {
    return sim().Admin("GET", "/_sim/requests").Json()["next"].get<std::size_t>();
  }
  static std::vector<json> Logged(std::size_t since) {
    json log = sim().Admin("GET", "/_sim/requests?since=" + std::to_string(since)).Json();
    return log["items"].get<std::vector<json>>();
  }
};

std::string Deployment(const std::string& name, const std::string& image,
                       const std::string& annotations = "{}") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name +
         ", namespace: aura}\n"
         "spec:\n  replicas: 2\n  selector: {matchLabels: {app: " +
         name +
         "}}\n"
         "  template:\n    metadata: {labels: {app: " +
         name + "}, annotations: " + annotations +
         "}\n"
         "    spec: {containers: [{name: web, image: \"" +
         image + "\"}]}\n";
}

// ---- 4. wire and surface
// --------------------------------------------------------------------------

TEST_F(KubeSimSurfaceTest, AggregatedDiscoveryIsNegotiatedPerVersion) {
  const std::string v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
  const std::string v2beta1 =
      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
  auto old = sim().Admin("GET", "/apis", "", {{"Accept", v2beta1 + ",application/json"}});
  ASSERT_EQ(old.status, 200);
  EXPECT_EQ(old.Header("content-type"), v2beta1);
  EXPECT_EQ(old.Json()["apiVersion"], "apidiscovery.k8s.io/v2beta1");
  auto both =
      sim().Admin("GET", "/api", "", {{"Accept", v2 + "," + v2beta1 + ",application/json"}});
  EXPECT_EQ(both.Header("content-type"), v2);
  auto legacy = sim().Admin("GET", "/apis", "", {{"Accept", "application/json"}});
  EXPECT_EQ(legacy.Json()["kind"], "APIGroupList");
  auto none = sim().Admin("GET", "/apis", "", {{"Accept", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(none.status, 406);

  // kubectl 1.27 asks for v2beta1 and gets the v1.32 groups and resources.
  std::size_t since = Next();
  std::string out = Ok({"api-resources", "-o", "name"}, {}, Binary("1.27"));
  for (const char* r :
       {"nodes", "endpoints", "persistentvolumeclaims", "resourcequotas", "limitranges",
        "leases.coordination.k8s.io", "endpointslices.discovery.k8s.io",
        "horizontalpodautoscalers.autoscaling", "poddisruptionbudgets.policy",
        "networkpolicies.networking.k8s.io", "storageclasses.storage.k8s.io",
        "priorityclasses.scheduling.k8s.io", "applications.nais.io"}) {
    EXPECT_NE(out.find(std::string(r) + "\n"), std::string::npos) << r << "\n" << out;
  }
  bool aggregated = false;
  for (const auto& item : Logged(since)) {
    if (item["path"] == "/apis" && item["status"] == 200 &&
        item["headers"]["accept"][0].get<std::string>().find("v=v2beta1") != std::string::npos) {
      aggregated = true;
    }
  }
  EXPECT_TRUE(aggregated);
  // The pods subresources a cluster lists.
  json core = sim().Admin("GET", "/api/v1").Json();
  std::set<std::string> names;
  for (const auto& r : core["resources"]) names.insert(r["name"].get<std::string>());
  for (const char* r :
       {"pods/log", "pods/exec", "pods/eviction", "serviceaccounts/token", "namespaces/finalize"}) {
    EXPECT_EQ(names.count(r), 1u) << r;
  }
}

TEST_F(KubeSimSurfaceTest, OpenApiV2HeadAndExplain) {
  auto v2 = sim().Admin("GET", "/openapi/v2", "", {{"Accept", "application/json"}});
  ASSERT_EQ(v2.status, 200);
  json doc = v2.Json();
  EXPECT_EQ(doc["swagger"], "2.0");
  bool found = false;
  for (const auto& [name, schema] : doc["definitions"].items()) {
    for (const auto& gvk : schema.value("x-kubernetes-group-version-kind", json::array())) {
      if (gvk == json({{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}})) {
        found = true;
        const json& containers = schema["properties"]["spec"]["properties"]["template"]
                                       ["properties"]["spec"]["properties"]["containers"];
        EXPECT_EQ(containers["x-kubernetes-patch-merge-key"], "name");
        EXPECT_EQ(containers["x-kubernetes-list-map-keys"], json({"name"}));
      }
    }
  }
  EXPECT_TRUE(found);
  auto pb = sim().Admin("GET", "/openapi/v2", "",
                        {{"Accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}});
  EXPECT_EQ(pb.status, 200);
  EXPECT_EQ(pb.Header("content-type"),
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
  EXPECT_EQ(pb.body.substr(0, 5), std::string("\x0a\x03"
                                              "2.0",
                                              5));

  // HEAD: the GET's headers, no body.
  auto head = sim().Admin("HEAD", "/api/v1/namespaces/default/services/kubernetes");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.Header("content-type"), "application/json");
  EXPECT_GT(std::stoi(head.Header("content-length")), 100);

  std::string explain = Ok({"explain", "deployment.spec.template.spec.containers.ports"});
  EXPECT_NE(explain.find("containerPort\t<integer>"), std::string::npos) << explain;
  EXPECT_NE(explain.find("protocol\t<string>"), std::string::npos) << explain;
}

TEST_F(KubeSimSurfaceTest, ListPagesWithLimitAndContinue) {
  for (int i = 0; i < 5; ++i) Ok({"create", "configmap", "page-" + std::to_string(i)});
  std::size_t since = Next();
  std::string out = Ok({"get", "configmaps", "--chunk-size=2", "-o", "name"});
  for (int i = 0; i < 5; ++i)
    EXPECT_NE(out.find("configmap/page-" + std::to_string(i) + "\n"), std::string::npos) << out;
  int continued = 0;
  for (const auto& item : Logged(since))
    continued += item["query"].get<std::string>().find("continue=") != std::string::npos;
  EXPECT_GE(continued, 2);

  auto first = sim().Admin("GET", "/api/v1/namespaces/aura/configmaps?limit=2&labelSelector=");
  json page = first.Json();
  ASSERT_EQ(page["items"].size(), 2u);
  std::string token = page["metadata"]["continue"];
  EXPECT_EQ(page["metadata"]["remainingItemCount"], 4);  // kube-root-ca.crt and the five pages
  auto second =
      sim().Admin("GET", "/api/v1/namespaces/aura/configmaps?limit=2&continue=" + token).Json();
  EXPECT_EQ(second["metadata"]["resourceVersion"], page["metadata"]["resourceVersion"]);
  EXPECT_EQ(second["items"][0]["metadata"]["name"], "page-1");
  auto bad = sim().Admin("GET", "/api/v1/namespaces/aura/configmaps?limit=2&continue=xyz");
  EXPECT_EQ(bad.status, 400);
  Ok({"create", "configmap", "page-after"});
  ASSERT_EQ(sim().Admin("POST", "/_sim/compact").status, 200);
  auto expired = sim().Admin("GET", "/api/v1/namespaces/aura/configmaps?limit=2&continue=" + token);
  EXPECT_EQ(expired.status, 410);
  EXPECT_EQ(expired.Json()["reason"], "Expired");
}

TEST_F(KubeSimSurfaceTest, SendInitialEventsWatchAsKubectlsWatchListClientUsesIt) {
  Ok({"create", "configmap", "initial"});
  auto r = sim().Admin(
      "GET",
      "/api/v1/namespaces/aura/"
      "configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
      "&allowWatchBookmarks=true&timeoutSeconds=1&fieldSelector=metadata.name%3Dinitial");
  ASSERT_EQ(r.status, 200);
  auto events = Lines(r.body);
  ASSERT_GE(events.size(), 2u) << r.body;
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[1]["type"], "BOOKMARK");
  EXPECT_EQ(events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  auto invalid =
      sim().Admin("GET", "/api/v1/namespaces/aura/configmaps?watch=1&sendInitialEvents=true");
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(invalid.Json()["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: "
            "sendInitialEvents requires setting "
            "resourceVersionMatch to NotOlderThan, allowWatchBookmarks: Forbidden: "
            "sendInitialEvents requires setting "
            "allowWatchBookmarks to true]");

  // kubectl's WatchList client (a feature gate of client-go) waits through such a watch.
  Ok({"apply", "-f", File("wl.yaml", Deployment("wl", "nginx:1"))});
  std::size_t since = Next();
  std::string rollout = Ok({"rollout", "status", "deployment/wl", "--timeout=30s"},
                           {{"KUBE_FEATURE_WatchListClient", "true"}});
  EXPECT_NE(rollout.find("deployment \"wl\" successfully rolled out\n"), std::string::npos)
      << rollout;
  bool watch_list = false;
  for (const auto& item : Logged(since)) {
    watch_list = watch_list || item["query"].get<std::string>().find("sendInitialEvents=true") !=
                                   std::string::npos;
  }
  EXPECT_TRUE(watch_list);
}

TEST_F(KubeSimSurfaceTest, PodLogsAndTokens) {
  Ok({"apply", "-f",
      File("logs.yaml", Deployment("logs", "nginx:1",
                                   "{test.deployd.io/log: \"listening on :8080\\nready\"}"))});
  Ok({"rollout", "status", "deployment/logs", "--timeout=30s"});
  EXPECT_EQ(Ok({"logs", "deployment/logs"}), "listening on :8080\nready\n");
  EXPECT_EQ(Ok({"logs", "deployment/logs", "--tail=1"}), "ready\n");
  auto prev = Run("kubectl", {"logs", "deployment/logs", "--previous"});
  EXPECT_NE(
      prev.err.find(
          "Error from server (BadRequest): previous terminated container \"web\" in pod \"logs-"),
      std::string::npos)
      << prev.err;
  Ok({"create", "job", "hello", "--image=busybox", "--", "echo", "hi"});
  Ok({"wait", "--for=condition=Complete", "job/hello", "--timeout=30s"});
  EXPECT_EQ(
      Ok({"logs", "job/hello"}),
      "kube-sim: container hello started (image busybox)\nkube-sim: container hello completed\n");

  // Containers still waiting have no logs; a crash-looping one shows its last run.
  Ok({"apply", "-f",
      File("crash.yaml", Deployment("crash", "nginx:1", "{test.deployd.io/scenario: crashloop}"))});
  std::string pod;
  // The controllers crash the container every few steps; poll the pods until one has restarted.
  for (int i = 0; i < 2000 && pod.empty(); ++i) {
    json pods = sim().Admin("GET", "/api/v1/namespaces/aura/pods?labelSelector=app%3Dcrash").Json();
    for (const auto& p : pods["items"]) {
      for (const auto& cs : p["status"].value("containerStatuses", json::array())) {
        if (cs.value("restartCount", 0) > 0) pod = p["metadata"]["name"];
      }
    }
  }
  ASSERT_FALSE(pod.empty());
  EXPECT_EQ(Ok({"logs", pod}),
            "kube-sim: container web started (image nginx:1)\nkube-sim: container web exited with "
            "code 1 (Error)\n");
  auto many = sim().Admin("GET", "/api/v1/namespaces/aura/pods/" + pod + "/log?container=nope");
  EXPECT_EQ(many.status, 400);
  EXPECT_EQ(many.Json()["message"], "container nope is not valid for pod " + pod);

  // kubectl create token: the token authenticates as the service account.
  std::string token = Ok({"create", "token", "serviceuser-aura"});
  ASSERT_FALSE(token.empty());
  if (token.back() == '\n') token.pop_back();
  auto who =
      sim().client().Do("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                        R"({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"})",
                        {{"Authorization", "Bearer " + token}});
  ASSERT_EQ(who.status, 201) << who.body;
  EXPECT_EQ(who.Json()["status"]["userInfo"]["username"],
            "system:serviceaccount:aura:serviceuser-aura");
}

TEST_F(KubeSimSurfaceTest, ServerSidePrintingHasTheRealColumns) {
  Ok({"apply", "-f", File("print.yaml", Deployment("print", "nginx:1"))});
  Ok({"rollout", "status", "deployment/print", "--timeout=30s"});
  std::string wide = Ok({"get", "deployment", "print", "-o", "wide"});
  EXPECT_EQ(wide.substr(0, wide.find('\n')),
            "NAME    READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES    SELECTOR")
      << wide;
  wide = Ok({"get", "replicasets", "-l", "app=print", "-o", "wide"});
  EXPECT_NE(wide.find("DESIRED   CURRENT   READY   AGE   CONTAINERS   IMAGES    SELECTOR"),
            std::string::npos)
      << wide;
  std::string pods = Ok({"get", "pods", "-l", "app=print", "-o", "wide"});
  EXPECT_NE(pods.find("NOMINATED NODE   READINESS GATES"), std::string::npos) << pods;
  EXPECT_NE(pods.find("kube-sim-node"), std::string::npos) << pods;
  std::string svc = Ok({"get", "service", "kubernetes", "-n", "default"});
  EXPECT_EQ(svc.substr(0, svc.find('\n')),
            "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE");
  std::string events = Ok({"get", "events", "--field-selector",
                           "involvedObject.kind=Deployment,involvedObject.name=print"});
  EXPECT_EQ(
      events.rfind("LAST SEEN   TYPE     REASON              OBJECT             MESSAGE\n", 0), 0u)
      << events;
  // A CRD's additionalPrinterColumns, JSONPath and all.
  Ok({"apply", "-f", File("printer-crd.yaml", R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Colour, type: string, jsonPath: .spec.colour, priority: 1}
)")});
  Ok({"apply", "-f",
      File("widget.yaml",
           "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
           "spec: {size: 3, colour: blue}\nstatus: {conditions: [{type: Ready, status: "
           "\"True\"}]}\n")});
  EXPECT_EQ(Ok({"get", "widgets"}), "NAME   SIZE   READY\nw      3      True\n");
  EXPECT_EQ(Ok({"get", "widgets", "-o", "wide"}),
            "NAME   SIZE   READY   COLOUR\nw      3      True    blue\n");
}

// The endpoints and endpointslice controllers follow ready pods (which get IPs from the
// kubelet/CNI imitation); a bare pod (kubectl run) is scheduled and runs; kubectl autoscale's
// protobuf HorizontalPodAutoscaler is stored and printed with the real columns.
TEST_F(KubeSimSurfaceTest, ServicesGetEndpointsOfReadyPodsAndBarePodsRun) {
  auto eventually = [](const std::function<bool()>& f) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  Ok({"create", "deployment", "ep", "--image=nginx:1", "--replicas=2", "--port=8080"});
  Ok({"expose", "deployment", "ep", "--port=80", "--target-port=8080"});
  Ok({"rollout", "status", "deployment/ep", "--timeout=30s"});
  auto addresses = [] {
    std::vector<std::string> out;
    json ep = sim().Admin("GET", "/api/v1/namespaces/aura/endpoints/ep").Json();
    for (const auto& subset : ep.value("subsets", json::array())) {
      for (const auto& a : subset.value("addresses", json::array())) {
        out.push_back(a["ip"].get<std::string>() + ":" +
                      std::to_string(subset["ports"][0]["port"].get<int>()));
      }
    }
    return out;
  };
  ASSERT_TRUE(eventually([&] { return addresses().size() == 2; }));
  for (const auto& a : addresses()) EXPECT_EQ(a.rfind("10.244.", 0), 0u) << a;
  std::string pods = Ok({"get", "pods", "-l", "app=ep", "-o", "wide"});
  for (const auto& a : addresses()) {
    EXPECT_NE(pods.find(a.substr(0, a.find(':')) + " "), std::string::npos) << pods;
  }
  std::string ep = Ok({"get", "endpoints", "ep"});
  EXPECT_EQ(ep.rfind("NAME   ENDPOINTS ", 0), 0u) << ep;
  EXPECT_NE(ep.find("\nep     " + addresses()[0] + "," + addresses()[1] + "   "), std::string::npos)
      << ep;
  std::string slices = Ok({"get", "endpointslices", "-l", "kubernetes.io/service-name=ep"});
  EXPECT_NE(slices.find("IPv4          8080    10.244."), std::string::npos) << slices;
  json slice = sim()
                   .Admin("GET",
                          "/apis/discovery.k8s.io/v1/namespaces/aura/endpointslices?labelSelector="
                          "kubernetes.io%2Fservice-name%3Dep")
                   .Json()["items"][0];
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
  EXPECT_EQ(slice["endpoints"][0]["conditions"]["ready"], true);

  // A bare pod with the Service's labels is scheduled, runs and joins the endpoints.
  Ok({"run", "bare", "--image=nginx:1", "--labels=app=ep", "--port=8080"});
  Ok({"wait", "--for=condition=Ready", "pod/bare", "--timeout=30s"});
  EXPECT_EQ(Ok({"get", "pod", "bare", "-o", "jsonpath={.spec.nodeName} {.status.phase}"}),
            "kube-sim-node Running");
  EXPECT_TRUE(eventually([&] { return addresses().size() == 3; }));
  std::string describe = Ok({"describe", "service", "ep"});
  std::size_t line = describe.find("Endpoints:                10.244.");
  ASSERT_NE(line, std::string::npos) << describe;
  std::string endpoints = describe.substr(line, describe.find('\n', line) - line);
  EXPECT_EQ(std::count(endpoints.begin(), endpoints.end(), ','), 2) << endpoints;
  Ok({"delete", "pod", "bare"});
  Ok({"scale", "deployment", "ep", "--replicas=1"});
  EXPECT_TRUE(eventually([&] { return addresses().size() == 1; }));

  // kubectl autoscale sends an autoscaling/v1 HorizontalPodAutoscaler as protobuf.
  EXPECT_EQ(Ok({"autoscale", "deployment", "ep", "--min=1", "--max=3", "--cpu-percent=50"}),
            "horizontalpodautoscaler.autoscaling/ep autoscaled\n");
  std::string hpa = Ok({"get", "hpa", "ep"});
  EXPECT_EQ(hpa.rfind("NAME   REFERENCE       TARGETS              MINPODS   MAXPODS   REPLICAS   "
                      "AGE\nep     Deployment/ep   cpu: <unknown>/50%   1         3         0  ",
                      0),
            0u)
      << hpa;

  // Deleting the Service removes its Endpoints and (garbage collection) its EndpointSlices.
  Ok({"delete", "service", "ep"});
  EXPECT_TRUE(eventually([] {
    return sim().Admin("GET", "/api/v1/namespaces/aura/endpoints/ep").status == 404 &&
           sim()
               .Admin("GET",
                      "/apis/discovery.k8s.io/v1/namespaces/aura/endpointslices?labelSelector="
                      "kubernetes.io%2Fservice-name%3Dep")
               .Json()["items"]
               .empty();
  }));
}

// ---- 5. kpt live and kubectl 1.27 and 1.33
// ---------------------------------------------------------------------

TEST_F(KubeSimSurfaceTest, KptLiveApplyStatusDestroy) {
  std::string pkg = sim().dir + "/kpt-pkg";
  std::filesystem::create_directories(pkg);
  testsupport::WriteFile(pkg + "/cm.yaml",
                         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kpt-cm, namespace: "
                         "aura}\ndata: {a: \"1\"}\n");
  testsupport::WriteFile(pkg + "/deploy.yaml", Deployment("kpt-web", "nginx:1"));
  std::map<std::string, std::string> env{{"HOME", sim().dir},
                                         {"KUBECONFIG", sim().kubeconfig_path}};
  auto kpt = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"kpt", "live"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--context", "admin", pkg});
    auto r = testsupport::Run(argv, env, std::chrono::seconds(90));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.out + r.err;
  };
  // kpt installs its ResourceGroup CRD itself and then polls it for a fixed 10 s whatever the
  // cluster answers; the test installs an equivalent CRD with kubectl instead to stay fast.
  Ok({"apply", "-f", File("rg-crd.yaml", R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: resourcegroups.kpt.dev}
spec:
  group: kpt.dev
  names: {kind: ResourceGroup, listKind: ResourceGroupList, plural: resourcegroups, singular: resourcegroup}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
)")});
  std::string init = kpt({"init", "--namespace", "aura"});
  EXPECT_NE(init.find("success"), std::string::npos) << init;
  std::string apply = kpt({"apply", "--install-resource-group=false", "--reconcile-timeout=60s"});
  EXPECT_NE(apply.find("apply result: 2 attempted, 2 successful, 0 skipped, 0 failed"),
            std::string::npos)
      << apply;
  EXPECT_NE(
      apply.find("reconcile result: 2 attempted, 2 successful, 0 skipped, 0 failed, 0 timed out"),
      std::string::npos)
      << apply;
  std::string status = kpt({"status"});
  EXPECT_NE(
      status.find("deployment.apps/aura/kpt-web is Current: Deployment is available. Replicas: 2"),
      std::string::npos)
      << status;
  EXPECT_NE(status.find("configmap/aura/kpt-cm is Current"), std::string::npos) << status;

  // Server-side this time, with the ConfigMap changed and the Deployment pruned.
  testsupport::WriteFile(pkg + "/cm.yaml",
                         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kpt-cm, namespace: "
                         "aura}\ndata: {a: \"2\"}\n");
  std::filesystem::remove(pkg + "/deploy.yaml");
  apply =
      kpt({"apply", "--install-resource-group=false", "--server-side", "--reconcile-timeout=60s"});
  EXPECT_NE(apply.find("prune result: 1 attempted, 1 successful"), std::string::npos) << apply;
  EXPECT_EQ(sim().Admin("GET", "/api/v1/namespaces/aura/configmaps/kpt-cm").Json()["data"]["a"],
            "2");
  EXPECT_EQ(sim().Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/kpt-web").status, 404);
  std::string destroy = kpt({"destroy"});
  EXPECT_NE(destroy.find("delete result: 1 attempted, 1 successful"), std::string::npos) << destroy;
  EXPECT_EQ(sim().Admin("GET", "/api/v1/namespaces/aura/configmaps/kpt-cm").status, 404);
}

// The official JavaScript client (@kubernetes/client-node, installed by scripts/bootstrap): CRUD,
// the four patch types, the scale subresource, pagination, a watch and an informer.
TEST_F(KubeSimSurfaceTest, OfficialJavaScriptClient) {
  ASSERT_TRUE(std::filesystem::exists(std::string(KUBE_SIM_NPM_PREFIX) +
                                      "/node_modules/@kubernetes/client-node/package.json"))
      << "@kubernetes/client-node is missing: run scripts/bootstrap";
  auto r = testsupport::Run({"node", KUBE_SIM_JS_TEST, sim().kubeconfig_path, KUBE_SIM_NPM_PREFIX},
                            {{"HOME", sim().dir}}, std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      r.out,
      "list namespaces aura\n"
      "create {\"a\":\"1\"}\n"
      "merge patch {\"a\":\"1\",\"b\":\"2\"}\n"
      "json patch {\"b\":\"2\"}\n"
      "apply {\"b\":\"2\",\"c\":\"3\"} node-fetch,js\n"
      "replace {\"d\":\"4\"}\n"
      "not found failed 404 {\"apiVersion\":\"v1\",\"code\":404,\"details\":{\"kind\":"
      "\"configmaps\",\"name\":\"nope\"},\"kind\":\"Status\",\"message\":\"configmaps "
      "\\\"nope\\\" not found\",\"metadata\":{},\"reason\":\"NotFound\",\"status\":\"Failure\"}\n"
      "create deployment web,sidecar\n"
      "strategic merge patch web=nginx:2,sidecar=envoy:1\n"
      "scale 2\n"
      "pages 1+1 continue\n"
      "watch ADDED:js-watch MODIFIED:js-watch DELETED:js-watch\n"
      "informer js-informer\n"
      "delete foreground Deployment\n")
      << r.err;
}

// kubectl 1.27 (aggregated discovery v2beta1, OpenAPI v2) and 1.33, unmodified.
TEST_F(KubeSimSurfaceTest, Kubectl127And133Unmodified) {
  for (const std::string version : {"1.27", "1.33"}) {
    SCOPED_TRACE(version);
    const std::string k = Binary(version);
    const std::string name = "k" + version.substr(0, 1) + version.substr(2);
    std::string path = File(name + ".yaml", Deployment(name, "nginx:1"));
    EXPECT_EQ(Ok({"apply", "-f", path}, {}, k), "deployment.apps/" + name + " created\n");
    EXPECT_NE(Ok({"rollout", "status", "deployment/" + name, "--timeout=30s"}, {}, k)
                  .find("successfully rolled out"),
              std::string::npos);
    EXPECT_EQ(
        Ok({"apply", "--server-side", "-f", File(name + ".yaml", Deployment(name, "nginx:2"))}, {},
           k),
        "deployment.apps/" + name + " serverside-applied\n");
    EXPECT_EQ(Ok({"set", "image", "deployment/" + name, "web=nginx:3"}, {}, k),
              "deployment.apps/" + name + " image updated\n");
    std::string table = Ok({"get", "deployment", name}, {}, k);
    EXPECT_EQ(table.rfind("NAME   READY   UP-TO-DATE   AVAILABLE   AGE\n" + name + "   ", 0), 0u)
        << table;
    Ok({"rollout", "status", "deployment/" + name, "--timeout=30s"}, {}, k);
    EXPECT_EQ(Ok({"logs", "deployment/" + name}, {}, k),
              "kube-sim: container web started (image nginx:3)\n");
    EXPECT_EQ(Ok({"rollout", "undo", "deployment/" + name}, {}, k),
              "deployment.apps/" + name + " rolled back\n");
    EXPECT_EQ(
        Ok({"get", "deployment", name, "-o", "jsonpath={.spec.template.spec.containers[0].image}"},
           {}, k),
        "nginx:2");
    EXPECT_EQ(Ok({"delete", "-f", path, "--cascade=foreground"}, {}, k),
              "deployment.apps \"" + name + "\" deleted\n");
  }
}

}  // namespace
}  // namespace kubesim::testing
