#include "common/limits.hpp"

#include <utility>
#include <vector>

#include <google/protobuf/io/coded_stream.h>

#include "common/error.hpp"

namespace common {
namespace {

// Protobuf 3.21 keeps its default recursion limit in a private static member with no setter; an
// explicit instantiation may name a private member, which lets this one function reach it.
int* DefaultRecursionLimit();
template <int* Limit>
struct RecursionLimitAccess {
  friend int* DefaultRecursionLimit() { return Limit; }
};
template struct RecursionLimitAccess<
    &google::protobuf::io::CodedInputStream::default_recursion_limit_>;

const bool kInstalled = [] {
  InstallProtobufLimits();
  return true;
}();

}  // namespace

void InstallProtobufLimits() {
  (void)kInstalled;
  *DefaultRecursionLimit() = kProtobufRecursionLimit;
}

std::string DepthMessage() {
  return "document is nested more than " + std::to_string(kMaxDocumentDepth) +
         " levels deep (the limit for one resource)";
}

std::size_t JsonDepth(const nlohmann::json& value, std::size_t stop_at) {
  std::size_t deepest = 0;
  std::vector<std::pair<const nlohmann::json*, std::size_t>> stack{{&value, 0}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (!node->is_structured()) continue;
    ++depth;
    if (depth > deepest) deepest = depth;
    if (deepest > stop_at) return deepest;
    for (const auto& child : *node) stack.emplace_back(&child, depth);
  }
  return deepest;
}

std::size_t StructDepth(const google::protobuf::Struct& value, std::size_t stop_at) {
  using google::protobuf::Value;
  std::size_t deepest = 1;
  std::vector<std::pair<const Value*, std::size_t>> stack;
  for (const auto& [key, child] : value.fields()) stack.emplace_back(&child, 1);
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    if (node->kind_case() == Value::kStructValue) {
      ++depth;
      for (const auto& [key, child] : node->struct_value().fields())
        stack.emplace_back(&child, depth);
    } else if (node->kind_case() == Value::kListValue) {
      ++depth;
      for (const auto& child : node->list_value().values()) stack.emplace_back(&child, depth);
    } else {
      continue;
    }
    if (depth > deepest) deepest = depth;
    if (deepest > stop_at) return deepest;
  }
  return deepest;
}

nlohmann::json ParseJsonBounded(std::string_view text, std::size_t max_depth) {
  auto limit = [max_depth](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        static_cast<std::size_t>(depth) >= max_depth) {
      throw Error(ErrorCode::kInvalidArgument, DepthMessage());
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::kInvalidArgument, e.what());
  }
}

}  // namespace common
