#pragma once
// A unified diff of two texts split into lines (as `diff -u` prints it), for plans.
#include <cstddef>
#include <string>
#include <vector>

namespace common {

struct UnifiedDiffOptions {
  std::string from_label = "a";
  std::string to_label = "b";
  std::size_t context = 3;
  // At most this many lines of hunks; the rest is replaced by one line
  // "... diff truncated: <N> more lines".
  std::size_t max_lines = 400;
};

// The unified diff of `a` to `b` ("--- <from>", "+++ <to>", hunks "@@ -l,n +l,n @@" with context
// lines); empty when the two are equal. The edit script is a longest common subsequence of the
// lines between the common prefix and suffix; when that middle part is too large for it (more
// than 4 million line pairs) the middle is shown as removed, then added: still a correct diff,
// only not a minimal one. Every line of the result ends with '\n'.
std::string UnifiedDiff(const std::vector<std::string>& a, const std::vector<std::string>& b,
                        const UnifiedDiffOptions& options = {});

}  // namespace common
