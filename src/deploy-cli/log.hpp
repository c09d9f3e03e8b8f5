#pragma once
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/logging.hpp"
#include "common/time.hpp"

namespace deploy_cli {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// The CLI's log output on stderr, formatted as the original's logrus set-up:
// - default: logrus text `time="<RFC3339Nano>" level=info msg="<message>"` (msg quoted only
//   when needed, Go %q escaping), followed by the fields set with SetFields (the deployment's
//   correlation_id, delivery_id, team and cluster once hookd accepted it), formatted by the
//   same common::FormatLogLine as hookd's and deployd's logs;
// - actions: `::error::<msg>`, `::warn::<msg>`, otherwise `[<RFC3339Nano>] <msg>`;
// - terminal (stderr is a TTY, not --actions): plain `<msg>` / `warning: <msg>` /
//   `error: <msg>` lines plus one progress line that is rewritten in place;
// - quiet: only error lines.
class Logger {
 public:
  Logger(std::ostream& out, const common::Clock& clock) : out_(out), clock_(clock) {}
  void Configure(bool actions, bool quiet, bool terminal = false) {
    actions_ = actions;
    quiet_ = quiet;
    terminal_ = terminal && !actions;
  }
  bool Terminal() const { return terminal_; }
  // Fields appended to every later logrus text line.
  void SetFields(common::LogFields fields) { fields_ = std::move(fields); }

  // Terminal mode only: shows `lines` as the progress region below the log, rewritten in
  // place by the next call (empty removes it).
  void Progress(const std::vector<std::string>& lines);

  void Log(LogLevel level, std::string_view message);
  void Info(std::string_view message) { Log(LogLevel::kInfo, message); }
  void Warn(std::string_view message) { Log(LogLevel::kWarn, message); }
  void Error(std::string_view message) { Log(LogLevel::kError, message); }

 private:
  std::ostream& out_;
  const common::Clock& clock_;
  bool actions_ = false;
  bool quiet_ = false;
  bool terminal_ = false;
  void EraseProgress();
  void DrawProgress();
  std::vector<std::string> progress_;
  common::LogFields fields_;
};

using common::LogrusValue;

}  // namespace deploy_cli
