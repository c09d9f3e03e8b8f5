// kubectl's typed commands against kube-sim: `kubectl create namespace|configmap|secret|
// serviceaccount|deployment|job` send protobuf bodies (`k8s\0` + runtime.Unknown), `scale` uses
// the autoscaling/v1 scale subresource, label/annotate/rollout restart/delete send JSON.
#include <cstdint>
#include <fstream>

#include <gtest/gtest.h>

#include "test_client.hpp"

namespace kubesim::testing {
namespace {

using nlohmann::json;

class KubeSimTypedTest : public SharedSimTest {
 protected:
  // kubectl as the admin; fails the test on a non-zero exit.
  static std::string Ok(std::vector<std::string> args) {
    args.insert(args.begin(), {"--context", "admin"});
    auto r = sim().Kubectl(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  static json Get(const std::string& kind, const std::string& name,
                  const std::string& ns = "aura") {
    std::vector<std::string> args{"get", kind, name, "-o", "json"};
    if (!ns.empty()) args.insert(args.end(), {"-n", ns});
    auto out = Ok(args);
    return out.empty() ? json() : json::parse(out);
  }
  // The logged requests since `since` with this method and path.
  static std::vector<json> Logged(std::size_t since, const std::string& method,
                                  const std::string& path) {
    std::vector<json> out;
    json log = sim().Admin("GET", "/_sim/requests?since=" + std::to_string(since)).Json();
    for (const auto& item : log["items"]) {
      if (item["method"] == method && item["path"] == path) out.push_back(item);
    }
    return out;
  }
  static std::size_t Next() {
    return sim().Admin("GET", "/_sim/requests").Json()["next"].get<std::size_t>();
  }
};

// Protobuf encoding helpers for hand-made bodies.
std::string Varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Bytes(std::uint64_t num, const std::string& data) {
  return Varint(num << 3 | 2) + Varint(data.size()) + data;
}
std::string Number(std::uint64_t num, std::uint64_t v) { return Varint(num << 3) + Varint(v); }
std::string Envelope(const std::string& api_version, const std::string& kind,
                     const std::string& raw) {
  return std::string("k8s\0", 4) + Bytes(1, Bytes(1, api_version) + Bytes(2, kind)) +
         Bytes(2, raw) + Bytes(3, "") + Bytes(4, "");
}
const char* kProtobuf = "application/vnd.kubernetes.protobuf";

TEST_F(KubeSimTypedTest, CreateNamespaceSendsProtobufAndSucceeds) {
  std::size_t since = Next();
  EXPECT_EQ(Ok({"create", "namespace", "typed-ns"}), "namespace/typed-ns created\n");
  auto posts = Logged(since, "POST", "/api/v1/namespaces");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0]["headers"]["content-type"][0], kProtobuf);
  EXPECT_EQ(posts[0]["bodyEncoding"], "base64");  // the binary body is logged as base64
  EXPECT_EQ(posts[0]["status"], 201);
  json ns = Get("namespace", "typed-ns", "");
  EXPECT_EQ(ns["metadata"]["name"], "typed-ns");
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "typed-ns");
  EXPECT_EQ(ns["status"]["phase"], "Active");
  EXPECT_FALSE(ns["metadata"].contains("generateName"));  // zero values of the protobuf are dropped
}

TEST_F(KubeSimTypedTest, CreateConfigMapFromLiteralsAndBinaryFile) {
  std::string file = sim().dir + "/blob.bin";
  {
    std::ofstream f(file, std::ios::binary);
    f << std::string("\xff\x00\x01", 3);
  }
  EXPECT_EQ(Ok({"create", "configmap", "typed-cm", "-n", "aura", "--from-literal=a=b",
                "--from-literal=c=d e", "--from-file=blob=" + file}),
            "configmap/typed-cm created\n");
  json cm = Get("configmap", "typed-cm");
  EXPECT_EQ(cm["data"], json({{"a", "b"}, {"c", "d e"}}));
  EXPECT_EQ(cm["binaryData"], json({{"blob", "/wAB"}}));
  EXPECT_EQ(cm["metadata"]["namespace"], "aura");
  EXPECT_FALSE(cm.contains("immutable"));
}

TEST_F(KubeSimTypedTest, CreateSecretGenericAndDockerRegistry) {
  EXPECT_EQ(Ok({"create", "secret", "generic", "typed-secret", "-n", "aura",
                "--from-literal=user=admin"}),
            "secret/typed-secret created\n");
  json s = Get("secret", "typed-secret");
  EXPECT_EQ(s["data"], json({{"user", "YWRtaW4="}}));
  EXPECT_EQ(s["type"], "Opaque");  // defaulted by the server, as kube-apiserver does

  Ok({"create", "secret", "generic", "typed-typed", "-n", "aura", "--type=example.com/x",
      "--from-literal=k=v"});
  EXPECT_EQ(Get("secret", "typed-typed")["type"], "example.com/x");

  Ok({"create", "secret", "docker-registry", "typed-pull", "-n", "aura", "--docker-server=ghcr.io",
      "--docker-username=u", "--docker-password=p"});
  json pull = Get("secret", "typed-pull");
  EXPECT_EQ(pull["type"], "kubernetes.io/dockerconfigjson");
  EXPECT_TRUE(pull["data"].contains(".dockerconfigjson"));
}

TEST_F(KubeSimTypedTest, CreateServiceAccount) {
  EXPECT_EQ(Ok({"create", "serviceaccount", "typed-sa", "-n", "aura"}),
            "serviceaccount/typed-sa created\n");
  json sa = Get("serviceaccount", "typed-sa");
  EXPECT_EQ(sa["metadata"]["name"], "typed-sa");
  EXPECT_FALSE(sa.contains("automountServiceAccountToken"));
}

TEST_F(KubeSimTypedTest, CreateDeploymentAndJob) {
  EXPECT_EQ(Ok({"create", "deployment", "typed-web", "-n", "aura", "--image=nginx:1", "--port=8080",
                "--replicas=2"}),
            "deployment.apps/typed-web created\n");
  json d = Get("deployment", "typed-web");
  EXPECT_EQ(d["spec"]["replicas"], 2);
  EXPECT_EQ(d["spec"]["selector"], json({{"matchLabels", {{"app", "typed-web"}}}}));
  EXPECT_EQ(d["spec"]["template"]["metadata"]["labels"], json({{"app", "typed-web"}}));
  EXPECT_EQ(
      d["spec"]["template"]["spec"]["containers"],
      json::parse(
          R"([{"name":"nginx","image":"nginx:1","ports":[{"containerPort":8080,"protocol":"TCP"}],"resources":{},
                            "imagePullPolicy":"IfNotPresent","terminationMessagePath":"/dev/termination-log",
                            "terminationMessagePolicy":"File"}])"));
  // kubectl sends "strategy":{}; the server defaults it like kube-apiserver.
  EXPECT_EQ(
      d["spec"]["strategy"],
      json::parse(
          R"({"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}})"));

  EXPECT_EQ(Ok({"create", "job", "typed-job", "-n", "aura", "--image=busybox", "--", "echo", "hi"}),
            "job.batch/typed-job created\n");
  json j = Get("job", "typed-job");
  EXPECT_EQ(j["spec"]["template"]["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(j["spec"]["template"]["spec"]["containers"][0]["command"], json({"echo", "hi"}));
  EXPECT_EQ(j["spec"]["backoffLimit"], 6);
}

TEST_F(KubeSimTypedTest, LabelAnnotateAndDelete) {
  Ok({"create", "configmap", "typed-meta", "-n", "aura", "--from-literal=a=b"});
  EXPECT_EQ(Ok({"label", "configmap", "typed-meta", "-n", "aura", "team=aura"}),
            "configmap/typed-meta labeled\n");
  EXPECT_EQ(Ok({"annotate", "configmap", "typed-meta", "-n", "aura", "note=hello"}),
            "configmap/typed-meta annotated\n");
  json cm = Get("configmap", "typed-meta");
  EXPECT_EQ(cm["metadata"]["labels"], json({{"team", "aura"}}));
  EXPECT_EQ(cm["metadata"]["annotations"], json({{"note", "hello"}}));

  EXPECT_EQ(Ok({"delete", "configmap", "typed-meta", "-n", "aura"}),
            "configmap \"typed-meta\" deleted\n");
  auto gone = sim().Kubectl({"--context", "admin", "get", "configmap", "typed-meta", "-n", "aura"});
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_EQ(gone.err, "Error from server (NotFound): configmaps \"typed-meta\" not found\n");
}

TEST_F(KubeSimTypedTest, ScaleUsesTheScaleSubresource) {
  Ok({"create", "deployment", "typed-scale", "-n", "aura", "--image=nginx:1"});
  std::size_t since = Next();
  EXPECT_EQ(Ok({"scale", "deployment", "typed-scale", "-n", "aura", "--replicas=3"}),
            "deployment.apps/typed-scale scaled\n");
  EXPECT_EQ(
      Logged(since, "PATCH", "/apis/apps/v1/namespaces/aura/deployments/typed-scale/scale").size(),
      1u);
  json d = sim().Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/typed-scale").Json();
  EXPECT_EQ(d["spec"]["replicas"], 3);
  EXPECT_EQ(d["metadata"]["generation"], 2);
  bool scale_manager = false;
  for (const auto& m : d["metadata"]["managedFields"]) {
    scale_manager = scale_manager || m.value("subresource", "") == "scale";
  }
  EXPECT_TRUE(scale_manager) << d["metadata"]["managedFields"].dump();

  // With a precondition kubectl reads the Scale and PUTs it back.
  EXPECT_EQ(Ok({"scale", "deployment", "typed-scale", "-n", "aura", "--current-replicas=3",
                "--replicas=4"}),
            "deployment.apps/typed-scale scaled\n");
  auto wrong = sim().Kubectl({"--context", "admin", "scale", "deployment", "typed-scale", "-n",
                              "aura", "--current-replicas=3", "--replicas=5"});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_EQ(wrong.err, "error: Expected replicas to be 3, was 4\n");

  auto scale = sim().Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/typed-scale/scale");
  ASSERT_EQ(scale.status, 200) << scale.body;
  json s = scale.Json();
  EXPECT_EQ(s["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(s["kind"], "Scale");
  EXPECT_EQ(s["spec"]["replicas"], 4);
  EXPECT_EQ(s["status"]["selector"], "app=typed-scale");
  EXPECT_EQ(s["metadata"]["uid"], d["metadata"]["uid"]);

  auto negative = sim().MergePatch("/apis/apps/v1/namespaces/aura/deployments/typed-scale/scale",
                                   R"({"spec":{"replicas":-1}})");
  EXPECT_EQ(negative.status, 422);
  EXPECT_EQ(negative.Json()["message"],
            "Scale.autoscaling \"typed-scale\" is invalid: spec.replicas: Invalid value: -1: must "
            "be greater than or equal to 0");
  auto stale = sim().Admin(
      "PUT", "/apis/apps/v1/namespaces/aura/deployments/typed-scale/scale",
      R"({"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"typed-scale","resourceVersion":"1"},"spec":{"replicas":1}})",
      {{"Content-Type", "application/json"}});
  EXPECT_EQ(stale.status, 409);

  auto missing = sim().Kubectl(
      {"--context", "admin", "scale", "deployment", "nope", "-n", "aura", "--replicas=1"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(missing.err, "error: no objects passed to scale deployments.apps \"nope\" not found\n");
  // Kinds without a scale subresource keep answering the text 404.
  EXPECT_EQ(sim().Admin("GET", "/api/v1/namespaces/aura/configmaps/x/scale").status, 404);
}

TEST_F(KubeSimTypedTest, RolloutRestartPatchesTheTemplate) {
  Ok({"create", "deployment", "typed-restart", "-n", "aura", "--image=nginx:1"});
  EXPECT_EQ(Ok({"rollout", "restart", "deployment", "typed-restart", "-n", "aura"}),
            "deployment.apps/typed-restart restarted\n");
  json d = Get("deployment", "typed-restart");
  EXPECT_TRUE(d["spec"]["template"]["metadata"]["annotations"].contains(
      "kubectl.kubernetes.io/restartedAt"))
      << d.dump();
  EXPECT_EQ(d["metadata"]["generation"], 2);
}

TEST_F(KubeSimTypedTest, CreateServiceRbacIngressPdbCronJobAndRun) {
  EXPECT_EQ(Ok({"create", "service", "nodeport", "typed-svc", "-n", "aura", "--tcp=81:8081",
                "--node-port=30001"}),
            "service/typed-svc created\n");
  json svc_spec = Get("service", "typed-svc")["spec"];
  std::string cluster_ip = svc_spec.value("clusterIP", "");
  EXPECT_EQ(cluster_ip.rfind("10.96.", 0), 0u) << svc_spec;
  EXPECT_EQ(svc_spec["clusterIPs"], json({cluster_ip}));
  svc_spec.erase("clusterIP");
  svc_spec.erase("clusterIPs");
  EXPECT_EQ(
      svc_spec,
      json::parse(
          R"({"ports":[{"name":"81-8081","nodePort":30001,"port":81,"protocol":"TCP","targetPort":8081}],
                            "selector":{"app":"typed-svc"},"type":"NodePort","externalTrafficPolicy":"Cluster",
                            "internalTrafficPolicy":"Cluster","ipFamilies":["IPv4"],"ipFamilyPolicy":"SingleStack",
                            "sessionAffinity":"None"})"));

  Ok({"create", "role", "typed-role", "-n", "aura", "--verb=get,list",
      "--resource=pods,deployments.apps"});
  EXPECT_EQ(Get("role", "typed-role")["rules"],
            json::parse(R"([{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]},
                            {"apiGroups":["apps"],"resources":["deployments"],"verbs":["get","list"]}])"));
  Ok({"create", "rolebinding", "typed-rb", "-n", "aura", "--role=typed-role", "--user=bob",
      "--serviceaccount=aura:typed-sa"});
  json rb = Get("rolebinding", "typed-rb");
  EXPECT_EQ(
      rb["roleRef"],
      json::parse(R"({"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"typed-role"})"));
  EXPECT_EQ(rb["subjects"],
            json::parse(R"([{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"bob"},
                                             {"kind":"ServiceAccount","name":"typed-sa","namespace":"aura"}])"));
  Ok({"create", "clusterrole", "typed-cr", "--verb=get", "--non-resource-url=/healthz"});
  EXPECT_EQ(Get("clusterrole", "typed-cr", "")["rules"],
            json::parse(R"([{"nonResourceURLs":["/healthz"],"verbs":["get"]}])"));
  Ok({"create", "clusterrolebinding", "typed-crb", "--clusterrole=typed-cr", "--group=g"});
  EXPECT_EQ(Get("clusterrolebinding", "typed-crb", "")["subjects"],
            json::parse(R"([{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"g"}])"));

  Ok({"create", "ingress", "typed-ing", "-n", "aura", "--rule=foo.com/bar=svc1:8080,tls=cert"});
  EXPECT_EQ(Get("ingress", "typed-ing")["spec"], json::parse(R"({
    "rules":[{"host":"foo.com","http":{"paths":[{"backend":{"service":{"name":"svc1","port":{"number":8080}}},"path":"/bar","pathType":"Exact"}]}}],
    "tls":[{"hosts":["foo.com"],"secretName":"cert"}]})"));

  Ok({"create", "poddisruptionbudget", "typed-pdb", "-n", "aura", "--selector=app=x",
      "--min-available=50%"});
  EXPECT_EQ(Get("pdb", "typed-pdb")["spec"],
            json::parse(R"({"minAvailable":"50%","selector":{"matchLabels":{"app":"x"}}})"));

  Ok({"create", "cronjob", "typed-cj", "-n", "aura", "--image=busybox", "--schedule=*/5 * * * *"});
  json cj = Get("cronjob", "typed-cj");
  EXPECT_EQ(cj["spec"]["schedule"], "*/5 * * * *");
  EXPECT_EQ(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"], "OnFailure");

  EXPECT_EQ(Ok({"run", "typed-pod", "-n", "aura", "--image=nginx:1", "--env=A=b", "--labels=x=y",
                "--", "sleep", "10"}),
            "pod/typed-pod created\n");
  json pod = Get("pod", "typed-pod");
  EXPECT_EQ(pod["metadata"]["labels"], json({{"x", "y"}}));
  EXPECT_EQ(pod["spec"]["containers"][0]["args"], json({"sleep", "10"}));
  EXPECT_EQ(pod["spec"]["containers"][0]["env"], json::parse(R"([{"name":"A","value":"b"}])"));
}

TEST_F(KubeSimTypedTest, HandMadeProtobufBodies) {
  std::string meta = Bytes(1, "raw-cm") + Bytes(2, "") + Number(7, 0) + Bytes(8, "") +
                     Bytes(11, Bytes(1, "k") + Bytes(2, "v"));
  std::string cm = Bytes(1, meta) + Bytes(2, Bytes(1, "x") + Bytes(2, "y")) + Number(4, 1);
  auto ok = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps",
                        Envelope("v1", "ConfigMap", cm), {{"Content-Type", kProtobuf}});
  ASSERT_EQ(ok.status, 201) << ok.body;
  json got = ok.Json();
  EXPECT_EQ(got["data"], json({{"x", "y"}}));
  EXPECT_EQ(got["immutable"], true);
  EXPECT_EQ(got["metadata"]["labels"], json({{"k", "v"}}));

  // A non-zero field kube-sim does not decode: 415 instead of losing it.
  std::string unknown = Bytes(1, Bytes(1, "raw-cm2")) + Bytes(99, "surprise");
  auto r415 = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps",
                          Envelope("v1", "ConfigMap", unknown), {{"Content-Type", kProtobuf}});
  EXPECT_EQ(r415.status, 415);
  EXPECT_EQ(r415.Json()["message"],
            "kube-sim cannot decode protobuf field 99 of ConfigMap; send this object as "
            "application/json");

  auto truncated =
      sim().Admin("POST", "/api/v1/namespaces/aura/configmaps",
                  Envelope("v1", "ConfigMap", cm).substr(0, 20), {{"Content-Type", kProtobuf}});
  EXPECT_EQ(truncated.status, 400);
  EXPECT_EQ(truncated.Json()["message"], "invalid protobuf body");
  auto no_magic = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", "{}",
                              {{"Content-Type", kProtobuf}});
  EXPECT_EQ(no_magic.status, 400);
  EXPECT_EQ(no_magic.Json()["message"], "invalid protobuf body");
  // Kinds kube-sim does not decode keep the 415 of a server without protobuf.
  auto ds = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/daemonsets",
                        Envelope("apps/v1", "DaemonSet", Bytes(1, Bytes(1, "ds"))),
                        {{"Content-Type", kProtobuf}});
  EXPECT_EQ(ds.status, 415);
  EXPECT_EQ(ds.Json()["message"],
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml");
  auto bad_utf8 = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps",
                              Envelope("v1", "ConfigMap", Bytes(1, Bytes(1, "\xff"))),
                              {{"Content-Type", kProtobuf}});
  EXPECT_EQ(bad_utf8.status, 400);
  EXPECT_EQ(bad_utf8.Json()["message"], "invalid protobuf body: string field is not valid UTF-8");
}

}  // namespace
}  // namespace kubesim::testing
