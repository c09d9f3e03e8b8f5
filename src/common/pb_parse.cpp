#include "common/pb_parse.hpp"

#include <cstdint>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>

#include "common/limits.hpp"

namespace common {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), as protobuf checks
// proto3 strings.
bool IsValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      code = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      code = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      code = c & 0x07u;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0u) != 0x80u) return false;
      code = (code << 6) | (next & 0x3Fu);
    }
    if ((length == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
        (length == 4 && (code < 0x10000 || code > 0x10FFFF))) {
      return false;
    }
    i += length;
  }
  return true;
}

// One message being walked: its type (nullptr: unknown group), where it ends, and for a group the
// field number whose END_GROUP closes it (0 for length-delimited messages).
struct Frame {
  const Descriptor* type;
  std::size_t end;
  std::uint32_t group = 0;
};

class Walker {
 public:
  Walker(std::string_view bytes, int max_depth) : bytes_(bytes), max_depth_(max_depth) {}

  std::optional<std::string> Walk(const Descriptor& type) {
    std::vector<Frame> stack{{&type, bytes_.size()}};
    while (!stack.empty()) {
      const Frame frame = stack.back();
      if (pos_ == frame.end) {
        if (frame.group != 0) return Malformed("group without its end");
        stack.pop_back();
        continue;
      }
      const std::size_t field_start = pos_;
      const auto tag = Varint(frame.end);
      if (!tag) return MalformedAt(field_start, "truncated field tag");
      const auto number = static_cast<std::uint32_t>(*tag >> 3);
      const auto wire_type = static_cast<unsigned>(*tag & 7u);
      if (number == 0 || *tag > 0xFFFFFFFFu) return MalformedAt(field_start, "invalid field tag");
      const FieldDescriptor* field =
          frame.type != nullptr ? frame.type->FindFieldByNumber(static_cast<int>(number)) : nullptr;
      switch (wire_type) {
        case 0:
          if (!Varint(frame.end)) return MalformedAt(field_start, "truncated varint");
          break;
        case 1:
        case 5: {
          const std::size_t width = wire_type == 1 ? 8 : 4;
          if (frame.end - pos_ < width) return MalformedAt(field_start, "truncated fixed field");
          pos_ += width;
          break;
        }
        case 2: {
          const auto length = Varint(frame.end);
          if (!length || *length > frame.end - pos_) {
            return MalformedAt(field_start, "length beyond the end of the message");
          }
          const auto size = static_cast<std::size_t>(*length);
          if (field != nullptr && field->type() == FieldDescriptor::TYPE_MESSAGE) {
            if (static_cast<int>(stack.size()) > max_depth_) return TooDeep();
            stack.push_back({field->message_type(), pos_ + size});
            break;  // the submessage's fields follow
          }
          if (field != nullptr && field->type() == FieldDescriptor::TYPE_STRING &&
              field->file()->syntax() == FileDescriptor::SYNTAX_PROTO3 &&
              !IsValidUtf8(bytes_.substr(pos_, size))) {
            return fmt::format("field {} at byte {} is not valid UTF-8", field->full_name(),
                               field_start);
          }
          pos_ += size;
          break;
        }
        case 3: {
          if (static_cast<int>(stack.size()) > max_depth_) return TooDeep();
          const Descriptor* group_type =
              field != nullptr && field->type() == FieldDescriptor::TYPE_GROUP
                  ? field->message_type()
                  : nullptr;
          stack.push_back({group_type, frame.end, number});
          break;
        }
        case 4:
          if (frame.group != number) return MalformedAt(field_start, "unexpected end of group");
          stack.pop_back();
          break;
        default:
          return MalformedAt(field_start, fmt::format("invalid wire type {}", wire_type));
      }
    }
    if (pos_ != bytes_.size()) return Malformed("trailing bytes");
    return std::nullopt;
  }

  bool too_deep() const { return too_deep_; }

 private:
  std::optional<std::uint64_t> Varint(std::size_t end) {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end) return std::nullopt;
      const auto byte = static_cast<unsigned char>(bytes_[pos_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7Fu) << shift;
      if ((byte & 0x80u) == 0) return value;
    }
    return std::nullopt;
  }

  std::string TooDeep() {
    too_deep_ = true;
    return fmt::format("nested more than {} messages deep", max_depth_);
  }
  std::string Malformed(std::string_view what) const { return MalformedAt(pos_, what); }
  static std::string MalformedAt(std::size_t offset, std::string_view what) {
    return fmt::format("malformed protobuf at byte {}: {}", offset, what);
  }

  std::string_view bytes_;
  int max_depth_;
  std::size_t pos_ = 0;
  bool too_deep_ = false;
};

}  // namespace

std::optional<std::string> CheckWireFormat(std::string_view bytes, const Descriptor& type,
                                           int max_depth) {
  return Walker(bytes, max_depth).Walk(type);
}

std::optional<ParseProblem> ParseBounded(std::string_view bytes,
                                         google::protobuf::Message& message) {
  message.Clear();
  // A margin below protobuf's limit: whatever the walk lets through, the parser accepts.
  Walker walker(bytes, kProtobufRecursionLimit - 8);
  if (auto problem = walker.Walk(*message.GetDescriptor())) {
    return ParseProblem{walker.too_deep(), *problem};
  }
  if (bytes.size() > static_cast<std::size_t>(INT32_MAX) ||
      !message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    message.Clear();
    return ParseProblem{false, "not a valid " + message.GetDescriptor()->full_name()};
  }
  return std::nullopt;
}

}  // namespace common
