#include "common/applyset.hpp"

#include <fmt/format.h>
#include <openssl/sha.h>

#include "common/crypto.hpp"
#include "common/names.hpp"

namespace common {
namespace {

bool LowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

std::optional<std::string> ApplySetNameProblem(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxApplySetName && LowerAlnum(name.front()) &&
            LowerAlnum(name.back());
  for (char c : name) {
    if (!LowerAlnum(c) && c != '-' && c != '.') ok = false;
  }
  if (ok) return std::nullopt;
  return fmt::format(
      "invalid ApplySet name {}: must be a lowercase RFC 1123 subdomain: at most 253 characters, "
      "lower case alphanumeric characters, '-' or '.', starting and ending with an alphanumeric "
      "character",
      Quote(name));
}

std::string DefaultApplySetName(std::string_view team, std::string_view owner,
                                std::string_view repository, std::string_view environment,
                                std::string_view cluster) {
  std::string joined;
  for (std::string_view part :
       {team, owner, repository, environment.empty() ? cluster : environment}) {
    if (part.empty()) continue;
    if (!joined.empty()) joined += '-';
    joined += part;
  }
  std::string out;
  for (char c : joined) {
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (!LowerAlnum(lower) && lower != '.') lower = '-';
    if (lower == '-' && !out.empty() && out.back() == '-') continue;
    out += lower;
  }
  if (out.size() > kMaxApplySetName) out.resize(kMaxApplySetName);
  while (!out.empty() && !LowerAlnum(out.back())) out.pop_back();
  std::size_t start = 0;
  while (start < out.size() && !LowerAlnum(out[start])) ++start;
  out.erase(0, start);
  return out.empty() ? "deploy" : out;
}

std::string ApplySetId(std::string_view name, std::string_view ns, std::string_view kind,
                       std::string_view group) {
  const std::string input = fmt::format("{}.{}.{}.{}", name, ns, kind, group);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return fmt::format("applyset-{}-v1", Base64UrlEncode(std::string_view(
                                           reinterpret_cast<const char*>(digest), sizeof digest)));
}

std::string GroupKindString(std::string_view kind, std::string_view group) {
  if (group.empty()) return std::string(kind);
  return fmt::format("{}.{}", kind, group);
}

std::pair<std::string, std::string> ParseGroupKind(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos) return {std::string(text), ""};
  return {std::string(text.substr(0, dot)), std::string(text.substr(dot + 1))};
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string part(text.substr(start, comma - start));
    while (!part.empty() && part.back() == ' ') part.pop_back();
    while (!part.empty() && part.front() == ' ') part.erase(0, 1);
    if (!part.empty()) out.push_back(std::move(part));
    start = comma + 1;
  }
  return out;
}

}  // namespace common
