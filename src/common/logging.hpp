#pragma once
#include <string>

namespace common {

// Sets up the default spdlog logger on stderr.
// format: "text" (timestamp RFC3339Nano, level, message, key=value) or "json" (one object per
// line: {"time":..., "level":..., "msg":...}). level: trace, debug, info, warn(ing), error, fatal
// (= critical), panic (= critical). Throws Error{kInvalidArgument} for unknown values with the
// messages `unknown log format "x"` / `unknown log level "x"`.
void SetupLogging(const std::string& format, const std::string& level, const std::string& name);

}  // namespace common
