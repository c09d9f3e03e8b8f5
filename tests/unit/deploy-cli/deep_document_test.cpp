// Deeply nested resources through the whole CLI (templating, annotation injection, the request,
// --print-payload, --dry-run, sending): the one limit is common::kMaxDocumentDepth.
#include "deep_document.hpp"

#include <string>

#include <gtest/gtest.h>

#include "common/limits.hpp"
#include "fakes.hpp"

namespace deploy_cli {
namespace {

using nlohmann::json;
using testing::FakeTransport;
using testing::Harness;
using testing::MakeStatus;
using testing::ScratchFile;

std::vector<std::string> DeepDocumentArgs(const std::string& resource,
                                          std::vector<std::string> extra) {
  std::vector<std::string> args = {"--resource", resource,           "--cluster", "dev-fss",
                                   "--apikey",   "1234567812345678", "--team",    "aura"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The resource inside the --print-payload output.
json PrintedResource(const std::string& out) {
  const json payload = json::parse(out);
  return payload.at("kubernetes").at("resources").at(0);
}

TEST(DeepDocumentTest, GeneratorBuildsTheAskedDepth) {
  for (std::size_t depth : {35u, 512u, 513u}) {
    EXPECT_EQ(common::JsonDepth(testing::ApplicationSetCrd(depth), 10000), depth);
  }
}

TEST(DeepDocumentTest, ApplicationSetCrd35LevelsPrintsDryRunsAndIsSent) {
  const json crd = testing::ApplicationSetCrd(35);
  ScratchFile file(testing::ToBlockYaml(crd));

  Harness dry;
  ASSERT_EQ(dry.Run(DeepDocumentArgs(file.Path(), {"--print-payload", "--dry-run"})), 0)
      << dry.err.str();
  const json printed = PrintedResource(dry.out.str());
  EXPECT_EQ(common::JsonDepth(printed, 10000), 35u);
  EXPECT_EQ(printed["spec"]["versions"][0]["schema"], crd["spec"]["versions"][0]["schema"]);
  EXPECT_TRUE(dry.transport.deploy_requests.empty());

  Harness send;
  send.transport.deploys = {MakeStatus(pb::success, "done")};
  ASSERT_EQ(send.Run(DeepDocumentArgs(file.Path(), {"--print-payload"})), 0) << send.err.str();
  ASSERT_EQ(send.transport.deploy_requests.size(), 1u);
  const auto& resource = send.transport.deploy_requests[0].kubernetes().resources(0);
  EXPECT_EQ(common::StructDepth(resource, 10000), 35u);
  EXPECT_EQ(PrintedResource(send.out.str()), printed);
}

TEST(DeepDocumentTest, TemplatedDeepDocumentIsRenderedAndSent) {
  json crd = testing::ApplicationSetCrd(35);
  crd["metadata"]["name"] = "{{name}}";
  ScratchFile file(testing::ToBlockYaml(crd));
  Harness h;
  h.transport.deploys = {MakeStatus(pb::success, "done")};
  ASSERT_EQ(h.Run(DeepDocumentArgs(file.Path(), {"--var", "name=applicationsets.argoproj.io"})), 0)
      << h.err.str();
  const auto& resource = h.transport.deploy_requests.at(0).kubernetes().resources(0);
  EXPECT_EQ(common::StructDepth(resource, 10000), 35u);
  EXPECT_EQ(resource.fields().at("metadata").struct_value().fields().at("name").string_value(),
            "applicationsets.argoproj.io");
}

TEST(DeepDocumentTest, AtTheLimitEverythingWorks) {
  ScratchFile file(testing::ApplicationSetCrd(common::kMaxDocumentDepth).dump(), ".json");
  Harness h;
  h.transport.deploys = {MakeStatus(pb::success, "done")};
  ASSERT_EQ(h.Run(DeepDocumentArgs(file.Path(), {"--print-payload"})), 0) << h.err.str();
  EXPECT_EQ(common::JsonDepth(PrintedResource(h.out.str()), 10000), common::kMaxDocumentDepth);
  ASSERT_EQ(h.transport.deploy_requests.size(), 1u);
  EXPECT_EQ(common::StructDepth(h.transport.deploy_requests[0].kubernetes().resources(0), 10000),
            common::kMaxDocumentDepth);
}

TEST(DeepDocumentTest, OneLevelDeeperFailsOnceWithTheLimitMessage) {
  for (const char* suffix : {".json", ".yaml"}) {
    const json crd = testing::ApplicationSetCrd(common::kMaxDocumentDepth + 1);
    ScratchFile file(std::string(suffix) == ".json" ? crd.dump() : testing::ToBlockYaml(crd),
                     suffix);
    for (const std::vector<std::string>& extra :
         {std::vector<std::string>{"--print-payload", "--dry-run"},
          std::vector<std::string>{"--print-payload"}, std::vector<std::string>{}}) {
      Harness h;
      h.transport.deploys = {MakeStatus(pb::success, "done")};
      EXPECT_EQ(h.Run(DeepDocumentArgs(file.Path(), extra)), 8);
      EXPECT_TRUE(h.out.str().empty());
      EXPECT_TRUE(h.transport.deploy_requests.empty());
      // The YAML reader refuses the document at the limit, naming the line and column.
      const std::string last = h.LastErrLine();
      const std::string prefix = "level=error msg=\"fatal: " + file.Path() + ": line ";
      ASSERT_NE(last.find(prefix), std::string::npos) << last;
      EXPECT_EQ(last.substr(last.size() - common::DepthMessage().size() - 3),
                ": " + common::DepthMessage() + "\"")
          << last;
      const std::string err = h.err.str();
      EXPECT_EQ(err.find(common::DepthMessage()), err.rfind(common::DepthMessage()))
          << "reported more than once: " << err;
    }
  }
}

}  // namespace
}  // namespace deploy_cli
