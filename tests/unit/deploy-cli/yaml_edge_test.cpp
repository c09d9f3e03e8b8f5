// YAML edge cases as the CLI sees them (the conversion itself is common::YamlDocumentsToJson).
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "deploy-cli/exit_code.hpp"
#include "deploy-cli/manifest/prepare.hpp"
#include "fakes.hpp"

namespace deploy_cli {
namespace {

using nlohmann::json;

std::vector<json> Load(const std::string& content, const json& vars = json::object()) {
  const testing::ScratchFile file(content);
  return LoadResourceFile(file.Path(), vars, false);
}

TEST(YamlEdgeTest, EmptyDocumentsAreSkipped) {
  const auto docs = Load("---\n---\n# only a comment\n---\na: 1\n---\n");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].dump(), R"({"a":1})");
}

TEST(YamlEdgeTest, Yaml11BooleansAndSortedCompactKeys) {
  const auto docs = Load("z: yes\nk: No\nx: on\nw: OFF\nv: \"yes\"\nu: 1.5\n");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].dump(), R"({"k":false,"u":1.5,"v":"yes","w":false,"x":true,"z":true})");
}

TEST(YamlEdgeTest, AnchorsAndAliasesAreExpanded) {
  const auto docs = Load("base: &b {cpu: 1, mem: 2}\ncopy: *b\n");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["copy"], docs[0]["base"]);
}

TEST(YamlEdgeTest, YamlBombIsRejectedAsTemplateError) {
  std::string bomb = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? "," : "") + "*" + prev;
    bomb += "]\n";
    prev = c;
  }
  const testing::ScratchFile file(bomb);
  try {
    LoadResourceFile(file.Path(), json::object(), false);
    FAIL() << "bomb accepted";
  } catch (const CliError& e) {
    EXPECT_EQ(e.Code(), ExitCode::kTemplateError);
    EXPECT_NE(std::string(e.what()).find("too many nodes after alias expansion"), std::string::npos)
        << e.what();
    EXPECT_EQ(std::string(e.what()).rfind(file.Path() + ": ", 0), 0u);
  }
}

TEST(YamlEdgeTest, SyntaxErrorNamesLineAndColumn) {
  const testing::ScratchFile file("a: 1\nb: [1, 2\nc: 3\n");
  try {
    LoadResourceFile(file.Path(), json::object(), false);
    FAIL();
  } catch (const CliError& e) {
    EXPECT_EQ(e.Code(), ExitCode::kTemplateError);
    EXPECT_NE(std::string(e.what()).find("line "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("column "), std::string::npos) << e.what();
  }
}

TEST(YamlEdgeTest, NumbersFromTemplateVariablesPrintWithoutDecimals) {
  const auto docs = Load("replicas: {{replicas}}\nratio: {{ratio}}\nname: \"{{name}}\"\n",
                         json{{"replicas", 2.0}, {"ratio", 0.25}, {"name", "<app>"}});
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["replicas"], 2);
  EXPECT_EQ(docs[0]["ratio"], 0.25);
  EXPECT_EQ(docs[0]["name"], "&lt;app&gt;");
}

TEST(YamlEdgeTest, JsonFileIsAccepted) {
  const auto docs = Load(R"({"kind": "ConfigMap", "metadata": {"name": "x"}, "list": [1, 2]})");
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["list"], json({1, 2}));
}

}  // namespace
}  // namespace deploy_cli
