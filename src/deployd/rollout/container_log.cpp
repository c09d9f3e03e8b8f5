#include "deployd/rollout/container_log.hpp"

#include <fmt/format.h>

#include "deployd/rollout/verdict.hpp"

namespace deployd::rollout {
namespace {

using nlohmann::json;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026

bool IsCont(unsigned char c) { return (c & 0xC0) == 0x80; }

// Skips an ANSI escape sequence starting with ESC at raw[i]; returns the index after it.
std::size_t SkipEscape(std::string_view raw, std::size_t i) {
  const std::size_t n = raw.size();
  std::size_t j = i + 1;
  if (j >= n) return n;
  const auto c = static_cast<unsigned char>(raw[j]);
  if (c == '[') {  // CSI: parameters and intermediates, then one final byte
    ++j;
    while (j < n) {
      const auto b = static_cast<unsigned char>(raw[j]);
      if (b >= 0x40 && b <= 0x7E) return j + 1;
      if (b < 0x20 || b > 0x3F) return j;  // malformed: the sequence ends here
      ++j;
    }
    return n;
  }
  if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {  // strings: until BEL or ST
    ++j;
    while (j < n) {
      if (raw[j] == '\x07') return j + 1;
      if (raw[j] == '\x1B') return j + 1 < n && raw[j + 1] == '\\' ? j + 2 : j;
      ++j;
    }
    return n;
  }
  while (j < n && static_cast<unsigned char>(raw[j]) >= 0x20 &&
         static_cast<unsigned char>(raw[j]) <= 0x2F) {
    ++j;  // intermediates
  }
  if (j < n && static_cast<unsigned char>(raw[j]) >= 0x30 &&
      static_cast<unsigned char>(raw[j]) <= 0x7E) {
    return j + 1;
  }
  return j;
}

// Decodes one UTF-8 sequence at raw[i]: its code point and length, or nullopt with the length of
// its longest valid start (at least 1), which is replaced by one U+FFFD.
struct Decoded {
  std::optional<char32_t> code;
  std::size_t length = 1;
};

Decoded DecodeUtf8(std::string_view raw, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(raw[i]);
  std::size_t length = 0;
  char32_t code = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    code = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    code = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    code = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    return {std::nullopt, 1};
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= raw.size()) return {std::nullopt, k};
    const auto b = static_cast<unsigned char>(raw[i + k]);
    if (k == 1 ? (b < lo || b > hi) : !IsCont(b)) return {std::nullopt, k};
    code = (code << 6) | (b & 0x3F);
  }
  return {code, length};
}

// C1 controls and the bidirectional overrides and isolates, which could reorder what is shown
// around the log.
bool Dropped(char32_t code) {
  return (code >= 0x80 && code <= 0x9F) || (code >= 0x202A && code <= 0x202E) ||
         (code >= 0x2066 && code <= 0x2069);
}

// Without escapes and control characters, valid UTF-8; newlines kept.
std::string Clean(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  std::size_t i = 0;
  while (i < raw.size()) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c == 0x1B) {
      i = SkipEscape(raw, i);
    } else if (c == '\r') {
      // CR-LF is one newline; a lone CR (a progress bar redrawing its line) starts a new line.
      if (i + 1 >= raw.size() || raw[i + 1] != '\n') out += '\n';
      ++i;
    } else if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F)) {
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x80) {
      ++i;  // other C0 controls and DEL
    } else {
      auto d = DecodeUtf8(raw, i);
      if (!d.code) {
        out += kReplacement;
      } else if (!Dropped(*d.code)) {
        out.append(raw.substr(i, d.length));
      }
      i += d.length;
    }
  }
  return out;
}

std::string Describe(const LogSource& source) {
  return fmt::format("container \"{}\" in pod {}{}", source.container, source.pod,
                     source.previous ? " (previous instance)" : "");
}

}  // namespace

std::optional<LogSource> FailedContainer(const json& pod) {
  const std::string pod_name = common::JsonString(pod, {"metadata", "name"});
  std::optional<LogSource> restarting;
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    const json* statuses = common::JsonFind(pod, {"status", list});
    if (statuses == nullptr || !statuses->is_array()) continue;
    for (const auto& c : *statuses) {
      if (!c.is_object()) continue;
      const std::string name = common::JsonString(c, {"name"});
      const bool ended_before = common::JsonFind(c, {"lastState", "terminated"}) != nullptr;
      if (common::JsonString(c, {"state", "waiting", "reason"}) == "CrashLoopBackOff") {
        return LogSource{pod_name, name, ended_before};
      }
      if (common::JsonFind(c, {"state", "terminated"}) != nullptr &&
          common::JsonInt(c, {"state", "terminated", "exitCode"}) != 0) {
        return LogSource{pod_name, name, false};
      }
      if (!restarting && common::JsonFind(c, {"state", "terminated"}) == nullptr && ended_before &&
          common::JsonInt(c, {"lastState", "terminated", "exitCode"}) != 0) {
        restarting = LogSource{pod_name, name, true};
      }
    }
  }
  return restarting;
}

std::string CutUtf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t end = max_bytes;
  while (end > 0 && IsCont(static_cast<unsigned char>(text[end]))) --end;
  return std::string(text.substr(0, end));
}

std::vector<std::string> CleanLogLines(std::string_view raw, std::size_t max_lines,
                                       std::size_t max_bytes, std::size_t max_line_bytes) {
  const std::string text = Clean(raw);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the final newline
  for (auto& line : lines) {
    if (line.size() > max_line_bytes) {
      const std::size_t room =
          max_line_bytes > kEllipsis.size() ? max_line_bytes - kEllipsis.size() : 0;
      line = CutUtf8(line, room) + std::string(kEllipsis);
    }
  }
  // The last lines that fit.
  std::size_t keep = 0;
  std::size_t bytes = 0;
  while (keep < lines.size() && keep < max_lines) {
    const auto& line = lines[lines.size() - 1 - keep];
    const std::size_t more = line.size() + (keep == 0 ? 0 : 1);
    if (bytes + more > max_bytes) {
      if (keep == 0) {  // a last line longer than the whole budget: its start
        const std::size_t room = max_bytes > kEllipsis.size() ? max_bytes - kEllipsis.size() : 0;
        lines.back() = CutUtf8(line, room) + std::string(kEllipsis);
        keep = 1;
      }
      break;
    }
    bytes += more;
    ++keep;
  }
  lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(keep));
  return lines;
}

std::string LogBlock(const std::string& prefix, const LogSource& source,
                     const std::vector<std::string>& lines) {
  if (lines.empty()) return fmt::format("{}: log of {}: (log is empty)", prefix, Describe(source));
  std::string out = fmt::format("{}: last {} log {} of {}:", prefix, lines.size(),
                                lines.size() == 1 ? "line" : "lines", Describe(source));
  for (const auto& line : lines) {
    out += '\n';
    out += line;
  }
  return out;
}

std::string LogUnavailable(const std::string& prefix, const LogSource& source,
                           std::string_view reason) {
  std::string cleaned = Clean(reason);
  for (auto& c : cleaned) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  while (!cleaned.empty() && cleaned.back() == ' ') cleaned.pop_back();
  if (cleaned.size() > kLogReasonMaxBytes) {
    cleaned = CutUtf8(cleaned, kLogReasonMaxBytes - kEllipsis.size()) + std::string(kEllipsis);
  }
  return fmt::format("{}: log of {}: (log not available: {})", prefix, Describe(source), cleaned);
}

std::string WithLogs(std::string summary, const std::vector<std::string>& blocks,
                     std::size_t max_bytes) {
  std::size_t left_out = 0;
  for (const auto& block : blocks) {
    if (left_out == 0 && summary.size() + 1 + block.size() <= max_bytes) {
      summary += '\n';
      summary += block;
    } else {
      ++left_out;
    }
  }
  if (left_out > 0) {
    summary +=
        fmt::format("\n({} more container {} left out)", left_out, left_out == 1 ? "log" : "logs");
  }
  return summary;
}

}  // namespace deployd::rollout
