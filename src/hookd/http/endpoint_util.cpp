#include "hookd/http/endpoint_util.hpp"

#include <cctype>
#include <chrono>
#include <utility>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/html.hpp"

namespace hookd::http {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxSkewSeconds = 30;

// The cheap first look at a signed body, before its signature is checked: one pass over the raw
// bytes that keeps only the top level (scalars as they are; an array as an array of at most one
// null, an object as an empty object), checks the syntax and refuses documents nested deeper than
// a request may be. No DOM of the resources is built, so an unsigned body costs its own size and
// one scan. Errors have the parser's own text (the same as json::parse would give).
class ShallowScan final : public nlohmann::json_sax<json> {
 public:
  explicit ShallowScan(std::size_t max_depth) : max_depth_(max_depth) {}

  bool null() override { return Scalar(nullptr); }
  bool boolean(bool v) override { return Scalar(v); }
  bool number_integer(number_integer_t v) override { return Scalar(v); }
  bool number_unsigned(number_unsigned_t v) override { return Scalar(v); }
  bool number_float(number_float_t v, const string_t&) override { return Scalar(v); }
  bool string(string_t& v) override { return Scalar(v); }
  bool binary(binary_t&) override { return Scalar(nullptr); }
  bool start_object(std::size_t) override { return Open(json::object()); }
  bool start_array(std::size_t) override { return Open(json::array()); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    return false;
  }

  // The top level of the document; throws Error{kInvalidArgument} with the parser's message.
  json Take(const std::string& body) {
    if (body.empty()) {
      throw common::Error(common::ErrorCode::kInvalidArgument, "unexpected end of JSON input");
    }
    const bool ok = json::sax_parse(body, this);
    if (!ok || !error_.empty()) {
      throw common::Error(common::ErrorCode::kInvalidArgument,
                          error_.empty() ? common::DepthMessage() : error_);
    }
    return std::move(root_);
  }

 private:
  bool Scalar(json value) {
    Element(std::move(value));
    return true;
  }
  bool Open(json empty) {
    if (depth_ == 1) top_array_ = empty.is_array();
    Element(std::move(empty));
    return ++depth_ <= max_depth_;  // false ends sax_parse: too deep
  }
  bool Close() {
    --depth_;
    return true;
  }
  // A value starts at the current depth.
  void Element(json value) {
    if (depth_ == 0) {
      root_ = std::move(value);
    } else if (depth_ == 1) {
      if (root_.is_object()) {
        root_[key_] = std::move(value);  // the last of duplicate keys wins, as in Go
      } else if (root_.empty()) {
        root_.push_back(nullptr);
      }
    } else if (depth_ == 2 && top_array_ && root_.is_object()) {
      json& member = root_[key_];
      if (member.empty()) member.push_back(nullptr);
    }
  }

  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool top_array_ = false;  // the open top-level member is an array
  std::string key_;
  json root_;
  std::string error_;
};

}  // namespace

Response Json(int status, const json& body) {
  return Response{status, "application/json", body.dump() + "\n", {}};
}

Response Text(int status, const std::string& body) {
  return Response{
      status, "text/plain; charset=utf-8", body, {{"X-Content-Type-Options", "nosniff"}}};
}

Response Empty(int status) { return Response{status, "", "", {}}; }

std::string Header(const Request& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

bool IsJsonContentType(const Request& r) {
  std::string type = Header(r, "content-type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  while (!type.empty() && type.front() == ' ') type.erase(0, 1);
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type == "application/json";
}

std::int64_t NowUnix(const common::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

// Without overflow for any `ts` (-2^63 and 2^63-1 included): `now` is a present-day time.
bool WithinSkew(std::int64_t ts, std::int64_t now) {
  return ts >= now - kMaxSkewSeconds && ts <= now + kMaxSkewSeconds;
}

// Field lookup as Go's encoding/json does it: exact name first, then case-insensitive.
const json* Field(const json& object, const std::string& name) {
  if (!object.is_object()) return nullptr;
  if (auto it = object.find(name); it != object.end()) return &*it;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key().size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(it.key()[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return &*it;
  }
  return nullptr;
}

// Typed field reads that fail like a JSON decoder: wrong type -> error.
std::string StringOf(const json& object, const std::string& name) {
  const json* f = Field(object, name);
  if (f == nullptr || f->is_null()) return "";
  if (!f->is_string()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "json: cannot unmarshal " + std::string(f->type_name()) + " into field " +
                            name + " of type string");
  }
  return f->get<std::string>();
}

std::int64_t IntOf(const json& object, const std::string& name) {
  const json* f = Field(object, name);
  if (f == nullptr || f->is_null()) return 0;
  if (!f->is_number_integer()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "json: cannot unmarshal " + std::string(f->type_name()) + " into field " +
                            name + " of type int64");
  }
  return f->get<std::int64_t>();
}

bool BoolOf(const json& object, const std::string& name) {
  const json* f = Field(object, name);
  if (f == nullptr || f->is_null()) return false;
  if (!f->is_boolean()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "json: cannot unmarshal " + std::string(f->type_name()) + " into field " +
                            name + " of type bool");
  }
  return f->get<bool>();
}

// ShallowScan of a body that must be a JSON object; a Go-style unmarshal error when it is not.
json ScanObjectBody(const std::string& body, const std::string& go_type) {
  json top = ShallowScan(kMaxBodyDepth).Take(body);
  if (!top.is_object()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "json: cannot unmarshal " + std::string(top.type_name()) +
                            " into Go value of type " + go_type);
  }
  return top;
}

std::vector<std::string> ValidKeys(const std::vector<store::ApiKey>& keys, common::SystemTime now) {
  std::vector<std::string> out;
  for (const auto& k : keys) {
    if (!k.key.empty() && k.expires > now) out.push_back(k.key);
  }
  return out;
}

bool SignedByAny(const std::vector<std::string>& keys, const std::string& body,
                 const std::string& mac) {
  bool ok = false;
  for (const auto& key : keys) ok |= common::ConstantTimeEqual(common::HmacSha256(key, body), mac);
  return ok;
}

// &, <, >, ' and " as HTML entities; `quote` is the entity for the double quote.
std::string EscapeHtml(const std::string& text, const char* quote) {
  return common::EscapeHtml(text, quote, "&#39;");
}

Response MethodNotAllowed(const std::vector<std::string>& allowed) {
  std::string methods;
  for (const auto& m : allowed) methods += (methods.empty() ? "" : ", ") + m;
  return Response{405, "", "", {{"Allow", methods}}};
}

std::string QueryParam(const Request& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? std::string() : it->second;
}

std::optional<Refusal> CheckTeamSignature(store::ApiKeyStore& keys, const common::Clock& clock,
                                          const std::string& team, const std::string& body,
                                          const std::string& mac) {
  const Refusal invalid{403, "failed authentication"};
  const Refusal backend{502, "something wrong happened when communicating with api key service"};
  std::vector<store::ApiKey> team_keys;
  try {
    team_keys = keys.ApiKeys(team);
  } catch (const common::Error& e) {
    return e.Code() == common::ErrorCode::kNotFound ? invalid : backend;
  } catch (const std::exception&) {
    return backend;
  }
  if (SignedByAny(ValidKeys(team_keys, clock.Now()), body, mac)) return std::nullopt;
  return invalid;
}

bool FrontendKeyValid(const Config& config, const Request& r) {
  const std::string psk = Header(r, "x-psk");
  bool allowed = false;
  for (const auto& k : config.frontend_keys) allowed |= common::ConstantTimeEqual(k, psk);
  return allowed;
}

}  // namespace hookd::http
