// The Dockerfiles (no container engine runs here): multi-stage on Debian 12, a runtime stage whose
// packages are exactly those of the shared libraries the built binary links (readelf NEEDED,
// resolved with ldd, mapped with dpkg -S) and whose dependencies cover everything ldd loads, a
// non-root user, and the binary as entrypoint.
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "packaging.hpp"
#include "support/sanitizers.hpp"

namespace packaging {
namespace {

struct Stage {
  std::string from;  // "debian:12 AS build"
  std::vector<std::string> instructions;
};

// Instructions per stage: continuation lines joined, comments and blank lines dropped.
std::vector<Stage> ParseDockerfile(const std::string& path) {
  std::istringstream in(testsupport::ReadFile(path));
  std::vector<Stage> stages;
  std::string line;
  std::string pending;
  while (std::getline(in, line)) {
    if (pending.empty() && (line.empty() || line[0] == '#')) continue;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    const std::string instruction = pending + line;
    pending.clear();
    if (instruction.rfind("FROM ", 0) == 0) {
      stages.push_back({instruction.substr(5), {}});
    } else if (!stages.empty()) {
      stages.back().instructions.push_back(instruction);
    }
  }
  return stages;
}

// Packages after `apt-get install [options]`, up to the next `&&`.
std::set<std::string> AptInstalled(const Stage& stage) {
  std::set<std::string> out;
  for (const auto& instruction : stage.instructions) {
    const auto words = Words(instruction);
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
      if (words[i] != "apt-get" || words[i + 1] != "install") continue;
      for (std::size_t j = i + 2; j < words.size() && words[j] != "&&"; ++j) {
        if (words[j][0] != '-') out.insert(words[j]);
      }
    }
  }
  return out;
}

std::string Instruction(const Stage& stage, const std::string& keyword) {
  for (const auto& instruction : stage.instructions) {
    if (instruction.rfind(keyword + " ", 0) == 0) return instruction.substr(keyword.size() + 1);
  }
  return "";
}

// The Debian package of each path, with one `dpkg -S` call. usrmerge: /lib and /usr/lib are the
// same directory and dpkg knows a file under one of them, so both spellings (and the resolved
// symlink) are asked for.
std::map<std::string, std::string> PackagesOf(const std::set<std::string>& paths) {
  std::map<std::string, std::vector<std::string>> candidates;
  std::vector<std::string> argv{"dpkg", "-S"};
  for (const auto& path : paths) {
    auto& c = candidates[path];
    c.push_back(path);
    c.push_back(path.rfind("/usr/", 0) == 0 ? path.substr(4) : "/usr" + path);
    c.push_back(std::filesystem::canonical(path).string());
    argv.insert(argv.end(), c.begin(), c.end());
  }
  auto r = testsupport::Run(argv);           // exit 1 when some spelling is unknown: expected
  std::map<std::string, std::string> owner;  // "libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6"
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const auto sep = line.find(": /");
    if (sep == std::string::npos) continue;
    owner.emplace(line.substr(sep + 2), line.substr(0, line.find_first_of(":,")));
  }
  std::map<std::string, std::string> out;
  for (const auto& [path, spellings] : candidates) {
    for (const auto& spelling : spellings) {
      if (auto it = owner.find(spelling); it != owner.end()) {
        out[path] = it->second;
        break;
      }
    }
    if (!out.count(path)) ADD_FAILURE() << "no package owns " << path << "\n" << r.err;
  }
  return out;
}

struct Linked {
  std::map<std::string, std::string> ldd;  // soname (or interpreter path) -> resolved path
  std::vector<std::string> needed;         // the binary's own NEEDED sonames
};

// The sanitizers' runtimes, linked when the test tree is built with -fsanitize (CI's tree): the
// images build their own binaries without sanitizers, so these are not part of what they need.
bool SanitizerRuntime(const std::string& soname) {
  for (const char* prefix : {"libasan.", "libubsan.", "liblsan.", "libtsan."}) {
    if (soname.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

Linked Inspect(const std::string& binary) {
  Linked out;
  auto ldd = testsupport::Run({"ldd", binary});
  EXPECT_EQ(ldd.exit_code, 0) << ldd.err;
  std::istringstream lines(ldd.out);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.find("not found"), std::string::npos) << binary << ": " << line;
    const auto words = Words(line);
    if (!words.empty() && SanitizerRuntime(words[0])) continue;
    if (words.size() >= 3 && words[1] == "=>" && words[2][0] == '/') {
      out.ldd[words[0]] = words[2];
    } else if (!words.empty() && words[0][0] == '/') {
      out.ldd[words[0]] = words[0];  // the dynamic loader
    }
  }
  auto readelf = testsupport::Run({"readelf", "-d", binary});
  EXPECT_EQ(readelf.exit_code, 0) << readelf.err;
  static const std::regex kNeeded(R"(\(NEEDED\)\s+Shared library: \[([^\]]+)\])");
  for (std::sregex_iterator it(readelf.out.begin(), readelf.out.end(), kNeeded), end; it != end;
       ++it) {
    if (!SanitizerRuntime((*it)[1])) out.needed.push_back((*it)[1]);
  }
  return out;
}

// The installed packages that `roots` depend on, transitively (Depends and Pre-Depends; every
// installed alternative), roots included: what apt installs with them.
std::set<std::string> DependencyClosure(const std::set<std::string>& roots) {
  std::set<std::string> seen;
  std::vector<std::string> todo(roots.begin(), roots.end());
  while (!todo.empty()) {
    std::vector<std::string> batch;
    for (auto& p : todo) {
      if (seen.insert(p).second) batch.push_back(p);
    }
    todo.clear();
    if (batch.empty()) break;
    std::vector<std::string> argv{"dpkg-query", "-W",
                                  "-f=${Package}\t${Depends}, ${Pre-Depends}\n"};
    argv.insert(argv.end(), batch.begin(), batch.end());
    auto r = testsupport::Run(argv);  // not installed (virtual): exit 1 with the others listed
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      const std::string deps = line.substr(line.find('\t') + 1);
      static const std::regex kName(R"((^|[,|]\s*)([a-z0-9][a-z0-9+.-]+))");
      for (std::sregex_iterator it(deps.begin(), deps.end(), kName), end; it != end; ++it) {
        todo.push_back((*it)[2]);
      }
    }
  }
  return seen;
}

struct Image {
  const char* dockerfile;
  const char* program;
};

void PrintTo(const Image& image, std::ostream* os) { *os << image.dockerfile; }

class ImageTest : public ::testing::TestWithParam<Image> {};

TEST_P(ImageTest, RuntimeStageHasExactlyTheLibrariesTheBinaryNeeds) {
  const Image image = GetParam();
  if (testsupport::kAddressSanitizer) {
    // A sanitized build links other libraries (the images build their own, unsanitized).
    GTEST_SKIP() << "bin/" << image.program << " is built with the sanitizers";
  }
  const auto stages = ParseDockerfile(Source(image.dockerfile));
  ASSERT_EQ(stages.size(), 2u) << image.dockerfile;
  const Stage& build = stages[0];
  const Stage& runtime = stages[1];
  EXPECT_EQ(build.from, "debian:12 AS build");
  EXPECT_EQ(runtime.from, "debian:12-slim AS runtime");

  // The build stage builds this program with the repository's own scripts.
  bool builds = false;
  for (const auto& instruction : build.instructions) {
    builds |= instruction.find("--target " + std::string(image.program)) != std::string::npos;
  }
  EXPECT_TRUE(builds) << image.dockerfile;
  EXPECT_NE(Instruction(build, "RUN").find("scripts/bootstrap build"), std::string::npos);

  // Binary, user, entrypoint.
  const std::string app = "/app/" + std::string(image.program);
  EXPECT_EQ(Instruction(runtime, "COPY"),
            "--from=build /src/build/bin/" + std::string(image.program) + " " + app);
  EXPECT_EQ(Instruction(runtime, "ENTRYPOINT"), "[\"" + app + "\"]");
  const std::string user = Instruction(runtime, "USER");
  EXPECT_TRUE(std::regex_match(user, std::regex("[1-9][0-9]*:[1-9][0-9]*"))) << user;

  // Variables the image sets are the program's own.
  for (const auto& instruction : runtime.instructions) {
    if (instruction.rfind("ENV ", 0) != 0) continue;
    for (const auto& word : Words(instruction.substr(4))) {
      const std::string name = word.substr(0, word.find('='));
      EXPECT_TRUE(HelpHasEnv(image.program, name)) << image.dockerfile << ": " << name;
    }
  }

  // Packages: exactly those of the NEEDED libraries, plus CA certificates (TLS to GitHub,
  // hookd, the Kubernetes API).
  const auto linked = Inspect(testsupport::BinaryPath(image.program));
  std::set<std::string> paths;
  for (const auto& [soname, path] : linked.ldd) paths.insert(path);
  auto package = PackagesOf(paths);
  std::set<std::string> needed{"ca-certificates"};
  for (const auto& soname : linked.needed) {
    ASSERT_TRUE(linked.ldd.count(soname)) << soname << " is not resolved by ldd";
    needed.insert(package[linked.ldd.at(soname)]);
  }
  const auto listed = AptInstalled(runtime);
  for (const auto& p : needed) {
    EXPECT_TRUE(listed.count(p)) << image.dockerfile << " lacks " << p << ", which bin/"
                                 << image.program << " needs";
  }
  for (const auto& p : listed) {
    EXPECT_TRUE(needed.count(p)) << image.dockerfile << " installs " << p << ", which bin/"
                                 << image.program << " does not need";
  }

  // Everything the binary loads comes with those packages.
  const auto closure = DependencyClosure(listed);
  for (const auto& [soname, path] : linked.ldd) {
    EXPECT_TRUE(closure.count(package[path]))
        << image.dockerfile << ": " << soname << " (" << package[path] << ") is loaded by bin/"
        << image.program << " but not installed with the listed packages";
  }
}

INSTANTIATE_TEST_SUITE_P(Programs, ImageTest,
                         ::testing::Values(Image{"Dockerfile.hookd", "hookd"},
                                           Image{"Dockerfile.deployd", "deployd"},
                                           Image{"Dockerfile.deploy", "deploy"},
                                           Image{"Dockerfile.provision", "provision"},
                                           Image{"tests/kube-sim/Dockerfile", "kube-sim"}),
                         [](const auto& param_info) {
                           std::string name = param_info.param.program;
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

// The build context leaves local build trees and binaries out.
TEST(Images, DockerignoreExcludesBuildTrees) {
  const std::string ignore = testsupport::ReadFile(Source(".dockerignore"));
  for (const char* entry : {"\nbuild*\n", "\nbin\n", "\n.git\n"}) {
    EXPECT_NE(("\n" + ignore).find(entry), std::string::npos) << entry;
  }
}

}  // namespace
}  // namespace packaging
