#pragma once
// Reading a nested field of a JSON document by its path of object keys, as Kubernetes objects
// are read: a missing step, or a step that is not an object, is "absent", never an exception.
#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

namespace common {

// The value at `path`; nullptr when absent.
const nlohmann::json* JsonFind(const nlohmann::json& doc, std::initializer_list<const char*> path);
// The string at `path`; "" when absent or not a string.
std::string JsonString(const nlohmann::json& doc, std::initializer_list<const char*> path);
// The number at `path` as an integer (a float is truncated); `absent` when absent or not a
// number.
long long JsonInt(const nlohmann::json& doc, std::initializer_list<const char*> path,
                  long long absent = 0);
// True when `path` holds a value other than null.
bool JsonHas(const nlohmann::json& doc, std::initializer_list<const char*> path);
// Go's name for a JSON value's type in encoding/json's unmarshal errors: "number", "string",
// "bool", "array", "object" or "null".
const char* GoJsonTypeName(const nlohmann::json& value);

}  // namespace common
