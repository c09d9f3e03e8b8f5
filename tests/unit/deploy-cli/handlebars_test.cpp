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
  const json ctx = {{"t", true},   {"f", false},  {"i", 2},        {"d", 2.0},
                    {"h", 1.5},    {"big", 1e21}, {"small", 1e-7}, {"arr", {"a", 1, true}},
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
  const json ctx = {{"a", {{"b", {{"c", "deep"}}}}},
                    {"list", {"x", "y"}},
                    {"key", "b"},
                    {"m", {{"b", "via-lookup"}}}};
  EXPECT_EQ(R("{{a.b.c}} {{a/b/c}} {{list.1}} {{list.[0]}}", ctx), "deep deep y x");
  EXPECT_EQ(R("{{lookup m key}} {{lookup list 1}}", ctx), "via-lookup y");
}

TEST(HandlebarsTest, IfUnlessElseAndElseIf) {
  const json ctx = {
      {"yes", true}, {"no", false}, {"zero", 0}, {"empty", json::array()}, {"s", "x"}};
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
  const json ctx = {
      {"team", "aura"},
      {"apps", {{{"name", "a"}, {"ports", {80, 81}}}, {{"name", "b"}, {"ports", {90}}}}}};
  EXPECT_EQ(R("{{#each apps}}{{@index}}:{{name}}@{{../team}};{{/each}}", ctx),
            "0:a@aura;1:b@aura;");
  EXPECT_EQ(R("{{#each apps as |app i|}}{{i}}={{app.name}}[{{#each app.ports as "
              "|p|}}{{p}}{{#unless @last}},{{/unless}}{{/each}}]{{/each}}",
              ctx),
            "0=a[80,81]1=b[90]");
  EXPECT_EQ(R("{{#each nothing}}x{{else}}none{{/each}}", ctx), "none");
  EXPECT_EQ(R("{{#each apps.[0]}}{{@key}}{{/each}}", ctx), "nameports");
  EXPECT_EQ(R("{{#with apps.[1]}}{{name}}-{{../team}}{{/with}}", ctx), "b-aura");
  EXPECT_EQ(R("{{#with apps.[1] as |x|}}{{x.name}}{{/with}}", ctx), "b");
}

TEST(HandlebarsTest, EqualHelper) {
  const json ctx = {{"env", "prod"}, {"n", 2.0}};
  EXPECT_EQ(R("{{#equal env \"prod\"}}P{{else}}D{{/equal}}", ctx), "P");
  EXPECT_EQ(R("{{#equal env 'dev'}}P{{else}}D{{/equal}}", ctx), "");  // raymond: no else
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
  for (const char* bad :
       {"{{#if x}}unclosed", "{{x", "{{#if x}}{{/each}}", "{{/if}}", "{{> partial}}"}) {
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

TEST(HandlebarsTest, UnknownHelperWithParametersIsAnErrorOnlyWithStrictVars) {
  // raymond ignores the parameters of a name that is not a helper.
  EXPECT_EQ(R("[{{shout x}}]", json{{"x", 1}, {"shout", "hey"}}), "[hey]");
  try {
    R("{{shout x}}", json{{"x", 1}}, true);
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_FALSE(e.IsParseError());
    EXPECT_STREQ(e.what(), "line 1: could not find helper \"shout\"");
  }
}

// Rendering as aymerick/raymond v2 does (the original's template engine), case by case.
struct RaymondCase {
  const char* name;
  const char* text;
  const char* context;  // JSON; numbers are float64 as the original's vars are
  const char* expected;
};

const RaymondCase kRaymondCases[] = {
    // @../index: the data frame of the enclosing #each.
    {"parent_index",
     "{{#each rows}}{{#each this}}{{@../index}}.{{@index}}={{this}} {{/each}}{{/each}}",
     R"({"rows": [["a", "b"], ["c"]]})", "0.0=a 0.1=b 1.0=c "},
    {"parent_index_with_block_params",
     "{{#each apps as |app|}}{{#each app.ports as |p|}}{{@../index}}:{{p}};{{/each}}{{/each}}",
     R"({"apps": [{"ports": [80.0, 81.0]}, {"ports": [90.0]}]})", "0:80;0:81;1:90;"},
    {"parent_index_outside_each_is_empty", "[{{@../index}}]", R"({"x": 1.0})", "[]"},
    {"parent_key_in_object_each",
     "{{#each envs}}{{#each this}}{{@../key}}/{{@key}} {{/each}}{{/each}}",
     R"({"envs": {"dev": {"a": 1.0}, "prod": {"b": 2.0}}})", "dev/a prod/b "},
    {"key_is_nil_in_array_iteration", "{{#each m}}{{#each this}}[{{@key}}]{{/each}}{{/each}}",
     R"({"m": {"k": ["x"]}})", "[]"},
    // equal: the block renders on equality and never renders {{else}}.
    {"equal_block", "{{#equal env \"prod\"}}P{{else}}D{{/equal}}", R"({"env": "prod"})", "P"},
    {"equal_block_else_is_ignored", "[{{#equal env \"prod\"}}P{{else}}D{{/equal}}]",
     R"({"env": "dev"})", "[]"},
    {"equal_compares_strings", "{{#equal n \"2\"}}two{{/equal}}", R"({"n": 2.0})", "two"},
    {"equal_in_subexpression", "{{#if (equal env 'dev')}}D{{else}}P{{/if}}", R"({"env": "dev"})",
     "D"},
    // Maps print as Go's fmt.Sprintf("%s", map): sorted keys, %s applied to each element.
    {"map", "{{m}}", R"({"m": {"b": "x", "a": 1.0}})", "map[a:%!s(float64=1) b:x]"},
    {"map_nested", "{{{m}}}", R"({"m": {"l": [1.5, "s", true, null], "s": {"z": false}, "e": {}}})",
     "map[e:map[] l:[%!s(float64=1.5) s %!s(bool=true) <nil>] s:map[z:%!s(bool=false)]]"},
    {"map_escaped", "{{m}}", R"({"m": {"k": null, "q": "<'\">"}})",
     "map[k:&lt;nil&gt; q:&lt;&apos;&quot;&gt;]"},
    {"map_float_uses_percent_v_form", "{{{m}}}", R"({"m": {"big": 1000000.0, "tiny": 0.00001}})",
     "map[big:%!s(float64=1e+06) tiny:%!s(float64=1e-05)]"},
    // Scalars and arrays (raymond's Str).
    {"floats", "{{a}} {{b}} {{c}} {{d}} {{e}}",
     R"({"a": 2.0, "b": 1.5, "c": 1e21, "d": 1e-7, "e": -0.25})",
     "2 1.5 1000000000000000000000 0.0000001 -0.25"},
    {"bools_and_nil", "{{t}} {{f}} [{{n}}] [{{missing}}]", R"({"t": true, "f": false, "n": null})",
     "true false [] []"},
    {"array_concatenated", "{{{a}}}", R"({"a": [1.5, "a", true, null, [2.0, 3.0], {"k": "v"}]})",
     "1.5atrue23map[k:v]"},
    // Nested arrays.
    {"nested_arrays_each", "{{#each matrix}}{{#each this}}{{this}},{{/each}};{{/each}}",
     R"({"matrix": [[1.0, 2.0], [3.0, 4.0]]})", "1,2,;3,4,;"},
    {"nested_arrays_print", "{{matrix}}|{{#each matrix}}{{this}}|{{/each}}",
     R"({"matrix": [[1.0, 2.0], [3.0, 4.0]]})", "1234|12|34|"},
    {"nested_arrays_index", "{{matrix.[1].[0]}} {{matrix.0.1}}",
     R"({"matrix": [[1.0, 2.0], [3.0, 4.0]]})", "3 2"},
    {"path_in_array_context_maps_elements", "{{#each groups}}{{name}};{{/each}}",
     R"({"groups": [[{"name": "a"}, {"name": "b"}], [{"name": "c"}]]})", "ab;c;"},
    // A name not found in the current context is looked up in the enclosing ones.
    {"context_precedence", "{{#each apps}}{{name}}@{{team}} {{/each}}",
     R"({"team": "aura", "apps": [{"name": "a"}, {"name": "b", "team": "x"}]})", "a@aura b@x "},
    {"context_precedence_stops_at_found_null", "{{#each apps}}[{{team}}]{{/each}}",
     R"({"team": "aura", "apps": [{"team": null}]})", "[]"},
    {"data_name_falls_back_to_context", "{{@foo}}", R"({"foo": "bar"})", "bar"},
    // Sections, each and lookup as raymond's helpers behave.
    {"section_scalar_is_context", "{{#flag}}{{this}}/{{name}}{{/flag}}",
     R"({"flag": "on", "name": "n"})", "on/n"},
    {"each_over_scalar_renders_nothing", "[{{#each s}}x{{else}}y{{/each}}]", R"({"s": "str"})",
     "[]"},
    {"each_over_empty_renders_else", "[{{#each s}}x{{else}}y{{/each}}]", R"({"s": []})", "[y]"},
    {"lookup_gives_a_string", "{{#if (lookup m \"f\")}}truthy{{/if}} {{lookup m \"f\"}}",
     R"({"m": {"f": false}})", "truthy false"},
    {"lookup_block_renders_the_value", "{{#lookup m \"k\"}}ignored{{/lookup}}",
     R"({"m": {"k": "v"}})", "v"},
    {"literal_alone_is_a_key", "{{\"my key\"}}", R"({"my key": "v"})", "v"},
    {"inverted_if_is_unless", "{{^if x}}no{{/if}}", R"({"x": false})", "no"},
    // Consecutive standalone {{#if}} lines: correct Handlebars (raymond mis-nests these).
    {"consecutive_standalone_ifs",
     "a:\n{{#if x}}\n  b: 1\n{{/if}}\n{{#if y}}\n  c: 2\n{{/if}}\nd: 3\n",
     R"({"x": true, "y": false})", "a:\n  b: 1\nd: 3\n"},
};

class RaymondTest : public ::testing::TestWithParam<RaymondCase> {};

TEST_P(RaymondTest, RendersAsRaymond) {
  const RaymondCase& c = GetParam();
  EXPECT_EQ(R(c.text, json::parse(c.context)), c.expected) << c.text;
}

INSTANTIATE_TEST_SUITE_P(Cases, RaymondTest, ::testing::ValuesIn(kRaymondCases),
                         [](const ::testing::TestParamInfo<RaymondCase>& c) {
                           return std::string(c.param.name);
                         });

TEST(HandlebarsTest, StringifyFollowsRaymondAndGoFormatVFollowsPercentV) {
  const struct {
    const char* value;
    const char* str;
    const char* v;
  } cases[] = {
      {R"("s")", "s", "s"},
      {"true", "true", "true"},
      {"null", "", "<nil>"},
      {"1000000.0", "1000000", "1e+06"},
      {"123456.0", "123456", "123456"},
      {"1.5e-7", "0.00000015", "1.5e-07"},
      {"0.0001", "0.0001", "0.0001"},
      {R"([1.0, "a"])", "1a", "[1 a]"},
      {R"({"b": "x", "a": 1.0})", "map[a:%!s(float64=1) b:x]", "map[a:1 b:x]"},
      {R"({"a": [true, null, {"c": 2.5}]})",
       "map[a:[%!s(bool=true) <nil> map[c:%!s(float64=2.5)]]]", "map[a:[true <nil> map[c:2.5]]]"},
  };
  for (const auto& c : cases) {
    const json value = json::parse(c.value);
    EXPECT_EQ(Stringify(value), c.str) << c.value;
    EXPECT_EQ(GoFormatV(value), c.v) << c.value;
  }
  EXPECT_EQ(GoFormatFloat(1e21, 'e'), "1e+21");
  EXPECT_EQ(GoFormatFloat(1.5e-7, 'e'), "1.5e-07");
  EXPECT_EQ(GoFormatFloat(-1234.5, 'g'), "-1234.5");
}

TEST(HandlebarsTest, DeepTemplateNestingIsAParseErrorNotACrash) {
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "{{#if x}}";
  for (int i = 0; i < 300; ++i) deep += "{{/if}}";
  try {
    R(deep, json{{"x", true}});
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_TRUE(e.IsParseError());
    EXPECT_STREQ(e.what(), "Parse error on line 1: blocks nested too deeply");
  }
  std::string sub = "{{x ";
  for (int i = 0; i < 300; ++i) sub += "(";
  sub += "}}";
  try {
    R(sub, json{{"x", true}});
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_STREQ(e.what(), "Parse error on line 1: subexpressions nested too deeply");
  }
}

}  // namespace
}  // namespace deploy_cli
