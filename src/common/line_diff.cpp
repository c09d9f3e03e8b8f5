#include "common/line_diff.hpp"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace common {
namespace {

constexpr std::size_t kMaxTableCells = 4'000'000;

struct Op {
  char kind;  // ' ' kept, '-' removed (from a), '+' added (from b)
  std::size_t a;
  std::size_t b;
};

// Edit script of a[a0, a1) to b[b0, b1) through an LCS table (or remove-then-add when too large).
void Middle(const std::vector<std::string>& a, const std::vector<std::string>& b, std::size_t a0,
            std::size_t a1, std::size_t b0, std::size_t b1, std::vector<Op>& ops) {
  const std::size_t n = a1 - a0;
  const std::size_t m = b1 - b0;
  if (n == 0 || m == 0 || n * m > kMaxTableCells) {
    for (std::size_t i = a0; i < a1; ++i) ops.push_back({'-', i, b0});
    for (std::size_t j = b0; j < b1; ++j) ops.push_back({'+', a1, j});
    return;
  }
  // lcs[i][j]: LCS length of a[a0+i..a1) and b[b0+j..b1). min(n, m) <= 2000 fits 16 bits.
  const std::size_t width = m + 1;
  std::vector<std::uint16_t> lcs((n + 1) * width, 0);
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      lcs[i * width + j] = a[a0 + i] == b[b0 + j]
                               ? static_cast<std::uint16_t>(lcs[(i + 1) * width + j + 1] + 1)
                               : std::max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
    }
  }
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < n && j < m) {
    if (a[a0 + i] == b[b0 + j]) {
      ops.push_back({' ', a0 + i, b0 + j});
      ++i;
      ++j;
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
      ops.push_back({'-', a0 + i, b0 + j});
      ++i;
    } else {
      ops.push_back({'+', a0 + i, b0 + j});
      ++j;
    }
  }
  for (; i < n; ++i) ops.push_back({'-', a0 + i, b0 + j});
  for (; j < m; ++j) ops.push_back({'+', a0 + i, b0 + j});
}

std::string Range(std::size_t start, std::size_t count) {
  // 1-based first line; an empty range names the line before it.
  if (count == 1) return fmt::format("{}", start + 1);
  return fmt::format("{},{}", count == 0 ? start : start + 1, count);
}

}  // namespace

std::string UnifiedDiff(const std::vector<std::string>& a, const std::vector<std::string>& b,
                        const UnifiedDiffOptions& options) {
  std::size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  std::size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
    ++suffix;
  }
  if (prefix == a.size() && prefix == b.size()) return "";

  std::vector<Op> ops;
  ops.reserve(a.size() + b.size());
  for (std::size_t i = 0; i < prefix; ++i) ops.push_back({' ', i, i});
  Middle(a, b, prefix, a.size() - suffix, prefix, b.size() - suffix, ops);
  for (std::size_t k = suffix; k > 0; --k) {
    ops.push_back({' ', a.size() - k, b.size() - k});
  }

  std::string out = fmt::format("--- {}\n+++ {}\n", options.from_label, options.to_label);
  std::size_t emitted = 0;
  std::size_t skipped = 0;
  const auto line = [&](char kind, const std::string& text) {
    if (emitted >= options.max_lines) {
      ++skipped;
      return;
    }
    ++emitted;
    out += kind;
    out += text;
    out += '\n';
  };
  std::size_t k = 0;
  const std::size_t context = options.context;
  while (k < ops.size()) {
    // Next change.
    while (k < ops.size() && ops[k].kind == ' ') ++k;
    if (k == ops.size()) break;
    const std::size_t start = k >= context ? k - context : 0;
    // Extend the hunk while the next change is within 2 * context kept lines.
    std::size_t end = k;
    while (true) {
      while (end < ops.size() && ops[end].kind != ' ') ++end;
      std::size_t next = end;
      while (next < ops.size() && ops[next].kind == ' ') ++next;
      if (next < ops.size() && next - end <= 2 * context) {
        end = next;
        continue;
      }
      end = std::min(ops.size(), end + context);
      break;
    }
    std::size_t a_count = 0;
    std::size_t b_count = 0;
    for (std::size_t x = start; x < end; ++x) {
      if (ops[x].kind != '+') ++a_count;
      if (ops[x].kind != '-') ++b_count;
    }
    const std::size_t a_start = ops[start].a;
    const std::size_t b_start = ops[start].b;
    if (emitted < options.max_lines) {
      ++emitted;
      out += fmt::format("@@ -{} +{} @@\n", Range(a_start, a_count), Range(b_start, b_count));
    } else {
      ++skipped;
    }
    for (std::size_t x = start; x < end; ++x) {
      line(ops[x].kind, ops[x].kind == '+' ? b[ops[x].b] : a[ops[x].a]);
    }
    k = end;
  }
  if (skipped > 0) out += fmt::format("... diff truncated: {} more lines\n", skipped);
  return out;
}

}  // namespace common
