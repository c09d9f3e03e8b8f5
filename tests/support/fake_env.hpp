#pragma once
// The tests' one fake process environment for the configuration layers.
#include <map>
#include <optional>
#include <string>

#include "common/config.hpp"

namespace testsupport {

inline common::EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace testsupport
