#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <google/protobuf/struct.pb.h>
#include <nlohmann/json.hpp>

namespace common {

// How deeply one Kubernetes resource (one JSON/YAML document) may nest: objects and arrays
// counted together, the document itself being level 1. Real manifests stay below 40 (Argo CD's
// ApplicationSet CRD nests 35 levels); every hop (CLI, hookd's HTTP and gRPC APIs, the queue in
// Postgres, the Dispatch stream, deployd) accepts up to this depth and refuses deeper documents
// with kDepthMessage. Conversions below this depth may recurse; nothing deeper is ever recursed.
inline constexpr std::size_t kMaxDocumentDepth = 512;

// Protobuf's parser refuses messages nested deeper than its recursion limit (100 by default,
// which a 32-level manifest already exceeds: every JSON object level costs three message levels
// in google.protobuf.Struct). All three programs raise it at start (InstallProtobufLimits) to a
// value that fits kMaxDocumentDepth with room to spare, so a message that one hop accepted is
// always readable by the next.
inline constexpr int kProtobufRecursionLimit = 4 * static_cast<int>(kMaxDocumentDepth) + 64;

// Sets protobuf's default recursion limit (used by gRPC's deserializer and ParseFromString) to
// kProtobufRecursionLimit. Idempotent; also done by a static initializer of this library.
void InstallProtobufLimits();

// "document is nested more than 512 levels deep (the limit for one resource)"
std::string DepthMessage();

// Nesting depth of a JSON value (a scalar is 0, `{}` and `[]` are 1), computed without recursion;
// stops counting at `stop_at` + 1.
std::size_t JsonDepth(const nlohmann::json& value, std::size_t stop_at = kMaxDocumentDepth);
// The same for a protobuf Struct (as its JSON would be).
std::size_t StructDepth(const google::protobuf::Struct& value,
                        std::size_t stop_at = kMaxDocumentDepth);

// json::parse that refuses documents nested deeper than `max_depth` with
// Error{kInvalidArgument, DepthMessage()} before the DOM grows deeper, and reports syntax errors
// as Error{kInvalidArgument, <parser message>}.
nlohmann::json ParseJsonBounded(std::string_view text, std::size_t max_depth = kMaxDocumentDepth);

}  // namespace common
