#pragma once
// What several HTTP endpoints share: response shapes, header and body reading as Go's
// encoding/json does it, the signature time window and the team signature check.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/limits.hpp"
#include "common/time.hpp"
#include "hookd/config.hpp"
#include "hookd/http/message.hpp"
#include "hookd/store/interfaces.hpp"

namespace hookd::http {

// JSON responses say so (the original sent them as text/plain).
Response Json(int status, const nlohmann::json& body);
// Plain text, marked `X-Content-Type-Options: nosniff` so that no browser reads it as HTML.
Response Text(int status, const std::string& body);
// No body and no Content-Type.
Response Empty(int status);
// 405 with the methods the path allows (`Allow: GET, POST`).
Response MethodNotAllowed(const std::vector<std::string>& allowed);

// The value of header `name` (lower case), "" when absent.
std::string Header(const Request& r, const std::string& name);
// The value of query parameter `key`, "" when absent.
std::string QueryParam(const Request& r, const std::string& key);
// Content-Type is application/json (parameters and case ignored).
bool IsJsonContentType(const Request& r);

std::int64_t NowUnix(const common::Clock& clock);
// `ts` lies within 30 s of `now`, without overflow for any `ts`: `now` is a present-day time.
bool WithinSkew(std::int64_t ts, std::int64_t now);

// Field lookup as Go's encoding/json does it: exact name first, then case-insensitive.
const nlohmann::json* Field(const nlohmann::json& object, const std::string& name);
// Typed field reads that fail like a JSON decoder: a wrong type throws
// common::Error{kInvalidArgument} `json: cannot unmarshal <type> into field <name> of type ...`.
// Absent or null: the zero value.
std::string StringOf(const nlohmann::json& object, const std::string& name);
std::int64_t IntOf(const nlohmann::json& object, const std::string& name);
bool BoolOf(const nlohmann::json& object, const std::string& name);

// The deepest body a signed endpoint accepts: a request object, its resources array, and a
// resource nested as deeply as any resource may be.
constexpr std::size_t kMaxBodyDepth = common::kMaxDocumentDepth + 2;

// The cheap first look at a signed body, before its signature is checked: the top level of a
// body that must be a JSON object (nested values reduced to empty ones), its syntax checked and
// its depth bounded, without building the resources. Throws common::Error{kInvalidArgument} with
// the parser's message, or a Go-style unmarshal error naming `go_type` when it is not an object.
nlohmann::json ScanObjectBody(const std::string& body, const std::string& go_type);

// The keys that are set and not expired at `now`.
std::vector<std::string> ValidKeys(const std::vector<store::ApiKey>& keys, common::SystemTime now);
// `mac` is the HMAC-SHA256 of `body` under one of `keys` (every key compared in constant time).
bool SignedByAny(const std::vector<std::string>& keys, const std::string& body,
                 const std::string& mac);

// Why a request is refused: its HTTP status and message.
struct Refusal {
  int status = 0;
  std::string message;
};
// nullopt when `body` is signed with any valid key of `team`. Otherwise 403 `failed
// authentication` (a team without keys fails like a wrong signature), or 502 when the key store
// failed, with the original's messages.
std::optional<Refusal> CheckTeamSignature(store::ApiKeyStore& keys, const common::Clock& clock,
                                          const std::string& team, const std::string& body,
                                          const std::string& mac);

// X-PSK is one of the configured console (frontend) keys, each compared in constant time.
bool FrontendKeyValid(const Config& config, const Request& r);

// &, <, >, ' and " as HTML entities; `quote` is the entity for the double quote.
std::string EscapeHtml(const std::string& text, const char* quote);

}  // namespace hookd::http
