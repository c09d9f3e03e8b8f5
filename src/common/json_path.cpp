#include "common/json_path.hpp"

namespace common {

const nlohmann::json* JsonFind(const nlohmann::json& doc, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = &doc;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string JsonString(const nlohmann::json& doc, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = JsonFind(doc, path);
  return cur != nullptr && cur->is_string() ? cur->get<std::string>() : "";
}

long long JsonInt(const nlohmann::json& doc, std::initializer_list<const char*> path,
                  long long absent) {
  const nlohmann::json* cur = JsonFind(doc, path);
  if (cur == nullptr) return absent;
  if (cur->is_number_integer() || cur->is_number_unsigned()) return cur->get<long long>();
  if (cur->is_number_float()) return static_cast<long long>(cur->get<double>());
  return absent;
}

bool JsonHas(const nlohmann::json& doc, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = JsonFind(doc, path);
  return cur != nullptr && !cur->is_null();
}

const char* GoJsonTypeName(const nlohmann::json& value) {
  if (value.is_number()) return "number";
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "bool";
  if (value.is_array()) return "array";
  if (value.is_object()) return "object";
  return "null";
}

}  // namespace common
