#pragma once
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"

namespace deploy_cli {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// The CLI's log output on stderr, formatted as the original's logrus set-up:
// - default: logrus text `time="<RFC3339Nano>" level=info msg="<message>"` (msg quoted only
//   when needed, Go %q escaping);
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
};

// logrus' value quoting: bare when only [A-Za-z0-9-._/@^+], else Go strconv.Quote.
std::string LogrusValue(std::string_view value);

}  // namespace deploy_cli
