#include "common/time.hpp"

#include <limits>

#include <gtest/gtest.h>

namespace common {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

SystemTime At(std::int64_t unix_seconds, std::int64_t nanos = 0) {
  return SystemTime(
      std::chrono::duration_cast<SystemTime::duration>(seconds(unix_seconds) + nanoseconds(nanos)));
}

TEST(Rfc3339Test, Format) {
  EXPECT_EQ(FormatRfc3339(At(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(1136214245)), "2006-01-02T15:04:05Z");
  EXPECT_EQ(FormatRfc3339(At(1136214245, 999999999)), "2006-01-02T15:04:05Z");
  EXPECT_EQ(FormatRfc3339(At(951782400)), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(4102444800)), "2100-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(-2208988800)), "1900-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(At(-1)), "1969-12-31T23:59:59Z");
}

TEST(Rfc3339Test, FormatNanoDropsTrailingZeros) {
  EXPECT_EQ(FormatRfc3339Nano(At(1136214245)), "2006-01-02T15:04:05Z");
  EXPECT_EQ(FormatRfc3339Nano(At(1136214245, 999999999)), "2006-01-02T15:04:05.999999999Z");
  EXPECT_EQ(FormatRfc3339Nano(At(1136214245, 500000000)), "2006-01-02T15:04:05.5Z");
  EXPECT_EQ(FormatRfc3339Nano(At(1136214245, 120000000)), "2006-01-02T15:04:05.12Z");
  EXPECT_EQ(FormatRfc3339Nano(At(1136214245, 1000)), "2006-01-02T15:04:05.000001Z");
  EXPECT_EQ(FormatRfc3339Nano(At(1136214245, 1)), "2006-01-02T15:04:05.000000001Z");
  EXPECT_EQ(FormatRfc3339Nano(At(-1, 500000000)), "1969-12-31T23:59:59.5Z");
}

TEST(Rfc3339Test, Parse) {
  EXPECT_EQ(ParseRfc3339("2006-01-02T15:04:05Z"), At(1136214245));
  EXPECT_EQ(ParseRfc3339("2006-01-02T15:04:05.999999999Z"), At(1136214245, 999999999));
  EXPECT_EQ(ParseRfc3339("2006-01-02T15:04:05.5Z"), At(1136214245, 500000000));
  EXPECT_EQ(ParseRfc3339("2006-01-02T15:04:05.000001Z"), At(1136214245, 1000));
  EXPECT_EQ(ParseRfc3339("2006-01-02T08:04:05-07:00"), At(1136214245));
  EXPECT_EQ(ParseRfc3339("2006-01-02T16:34:05+01:30"), At(1136214245));
  EXPECT_EQ(ParseRfc3339("2006-01-02T15:04:05+00:00"), At(1136214245));
  EXPECT_EQ(ParseRfc3339("2006-01-02t15:04:05z"), At(1136214245));
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), At(0));
  EXPECT_EQ(ParseRfc3339("1969-12-31T23:59:59.5Z"), At(-1, 500000000));
  EXPECT_EQ(ParseRfc3339("2000-02-29T00:00:00Z"), At(951782400));
}

TEST(Rfc3339Test, ParseRejectsMalformed) {
  for (const char* bad : {"",
                          "2006-01-02",
                          "2006-01-02T15:04:05",
                          "2006-01-02 15:04:05Z",
                          "2006-1-02T15:04:05Z",
                          "2006-01-02T15:04Z",
                          "2006-01-02T15:04:05.Z",
                          "2006-01-02T15:04:05.1234567890Z",
                          "2006-13-02T15:04:05Z",
                          "2006-00-02T15:04:05Z",
                          "2006-02-30T15:04:05Z",
                          "2001-02-29T00:00:00Z",
                          "2006-01-32T15:04:05Z",
                          "2006-01-02T24:00:00Z",
                          "2006-01-02T15:60:05Z",
                          "2006-01-02T15:04:60Z",
                          "2006-01-02T15:04:05+0700",
                          "2006-01-02T15:04:05+07",
                          "2006-01-02T15:04:05Zjunk",
                          "2006-01-02T15:04:05+24:00",
                          "x006-01-02T15:04:05Z"}) {
    EXPECT_EQ(ParseRfc3339(bad), std::nullopt) << bad;
  }
}

TEST(Rfc3339Test, RoundTripNano) {
  for (std::int64_t ns : {0ll, 1ll, 999ll, 123456789ll}) {
    const SystemTime t = At(1700000000, ns);
    EXPECT_EQ(ParseRfc3339(FormatRfc3339Nano(t)), t);
  }
}

// Cases from Go's time package tests.
TEST(GoDurationTest, Parse) {
  struct Case {
    const char* text;
    nanoseconds want;
  };
  const Case cases[] = {
      {"0", nanoseconds(0)},
      {"5s", seconds(5)},
      {"30s", seconds(30)},
      {"1478s", seconds(1478)},
      {"-5s", seconds(-5)},
      {"+5s", seconds(5)},
      {"-0", nanoseconds(0)},
      {"+0", nanoseconds(0)},
      {"5.0s", seconds(5)},
      {"5.6s", milliseconds(5600)},
      {"5.s", seconds(5)},
      {".5s", milliseconds(500)},
      {"1.0s", seconds(1)},
      {"1.00s", seconds(1)},
      {"1.004s", milliseconds(1004)},
      {"1.0040s", milliseconds(1004)},
      {"100.00100s", milliseconds(100001)},
      {"10ns", nanoseconds(10)},
      {"11us", microseconds(11)},
      {"12\xC2\xB5s", microseconds(12)},
      {"12\xCE\xBCs", microseconds(12)},
      {"13ms", milliseconds(13)},
      {"14s", seconds(14)},
      {"15m", minutes(15)},
      {"16h", hours(16)},
      {"3h30m", hours(3) + minutes(30)},
      {"10.5s4m", minutes(4) + milliseconds(10500)},
      {"-2m3.4s", -(minutes(2) + milliseconds(3400))},
      {"1h2m3s4ms5us6ns",
       hours(1) + minutes(2) + seconds(3) + milliseconds(4) + microseconds(5) + nanoseconds(6)},
      {"39h9m14.425s", hours(39) + minutes(9) + milliseconds(14425)},
      {"52763797000ns", nanoseconds(52763797000)},
      {"0.3333333333333333333h", minutes(20)},
      {"9007199254740993ns", nanoseconds((1ll << 53) + 1)},
      {"9223372036854775807ns", nanoseconds(std::numeric_limits<std::int64_t>::max())},
      {"9223372036854775.807us", nanoseconds(std::numeric_limits<std::int64_t>::max())},
      {"9223372036854ms775us807ns", nanoseconds(std::numeric_limits<std::int64_t>::max())},
      {"-9223372036854775808ns", nanoseconds(std::numeric_limits<std::int64_t>::min())},
      {"-9223372036854775.808us", nanoseconds(std::numeric_limits<std::int64_t>::min())},
      {"-9223372036854ms775us808ns", nanoseconds(std::numeric_limits<std::int64_t>::min())},
      {"0.100000000000000000000h", minutes(6)},
      {"0.830103483285477580700h", minutes(49) + seconds(48) + nanoseconds(372539827)},
      {"10m", minutes(10)},
      {"300ms", milliseconds(300)},
      {"-1.5h", -minutes(90)},
      {"2h45m", hours(2) + minutes(45)},
      {"1us", microseconds(1)},
  };
  for (const auto& c : cases) {
    const auto got = ParseGoDuration(c.text);
    ASSERT_TRUE(got.has_value()) << c.text;
    EXPECT_EQ(got->count(), c.want.count()) << c.text;
  }
}

TEST(GoDurationTest, ParseRejects) {
  for (const char* bad : {"",
                          "3",
                          "-",
                          "s",
                          ".",
                          "-.",
                          ".s",
                          "+.s",
                          "1d",
                          "\x85\x85",
                          "\xff\xff",
                          "hello \xff\xff world",
                          "9223372036854775808ns",
                          "9223372036854775.808us",
                          "9223372036854ms775us808ns",
                          "-9223372036854775809ns",
                          "9223372036854s775ms807us",
                          "10",
                          "1h 2m",
                          " 1s",
                          "1s ",
                          "1S",
                          "--1s",
                          "1e3s",
                          "0x10s"}) {
    EXPECT_EQ(ParseGoDuration(bad), std::nullopt) << bad;
  }
}

TEST(GoDurationTest, Format) {
  struct Case {
    nanoseconds d;
    const char* want;
  };
  const Case cases[] = {
      {nanoseconds(0), "0s"},
      {nanoseconds(1), "1ns"},
      {nanoseconds(1100), "1.1\xC2\xB5s"},
      {microseconds(2200), "2.2ms"},
      {milliseconds(3300), "3.3s"},
      {minutes(4) + seconds(5), "4m5s"},
      {minutes(4) + milliseconds(5001), "4m5.001s"},
      {hours(5) + minutes(6) + milliseconds(7001), "5h6m7.001s"},
      {minutes(8) + nanoseconds(1), "8m0.000000001s"},
      {nanoseconds(std::numeric_limits<std::int64_t>::max()), "2562047h47m16.854775807s"},
      {nanoseconds(std::numeric_limits<std::int64_t>::min()), "-2562047h47m16.854775808s"},
      {minutes(10), "10m0s"},
      {hours(1), "1h0m0s"},
      {milliseconds(1500), "1.5s"},
      {milliseconds(100), "100ms"},
      {seconds(15), "15s"},
      {minutes(5), "5m0s"},
      {-milliseconds(1500), "-1.5s"},
      {-nanoseconds(5), "-5ns"},
      {microseconds(1), "1\xC2\xB5s"},
  };
  for (const auto& c : cases) EXPECT_EQ(FormatGoDuration(c.d), c.want) << c.d.count();
}

TEST(GoDurationTest, FormatParseRoundTrip) {
  for (std::int64_t n : {1ll, 999ll, 1000ll, 1500000ll, 59999999999ll, 3600000000001ll}) {
    const auto parsed = ParseGoDuration(FormatGoDuration(nanoseconds(n)));
    ASSERT_TRUE(parsed.has_value()) << n;
    EXPECT_EQ(parsed->count(), n);
  }
}

TEST(ClockTest, SystemClockIsNow) {
  const SystemClock clock;
  const auto before = std::chrono::system_clock::now();
  const auto now = clock.Now();
  EXPECT_GE(now, before);
}

}  // namespace
}  // namespace common
