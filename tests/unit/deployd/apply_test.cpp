#include "deployd/kube/apply.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace deployd::kube {
namespace {

TEST(Identifier, CoreGroupNamespaced) {
  auto ref = RefOf(nlohmann::json::parse(
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"foo","namespace":"aura"}})"));
  EXPECT_EQ(GvkString(ref), "/v1, Kind=ConfigMap");
  EXPECT_EQ(Identifier(ref), "/v1, Kind=ConfigMap, Namespace=aura, Name=foo");
}

TEST(Identifier, NamedGroupClusterScoped) {
  auto ref = RefOf(nlohmann::json::parse(
      R"({"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"x"}})"));
  EXPECT_EQ(Identifier(ref), "rbac.authorization.k8s.io/v1, Kind=ClusterRole, Name=x");
}

TEST(Identifier, Application) {
  auto ref = RefOf(nlohmann::json::parse(
      R"({"apiVersion":"nais.io/v1alpha1","kind":"Application","metadata":{"name":"myapplication","namespace":"aura"}})"));
  EXPECT_EQ(Identifier(ref),
            "nais.io/v1alpha1, Kind=Application, Namespace=aura, Name=myapplication");
}

TEST(Paths, MatchKubeApiTable) {
  ApiResource cm{"", "v1", "ConfigMap", "configmaps", true};
  EXPECT_EQ(ObjectPath(cm, "aura", "foo"), "/api/v1/namespaces/aura/configmaps/foo");
  ApiResource deploy{"apps", "v1", "Deployment", "deployments", true};
  EXPECT_EQ(ObjectPath(deploy, "aura", "web"), "/apis/apps/v1/namespaces/aura/deployments/web");
  ApiResource app{"nais.io", "v1alpha1", "Application", "applications", true};
  EXPECT_EQ(ObjectPath(app, "aura", "myapp"),
            "/apis/nais.io/v1alpha1/namespaces/aura/applications/myapp");
  ApiResource role{"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false};
  EXPECT_EQ(ObjectPath(role, "", "x"), "/apis/rbac.authorization.k8s.io/v1/clusterroles/x");
  ApiResource ns{"", "v1", "Namespace", "namespaces", false};
  EXPECT_EQ(ObjectPath(ns, "", "aura"), "/api/v1/namespaces/aura");
  EXPECT_EQ(CollectionPath(cm, "aura"), "/api/v1/namespaces/aura/configmaps");
}

// The original's application-unknownfields-create case, the text after "creating resource: ".
TEST(StrictDecoding, RewritesLikeTheOriginal) {
  std::string api =
      "Application in version \"v1alpha1\" cannot be handled as a Application: strict decoding "
      "error: unknown field \"spec.nestedField\", unknown field \"spec.unknownField\"";
  EXPECT_EQ(RewriteStrictDecodingError(api, "nais.io/v1alpha1, Kind=Application"),
            "strict decoding error:\n"
            "| ⚠️ unknown field \"spec.nestedField\"\n"
            "| ⚠️ unknown field \"spec.unknownField\"\n"
            "| The fields might be misspelled, incorrectly indented, or unsupported. Fields are "
            "case sensitive.\n"
            "| Please verify your resource against the reference documentation at "
            "https://doc.nais.io/workloads/application/reference/application-spec/");
}

TEST(StrictDecoding, SingleFieldWithoutLink) {
  std::string api =
      "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding "
      "error: unknown field \"spec\"";
  EXPECT_EQ(
      RewriteStrictDecodingError(api, "/v1, Kind=ConfigMap"),
      "strict decoding error:\n"
      "| ⚠️ unknown field \"spec\"\n"
      "| The field might be misspelled, incorrectly indented, or unsupported. Fields are case "
      "sensitive.\n"
      "| Please verify your resource against the reference documentation");
}

TEST(StrictDecoding, ApplyVariantAndOtherLinks) {
  auto out = RewriteStrictDecodingError("error strict decoding patch: unknown field \"spec.x\"",
                                        "nais.io/v1, Kind=Naisjob");
  EXPECT_EQ(
      out.rfind("strict decoding error:\n| ⚠️ unknown field \"spec.x\"\n| The field might", 0),
      0U)
      << out;
  EXPECT_NE(out.find("at https://doc.nais.io/workloads/job/reference/naisjob-spec/"),
            std::string::npos);
}

TEST(StrictDecoding, LeavesOtherMessagesAlone) {
  EXPECT_EQ(RewriteStrictDecodingError("configmaps \"x\" is forbidden", "/v1, Kind=ConfigMap"),
            "configmaps \"x\" is forbidden");
}

TEST(ApplyMode, Parses) {
  EXPECT_EQ(ParseApplyMode("server-side-apply"), ApplyMode::kServerSide);
  EXPECT_EQ(ParseApplyMode("create-or-update"), ApplyMode::kCreateOrUpdate);
  try {
    ParseApplyMode("replace");
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_STREQ(e.what(),
                 "invalid apply mode \"replace\": want server-side-apply or create-or-update");
  }
}

}  // namespace
}  // namespace deployd::kube
