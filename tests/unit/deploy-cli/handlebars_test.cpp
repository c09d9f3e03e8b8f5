#include "deploy-cli/template/handlebars.hpp"

#include <gtest/gtest.h>

namespace deploy_cli {
namespace {

using nlohmann::json;

std::string R(std::string_view text, const json& ctx, bool strict = false) {
  return RenderTemplate(text, ctx, strict);
}

TEST(HandlebarsTest, EscapesTheFiveCharactersLikeRaymond) {
  const json ctx = {{"x", "a&b'c<d>e\"f`g=h"}};
  EXPECT_EQ(R("{{x}}", ctx), "a&amp;b&apos;c&lt;d&gt;e&quot;f`g=h");
  EXPECT_EQ(R("{{{x}}}", ctx), "a&b'c<d>e\"f`g=h");
  EXPECT_EQ(R("{{& x}}", ctx), "a&b'c<d>e\"f`g=h");
}

TEST(HandlebarsTest, ValuesPrintAsGoRaymondDoes) {
  const json ctx = {{"t", true}, {"f", false}, {"i", 2},        {"d", 2.0},
                    {"h", 1.5},  {"big", 1e21}, {"small", 1e-7}, {"arr", {"a", 1, true}},
                    {"n", nullptr}};
  EXPECT_EQ(R("{{t}} {{f}} {{i}} {{d}} {{h}}", ctx), "true false 2 2 1.5");
  EXPECT_EQ(R("{{big}}", ctx), "1000000000000000000000");
  EXPECT_EQ(R("{{small}}", ctx), "0.0000001");
  EXPECT_EQ(R("{{arr}}", ctx), "a1true");
  EXPECT_EQ(R("[{{n}}][{{missing}}][{{missing.deep}}]", ctx), "[][][]");
}

TEST(HandlebarsTest, StrictModeReportsMissingVariablesWithLine) {
  try {
    R("a: 1\nb: {{nope}}\n", json{{"a", 1}}, true);
    FAIL() << "expected TemplateError";
  } catch (const TemplateError& e) {
    EXPECT_FALSE(e.IsParseError());
    EXPECT_STREQ(e.what(), "line 2: missing variable \"nope\"");
  }
}

TEST(HandlebarsTest, PathsAndLookup) {
  const json ctx = {{"a", {{"b", {{"c", "deep"}}}}}, {"list", {"x", "y"}}, {"key", "b"},
                    {"m", {{"b", "via-lookup"}}}};
  EXPECT_EQ(R("{{a.b.c}} {{a/b/c}} {{list.1}} {{list.[0]}}", ctx), "deep deep y x");
  EXPECT_EQ(R("{{lookup m key}} {{lookup list 1}}", ctx), "via-lookup y");
}

TEST(HandlebarsTest, IfUnlessElseAndElseIf) {
  const json ctx = {{"yes", true}, {"no", false}, {"zero", 0}, {"empty", json::array()},
                    {"s", "x"}};
  EXPECT_EQ(R("{{#if yes}}A{{else}}B{{/if}}", ctx), "A");
  EXPECT_EQ(R("{{#if no}}A{{else}}B{{/if}}", ctx), "B");
  EXPECT_EQ(R("{{#if zero}}A{{else}}B{{/if}}", ctx), "B");
  EXPECT_EQ(R("{{#if empty}}A{{else}}B{{/if}}", ctx), "B");
  EXPECT_EQ(R("{{#unless no}}A{{/unless}}", ctx), "A");
  EXPECT_EQ(R("{{#if no}}A{{else if s}}B{{else}}C{{/if}}", ctx), "B");
  EXPECT_EQ(R("{{#if no}}A{{^}}B{{/if}}", ctx), "B");
  EXPECT_EQ(R("{{^no}}inverted{{/no}}", ctx), "inverted");
}

TEST(HandlebarsTest, EachWithBlockParamsIndexAndNestedContexts) {
  const json ctx = {{"team", "aura"},
                    {"apps", {{{"name", "a"}, {"ports", {80, 81}}}, {{"name", "b"}, {"ports", {90}}}}}};
  EXPECT_EQ(R("{{#each apps}}{{@index}}:{{name}}@{{../team}};{{/each}}", ctx), "0:a@aura;1:b@aura;");
  EXPECT_EQ(R("{{#each apps as |app i|}}{{i}}={{app.name}}[{{#each app.ports as |p|}}{{p}}{{#unless @last}},{{/unless}}{{/each}}]{{/each}}", ctx),
            "0=a[80,81]1=b[90]");
  EXPECT_EQ(R("{{#each nothing}}x{{else}}none{{/each}}", ctx), "none");
  EXPECT_EQ(R("{{#each apps.[0]}}{{@key}}{{/each}}", ctx), "nameports");
  EXPECT_EQ(R("{{#with apps.[1]}}{{name}}-{{../team}}{{/with}}", ctx), "b-aura");
  EXPECT_EQ(R("{{#with apps.[1] as |x|}}{{x.name}}{{/with}}", ctx), "b");
}

TEST(HandlebarsTest, EqualHelper) {
  const json ctx = {{"env", "prod"}, {"n", 2.0}};
  EXPECT_EQ(R("{{#equal env \"prod\"}}P{{else}}D{{/equal}}", ctx), "P");
  EXPECT_EQ(R("{{#equal env 'dev'}}P{{else}}D{{/equal}}", ctx), "D");
  EXPECT_EQ(R("{{#equal n 2}}two{{/equal}}", ctx), "two");
  EXPECT_EQ(R("{{#if (equal env \"prod\")}}yes{{/if}}", ctx), "yes");
}

TEST(HandlebarsTest, CommentsAndWhitespaceControl) {
  const json ctx = {{"x", "v"}};
  EXPECT_EQ(R("a{{! note }}b{{!-- }} --}}c", ctx), "abc");
  EXPECT_EQ(R("a   {{~x~}}   b", ctx), "avb");
  EXPECT_EQ(R("\\{{x}}", ctx), "{{x}}");
}

TEST(HandlebarsTest, StandaloneBlockLinesDisappear) {
  const json ctx = {{"ingresses", {"https://foo", "https://bar"}}};
  EXPECT_EQ(R("ingresses:\n  {{#each ingresses as |url|}}\n    - {{url}}\n  {{/each}}\n\n", ctx),
            "ingresses:\n    - https://foo\n    - https://bar\n\n");
}

TEST(HandlebarsTest, ParseErrors) {
  const json ctx = {{"x", 1}};
  for (const char* bad : {"{{#if x}}unclosed", "{{x", "{{#if x}}{{/each}}", "{{/if}}", "{{> partial}}"}) {
    try {
      R(bad, ctx);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const TemplateError& e) {
      EXPECT_TRUE(e.IsParseError()) << bad;
      EXPECT_NE(std::string(e.what()).find("Parse error on line 1"), std::string::npos) << e.what();
    }
  }
  try {
    R("a\n{{#if x}}\n{{/each}}", ctx);
  } catch (const TemplateError& e) {
    EXPECT_STREQ(e.what(), "Parse error on line 3: if doesn't match each");
  }
}

TEST(HandlebarsTest, UnknownHelperWithParametersIsAnExecutionError) {
  try {
    R("{{shout x}}", json{{"x", 1}});
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_FALSE(e.IsParseError());
    EXPECT_STREQ(e.what(), "line 1: could not find helper \"shout\"");
  }
}

}  // namespace
}  // namespace deploy_cli
