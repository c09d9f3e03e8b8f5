#include "common/pb_json.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "deployment.pb.h"

namespace common {
namespace {

using nlohmann::json;

TEST(PbJsonTest, StructRoundTrip) {
  const json in = json::parse(R"({
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "x", "labels": {"team": "aura"}, "annotations": {}},
    "spec": {"replicas": 2, "ratio": 0.25, "negative": -3, "big": 9007199254740992,
             "enabled": true, "disabled": false, "nothing": null,
             "list": [1, "two", [3, {"four": 4}], null, false, {}], "empty": []}
  })");
  const google::protobuf::Struct s = JsonToStruct(in);
  EXPECT_EQ(s.fields().at("spec").struct_value().fields().at("replicas").number_value(), 2.0);
  EXPECT_TRUE(s.fields().at("spec").struct_value().fields().at("nothing").has_null_value());
  const json out = StructToJson(s);
  EXPECT_EQ(out, in);
  EXPECT_EQ(out.dump(), in.dump());
  EXPECT_TRUE(out["spec"]["replicas"].is_number_integer());
  EXPECT_EQ(out["spec"]["replicas"].dump(), "2");
  EXPECT_TRUE(out["spec"]["ratio"].is_number_float());
}

TEST(PbJsonTest, IntegralDoublesBecomeIntegersWithin2Pow53) {
  google::protobuf::Value v;
  v.set_number_value(2.0);
  EXPECT_EQ(ValueToJson(v).dump(), "2");
  v.set_number_value(-0.0);
  EXPECT_TRUE(ValueToJson(v).is_number_integer());
  v.set_number_value(9007199254740992.0);
  EXPECT_EQ(ValueToJson(v).dump(), "9007199254740992");
  v.set_number_value(-9007199254740992.0);
  EXPECT_EQ(ValueToJson(v).dump(), "-9007199254740992");
  v.set_number_value(18014398509481984.0);  // 2^54: stays a double
  EXPECT_TRUE(ValueToJson(v).is_number_float());
  v.set_number_value(1.5);
  EXPECT_EQ(ValueToJson(v).dump(), "1.5");
  v.set_number_value(1e300);
  EXPECT_TRUE(ValueToJson(v).is_number_float());
}

TEST(PbJsonTest, ValueKinds) {
  google::protobuf::Value v;
  EXPECT_TRUE(ValueToJson(v).is_null());  // kind not set
  v.set_null_value(google::protobuf::NULL_VALUE);
  EXPECT_TRUE(ValueToJson(v).is_null());
  v.set_bool_value(true);
  EXPECT_EQ(ValueToJson(v), json(true));
  v.set_string_value("hi");
  EXPECT_EQ(ValueToJson(v), json("hi"));
  v.mutable_list_value()->add_values()->set_string_value("a");
  EXPECT_EQ(ValueToJson(v), json::parse(R"(["a"])"));
  (*v.mutable_struct_value()->mutable_fields())["k"].set_bool_value(false);
  EXPECT_EQ(ValueToJson(v), json::parse(R"({"k":false})"));
}

TEST(PbJsonTest, NumbersBecomeDoubles) {
  const auto s = JsonToStruct(json::parse(R"({"i": 3, "u": 18446744073709551615, "f": 0.5})"));
  EXPECT_EQ(s.fields().at("i").kind_case(), google::protobuf::Value::kNumberValue);
  EXPECT_EQ(s.fields().at("u").number_value(), 18446744073709551615.0);
  EXPECT_EQ(s.fields().at("f").number_value(), 0.5);
}

TEST(PbJsonTest, NonObjectIsRejected) {
  for (const char* text : {"[1]", "1", "\"x\"", "null", "true"}) {
    try {
      JsonToStruct(json::parse(text));
      ADD_FAILURE() << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.Code(), ErrorCode::kInvalidArgument);
      EXPECT_EQ(std::string(e.what()).rfind("expected a JSON object, got ", 0), 0u) << e.what();
    }
  }
  try {
    JsonToStruct(json::array());
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "expected a JSON object, got array");
  }
}

TEST(PbJsonTest, Timestamps) {
  const SystemTime t = SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::seconds(1700000000) + std::chrono::nanoseconds(123456789)));
  const auto ts = ToTimestamp(t);
  EXPECT_EQ(ts.seconds(), 1700000000);
  EXPECT_EQ(ts.nanos(), 123456789);
  EXPECT_EQ(FromTimestamp(ts), t);

  const SystemTime before_epoch = SystemTime(
      std::chrono::duration_cast<SystemTime::duration>(std::chrono::nanoseconds(-1500000000)));
  const auto ts2 = ToTimestamp(before_epoch);
  EXPECT_EQ(ts2.seconds(), -2);
  EXPECT_EQ(ts2.nanos(), 500000000);
  EXPECT_EQ(FromTimestamp(ts2), before_epoch);

  EXPECT_EQ(FromTimestamp(google::protobuf::Timestamp()), SystemTime());  // unset = epoch
}

pb::DeploymentRequest SampleRequest() {
  pb::DeploymentRequest r;
  r.set_id("0f0c4bd6-4e0f-4a7b-9c5c-2d1f2a3b4c5d");
  r.mutable_time()->set_seconds(1136214245);
  r.mutable_deadline()->set_seconds(1136214845);
  r.mutable_deadline()->set_nanos(500000000);
  r.set_cluster("dev-gcp");
  r.set_team("aura");
  r.set_gitrefsha("abc123");
  r.set_githubenvironment("dev-gcp:aura");
  r.mutable_repository()->set_owner("navikt");
  r.mutable_repository()->set_name("app");
  *r.mutable_kubernetes()->add_resources() =
      JsonToStruct(json::parse(R"({"kind":"Application","spec":{"replicas":2}})"));
  r.set_traceparent("00-abc-def-01");
  r.set_deployerusername("octocat");
  r.set_triggerurl("https://example.invalid/run/1");
  return r;
}

TEST(PbJsonTest, ProtoJsonUsesOriginalFieldNames) {
  const std::string compact = MessageToProtoJson(SampleRequest(), false);
  const json j = json::parse(compact);
  for (const char* name :
       {"ID", "time", "deadline", "cluster", "team", "gitRefSha", "kubernetes", "repository",
        "GithubEnvironment", "traceParent", "deployerUsername", "triggerUrl"}) {
    EXPECT_TRUE(j.contains(name)) << name << " in " << compact;
  }
  EXPECT_EQ(j["time"], "2006-01-02T15:04:05Z");
  EXPECT_EQ(j["deadline"], "2006-01-02T15:14:05.500Z");
  EXPECT_EQ(j["kubernetes"]["resources"][0]["spec"]["replicas"], 2);
  EXPECT_EQ(j["repository"]["owner"], "navikt");
  EXPECT_EQ(compact.find('\n'), std::string::npos);
  EXPECT_NE(compact.find(R"("spec":{"replicas":2})"), std::string::npos) << compact;
}

TEST(PbJsonTest, ProtoJsonKeepsUtf8AndHtmlCharacters) {
  pb::DeploymentStatus status;
  status.set_message("gr\xC3\xB8nn <b> & \"q\"");
  EXPECT_EQ(MessageToProtoJson(status, true),
            "{\n  \"message\": \"gr\xC3\xB8nn <b> & \\\"q\\\"\"\n}");
  EXPECT_EQ(nlohmann::json::parse(MessageToProtoJson(status, false))["message"],
            "gr\xC3\xB8nn <b> & \"q\"");
}

TEST(PbJsonTest, ProtoJsonMultilineKeepsDeclarationOrder) {
  pb::DeploymentStatus status;
  status.mutable_request()->set_id("id-1");
  status.mutable_request()->set_cluster("c");
  status.mutable_time()->set_seconds(0);
  status.mutable_time()->set_nanos(1000);
  status.set_state(pb::in_progress);
  status.set_message("working");
  EXPECT_EQ(MessageToProtoJson(status, true),
            "{\n"
            "  \"request\": {\n"
            "    \"ID\": \"id-1\",\n"
            "    \"cluster\": \"c\"\n"
            "  },\n"
            "  \"time\": \"1970-01-01T00:00:00.000001Z\",\n"
            "  \"state\": \"in_progress\",\n"
            "  \"message\": \"working\"\n"
            "}");
}

TEST(PbJsonTest, ProtoJsonOmitsDefaultsAndPrintsEnumNames) {
  pb::DeploymentStatus status;
  status.set_state(pb::success);  // the zero value is omitted, as Go's protojson does
  EXPECT_EQ(MessageToProtoJson(status, false), "{}");
  EXPECT_EQ(MessageToProtoJson(status, true), "{}");
  status.set_state(pb::failure);
  EXPECT_EQ(MessageToProtoJson(status, false), R"({"state":"failure"})");
}

}  // namespace
}  // namespace common
