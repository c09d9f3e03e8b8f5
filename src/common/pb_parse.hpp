#pragma once
// Parsing protobuf bytes from a peer with a reason when it fails. Protobuf's own parser only says
// "false" (and gRPC turns that into UNIMPLEMENTED with an empty message), so the bytes are first
// walked without recursion, guided by the message's descriptor: nesting beyond the recursion
// limit, truncated or malformed fields and strings that are not UTF-8 are named before the
// (then bounded) real parse.
#include <optional>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>

namespace common {

// Why `bytes` cannot be parsed as a `message.GetDescriptor()`, or nullopt when it can.
//   nesting deeper than `max_depth` messages: "nested more than <max_depth> messages deep";
//   anything else: "malformed protobuf at byte <offset>: <what>" or
//   "field <full name> at byte <offset> is not valid UTF-8".
// Never recurses; costs one pass over the bytes.
std::optional<std::string> CheckWireFormat(std::string_view bytes,
                                           const google::protobuf::Descriptor& type, int max_depth);

// Outcome of ParseBounded.
struct ParseProblem {
  bool too_deep = false;  // nesting beyond the limit (else: malformed)
  std::string detail;     // CheckWireFormat's text
};

// Parses `bytes` into `message` (cleared first). Nesting is bounded by the protobuf recursion
// limit of common/limits.hpp (kProtobufRecursionLimit, minus a margin). nullopt on success.
std::optional<ParseProblem> ParseBounded(std::string_view bytes,
                                         google::protobuf::Message& message);

}  // namespace common
