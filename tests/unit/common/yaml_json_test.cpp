// The YAML to JSON conversion against what the original CLI produced with gopkg.in/yaml.v2 and
// its JSON conversion. Every expectation that is not marked as a deliberate difference is what
// that library gives for the same input (checked with it, input by input).
#include "common/yaml_json.hpp"

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/limits.hpp"

namespace common {
namespace {

using nlohmann::json;

// The result on one line: the documents as a JSON array, or "error: <message>".
std::string Convert(std::string_view text, const YamlOptions& options = {}) {
  try {
    json docs = json::array();
    for (auto& doc : YamlDocumentsToJson(text, options)) docs.push_back(std::move(doc));
    return docs.dump();
  } catch (const Error& e) {
    EXPECT_EQ(e.Code(), ErrorCode::kInvalidArgument);
    return std::string("error: ") + e.what();
  }
}

struct Case {
  std::string yaml;
  std::string want;
};

void ExpectAll(const std::vector<Case>& cases, const YamlOptions& options = {}) {
  for (const auto& c : cases) EXPECT_EQ(Convert(c.yaml, options), c.want) << "input:\n" << c.yaml;
}

json Value(std::string_view scalar) {
  const auto docs = YamlDocumentsToJson("v: " + std::string(scalar) + "\n");
  return docs.at(0).at("v");
}

TEST(YamlJsonTest, MalformedYamlIsAnError) {
  ExpectAll({
      // An unclosed quote swallows the rest of the file: the error names where it starts.
      {"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: \"x\n  b: y\n",
       "error: line 6, column 6: while scanning a quoted scalar: found unexpected end of stream"},
      {"data:\n  a: 'x\n  b: y\n",
       "error: line 2, column 6: while scanning a quoted scalar: found unexpected end of stream"},
      {"a:\n  b: 1\n c: 2\n",
       "error: line 3, column 2: did not find expected key (while parsing a block mapping at "
       "line 1, column 1)"},
      {"a:\n\tb: 1\n", "error: line 2, column 1: found character that cannot start any token"},
      {"key: value: other\n",
       "error: line 1, column 11: mapping values are not allowed in this context"},
      {"a: [1, 2\nb: 3\n",
       "error: line 2, column 2: did not find expected ',' or ']' (while parsing a flow sequence "
       "at line 1, column 4)"},
      {"a: {b: 1\n",
       "error: line 1, column 4: while parsing a flow mapping: did not find expected ',' or '}'"},
      {"a: [1, 2\n",
       "error: line 1, column 4: while parsing a flow sequence: did not find expected ',' or ']'"},
      {"a: [1, 2]]\n",
       "error: line 1, column 10: did not find expected key (while parsing a block mapping at "
       "line 1, column 1)"},
      {"a: ]\n", "error: line 1, column 4: did not find expected node content"},
      {"a: \"\\q\"\n",
       "error: line 1, column 5: found unknown escape character (while parsing a quoted scalar "
       "at line 1, column 4)"},
      // YAML 1.2's \/ is not a YAML 1.1 escape.
      {"a: \"\\/\"\n",
       "error: line 1, column 5: found unknown escape character (while parsing a quoted scalar "
       "at line 1, column 4)"},
      {"a: \"\\x4g\"\n",
       "error: line 1, column 7: did not find expected hexdecimal number (while parsing a quoted "
       "scalar at line 1, column 4)"},
      {"a: \"\\uD800\"\n",
       "error: line 1, column 7: found invalid Unicode character escape code (while parsing a "
       "quoted scalar at line 1, column 4)"},
      {"a: \"x\n---\ny\"\n",
       "error: line 2, column 1: found unexpected document indicator (while scanning a quoted "
       "scalar at line 1, column 4)"},
      {"- a\nb: c\n",
       "error: line 2, column 1: did not find expected '-' indicator (while parsing a block "
       "collection at line 1, column 1)"},
      {"a: 1\nb\nc: 2\n",
       "error: line 2, column 1: while scanning a simple key: could not find expected ':'"},
      {"a: @x\n", "error: line 1, column 4: found character that cannot start any token"},
      {"a: |0\n  x\n",
       "error: line 1, column 5: found an indentation indicator equal to 0 (while scanning a "
       "block scalar at line 1, column 4)"},
      {"a: | x\n",
       "error: line 1, column 6: did not find expected comment or line break (while scanning a "
       "block scalar at line 1, column 4)"},
      {"a: &\n",
       "error: line 1, column 5: did not find expected alphabetic or numeric character (while "
       "scanning an anchor at line 1, column 4)"},
      {"a: *nope\n", "error: line 1, column 4: unknown anchor 'nope' referenced"},
      {"a: !e!x y\n", "error: line 1, column 4: found undefined tag handle"},
      {"a: 1\n--- b\n  c: d\n",
       "error: line 3, column 4: mapping values are not allowed in this context"},
      {"{\"a\": 1}\n{\"b\": 2}\n",
       "error: line 2, column 1: did not find expected <document start>"},
      {"a: 1\n...\nb: 2\n", "error: line 3, column 1: did not find expected <document start>"},
      {"...\n", "error: line 1, column 1: did not find expected node content"},
      {"%YAML 1.2\n---\na: 1\n", "error: line 1, column 1: found incompatible YAML document"},
      {"%YAML 1.1\n%YAML 1.1\n---\na: 1\n",
       "error: line 2, column 1: found duplicate %YAML directive"},
      {"%FOO bar\n---\na: 1\n",
       "error: line 1, column 5: found unknown directive name (while scanning a directive at "
       "line 1, column 1)"},
      {"a: \"x\x01\"\n", "error: line 1, column 6: control characters are not allowed"},
      {"a: 1\nb: \xff\n", "error: line 2, column 4: invalid leading UTF-8 octet"},
      {"a: \xc3\n", "error: line 1, column 4: invalid trailing UTF-8 octet"},
  });
}

TEST(YamlJsonTest, UnderIndentedQuotedContinuationIsAnError) {
  // Deliberately stricter than the original (libyaml joins such lines): in block context a line
  // of a quoted scalar may not be less indented than its block.
  ExpectAll({
      {"data:\n  a: \"x\ny\"\n",
       "error: line 3, column 1: found a continuation line less indented than the current block "
       "(while scanning a quoted scalar at line 2, column 6)"},
      {"data:\n  a: 'x\nb: y'\n",
       "error: line 3, column 1: found a continuation line less indented than the current block "
       "(while scanning a quoted scalar at line 2, column 6)"},
      {"data:\n  a: \"x\n  y\"\n", R"([{"data":{"a":"x y"}}])"},
      {"a: \"x\ny\"\n", R"([{"a":"x y"}])"},
      {"- \"x\ny\"\n", R"([["x y"]])"},
      {"data:\n  a: [\"x\ny\"]\n", R"([{"data":{"a":["x y"]}}])"},  // flow context
  });
}

TEST(YamlJsonTest, Yaml11Booleans) {
  ExpectAll({
      {"[y, Y, yes, Yes, YES, on, On, ON, true, True, TRUE]",
       "[[true,true,true,true,true,true,true,true,true,true,true]]"},
      {"[n, N, no, No, NO, off, Off, OFF, false, False, FALSE]",
       "[[false,false,false,false,false,false,false,false,false,false,false]]"},
      {"[yEs, tRUE, 'yes', \"on\", !!str no, ! y]", R"([["yEs","tRUE","yes","on","no","y"]])"},
      {"a: |\n  yes\nb: >-\n  off\n", R"([{"a":"yes\n","b":"off"}])"},
  });
}

TEST(YamlJsonTest, Yaml12BooleansOption) {
  YamlOptions options;
  options.yaml11_booleans = false;
  ExpectAll({{"[yes, off, y, N, true, False, TRUE]", R"([["yes","off","y","N",true,false,true]])"},
             {"a: !!bool yes\n", "error: line 1, column 4: cannot decode !!str `yes` as a !!bool"}},
            options);
}

TEST(YamlJsonTest, Nulls) {
  ExpectAll({
      {"[~, null, Null, NULL, nULL, '', \"null\", !!null '', !!str ~]",
       R"([[null,null,null,null,"nULL","","null",null,"~"]])"},
      {"a:\nb: ~\nc: !!null\n", R"([{"a":null,"b":null,"c":null}])"},
  });
}

TEST(YamlJsonTest, Integers) {
  ExpectAll({
      {"[42, -7, +5, 0, 00, 0x1F, -0x10, 0o17, 017, 0b101, -0b11, 1_000, 0x_1F, 1__0, 0_7]",
       "[[42,-7,5,0,0,31,-16,15,15,5,-3,1000,31,10,7]]"},
      {"[9223372036854775807, -9223372036854775808, 9223372036854775808, 18446744073709551615]",
       "[[9223372036854775807,-9223372036854775808,9223372036854775808,18446744073709551615]]"},
      // Beyond 64 bits: floats.
      {"[18446744073709551616, -9223372036854775809]",
       "[[1.8446744073709552e+19,-9223372036854775808]]"},
      // 08 is no octal number but a decimal float.
      {"[0x, 0b, 0o, 08, 0x1G, 1_, _1, 1-2]", R"([["0x","0b","0o",8,"0x1G",1,"_1","1-2"]])"},
  });
  EXPECT_TRUE(Value("9223372036854775807").is_number_integer());
  EXPECT_TRUE(Value("9223372036854775808").is_number_unsigned());
  EXPECT_TRUE(Value("18446744073709551616").is_number_float());
}

TEST(YamlJsonTest, Floats) {
  ExpectAll({
      // Whole numbers print as integers, as in the original's JSON (1e3 -> 1000, -0.0 -> 0).
      {"[1.5, .5, -2.25, +.5, 1., 5.0, 1e3, 1E3, 1.5e-3, 1_000.5, .5_0, 1e+21, 5e-7, -0.0, 1e6]",
       "[[1.5,0.5,-2.25,0.5,1,5,1000,1000,0.0015,1000.5,0.5,1e+21,5e-07,0,1000000]]"},
      // Out of range, malformed, or spelled as other languages do: strings.
      {"[1e400, -1e400, 1e-400, 1e, 1.5.6, 0x1p3, +inf, -Infinity, nan, ., +, ._5, 1__0.5]",
       R"([["1e400","-1e400",0,"1e","1.5.6","0x1p3","+inf","-Infinity","nan",".","+","._5",10.5]])"},
      // yaml.v2 reads version-like values as numbers.
      {"[1.10, 1.0, 0.1]", "[[1.1,1,0.1]]"},
      // JSON has no infinity or NaN; the original's conversion failed on them too.
      {"a: .inf\n",
       "error: line 1, column 4: json: unsupported value: +Inf (JSON has no infinity or NaN)"},
      {"a: [-.Inf]\n",
       "error: line 1, column 5: json: unsupported value: -Inf (JSON has no infinity or NaN)"},
      {"a: .NaN\n",
       "error: line 1, column 4: json: unsupported value: NaN (JSON has no infinity or NaN)"},
      {"a: +.INF\n",
       "error: line 1, column 4: json: unsupported value: +Inf (JSON has no infinity or NaN)"},
  });
  EXPECT_TRUE(Value("1.5").is_number_float());
  EXPECT_TRUE(Value("1e3").is_number_integer());
}

TEST(YamlJsonTest, TimestampsStayStrings) {
  ExpectAll({
      {"[2001-12-14, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10, 12:30, 1:20:30]",
       R"([["2001-12-14","2001-12-14t21:59:43.10-05:00","2001-12-14 21:59:43.10","12:30","1:20:30"]])"},
      {"[!!timestamp 2001-12-14, !!timestamp '2001-12-14T21:59:43Z']",
       R"([["2001-12-14","2001-12-14T21:59:43Z"]])"},
      {"a: !!timestamp 2001-13-14\n",
       "error: line 1, column 4: cannot decode !!str `2001-13-14` as a !!timestamp"},
  });
}

TEST(YamlJsonTest, DoubleQuotedEscapesAndFolding) {
  ExpectAll({
      {"a: \"\\0\\a\\b\\t\\\t\\n\\v\\f\\r\\e\\ \\\"\\\\\\'\"\n",
       R"([{"a":"\u0000\u0007\b\t\t\n\u000b\f\r\u001b \"\\'"}])"},
      {"a: \"\\N\\_\\L\\P\\x41\\xe9\\u00e9\\u263A\\U0001F600\"\n",
       "[{\"a\":\"\xC2\x85\xC2\xA0\xE2\x80\xA8\xE2\x80\xA9"
       "A\xC3\xA9\xC3\xA9\xE2\x98\xBA"
       "\xF0\x9F\x98\x80\"}]"},
      // An escaped line break joins the lines without a space.
      {"a: \"one\\\n  two\\\n\n  three\"\n", R"([{"a":"onetwo\nthree"}])"},
      // A line break folds into a space; n empty lines give n line breaks.
      {"a: \"one\n  two\n\n  three\n\n\n  four \"\n", R"([{"a":"one two\nthree\n\nfour "}])"},
      {"a: \"trailing   \n  spaces\ttabs\t\n  x\"\n", R"([{"a":"trailing spaces\ttabs x"}])"},
      {"a: \"\\  lead\"\n", R"([{"a":"  lead"}])"},
  });
}

TEST(YamlJsonTest, SingleQuoted) {
  ExpectAll({
      {"a: 'it''s'\nb: ''''\nc: ''\n", R"([{"a":"it's","b":"'","c":""}])"},
      {"a: 'one\n  two\n\n  three'\n", R"([{"a":"one two\nthree"}])"},
      {"a: 'no \\n escapes'\n", R"([{"a":"no \\n escapes"}])"},
  });
}

TEST(YamlJsonTest, PlainScalars) {
  ExpectAll({
      // '#' starts a comment only after a space; ':' ends a key only before a space.
      {"a: x#y\nb: x #y\nc: a:b\nd: -x\ne: ?x\nf: :x\ng: x,y\n",
       R"([{"a":"x#y","b":"x","c":"a:b","d":"-x","e":"?x","f":":x","g":"x,y"}])"},
      {"a: one\n  two\n\n  three\n", R"([{"a":"one two\nthree"}])"},
      {"a: one   \nb: x\n", R"([{"a":"one","b":"x"}])"},
      {"[a:b, x#y, 'c']", R"([["a:b","x#y","c"]])"},
      {"{a:b}", R"([{"a:b":null}])"},
      {"- a\n - b\n", R"([["a - b"]])"},
  });
}

TEST(YamlJsonTest, BlockScalars) {
  ExpectAll({
      {"a: |\n  one\n  two\nb: x\n", R"([{"a":"one\ntwo\n","b":"x"}])"},
      {"a: >\n  one\n  two\n\n  three\nb: x\n", R"([{"a":"one two\nthree\n","b":"x"}])"},
      // Chomping: strip (-), keep (+), clip (default).
      {"a: |-\n  one\n\n\nb: |+\n  two\n\n\nc: |\n  three\n\n\nd: x\n",
       R"([{"a":"one","b":"two\n\n\n","c":"three\n","d":"x"}])"},
      {"a: >-\n  one\n\nb: >+\n  two\n\n\nc: >\n  three\n\n",
       R"([{"a":"one","b":"two\n\n\n","c":"three\n"}])"},
      // Indentation indicators, before or after the chomping indicator.
      {"a: |2\n    indented\n   less\n", R"([{"a":"  indented\n less\n"}])"},
      {"- |1\n  x\n- >-2\n    y\n", R"([[" x\n","  y"]])"},
      // Folding leaves more-indented lines (and the breaks around them) alone.
      {"a: >\n  one\n    more\n  two\n", R"([{"a":"one\n  more\ntwo\n"}])"},
      {"a: >2\n    lead\n  two\n", R"([{"a":"  lead\ntwo\n"}])"},
      {"a: >\n  x\n\n    y\n\n  z\n", R"([{"a":"x\n\n  y\n\nz\n"}])"},
      {"a: |\n  end without newline", R"([{"a":"end without newline"}])"},
      {"a: |\n", R"([{"a":""}])"},
      {"a: |\n\n\n", R"([{"a":""}])"},
      {"a: | # comment\n  x\n", R"([{"a":"x\n"}])"},
      {"a: |\n  # not a comment\n", R"([{"a":"# not a comment\n"}])"},
      {"a: >\n    lead\n  two\n",
       "error: line 3, column 3: did not find expected key (while parsing a block mapping at "
       "line 1, column 1)"},
      {"a: |\n\tx\n",
       "error: line 2, column 1: found a tab character where an indentation space is expected "
       "(while scanning a block scalar at line 1, column 4)"},
  });
}

TEST(YamlJsonTest, DocumentsMarkersAndLineEndings) {
  ExpectAll({
      // Empty and null documents are skipped (the original passed them on as null).
      {"# leading\n---\na: 1\n---\n# only a comment\n---\n---\n~\n---\nb: 2\n...\n",
       R"([{"a":1},{"b":2}])"},
      {"a: 1\n---\n", R"([{"a":1}])"},
      {"", "[]"},
      {"   \n\n", "[]"},
      {"# nothing\n", "[]"},
      {"null\n", "[]"},
      {"--- a\n--- b\n...\n", R"(["a","b"])"},
      {"--- |\n  x\n--- >\n  y\n", R"(["x\n","y\n"])"},
      {"--- [a,\nb]\n", R"([["a","b"]])"},
      {"a: 1\n--- {b: 2}\n", R"([{"a":1},{"b":2}])"},
      {"- a\n...\n---\n# c\n\nb: c\n", R"([["a"],{"b":"c"}])"},
      {"%YAML 1.1\n%TAG !e! tag:example.com,2000:\n--- !e!x v\n", R"(["v"])"},
      {"\xEF\xBB\xBF"
       "a: 1\n",
       R"([{"a":1}])"},
      // CR LF (and a lone CR) is a line break everywhere, never part of a value.
      {"a: 1\r\nb: |\r\n  x\r\n  y\r\nc: \"p\r\n  q\"\r\nd: >\r\n  e\r\n  f\r\n",
       R"([{"a":1,"b":"x\ny\n","c":"p q","d":"e f\n"}])"},
      {"a: 1\rb: 2\r", R"([{"a":1,"b":2}])"},
      {"a: 1 # c\n# c\nb: [1, # c\n  2] # c\nc: |  # c\n  x\n# c\n",
       R"([{"a":1,"b":[1,2],"c":"x\n"}])"},
      {R"({"kind": "Application", "spec": {"replicas": 2, "list": [1, "a", null]}})",
       R"([{"kind":"Application","spec":{"list":[1,"a",null],"replicas":2}}])"},
  });
}

TEST(YamlJsonTest, Utf16WithByteOrderMark) {
  const auto utf16 = [](std::string_view ascii, bool little_endian) {
    std::string out = little_endian ? "\xFF\xFE" : "\xFE\xFF";
    for (const char c : ascii) {
      out.push_back(little_endian ? c : '\0');
      out.push_back(little_endian ? '\0' : c);
    }
    return out;
  };
  EXPECT_EQ(Convert(utf16("a: [1, x]\n", true)), R"([{"a":[1,"x"]}])");
  EXPECT_EQ(Convert(utf16("a: 1\n", false)), R"([{"a":1}])");
  EXPECT_EQ(Convert(utf16("a: 1\n", true).substr(0, 9)),
            "error: line 1, column 4: incomplete UTF-16 character");
}

TEST(YamlJsonTest, Tags) {
  ExpectAll({
      {"[!!str 123, !!int \"12\", !!int '0x1F', !!float 1, !!float '1.5', !!bool \"true\", "
       "!!null null]",
       R"([["123",12,31,1,1.5,true,null]])"},
      // !!binary: base64 (line breaks ignored); bytes that are not UTF-8 become U+FFFD.
      {"x: [!!binary aGVsbG8=, !!binary \"/w==\"]\nb: !!binary |\n  aGVs\n  bG8=\n",
       "[{\"b\":\"hello\",\"x\":[\"hello\",\"\xEF\xBF\xBD\"]}]"},
      // Local and unknown tags leave the text as a string; tags on collections are ignored.
      {"[!Ref x, !Ref 12, ! 12, !!map x, !<tag:yaml.org,2002:int> 0x10, !<!local> yes]",
       R"([["x","12","12","x",16,"yes"]])"},
      {"a: !!map [1]\nb: !!seq {c: d}\nc: !Ref {d: e}\n",
       R"([{"a":[1],"b":{"c":"d"},"c":{"d":"e"}}])"},
      {"a: !!int abc\n", "error: line 1, column 4: cannot decode !!str `abc` as a !!int"},
      {"a: !!float 18446744073709551615\n",
       "error: line 1, column 4: cannot decode !!int `18446744073709551615` as a !!float"},
      {"a: !!bool 1\n", "error: line 1, column 4: cannot decode !!int `1` as a !!bool"},
      {"a: !!null x\n", "error: line 1, column 4: cannot decode !!str `x` as a !!null"},
      {"a: !!binary \"a b\"\n",
       "error: line 1, column 4: !!binary value contains invalid base64 data"},
  });
}

TEST(YamlJsonTest, Keys) {
  ExpectAll({
      // Keys become the text the original's JSON conversion gave them (float keys with float32
      // precision; a float key that is a whole number below 1e6 as an integer).
      {"1: a\ntrue: b\n1.5: d\n3.14159265: e\n1e3: f\n0x10: g\n-0: h\n.inf: i\n1e6: j\n"
       "2001-12-14: k\n\"q\": l\n-.inf: m\n0.1: p\n",
       R"([{"-.inf":"m",".inf":"i","0":"h","0.1":"p","1":"a","1.5":"d","1000":"f","16":"g",)"
       R"("1e+06":"j","2001-12-14":"k","3.1415927":"e","q":"l","true":"b"}])"},
      {"1e300: x\n", R"([{".inf":"x"}])"},
      // yaml.v2 quirk: an unquoted key y/n/on/off is a boolean, so it becomes "true"/"false".
      {"y: 1\nn: 2\n\"y\": 3\n", R"([{"false":2,"true":1,"y":3}])"},
      // A NaN key lost its value in the original's Go map.
      {".nan: 1\n", R"([{".nan":null}])"},
      {"? a\n: b\n? |\n  block\n: c\n", R"([{"a":"b","block\n":"c"}])"},
      {"[a: b, c]", R"([[{"a":"b"},"c"]])"},
      // Keys JSON cannot have, refused as the original's conversion refused them.
      {"~: a\n",
       "error: line 1, column 1: unsupported map key null: a JSON object key must be a string"},
      {"? [a, b]\n: c\n",
       "error: line 1, column 3: invalid map key: a sequence cannot be a mapping key"},
      {"{a: b}: c\n",
       "error: line 1, column 1: invalid map key: a mapping cannot be a mapping key"},
      {"18446744073709551615: a\n",
       "error: line 1, column 1: unsupported map key 18446744073709551615: integer keys beyond "
       "int64 cannot be JSON object keys"},
      {": a\n", "error: line 1, column 1: did not find expected key"},
  });
}

TEST(YamlJsonTest, DuplicateKeysAreRefused) {
  // Deliberate difference: the original silently kept the last value.
  ExpectAll({
      {"a: 1\na: 2\n", "error: line 2, column 1: mapping key \"a\" already defined at line 1"},
      {"env:\n  - name: A\nspec: {}\nenv:\n  - name: B\n",
       "error: line 4, column 1: mapping key \"env\" already defined at line 1"},
      {"{a: 1, a: 2}", "error: line 1, column 8: mapping key \"a\" already defined at line 1"},
      // Keys that differ in YAML but not in JSON.
      {"1: a\n\"1\": b\n", "error: line 2, column 1: mapping key \"1\" already defined at line 1"},
      {"y: a\ntrue: b\n",
       "error: line 2, column 1: mapping key \"true\" already defined at line 1"},
      {"&k key: v\n*k : w\n",
       "error: line 2, column 1: mapping key \"key\" already defined at line 1"},
      {"a: {b: 1}\nc: {b: 2}\n", R"([{"a":{"b":1},"c":{"b":2}}])"},
  });
}

TEST(YamlJsonTest, MergeKeys) {
  ExpectAll({
      {"d: &d {a: 1, b: 2}\nm: &m {b: 20, c: 30}\none:\n  <<: *d\n  b: 3\nmany:\n  <<: [*d, *m]\n"
       "  z: 0\n",
       R"([{"d":{"a":1,"b":2},"m":{"b":20,"c":30},"many":{"a":1,"b":2,"c":30,"z":0},)"
       R"("one":{"a":1,"b":3}}])"},
      // Merges apply where they stand: a key written before `<<` is overridden (yaml.v2).
      {"d: &d {a: 1}\nx:\n  a: 9\n  <<: *d\n", R"([{"d":{"a":1},"x":{"a":1}}])"},
      {"x:\n  <<: {a: 1}\n  <<: {b: 2}\n", R"([{"x":{"a":1,"b":2}}])"},
      {"x: {<<: {a: 1}}\n", R"([{"x":{"a":1}}])"},
      {"x:\n  !!merge <<: {a: 1}\n", R"([{"x":{"a":1}}])"},
      {"x: [<<]\n", R"([{"x":["<<"]}])"},
      {"a: &a 1\nb:\n  <<: *a\n",
       "error: line 3, column 7: map merge requires map or sequence of maps as the value"},
      {"a: &a [{x: 1}]\nb:\n  <<: *a\n",
       "error: line 3, column 7: map merge requires map or sequence of maps as the value"},
      {"b:\n  <<: [{x: 1}, 2]\n",
       "error: line 2, column 7: map merge requires map or sequence of maps as the value"},
      {"b:\n  <<:\n",
       "error: line 2, column 6: map merge requires map or sequence of maps as the value"},
      // Deliberate difference: the original turned a quoted "<<" key into a merge key.
      {"x: {\"<<\": 1}\n",
       "error: line 1, column 5: mapping key \"<<\" is only supported as a merge key (unquoted, "
       "untagged)"},
  });
}

TEST(YamlJsonTest, AnchorsAndAliases) {
  ExpectAll({
      {"base: &base {a: 1, b: [x, z]}\ncopy: *base\nname: &n hello\nagain: *n\n",
       R"([{"again":"hello","base":{"a":1,"b":["x","z"]},"copy":{"a":1,"b":["x","z"]},)"
       R"("name":"hello"}])"},
      {"a: &a 1\nb: &a 2\nc: *a\n", R"([{"a":1,"b":2,"c":2}])"},
      {"a: &a [&a x, *a]\n", R"([{"a":["x","x"]}])"},
      {"- &a\n- *a\n", "[[null,null]]"},
      {"a: &a [*a]\n", "error: line 1, column 8: anchor 'a' value contains itself"},
      {"a: &a {b: *a}\n", "error: line 1, column 11: anchor 'a' value contains itself"},
      // Anchors belong to their document.
      {"a: &a x\n---\nb: *a\n", "error: line 3, column 4: unknown anchor 'a' referenced"},
  });
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
  EXPECT_EQ(Convert("kind: ok\n---\n" + bomb),
            "error: document 2: too many nodes after alias expansion");
  YamlOptions small;
  small.max_nodes = 10;
  EXPECT_EQ(Convert("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n", small),
            "error: document 1: too many nodes after alias expansion");
  EXPECT_EQ(Convert("[1, 2, 3, 4, 5, 6, 7, 8, 9]\n", small), "[[1,2,3,4,5,6,7,8,9]]");
  EXPECT_EQ(Convert("{a: 1, b: 2, c: 3, d: 4, e: 5}\n", small),
            "error: document 1: too many nodes after alias expansion");
}

TEST(YamlJsonTest, NestingIsLimitedLikeEveryOtherHop) {
  const auto nested = [](std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']') + "\n";
  };
  EXPECT_EQ(YamlDocumentsToJson(nested(kMaxDocumentDepth)).size(), 1u);
  EXPECT_EQ(
      Convert(nested(kMaxDocumentDepth + 1)),
      "error: line 1, column " + std::to_string(kMaxDocumentDepth + 1) + ": " + DepthMessage());
  // Block nesting counts the same way.
  std::string block;
  for (std::size_t i = 0; i <= kMaxDocumentDepth; ++i) block += std::string(i, ' ') + "-\n";
  EXPECT_EQ(Convert(block), "error: line " + std::to_string(kMaxDocumentDepth + 1) + ", column " +
                                std::to_string(kMaxDocumentDepth + 1) + ": " + DepthMessage());
  // An alias counts with the depth of what it names.
  const std::string anchored = "a: &a " + nested(300);
  EXPECT_EQ(Convert(anchored + "b: " + std::string(212, '[') + "*a" + std::string(212, ']')),
            "error: line 2, column 216: " + DepthMessage());
  EXPECT_EQ(
      YamlDocumentsToJson(anchored + "b: " + std::string(211, '[') + "*a" + std::string(211, ']'))
          .size(),
      1u);
}

// Unoptimised and sanitised builds run the size tests on smaller inputs.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr std::size_t kSizeDivisor = 5;
#else
constexpr std::size_t kSizeDivisor = 1;
#endif

// A manifest like the ones the CLI deploys, `bytes` long.
std::string Manifest(std::size_t bytes) {
  std::string out;
  for (std::size_t i = 0; out.size() < bytes; ++i) {
    const std::string n = std::to_string(i);
    out += "---\napiVersion: nais.io/v1alpha1\nkind: Application\nmetadata:\n  name: app-" + n +
           "\n  namespace: aura\n  labels:\n    team: aura\n  annotations:\n"
           "    description: \"An \\\"application\\\" number " +
           n + "\"\nspec:\n  image: ghcr.io/navikt/app:1.2." + n +
           "\n  replicas: {min: 2, max: 4}\n  port: 8080\n  env:\n    - name: ENVIRONMENT\n"
           "      value: dev\n    - name: FLAG\n      value: 'on'\n  config: |\n"
           "    line one\n    line two: with a colon\n      indented\n"
           "  ingresses:\n    - https://app-" +
           n + ".example.com\n";
  }
  return out;
}

TEST(YamlJsonTest, LargeManifestConvertsInLinearTime) {
  const std::string text = Manifest((5 << 20) / kSizeDivisor);
  const auto start = std::chrono::steady_clock::now();
  const auto docs = YamlDocumentsToJson(text);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "YAML to JSON: " << text.size() / 1024 << " KiB, " << docs.size() << " documents in "
            << ms << " ms\n";
  ASSERT_GT(docs.size(), 1000u / kSizeDivisor);
  EXPECT_EQ(docs[7]["metadata"]["name"], "app-7");
  EXPECT_EQ(docs[7]["spec"]["env"][1]["value"], "on");
  EXPECT_EQ(docs[7]["spec"]["config"], "line one\nline two: with a colon\n  indented\n");
  // Only a super-linear algorithm gets near this (the measured time is printed above).
  EXPECT_LT(ms, 20000.0);
}

TEST(YamlJsonTest, PathologicalShapesStayLinear) {
  const std::size_t n = 100'000 / kSizeDivisor;
  std::string flow = "[";
  std::string keys;
  std::string folded = "a: >\n";
  for (std::size_t i = 0; i < n; ++i) {
    flow += std::to_string(i) + ",";
    keys += "k" + std::to_string(i) + ": " + std::to_string(i) + "\n";
    folded += "  word\n";
  }
  flow += "]";
  const std::string long_plain = "a: " + std::string(n * 10, 'x') + "\n";
  const std::string long_quoted = "a: \"" + std::string(n * 10, 'x') + "\"\n";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(YamlDocumentsToJson(flow).at(0).size(), n);
  EXPECT_EQ(YamlDocumentsToJson(keys).at(0).size(), n);
  EXPECT_EQ(YamlDocumentsToJson(folded).at(0)["a"].get<std::string>().size(), n * 5);
  EXPECT_EQ(YamlDocumentsToJson(long_plain).at(0)["a"].get<std::string>().size(), n * 10);
  EXPECT_EQ(YamlDocumentsToJson(long_quoted).at(0)["a"].get<std::string>().size(), n * 10);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(ms, 20000.0);
}

}  // namespace
}  // namespace common
