// kube-sim against the apiserver's rules (validation of built-in kinds, strict field validation),
// its control hooks (dropping watches, CRDs removed at runtime, the manual clock), SSA list types
// of custom resources and the conformance items that kube_sim_test.cpp leaves out.
// Raw HTTP plus the real kubectl where kubectl shows the behaviour.
#include <chrono>
#include <ctime>
#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "support/eventually.hpp"
#include "test_client.hpp"

namespace kubesim::testing {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

using testsupport::Eventually;

json Deployment(const std::string& name, const json& selector_labels, const json& template_labels,
                const json& containers, const std::string& scenario = "never") {
  json d{{"apiVersion", "apps/v1"},
         {"kind", "Deployment"},
         {"metadata",
          {{"name", name},
           {"namespace", "aura"},
           {"annotations", {{"test.deployd.io/scenario", scenario}}}}},
         {"spec", {{"template", {{"spec", {{"containers", containers}}}}}}}};
  if (!selector_labels.is_null()) d["spec"]["selector"] = {{"matchLabels", selector_labels}};
  if (!template_labels.is_null()) d["spec"]["template"]["metadata"] = {{"labels", template_labels}};
  return d;
}

json OneContainer() { return json::array({{{"name", "web"}, {"image", "nginx:1"}}}); }

class KubeSimSpecTest : public SharedSimTest {};

// ---- 7.5 validation of built-in kinds ----------------------------------------------------------

TEST_F(KubeSimSpecTest, DeploymentWithBadNameAndNoContainersListsBothErrors) {
  json d = Deployment("Web_1", {{"app", "x"}}, {{"app", "x"}}, json::array());
  auto r = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", d.dump());
  ASSERT_EQ(r.status, 422) << r.body;
  // kube-apiserver's answer to this object, byte for byte.
  EXPECT_EQ(r.Json(),
            json::parse(R"json({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
 "message":"Deployment.apps \"Web_1\" is invalid: [metadata.name: Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), spec.template.spec.containers: Required value]",
 "reason":"Invalid",
 "details":{"name":"Web_1","group":"apps","kind":"Deployment","causes":[
   {"reason":"FieldValueInvalid","message":"Invalid value: \"Web_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')","field":"metadata.name"},
   {"reason":"FieldValueRequired","message":"Required value","field":"spec.template.spec.containers"}]},
 "code":422})json"));
}

TEST_F(KubeSimSpecTest, TemplateLabelsMustMatchTheSelector) {
  json d = Deployment("mismatch", {{"app", "y"}}, {{"app", "x"}}, OneContainer());
  auto r = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", d.dump());
  ASSERT_EQ(r.status, 422) << r.body;
  json s = r.Json();
  EXPECT_EQ(
      s["message"],
      "Deployment.apps \"mismatch\" is invalid: spec.template.metadata.labels: Invalid value: "
      "map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`");
  EXPECT_EQ(
      s["details"]["causes"],
      json::parse(
          R"([{"reason":"FieldValueInvalid","message":"Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`","field":"spec.template.metadata.labels"}])"));

  // matchExpressions take part in the match.
  json e = Deployment("expr", nullptr, {{"app", "x"}, {"tier", "web"}}, OneContainer());
  e["spec"]["selector"] = {
      {"matchLabels", {{"app", "x"}}},
      {"matchExpressions", {{{"key", "tier"}, {"operator", "In"}, {"values", {"api"}}}}}};
  auto m = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", e.dump());
  ASSERT_EQ(m.status, 422) << m.body;
  EXPECT_EQ(m.Json()["message"],
            "Deployment.apps \"expr\" is invalid: spec.template.metadata.labels: Invalid value: "
            "map[string]string{\"app\":\"x\", \"tier\":\"web\"}: `selector` does not match "
            "template `labels`");
  e["spec"]["selector"]["matchExpressions"][0]["values"] = {"api", "web"};
  EXPECT_EQ(sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", e.dump()).status, 201);
}

TEST_F(KubeSimSpecTest, SelectorIsRequiredAndMustNotBeEmpty) {
  json d = Deployment("nosel", nullptr, {{"app", "x"}}, OneContainer());
  auto r = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", d.dump());
  ASSERT_EQ(r.status, 422) << r.body;
  // A nil selector selects nothing, so the template labels fail as well.
  EXPECT_EQ(r.Json()["message"],
            "Deployment.apps \"nosel\" is invalid: [spec.selector: Required value, "
            "spec.template.metadata.labels: "
            "Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template "
            "`labels`]");
  EXPECT_EQ(
      r.Json()["details"]["causes"][0],
      json::parse(
          R"({"reason":"FieldValueRequired","message":"Required value","field":"spec.selector"})"));

  d["spec"]["selector"] = json::object();
  auto empty = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", d.dump());
  ASSERT_EQ(empty.status, 422) << empty.body;
  EXPECT_EQ(empty.Json()["message"],
            "Deployment.apps \"nosel\" is invalid: spec.selector: Invalid value: "
            "v1.LabelSelector{MatchLabels:map[string]string(nil), "
            "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
            "deployment");
}

TEST_F(KubeSimSpecTest, ContainersNeedNameAndImage) {
  json d = Deployment(
      "noimage", {{"app", "x"}}, {{"app", "x"}},
      json::array(
          {json::object(), {{"name", "web"}, {"image", "a"}}, {{"name", "web"}, {"image", "b"}}}));
  auto r = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", d.dump());
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.Json()["message"],
            "Deployment.apps \"noimage\" is invalid: [spec.template.spec.containers[0].name: "
            "Required value, "
            "spec.template.spec.containers[0].image: Required value, "
            "spec.template.spec.containers[2].name: Duplicate value: \"web\"]");
  json causes = r.Json()["details"]["causes"];
  ASSERT_EQ(causes.size(), 3u);
  EXPECT_EQ(
      causes[1],
      json::parse(
          R"({"reason":"FieldValueRequired","message":"Required value","field":"spec.template.spec.containers[0].image"})"));
  EXPECT_EQ(
      causes[2],
      json::parse(
          R"({"reason":"FieldValueDuplicate","message":"Duplicate value: \"web\"","field":"spec.template.spec.containers[2].name"})"));

  // kubectl shows the causes.
  std::string file = sim().dir + "/noimage.yaml";
  json one =
      Deployment("noimage", {{"app", "x"}}, {{"app", "x"}}, json::array({{{"name", "web"}}}));
  testsupport::WriteFile(file, one.dump());
  auto k = sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", file});
  EXPECT_NE(k.exit_code, 0);
  // kubectl rewrites an Invalid Status as "The <Kind> ... is invalid: <causes>".
  EXPECT_EQ(k.err,
            "The Deployment \"noimage\" is invalid: spec.template.spec.containers[0].image: "
            "Required value\n");
}

TEST_F(KubeSimSpecTest, SelectorIsImmutable) {
  std::string path = "/apis/apps/v1/namespaces/aura/deployments/immutable";
  json d = Deployment("immutable", {{"app", "a"}}, {{"app", "a"}}, OneContainer());
  auto c = sim().Admin("PATCH", path + "?fieldManager=t", d.dump(), {{"Content-Type", kApplyType}});
  ASSERT_EQ(c.status, 201) << c.body;
  json changed = Deployment("immutable", {{"app", "b"}}, {{"app", "b"}}, OneContainer());
  const std::string want =
      "Deployment.apps \"immutable\" is invalid: spec.selector: Invalid value: "
      "v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"b\"}, "
      "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable";
  auto apply = sim().Admin("PATCH", path + "?fieldManager=t", changed.dump(),
                           {{"Content-Type", kApplyType}});
  ASSERT_EQ(apply.status, 422) << apply.body;
  EXPECT_EQ(apply.Json()["message"], want);
  EXPECT_EQ(apply.Json()["details"]["causes"][0]["field"], "spec.selector");
  auto put = sim().Admin("PUT", path, changed.dump());
  ASSERT_EQ(put.status, 422) << put.body;
  EXPECT_EQ(put.Json()["message"], want);
  // Unchanged selector: fine.
  d["spec"]["replicas"] = 3;
  EXPECT_EQ(sim().Admin("PUT", path, d.dump()).status, 200);
}

TEST_F(KubeSimSpecTest, NameFormatsPerKind) {
  json ns{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team.a"}}}};
  auto n = sim().Admin("POST", "/api/v1/namespaces", ns.dump());
  ASSERT_EQ(n.status, 422) << n.body;
  EXPECT_EQ(n.Json()["message"],
            "Namespace \"team.a\" is invalid: metadata.name: Invalid value: \"team.a\": a "
            "lowercase RFC 1123 label must consist of "
            "lower case alphanumeric characters or '-', and must start and end with an "
            "alphanumeric character (e.g. 'my-name',  "
            "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  EXPECT_EQ(
      n.Json()["details"],
      json::parse(
          R"json({"name":"team.a","kind":"Namespace","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"team.a\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')","field":"metadata.name"}]})json"));

  json svc{{"apiVersion", "v1"},
           {"kind", "Service"},
           {"metadata", {{"name", "1web"}}},
           {"spec", {{"ports", {{{"port", 80}}}}}}};
  auto s = sim().Admin("POST", "/api/v1/namespaces/aura/services", svc.dump());
  ASSERT_EQ(s.status, 422) << s.body;
  EXPECT_EQ(s.Json()["message"],
            "Service \"1web\" is invalid: metadata.name: Invalid value: \"1web\": a DNS-1035 label "
            "must consist of lower case "
            "alphanumeric characters or '-', start with an alphabetic character, and end with an "
            "alphanumeric character (e.g. "
            "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
  std::string long_name(64, 'a');
  svc["metadata"]["name"] = long_name;
  auto l = sim().Admin("POST", "/api/v1/namespaces/aura/services", svc.dump());
  ASSERT_EQ(l.status, 422) << l.body;
  EXPECT_EQ(l.Json()["message"], "Service \"" + long_name +
                                     "\" is invalid: metadata.name: Invalid value: \"" + long_name +
                                     "\": must be no more than 63 characters");
  // A subdomain with dots is fine for a ConfigMap.
  json cm{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "a.b-c"}}}};
  EXPECT_EQ(sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", cm.dump()).status, 201);
  json noname{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", json::object()}};
  auto nn = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps", noname.dump());
  ASSERT_EQ(nn.status, 422);
  EXPECT_EQ(
      nn.Json()["message"],
      "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required");

  // kubectl prints the Status message.
  std::string file = sim().dir + "/ns.yaml";
  testsupport::WriteFile(file, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Bad_NS\n");
  auto k = sim().Kubectl({"--context", "admin", "create", "-f", file});
  EXPECT_NE(k.exit_code, 0);
  EXPECT_NE(k.err.find("Namespace \"Bad_NS\" is invalid: metadata.name: Invalid value: \"Bad_NS\": "
                       "a lowercase RFC 1123 label"),
            std::string::npos)
      << k.err;
}

// ---- strict field validation of built-ins (2.6) ------------------------------------------------

TEST_F(KubeSimSpecTest, StrictFieldValidationOfBuiltins) {
  json cm{{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", "strict-cm"}}},
          {"data", {{"a", "1"}}},
          {"foo", 1}};
  auto r =
      sim().Admin("POST", "/api/v1/namespaces/aura/configmaps?fieldValidation=Strict", cm.dump());
  ASSERT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(
      r.Json(),
      json::parse(
          R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"foo\"","reason":"BadRequest","code":400})"));

  json d = Deployment("strict-dep", {{"app", "s"}}, {{"app", "s"}},
                      json::array({{{"name", "web"}, {"image", "i"}, {"bar", true}}}));
  d["spec"]["foo"] = "x";
  auto dr = sim().Admin("POST", "/apis/apps/v1/namespaces/aura/deployments?fieldValidation=Strict",
                        d.dump());
  ASSERT_EQ(dr.status, 400) << dr.body;
  EXPECT_EQ(dr.Json()["message"],
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding "
            "error: unknown field \"spec.foo\", "
            "unknown field \"spec.template.spec.containers[0].bar\"");

  // Warn (the default): created without the fields, one Warning header per field.
  json svc{{"apiVersion", "v1"},
           {"kind", "Service"},
           {"metadata", {{"name", "warned"}}},
           {"spec", {{"ports", {{{"port", 80}}}}, {"foo", 1}}}};
  auto w = sim().Admin("POST", "/api/v1/namespaces/aura/services", svc.dump());
  ASSERT_EQ(w.status, 201) << w.body;
  EXPECT_EQ(w.Header("warning"), "299 - \"unknown field \\\"spec.foo\\\"\"");
  EXPECT_FALSE(w.Json()["spec"].contains("foo"));
  // Ignore: silently dropped. The same on PUT and merge patch.
  auto ig = sim().MergePatch("/api/v1/namespaces/aura/services/warned?fieldValidation=Ignore",
                             R"({"spec":{"bar":2}})");
  ASSERT_EQ(ig.status, 200) << ig.body;
  EXPECT_EQ(ig.Header("warning"), "");
  EXPECT_FALSE(ig.Json()["spec"].contains("bar"));
  auto sp = sim().MergePatch("/api/v1/namespaces/aura/services/warned?fieldValidation=Strict",
                             R"({"spec":{"bar":2}})");
  ASSERT_EQ(sp.status, 400) << sp.body;
  EXPECT_EQ(sp.Json()["message"],
            "Service in version \"v1\" cannot be handled as a Service: strict decoding error: "
            "unknown field \"spec.bar\"");

  // Apply: the conversion to the typed object fails whatever fieldValidation says.
  auto ap = sim().Admin(
      "PATCH",
      "/apis/apps/v1/namespaces/aura/deployments/strict-dep?fieldManager=t&fieldValidation=Ignore",
      d.dump(), {{"Content-Type", kApplyType}});
  ASSERT_EQ(ap.status, 500) << ap.body;
  EXPECT_EQ(
      ap.Json(),
      json::parse(
          R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"failed to create typed patch object (aura/strict-dep; apps/v1, Kind=Deployment): errors:\n  .spec.foo: field not declared in schema\n  .spec.template.spec.containers[name=\"web\"].bar: field not declared in schema","code":500})"));
  EXPECT_EQ(sim().Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/strict-dep").status, 404);
}

TEST_F(KubeSimSpecTest, KubectlReportsUnknownFieldsOfBuiltins) {
  std::string file = sim().dir + "/unknown.yaml";
  testsupport::WriteFile(file,
                         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kubectl-unknown\n  "
                         "namespace: aura\ndata:\n  a: \"1\"\nfoo: 1\n");
  // kubectl validates strictly by default (fieldValidation=Strict).
  auto strict = sim().Kubectl({"--context", "admin", "create", "-f", file});
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_NE(strict.err.find("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict "
                            "decoding error: unknown field \"foo\""),
            std::string::npos)
      << strict.err;
  auto ssa = sim().Kubectl({"--context", "admin", "apply", "--server-side", "-f", file});
  EXPECT_NE(ssa.exit_code, 0);
  EXPECT_NE(ssa.err.find("failed to create typed patch object (aura/kubectl-unknown; /v1, "
                         "Kind=ConfigMap): .foo: field not declared in schema"),
            std::string::npos)
      << ssa.err;
  // --validate=warn: created, and kubectl prints the server's warning.
  auto warn = sim().Kubectl({"--context", "admin", "create", "--validate=warn", "-f", file});
  EXPECT_EQ(warn.exit_code, 0) << warn.err;
  EXPECT_NE(warn.err.find("Warning: unknown field \"foo\""), std::string::npos) << warn.err;
  EXPECT_EQ(warn.out, "configmap/kubectl-unknown created\n");
}

// ---- SSA with x-kubernetes-list-type map and set (custom resources) ---------------------------

const char* kListCrd = R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
  "metadata":{"name":"routers.lists.test"},
  "spec":{"group":"lists.test","scope":"Namespaced",
          "names":{"plural":"routers","singular":"router","kind":"Router"},
          "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{
            "type":"object","properties":{"spec":{"type":"object","properties":{
              "ports":{"type":"array","x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["port","protocol"],
                       "items":{"type":"object","properties":{"port":{"type":"integer"},"protocol":{"type":"string"},"name":{"type":"string"}}}},
              "tags":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}},
              "hosts":{"type":"array","items":{"type":"string"}}}}}}}}]}})";

json Router(const json& spec) {
  return json{{"apiVersion", "lists.test/v1"},
              {"kind", "Router"},
              {"metadata", {{"name", "r"}, {"namespace", "aura"}}},
              {"spec", spec}};
}

json ManagerFields(const json& obj, const std::string& manager) {
  for (const auto& e : obj["metadata"]["managedFields"]) {
    if (e["manager"] == manager) return e["fieldsV1"];
  }
  return nullptr;
}

TEST_F(KubeSimSpecTest, ApplyMergesMapAndSetListsOfCustomResources) {
  ASSERT_EQ(sim()
                .Admin("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kListCrd)
                .status,
            201);
  std::string path = "/apis/lists.test/v1/namespaces/aura/routers/r?fieldManager=";
  Headers h{{"Content-Type", kApplyType}};
  auto a = sim().Admin("PATCH", path + "alpha",
                       Router({{"ports", {{{"port", 80}, {"protocol", "TCP"}, {"name", "http"}}}},
                               {"tags", {"x"}},
                               {"hosts", {"a"}}})
                           .dump(),
                       h);
  ASSERT_EQ(a.status, 201) << a.body;
  EXPECT_EQ(
      ManagerFields(a.Json(), "alpha"),
      json::parse(
          R"({"f:spec":{"f:hosts":{},"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{}}},"f:tags":{"v:\"x\"":{}}}})"));

  // Another manager adds an element of each keyed list: both stay, no conflict.
  auto b = sim().Admin(
      "PATCH", path + "beta",
      Router({{"ports", {{{"port", 443}, {"protocol", "TCP"}}}}, {"tags", {"y"}}}).dump(), h);
  ASSERT_EQ(b.status, 200) << b.body;
  json spec = b.Json()["spec"];
  EXPECT_EQ(
      spec["ports"],
      json::parse(R"([{"port":80,"protocol":"TCP","name":"http"},{"port":443,"protocol":"TCP"}])"));
  EXPECT_EQ(spec["tags"], json::parse(R"(["x","y"])"));

  // The same element with another value conflicts on that field only.
  auto c = sim().Admin("PATCH", path + "beta",
                       Router({{"ports",
                                {{{"port", 80}, {"protocol", "TCP"}, {"name", "web"}},
                                 {{"port", 443}, {"protocol", "TCP"}}}},
                               {"tags", {"y"}}})
                           .dump(),
                       h);
  ASSERT_EQ(c.status, 409) << c.body;
  EXPECT_EQ(c.Json()["message"],
            "Apply failed with 1 conflict: conflict with \"alpha\": "
            ".spec.ports[port=80,protocol=\"TCP\"].name");
  EXPECT_EQ(c.Json()["details"]["causes"][0]["field"],
            ".spec.ports[port=80,protocol=\"TCP\"].name");

  // An atomic list is one field: a different list conflicts as a whole.
  auto d = sim().Admin(
      "PATCH", path + "beta",
      Router({{"hosts", {"b"}}, {"tags", {"y"}}, {"ports", {{{"port", 443}, {"protocol", "TCP"}}}}})
          .dump(),
      h);
  ASSERT_EQ(d.status, 409) << d.body;
  EXPECT_EQ(d.Json()["message"],
            "Apply failed with 1 conflict: conflict with \"alpha\": .spec.hosts");

  // alpha stops applying its tag and port: they go, beta's stay.
  auto e = sim().Admin("PATCH", path + "alpha", Router({{"hosts", {"a"}}}).dump(), h);
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.Json()["spec"]["ports"], json::parse(R"([{"port":443,"protocol":"TCP"}])"));
  EXPECT_EQ(e.Json()["spec"]["tags"], json::parse(R"(["y"])"));
  EXPECT_EQ(
      ManagerFields(e.Json(), "beta"),
      json::parse(
          R"({"f:spec":{"f:ports":{"k:{\"port\":443,\"protocol\":\"TCP\"}":{".":{},"f:port":{},"f:protocol":{}}},"f:tags":{"v:\"y\"":{}}}})"));

  // kubectl: a third manager adds a tag; the set keeps all.
  std::string file = sim().dir + "/router.yaml";
  testsupport::WriteFile(file,
                         "apiVersion: lists.test/v1\nkind: Router\nmetadata:\n  name: r\n  "
                         "namespace: aura\nspec:\n  tags: [z]\n");
  auto k = sim().Kubectl(
      {"--context", "admin", "apply", "--server-side", "--field-manager=gamma", "-f", file});
  ASSERT_EQ(k.exit_code, 0) << k.err;
  EXPECT_EQ(k.out, "router.lists.test/r serverside-applied\n");
  auto get = sim().Kubectl({"--context", "admin", "get", "routers.lists.test", "r", "-n", "aura",
                            "-o", "jsonpath={.spec.tags}"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, R"(["y","z"])");
}

TEST_F(KubeSimSpecTest, FinalizersAreASetOnEveryKind) {
  std::string path = "/api/v1/namespaces/aura/configmaps/fin?fieldManager=";
  Headers h{{"Content-Type", kApplyType}};
  json one{{"apiVersion", "v1"},
           {"kind", "ConfigMap"},
           {"metadata", {{"name", "fin"}, {"finalizers", {"a.test/one"}}}}};
  json two{{"apiVersion", "v1"},
           {"kind", "ConfigMap"},
           {"metadata", {{"name", "fin"}, {"finalizers", {"b.test/two"}}}}};
  ASSERT_EQ(sim().Admin("PATCH", path + "one", one.dump(), h).status, 201);
  auto r = sim().Admin("PATCH", path + "two", two.dump(), h);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json()["metadata"]["finalizers"], json::parse(R"(["a.test/one","b.test/two"])"));
  EXPECT_EQ(ManagerFields(r.Json(), "two"),
            json::parse(R"({"f:metadata":{"f:finalizers":{"v:\"b.test/two\"":{}}}})"));
  ASSERT_EQ(sim()
                .MergePatch("/api/v1/namespaces/aura/configmaps/fin",
                            R"({"metadata":{"finalizers":null}})")
                .status,
            200);
}

// ---- 7.12 conformance items without a test elsewhere -------------------------------------------

// Legacy and aggregated discovery give the same mapping (group/version, resource,
// kind, scope) for every resource, and Application lives only in nais.io/v1alpha1.
TEST_F(KubeSimSpecTest, LegacyAndAggregatedDiscoveryAgreeOnEveryResource) {
  std::set<std::string> legacy;
  auto add_legacy = [&](const std::string& gv, const json& list) {
    for (const auto& r : list["resources"]) {
      std::string name = r["name"];
      if (name.find('/') != std::string::npos) continue;  // subresources
      std::string entry = gv;
      entry += " " + name + " ";
      entry += r["kind"].get<std::string>();
      entry += r["namespaced"].get<bool>() ? " Namespaced" : " Cluster";
      legacy.insert(entry);
    }
  };
  add_legacy("v1", sim().Admin("GET", "/api/v1").Json());
  const json groups = sim().Admin("GET", "/apis").Json();
  for (const auto& g : groups["groups"]) {
    for (const auto& v : g["versions"]) {
      std::string gv = v["groupVersion"];
      auto r = sim().Admin("GET", "/apis/" + gv);
      ASSERT_EQ(r.status, 200) << gv;
      add_legacy(gv, r.Json());
    }
  }
  std::set<std::string> aggregated;
  Headers agg{{"Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}};
  for (const char* root : {"/api", "/apis"}) {
    const json doc = sim().Admin("GET", root, "", agg).Json();
    for (const auto& item : doc["items"]) {
      std::string group = item["metadata"].value("name", "");
      for (const auto& v : item["versions"]) {
        std::string gv = group.empty() ? v["version"].get<std::string>()
                                       : group + "/" + v["version"].get<std::string>();
        for (const auto& r : v["resources"]) {
          aggregated.insert(gv + " " + r["resource"].get<std::string>() + " " +
                            r["responseKind"]["kind"].get<std::string>() + " " +
                            r["scope"].get<std::string>());
        }
      }
    }
  }
  EXPECT_EQ(legacy, aggregated);
  EXPECT_EQ(legacy.count("nais.io/v1alpha1 applications Application Namespaced"), 1u);
  EXPECT_EQ(legacy.count("nais.io/v1 naisjobs Naisjob Namespaced"), 1u);
  for (const auto& entry : legacy) {
    if (entry.rfind("nais.io/v1 applications", 0) == 0)
      ADD_FAILURE() << "applications served in nais.io/v1";
  }
}

// A bookmark carries the current RV, so resuming from it replays nothing older.
TEST_F(KubeSimSpecTest, BookmarkAdvancesTheResumeResourceVersion) {
  std::string rv0 = sim()
                        .Admin("GET", "/api/v1/namespaces/aura/configmaps")
                        .Json()["metadata"]["resourceVersion"];
  auto c = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps",
                       json{{"metadata", {{"name", "bookmarked"}}}}.dump());
  ASSERT_EQ(c.status, 201);
  std::uint64_t written = std::stoull(c.Json()["metadata"]["resourceVersion"].get<std::string>());
  // Nothing happens in kube-public; the bookmark still moves past the write in aura.
  auto w =
      sim().Admin("GET",
                  "/api/v1/namespaces/kube-public/"
                  "configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&resourceVersion=" +
                      rv0);
  std::string bookmark;
  for (const auto& e : Lines(w.body)) {
    EXPECT_EQ(e["type"], "BOOKMARK");
    bookmark = e["object"]["metadata"]["resourceVersion"];
  }
  ASSERT_FALSE(bookmark.empty()) << w.body;
  EXPECT_GE(std::stoull(bookmark), written);
  auto resumed = sim().Admin("GET",
                             "/api/v1/namespaces/aura/"
                             "configmaps?watch=1&fieldSelector=metadata.name%3Dbookmarked&"
                             "timeoutSeconds=1&resourceVersion=" +
                                 bookmark);
  EXPECT_TRUE(Lines(resumed.body).empty()) << resumed.body;
}

// The watch sees nothing for a no-op apply and one MODIFIED for a change.
TEST_F(KubeSimSpecTest, NoOpApplyEmitsNoWatchEventAndAChangeOneModified) {
  std::string path = "/api/v1/namespaces/aura/configmaps/watched-apply?fieldManager=deployd";
  Headers h{{"Content-Type", kApplyType}};
  json cm{{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", "watched-apply"}}},
          {"data", {{"k", "1"}}}};
  auto created = sim().Admin("PATCH", path, cm.dump(), h);
  ASSERT_EQ(created.status, 201);
  std::string rv = created.Json()["metadata"]["resourceVersion"];
  auto noop = sim().Admin("PATCH", path, cm.dump(), h);
  ASSERT_EQ(noop.status, 200);
  EXPECT_EQ(noop.Json()["metadata"]["resourceVersion"], rv);
  cm["data"]["k"] = "2";
  auto changed = sim().Admin("PATCH", path, cm.dump(), h);
  ASSERT_EQ(changed.status, 200);
  auto w = sim().Admin("GET",
                       "/api/v1/namespaces/aura/"
                       "configmaps?watch=1&fieldSelector=metadata.name%3Dwatched-apply&"
                       "timeoutSeconds=1&resourceVersion=" +
                           rv);
  auto events = Lines(w.body);
  ASSERT_EQ(events.size(), 1u) << w.body;
  EXPECT_EQ(events[0]["type"], "MODIFIED");
  EXPECT_EQ(events[0]["object"]["data"]["k"], "2");
  EXPECT_EQ(events[0]["object"]["metadata"]["resourceVersion"],
            changed.Json()["metadata"]["resourceVersion"]);
}

// TimeoutSeconds ends the stream cleanly; resuming from the last RV continues.
TEST_F(KubeSimSpecTest, WatchTimeoutThenResumeFromTheLastResourceVersion) {
  auto c = sim().Admin("POST", "/api/v1/namespaces/aura/configmaps",
                       json{{"metadata", {{"name", "resume"}}}, {"data", {{"k", "1"}}}}.dump());
  ASSERT_EQ(c.status, 201);
  auto first =
      sim().Admin("GET",
                  "/api/v1/namespaces/aura/"
                  "configmaps?watch=1&fieldSelector=metadata.name%3Dresume&timeoutSeconds=1");
  EXPECT_EQ(first.status, 200);
  auto events = Lines(first.body);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  std::string last = events[0]["object"]["metadata"]["resourceVersion"];
  ASSERT_EQ(
      sim().MergePatch("/api/v1/namespaces/aura/configmaps/resume", R"({"data":{"k":"2"}})").status,
      200);
  auto second = sim().Admin(
      "GET",
      "/api/v1/namespaces/aura/"
      "configmaps?watch=1&fieldSelector=metadata.name%3Dresume&timeoutSeconds=1&resourceVersion=" +
          last);
  auto more = Lines(second.body);
  ASSERT_EQ(more.size(), 1u) << second.body;
  EXPECT_EQ(more[0]["type"], "MODIFIED");
  EXPECT_EQ(more[0]["object"]["data"]["k"], "2");
}

std::string SpecApplication(const std::string& name, const std::string& correlation,
                            const json& extra_labels = json::object()) {
  json app = NaisApplication(name, correlation, 1);
  if (!extra_labels.empty()) app["metadata"]["labels"] = extra_labels;
  return app.dump();
}

json NaisEvents(const Sim& sim, const std::string& name, const std::string& uid) {
  return sim
      .Admin("GET", "/api/v1/namespaces/aura/events?fieldSelector=involvedObject.name%3D" + name +
                        ",involvedObject.uid%3D" + uid)
      .Json()["items"];
}

// A redeploy with an identical hash gets no new events; a new correlation ID
// re-tags the (deduplicated) events, so a client can tell its own rollout's events apart.
TEST_F(KubeSimSpecTest, NaiseratorIgnoresAnIdenticalHashAndTagsEventsByCorrelation) {
  std::string path = "/apis/nais.io/v1alpha1/namespaces/aura/applications/hashapp";
  Headers h{{"Content-Type", kApplyType}};
  ASSERT_EQ(sim()
                .Admin("PATCH", path + "?fieldManager=deployd&force=true",
                       SpecApplication("hashapp", "c-1"), h)
                .status,
            201);
  json app;
  ASSERT_TRUE(Eventually([&] {
    app = sim().Admin("GET", path).Json();
    return app.contains("status") &&
           app["status"].value("synchronizationState", "") == "RolloutComplete";
  }));
  std::string uid = app["metadata"]["uid"];
  json before = NaisEvents(sim(), "hashapp", uid);
  ASSERT_FALSE(before.empty());
  std::string hash = app["status"]["synchronizationHash"];

  // Only a nais.io/ label changes: not part of the hash, so naiserator does nothing.
  auto same = sim().Admin("PATCH", path + "?fieldManager=deployd&force=true",
                          SpecApplication("hashapp", "c-1", {{"nais.io/extra", "x"}}), h);
  ASSERT_EQ(same.status, 200) << same.body;
  std::string same_rv = same.Json()["metadata"]["resourceVersion"];
  // A later marker write proves the controllers have seen the change (they handle events in order).
  auto marker = sim().Admin(
      "POST", "/apis/apps/v1/namespaces/aura/deployments",
      Deployment("hash-marker", {{"app", "m"}}, {{"app", "m"}}, OneContainer(), "success").dump());
  ASSERT_EQ(marker.status, 201);
  ASSERT_TRUE(Eventually([&] {
    json m = sim().Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/hash-marker").Json();
    return m.contains("status") && m["status"].contains("observedGeneration");
  }));
  json after = NaisEvents(sim(), "hashapp", uid);
  EXPECT_EQ(after, before);
  EXPECT_EQ(sim().Admin("GET", path).Json()["metadata"]["resourceVersion"], same_rv);

  // A new correlation ID with a new image: new events tagged c-2, the old ones still c-1.
  json next = json::parse(SpecApplication("hashapp", "c-2"));
  next["spec"]["image"] = "ghcr.io/example/hashapp:2";
  ASSERT_EQ(sim().Admin("PATCH", path + "?fieldManager=deployd&force=true", next.dump(), h).status,
            200);
  ASSERT_TRUE(Eventually([&] {
    app = sim().Admin("GET", path).Json();
    return app["status"].value("correlationID", "") == "c-2" &&
           app["status"].value("synchronizationState", "") == "RolloutComplete";
  }));
  EXPECT_NE(app["status"]["synchronizationHash"], hash);
  // naiserator deduplicates by message: the repeated events are updated (count, annotation).
  json events = NaisEvents(sim(), "hashapp", uid);
  ASSERT_EQ(events.size(), before.size());
  for (const auto& e : events) {
    EXPECT_EQ(e["metadata"]["annotations"]["nais.io/deploymentCorrelationID"], "c-2") << e.dump();
    if (e["reason"] == "Synchronized") {
      EXPECT_EQ(e["count"], 2);
    }
  }
}

// ---- 7.11 control hooks ------------------------------------------------------------------------

TEST_F(KubeSimSpecTest, DroppingAllWatchesEndsThemCleanly) {
  ASSERT_EQ(sim()
                .Admin("POST", "/api/v1/namespaces/aura/configmaps",
                       json{{"metadata", {{"name", "dropme"}}}}.dump())
                .status,
            201);
  auto start = std::chrono::steady_clock::now();
  auto watch = std::async(std::launch::async, [] {
    return sim().Admin("GET",
                       "/api/v1/namespaces/aura/"
                       "configmaps?watch=1&fieldSelector=metadata.name%3Ddropme&timeoutSeconds=60");
  });
  ASSERT_TRUE(Eventually(
      [] { return sim().Admin("GET", "/_sim/state").Json()["openWatches"].get<int>() >= 1; }));
  auto drop = sim().Admin("DELETE", "/_sim/watches");
  ASSERT_EQ(drop.status, 200) << drop.body;
  EXPECT_GE(drop.Json()["dropped"].get<int>(), 1);
  ASSERT_EQ(watch.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto r = watch.get();
  EXPECT_EQ(r.status, 200);
  auto events = Lines(r.body);
  ASSERT_EQ(events.size(), 1u) << r.body;
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_TRUE(
      Eventually([] { return sim().Admin("GET", "/_sim/state").Json()["openWatches"] == 0; }));
  // New watches work as before.
  auto again =
      sim().Admin("GET",
                  "/api/v1/namespaces/aura/"
                  "configmaps?watch=1&fieldSelector=metadata.name%3Ddropme&timeoutSeconds=1");
  EXPECT_EQ(Lines(again.body).size(), 1u);
  // Only the admin may.
  EXPECT_EQ(sim().Deployd("DELETE", "/_sim/watches").status, 403);
}

// CRDs are added and removed through the normal API (POST/DELETE customresourcedefinitions); a
// removed CRD takes its objects, its paths (text 404), its discovery entries and its watches.
TEST_F(KubeSimSpecTest, CrdRemovedAtRuntimeDisappearsFromPathsAndDiscovery) {
  std::string crd = R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
    "metadata":{"name":"gadgets.gone.test"},
    "spec":{"group":"gone.test","scope":"Namespaced","names":{"plural":"gadgets","singular":"gadget","kind":"Gadget"},
            "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}})";
  ASSERT_EQ(
      sim().Admin("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status,
      201);
  std::string obj = "/apis/gone.test/v1/namespaces/aura/gadgets/g1";
  ASSERT_EQ(
      sim()
          .Admin(
              "POST", "/apis/gone.test/v1/namespaces/aura/gadgets",
              R"({"apiVersion":"gone.test/v1","kind":"Gadget","metadata":{"name":"g1"},"spec":{"a":1}})")
          .status,
      201);
  auto listed = sim().Kubectl(
      {"--context", "admin", "api-resources", "--api-group=gone.test", "--no-headers"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("gadgets"), std::string::npos);
  auto watch = std::async(std::launch::async, [] {
    return sim().Admin("GET",
                       "/apis/gone.test/v1/namespaces/aura/gadgets?watch=1&timeoutSeconds=60");
  });
  ASSERT_TRUE(Eventually(
      [] { return sim().Admin("GET", "/_sim/state").Json()["openWatches"].get<int>() >= 1; }));

  auto del = sim().Kubectl({"--context", "admin", "delete", "crd", "gadgets.gone.test"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(del.out,
            "customresourcedefinition.apiextensions.k8s.io \"gadgets.gone.test\" deleted\n");

  ASSERT_EQ(watch.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto events = Lines(watch.get().body);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[1]["type"], "DELETED");
  EXPECT_EQ(events[1]["object"]["metadata"]["name"], "g1");

  auto gone = sim().Admin("GET", obj);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.body, "404 page not found\n");
  EXPECT_EQ(sim().Admin("GET", "/apis/gone.test/v1").body, "404 page not found\n");
  EXPECT_EQ(sim().Admin("GET", "/apis/gone.test").status, 404);
  EXPECT_EQ(sim().Admin("GET", "/apis").body.find("gone.test"), std::string::npos);
  auto agg = sim().Admin(
      "GET", "/apis", "",
      {{"Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"}});
  EXPECT_EQ(agg.body.find("gone.test"), std::string::npos);
  auto after = sim().Kubectl(
      {"--context", "admin", "api-resources", "--api-group=gone.test", "--no-headers"});
  EXPECT_EQ(after.out.find("gadgets"), std::string::npos) << after.out;
  // Installing it again brings the path back, empty.
  ASSERT_EQ(
      sim().Admin("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).status,
      201);
  auto back = sim().Admin("GET", obj);
  EXPECT_EQ(back.status, 404);
  EXPECT_EQ(back.Json()["message"], "gadgets.gone.test \"g1\" not found");
}

// ---- the manual clock, and generation gating with it --------------------

std::chrono::system_clock::time_point ParseSeconds(const std::string& rfc3339) {
  std::tm tm{};
  if (strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr)
    throw std::runtime_error("bad time " + rfc3339);
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

json Status(const Sim& sim, const std::string& name) {
  json d = sim.Admin("GET", "/apis/apps/v1/namespaces/aura/deployments/" + name).Json();
  return d;
}

bool Complete(const json& d) {
  const json st = d.value("status", json::object());
  if (st.value("observedGeneration", 0) != d["metadata"]["generation"].get<int>()) return false;
  for (const auto& c : st.value("conditions", json::array())) {
    if (c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable") return true;
  }
  return false;
}

// Advances the clock a second at a time until `done` (bounded).
template <typename F>
bool AdvanceUntil(const Sim& sim, F done, int max_steps = 200) {
  for (int i = 0; i < max_steps; ++i) {
    if (done()) return true;
    auto r = sim.Admin("POST", "/_sim/clock", R"({"advanceSeconds":1})");
    if (r.status != 200) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

TEST(KubeSimManualClock, ControllersMoveOnlyWhenTheClockIsAdvanced) {
  Sim sim({"--manual-clock"});
  json state = sim.Admin("GET", "/_sim/state").Json();
  EXPECT_EQ(state["manualClock"], true);
  EXPECT_EQ(state["clockOffsetSeconds"], 0.0);
  json d = Deployment("clocked", {{"app", "c"}}, {{"app", "c"}}, OneContainer(), "slow");
  ASSERT_EQ(sim.Admin("POST", "/apis/apps/v1/namespaces/aura/deployments", d.dump()).status, 201);
  // Real time passes, simulated time does not: no status, no ReplicaSet.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(Status(sim, "clocked").contains("status"));
  EXPECT_TRUE(
      sim.Admin("GET", "/apis/apps/v1/namespaces/aura/replicasets").Json()["items"].empty());
  // "slow": nothing for 10 units (seconds at time scale 1), then the rollout.
  ASSERT_TRUE(AdvanceUntil(sim, [&] { return Complete(Status(sim, "clocked")); }));
  EXPECT_GE(sim.Admin("GET", "/_sim/state").Json()["clockOffsetSeconds"].get<double>(), 10.0);

  // Generation gating: a new spec is not observed until the clock moves 10 more units.
  ASSERT_EQ(
      sim.MergePatch(
             "/apis/apps/v1/namespaces/aura/deployments/clocked",
             R"({"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}}})")
          .status,
      200);
  json lagging = Status(sim, "clocked");
  EXPECT_EQ(lagging["metadata"]["generation"], 2);
  EXPECT_EQ(lagging["status"]["observedGeneration"], 1);
  auto k = sim.Kubectl({"--context", "admin", "rollout", "status", "deployment/clocked", "-n",
                        "aura", "--watch=false"});
  EXPECT_EQ(k.exit_code, 0) << k.err;
  EXPECT_EQ(k.out, "Waiting for deployment spec update to be observed...\n");
  ASSERT_TRUE(AdvanceUntil(sim, [&] { return Complete(Status(sim, "clocked")); }));
  auto done = sim.Kubectl({"--context", "admin", "rollout", "status", "deployment/clocked", "-n",
                           "aura", "--watch=false"});
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, "deployment \"clocked\" successfully rolled out\n");

  // Timestamps follow the advanced clock.
  auto before = std::chrono::system_clock::now();
  auto advance = sim.Admin("POST", "/_sim/clock", R"({"advanceSeconds":3600})");
  ASSERT_EQ(advance.status, 200);
  auto cm = sim.Admin("POST", "/api/v1/namespaces/aura/configmaps",
                      json{{"metadata", {{"name", "later"}}}}.dump());
  ASSERT_EQ(cm.status, 201);
  auto created = ParseSeconds(cm.Json()["metadata"]["creationTimestamp"].get<std::string>());
  EXPECT_GE(created, before + std::chrono::minutes(59));
  EXPECT_EQ(sim.Admin("POST", "/_sim/clock", R"({"advanceSeconds":-1})").status, 400);
}

}  // namespace
}  // namespace kubesim::testing
