#pragma once
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <nlohmann/json.hpp>

#include "common/time.hpp"

namespace common {

// JSON object -> google.protobuf.Struct. Numbers become doubles (as protobuf Value does).
// Throws Error{kInvalidArgument} when `object` is not a JSON object.
google::protobuf::Struct JsonToStruct(const nlohmann::json& object);
// Struct -> JSON object. A double that holds an integral value within +-2^53 becomes a JSON
// integer (so "replicas: 2" round-trips as 2, not 2.0).
nlohmann::json StructToJson(const google::protobuf::Struct& s);
nlohmann::json ValueToJson(const google::protobuf::Value& v);

google::protobuf::Timestamp ToTimestamp(SystemTime t);
SystemTime FromTimestamp(const google::protobuf::Timestamp& ts);

// Protojson of any message as the Go CLI prints it (--print-payload): multi-line, original field
// names (ID, gitRefSha, GithubEnvironment...), enums as names.
std::string MessageToProtoJson(const google::protobuf::Message& message, bool multiline);

}  // namespace common
