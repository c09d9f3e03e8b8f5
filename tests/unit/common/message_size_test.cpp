// The shared message size setting and the bounded protobuf parse that names why bytes are refused.
#include "common/message_size.hpp"

#include <string>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/limits.hpp"
#include "common/pb_json.hpp"
#include "common/pb_parse.hpp"
#include "deployment.pb.h"
#include "support/deep_request.hpp"

namespace {

TEST(MessageSize, ParsesBytesAndUnits) {
  struct Case {
    std::string text;
    std::optional<std::size_t> bytes;
  };
  const std::vector<Case> cases = {
      {"33554432", 33554432},
      {"32Mi", 32u << 20},
      {"32MiB", 32u << 20},
      {"512Ki", 512u << 10},
      {"512KiB", 512u << 10},
      {"1Gi", 1u << 30},
      {"1GiB", 1u << 30},
      {"5M", 5000000},
      {"5MB", 5000000},
      {"500k", 500000},
      {"500kB", 500000},
      {"500K", 500000},
      {"1G", 1000000000},
      {"100B", 100},
      {"", std::nullopt},
      {"MiB", std::nullopt},
      {"32 MiB", std::nullopt},
      {"1.5Mi", std::nullopt},
      {"-1", std::nullopt},
      {"32mb", std::nullopt},
      {"99999999999999999999", std::nullopt},
      {"99999999999999999Gi", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(common::ParseByteSize(c.text), c.bytes) << c.text;
}

TEST(MessageSize, FormatsExactBinaryMultiples) {
  EXPECT_EQ(common::FormatByteSize(32u << 20), "32 MiB");
  EXPECT_EQ(common::FormatByteSize(1536u << 10), "1536 KiB");
  EXPECT_EQ(common::FormatByteSize(2u << 30), "2 GiB");
  EXPECT_EQ(common::FormatByteSize(5000000), "5000000 bytes");
  EXPECT_EQ(common::FormatByteSize(0), "0 bytes");
}

TEST(MessageSize, SettingOutsideTheRangeIsRefused) {
  EXPECT_EQ(common::ParseMaxMessageSize("32MiB"), 32u << 20);
  EXPECT_EQ(common::ParseMaxMessageSize("65536"), 65536u);
  EXPECT_EQ(common::ParseMaxMessageSize("256Mi"), 256u << 20);
  for (const std::string bad : {"32", "65535", "257Mi", "1Gi", "lots", ""}) {
    try {
      (void)common::ParseMaxMessageSize(bad);
      ADD_FAILURE() << bad;
    } catch (const common::Error& e) {
      EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
      EXPECT_EQ(std::string(e.what()),
                "invalid value \"" + bad +
                    "\" for max-message-size: want a size between 64 KiB and 256 MiB, such as "
                    "33554432 or 32MiB");
    }
  }
}

TEST(MessageSize, MessagesNameSizeLimitOwnerAndSetting) {
  EXPECT_EQ(
      common::TooLargeMessage("deployment request", 7340032, common::HookdSizeLimit(6u << 20)),
      "deployment request is 7340032 bytes, more than hookd accepts (6291456 bytes = 6 MiB, "
      "set by hookd's --max-message-size or HOOKD_MAX_MESSAGE_SIZE)");
  EXPECT_EQ(common::TooLargeMessage("request body", std::nullopt, common::HookdSizeLimit(65536)),
            "request body is larger than hookd accepts (65536 bytes = 64 KiB, set by hookd's "
            "--max-message-size or HOOKD_MAX_MESSAGE_SIZE)");
  EXPECT_EQ(common::TooLargeMessage("deployment request", 100, common::CliSizeLimit(99)),
            "deployment request is 100 bytes, more than this client accepts (99 bytes = 99 bytes, "
            "set by --max-message-size or MAX_MESSAGE_SIZE)");
  EXPECT_EQ(common::TooLargeMessage("deployment request", 2097152,
                                    common::DeploydSizeLimit(1u << 20, "small", true)),
            "deployment request is 2097152 bytes, more than the deployd of cluster 'small' "
            "accepts (1048576 bytes = 1 MiB, set by deployd's --max-message-size or "
            "DEPLOYD_MAX_MESSAGE_SIZE)");
  EXPECT_EQ(common::TooLargeMessage("deployment request", 5000000,
                                    common::DeploydSizeLimit(4u << 20, "old", false)),
            "deployment request is 5000000 bytes, more than the deployd of cluster 'old' accepts "
            "(4194304 bytes = 4 MiB, gRPC's default: this deployd announces no "
            "--max-message-size)");
}

TEST(MessageSize, GrpcChannelLimitAddsTheEnvelopeAndStaysAnInt) {
  EXPECT_EQ(common::GrpcChannelLimit(32u << 20), (32 << 20) + (64 << 10));
  EXPECT_EQ(common::GrpcChannelLimit(std::size_t{8} << 30), INT_MAX);
}

// ---------------------------------------------------------------------------------------------

pb::DeploymentRequest SmallRequest() {
  pb::DeploymentRequest request;
  request.set_team("aura");
  request.set_cluster("dev");
  *request.mutable_kubernetes()->add_resources() =
      common::JsonToStruct({{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"data", {{"a", "b"}}}});
  return request;
}

using testsupport::wire::DeepRequestBytes;
using testsupport::wire::Tag;
using testsupport::wire::Varint;

TEST(BoundedParse, ValidRequestParses) {
  const std::string bytes = SmallRequest().SerializeAsString();
  pb::DeploymentRequest parsed;
  EXPECT_FALSE(common::ParseBounded(bytes, parsed).has_value());
  EXPECT_EQ(parsed.team(), "aura");
  EXPECT_EQ(common::StructToJson(parsed.kubernetes().resources(0)),
            common::StructToJson(SmallRequest().kubernetes().resources(0)));
  EXPECT_FALSE(common::CheckWireFormat(bytes, *pb::DeploymentRequest::descriptor(), 10));
}

TEST(BoundedParse, MalformedBytesAreNamed) {
  struct Case {
    std::string bytes;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"this is not protobuf", "malformed protobuf at byte 0: unexpected end of group"},
      {std::string("\x0a\x05"
                   "ab",
                   4),
       "malformed protobuf at byte 0: length beyond the end of the message"},
      {std::string("\x08", 1), "malformed protobuf at byte 0: truncated varint"},
      {std::string("\x80", 1), "malformed protobuf at byte 0: truncated field tag"},
      {std::string("\x00\x01", 2), "malformed protobuf at byte 0: invalid field tag"},
      {std::string("\x0b", 1), "malformed protobuf at byte 1: group without its end"},
      {std::string("\x0c", 1), "malformed protobuf at byte 0: unexpected end of group"},
      {std::string("\x0f", 1), "malformed protobuf at byte 0: invalid wire type 7"},
      {std::string("\x09\x01\x02", 3), "malformed protobuf at byte 0: truncated fixed field"},
      {std::string("\x2a\x02\xff\xfe", 4),
       "field pb.DeploymentRequest.team at byte 0 is not valid UTF-8"},
  };
  for (const auto& c : cases) {
    pb::DeploymentRequest parsed;
    auto problem = common::ParseBounded(c.bytes, parsed);
    ASSERT_TRUE(problem.has_value()) << c.problem;
    EXPECT_FALSE(problem->too_deep);
    EXPECT_EQ(problem->detail, c.problem);
  }
}

TEST(BoundedParse, NestingBeyondTheLimitIsTooDeepAndNeverRecursed) {
  pb::DeploymentRequest parsed;
  // 600 JSON levels: beyond the 512 of one resource, still parseable by protobuf here.
  EXPECT_FALSE(common::ParseBounded(DeepRequestBytes(600), parsed).has_value());
  EXPECT_EQ(common::StructDepth(parsed.kubernetes().resources(0), 1000), 601u);
  // 100,000 levels (300,000 messages): refused by the walk.
  auto problem = common::ParseBounded(DeepRequestBytes(100000), parsed);
  ASSERT_TRUE(problem.has_value());
  EXPECT_TRUE(problem->too_deep);
  EXPECT_EQ(
      problem->detail,
      "nested more than " + std::to_string(common::kProtobufRecursionLimit - 8) + " messages deep");
}

}  // namespace
