#pragma once
// The crash's own words: which container of a failed rollout to read the log of, and how its
// last lines are made safe to show (pure; no I/O).
//
// A failure caused by a crashing or failing container (CrashLoopBackOff, a failed Job's pod, a
// failed init container) names the container; deployd reads the tail of its log as the team
// (pods/log, the previous instance when the container restarted) and appends it to the final
// status message:
//
//   <summary line>
//   Deployment/web: last 2 log lines of container "web" in pod web-7d9c-x2x (previous instance):
//   panic: config key "DB_URL" is missing
//   exit status 2
//
// or, when the log cannot be read, `... (previous instance): (log not available: <reason>)`.
// The log is untrusted: ANSI escapes and control characters (but newline and tab) are removed,
// invalid UTF-8 becomes U+FFFD, and lines and bytes are bounded, cutting on character boundaries.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace deployd::rollout {

// At most this many lines and bytes (after cleaning, newlines included) of one container's log.
inline constexpr std::size_t kLogMaxLines = 20;
inline constexpr std::size_t kLogMaxBytes = 2048;
// One line longer than this is cut (on a character boundary) and ends with "…".
inline constexpr std::size_t kLogMaxLineBytes = 512;
// limitBytes asked of the API server: room for kLogMaxLines long lines, of which the tail is kept.
inline constexpr std::size_t kLogFetchBytes = 16384;
// Logs are appended to a final status message only while it stays within this size: half of the
// smallest --max-message-size hookd and deployd accept (64 KiB), so a status always fits.
inline constexpr std::size_t kMaxMessageWithLogs = 32768;
// Longest reason shown in `(log not available: <reason>)`.
inline constexpr std::size_t kLogReasonMaxBytes = 200;

// The container whose log explains a failure.
struct LogSource {
  std::string pod;
  std::string container;
  bool previous = false;  // the instance before the last restart
  bool operator==(const LogSource&) const = default;
};

// The failing container of a pod, init containers first (they run first): one in
// CrashLoopBackOff (its previous instance when it has terminated before), else one that
// terminated with a non-zero exit code (that instance), else one waiting to restart after a
// non-zero exit (its previous instance). nullopt when none failed (image pull problems, config
// errors and unschedulable pods have no log).
std::optional<LogSource> FailedContainer(const nlohmann::json& pod);

// Cleans and bounds a log: removes ANSI escape sequences (CSI, OSC, and two-byte ESC ones),
// control characters but newline and tab (a CR-LF becomes a newline), replaces invalid UTF-8
// with U+FFFD, cuts lines longer than max_line_bytes ("…" ends them), then keeps the last lines
// that fit both max_lines and max_bytes (joined with newlines, no trailing newline). A blank last
// line (the log's final newline) is not counted.
std::vector<std::string> CleanLogLines(std::string_view raw, std::size_t max_lines = kLogMaxLines,
                                       std::size_t max_bytes = kLogMaxBytes,
                                       std::size_t max_line_bytes = kLogMaxLineBytes);

// `<prefix>: last <n> log lines of container "<c>" in pod <p>[ (previous instance)]:\n<lines>`,
// `... (previous instance): (log is empty)` when no line is left. prefix is `<Kind>/<name>`.
std::string LogBlock(const std::string& prefix, const LogSource& source,
                     const std::vector<std::string>& lines);
// `<prefix>: log of container "<c>" in pod <p>[ (previous instance)]: (log not available:
// <reason>)`, the reason cleaned and cut to kLogReasonMaxBytes.
std::string LogUnavailable(const std::string& prefix, const LogSource& source,
                           std::string_view reason);

// The final message: `summary`, then each block on lines of its own, as long as the whole stays
// within max_bytes; blocks that do not fit are counted: `(<n> more container logs left out)`.
std::string WithLogs(std::string summary, const std::vector<std::string>& blocks,
                     std::size_t max_bytes = kMaxMessageWithLogs);

// `text` cut to at most max_bytes on a UTF-8 character boundary (text must be valid UTF-8).
std::string CutUtf8(std::string_view text, std::size_t max_bytes);

}  // namespace deployd::rollout
