#pragma once
// Protobuf wire bytes written by hand, for requests nested deeper than protobuf's own serialiser
// (which recurses once per level) can write, or malformed on purpose.
#include <cstddef>
#include <string>
#include <vector>

#include "deployment.pb.h"

namespace testsupport::wire {

// A base-128 varint.
inline std::string Varint(std::size_t n) {
  std::string out;
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7F) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
  return out;
}

// The key of a length-delimited field.
inline std::string Tag(int field) { return std::string(1, static_cast<char>((field << 3) | 2)); }

// A pb.DeploymentRequest of `fields` (other fields' bytes, in front) and one resource that nests
// `levels` objects ({"x": {"x": ...}}), in linear time. A Struct is field 1 (map entry: key 1,
// value 2), a Value's struct_value field 5: three messages per level. Nothing follows the
// innermost Struct, so the bytes end with the levels' prefixes, outermost first.
inline std::string DeepRequestBytes(int levels, const std::string& fields = "") {
  std::vector<std::string> prefixes;
  std::size_t inner = 0;  // size of the Struct inside the current level
  for (int i = 0; i < levels; ++i) {
    const std::size_t value = 1 + Varint(inner).size() + inner;
    const std::string key = Tag(1) + Varint(1) + "x";
    const std::size_t entry = key.size() + 1 + Varint(value).size() + value;
    prefixes.push_back(Tag(1) + Varint(entry) + key + Tag(2) + Varint(value) + Tag(5) +
                       Varint(inner));
    inner = 1 + Varint(entry).size() + entry;
  }
  std::string bytes = fields;
  const std::size_t resources = 1 + Varint(inner).size() + inner;
  bytes += Tag(pb::DeploymentRequest::kKubernetesFieldNumber) + Varint(resources);
  bytes += Tag(1) + Varint(inner);
  for (auto it = prefixes.rbegin(); it != prefixes.rend(); ++it) bytes += *it;
  return bytes;
}

}  // namespace testsupport::wire
