// Name rules and nesting limits shared by the three programs.
#include "common/limits.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"

namespace {

using nlohmann::json;

TEST(Names, DnsLabels) {
  for (const char* good : {"a", "aura", "dev-gcp", "0", "a-1-b",
                           "abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz"}) {
    EXPECT_TRUE(common::IsDnsLabel(good)) << good;
  }
  for (const char* bad : {"", "-a", "a-", "A", "a_b", "a.b", "a b", "a\r\nb", "team/x",
                          "abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz0"}) {
    EXPECT_FALSE(common::IsDnsLabel(bad)) << bad;
  }
  EXPECT_FALSE(common::IsDnsLabel(std::string("a\0b", 3)));
}

TEST(Names, MessagesQuoteControlCharacters) {
  EXPECT_FALSE(common::InvalidLabel("team", "aura").has_value());
  EXPECT_EQ(*common::InvalidLabel("team", std::string("x\r\n\t\"\\\0\xff", 8)),
            "invalid team \"x\\r\\n\\t\\\"\\\\\\x00\\xff\": must be a lowercase RFC 1123 label: at "
            "most 63 characters, lower case alphanumeric characters or '-', starting and ending "
            "with an alphanumeric character (e.g. 'my-name', regex used for validation is "
            "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  EXPECT_EQ(common::Quote(std::string(100, 'a'), 4), "\"aaaa...\"");
  try {
    common::RequireLabel("cluster", "Prod");
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()).rfind("invalid cluster \"Prod\": must be", 0), 0u);
  }
}

json Nested(std::size_t depth) {
  json value = json::object();
  for (std::size_t i = 1; i < depth; ++i) value = json{{"x", std::move(value)}};
  return value;
}

TEST(Limits, JsonDepthCountsContainersWithoutRecursion) {
  EXPECT_EQ(common::JsonDepth(json(1)), 0u);
  EXPECT_EQ(common::JsonDepth(json::object()), 1u);
  EXPECT_EQ(common::JsonDepth(json::parse(R"({"a":[1,{"b":[]}],"c":2})")), 4u);
  EXPECT_EQ(common::JsonDepth(Nested(512)), 512u);
  // Stops counting just past the limit, however deep the document is.
  EXPECT_EQ(common::JsonDepth(Nested(100000), 10), 11u);
}

TEST(Limits, StructDepthMatchesTheJson) {
  for (std::size_t depth : {1u, 2u, 40u, 512u}) {
    EXPECT_EQ(common::StructDepth(common::JsonToStruct(Nested(depth))), depth);
  }
  auto with_list = common::JsonToStruct(json::parse(R"({"a":[[[{"b":1}]]]})"));
  EXPECT_EQ(common::StructDepth(with_list), 5u);
}

TEST(Limits, ConversionsRefuseWhatIsTooDeepWithOneMessage) {
  EXPECT_NO_THROW(common::JsonToStruct(Nested(common::kMaxDocumentDepth)));
  try {
    common::JsonToStruct(Nested(200000));
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(),
                 "document is nested more than 512 levels deep (the limit for one resource)");
  }
}

TEST(Limits, BoundedParseStopsAtTheLimit) {
  const auto arrays = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_EQ(common::JsonDepth(common::ParseJsonBounded(arrays(512))), 512u);
  try {
    common::ParseJsonBounded(arrays(513));
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_EQ(std::string(e.what()), common::DepthMessage());
  }
  EXPECT_THROW(common::ParseJsonBounded(arrays(200000)), common::Error);
  try {
    common::ParseJsonBounded("{\"a\": ");
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_NE(std::string(e.what()).find("parse error"), std::string::npos) << e.what();
  }
}

// What one hop accepts, the next can read: protobuf's recursion limit fits the document limit.
TEST(Limits, ProtobufReadsBackTheDeepestAcceptedDocument) {
  common::InstallProtobufLimits();
  EXPECT_EQ(google::protobuf::io::CodedInputStream::GetDefaultRecursionLimit(),
            common::kProtobufRecursionLimit);
  json arrays = json::array();
  for (std::size_t i = 2; i < common::kMaxDocumentDepth; ++i) arrays = json::array({arrays});
  for (const json& deepest : {Nested(common::kMaxDocumentDepth), json{{"a", arrays}}}) {
    const auto original = common::JsonToStruct(deepest);
    std::string bytes;
    ASSERT_TRUE(original.SerializeToString(&bytes));
    google::protobuf::Struct parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    EXPECT_EQ(common::StructToJson(parsed), deepest);
  }
}

}  // namespace
