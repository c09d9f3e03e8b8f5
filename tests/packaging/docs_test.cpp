// docs/operations.md names flags and variables of the programs; each must exist in that
// program's --help, so the guide cannot drift from the binaries.
#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "packaging.hpp"

namespace packaging {
namespace {

// Commands whose flags are not ours; their lines are not checked.
const std::set<std::string>& ForeignCommands() {
  static const std::set<std::string> kForeign{
      "kubectl", "docker",       "docker-compose", "psql",   "make",  "curl",
      "git",     "scripts/test", "scripts/demo",   "export", "cmake", "openssl"};
  return kForeign;
}

std::string Basename(const std::string& word) {
  const auto slash = word.rfind('/');
  return slash == std::string::npos ? word : word.substr(slash + 1);
}

struct Finding {
  std::string where;
  std::string text;
};

// A command (inline code or one logical line of a code block): the program is the first word
// that is not an environment assignment or `$`.
void CheckCommand(const std::string& command, const std::string& where,
                  std::vector<Finding>& problems, std::set<std::string>& checked) {
  const auto words = Words(command);
  std::string program;
  for (const auto& w : words) {
    if (w == "$" || w == "sudo" || w.find('=') != std::string::npos) continue;
    program = w;
    break;
  }
  std::vector<std::string> flags;
  for (const auto& w : words) {
    if (w.rfind("--", 0) == 0 && w.size() > 2 && std::isalpha(static_cast<unsigned char>(w[2]))) {
      std::string name = w.substr(2);
      name = name.substr(0, name.find_first_of("=,)`'\""));
      flags.push_back(name);
    }
  }
  if (flags.empty()) return;
  const std::string base = Basename(program);
  if (ForeignCommands().count(program) || ForeignCommands().count(base)) return;
  const auto& programs = Programs();
  if (std::find(programs.begin(), programs.end(), base) == programs.end()) {
    problems.push_back({where, "flags without a program (write `hookd --x`): " + command});
    return;
  }
  for (const auto& flag : flags) {
    checked.insert(base + " --" + flag);
    if (!HelpHasFlag(base, flag)) {
      problems.push_back({where, base + " has no --" + flag + " (" + command + ")"});
    }
  }
}

TEST(OperationsGuide, EveryFlagAndVariableExistsInTheProgramsHelp) {
  const std::string doc = testsupport::ReadFile(Source("docs/operations.md"));
  std::vector<Finding> problems;
  std::set<std::string> checked;

  // Code blocks: one logical command per line (a trailing backslash continues it). The prose
  // outside them is kept (blocks blanked out, so line numbers stay) for the inline code spans,
  // which may run over a line break.
  std::istringstream lines(doc);
  bool in_block = false;
  std::string pending;
  std::string prose;
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    const std::string where = "docs/operations.md:" + std::to_string(number);
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block;
      pending.clear();
      prose += "\n";
      continue;
    }
    if (!in_block) {
      prose += line + "\n";
      continue;
    }
    prose += "\n";
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    CheckCommand(pending + line, where, problems, checked);
    pending.clear();
  }
  const auto line_of = [&prose](std::size_t pos) {
    return "docs/operations.md:" +
           std::to_string(1 +
                          std::count(prose.begin(), prose.begin() + static_cast<long>(pos), '\n'));
  };
  // Prose: only inline code may name flags, each span with its program.
  std::string outside;
  for (std::size_t pos = 0; pos < prose.size();) {
    const auto open = prose.find('`', pos);
    const auto close = open == std::string::npos ? open : prose.find('`', open + 1);
    if (close == std::string::npos) {
      outside += prose.substr(pos);
      break;
    }
    outside += prose.substr(pos, open - pos) + std::string(close + 1 - open, ' ');
    std::string span = prose.substr(open + 1, close - open - 1);
    std::replace(span.begin(), span.end(), '\n', ' ');
    CheckCommand(span, line_of(open), problems, checked);
    pos = close + 1;
  }
  static const std::regex kBareFlag(R"((^|\s)--[a-z][a-z0-9.-]*)");
  for (std::sregex_iterator it(outside.begin(), outside.end(), kBareFlag), end; it != end; ++it) {
    problems.push_back({line_of(static_cast<std::size_t>(it->position())),
                        "a flag outside inline code: " + it->str()});
  }

  // Variables: HOOKD_*, DEPLOYD_*, PROVISION_* must be documented by one of the programs.
  static const std::regex kVariable(R"(\b((HOOKD|DEPLOYD|PROVISION)_[A-Z0-9_]+)\b)");
  for (std::sregex_iterator it(doc.begin(), doc.end(), kVariable), end; it != end; ++it) {
    const std::string name = (*it)[1];
    bool found = false;
    for (const auto& program : Programs()) found = found || HelpHasEnv(program, name);
    if (!found) problems.push_back({"docs/operations.md", name + " is in no program's --help"});
    checked.insert(name);
  }

  for (const auto& p : problems) ADD_FAILURE() << p.where << ": " << p.text;
  EXPECT_GT(checked.size(), 30u) << "the guide names the programs' flags";
}

// The guide covers what an operator needs, and points to each program's --help.
TEST(OperationsGuide, HasTheSections) {
  const std::string doc = testsupport::ReadFile(Source("docs/operations.md"));
  for (const char* heading :
       {"## Architecture", "## Configuration reference", "## Running several hookd replicas",
        "## Provisioning teams and API keys", "## Rotating keys", "## Upgrading",
        "## Troubleshooting", "### Unknown cluster", "### Expired signature",
        "### Impersonation forbidden", "### Rollout failed", "### deployd disconnected"}) {
    EXPECT_NE(doc.find(std::string("\n") + heading + "\n"), std::string::npos) << heading;
  }
  for (const auto& program : Programs()) {
    if (program == "kube-sim") continue;
    EXPECT_NE(doc.find("`" + program + " --help`"), std::string::npos) << program;
  }
}

}  // namespace
}  // namespace packaging
