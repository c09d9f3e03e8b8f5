#include "common/yaml_json.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.hpp"

namespace common {
namespace {

using nlohmann::json;

json One(std::string_view text, const YamlOptions& options = {}) {
  auto docs = YamlDocumentsToJson(text, options);
  if (docs.size() != 1) throw std::runtime_error("expected one document, got " +
                                                 std::to_string(docs.size()));
  return docs.front();
}

json Value(std::string_view scalar, const YamlOptions& options = {}) {
  return One("v: " + std::string(scalar), options)["v"];
}

std::string ErrorOf(std::string_view text, const YamlOptions& options = {}) {
  try {
    YamlDocumentsToJson(text, options);
  } catch (const Error& e) {
    EXPECT_EQ(e.Code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "no error for: " << text;
  return "";
}

TEST(YamlJsonTest, MultipleDocumentsAndEmptyOnesSkipped) {
  const auto docs = YamlDocumentsToJson(
      "# leading comment\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: ConfigMap\n"
      "---\n"
      "# only a comment\n"
      "---\n"
      "---\n"
      "~\n"
      "---\n"
      "kind: Secret\n"
      "...\n");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].dump(), R"({"apiVersion":"v1","kind":"ConfigMap"})");
  EXPECT_EQ(docs[1].dump(), R"({"kind":"Secret"})");
}

TEST(YamlJsonTest, EmptyInputs) {
  EXPECT_TRUE(YamlDocumentsToJson("").empty());
  EXPECT_TRUE(YamlDocumentsToJson("   \n\n").empty());
  EXPECT_TRUE(YamlDocumentsToJson("# nothing\n").empty());
  EXPECT_TRUE(YamlDocumentsToJson("---\n---\n").empty());
  EXPECT_TRUE(YamlDocumentsToJson("null\n").empty());
}

TEST(YamlJsonTest, KeysAreSortedInOutput) {
  EXPECT_EQ(One("z: 1\na: 2\nm: {x: 1, b: 2}\n").dump(), R"({"a":2,"m":{"b":2,"x":1},"z":1})");
}

TEST(YamlJsonTest, JsonInputWorks) {
  EXPECT_EQ(One(R"({"kind": "Application", "spec": {"replicas": 2, "list": [1, "a", null]}})")
                .dump(),
            R"({"kind":"Application","spec":{"list":[1,"a",null],"replicas":2}})");
}

TEST(YamlJsonTest, Yaml11BooleansOnlyWhenPlain) {
  for (const char* t : {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"}) {
    EXPECT_EQ(Value(t), json(true)) << t;
  }
  for (const char* f : {"n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"}) {
    EXPECT_EQ(Value(f), json(false)) << f;
  }
  EXPECT_EQ(Value("\"yes\""), json("yes"));
  EXPECT_EQ(Value("'on'"), json("on"));
  EXPECT_EQ(Value("\"true\""), json("true"));
  EXPECT_EQ(Value("yEs"), json("yEs"));
  EXPECT_EQ(Value("tRUE"), json("tRUE"));
  EXPECT_EQ(One("v: |\n  yes\n")["v"], json("yes\n"));
  EXPECT_EQ(One("v: >-\n  off\n")["v"], json("off"));
  EXPECT_EQ(Value("!!str yes"), json("yes"));
}

TEST(YamlJsonTest, Yaml12BooleansOption) {
  YamlOptions options;
  options.yaml11_booleans = false;
  EXPECT_EQ(Value("yes", options), json("yes"));
  EXPECT_EQ(Value("off", options), json("off"));
  EXPECT_EQ(Value("y", options), json("y"));
  EXPECT_EQ(Value("true", options), json(true));
  EXPECT_EQ(Value("False", options), json(false));
}

TEST(YamlJsonTest, Integers) {
  EXPECT_EQ(Value("42").dump(), "42");
  EXPECT_EQ(Value("-7").dump(), "-7");
  EXPECT_EQ(Value("+5").dump(), "5");
  EXPECT_EQ(Value("0").dump(), "0");
  EXPECT_EQ(Value("0x1F").dump(), "31");
  EXPECT_EQ(Value("-0x10").dump(), "-16");
  EXPECT_EQ(Value("0o17").dump(), "15");
  EXPECT_EQ(Value("017").dump(), "15");
  EXPECT_EQ(Value("0b101").dump(), "5");
  EXPECT_EQ(Value("1_000").dump(), "1000");
  EXPECT_EQ(Value("9223372036854775807").dump(), "9223372036854775807");
  EXPECT_EQ(Value("-9223372036854775808").dump(), "-9223372036854775808");
  EXPECT_EQ(Value("9223372036854775808").dump(), "9223372036854775808");
  EXPECT_TRUE(Value("9223372036854775808").is_number_unsigned());
  EXPECT_TRUE(Value("18446744073709551616").is_number_float());
  EXPECT_TRUE(Value("42").is_number_integer());
}

TEST(YamlJsonTest, Floats) {
  EXPECT_EQ(Value("1.5").dump(), "1.5");
  EXPECT_EQ(Value(".5").dump(), "0.5");
  EXPECT_EQ(Value("-2.25").dump(), "-2.25");
  EXPECT_EQ(Value("1e3").get<double>(), 1000.0);
  EXPECT_TRUE(Value("1e3").is_number_float());
  EXPECT_EQ(Value("1.10").get<double>(), 1.1);  // yaml.v2 quirk: versions become numbers
  EXPECT_TRUE(Value("09").is_number_float());   // invalid octal -> float, as Go's ParseFloat
  EXPECT_EQ(Value("09").get<double>(), 9.0);
  EXPECT_TRUE(std::isinf(Value(".inf").get<double>()));
  EXPECT_GT(Value(".Inf").get<double>(), 0);
  EXPECT_LT(Value("-.inf").get<double>(), 0);
  EXPECT_TRUE(std::isnan(Value(".nan").get<double>()));
  EXPECT_TRUE(std::isnan(Value(".NaN").get<double>()));
  EXPECT_EQ(Value("1e400"), json("1e400"));  // out of range stays a string
  EXPECT_EQ(Value("+inf"), json("+inf"));    // only YAML's .inf spellings are infinities
  EXPECT_EQ(Value("-Infinity"), json("-Infinity"));
  EXPECT_EQ(Value("nan"), json("nan"));
  EXPECT_EQ(Value("0x1p3"), json("0x1p3"));  // no hex floats
  EXPECT_EQ(Value("+.5").get<double>(), 0.5);
  EXPECT_EQ(Value("1_0.5").get<double>(), 10.5);
  EXPECT_EQ(Value(".5_0"), json(".5_0"));    // '.'-leading text: no '_' removal
  EXPECT_EQ(Value("5.").get<double>(), 5.0);
  EXPECT_EQ(Value("1e"), json("1e"));
  EXPECT_EQ(Value("1.5.6"), json("1.5.6"));
}

TEST(YamlJsonTest, NullsAndStrings) {
  EXPECT_TRUE(Value("~").is_null());
  EXPECT_TRUE(Value("null").is_null());
  EXPECT_TRUE(Value("Null").is_null());
  EXPECT_TRUE(Value("NULL").is_null());
  EXPECT_TRUE(Value("").is_null());
  EXPECT_EQ(Value("\"null\""), json("null"));
  EXPECT_EQ(Value("\"42\""), json("42"));
  EXPECT_EQ(Value("'1.5'"), json("1.5"));
  EXPECT_EQ(Value("hello world"), json("hello world"));
  EXPECT_EQ(Value("1.2.3"), json("1.2.3"));
  EXPECT_EQ(Value("-a"), json("-a"));
  EXPECT_EQ(Value("+"), json("+"));
  EXPECT_EQ(Value("."), json("."));
  EXPECT_EQ(Value("2001-12-14"), json("2001-12-14"));  // timestamps stay strings (yaml.v2)
  EXPECT_EQ(Value("12:30"), json("12:30"));
  EXPECT_EQ(Value("\"a\\tb\""), json("a\tb"));
  EXPECT_EQ(Value("\"{{ .image }}\""), json("{{ .image }}"));
}

TEST(YamlJsonTest, ExplicitTags) {
  EXPECT_EQ(Value("!!str 123"), json("123"));
  EXPECT_EQ(Value("!!int \"12\"").dump(), "12");
  EXPECT_TRUE(Value("!!float 1").is_number_float());
  EXPECT_TRUE(Value("!!null ''").is_null());
  EXPECT_EQ(ErrorOf("v: !!int abc\n"), "line 1, column 4: cannot decode \"abc\" as int");
}

TEST(YamlJsonTest, NestedStructures) {
  const json j = One(
      "spec:\n"
      "  containers:\n"
      "    - name: app\n"
      "      ports: [8080, 9090]\n"
      "      env:\n"
      "        - {name: A, value: \"1\"}\n"
      "  empty_list: []\n"
      "  empty_map: {}\n");
  EXPECT_EQ(j.dump(),
            R"({"spec":{"containers":[{"env":[{"name":"A","value":"1"}],"name":"app",)"
            R"("ports":[8080,9090]}],"empty_list":[],"empty_map":{}}})");
}

TEST(YamlJsonTest, TopLevelNonObjects) {
  EXPECT_EQ(One("- a\n- b\n").dump(), R"(["a","b"])");
  EXPECT_EQ(One("hello\n").dump(), R"("hello")");
  EXPECT_EQ(One("42\n").dump(), "42");
}

TEST(YamlJsonTest, NonStringKeys) {
  EXPECT_EQ(One("1: a\ntrue: b\nyes: c\n~: d\n1.5: e\n").dump(),
            R"({"1":"a","1.5":"e","null":"d","true":"c"})");
  // yaml.v2 quirk: an unquoted key y/n/on/off is a boolean, so it becomes "true"/"false".
  EXPECT_EQ(One("y: 1\nn: 2\n\"y\": 3\n").dump(), R"({"false":2,"true":1,"y":3})");
  EXPECT_EQ(ErrorOf("? [a, b]\n: c\n"), "line 1, column 3: mapping key must be a scalar");
}

TEST(YamlJsonTest, AnchorsAndAliases) {
  const json j = One(
      "base: &base {a: 1, b: [x, y]}\n"
      "copy: *base\n"
      "name: &n hello\n"
      "again: *n\n");
  EXPECT_EQ(j["copy"], j["base"]);
  EXPECT_EQ(j["again"], json("hello"));
}

TEST(YamlJsonTest, MergeKeys) {
  const json j = One(
      "defaults: &d {a: 1, b: 2}\n"
      "more: &m {b: 20, c: 30}\n"
      "one:\n"
      "  <<: *d\n"
      "  b: 3\n"
      "many:\n"
      "  <<: [*d, *m]\n"
      "  z: 0\n");
  EXPECT_EQ(j["one"].dump(), R"({"a":1,"b":3})");
  EXPECT_EQ(j["many"].dump(), R"({"a":1,"b":2,"c":30,"z":0})");
  EXPECT_EQ(One("x: {\"<<\": 1}\n")["x"].dump(), R"({"<<":1})");  // quoted: an ordinary key
}

TEST(YamlJsonTest, YamlBombIsRejected) {
  const std::string bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
      "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
      "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
      "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
      "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
  EXPECT_EQ(ErrorOf("kind: ok\n---\n" + bomb), "document 2: too many nodes after alias expansion");
  YamlOptions small;
  small.max_nodes = 10;
  EXPECT_EQ(ErrorOf("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n", small),
            "document 1: too many nodes after alias expansion");
  EXPECT_EQ(YamlDocumentsToJson("[1, 2, 3, 4, 5, 6, 7, 8, 9]\n", small).size(), 1u);
}

TEST(YamlJsonTest, ContentWithoutDocumentMarkerIsRejected) {
  EXPECT_EQ(ErrorOf("- a\nb: c\n"),
            "line 2, column 1: unexpected content after the end of a document (missing \"---\"?)");
  EXPECT_EQ(ErrorOf("{\"a\": 1}\n{\"b\": 2}\n"),
            "line 2, column 1: unexpected content after the end of a document (missing \"---\"?)");
  EXPECT_EQ(YamlDocumentsToJson("- a\n---\nb: c\n").size(), 2u);
  EXPECT_EQ(YamlDocumentsToJson("- a\n...\n---\n# c\n\nb: c\n").size(), 2u);
  EXPECT_EQ(YamlDocumentsToJson("a: 1\n--- {b: 2}\n").size(), 2u);
  EXPECT_EQ(YamlDocumentsToJson("a: 1\n---\n---\nb: 2\n").size(), 2u);
}

TEST(YamlJsonTest, RecursiveAliasIsRejected) {
  EXPECT_EQ(ErrorOf("&a [*a]\n"), "line 1, column 1: document nested deeper than 1000 levels");
}

TEST(YamlJsonTest, SyntaxErrorsHavePositions) {
  EXPECT_EQ(ErrorOf("a: [1, 2\n"), "line 2, column 1: end of sequence flow not found");
  EXPECT_EQ(ErrorOf("kind: x\nmetadata:\n  name: a\n name: b\n"),
            "line 4, column 2: end of map not found");
  EXPECT_EQ(ErrorOf("a: b: c\n"), "line 1, column 5: illegal map value");
  EXPECT_EQ(ErrorOf("{a: 1\n"), "line 2, column 1: end of map flow not found");
  EXPECT_EQ(ErrorOf("key: [a, b]]\n"), "line 1, column 12: illegal flow end");
  EXPECT_EQ(ErrorOf("a: @x\n"), "line 1, column 4: unknown token");
  EXPECT_EQ(ErrorOf("ok: 1\n---\nbad: [\n"), "line 4, column 1: end of sequence flow not found");
  EXPECT_EQ(ErrorOf("a: *nope\n"), "line 1, column 4: the referenced anchor is not defined");
}

}  // namespace
}  // namespace common
