#include "common/pb_json.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <variant>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "common/error.hpp"
#include "common/limits.hpp"

namespace common {
namespace {

google::protobuf::Value JsonToValue(const nlohmann::json& j) {
  google::protobuf::Value v;
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      v.set_null_value(google::protobuf::NULL_VALUE);
      break;
    case nlohmann::json::value_t::boolean:
      v.set_bool_value(j.get<bool>());
      break;
    case nlohmann::json::value_t::number_integer:
      v.set_number_value(static_cast<double>(j.get<std::int64_t>()));
      break;
    case nlohmann::json::value_t::number_unsigned:
      v.set_number_value(static_cast<double>(j.get<std::uint64_t>()));
      break;
    case nlohmann::json::value_t::number_float:
      v.set_number_value(j.get<double>());
      break;
    case nlohmann::json::value_t::string:
      v.set_string_value(j.get<std::string>());
      break;
    case nlohmann::json::value_t::array: {
      auto* list = v.mutable_list_value();
      for (const auto& item : j) *list->add_values() = JsonToValue(item);
      break;
    }
    case nlohmann::json::value_t::object:
      *v.mutable_struct_value() = JsonToStruct(j);
      break;
    case nlohmann::json::value_t::binary:
      throw Error(ErrorCode::kInvalidArgument, "binary JSON values are not supported");
  }
  return v;
}

}  // namespace

google::protobuf::Struct JsonToStruct(const nlohmann::json& object) {
  if (!object.is_object()) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("expected a JSON object, got ") + object.type_name());
  }
  // The conversion recurses once per level: refuse what is deeper than any resource may be first.
  if (JsonDepth(object) > kMaxDocumentDepth)
    throw Error(ErrorCode::kInvalidArgument, DepthMessage());
  google::protobuf::Struct s;
  auto* fields = s.mutable_fields();
  for (const auto& [key, value] : object.items()) (*fields)[key] = JsonToValue(value);
  return s;
}

nlohmann::json ValueToJson(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      return nullptr;
    case google::protobuf::Value::kBoolValue:
      return v.bool_value();
    case google::protobuf::Value::kNumberValue: {
      const double d = v.number_value();
      constexpr double kMaxExact = 9007199254740992.0;  // 2^53
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= kMaxExact) {
        return static_cast<std::int64_t>(d);
      }
      return d;
    }
    case google::protobuf::Value::kStringValue:
      return v.string_value();
    case google::protobuf::Value::kStructValue:
      return StructToJson(v.struct_value());
    case google::protobuf::Value::kListValue: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : v.list_value().values()) arr.push_back(ValueToJson(item));
      return arr;
    }
  }
  return nullptr;
}

nlohmann::json StructToJson(const google::protobuf::Struct& s) {
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& [key, value] : s.fields()) obj[key] = ValueToJson(value);
  return obj;
}

google::protobuf::Timestamp ToTimestamp(SystemTime t) {
  const std::int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  std::int64_t secs = ns / 1'000'000'000;
  std::int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    secs -= 1;
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(secs);
  ts.set_nanos(static_cast<std::int32_t>(nanos));
  return ts;
}

SystemTime FromTimestamp(const google::protobuf::Timestamp& ts) {
  // Saturating: a time point holds nanoseconds in 64 bits (about +-292 years around 1970), so
  // seconds beyond +-9*10^9 (client-set values such as -2^63) are clamped instead of overflowing.
  constexpr std::int64_t kLimit = 9'000'000'000;
  const std::int64_t seconds = std::clamp<std::int64_t>(ts.seconds(), -kLimit, kLimit);
  const std::int32_t nanos = std::clamp<std::int32_t>(ts.nanos(), 0, 999'999'999);
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(
      std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos)));
}

namespace {

// Where a google.protobuf.Struct sits in a message, as a path of JSON keys and list indexes.
struct StructSlot {
  std::vector<std::variant<std::string, std::size_t>> path;
  const google::protobuf::Struct* value;
};

// Replaces every Struct field (singular or repeated, at any message depth; map fields are left
// alone) by an empty one and records where it was.
void ExtractStructs(google::protobuf::Message& message, std::vector<StructSlot>& slots,
                    std::vector<std::variant<std::string, std::size_t>>& path,
                    std::vector<std::unique_ptr<google::protobuf::Struct>>& storage) {
  using google::protobuf::FieldDescriptor;
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || field->is_map()) continue;
    const bool is_struct =
        field->message_type()->full_name() == google::protobuf::Struct::descriptor()->full_name();
    const bool well_known = field->message_type()->file()->package() == "google.protobuf";
    if (!is_struct && well_known) continue;  // Timestamp and friends print as protobuf does
    path.emplace_back(field->name());
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      if (field->is_repeated()) path.emplace_back(static_cast<std::size_t>(i));
      google::protobuf::Message* child =
          field->is_repeated() ? reflection->MutableRepeatedMessage(&message, field, i)
                               : reflection->MutableMessage(&message, field);
      if (is_struct) {
        auto& original = storage.emplace_back(std::make_unique<google::protobuf::Struct>());
        original->Swap(static_cast<google::protobuf::Struct*>(child));  // child is now empty
        slots.push_back({path, original.get()});
      } else {
        ExtractStructs(*child, slots, path, storage);
      }
      if (field->is_repeated()) path.pop_back();
    }
    path.pop_back();
  }
}

}  // namespace

std::string MessageToProtoJson(const google::protobuf::Message& message, bool multiline) {
  // protobuf's JSON printer refuses messages nested more than 64 levels ("Message too deep"),
  // which a resource of ~20 levels already is as a Struct. So Structs are printed here (by
  // StructToJson, for documents up to kMaxDocumentDepth) and the rest of the message by protobuf.
  std::unique_ptr<google::protobuf::Message> copy(message.New());
  copy->CopyFrom(message);
  std::vector<StructSlot> slots;
  std::vector<std::variant<std::string, std::size_t>> path;
  std::vector<std::unique_ptr<google::protobuf::Struct>> storage;
  ExtractStructs(*copy, slots, path, storage);
  for (const StructSlot& slot : slots) {
    if (StructDepth(*slot.value) > kMaxDocumentDepth) {
      throw Error(ErrorCode::kInvalidArgument, DepthMessage());
    }
  }

  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = false;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(*copy, &out, options);
  if (!status.ok()) {
    throw Error(ErrorCode::kInternal, "protojson: " + std::string(status.message()));
  }
  // Go's protojson: fields in declaration order, map (Struct) keys sorted.
  nlohmann::ordered_json json = nlohmann::ordered_json::parse(out);
  for (const StructSlot& slot : slots) {
    nlohmann::ordered_json* node = &json;
    for (const auto& step : slot.path) {
      if (const auto* key = std::get_if<std::string>(&step)) {
        node = &(*node)[*key];
      } else {
        node = &(*node)[std::get<std::size_t>(step)];
      }
    }
    *node = nlohmann::ordered_json(StructToJson(*slot.value));
  }
  constexpr auto kReplace = nlohmann::ordered_json::error_handler_t::replace;
  return multiline ? json.dump(2, ' ', false, kReplace) : json.dump(-1, ' ', false, kReplace);
}

}  // namespace common
