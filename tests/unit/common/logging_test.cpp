#include "common/logging.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

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
  // Each line: time="<RFC3339Nano>" level=<level> msg=<value>  (std::regex avoided: g++ 12
  // -Wmaybe-uninitialized false positives in <regex> under sanitizers).
  std::vector<std::string> levels;
  std::vector<std::string> msgs;
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t end = out.find('\n', start);
    ASSERT_NE(end, std::string::npos) << out;
    const std::string line = out.substr(start, end - start);
    start = end + 1;
    ASSERT_EQ(line.rfind("time=\"", 0), 0u) << line;
    const std::size_t time_end = line.find('"', 6);
    ASSERT_NE(time_end, std::string::npos) << line;
    const std::string time = line.substr(6, time_end - 6);
    EXPECT_TRUE(ParseRfc3339(time).has_value()) << time;
    EXPECT_EQ(time.back(), 'Z') << time;
    ASSERT_EQ(line.substr(time_end + 1, 7), " level=") << line;
    const std::size_t level_end = line.find(' ', time_end + 8);
    ASSERT_NE(level_end, std::string::npos) << line;
    levels.push_back(line.substr(time_end + 8, level_end - time_end - 8));
    ASSERT_EQ(line.substr(level_end, 5), " msg=") << line;
    msgs.push_back(line.substr(level_end + 5));
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
  EXPECT_EQ(Capture("text", "error",
                    [] {
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

TEST(LoggingTest, FailedSetupKeepsCurrentLogger) {
  SetupLogging("json", "error", "before");
  EXPECT_THROW(SetupLogging("text", "nope", "after"), Error);
  EXPECT_THROW(SetupLogging("nope", "info", "after"), Error);
  EXPECT_EQ(spdlog::default_logger()->name(), "before");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);
}

TEST(LoggingTest, SetupTwiceWithSameNameWorks) {
  SetupLogging("text", "info", "same");
  SetupLogging("json", "debug", "same");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
}

// 2026-01-02T03:04:05.123456789Z
SystemTime FixedTime() { return *ParseRfc3339("2026-01-02T03:04:05.123456789Z"); }

TEST(LoggingTest, DeploymentFieldsTextLine) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, FixedTime(), "info",
                          "deployment 9f1c: success: Deployment completed successfully.",
                          DeploymentFields("9f1c", "aura", "dev-fss")),
            "time=\"2026-01-02T03:04:05.123456789Z\" level=info msg=\"deployment 9f1c: success: "
            "Deployment completed successfully.\" cluster=dev-fss correlation_id=9f1c "
            "delivery_id=9f1c team=aura\n");
}

TEST(LoggingTest, DeploymentFieldsJsonLine) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, FixedTime(), "warning", "say \"hi\"",
                          DeploymentFields("9f1c", "aura", "dev-fss")),
            "{\"time\":\"2026-01-02T03:04:05.123456789Z\",\"level\":\"warning\",\"msg\":\"say "
            "\\\"hi\\\"\",\"cluster\":\"dev-fss\",\"correlation_id\":\"9f1c\",\"delivery_id\":"
            "\"9f1c\",\"team\":\"aura\"}\n");
}

TEST(LoggingTest, FieldsSortedQuotedEmptyLeftOutClashesRenamed) {
  const LogFields fields = {{"zeta", "a b"}, {"team", ""}, {"msg", "x"}, {"alpha", "1\n2"}};
  EXPECT_EQ(FormatLogLine(LogFormat::kText, FixedTime(), "error", "m", fields),
            "time=\"2026-01-02T03:04:05.123456789Z\" level=error msg=m alpha=\"1\\n2\" "
            "fields.msg=x zeta=\"a b\"\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, FixedTime(), "error", "m", fields),
            "{\"time\":\"2026-01-02T03:04:05.123456789Z\",\"level\":\"error\",\"msg\":\"m\","
            "\"alpha\":\"1\\n2\",\"fields.msg\":\"x\",\"zeta\":\"a b\"}\n");
  // No ID yet: only what is known.
  EXPECT_EQ(
      FormatLogLine(LogFormat::kText, FixedTime(), "info", "m", DeploymentFields("", "aura", "")),
      "time=\"2026-01-02T03:04:05.123456789Z\" level=info msg=m team=aura\n");
}

TEST(LoggingTest, LogWithCarriesFieldsOnlyOnItsLine) {
  const std::string out = Capture("json", "info", [] {
    LogWith(spdlog::level::info, DeploymentFields("id-1", "aura", "dev"), "deployment {}: {}",
            "id-1", "queued");
    spdlog::info("plain");
    LogWith(spdlog::level::debug, DeploymentFields("id-2", "aura", "dev"), "filtered");
  });
  const auto newline = out.find('\n');
  ASSERT_NE(newline, std::string::npos) << out;
  const auto first = nlohmann::json::parse(out.substr(0, newline));
  EXPECT_EQ(first["msg"], "deployment id-1: queued");
  EXPECT_EQ(first["correlation_id"], "id-1");
  EXPECT_EQ(first["delivery_id"], "id-1");
  EXPECT_EQ(first["team"], "aura");
  EXPECT_EQ(first["cluster"], "dev");
  const auto second = nlohmann::json::parse(out.substr(newline + 1));
  EXPECT_EQ(second.size(), 3u) << second.dump();
  EXPECT_EQ(second["msg"], "plain");
  const std::string text = Capture("text", "info", [] {
    LogWith(spdlog::level::warn, DeploymentFields("id-1", "aura", "dev"), "slow");
  });
  EXPECT_NE(text.find(" level=warning msg=slow cluster=dev correlation_id=id-1 delivery_id=id-1 "
                      "team=aura\n"),
            std::string::npos)
      << text;
}

TEST(LoggingTest, UnknownValues) {
  EXPECT_EQ(ErrorOf("xml", "info"), "unknown log format \"xml\"");
  EXPECT_EQ(ErrorOf("", "info"), "unknown log format \"\"");
  EXPECT_EQ(ErrorOf("text", "verbose"), "unknown log level \"verbose\"");
  EXPECT_EQ(ErrorOf("json", ""), "unknown log level \"\"");
}

}  // namespace
}  // namespace common
