#include "common/time.hpp"

#include <cstdint>
#include <limits>

namespace common {
namespace {

using std::chrono::nanoseconds;

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

Civil CivilFromDays(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

void AppendPadded(std::string& out, std::int64_t value, int width) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  if (value < 0) out.push_back('-');
  for (int i = static_cast<int>(digits.size()); i < width; ++i) out.push_back('0');
  out += digits;
}

// Seconds since epoch (floored) and nanoseconds within the second.
void Split(SystemTime t, std::int64_t& secs, std::int64_t& nanos) {
  const std::int64_t ns = std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count();
  secs = ns / 1'000'000'000;
  nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    secs -= 1;
  }
}

std::string FormatBase(std::int64_t secs) {
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  const Civil c = CivilFromDays(days);
  std::string out;
  out.reserve(32);
  AppendPadded(out, c.year, 4);
  out.push_back('-');
  AppendPadded(out, c.month, 2);
  out.push_back('-');
  AppendPadded(out, c.day, 2);
  out.push_back('T');
  AppendPadded(out, rem / 3600, 2);
  out.push_back(':');
  AppendPadded(out, rem / 60 % 60, 2);
  out.push_back(':');
  AppendPadded(out, rem % 60, 2);
  return out;
}

bool IsDigit(char c) noexcept { return c >= '0' && c <= '9'; }

bool ReadDigits(std::string_view text, std::size_t& pos, std::size_t count, int& value) {
  if (pos + count > text.size()) return false;
  value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (!IsDigit(c)) return false;
    value = value * 10 + (c - '0');
  }
  pos += count;
  return true;
}

unsigned DaysInMonth(int year, int month) noexcept {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

// ---- Go durations ----

constexpr std::uint64_t kNanosecond = 1;
constexpr std::uint64_t kMicrosecond = 1000 * kNanosecond;
constexpr std::uint64_t kMillisecond = 1000 * kMicrosecond;
constexpr std::uint64_t kSecond = 1000 * kMillisecond;
constexpr std::uint64_t kMinute = 60 * kSecond;
constexpr std::uint64_t kHour = 60 * kMinute;

std::optional<std::uint64_t> UnitValue(std::string_view unit) noexcept {
  if (unit == "ns") return kNanosecond;
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return kMicrosecond;
  if (unit == "ms") return kMillisecond;
  if (unit == "s") return kSecond;
  if (unit == "m") return kMinute;
  if (unit == "h") return kHour;
  return std::nullopt;
}

// Go's fmtFrac: writes the fraction of v/10^prec (trailing zeros dropped, no '.' when zero) to
// the front of `out` (which is built backwards) and returns v/10^prec.
std::uint64_t FmtFrac(std::string& rev, std::uint64_t v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    const std::uint64_t digit = v % 10;
    print = print || digit != 0;
    if (print) rev.push_back(static_cast<char>('0' + digit));
    v /= 10;
  }
  if (print) rev.push_back('.');
  return v;
}

void FmtInt(std::string& rev, std::uint64_t v) {
  if (v == 0) {
    rev.push_back('0');
    return;
  }
  while (v > 0) {
    rev.push_back(static_cast<char>('0' + v % 10));
    v /= 10;
  }
}

}  // namespace

std::string FormatRfc3339(SystemTime t) {
  std::int64_t secs = 0;
  std::int64_t nanos = 0;
  Split(t, secs, nanos);
  return FormatBase(secs) + "Z";
}

std::string FormatRfc3339Nano(SystemTime t) {
  std::int64_t secs = 0;
  std::int64_t nanos = 0;
  Split(t, secs, nanos);
  std::string out = FormatBase(secs);
  if (nanos != 0) {
    std::string frac;
    AppendPadded(frac, nanos, 9);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out.push_back('.');
    out += frac;
  }
  out.push_back('Z');
  return out;
}

std::optional<SystemTime> ParseRfc3339(std::string_view text) {
  std::size_t pos = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, pos, 4, year)) return std::nullopt;
  if (pos >= text.size() || text[pos++] != '-') return std::nullopt;
  if (!ReadDigits(text, pos, 2, month)) return std::nullopt;
  if (pos >= text.size() || text[pos++] != '-') return std::nullopt;
  if (!ReadDigits(text, pos, 2, day)) return std::nullopt;
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't')) return std::nullopt;
  ++pos;
  if (!ReadDigits(text, pos, 2, hour)) return std::nullopt;
  if (pos >= text.size() || text[pos++] != ':') return std::nullopt;
  if (!ReadDigits(text, pos, 2, minute)) return std::nullopt;
  if (pos >= text.size() || text[pos++] != ':') return std::nullopt;
  if (!ReadDigits(text, pos, 2, second)) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || static_cast<unsigned>(day) > DaysInMonth(year, month) ||
      hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  std::int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < text.size() && IsDigit(text[pos])) {
      if (digits < 9) nanos = nanos * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (std::size_t i = digits; i < 9; ++i) nanos *= 10;
  }
  if (pos >= text.size()) return std::nullopt;
  std::int64_t offset = 0;
  const char zone = text[pos++];
  if (zone == 'Z' || zone == 'z') {
    offset = 0;
  } else if (zone == '+' || zone == '-') {
    int oh = 0, om = 0;
    if (!ReadDigits(text, pos, 2, oh)) return std::nullopt;
    if (pos >= text.size() || text[pos++] != ':') return std::nullopt;
    if (!ReadDigits(text, pos, 2, om)) return std::nullopt;
    if (oh > 23 || om > 59) return std::nullopt;
    offset = (std::int64_t{oh} * 3600 + std::int64_t{om} * 60) * (zone == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const std::int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t secs =
      days * 86400 + std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + second - offset;
  return SystemTime(std::chrono::duration_cast<SystemTime::duration>(std::chrono::seconds(secs) +
                                                                     nanoseconds(nanos)));
}

std::optional<nanoseconds> ParseGoDuration(std::string_view s) {
  // [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return nanoseconds(0);
  if (s.empty()) return std::nullopt;
  constexpr std::uint64_t kMax = static_cast<std::uint64_t>(1) << 63;
  std::uint64_t total = 0;
  while (!s.empty()) {
    // Integer part.
    if (!(s[0] == '.' || IsDigit(s[0]))) return std::nullopt;
    std::uint64_t v = 0;
    std::size_t i = 0;
    bool overflow = false;
    while (i < s.size() && IsDigit(s[i])) {
      const auto digit = static_cast<std::uint64_t>(s[i] - '0');
      if (v > (kMax - digit) / 10) overflow = true;
      if (!overflow) v = v * 10 + digit;
      ++i;
    }
    if (overflow) return std::nullopt;
    const bool pre = i > 0;
    s.remove_prefix(i);
    // Fraction.
    std::uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      i = 0;
      bool f_overflow = false;
      while (i < s.size() && IsDigit(s[i])) {
        // Go's leadingFraction: digits past the point of overflow are consumed but ignored.
        const auto digit = static_cast<std::uint64_t>(s[i] - '0');
        ++i;
        if (f_overflow) continue;
        if (f > (kMax - 1) / 10) {
          f_overflow = true;
          continue;
        }
        const std::uint64_t y = f * 10 + digit;
        if (y > kMax) {
          f_overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = i > 0;
      s.remove_prefix(i);
    }
    if (!pre && !post) return std::nullopt;
    // Unit.
    i = 0;
    while (i < s.size() && s[i] != '.' && !IsDigit(s[i])) ++i;
    if (i == 0) return std::nullopt;  // missing unit
    const std::optional<std::uint64_t> unit = UnitValue(s.substr(0, i));
    if (!unit) return std::nullopt;
    s.remove_prefix(i);
    if (v > kMax / *unit) return std::nullopt;
    v *= *unit;
    if (f > 0) {
      v +=
          static_cast<std::uint64_t>(static_cast<double>(f) * (static_cast<double>(*unit) / scale));
      if (v > kMax) return std::nullopt;
    }
    total += v;
    if (total > kMax) return std::nullopt;
  }
  if (neg) return nanoseconds(-static_cast<std::int64_t>(total - 1) - 1);
  if (total > kMax - 1) return std::nullopt;
  return nanoseconds(static_cast<std::int64_t>(total));
}

std::string FormatGoDuration(nanoseconds d) {
  const std::int64_t n = d.count();
  const bool neg = n < 0;
  std::uint64_t u = neg ? static_cast<std::uint64_t>(0) - static_cast<std::uint64_t>(n)
                        : static_cast<std::uint64_t>(n);
  std::string rev;  // built backwards, reversed at the end
  if (u < kSecond) {
    int prec = 0;
    rev.push_back('s');
    if (u == 0) return "0s";
    if (u < kMicrosecond) {
      prec = 0;
      rev.push_back('n');
    } else if (u < kMillisecond) {
      prec = 3;
      rev += "\xB5\xC2";  // "µ" (U+00B5) reversed
    } else {
      prec = 6;
      rev.push_back('m');
    }
    u = FmtFrac(rev, u, prec);
    FmtInt(rev, u);
  } else {
    rev.push_back('s');
    u = FmtFrac(rev, u, 9);
    FmtInt(rev, u % 60);
    u /= 60;
    if (u > 0) {
      rev.push_back('m');
      FmtInt(rev, u % 60);
      u /= 60;
      if (u > 0) {
        rev.push_back('h');
        FmtInt(rev, u);
      }
    }
  }
  if (neg) rev.push_back('-');
  return std::string(rev.rbegin(), rev.rend());
}

}  // namespace common
