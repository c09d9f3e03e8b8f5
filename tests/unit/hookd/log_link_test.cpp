// The original's /logs redirect targets, as fixed vectors.
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "hookd/http/handlers.hpp"

namespace {

using hookd::http::LogLink;
using hookd::http::RisonString;

const std::string kId = "0f3d8f6c-3c1e-4b8a-9b0e-1c2d3e4f5a6b";
constexpr long long kTs = 1661765494;  // 2022-08-29T09:31:34Z

TEST(LogLink, GcpLinksToTheLogsExplorerFourHoursAroundTheTimestamp) {
  EXPECT_EQ(LogLink("GCP", kId, kTs, 1, "dev-gcp", {{"dev-gcp", "nais-dev-2e7b"}}),
            "https://console.cloud.google.com/logs/query;query=jsonPayload.correlation_id%3d%22"
            "0f3d8f6c-3c1e-4b8a-9b0e-1c2d3e4f5a6b%22;timeRange=2022-08-29T07:31:34Z%2f"
            "2022-08-29T11:31:34Z?authuser=0&project=nais-dev-2e7b");
  try {
    LogLink("GCP", kId, kTs, 1, "prod-gcp", {{"dev-gcp", "nais-dev-2e7b"}});
    FAIL() << "no error";
  } catch (const common::Error& e) {
    EXPECT_STREQ(e.what(), "unknown cluster prod-gcp");
  }
}

TEST(LogLink, KibanaVersionsZeroAndOne) {
  EXPECT_EQ(
      LogLink("KIBANA", kId, kTs, 0, "", {}),
      "https://logs.adeo.no/app/kibana#/discover?_a=(index:'96e648c0-980a-11e9-830a-"
      "e17bbd64b4db',query:(language:lucene,query:'+x_delivery_id:\"0f3d8f6c-3c1e-4b8a-9b0e-"
      "1c2d3e4f5a6b\" -level:\"Trace\"'))&_g=(time:(from:'2022-08-29T00:00:00Z',mode:absolute,"
      "to:'2022-08-30T00:00:00Z'))");
  EXPECT_EQ(
      LogLink("KIBANA", kId, kTs, 1, "", {}),
      "https://logs.adeo.no/app/kibana#/discover?_a=(index:'96e648c0-980a-11e9-830a-"
      "e17bbd64b4db',query:(language:lucene,query:'+x_correlation_id:\"0f3d8f6c-3c1e-4b8a-"
      "9b0e-1c2d3e4f5a6b\" -level:\"Trace\" -level:\"Debug\"'))&_g=(time:(from:'2022-08-29T00:"
      "00:00Z',mode:absolute,to:'2022-08-30T00:00:00Z'))");
  try {
    LogLink("KIBANA", kId, kTs, 2, "", {});
    FAIL() << "no error";
  } catch (const common::Error& e) {
    EXPECT_EQ(std::string(e.what()), "version '" + kId + "' is not supported");
  }
}

TEST(LogLink, RisonStrings) {
  EXPECT_EQ(RisonString("lucene"), "lucene");
  EXPECT_EQ(RisonString(""), "''");
  EXPECT_EQ(RisonString("-x"), "'-x'");
  EXPECT_EQ(RisonString("1a"), "'1a'");
  EXPECT_EQ(RisonString("it's!"), "'it!'s!!'");
  EXPECT_EQ(RisonString("a:b"), "'a:b'");
}

}  // namespace
