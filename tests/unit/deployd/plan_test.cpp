// Plans and ApplySets: the line diff, the YAML lines it compares, Secret masking, what is left out
// of a comparison, the ApplySet ID and names.
#include "deployd/agent/plan.hpp"

#include <gtest/gtest.h>

#include "common/applyset.hpp"
#include "common/line_diff.hpp"
#include "deployd/agent/prune.hpp"

namespace deployd::agent {
namespace {

using nlohmann::json;

std::vector<std::string> Lines(std::initializer_list<const char*> lines) {
  return {lines.begin(), lines.end()};
}

TEST(LineDiffTest, EqualTextsHaveNoDiff) {
  EXPECT_EQ(common::UnifiedDiff(Lines({"a", "b"}), Lines({"a", "b"})), "");
  EXPECT_EQ(common::UnifiedDiff({}, {}), "");
}

TEST(LineDiffTest, OneChangedLineWithContext) {
  const auto a = Lines({"1", "2", "3", "4", "5", "6", "7", "8", "9"});
  const auto b = Lines({"1", "2", "3", "4", "five", "6", "7", "8", "9"});
  EXPECT_EQ(common::UnifiedDiff(a, b),
            "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(LineDiffTest, AdditionsAndRemovalsAtTheEdges) {
  EXPECT_EQ(common::UnifiedDiff({}, Lines({"x", "y"})), "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  EXPECT_EQ(common::UnifiedDiff(Lines({"x"}), {}), "--- a\n+++ b\n@@ -1 +0,0 @@\n-x\n");
  EXPECT_EQ(common::UnifiedDiff(Lines({"a", "b"}), Lines({"a", "b", "c"})),
            "--- a\n+++ b\n@@ -1,2 +1,3 @@\n a\n b\n+c\n");
}

TEST(LineDiffTest, DistantChangesAreSeparateHunks) {
  std::vector<std::string> a;
  for (int i = 1; i <= 20; ++i) a.push_back(std::to_string(i));
  auto b = a;
  b[1] = "two";
  b[17] = "eighteen";
  EXPECT_EQ(common::UnifiedDiff(a, b),
            "--- a\n+++ b\n@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"
            "@@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n");
}

TEST(LineDiffTest, KeepsTheLongestCommonSubsequence) {
  // A minimal script moves nothing that is common: only "b" goes and "x" comes.
  EXPECT_EQ(common::UnifiedDiff(Lines({"a", "b", "c", "d"}), Lines({"a", "c", "x", "d"})),
            "--- a\n+++ b\n@@ -1,4 +1,4 @@\n a\n-b\n c\n+x\n d\n");
}

TEST(LineDiffTest, LongDiffsAreCutAndSaySo) {
  std::vector<std::string> b;
  for (int i = 0; i < 50; ++i) b.push_back("line " + std::to_string(i));
  common::UnifiedDiffOptions options;
  options.max_lines = 10;
  const auto diff = common::UnifiedDiff({}, b, options);
  EXPECT_NE(diff.find("+line 8\n"), std::string::npos);
  EXPECT_EQ(diff.find("+line 9\n"), std::string::npos);
  EXPECT_NE(diff.find("... diff truncated: 41 more lines\n"), std::string::npos);
}

TEST(LineDiffTest, HugeMiddlesStillGiveACorrectDiff) {
  // 3000 x 3000 differing lines is more than the LCS table allows: removed, then added.
  std::vector<std::string> a;
  std::vector<std::string> b;
  for (int i = 0; i < 3000; ++i) {
    a.push_back("a" + std::to_string(i));
    b.push_back("b" + std::to_string(i));
  }
  common::UnifiedDiffOptions options;
  options.max_lines = 100000;
  const auto diff = common::UnifiedDiff(a, b, options);
  EXPECT_EQ(diff.rfind("--- a\n+++ b\n@@ -1,3000 +1,3000 @@\n-a0\n", 0), 0u);
  EXPECT_NE(diff.find("-a2999\n+b0\n"), std::string::npos);
}

TEST(PlanTest, YamlLines) {
  const json object = {{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata", {{"name", "x"}, {"labels", {{"app", "true"}}}}},
                       {"data", {{"multi", "a\nb"}, {"n", "1"}, {"empty", ""}}},
                       {"list", json::array({1, json{{"k", "v"}, {"z", json::array({"q"})}}})}};
  const std::vector<std::string> want = {"apiVersion: v1",
                                         "data:",
                                         "  empty: \"\"",
                                         "  multi: \"a\\nb\"",
                                         "  \"n\": \"1\"",  // YAML 1.1 reads a plain n as false
                                         "kind: ConfigMap",
                                         "list:",
                                         "- 1",
                                         "- k: v",
                                         "  z:",
                                         "  - q",
                                         "metadata:",
                                         "  labels:",
                                         "    app: \"true\"",
                                         "  name: x"};
  EXPECT_EQ(YamlLines(object), want);
}

TEST(PlanTest, ComparableLeavesOutServerSetFields) {
  const json live = {{"kind", "ConfigMap"},
                     {"metadata",
                      {{"name", "x"},
                       {"uid", "u"},
                       {"resourceVersion", "7"},
                       {"generation", 2},
                       {"creationTimestamp", "t"},
                       {"managedFields", json::array({json::object()})},
                       {"annotations", {{"nais.io/deploymentCorrelationID", "old"}}}}},
                     {"status", {{"phase", "x"}}},
                     {"data", {{"a", "1"}}}};
  const json want = {{"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}, {"data", {{"a", "1"}}}};
  EXPECT_EQ(Comparable(live, {"nais.io/deploymentCorrelationID"}), want);
}

TEST(PlanTest, SecretValuesAreMasked) {
  json live = {{"apiVersion", "v1"},
               {"kind", "Secret"},
               {"data", {{"same", "c2VjcmV0"}, {"changed", "b2xk"}, {"gone", "eA=="}}}};
  json planned = {{"apiVersion", "v1"},
                  {"kind", "Secret"},
                  {"data", {{"same", "c2VjcmV0"}, {"changed", "bmV3"}, {"added", "eQ=="}}}};
  MaskSecretValues(live, planned);
  EXPECT_EQ(live["data"], json({{"same", "***"}, {"changed", "***"}, {"gone", "***"}}));
  EXPECT_EQ(planned["data"],
            json({{"same", "***"}, {"changed", "*** (changed)"}, {"added", "***"}}));
  const auto diff = PlanDiff(live, planned);
  EXPECT_EQ(diff.find("c2VjcmV0"), std::string::npos);
  EXPECT_EQ(diff.find("bmV3"), std::string::npos);
  EXPECT_NE(diff.find("+  changed: \"*** (changed)\"\n"), std::string::npos) << diff;
}

TEST(PlanTest, OtherKindsAreNotMasked) {
  json live = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"data", {{"a", "1"}}}};
  json planned = live;
  MaskSecretValues(live, planned);
  EXPECT_EQ(live["data"]["a"], "1");
}

TEST(PlanTest, EntryMessagesAndSummary) {
  const json object = {{"kind", "Deployment"},
                       {"metadata", {{"name", "a"}, {"namespace", "aura"}}}};
  EXPECT_EQ(PlanSubject(object), "Deployment aura/a");
  EXPECT_EQ(PlanSubject(json{{"kind", "Namespace"}, {"metadata", {{"name", "x"}}}}), "Namespace x");
  EXPECT_EQ(PlanEntryMessage(PlanAction::kChanged, "Deployment aura/a", "--- live\n+++ planned\n"),
            "plan: changed Deployment aura/a\n--- live\n+++ planned");
  EXPECT_EQ(PlanEntryMessage(PlanAction::kCreated, "ConfigMap aura/b", ""),
            "plan: created ConfigMap aura/b");
  PlanCounts counts;
  counts.Add(PlanAction::kCreated);
  counts.Add(PlanAction::kCreated);
  counts.Add(PlanAction::kChanged);
  counts.Add(PlanAction::kPruned);
  EXPECT_EQ(PlanSummary(counts, false), "plan: 2 created, 1 changed, 0 unchanged, 0 refused");
  EXPECT_EQ(PlanSummary(counts, true),
            "plan: 2 created, 1 changed, 0 unchanged, 0 refused, 1 pruned");
}

TEST(ApplySetTest, IdIsKubectls) {
  // base64url(sha256("my-set.aura.Secret.")) without padding.
  EXPECT_EQ(common::ApplySetId("my-set", "aura", "Secret", ""),
            "applyset-ndvn5XWICr-p5_0cLlUTPOhGuVAPdxbSuWyDvRIW47g-v1");
}

TEST(ApplySetTest, Names) {
  EXPECT_EQ(common::DefaultApplySetName("aura", "navikt", "My_App", "dev-gcp:aura", "dev"),
            "aura-navikt-my-app-dev-gcp-aura");
  EXPECT_EQ(common::DefaultApplySetName("aura", "", "", "", "dev"), "aura-dev");
  EXPECT_EQ(common::DefaultApplySetName("", "", "", "", ""), "deploy");
  EXPECT_EQ(common::DefaultApplySetName(std::string(300, 'a'), "", "", "", "").size(), 253u);
  EXPECT_EQ(common::ApplySetNameProblem("ok.name-1"), std::nullopt);
  EXPECT_EQ(*common::ApplySetNameProblem("Bad_Name"),
            "invalid ApplySet name \"Bad_Name\": must be a lowercase RFC 1123 subdomain: at most "
            "253 characters, lower case alphanumeric characters, '-' or '.', starting and ending "
            "with an alphanumeric character");
  EXPECT_TRUE(common::ApplySetNameProblem(""));
  EXPECT_TRUE(common::ApplySetNameProblem(std::string(254, 'a')));
  EXPECT_EQ(common::GroupKindString("Deployment", "apps"), "Deployment.apps");
  EXPECT_EQ(common::GroupKindString("ConfigMap", ""), "ConfigMap");
  EXPECT_EQ(common::ParseGroupKind("Topic.kafka.nais.io"),
            (std::pair<std::string, std::string>{"Topic", "kafka.nais.io"}));
}

TEST(ApplySetTest, StateOfMembers) {
  ApplySetRef set{"s", "aura", "id"};
  std::set<MemberKey> members = {{"apps", "Deployment", "aura", "a"},
                                 {"", "ConfigMap", "other", "b"},
                                 {"", "Namespace", "", "c"}};
  const auto state = StateOf(members, set);
  EXPECT_EQ(state.group_kinds,
            (std::set<std::string>{"ConfigMap", "Deployment.apps", "Namespace"}));
  EXPECT_EQ(state.namespaces, (std::set<std::string>{"other"}));
}

}  // namespace
}  // namespace deployd::agent
