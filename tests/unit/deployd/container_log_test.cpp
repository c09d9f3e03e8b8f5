// The crash's own words: which container's log explains a failure, and how the log is cleaned and
// bounded before it goes into a status message.
#include "deployd/rollout/container_log.hpp"

#include <gtest/gtest.h>

#include "deployd/rollout/tracker.hpp"

namespace deployd::rollout {
namespace {

using nlohmann::json;
using Lines = std::vector<std::string>;

TEST(CleanLogLines, KeepsPlainLinesWithoutTheFinalNewline) {
  EXPECT_EQ(CleanLogLines("starting\nlistening on :8080\n"),
            (Lines{"starting", "listening on :8080"}));
  EXPECT_EQ(CleanLogLines("no newline at the end"), (Lines{"no newline at the end"}));
  EXPECT_EQ(CleanLogLines(""), Lines{});
  EXPECT_EQ(CleanLogLines("\n"), (Lines{""}));
  EXPECT_EQ(CleanLogLines("a\n\nb\n"), (Lines{"a", "", "b"}));
}

TEST(CleanLogLines, RemovesAnsiEscapes) {
  // Colours (CSI ... m), cursor movement, a window title (OSC ... BEL and OSC ... ST), a charset
  // switch (ESC ( B) and a lone ESC at the end.
  EXPECT_EQ(CleanLogLines("\x1b[31mERROR\x1b[0m db down\n"), (Lines{"ERROR db down"}));
  EXPECT_EQ(CleanLogLines("\x1b[2K\x1b[1;1Hclear\n"), (Lines{"clear"}));
  EXPECT_EQ(CleanLogLines("\x1b]0;pwned title\x07visible\n"), (Lines{"visible"}));
  EXPECT_EQ(CleanLogLines("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\\n"), (Lines{"link"}));
  EXPECT_EQ(CleanLogLines("\x1b(Bplain\x1b"), (Lines{"plain"}));
  // An unterminated CSI ends at the first byte that cannot belong to it.
  EXPECT_EQ(CleanLogLines("\x1b[12\nnext\n"), (Lines{"", "next"}));
}

TEST(CleanLogLines, RemovesControlCharactersButNewlineAndTab) {
  EXPECT_EQ(CleanLogLines(std::string("a\0b\x07"
                                      "c\x08"
                                      "d\x7f"
                                      "e\tf\n",
                                      12)),
            (Lines{"abcde\tf"}));
  // CR-LF is one line break; a lone CR (a progress bar) starts a line.
  EXPECT_EQ(CleanLogLines("one\r\ntwo\r\n"), (Lines{"one", "two"}));
  EXPECT_EQ(CleanLogLines("10%\r100%\n"), (Lines{"10%", "100%"}));
  // C1 controls (U+0085, U+009B) and bidirectional overrides (U+202E) are dropped too.
  EXPECT_EQ(CleanLogLines("x\xc2\x85y\xc2\x9bz\xe2\x80\xae!\n"), (Lines{"xyz!"}));
}

TEST(CleanLogLines, ReplacesInvalidUtf8) {
  // Valid multi-byte text stays; a stray continuation byte, a truncated sequence, an overlong
  // form, a surrogate and a byte that never occurs each become one U+FFFD.
  EXPECT_EQ(CleanLogLines("caf\xc3\xa9 \xe2\x9c\x93\n"), (Lines{"caf\xc3\xa9 \xe2\x9c\x93"}));
  EXPECT_EQ(CleanLogLines("a\x80"
                          "b\n"),
            (Lines{"a\xef\xbf\xbd"
                   "b"}));
  EXPECT_EQ(CleanLogLines("a\xe2\x9c"
                          "b\n"),
            (Lines{"a\xef\xbf\xbd"
                   "b"}));
  EXPECT_EQ(CleanLogLines("\xc0\xaf\n"), (Lines{"\xef\xbf\xbd\xef\xbf\xbd"}));
  EXPECT_EQ(CleanLogLines("\xed\xa0\x80\n"), (Lines{"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}));
  EXPECT_EQ(CleanLogLines("\xff\n"), (Lines{"\xef\xbf\xbd"}));
  // Cut in the middle of a character (limitBytes): the rest is replaced.
  EXPECT_EQ(CleanLogLines("end \xf0\x9f\x92"), (Lines{"end \xef\xbf\xbd"}));
}

TEST(CleanLogLines, CutsOverLongLinesOnACharacterBoundary) {
  // 10-byte lines at most: 7 bytes of text and "…" (3 bytes); "é" (2 bytes) is not split.
  EXPECT_EQ(CleanLogLines("0123456789abc\nshort\n", 20, 100, 10),
            (Lines{"0123456\xe2\x80\xa6", "short"}));
  EXPECT_EQ(CleanLogLines("012345\xc3\xa9xyz\n", 20, 100, 10), (Lines{"012345\xe2\x80\xa6"}));
  // The default: 512 bytes a line.
  auto lines = CleanLogLines(std::string(600, 'x') + "\n");
  ASSERT_EQ(lines.size(), 1U);
  EXPECT_EQ(lines[0], std::string(509, 'x') + "\xe2\x80\xa6");
}

TEST(CleanLogLines, KeepsTheLastLinesThatFit) {
  std::string text;
  for (int i = 1; i <= 30; ++i) text += "line " + std::to_string(i) + "\n";
  Lines last20;
  for (int i = 11; i <= 30; ++i) last20.push_back("line " + std::to_string(i));
  EXPECT_EQ(CleanLogLines(text), last20);
  // Bytes: "line 29" + "\n" + "line 30" is 15 bytes; one more line does not fit in 20.
  EXPECT_EQ(CleanLogLines(text, 20, 20), (Lines{"line 29", "line 30"}));
  // 2 KiB: five 500-byte lines are 2504 bytes with their newlines, four are 2003.
  std::string big;
  for (char c : std::string("abcde")) big += std::string(500, c) + "\n";
  auto lines = CleanLogLines(big);
  ASSERT_EQ(lines.size(), 4U);
  EXPECT_EQ(lines.front(), std::string(500, 'b'));
  EXPECT_EQ(lines.back(), std::string(500, 'e'));
  // A last line longer than the whole budget: its start.
  EXPECT_EQ(CleanLogLines("0123456789\n", 20, 8, 100), (Lines{"01234\xe2\x80\xa6"}));
}

TEST(LogBlock, NamesTheContainerAndItsInstance) {
  EXPECT_EQ(LogBlock("Deployment/web", {"web-1-a", "app", true}, {"panic: boom", "exit 2"}),
            "Deployment/web: last 2 log lines of container \"app\" in pod web-1-a (previous "
            "instance):\npanic: boom\nexit 2");
  EXPECT_EQ(LogBlock("Job/pi", {"pi-x", "pi", false}, {"only"}),
            "Job/pi: last 1 log line of container \"pi\" in pod pi-x:\nonly");
  EXPECT_EQ(LogBlock("Job/pi", {"pi-x", "pi", false}, {}),
            "Job/pi: log of container \"pi\" in pod pi-x: (log is empty)");
}

TEST(LogUnavailable, CleansAndCutsTheReason) {
  EXPECT_EQ(LogUnavailable("Job/pi", {"pi-x", "pi", true}, "forbidden\n\x1b[1mreally\x1b[0m"),
            "Job/pi: log of container \"pi\" in pod pi-x (previous instance): (log not "
            "available: forbidden really)");
  auto long_reason = LogUnavailable("Job/pi", {"pi-x", "pi", false}, std::string(500, 'r'));
  EXPECT_EQ(long_reason, "Job/pi: log of container \"pi\" in pod pi-x: (log not available: " +
                             std::string(197, 'r') + "\xe2\x80\xa6)");
}

// In order, until the first one that does not fit.
TEST(WithLogs, AppendsBlocksWhileTheMessageFits) {
  EXPECT_EQ(WithLogs("summary", {}), "summary");
  EXPECT_EQ(WithLogs("summary", {"a: log\nx", "b: log\ny"}), "summary\na: log\nx\nb: log\ny");
  EXPECT_EQ(WithLogs("summary", {"12345", "1234567890", "12"}, 20),
            "summary\n12345\n(2 more container logs left out)");
  EXPECT_EQ(WithLogs("summary", {"12345", "1234567890"}, 20),
            "summary\n12345\n(1 more container log left out)");
  EXPECT_EQ(WithLogs("summary", {"1234567890", "1234567890"}, 10),
            "summary\n(2 more container logs left out)");
}

TEST(CutUtf8, NeverSplitsACharacter) {
  EXPECT_EQ(CutUtf8("ab\xc3\xa9", 3), "ab");
  EXPECT_EQ(CutUtf8("ab\xc3\xa9", 4), "ab\xc3\xa9");
  EXPECT_EQ(CutUtf8("\xe2\x9c\x93\xe2\x9c\x93", 5), "\xe2\x9c\x93");
}

json Status(json init, json containers) {
  return json{{"metadata", {{"name", "web-1-a"}}},
              {"status", {{"initContainerStatuses", init}, {"containerStatuses", containers}}}};
}

TEST(FailedContainer, PicksTheCrashingOrFailedContainer) {
  const json crash = {{"name", "app"},
                      {"restartCount", 2},
                      {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}},
                      {"lastState", {{"terminated", {{"exitCode", 1}}}}}};
  const json running = {{"name", "side"}, {"state", {{"running", json::object()}}}};
  EXPECT_EQ(FailedContainer(Status(json::array(), {running, crash})),
            (LogSource{"web-1-a", "app", true}));
  // Init containers first.
  json init = crash;
  init["name"] = "migrate";
  EXPECT_EQ(FailedContainer(Status({init}, {crash})), (LogSource{"web-1-a", "migrate", true}));
  // CrashLoopBackOff before it ever ended: its current instance.
  const json first_crash = {{"name", "app"},
                            {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}}};
  EXPECT_EQ(FailedContainer(Status(json::array(), {first_crash})),
            (LogSource{"web-1-a", "app", false}));
  // A failed Job's pod: the container that exited non-zero, this instance.
  const json failed = {{"name", "pi"}, {"state", {{"terminated", {{"exitCode", 3}}}}}};
  const json ok = {{"name", "ok"}, {"state", {{"terminated", {{"exitCode", 0}}}}}};
  EXPECT_EQ(FailedContainer(Status(json::array(), {ok, failed})),
            (LogSource{"web-1-a", "pi", false}));
  // Waiting to restart after a failure (not yet in back-off): the previous instance.
  const json restarting = {{"name", "app"},
                           {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}},
                           {"lastState", {{"terminated", {{"exitCode", 137}}}}}};
  EXPECT_EQ(FailedContainer(Status(json::array(), {restarting})),
            (LogSource{"web-1-a", "app", true}));
  // No log explains an image that cannot be pulled or a missing ConfigMap.
  const json image = {{"name", "app"}, {"state", {{"waiting", {{"reason", "ImagePullBackOff"}}}}}};
  const json config = {{"name", "app"},
                       {"state", {{"waiting", {{"reason", "CreateContainerConfigError"}}}}}};
  EXPECT_EQ(FailedContainer(Status(json::array(), {image})), std::nullopt);
  EXPECT_EQ(FailedContainer(Status(json::array(), {config, ok, running})), std::nullopt);
  EXPECT_EQ(FailedContainer(json{{"status", "garbage"}}), std::nullopt);
}

// The tracker names the container in the failures it causes.
TEST(RolloutTrackerLogSource, CrashLoopAndFailedJob) {
  const auto now = std::chrono::system_clock::now();
  RolloutTracker deployment(Rule::kDeployment, "Deployment", "web", now - std::chrono::hours(1),
                            TrackerOptions{});
  json pod = Status(
      json::array(),
      json::array(
          {{{"name", "app"},
            {"restartCount", 2},
            {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}, {"message", "back-off"}}}}},
            {"lastState", {{"terminated", {{"exitCode", 1}}}}}}}));
  auto step = deployment.OnPod("MODIFIED", pod, now);
  ASSERT_TRUE(step.outcome);
  EXPECT_EQ(step.outcome->kind, Outcome::Kind::kFailure);
  EXPECT_EQ(step.outcome->log, (LogSource{"web-1-a", "app", true}));

  RolloutTracker job(Rule::kJob, "Job", "pi", now - std::chrono::hours(1), TrackerOptions{});
  json job_pod =
      Status(json::array(),
             json::array({{{"name", "pi"}, {"state", {{"terminated", {{"exitCode", 1}}}}}}}));
  job_pod["metadata"]["name"] = "pi-x";
  EXPECT_FALSE(job.OnPod("MODIFIED", job_pod, now).outcome);
  json failed_job = {
      {"metadata", {{"name", "pi"}}},
      {"status",
       {{"conditions",
         json::array({{{"type", "Failed"},
                       {"status", "True"},
                       {"reason", "BackoffLimitExceeded"},
                       {"message", "Job has reached the specified backoff limit"}}})}}}};
  auto job_step = job.OnObject("MODIFIED", failed_job, now);
  ASSERT_TRUE(job_step.outcome);
  EXPECT_EQ(job_step.outcome->log, (LogSource{"pi-x", "pi", false}));

  // An image that cannot be pulled fails after its grace without a log.
  RolloutTracker image(Rule::kDeployment, "Deployment", "img", now - std::chrono::hours(1),
                       TrackerOptions{std::chrono::seconds(1), 2});
  json pulling = Status(
      json::array(),
      json::array({{{"name", "app"}, {"state", {{"waiting", {{"reason", "ImagePullBackOff"}}}}}}}));
  EXPECT_FALSE(image.OnPod("MODIFIED", pulling, now).outcome);
  auto later = image.OnTime(now + std::chrono::seconds(2));
  ASSERT_TRUE(later.outcome);
  EXPECT_EQ(later.outcome->log, std::nullopt);
}

}  // namespace
}  // namespace deployd::rollout
