#include "common/logging.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "common/error.hpp"
#include "common/time.hpp"

namespace common {
namespace {

std::string Capture(const std::string& format, const std::string& level, void (*log)()) {
  ::testing::internal::CaptureStderr();
  SetupLogging(format, level, "test");
  log();
  spdlog::default_logger()->flush();
  std::fflush(stderr);
  return ::testing::internal::GetCapturedStderr();
}

std::string ErrorOf(const std::string& format, const std::string& level) {
  try {
    SetupLogging(format, level, "test");
  } catch (const Error& e) {
    EXPECT_EQ(e.Code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(LoggingTest, TextFormat) {
  const std::string out = Capture("text", "info", [] {
    spdlog::info("hello world");
    spdlog::warn("careful");
    spdlog::error("broken \"quote\"");
    spdlog::info("plain");
  });
  const std::regex line_re(
      R"re(time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z)" level=(\w+) msg=(.*)\n)re");
  std::vector<std::string> levels;
  std::vector<std::string> msgs;
  for (std::sregex_iterator it(out.begin(), out.end(), line_re), end; it != end; ++it) {
    EXPECT_TRUE(ParseRfc3339((*it)[1].str()).has_value()) << (*it)[1];
    levels.push_back((*it)[3]);
    msgs.push_back((*it)[4]);
  }
  EXPECT_EQ(levels, (std::vector<std::string>{"info", "warning", "error", "info"})) << out;
  EXPECT_EQ(msgs, (std::vector<std::string>{"\"hello world\"", "careful",
                                            "\"broken \\\"quote\\\"\"", "plain"}))
      << out;
}

TEST(LoggingTest, JsonFormat) {
  const std::string out = Capture("json", "debug", [] {
    spdlog::debug("dbg");
    spdlog::critical("boom");
    spdlog::trace("hidden");
  });
  std::vector<nlohmann::json> lines;
  std::size_t start = 0;
  while (start < out.size()) {
    const auto end = out.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    lines.push_back(nlohmann::json::parse(out.substr(start, end - start)));
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_EQ(lines[0]["level"], "debug");
  EXPECT_EQ(lines[0]["msg"], "dbg");
  EXPECT_TRUE(ParseRfc3339(lines[0]["time"].get<std::string>()).has_value());
  EXPECT_EQ(lines[1]["level"], "fatal");
  EXPECT_EQ(lines[1]["msg"], "boom");
  EXPECT_EQ(out.rfind("{\"time\":", 0), 0u) << out;
}

TEST(LoggingTest, LevelsFilter) {
  EXPECT_EQ(Capture("text", "error", [] {
              spdlog::info("no");
              spdlog::warn("no");
            }),
            "");
  EXPECT_NE(Capture("text", "warning", [] { spdlog::warn("yes"); }), "");
  EXPECT_EQ(Capture("text", "warn", [] { spdlog::info("no"); }), "");
  EXPECT_NE(Capture("text", "trace", [] { spdlog::trace("yes"); }), "");
  EXPECT_EQ(Capture("text", "fatal", [] { spdlog::error("no"); }), "");
  EXPECT_NE(Capture("text", "panic", [] { spdlog::critical("yes"); }), "");
  EXPECT_NE(Capture("json", "DEBUG", [] { spdlog::debug("yes"); }), "");
  EXPECT_EQ(spdlog::default_logger()->name(), "test");
}

TEST(LoggingTest, UnknownValues) {
  EXPECT_EQ(ErrorOf("xml", "info"), "unknown log format \"xml\"");
  EXPECT_EQ(ErrorOf("", "info"), "unknown log format \"\"");
  EXPECT_EQ(ErrorOf("text", "verbose"), "unknown log level \"verbose\"");
  EXPECT_EQ(ErrorOf("json", ""), "unknown log level \"\"");
}

}  // namespace
}  // namespace common
