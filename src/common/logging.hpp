#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/time.hpp"

namespace common {

// Sets up the default spdlog logger on stderr.
// format: "text" (timestamp RFC3339Nano, level, message, key=value) or "json" (one object per
// line: {"time":..., "level":..., "msg":..., <fields>}). level: trace, debug, info, warn(ing),
// error, fatal (= critical), panic (= critical). Throws Error{kInvalidArgument} for unknown values
// with the messages `unknown log format "x"` / `unknown log level "x"`.
void SetupLogging(const std::string& format, const std::string& level, const std::string& name);

// Structured fields of one log line, in the order given (the formatter sorts them by key).
// Fields with an empty value are left out.
using LogFields = std::vector<std::pair<std::string, std::string>>;

// The fields that tie a log line to one deployment, so that a log search by the ID finds every
// line of it in hookd, deployd and the CLI: `correlation_id` (the deployment ID: what hookd's GCP
// and Kibana v=1 log links search for), `delivery_id` (the same ID once a deployment has one, for
// the older Kibana v=0 links), `team` and `cluster`.
LogFields DeploymentFields(std::string_view id, std::string_view team, std::string_view cluster);

enum class LogFormat { kText, kJson };

// One formatted line with its trailing newline, as logrus prints it:
// text: time="<RFC3339Nano>" level=<level> msg=<message> <key>=<value>... (keys sorted, values
//       bare when they only hold [A-Za-z0-9-._/@^+], else quoted with Go escapes);
// json: {"time":"<RFC3339Nano>","level":"<level>","msg":"<message>","<key>":"<value>",...}.
// A field named time, level or msg is renamed fields.<name>, as logrus does.
std::string FormatLogLine(LogFormat format, SystemTime time, std::string_view level,
                          std::string_view message, const LogFields& fields);

// logrus' value quoting: bare when only [A-Za-z0-9-._/@^+], else Go strconv.Quote-like.
std::string LogrusValue(std::string_view value);

namespace detail {
void LogWithFields(spdlog::level::level_enum level, const LogFields& fields,
                   std::string_view message);
}  // namespace detail

// Logs one line with structured fields through the default logger (any thread).
template <typename... Args>
void LogWith(spdlog::level::level_enum level, const LogFields& fields,
             fmt::format_string<Args...> format, Args&&... args) {
  if (!spdlog::default_logger_raw()->should_log(level)) return;
  detail::LogWithFields(level, fields, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace common
