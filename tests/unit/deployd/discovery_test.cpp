#include "deployd/kube/discovery.hpp"

#include <gtest/gtest.h>

namespace deployd::kube {
namespace {

TEST(Discovery, SplitsApiVersion) {
  EXPECT_EQ(SplitApiVersion("v1"), std::make_pair(std::string(), std::string("v1")));
  EXPECT_EQ(SplitApiVersion("apps/v1"), std::make_pair(std::string("apps"), std::string("v1")));
  EXPECT_EQ(GroupVersion("", "v1"), "v1");
  EXPECT_EQ(GroupVersion("nais.io", "v1alpha1"), "nais.io/v1alpha1");
}

TEST(Discovery, ParsesLegacyResourceListSkippingSubresources) {
  auto doc = nlohmann::json::parse(R"({
    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
    "resources": [
      {"name": "deployments", "singularName": "deployment", "namespaced": true, "kind": "Deployment"},
      {"name": "deployments/scale", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale"},
      {"name": "deployments/status", "namespaced": true, "kind": "Deployment"}
    ]})");
  auto list = ParseResourceList(doc);
  ASSERT_EQ(list.size(), 1U);
  EXPECT_EQ(list[0].group, "apps");
  EXPECT_EQ(list[0].version, "v1");
  EXPECT_EQ(list[0].plural, "deployments");
  EXPECT_EQ(list[0].kind, "Deployment");
  EXPECT_TRUE(list[0].namespaced);
}

TEST(Discovery, ParsesAggregatedDocumentPerGroupVersion) {
  auto doc = nlohmann::json::parse(R"({
    "kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
    "items": [
      {"metadata": {"name": "nais.io"},
       "versions": [
         {"version": "v1", "freshness": "Current", "resources": [
           {"resource": "naisjobs", "responseKind": {"group": "nais.io", "version": "v1", "kind": "Naisjob"},
            "scope": "Namespaced", "singularResource": "naisjob",
            "subresources": [{"subresource": "status", "responseKind": {"kind": "Naisjob"}}]}]},
         {"version": "v1alpha1", "resources": [
           {"resource": "applications", "responseKind": {"group": "nais.io", "version": "v1alpha1", "kind": "Application"},
            "scope": "Namespaced"}]},
         {"version": "v2", "freshness": "Stale", "resources": [
           {"resource": "things", "responseKind": {"kind": "Thing"}, "scope": "Cluster"}]}
       ]},
      {"metadata": {"name": "rbac.authorization.k8s.io"},
       "versions": [{"version": "v1", "resources": [
         {"resource": "clusterroles", "responseKind": {"kind": "ClusterRole"}, "scope": "Cluster"}]}]}
    ]})");
  auto parsed = ParseAggregatedDiscovery(doc);
  ASSERT_EQ(parsed.count("nais.io/v1"), 1U);
  ASSERT_EQ(parsed.count("nais.io/v1alpha1"), 1U);
  EXPECT_EQ(parsed.count("nais.io/v2"), 0U) << "stale versions count as failed discovery";
  // Application exists only in v1alpha1: the exact version of the manifest decides.
  EXPECT_FALSE(FindKind(parsed["nais.io/v1"], "Application").has_value());
  auto app = FindKind(parsed["nais.io/v1alpha1"], "Application");
  ASSERT_TRUE(app.has_value());
  EXPECT_EQ(app->plural, "applications");
  EXPECT_TRUE(app->namespaced);
  auto role = FindKind(parsed["rbac.authorization.k8s.io/v1"], "ClusterRole");
  ASSERT_TRUE(role.has_value());
  EXPECT_FALSE(role->namespaced);
}

TEST(Discovery, CoreGroupHasNoName) {
  auto doc = nlohmann::json::parse(R"({"kind":"APIGroupDiscoveryList","items":[
    {"metadata": {}, "versions": [{"version": "v1", "resources": [
      {"resource": "configmaps", "responseKind": {"group": "", "version": "v1", "kind": "ConfigMap"}, "scope": "Namespaced"},
      {"resource": "namespaces", "responseKind": {"group": "", "version": "v1", "kind": "Namespace"}, "scope": "Cluster"}]}]}]})");
  auto parsed = ParseAggregatedDiscovery(doc);
  auto cm = FindKind(parsed["v1"], "ConfigMap");
  ASSERT_TRUE(cm.has_value());
  EXPECT_EQ(cm->group, "");
  EXPECT_EQ(FindKind(parsed["v1"], "namespace")->plural, "namespaces")
      << "lower-case kind accepted";
}

TEST(Discovery, RecognisesAggregatedContentType) {
  EXPECT_TRUE(IsAggregatedContentType(
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"));
  EXPECT_TRUE(IsAggregatedContentType(
      "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io"));
  EXPECT_FALSE(IsAggregatedContentType("application/json"));
  EXPECT_FALSE(IsAggregatedContentType(
      "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"));
}

}  // namespace
}  // namespace deployd::kube
