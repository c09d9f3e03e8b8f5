// kube-sim as the clients nobody here wrote see it (issue 13): server-side apply ownership with
// the real list-map keys, kubectl's client-side-apply upgrade, strategic merge patches from
// kubectl apply/patch/set/edit, defaulting and the validation texts of common mistakes. Every
// item is driven with the real kubectl.
#include <gtest/gtest.h>

#include "test_client.hpp"

namespace kubesim::testing {
namespace {

using nlohmann::json;

class KubeSimClientsTest : public SharedSimTest {
 protected:
  static testsupport::RunResult Run(std::vector<std::string> args,
                                    const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv{
        "kubectl", "--kubeconfig", sim().kubeconfig_path, "--context", "admin", "-n", "aura"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::map<std::string, std::string> all{{"HOME", sim().dir},
                                           {"KUBECACHEDIR", sim().dir + "/cache"}};
    all.insert(env.begin(), env.end());
    return testsupport::Run(argv, all, std::chrono::seconds(60));
  }
  // kubectl as the admin in namespace aura; fails the test on a non-zero exit.
  static std::string Ok(std::vector<std::string> args,
                        const std::map<std::string, std::string>& env = {}) {
    auto r = Run(std::move(args), env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }
  // kubectl that must fail; returns stderr.
  static std::string Fails(std::vector<std::string> args) {
    auto r = Run(std::move(args));
    EXPECT_NE(r.exit_code, 0) << r.out;
    return r.err;
  }
  static std::string File(const std::string& name, const std::string& text) {
    std::string path = sim().dir + "/" + name;
    testsupport::WriteFile(path, text);
    return path;
  }
  // The stored object, read over plain HTTP (kubectl only acts; reading back is cheaper raw).
  static json Get(const std::string& kind, const std::string& name) {
    static const std::map<std::string, std::string> kPaths{
        {"deployment", "/apis/apps/v1/namespaces/aura/deployments/"},
        {"secret", "/api/v1/namespaces/aura/secrets/"},
        {"service", "/api/v1/namespaces/aura/services/"},
        {"job", "/apis/batch/v1/namespaces/aura/jobs/"},
        {"namespace", "/api/v1/namespaces/"}};
    auto r = sim().Admin("GET", kPaths.at(kind) + name);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.Json() : json();
  }
  // Items of a list (e.g. "/apis/apps/v1/namespaces/aura/replicasets") with a label selector.
  static json List(const std::string& path, const std::string& selector) {
    auto r = sim().Admin("GET", path + "?labelSelector=" + selector);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json()["items"];
  }
  static json Entry(const json& obj, const std::string& manager, const std::string& operation) {
    for (const auto& e : obj["metadata"].value("managedFields", json::array())) {
      if (e["manager"] == manager && e["operation"] == operation) return e;
    }
    return json();
  }
  static json Containers(const json& deployment) {
    return deployment["spec"]["template"]["spec"]["containers"];
  }
  static std::vector<std::string> Names(const json& list) {
    std::vector<std::string> out;
    for (const auto& e : list) out.push_back(e.value("name", ""));
    return out;
  }
};

// A Deployment with the lists whose keys are not "name": ports (containerPort+protocol) and
// volumeMounts (mountPath). Scenario "never": no controller writes.
std::string Deployment(const std::string& name, const std::string& image,
                       const std::string& extra_env = "") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
         "\n  annotations: {test.deployd.io/scenario: never}\n"
         "spec:\n  selector: {matchLabels: {app: " +
         name +
         "}}\n"
         "  template:\n    metadata: {labels: {app: " +
         name +
         "}}\n"
         "    spec:\n      containers:\n      - name: web\n        image: " +
         image +
         "\n        ports:\n        - containerPort: 53\n          name: dns-tcp\n"
         "        - containerPort: 53\n          protocol: UDP\n          name: dns-udp\n"
         "        env:\n        - {name: A, value: \"1\"}\n" +
         extra_env +
         "        volumeMounts:\n        - {name: data, mountPath: /data}\n"
         "      volumes:\n      - name: data\n        emptyDir: {}\n";
}

// ---- 1. server-side apply
// ---------------------------------------------------------------------------

TEST_F(KubeSimClientsTest, ServerSideApplyKeysBuiltinListsAsTheOpenApiDeclares) {
  EXPECT_EQ(Ok({"apply", "--server-side", "-f", File("ssa.yaml", Deployment("ssa", "nginx:1"))}),
            "deployment.apps/ssa serverside-applied\n");
  json d = Get("deployment", "ssa");
  json mine = Entry(d, "kubectl", "Apply")["fieldsV1"];
  const json& c = mine["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
  // Ports by containerPort+protocol (the TCP default filled in), mounts by mountPath, env by
  // name, the selector atomic, volumes by name.
  EXPECT_TRUE(c["f:ports"].contains("k:{\"containerPort\":53,\"protocol\":\"TCP\"}")) << c;
  EXPECT_TRUE(c["f:ports"].contains("k:{\"containerPort\":53,\"protocol\":\"UDP\"}")) << c;
  EXPECT_EQ(c["f:ports"]["k:{\"containerPort\":53,\"protocol\":\"TCP\"}"],
            json::parse(R"({".":{},"f:containerPort":{},"f:name":{}})"));
  EXPECT_TRUE(c["f:volumeMounts"].contains("k:{\"mountPath\":\"/data\"}")) << c;
  EXPECT_TRUE(c["f:env"].contains("k:{\"name\":\"A\"}")) << c;
  EXPECT_EQ(mine["f:spec"]["f:selector"], json::object());
  EXPECT_TRUE(
      mine["f:spec"]["f:template"]["f:spec"]["f:volumes"].contains("k:{\"name\":\"data\"}"));
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");

  // A second manager adds a sidecar and an env var; both containers stay, the ownership is shared.
  std::string sidecar = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"ssa"},
    "spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"2"}]},
    {"name":"proxy","image":"envoy:1"}]}}}})";
  EXPECT_EQ(
      Ok({"apply", "--server-side", "--field-manager=mesh", "-f", File("mesh.json", sidecar)}),
      "deployment.apps/ssa serverside-applied\n");
  d = Get("deployment", "ssa");
  EXPECT_EQ(Names(Containers(d)), (std::vector<std::string>{"web", "proxy"}));
  EXPECT_EQ(Names(Containers(d)[0]["env"]), (std::vector<std::string>{"A", "B"}));

  // Re-applying the first manifest keeps the other manager's sidecar and env var.
  Ok({"apply", "--server-side", "-f", File("ssa.yaml", Deployment("ssa", "nginx:1"))});
  d = Get("deployment", "ssa");
  EXPECT_EQ(Names(Containers(d)), (std::vector<std::string>{"web", "proxy"}));
  EXPECT_EQ(Names(Containers(d)[0]["env"]), (std::vector<std::string>{"A", "B"}));

  // Changing a field another manager owns conflicts, naming the element by its keys.
  std::string udp = R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"ssa"},
    "spec":{"template":{"spec":{"containers":[{"name":"web","ports":[{"containerPort":53,"protocol":"UDP","name":"dns"}]}]}}}})";
  std::string err =
      Fails({"apply", "--server-side", "--field-manager=mesh", "-f", File("udp.json", udp)});
  EXPECT_NE(err.find("Apply failed with 1 conflict: conflict with \"kubectl\": "
                     ".spec.template.spec.containers[name=\"web\"].ports[containerPort=53,protocol="
                     "\"UDP\"].name"),
            std::string::npos)
      << err;
  Ok({"apply", "--server-side", "--field-manager=mesh", "--force-conflicts", "-f",
      File("udp.json", udp)});
  d = Get("deployment", "ssa");
  EXPECT_EQ(Containers(d)[0]["ports"][1]["name"], "dns");
  EXPECT_EQ(Containers(d)[0]["ports"][0]["name"], "dns-tcp");  // the TCP element is another field
  EXPECT_FALSE(Entry(d, "kubectl", "Apply")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]
                                           ["f:containers"]["k:{\"name\":\"web\"}"]["f:ports"]
                                           ["k:{\"containerPort\":53,\"protocol\":\"UDP\"}"]
                                               .contains("f:name"));
}

TEST_F(KubeSimClientsTest, ClientSideApplyUpgradesToServerSideApply) {
  EXPECT_EQ(Ok({"apply", "-f", File("csa.yaml", Deployment("csa", "nginx:1"))}),
            "deployment.apps/csa created\n");
  json d = Get("deployment", "csa");
  EXPECT_FALSE(Entry(d, "kubectl-client-side-apply", "Update").is_null());
  // The image changes in the file: server-side apply takes over what client-side apply wrote
  // without --force-conflicts, and moves its fields to the "kubectl" Apply entry.
  EXPECT_EQ(Ok({"apply", "--server-side", "-f", File("csa.yaml", Deployment("csa", "nginx:2"))}),
            "deployment.apps/csa serverside-applied\n");
  d = Get("deployment", "csa");
  EXPECT_EQ(Containers(d)[0]["image"], "nginx:2");
  EXPECT_TRUE(Entry(d, "kubectl-client-side-apply", "Update").is_null())
      << d["metadata"]["managedFields"];
  json mine = Entry(d, "kubectl", "Apply")["fieldsV1"];
  EXPECT_TRUE(
      mine["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"].contains(
          "f:image"));
  EXPECT_FALSE(Entry(d, "kubectl-last-applied", "Apply").is_null());
  // The last-applied annotation follows what server-side apply applied.
  json last =
      json::parse(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
                      .get<std::string>());
  EXPECT_EQ(last["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:2");
  // Client-side apply still works afterwards.
  EXPECT_EQ(Ok({"apply", "-f", File("csa.yaml", Deployment("csa", "nginx:3"))}),
            "deployment.apps/csa configured\n");
  EXPECT_EQ(Containers(Get("deployment", "csa"))[0]["image"], "nginx:3");

  // A field someone else changed since the last client-side apply is not forgiven.
  Ok({"apply", "-f", File("csa2.yaml", Deployment("csa2", "nginx:1"))});
  Ok({"set", "image", "deployment/csa2", "web=nginx:9"});
  std::string err =
      Fails({"apply", "--server-side", "-f", File("csa2.yaml", Deployment("csa2", "nginx:2"))});
  EXPECT_NE(err.find("conflict with \"kubectl-set\" using apps/v1: "
                     ".spec.template.spec.containers[name=\"web\"].image"),
            std::string::npos)
      << err;
}

TEST_F(KubeSimClientsTest, ManagedFieldsWrittenByClientsAreHonoured) {
  Ok({"apply", "--server-side", "-f", File("mf.yaml", Deployment("mf", "nginx:1"))});
  json d = Get("deployment", "mf");
  ASSERT_FALSE(d["metadata"]["managedFields"].empty());
  std::string rv = d["metadata"]["resourceVersion"];
  // `[{}]` clears them (an empty list would not).
  Ok({"patch", "deployment", "mf", "--type=merge", "-p", R"({"metadata":{"managedFields":[{}]}})"});
  d = Get("deployment", "mf");
  EXPECT_FALSE(d["metadata"].contains("managedFields")) << d["metadata"];
  EXPECT_NE(d["metadata"]["resourceVersion"], rv);
  // A JSON patch may rewrite them; a resourceVersion it writes is a precondition.
  json entry{{"manager", "tool"},
             {"operation", "Apply"},
             {"apiVersion", "apps/v1"},
             {"fieldsType", "FieldsV1"},
             {"fieldsV1", {{"f:spec", {{"f:replicas", json::object()}}}}}};
  json patch = json::array(
      {{{"op", "add"}, {"path", "/metadata/managedFields"}, {"value", json::array({entry})}},
       {{"op", "replace"},
        {"path", "/metadata/resourceVersion"},
        {"value", d["metadata"]["resourceVersion"]}}});
  Ok({"patch", "deployment", "mf", "--type=json", "-p", patch.dump()});
  d = Get("deployment", "mf");
  ASSERT_EQ(d["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(d["metadata"]["managedFields"][0]["manager"], "tool");
  patch[1]["value"] = "1";
  EXPECT_NE(
      Fails({"patch", "deployment", "mf", "--type=json", "-p", patch.dump()})
          .find("the object has been modified; please apply your changes to the latest version"),
      std::string::npos);
  // The owner the client wrote is the one an apply conflicts with.
  std::string body =
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"mf"},"spec":{"replicas":5}})";
  auto conflict =
      sim().Admin("PATCH", "/apis/apps/v1/namespaces/aura/deployments/mf?fieldManager=other", body,
                  {{"Content-Type", "application/apply-patch+yaml"}});
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_EQ(conflict.Json()["message"],
            "Apply failed with 1 conflict: conflict with \"tool\": .spec.replicas");
}

// ---- 2. strategic merge patch
// ------------------------------------------------------------------------

TEST_F(KubeSimClientsTest, KubectlPatchSetAndApplyKeepSidecarsAndEnv) {
  Ok({"apply", "-f", File("smp.yaml", Deployment("smp", "nginx:1"))});
  // A sidecar injected by someone else; strategic merge adds it in front, as kube-apiserver does.
  Ok({"patch", "deployment", "smp", "-p",
      R"({"spec":{"template":{"spec":{"containers":[{"name":"proxy","image":"envoy:1"}]}}}})"});
  EXPECT_EQ(Names(Containers(Get("deployment", "smp"))),
            (std::vector<std::string>{"proxy", "web"}));
  EXPECT_EQ(Ok({"set", "image", "deployment/smp", "web=nginx:2"}),
            "deployment.apps/smp image updated\n");
  Ok({"set", "env", "deployment/smp", "-c", "web", "B=2"});
  json d = Get("deployment", "smp");
  EXPECT_EQ(Containers(d)[0]["image"], "envoy:1");
  EXPECT_EQ(Containers(d)[1]["image"], "nginx:2");
  EXPECT_EQ(Names(Containers(d)[1]["env"]), (std::vector<std::string>{"A", "B"}));
  // kubectl set env NAME- sends a $patch: delete element.
  Ok({"set", "env", "deployment/smp", "-c", "web", "B-"});
  EXPECT_EQ(Names(Containers(Get("deployment", "smp"))[1]["env"]), (std::vector<std::string>{"A"}));

  // Client-side apply: a three-way patch with $setElementOrder keeps the sidecar, removes the
  // env var the file no longer has, and $retainKeys drops rollingUpdate with type Recreate.
  std::string with_c = Deployment("smp", "nginx:3", "        - {name: C, value: \"3\"}\n");
  Ok({"apply", "-f", File("smp.yaml", with_c + "  strategy: {type: Recreate}\n")});
  d = Get("deployment", "smp");
  EXPECT_EQ(Names(Containers(d)), (std::vector<std::string>{"proxy", "web"}));
  EXPECT_EQ(Names(Containers(d)[1]["env"]), (std::vector<std::string>{"A", "C"}));
  EXPECT_EQ(d["spec"]["strategy"], json({{"type", "Recreate"}}));
  Ok({"apply", "-f", File("smp.yaml", Deployment("smp", "nginx:3"))});
  d = Get("deployment", "smp");
  EXPECT_EQ(Names(Containers(d)[1]["env"]), (std::vector<std::string>{"A"}));
  EXPECT_EQ(d["spec"]["strategy"]["type"], "RollingUpdate");

  // kubectl edit sends a two-way strategic patch of what the editor changed.
  Ok({"edit", "deployment/smp"}, {{"KUBE_EDITOR", "sed -i s/nginx:3/nginx:4/"}});
  d = Get("deployment", "smp");
  EXPECT_EQ(Containers(d)[1]["image"], "nginx:4");
  EXPECT_EQ(Containers(d)[0]["image"], "envoy:1");
}

TEST_F(KubeSimClientsTest, StrategicMergePatchDirectives) {
  Ok({"apply", "-f", File("dir.yaml", Deployment("dir", "nginx:1"))});
  auto patch = [&](const std::string& body) {
    return sim().Admin("PATCH", "/apis/apps/v1/namespaces/aura/deployments/dir", body,
                       {{"Content-Type", "application/strategic-merge-patch+json"}});
  };
  const std::string spec = R"({"spec":{"template":{"spec":)";
  ASSERT_EQ(patch(spec + R"({"containers":[{"name":"a","image":"a"},{"name":"b","image":"b"}]}}}})")
                .status,
            200);
  // $setElementOrder orders the merged list.
  auto r = patch(
      spec + R"({"$setElementOrder/containers":[{"name":"web"},{"name":"b"},{"name":"a"}]}}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Names(Containers(r.Json())), (std::vector<std::string>{"web", "b", "a"}));
  // $patch: delete removes one element; $patch: replace replaces the list.
  r = patch(spec + R"({"containers":[{"name":"b","$patch":"delete"}]}}}})");
  EXPECT_EQ(Names(Containers(r.Json())), (std::vector<std::string>{"web", "a"}));
  r = patch(spec + R"({"containers":[{"name":"web","image":"nginx:5"},{"$patch":"replace"}]}}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Containers(r.Json()),
            json::parse(R"([{"name":"web","image":"nginx:5","imagePullPolicy":"IfNotPresent",
      "resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}])"));
  // Finalizers merge as a set; $deleteFromPrimitiveList removes from it.
  r = patch(R"({"metadata":{"finalizers":["x/a","x/b"]}})");
  r = patch(R"({"metadata":{"finalizers":["x/c"]}})");
  EXPECT_EQ(r.Json()["metadata"]["finalizers"], json({"x/c", "x/a", "x/b"}));
  r = patch(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["x/a","x/c"]}})");
  EXPECT_EQ(r.Json()["metadata"]["finalizers"], json({"x/b"}));
  r = patch(R"({"metadata":{"$patch":"replace","name":"dir","namespace":"aura"}})");
  EXPECT_FALSE(r.Json()["metadata"].contains("finalizers"));
  // Lists that are not merged (args) are replaced; $retainKeys checks the patch.
  r = patch(
      R"({"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":{"maxSurge":1}}}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.Json()["message"], "invalid patch format of retainKeys");
  r = patch(spec + R"({"containers":[{"image":"x"}]}}}})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.Json()["message"], "map: map[image:x] does not contain declared merge key: name");
  // Custom resources take no strategic merge patch.
  auto cr = sim().Admin("PATCH", "/apis/nais.io/v1alpha1/namespaces/aura/applications/x", "{}",
                        {{"Content-Type", "application/strategic-merge-patch+json"}});
  EXPECT_EQ(cr.status, 415);
}

// ---- 3. defaulting and validation
// --------------------------------------------------------------------

TEST_F(KubeSimClientsTest, DefaultsAsTheApiserverWritesThem) {
  Ok({"apply", "-f", File("def.yaml", R"(apiVersion: v1
kind: Secret
metadata: {name: def}
stringData: {user: admin}
data: {pass: c2VjcmV0}
---
apiVersion: v1
kind: Service
metadata: {name: def}
spec:
  selector: {app: def}
  ports: [{port: 80, name: http}, {port: 53, protocol: UDP, targetPort: dns, name: dns}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: def, annotations: {test.deployd.io/scenario: never}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: "busybox:latest", readinessProbe: {httpGet: {port: 8080}}}]
)")});
  json secret = Get("secret", "def");
  EXPECT_EQ(secret["data"], json({{"pass", "c2VjcmV0"}, {"user", "YWRtaW4="}}));
  EXPECT_FALSE(secret.contains("stringData"));
  EXPECT_EQ(secret["type"], "Opaque");

  json svc = Get("service", "def");
  std::string ip = svc["spec"]["clusterIP"];
  EXPECT_EQ(ip.rfind("10.96.", 0), 0u);
  EXPECT_EQ(svc["spec"]["type"], "ClusterIP");
  EXPECT_EQ(svc["spec"]["sessionAffinity"], "None");
  EXPECT_EQ(svc["spec"]["ports"],
            json::parse(R"([{"name":"http","port":80,"protocol":"TCP","targetPort":80},
                                                  {"name":"dns","port":53,"protocol":"UDP","targetPort":"dns"}])"));
  // Re-applying without the cluster IP keeps it.
  Ok({"apply", "-f", File("def.yaml", testsupport::ReadFile(sim().dir + "/def.yaml"))});
  EXPECT_EQ(Get("service", "def")["spec"]["clusterIP"], ip);

  json job = Get("job", "def");
  std::string uid = job["metadata"]["uid"];
  EXPECT_EQ(job["spec"]["selector"],
            json({{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}}));
  EXPECT_EQ(job["spec"]["template"]["metadata"]["labels"]["job-name"], "def");
  const json& pod = job["spec"]["template"]["spec"];
  EXPECT_EQ(pod["dnsPolicy"], "ClusterFirst");
  EXPECT_EQ(pod["terminationGracePeriodSeconds"], 30);
  EXPECT_EQ(pod["schedulerName"], "default-scheduler");
  EXPECT_EQ(pod["containers"][0]["imagePullPolicy"], "Always");
  EXPECT_EQ(
      pod["containers"][0]["readinessProbe"],
      json::parse(
          R"({"httpGet":{"port":8080,"path":"/","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,
                            "successThreshold":1,"failureThreshold":3})"));
  EXPECT_EQ(job["spec"]["podReplacementPolicy"], "TerminatingOrFailed");
}

TEST_F(KubeSimClientsTest, ValidationOfCommonMistakes) {
  std::string err = Fails({"apply", "-f", File("bad-job.yaml", R"(apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  template:
    spec:
      containers:
      - name: c
        image: busybox
        ports: [{containerPort: 70000, name: Http_Port}]
)")});
  EXPECT_EQ(err,
            "The Job \"bad\" is invalid: \n"
            "* spec.template.spec.containers[0].ports[0].name: Invalid value: \"Http_Port\": must "
            "contain only "
            "alpha-numeric characters (a-z, 0-9), and hyphens (-)\n"
            "* spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must "
            "be between 1 "
            "and 65535, inclusive\n"
            "* spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: "
            "\"OnFailure\", "
            "\"Never\"\n");

  err = Fails({"apply", "-f", File("bad-svc.yaml", R"(apiVersion: v1
kind: Service
metadata: {name: bad}
spec:
  type: Nodeport
  ports: [{port: 80, protocol: tcp}, {port: 81, name: Web}]
)")});
  EXPECT_EQ(
      err,
      "The Service \"bad\" is invalid: \n"
      "* spec.type: Unsupported value: \"Nodeport\": supported values: \"ClusterIP\", "
      "\"ExternalName\", "
      "\"LoadBalancer\", \"NodePort\"\n"
      "* spec.ports[0].name: Required value\n"
      "* spec.ports[0].protocol: Unsupported value: \"tcp\": supported values: \"SCTP\", \"TCP\", "
      "\"UDP\"\n"
      "* spec.ports[1].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of "
      "lower case "
      "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. "
      "'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')\n");

  auto cm = sim().Admin(
      "POST", "/api/v1/namespaces/aura/configmaps",
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"bad"},"data":{"a b":"1","..x":"2"}})");
  EXPECT_EQ(cm.status, 422);
  EXPECT_EQ(cm.Json()["message"],
            "ConfigMap \"bad\" is invalid: [data[..x]: Invalid value: \"..x\": must not start with "
            "'..', data[a b]: "
            "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, "
            "'-', '_' or '.' "
            "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            "'[-._a-zA-Z0-9]+')]");
  EXPECT_EQ(cm.Json()["details"]["causes"][1]["field"], "data[a b]");

  err = Fails({"apply", "-f",
               File("bad-secret.yaml",
                    "apiVersion: v1\nkind: Secret\nmetadata: {name: bad}\ndata: {a: \"abc!\"}\n")});
  EXPECT_NE(err.find("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data "
                     "at input byte 3"),
            std::string::npos)
      << err;
  auto tls = sim().Admin(
      "POST", "/api/v1/namespaces/aura/secrets",
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"bad"},"type":"kubernetes.io/tls"})");
  EXPECT_EQ(
      tls.Json()["message"],
      "Secret \"bad\" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]");

  err = Fails({"apply", "-f", File("bad-deploy.yaml", R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  selector: {matchLabels: {app: bad}}
  strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}
  template:
    metadata: {labels: {app: bad}}
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        imagePullPolicy: always
        volumeMounts: [{name: data, mountPath: /data}]
)")});
  EXPECT_EQ(err,
            "The Deployment \"bad\" is invalid: \n"
            "* spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\"\n"
            "* spec.template.spec.containers[0].imagePullPolicy: Unsupported value: \"always\": "
            "supported values: "
            "\"Always\", \"IfNotPresent\", \"Never\"\n"
            "* spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: "
            "\"Always\"\n"
            "* spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` "
            "is 'Recreate'\n");

  // Immutable ConfigMaps.
  Ok({"create", "configmap", "frozen", "--from-literal=a=1"});
  Ok({"patch", "configmap", "frozen", "-p", R"({"immutable":true})"});
  err = Fails({"patch", "configmap", "frozen", "-p", R"({"data":{"a":"2"}})"});
  EXPECT_NE(err.find("The ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable "
                     "when `immutable` is set"),
            std::string::npos)
      << err;
}

// ---- 6. controller-manager behaviour
// -------------------------------------------------------------------

// A Deployment of `replicas` that rolls out (scenario success).
std::string Rolling(const std::string& name, int replicas, const std::string& image = "nginx:1") {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name +
         "}\n"
         "spec:\n  replicas: " +
         std::to_string(replicas) + "\n  selector: {matchLabels: {app: " + name +
         "}}\n"
         "  template:\n    metadata: {labels: {app: " +
         name +
         "}}\n"
         "    spec: {containers: [{name: web, image: \"" +
         image + "\"}]}\n";
}

TEST_F(KubeSimClientsTest, GarbageCollectionFollowsThePropagationPolicy) {
  for (const char* name : {"gc-bg", "gc-fg", "gc-orphan"}) {
    Ok({"apply", "-f", File(std::string(name) + ".yaml", Rolling(name, 2))});
  }
  for (const char* name : {"gc-bg", "gc-fg", "gc-orphan"})
    Ok({"rollout", "status", std::string("deployment/") + name, "--timeout=30s"});
  auto count = [&](const std::string& what, const std::string& app) {
    return List(what == "pods" ? "/api/v1/namespaces/aura/pods"
                               : "/apis/apps/v1/namespaces/aura/replicasets",
                "app%3D" + app)
        .size();
  };
  ASSERT_EQ(count("replicasets", "gc-bg"), 1u);
  ASSERT_EQ(count("pods", "gc-bg"), 2u);

  // Foreground: kubectl waits for the Deployment, which goes only after its ReplicaSet and pods.
  Ok({"delete", "deployment", "gc-fg", "--cascade=foreground"});
  EXPECT_EQ(count("replicasets", "gc-fg"), 0u);
  EXPECT_EQ(count("pods", "gc-fg"), 0u);
  // Background: the Deployment goes now, the collector removes the rest.
  std::string rs =
      List("/apis/apps/v1/namespaces/aura/replicasets", "app%3Dgc-bg")[0]["metadata"]["name"];
  Ok({"delete", "deployment", "gc-bg", "--cascade=background"});
  Ok({"wait", "--for=delete", "replicaset/" + rs, "--timeout=30s"});
  Ok({"wait", "--for=delete", "pods", "-l", "app=gc-bg", "--timeout=30s"});
  // Orphan: the ReplicaSet stays, without its owner.
  Ok({"delete", "deployment", "gc-orphan", "--cascade=orphan"});
  json orphan = List("/apis/apps/v1/namespaces/aura/replicasets", "app%3Dgc-orphan");
  ASSERT_EQ(orphan.size(), 1u);
  EXPECT_FALSE(orphan[0]["metadata"].contains("ownerReferences"));
  EXPECT_EQ(count("pods", "gc-orphan"), 2u);
}

TEST_F(KubeSimClientsTest, NamespaceLifecycle) {
  Ok({"create", "namespace", "doomed"});
  // What the serviceaccount and root-ca-cert-publisher controllers add to a new namespace.
  Ok({"wait", "--for=create", "serviceaccount/default", "configmap/kube-root-ca.crt", "-n",
      "doomed", "--timeout=30s"});
  Ok({"create", "configmap", "held", "-n", "doomed"});
  Ok({"patch", "configmap", "held", "-n", "doomed", "-p",
      R"({"metadata":{"finalizers":["example.com/hold"]}})"});
  EXPECT_EQ(Ok({"delete", "namespace", "doomed", "--wait=false"}),
            "namespace \"doomed\" deleted\n");
  json ns = Get("namespace", "doomed");
  EXPECT_EQ(ns["status"]["phase"], "Terminating");
  bool remaining = false;
  for (const auto& c : ns["status"].value("conditions", json::array())) {
    if (c["type"] == "NamespaceFinalizersRemaining") {
      remaining = true;
      EXPECT_EQ(c["message"],
                "Some content in the namespace has finalizers remaining: example.com/hold in 1 "
                "resource instances");
    }
  }
  EXPECT_TRUE(remaining) << ns["status"];
  auto refused = Run({"create", "configmap", "late", "-n", "doomed"});
  EXPECT_EQ(refused.err,
            "error: failed to create configmap: configmaps \"late\" is forbidden: unable to create "
            "new content in "
            "namespace doomed because it is being terminated\n");
  Ok({"patch", "configmap", "held", "-n", "doomed", "--type=json", "-p",
      R"([{"op":"remove","path":"/metadata/finalizers"}])"});
  Ok({"wait", "--for=delete", "namespace/doomed", "--timeout=30s"});

  // The cluster's own Service and its endpoints.
  json svc = sim().Admin("GET", "/api/v1/namespaces/default/services/kubernetes").Json();
  EXPECT_EQ(svc["spec"]["clusterIP"], "10.96.0.1");
  json eps = sim().Admin("GET", "/api/v1/namespaces/default/endpoints/kubernetes").Json();
  EXPECT_EQ(eps["subsets"][0]["ports"][0]["port"], sim().port);
}

TEST_F(KubeSimClientsTest, ReplicaSetsConverge) {
  Ok({"apply", "-f", File("rs.yaml", Rolling("conv", 3))});
  Ok({"rollout", "status", "deployment/conv", "--timeout=30s"});
  auto names = [&] {
    json list = List("/api/v1/namespaces/aura/pods", "app%3Dconv");
    std::vector<std::string> out;
    for (const auto& p : list) out.push_back(p["metadata"]["name"]);
    return out;
  };
  ASSERT_EQ(names().size(), 3u);
  // A deleted pod is replaced.
  std::string victim = names()[0];
  Ok({"delete", "pod", victim});
  Ok({"wait", "--for=jsonpath={.status.readyReplicas}=3", "replicaset", "-l", "app=conv",
      "--timeout=30s"});
  auto now = names();
  EXPECT_EQ(now.size(), 3u);
  EXPECT_EQ(std::find(now.begin(), now.end(), victim), now.end());
  // Scaling down deletes pods.
  Ok({"scale", "deployment", "conv", "--replicas=1"});
  Ok({"wait", "--for=jsonpath={.status.replicas}=1", "replicaset", "-l", "app=conv",
      "--timeout=30s"});
  EXPECT_EQ(names().size(), 1u);
  // A ReplicaSet of its own gets its pods.
  Ok({"apply", "-f",
      File(
          "own-rs.yaml",
          "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: own}\nspec:\n  replicas: 2\n"
          "  selector: {matchLabels: {app: own}}\n  template:\n    metadata: {labels: {app: own}}\n"
          "    spec: {containers: [{name: c, image: busybox}]}\n")});
  Ok({"wait", "--for=jsonpath={.status.readyReplicas}=2", "replicaset/own", "--timeout=30s"});
}

TEST_F(KubeSimClientsTest, RolloutUndoReusesTheOldReplicaSetAndPauseHoldsTheRollout) {
  Ok({"apply", "-f", File("undo.yaml", Rolling("undo", 1))});
  Ok({"rollout", "status", "deployment/undo", "--timeout=30s"});
  Ok({"set", "image", "deployment/undo", "web=nginx:2"});
  Ok({"rollout", "status", "deployment/undo", "--timeout=30s"});
  EXPECT_EQ(Ok({"rollout", "undo", "deployment/undo"}), "deployment.apps/undo rolled back\n");
  Ok({"rollout", "status", "deployment/undo", "--timeout=30s"});
  json sets = List("/apis/apps/v1/namespaces/aura/replicasets", "app%3Dundo");
  ASSERT_EQ(sets.size(), 2u);
  for (const auto& rs : sets) {
    const json& a = rs["metadata"]["annotations"];
    if (rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1") {
      EXPECT_EQ(a["deployment.kubernetes.io/revision"], "3");
      EXPECT_EQ(a["deployment.kubernetes.io/revision-history"], "1");
      EXPECT_EQ(rs["spec"]["replicas"], 1);
    } else {
      EXPECT_EQ(rs["spec"]["replicas"], 0);
    }
  }
  EXPECT_NE(
      Ok({"rollout", "history", "deployment/undo"}).find("2         <none>\n3         <none>\n"),
      std::string::npos);

  EXPECT_EQ(Ok({"rollout", "pause", "deployment/undo"}), "deployment.apps/undo paused\n");
  Ok({"set", "image", "deployment/undo", "web=nginx:3"});
  Ok({"wait",
      "--for=jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}=DeploymentPaused",
      "deployment/undo", "--timeout=30s"});
  EXPECT_EQ(List("/apis/apps/v1/namespaces/aura/replicasets", "app%3Dundo").size(), 2u);
  Ok({"rollout", "resume", "deployment/undo"});
  Ok({"rollout", "status", "deployment/undo", "--timeout=30s"});
  EXPECT_EQ(List("/apis/apps/v1/namespaces/aura/replicasets", "app%3Dundo").size(), 3u);
}

}  // namespace
}  // namespace kubesim::testing
