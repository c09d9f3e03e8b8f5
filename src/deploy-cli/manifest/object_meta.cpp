#include "deploy-cli/manifest/object_meta.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/json_path.hpp"
#include "deploy-cli/template/handlebars.hpp"

namespace deploy_cli {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// The Go types ObjectMeta is made of (k8s.io/apimachinery/pkg/apis/meta/v1), as far as
// encoding/json sees them.

enum class Kind { kString, kInt64, kBool, kTime, kStringMap, kSlice, kStruct, kRawJson };

struct Type;
struct Field {
  std::string_view name;  // the json tag
  const Type* type;
  bool pointer;    // *T: null sets nil, nil is omitted
  bool omitempty;  // no effect on a struct (Time) that is not a pointer
};

struct Type {
  Kind kind;
  std::string_view go_name;      // as Go prints the type in errors
  std::string_view struct_name;  // kStruct: the name Go puts before the field path
  const Type* elem = nullptr;    // kSlice
  std::vector<Field> fields;     // kStruct
};

const Type kString{Kind::kString, "string", "", nullptr, {}};
const Type kUid{Kind::kString, "types.UID", "", nullptr, {}};
const Type kOperation{Kind::kString, "v1.ManagedFieldsOperationType", "", nullptr, {}};
const Type kInt64{Kind::kInt64, "int64", "", nullptr, {}};
const Type kBool{Kind::kBool, "bool", "", nullptr, {}};
const Type kTime{Kind::kTime, "v1.Time", "", nullptr, {}};
const Type kRawFields{Kind::kRawJson, "v1.FieldsV1", "", nullptr, {}};
const Type kStringMap{Kind::kStringMap, "map[string]string", "", &kString, {}};
const Type kStrings{Kind::kSlice, "[]string", "", &kString, {}};
const Type kOwnerReference{Kind::kStruct,
                           "v1.OwnerReference",
                           "OwnerReference",
                           nullptr,
                           {{"apiVersion", &kString, false, false},
                            {"kind", &kString, false, false},
                            {"name", &kString, false, false},
                            {"uid", &kUid, false, false},
                            {"controller", &kBool, true, true},
                            {"blockOwnerDeletion", &kBool, true, true}}};
const Type kOwnerReferences{Kind::kSlice, "[]v1.OwnerReference", "", &kOwnerReference, {}};
const Type kManagedFieldsEntry{Kind::kStruct,
                               "v1.ManagedFieldsEntry",
                               "ManagedFieldsEntry",
                               nullptr,
                               {{"manager", &kString, false, true},
                                {"operation", &kOperation, false, true},
                                {"apiVersion", &kString, false, true},
                                {"time", &kTime, true, true},
                                {"fieldsType", &kString, false, true},
                                {"fieldsV1", &kRawFields, true, true},
                                {"subresource", &kString, false, true}}};
const Type kManagedFields{Kind::kSlice, "[]v1.ManagedFieldsEntry", "", &kManagedFieldsEntry, {}};
const Type kObjectMeta{Kind::kStruct,
                       "v1.ObjectMeta",
                       "ObjectMeta",
                       nullptr,
                       {{"name", &kString, false, true},
                        {"generateName", &kString, false, true},
                        {"namespace", &kString, false, true},
                        {"selfLink", &kString, false, true},
                        {"uid", &kUid, false, true},
                        {"resourceVersion", &kString, false, true},
                        {"generation", &kInt64, false, true},
                        {"creationTimestamp", &kTime, false, true},
                        {"deletionTimestamp", &kTime, true, true},
                        {"deletionGracePeriodSeconds", &kInt64, true, true},
                        {"labels", &kStringMap, false, true},
                        {"annotations", &kStringMap, false, true},
                        {"ownerReferences", &kOwnerReferences, false, true},
                        {"finalizers", &kStrings, false, true},
                        {"managedFields", &kManagedFields, false, true}}};

// The number as the original's JSON carries it (json.Marshal of the YAML value): integers as
// digits, floats in 'f' form, or 'e' form below 1e-6 and from 1e21 on ("1e+21", "1.5e-7").
std::string GoJsonNumber(const json& value) {
  if (!value.is_number_float()) return value.dump();
  const double d = value.get<double>();
  const double magnitude = std::fabs(d);
  if (magnitude != 0 && (magnitude < 1e-6 || magnitude >= 1e21)) {
    std::string text = GoFormatFloat(d, 'e');
    const auto n = text.size();
    if (n >= 4 && text[n - 4] == 'e' && text[n - 3] == '-' && text[n - 2] == '0') {
      text.erase(n - 2, 1);  // e-07 -> e-7
    }
    return text;
  }
  return GoFormatFloat(d, 'f');
}

// strconv.ParseInt(text, 10, 64).
std::optional<std::int64_t> ParseInt64(const std::string& text) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  if (i == text.size()) return std::nullopt;
  std::uint64_t magnitude = 0;
  const std::uint64_t limit = negative ? (std::uint64_t{1} << 63) : (std::uint64_t{1} << 63) - 1;
  for (; i < text.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (magnitude > (limit - digit) / 10) return std::nullopt;
    magnitude = magnitude * 10 + digit;
  }
  if (negative)
    return magnitude == (std::uint64_t{1} << 63) ? INT64_MIN
                                                 : -static_cast<std::int64_t>(magnitude);
  return static_cast<std::int64_t>(magnitude);
}

// ---------------------------------------------------------------------------------------------
// time.Parse(time.RFC3339, ...)

constexpr std::string_view kRfc3339 = "2006-01-02T15:04:05Z07:00";

// The time package's quote(): `"` and `\` escaped, bytes outside printable ASCII as \xNN.
std::string TimeQuote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 || byte < 0x20) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  return out + "\"";
}

[[noreturn]] void TimeFail(std::string_view value, std::string_view value_elem,
                           std::string_view layout_elem) {
  throw ObjectMetaError(fmt::format("parsing time {} as {}: cannot parse {} as {}",
                                    TimeQuote(value), TimeQuote(kRfc3339), TimeQuote(value_elem),
                                    TimeQuote(layout_elem)));
}

[[noreturn]] void TimeFailMessage(std::string_view value, const std::string& message) {
  throw ObjectMetaError(fmt::format("parsing time {}{}", TimeQuote(value), message));
}

bool IsDigit(std::string_view s, std::size_t i) {
  return i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]));
}

// getnum: one or two digits (exactly two when `fixed`); false on errBad.
bool GetNum(std::string_view& s, bool fixed, int& out) {
  if (!IsDigit(s, 0)) return false;
  if (!IsDigit(s, 1)) {
    if (fixed) return false;
    out = s[0] - '0';
    s.remove_prefix(1);
    return true;
  }
  out = (s[0] - '0') * 10 + (s[1] - '0');
  s.remove_prefix(2);
  return true;
}

bool IsLeap(long long year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int DaysIn(int month, long long year) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeap(year) ? 29 : kDays[month - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long long DaysFromCivil(long long y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const long long yoe = y - era * 400;
  const long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

GoTime ParseGoRfc3339(const std::string& text) {
  std::string_view value = text;
  auto skip = [&](char literal) {
    if (value.empty() || value.front() != literal) TimeFail(text, value, std::string(1, literal));
    value.remove_prefix(1);
  };
  auto range_fail = [&](std::string_view what) {
    TimeFailMessage(text, fmt::format(": {} out of range", what));
  };
  // 2006
  if (value.size() < 4 || !IsDigit(value, 0)) TimeFail(text, value, "2006");
  long long year = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    if (!IsDigit(value, i)) TimeFail(text, value, "2006");
    year = year * 10 + (value[i] - '0');
  }
  value.remove_prefix(4);
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  int nanos = 0;
  skip('-');
  std::string_view hold = value;
  if (!GetNum(value, true, month)) TimeFail(text, hold, "01");
  if (month <= 0 || month > 12) range_fail("month");
  skip('-');
  hold = value;
  if (!GetNum(value, true, day)) TimeFail(text, hold, "02");
  skip('T');
  hold = value;
  if (!GetNum(value, false, hour)) TimeFail(text, hold, "15");
  if (hour >= 24) range_fail("hour");
  skip(':');
  hold = value;
  if (!GetNum(value, true, minute)) TimeFail(text, hold, "04");
  if (minute >= 60) range_fail("minute");
  skip(':');
  hold = value;
  if (!GetNum(value, true, second)) TimeFail(text, hold, "05");
  if (second >= 60) range_fail("second");
  // A fractional second is accepted although the layout has none.
  if (value.size() >= 2 && (value[0] == '.' || value[0] == ',') && IsDigit(value, 1)) {
    std::size_t n = 2;
    while (IsDigit(value, n)) ++n;
    long long ns = 0;
    const std::size_t used = std::min<std::size_t>(n, 10);
    for (std::size_t i = 1; i < used; ++i) ns = ns * 10 + (value[i] - '0');
    for (std::size_t i = used; i < 10; ++i) ns *= 10;
    nanos = static_cast<int>(ns);
    value.remove_prefix(n);
  }
  // Z07:00
  hold = value;
  long long offset = 0;
  if (!value.empty() && value.front() == 'Z') {
    value.remove_prefix(1);
  } else {
    if (value.size() < 6 || value[3] != ':') TimeFail(text, hold, "Z07:00");
    std::string_view hh = value.substr(1, 2);
    std::string_view mm = value.substr(4, 2);
    int offset_hours = 0;
    int offset_minutes = 0;
    const bool ok = GetNum(hh, true, offset_hours) && GetNum(mm, true, offset_minutes);
    const char sign = value[0];
    value.remove_prefix(6);
    if (offset_hours > 24) range_fail("time zone offset hour");
    if (offset_minutes > 60) range_fail("time zone offset minute");
    if (!ok || (sign != '+' && sign != '-')) TimeFail(text, hold, "Z07:00");
    offset = (offset_hours * 60LL + offset_minutes) * 60 * (sign == '-' ? -1 : 1);
  }
  if (!value.empty()) TimeFailMessage(text, ": extra text: " + TimeQuote(value));
  if (day < 1 || day > DaysIn(month, year)) TimeFailMessage(text, ": day out of range");
  GoTime out;
  out.seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600LL + minute * 60LL + second - offset;
  out.nanos = nanos;
  return out;
}

std::string FormatGoRfc3339(long long seconds) {
  long long days = seconds / 86400;
  long long rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  // civil_from_days
  const long long z = days + 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const long long doe = z - era * 146097;
  const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long long mp = (5 * doy + 2) / 153;
  const long long d = doy - (153 * mp + 2) / 5 + 1;
  const long long m = mp < 10 ? mp + 3 : mp - 9;
  const long long y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const std::string year = y < 0 ? fmt::format("-{:04d}", -y) : fmt::format("{:04d}", y);
  return fmt::format("{}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z", year, m, d, rest / 3600,
                     rest / 60 % 60, rest % 60);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Decoding (encoding/json into the types above) and encoding (json.Marshal).

class Decoder {
 public:
  // Decodes `in` into `target` (the Go value so far: null for nil/zero).
  void Decode(const json& in, const Type& type, bool pointer, json& target) {
    if (in.is_null()) {
      // null: pointers, maps and slices become nil; other values keep what they had; a Time
      // (an Unmarshaler) becomes the zero time.
      if (pointer || type.kind == Kind::kStringMap || type.kind == Kind::kSlice ||
          type.kind == Kind::kTime || type.kind == Kind::kRawJson) {
        target = nullptr;
      }
      return;
    }
    switch (type.kind) {
      case Kind::kString:
        if (in.is_string()) {
          target = in;
        } else {
          Save(common::GoJsonTypeName(in), type.go_name);
        }
        return;
      case Kind::kInt64: {
        if (!in.is_number()) {
          Save(common::GoJsonTypeName(in), type.go_name);
          return;
        }
        const std::string text = GoJsonNumber(in);
        if (auto n = ParseInt64(text)) {
          target = *n;
        } else {
          Save("number " + text, type.go_name);
        }
        return;
      }
      case Kind::kBool:
        if (in.is_boolean()) {
          target = in;
        } else {
          Save(common::GoJsonTypeName(in), type.go_name);
        }
        return;
      case Kind::kTime: {
        // metav1.Time.UnmarshalJSON: a string in RFC 3339; its errors end decoding at once.
        if (!in.is_string()) throw ObjectMetaError(TypeError(common::GoJsonTypeName(in), "string"));
        const GoTime t = ParseGoRfc3339(in.get<std::string>());
        constexpr long long kZeroTime = -62135596800;  // 0001-01-01T00:00:00Z: Time.IsZero
        target = t.seconds == kZeroTime && t.nanos == 0 ? json(nullptr)
                                                        : json(FormatGoRfc3339(t.seconds));
        return;
      }
      case Kind::kRawJson:
        target = in;
        return;
      case Kind::kStringMap:
        if (!in.is_object()) {
          Save(common::GoJsonTypeName(in), type.go_name);
          return;
        }
        if (!target.is_object()) target = json::object();
        for (const auto& [key, item] : in.items()) {
          json value = "";
          Decode(item, *type.elem, false, value);
          target[key] = std::move(value);
        }
        return;
      case Kind::kSlice:
        if (!in.is_array()) {
          Save(common::GoJsonTypeName(in), type.go_name);
          return;
        }
        target = json::array();
        for (const json& item : in) {
          json value = type.elem->kind == Kind::kString ? json("") : json(nullptr);
          Decode(item, *type.elem, false, value);
          target.push_back(std::move(value));
        }
        return;
      case Kind::kStruct:
        DecodeStruct(in, type, target);
        return;
    }
  }

  // The first saved type error, as json.Unmarshal returns it after decoding everything.
  const std::optional<std::string>& SavedError() const { return saved_; }

 private:
  void DecodeStruct(const json& in, const Type& type, json& target) {
    if (!in.is_object()) {
      Save(common::GoJsonTypeName(in), type.go_name);
      return;
    }
    if (!target.is_object()) target = json::object();
    for (const auto& [key, item] : in.items()) {  // sorted, as the original's JSON
      const Field* field = Find(type, key);
      if (field == nullptr) continue;  // unknown keys are dropped
      path_.emplace_back(field->name);
      const std::string_view outer = struct_;
      struct_ = type.struct_name;
      json& value = target[std::string(field->name)];
      Decode(item, *field->type, field->pointer, value);
      struct_ = outer;
      path_.pop_back();
    }
  }

  // encoding/json matches a key to a field exactly, else ignoring ASCII case.
  static const Field* Find(const Type& type, const std::string& key) {
    for (const Field& field : type.fields) {
      if (field.name == key) return &field;
    }
    for (const Field& field : type.fields) {
      if (field.name.size() == key.size() &&
          std::equal(key.begin(), key.end(), field.name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        return &field;
      }
    }
    return nullptr;
  }

  std::string TypeError(const std::string& value, std::string_view go_type) const {
    std::string path;
    for (const std::string& part : path_) path += (path.empty() ? "" : ".") + part;
    return fmt::format("json: cannot unmarshal {} into Go struct field {}.{} of type {}", value,
                       struct_, path, go_type);
  }

  void Save(const std::string& value, std::string_view go_type) {
    if (!saved_) saved_ = TypeError(value, go_type);
  }

  std::vector<std::string> path_;
  std::string_view struct_;
  std::optional<std::string> saved_;
};

// json.Marshal of a decoded struct.
json Encode(const json& value, const Type& type) {
  json out = json::object();
  for (const Field& field : type.fields) {
    const std::string name(field.name);
    const auto it = value.find(name);
    const json* v = it == value.end() || it->is_null() ? nullptr : &*it;
    switch (field.type->kind) {
      case Kind::kString:
      case Kind::kInt64:
      case Kind::kBool: {
        if (field.pointer) {
          if (v != nullptr)
            out[name] = *v;
          else if (!field.omitempty)
            out[name] = nullptr;
          break;
        }
        json zero = field.type->kind == Kind::kString  ? json("")
                    : field.type->kind == Kind::kInt64 ? json(0)
                                                       : json(false);
        const json& actual = v != nullptr ? *v : zero;
        if (!(field.omitempty && actual == zero)) out[name] = actual;
        break;
      }
      case Kind::kTime:
      case Kind::kRawJson:
        // A Time value is always written (null when zero); a pointer only when set.
        if (v != nullptr)
          out[name] = *v;
        else if (!field.pointer || !field.omitempty)
          out[name] = nullptr;
        break;
      case Kind::kStringMap:
      case Kind::kSlice: {
        const bool empty = v == nullptr || v->empty();
        if (field.omitempty && empty) break;
        if (v == nullptr) {
          out[name] = nullptr;
        } else if (field.type->kind == Kind::kSlice && field.type->elem->kind == Kind::kStruct) {
          json items = json::array();
          for (const json& item : *v) items.push_back(Encode(item, *field.type->elem));
          out[name] = std::move(items);
        } else {
          out[name] = *v;
        }
        break;
      }
      case Kind::kStruct:
        out[name] = Encode(v != nullptr ? *v : json::object(), *field.type);
        break;
    }
  }
  return out;
}

}  // namespace

json RoundTripObjectMeta(const json& metadata) {
  Decoder decoder;
  json decoded = json::object();
  if (metadata.is_object()) {
    decoder.Decode(metadata, kObjectMeta, false, decoded);
  } else if (!metadata.is_null()) {
    throw ObjectMetaError(
        fmt::format("json: cannot unmarshal {} into Go value of type v1.ObjectMeta",
                    common::GoJsonTypeName(metadata)));
  }
  if (decoder.SavedError()) throw ObjectMetaError(*decoder.SavedError());
  return Encode(decoded, kObjectMeta);
}

}  // namespace deploy_cli
