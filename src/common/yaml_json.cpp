// YAML 1.1 to JSON, written to agree with what the original CLI did with gopkg.in/yaml.v2 (a Go
// port of libyaml): decode each document into Go's interface{}, marshal it back to YAML, convert
// that to JSON. The pieces, in the order the text flows through them:
//
//   Input    checks the encoding (UTF-8, or UTF-16 with a byte order mark) and the characters
//            YAML allows, and strips a leading byte order mark;
//   Scanner  turns characters into tokens with libyaml's rules (indentation, simple keys, flow
//            collections, the five scalar styles, anchors, aliases, tags, directives);
//   Parser   turns tokens into events (libyaml's state machine, same error messages);
//   Builder  turns events into JSON as yaml.v2's decoder and the JSON conversion did: scalar
//            resolution, tags, anchors and aliases, merge keys, map keys made strings.
//
// Where we differ from yaml.v2 on purpose (duplicate keys, empty documents, under-indented quoted
// scalars, limits) the code says so at the place; the header lists the differences.
#include "common/yaml_json.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/limits.hpp"

namespace common {
namespace {

using Pos = std::int64_t;

// A place in the input. Lines and columns count from 0 here and from 1 in messages; columns and
// `index` count characters (not bytes), as libyaml does.
struct Mark {
  std::size_t offset = 0;  // byte offset in the decoded input
  Pos index = 0;
  Pos line = 0;
  Pos column = 0;
};

std::string Where(const Mark& mark) {
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

[[noreturn]] void Fail(const Mark& mark, const std::string& reason) {
  throw Error(ErrorCode::kInvalidArgument, Where(mark) + ": " + reason);
}

// A syntax error in libyaml's terms: `problem` found at `problem_mark`, while reading a construct
// (`context`, e.g. "while scanning a quoted scalar") that starts at `context_mark`. The message
// leads with the place a reader should look at: the problem, except when the problem is only that
// the input ended (an unclosed quote or bracket) or that a key has no ':', where the start of the
// construct is the useful place.
[[noreturn]] void FailSyntax(std::string_view context, const Mark& context_mark,
                             std::string_view problem, const Mark& problem_mark,
                             std::size_t input_end) {
  const bool has_context = !context.empty() && context_mark.offset != problem_mark.offset;
  const bool lead_with_context =
      has_context && (problem_mark.offset >= input_end || problem == "could not find expected ':'");
  std::string message;
  if (lead_with_context) {
    message = Where(context_mark) + ": " + std::string(context) + ": " + std::string(problem);
  } else {
    message = Where(problem_mark) + ": " + std::string(problem);
    if (has_context) {
      message += " (" + std::string(context) + " at " + Where(context_mark) + ")";
    }
  }
  throw Error(ErrorCode::kInvalidArgument, message);
}

// ---------------------------------------------------------------------------------------------
// Input

// Bytes of padding after the text: the scanner looks a few bytes ahead without bounds checks and
// treats NUL as the end of the input (a real NUL is refused below as a control character).
constexpr std::size_t kPadding = 16;

// Length of a UTF-8 sequence from its first byte; 0 for a byte that cannot start one.
std::size_t Utf8Width(unsigned char lead) noexcept {
  if ((lead & 0x80) == 0x00) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 0;
}

void AppendUtf8(std::string& out, std::uint32_t value) {
  if (value <= 0x7F) {
    out.push_back(static_cast<char>(value));
  } else if (value <= 0x7FF) {
    out.push_back(static_cast<char>(0xC0 | (value >> 6)));
    out.push_back(static_cast<char>(0x80 | (value & 0x3F)));
  } else if (value <= 0xFFFF) {
    out.push_back(static_cast<char>(0xE0 | (value >> 12)));
    out.push_back(static_cast<char>(0x80 | ((value >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (value & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (value >> 18)));
    out.push_back(static_cast<char>(0x80 | ((value >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((value >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (value & 0x3F)));
  }
}

// Line and column of byte `offset` of valid UTF-8 `text`, counting line breaks as the scanner
// does (CR LF is one break). Only used to place input errors.
Mark MarkAt(std::string_view text, std::size_t offset) {
  Mark mark;
  std::size_t i = 0;
  while (i < offset && i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t width = Utf8Width(c);
    if (width == 0) width = 1;
    const bool is_break =
        c == '\n' || c == '\r' ||
        (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x85) ||
        (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
         (static_cast<unsigned char>(text[i + 2]) == 0xA8 ||
          static_cast<unsigned char>(text[i + 2]) == 0xA9));
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') width = 2;
    i += width;
    if (is_break) {
      ++mark.line;
      mark.column = 0;
    } else {
      ++mark.column;
    }
  }
  mark.offset = offset;
  return mark;
}

// UTF-16 (chosen by its byte order mark, as libyaml does) converted to UTF-8.
std::string Utf16ToUtf8(std::string_view text, bool little_endian) {
  std::string out;
  out.reserve(text.size());
  auto unit = [&](std::size_t i) -> std::uint32_t {
    const auto a = static_cast<unsigned char>(text[i]);
    const auto b = static_cast<unsigned char>(text[i + 1]);
    return little_endian ? (static_cast<std::uint32_t>(b) << 8) | a
                         : (static_cast<std::uint32_t>(a) << 8) | b;
  };
  auto fail = [&](const char* problem) { Fail(MarkAt(out, out.size()), problem); };
  std::size_t i = 2;  // after the byte order mark
  while (i < text.size()) {
    if (i + 1 >= text.size()) fail("incomplete UTF-16 character");
    std::uint32_t value = unit(i);
    i += 2;
    if ((value & 0xFC00) == 0xDC00) fail("unexpected low surrogate area");
    if ((value & 0xFC00) == 0xD800) {
      if (i + 1 >= text.size()) fail("incomplete UTF-16 surrogate pair");
      const std::uint32_t low = unit(i);
      if ((low & 0xFC00) != 0xDC00) fail("expected low surrogate area");
      i += 2;
      value = 0x10000 + ((value & 0x3FF) << 10) + (low & 0x3FF);
    }
    AppendUtf8(out, value);
  }
  return out;
}

bool AllowedCharacter(std::uint32_t c) noexcept {
  return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
         (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0x10FFFF);
}

// The text the scanner reads: UTF-8 without a leading byte order mark, every character checked,
// followed by kPadding NUL bytes. `size` receives the length without the padding.
std::string DecodeInput(std::string_view text, std::size_t& size) {
  std::string decoded;
  if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0xFF &&
      static_cast<unsigned char>(text[1]) == 0xFE) {
    decoded = Utf16ToUtf8(text, true);
  } else if (text.size() >= 2 && static_cast<unsigned char>(text[0]) == 0xFE &&
             static_cast<unsigned char>(text[1]) == 0xFF) {
    decoded = Utf16ToUtf8(text, false);
  } else if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") {
    decoded.assign(text.substr(3));
  } else {
    decoded.assign(text);
  }
  const std::string_view view(decoded);
  std::size_t i = 0;
  while (i < view.size()) {
    const auto lead = static_cast<unsigned char>(view[i]);
    if (lead >= 0x20 && lead <= 0x7E) {  // the common case
      ++i;
      continue;
    }
    const std::size_t width = Utf8Width(lead);
    if (width == 0) Fail(MarkAt(view, i), "invalid leading UTF-8 octet");
    if (i + width > view.size()) Fail(MarkAt(view, i), "incomplete UTF-8 octet sequence");
    std::uint32_t value = width == 1   ? lead
                          : width == 2 ? (lead & 0x1Fu)
                          : width == 3 ? (lead & 0x0Fu)
                                       : (lead & 0x07u);
    for (std::size_t k = 1; k < width; ++k) {
      const auto trail = static_cast<unsigned char>(view[i + k]);
      if ((trail & 0xC0) != 0x80) Fail(MarkAt(view, i), "invalid trailing UTF-8 octet");
      value = (value << 6) | (trail & 0x3Fu);
    }
    if ((width == 2 && value < 0x80) || (width == 3 && value < 0x800) ||
        (width == 4 && value < 0x10000)) {
      Fail(MarkAt(view, i), "invalid length of a UTF-8 sequence");
    }
    if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) {
      Fail(MarkAt(view, i), "invalid Unicode character");
    }
    if (!AllowedCharacter(value)) Fail(MarkAt(view, i), "control characters are not allowed");
    i += width;
  }
  size = decoded.size();
  decoded.append(kPadding, '\0');
  return decoded;
}

// ---------------------------------------------------------------------------------------------
// Scanner

enum class TokenType : std::uint8_t {
  kStreamStart,
  kStreamEnd,
  kVersionDirective,
  kTagDirective,
  kDocumentStart,
  kDocumentEnd,
  kBlockSequenceStart,
  kBlockMappingStart,
  kBlockEnd,
  kFlowSequenceStart,
  kFlowSequenceEnd,
  kFlowMappingStart,
  kFlowMappingEnd,
  kBlockEntry,
  kFlowEntry,
  kKey,
  kValue,
  kAlias,
  kAnchor,
  kTag,
  kScalar,
};

enum class ScalarStyle : std::uint8_t { kPlain, kSingleQuoted, kDoubleQuoted, kLiteral, kFolded };

struct Token {
  TokenType type = TokenType::kStreamStart;
  Mark start;
  Mark end;
  std::string value;   // scalar text, anchor or alias name, tag handle, %TAG handle
  std::string suffix;  // tag suffix, %TAG prefix
  ScalarStyle style = ScalarStyle::kPlain;
  int major = 0;
  int minor = 0;
};

// libyaml's own limits on flow nesting and on the indentation stack.
constexpr std::size_t kMaxFlowLevel = 10000;
constexpr std::size_t kMaxIndents = 10000;
// A simple (implicit) key must end within this many characters, on its line.
constexpr Pos kMaxSimpleKeyLength = 1024;

class Scanner {
 public:
  Scanner(const std::string& input, std::size_t size) : b_(input.data()), size_(size) {}

  std::size_t InputEnd() const noexcept { return size_; }

  // The next token; stays valid until Skip() or the next Peek().
  Token& Peek() {
    if (!token_available_) FetchMoreTokens();
    return tokens_.front();
  }

  void Skip() {
    token_available_ = false;
    ++tokens_parsed_;
    tokens_.pop_front();
  }

 private:
  struct SimpleKey {
    bool possible = false;
    bool required = false;
    std::size_t token_number = 0;
    Mark mark;
  };

  // ---- characters --------------------------------------------------------------------------
  unsigned char At(std::size_t k = 0) const noexcept {
    return static_cast<unsigned char>(b_[mark_.offset + k]);
  }
  bool Is(char c, std::size_t k = 0) const noexcept { return b_[mark_.offset + k] == c; }
  bool IsZ(std::size_t k = 0) const noexcept { return At(k) == 0; }
  bool IsSpace(std::size_t k = 0) const noexcept { return Is(' ', k); }
  bool IsTab(std::size_t k = 0) const noexcept { return Is('\t', k); }
  bool IsBlank(std::size_t k = 0) const noexcept { return Is(' ', k) || Is('\t', k); }
  bool IsBreak(std::size_t k = 0) const noexcept {
    const unsigned char c = At(k);
    return c == '\r' || c == '\n' || (c == 0xC2 && At(k + 1) == 0x85) ||
           (c == 0xE2 && At(k + 1) == 0x80 && (At(k + 2) == 0xA8 || At(k + 2) == 0xA9));
  }
  bool IsBreakZ(std::size_t k = 0) const noexcept { return IsBreak(k) || IsZ(k); }
  bool IsBlankZ(std::size_t k = 0) const noexcept { return IsBlank(k) || IsBreakZ(k); }
  bool IsDigit(std::size_t k = 0) const noexcept { return At(k) >= '0' && At(k) <= '9'; }
  bool IsAlpha(std::size_t k = 0) const noexcept {
    const unsigned char c = At(k);
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c == '-';
  }
  bool IsHex(std::size_t k = 0) const noexcept {
    const unsigned char c = At(k);
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
  }
  unsigned HexValue(std::size_t k) const noexcept {
    const unsigned char c = At(k);
    if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
    if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
    return static_cast<unsigned>(c - '0');
  }
  bool AtDocumentIndicator() const noexcept {
    return mark_.column == 0 &&
           ((Is('-') && Is('-', 1) && Is('-', 2)) || (Is('.') && Is('.', 1) && Is('.', 2))) &&
           IsBlankZ(3);
  }

  // ---- moving ------------------------------------------------------------------------------
  void SkipChar() noexcept {
    if (IsZ()) return;
    std::size_t width = Utf8Width(At());
    if (width == 0) width = 1;
    mark_.offset += width;
    ++mark_.index;
    ++mark_.column;
  }
  void SkipLine() noexcept {
    if (Is('\r') && Is('\n', 1)) {
      mark_.offset += 2;
      mark_.index += 2;
      mark_.column = 0;
      ++mark_.line;
    } else if (IsBreak()) {
      mark_.offset += Utf8Width(At());
      ++mark_.index;
      mark_.column = 0;
      ++mark_.line;
    }
  }
  void ReadChar(std::string& s) {
    if (IsZ()) return;
    std::size_t width = Utf8Width(At());
    if (width == 0) width = 1;
    s.append(b_ + mark_.offset, width);
    mark_.offset += width;
    ++mark_.index;
    ++mark_.column;
  }
  // Reads a line break into `s`: CR LF, CR, LF and NEL become "\n"; LS and PS are kept.
  void ReadLine(std::string& s) {
    if (Is('\r') && Is('\n', 1)) {
      s.push_back('\n');
      mark_.offset += 2;
      mark_.index += 2;
    } else if (Is('\r') || Is('\n')) {
      s.push_back('\n');
      mark_.offset += 1;
      ++mark_.index;
    } else if (At() == 0xC2 && At(1) == 0x85) {
      s.push_back('\n');
      mark_.offset += 2;
      ++mark_.index;
    } else if (At() == 0xE2 && At(1) == 0x80 && (At(2) == 0xA8 || At(2) == 0xA9)) {
      s.append(b_ + mark_.offset, 3);
      mark_.offset += 3;
      ++mark_.index;
    } else {
      return;
    }
    mark_.column = 0;
    ++mark_.line;
  }

  [[noreturn]] void ScanError(std::string_view context, const Mark& context_mark,
                              std::string_view problem) const {
    FailSyntax(context, context_mark, problem, mark_, size_);
  }

  // ---- the token queue ---------------------------------------------------------------------
  std::size_t NextTokenNumber() const noexcept { return tokens_parsed_ + tokens_.size(); }

  // Appends a token; the caller fills in its value, style or suffix.
  Token& AddToken(TokenType type, const Mark& start, const Mark& end) {
    Token& token = tokens_.emplace_back();
    token.type = type;
    token.start = start;
    token.end = end;
    return token;
  }

  // Inserts at `position` tokens after the head; a negative position appends.
  void InsertToken(Pos position, TokenType type, const Mark& mark) {
    Token token;
    token.type = type;
    token.start = mark;
    token.end = mark;
    if (position < 0 || static_cast<std::size_t>(position) >= tokens_.size()) {
      tokens_.push_back(std::move(token));
    } else {
      tokens_.insert(tokens_.begin() + position, std::move(token));
    }
  }

  // Fetches tokens until the head token can be handed out: it cannot be handed out while it may
  // still turn out to be a simple key (a KEY token would have to go before it).
  void FetchMoreTokens() {
    for (;;) {
      if (!tokens_.empty()) {
        const auto it = simple_keys_by_token_.find(tokens_parsed_);
        if (it == simple_keys_by_token_.end() || it->second >= simple_keys_.size()) break;
        if (!SimpleKeyIsValid(simple_keys_[it->second])) break;
      }
      FetchNextToken();
    }
    token_available_ = true;
  }

  void FetchNextToken() {
    if (!stream_start_produced_) {
      FetchStreamStart();
      return;
    }
    ScanToNextToken();
    UnrollIndent(mark_.column);
    if (IsZ()) {
      FetchStreamEnd();
      return;
    }
    const unsigned char c = At();
    if (mark_.column == 0 && c == '%') return FetchDirective();
    if (mark_.column == 0 && Is('-') && Is('-', 1) && Is('-', 2) && IsBlankZ(3)) {
      return FetchDocumentIndicator(TokenType::kDocumentStart);
    }
    if (mark_.column == 0 && Is('.') && Is('.', 1) && Is('.', 2) && IsBlankZ(3)) {
      return FetchDocumentIndicator(TokenType::kDocumentEnd);
    }
    if (c == '[') return FetchFlowCollectionStart(TokenType::kFlowSequenceStart);
    if (c == '{') return FetchFlowCollectionStart(TokenType::kFlowMappingStart);
    if (c == ']') return FetchFlowCollectionEnd(TokenType::kFlowSequenceEnd);
    if (c == '}') return FetchFlowCollectionEnd(TokenType::kFlowMappingEnd);
    if (c == ',') return FetchFlowEntry();
    if (c == '-' && IsBlankZ(1)) return FetchBlockEntry();
    if (c == '?' && (flow_level_ > 0 || IsBlankZ(1))) return FetchKey();
    if (c == ':' && (flow_level_ > 0 || IsBlankZ(1))) return FetchValue();
    if (c == '*') return FetchAnchor(TokenType::kAlias);
    if (c == '&') return FetchAnchor(TokenType::kAnchor);
    if (c == '!') return FetchTag();
    if (c == '|' && flow_level_ == 0) return FetchBlockScalar(true);
    if (c == '>' && flow_level_ == 0) return FetchBlockScalar(false);
    if (c == '\'') return FetchFlowScalar(true);
    if (c == '"') return FetchFlowScalar(false);
    // A plain scalar starts with any other non-blank character; in block context also with
    // '-', '?' or ':' followed by a non-blank, and anywhere with '-' followed by a non-blank.
    static constexpr std::string_view kIndicators = "-?:,[]{}#&*!|>'\"%@`";
    if (!(IsBlankZ() || kIndicators.find(static_cast<char>(c)) != std::string_view::npos) ||
        (c == '-' && !IsBlank(1)) || (flow_level_ == 0 && (c == '?' || c == ':') && !IsBlankZ(1))) {
      return FetchPlainScalar();
    }
    ScanError("while scanning for the next token", mark_,
              "found character that cannot start any token");
  }

  // ---- simple keys and indentation ---------------------------------------------------------
  bool SimpleKeyIsValid(SimpleKey& key) {
    if (!key.possible) return false;
    if (key.mark.line < mark_.line || key.mark.index + kMaxSimpleKeyLength < mark_.index) {
      if (key.required) {
        ScanError("while scanning a simple key", key.mark, "could not find expected ':'");
      }
      key.possible = false;
      return false;
    }
    return true;
  }

  void SaveSimpleKey() {
    // In block context a key is required where the column equals the indentation.
    const bool required = flow_level_ == 0 && indent_ == mark_.column;
    if (simple_key_allowed_) {
      SimpleKey key;
      key.possible = true;
      key.required = required;
      key.token_number = NextTokenNumber();
      key.mark = mark_;
      RemoveSimpleKey();
      simple_keys_.back() = key;
      simple_keys_by_token_[key.token_number] = simple_keys_.size() - 1;
    }
  }

  void RemoveSimpleKey() {
    SimpleKey& key = simple_keys_.back();
    if (key.possible) {
      if (key.required) {
        ScanError("while scanning a simple key", key.mark, "could not find expected ':'");
      }
      key.possible = false;
      simple_keys_by_token_.erase(key.token_number);
    }
  }

  void IncreaseFlowLevel() {
    SimpleKey key;
    key.token_number = NextTokenNumber();
    key.mark = mark_;
    simple_keys_.push_back(key);
    ++flow_level_;
    if (flow_level_ > kMaxFlowLevel) {
      ScanError("while increasing flow level", simple_keys_.back().mark,
                "exceeded max depth of " + std::to_string(kMaxFlowLevel));
    }
  }

  void DecreaseFlowLevel() {
    if (flow_level_ > 0) {
      --flow_level_;
      simple_keys_by_token_.erase(simple_keys_.back().token_number);
      simple_keys_.pop_back();
    }
  }

  // In block context, opens a collection at `column` if it is deeper than the current one, by
  // putting `type` at token number `number` (-1: at the end of the queue).
  void RollIndent(Pos column, Pos number, TokenType type, const Mark& mark) {
    if (flow_level_ > 0) return;
    if (indent_ < column) {
      indents_.push_back(indent_);
      indent_ = column;
      if (indents_.size() > kMaxIndents) {
        ScanError("while increasing indent level", simple_keys_.back().mark,
                  "exceeded max depth of " + std::to_string(kMaxIndents));
      }
      if (number > -1) number -= static_cast<Pos>(tokens_parsed_);
      InsertToken(number, type, mark);
    }
  }

  // In block context, closes every collection deeper than `column`.
  void UnrollIndent(Pos column) {
    if (flow_level_ > 0) return;
    while (indent_ > column) {
      AddToken(TokenType::kBlockEnd, mark_, mark_);
      indent_ = indents_.back();
      indents_.pop_back();
    }
  }

  // ---- fetching ----------------------------------------------------------------------------
  void FetchStreamStart() {
    indent_ = -1;
    simple_keys_.emplace_back();
    simple_key_allowed_ = true;
    stream_start_produced_ = true;
    AddToken(TokenType::kStreamStart, mark_, mark_);
  }

  void FetchStreamEnd() {
    if (mark_.column != 0) {  // the end of the input ends the last line
      mark_.column = 0;
      ++mark_.line;
    }
    UnrollIndent(-1);
    RemoveSimpleKey();
    simple_key_allowed_ = false;
    AddToken(TokenType::kStreamEnd, mark_, mark_);
  }

  void FetchDirective() {
    UnrollIndent(-1);
    RemoveSimpleKey();
    simple_key_allowed_ = false;
    ScanDirective();
  }

  void FetchDocumentIndicator(TokenType type) {
    UnrollIndent(-1);
    RemoveSimpleKey();
    simple_key_allowed_ = false;
    const Mark start = mark_;
    SkipChar();
    SkipChar();
    SkipChar();
    AddToken(type, start, mark_);
  }

  void FetchFlowCollectionStart(TokenType type) {
    SaveSimpleKey();
    IncreaseFlowLevel();
    simple_key_allowed_ = true;
    const Mark start = mark_;
    SkipChar();
    AddToken(type, start, mark_);
  }

  void FetchFlowCollectionEnd(TokenType type) {
    RemoveSimpleKey();
    DecreaseFlowLevel();
    simple_key_allowed_ = false;
    const Mark start = mark_;
    SkipChar();
    AddToken(type, start, mark_);
  }

  void FetchFlowEntry() {
    RemoveSimpleKey();
    simple_key_allowed_ = true;
    const Mark start = mark_;
    SkipChar();
    AddToken(TokenType::kFlowEntry, start, mark_);
  }

  void FetchBlockEntry() {
    if (flow_level_ == 0) {
      if (!simple_key_allowed_) {
        ScanError("", mark_, "block sequence entries are not allowed in this context");
      }
      RollIndent(mark_.column, -1, TokenType::kBlockSequenceStart, mark_);
    }
    RemoveSimpleKey();
    simple_key_allowed_ = true;
    const Mark start = mark_;
    SkipChar();
    AddToken(TokenType::kBlockEntry, start, mark_);
  }

  void FetchKey() {
    if (flow_level_ == 0) {
      if (!simple_key_allowed_)
        ScanError("", mark_, "mapping keys are not allowed in this context");
      RollIndent(mark_.column, -1, TokenType::kBlockMappingStart, mark_);
    }
    RemoveSimpleKey();
    simple_key_allowed_ = flow_level_ == 0;
    const Mark start = mark_;
    SkipChar();
    AddToken(TokenType::kKey, start, mark_);
  }

  void FetchValue() {
    SimpleKey& key = simple_keys_.back();
    if (SimpleKeyIsValid(key)) {
      // The saved simple key was a key after all: put KEY (and, for a new block mapping,
      // BLOCK-MAPPING-START) before its first token.
      const Pos position = static_cast<Pos>(key.token_number) - static_cast<Pos>(tokens_parsed_);
      InsertToken(position, TokenType::kKey, key.mark);
      RollIndent(key.mark.column, static_cast<Pos>(key.token_number), TokenType::kBlockMappingStart,
                 key.mark);
      key.possible = false;
      simple_keys_by_token_.erase(key.token_number);
      simple_key_allowed_ = false;
    } else {
      if (flow_level_ == 0) {
        if (!simple_key_allowed_) {
          ScanError("", mark_, "mapping values are not allowed in this context");
        }
        RollIndent(mark_.column, -1, TokenType::kBlockMappingStart, mark_);
      }
      simple_key_allowed_ = flow_level_ == 0;
    }
    const Mark start = mark_;
    SkipChar();
    AddToken(TokenType::kValue, start, mark_);
  }

  void FetchAnchor(TokenType type) {
    SaveSimpleKey();
    simple_key_allowed_ = false;
    ScanAnchor(type);
  }

  void FetchTag() {
    SaveSimpleKey();
    simple_key_allowed_ = false;
    ScanTag();
  }

  void FetchBlockScalar(bool literal) {
    RemoveSimpleKey();
    simple_key_allowed_ = true;
    ScanBlockScalar(literal);
  }

  void FetchFlowScalar(bool single) {
    SaveSimpleKey();
    simple_key_allowed_ = false;
    ScanFlowScalar(single);
  }

  void FetchPlainScalar() {
    SaveSimpleKey();
    simple_key_allowed_ = false;
    ScanPlainScalar();
  }

  // ---- scanning ----------------------------------------------------------------------------
  // Skips blanks, comments and line breaks up to the next token. Tabs are skipped only where a
  // simple key is not allowed (inside flow collections, after a token on the same line): at the
  // start of a block line a tab cannot be indentation and is then reported as an invalid token.
  // (A byte order mark after the start of the input is an ordinary character, as in yaml.v2.)
  void ScanToNextToken() {
    for (;;) {
      while (IsSpace() || ((flow_level_ > 0 || !simple_key_allowed_) && IsTab())) SkipChar();
      if (Is('#')) {
        while (!IsBreakZ()) SkipChar();
      }
      if (!IsBreak()) break;
      SkipLine();
      if (flow_level_ == 0) simple_key_allowed_ = true;
    }
  }

  void SkipBlanksAndComment() {
    while (IsBlank()) SkipChar();
    if (Is('#')) {
      while (!IsBreakZ()) SkipChar();
    }
  }

  void ScanDirective() {
    const Mark start = mark_;
    SkipChar();  // '%'
    std::string name;
    while (IsAlpha()) ReadChar(name);
    if (name.empty()) {
      ScanError("while scanning a directive", start, "could not find expected directive name");
    }
    if (!IsBlankZ()) {
      ScanError("while scanning a directive", start, "found unexpected non-alphabetical character");
    }
    Token token;
    token.start = start;
    if (name == "YAML") {
      while (IsBlank()) SkipChar();
      token.major = ScanVersionNumber(start);
      if (!Is('.')) {
        ScanError("while scanning a %YAML directive", start,
                  "did not find expected digit or '.' character");
      }
      SkipChar();
      token.minor = ScanVersionNumber(start);
      token.type = TokenType::kVersionDirective;
    } else if (name == "TAG") {
      while (IsBlank()) SkipChar();
      token.value = ScanTagHandle(true, start);
      if (!IsBlank()) {
        ScanError("while scanning a %TAG directive", start, "did not find expected whitespace");
      }
      while (IsBlank()) SkipChar();
      token.suffix = ScanTagUri(true, "", start);
      if (!IsBlankZ()) {
        ScanError("while scanning a %TAG directive", start,
                  "did not find expected whitespace or line break");
      }
      token.type = TokenType::kTagDirective;
    } else {
      ScanError("while scanning a directive", start, "found unknown directive name");
    }
    token.end = mark_;
    SkipBlanksAndComment();
    if (!IsBreakZ()) {
      ScanError("while scanning a directive", start, "did not find expected comment or line break");
    }
    SkipLine();
    tokens_.push_back(std::move(token));
  }

  int ScanVersionNumber(const Mark& start) {
    int value = 0;
    int length = 0;
    while (IsDigit()) {
      if (++length > 2) {
        ScanError("while scanning a %YAML directive", start, "found extremely long version number");
      }
      value = value * 10 + (At() - '0');
      SkipChar();
    }
    if (length == 0) {
      ScanError("while scanning a %YAML directive", start, "did not find expected version number");
    }
    return value;
  }

  void ScanAnchor(TokenType type) {
    const Mark start = mark_;
    SkipChar();  // '&' or '*'
    std::string name;
    while (IsAlpha()) ReadChar(name);
    const Mark end = mark_;
    static constexpr std::string_view kAfterName = "?:,]}%@`";
    if (name.empty() ||
        !(IsBlankZ() || kAfterName.find(static_cast<char>(At())) != std::string_view::npos)) {
      ScanError(type == TokenType::kAnchor ? "while scanning an anchor" : "while scanning an alias",
                start, "did not find expected alphabetic or numeric character");
    }
    AddToken(type, start, end).value = std::move(name);
  }

  void ScanTag() {
    const Mark start = mark_;
    std::string handle;
    std::string suffix;
    if (Is('<', 1)) {  // verbatim: !<tag:yaml.org,2002:str>
      SkipChar();
      SkipChar();
      suffix = ScanTagUri(false, "", start);
      if (!Is('>')) ScanError("while scanning a tag", start, "did not find the expected '>'");
      SkipChar();
    } else {
      handle = ScanTagHandle(false, start);
      if (handle.size() > 1 && handle.front() == '!' && handle.back() == '!') {  // !!str, !e!x
        suffix = ScanTagUri(false, "", start);
      } else {  // !local, or "!" alone (the non-specific tag)
        suffix = ScanTagUri(false, handle, start);
        handle = "!";
        if (suffix.empty()) std::swap(handle, suffix);
      }
    }
    if (!IsBlankZ()) {
      ScanError("while scanning a tag", start, "did not find expected whitespace or line break");
    }
    Token& token = AddToken(TokenType::kTag, start, mark_);
    token.value = std::move(handle);
    token.suffix = std::move(suffix);
  }

  static const char* TagContext(bool directive) {
    return directive ? "while parsing a %TAG directive" : "while parsing a tag";
  }

  std::string ScanTagHandle(bool directive, const Mark& start) {
    if (!Is('!')) ScanError(TagContext(directive), start, "did not find expected '!'");
    std::string handle;
    ReadChar(handle);
    while (IsAlpha()) ReadChar(handle);
    if (Is('!')) {
      ReadChar(handle);
    } else if (directive && handle != "!") {
      ScanError(TagContext(directive), start, "did not find expected '!'");
    }
    return handle;
  }

  // The URI part of a tag; `head` is a handle read before it that turned out to be part of it.
  std::string ScanTagUri(bool directive, std::string_view head, const Mark& start) {
    std::string uri;
    if (head.size() > 1) uri.assign(head.substr(1));
    bool has_tag = !head.empty();
    static constexpr std::string_view kUriCharacters = ";/?:@&=+$,.!~*'()[]%";
    while (IsAlpha() ||
           (!IsZ() && kUriCharacters.find(static_cast<char>(At())) != std::string_view::npos)) {
      if (Is('%')) {
        ScanUriEscapes(directive, start, uri);
      } else {
        ReadChar(uri);
      }
      has_tag = true;
    }
    if (!has_tag) ScanError(TagContext(directive), start, "did not find expected tag URI");
    return uri;
  }

  void ScanUriEscapes(bool directive, const Mark& start, std::string& uri) {
    std::size_t remaining = 0;
    bool first = true;
    while (first || remaining > 0) {
      if (!(Is('%') && IsHex(1) && IsHex(2))) {
        ScanError(TagContext(directive), start, "did not find URI escaped octet");
      }
      const auto octet = static_cast<unsigned char>((HexValue(1) << 4) + HexValue(2));
      if (first) {
        remaining = Utf8Width(octet);
        if (remaining == 0) {
          ScanError(TagContext(directive), start, "found an incorrect leading UTF-8 octet");
        }
        first = false;
      } else if ((octet & 0xC0) != 0x80) {
        ScanError(TagContext(directive), start, "found an incorrect trailing UTF-8 octet");
      }
      uri.push_back(static_cast<char>(octet));
      SkipChar();
      SkipChar();
      SkipChar();
      --remaining;
    }
  }

  // Literal (|) and folded (>) scalars with their header: chomping indicator (- strip,
  // + keep, default clip) and indentation indicator (1-9, relative to the current indentation).
  void ScanBlockScalar(bool literal) {
    const Mark start = mark_;
    SkipChar();  // '|' or '>'
    int chomping = 0;
    Pos increment = 0;
    auto read_chomping = [&] {
      chomping = Is('+') ? 1 : -1;
      SkipChar();
    };
    auto read_increment = [&] {
      if (Is('0')) {
        ScanError("while scanning a block scalar", start,
                  "found an indentation indicator equal to 0");
      }
      increment = At() - '0';
      SkipChar();
    };
    if (Is('+') || Is('-')) {
      read_chomping();
      if (IsDigit()) read_increment();
    } else if (IsDigit()) {
      read_increment();
      if (Is('+') || Is('-')) read_chomping();
    }
    SkipBlanksAndComment();
    if (!IsBreakZ()) {
      ScanError("while scanning a block scalar", start,
                "did not find expected comment or line break");
    }
    if (IsBreak()) SkipLine();
    Mark end = mark_;

    Pos indent = 0;
    if (increment > 0) indent = indent_ >= 0 ? indent_ + increment : increment;
    std::string value;
    std::string leading_break;
    std::string trailing_breaks;
    ScanBlockScalarBreaks(indent, trailing_breaks, start, end);

    bool leading_blank = false;
    bool trailing_blank = false;
    while (mark_.column == indent && !IsZ()) {
      // A line of content. Folding joins it to the previous one with a space, unless either is
      // more indented (starts with a blank) or empty lines separate them.
      trailing_blank = IsBlank();
      if (!literal && !leading_blank && !trailing_blank && !leading_break.empty() &&
          leading_break[0] == '\n') {
        if (trailing_breaks.empty()) value.push_back(' ');
      } else {
        value += leading_break;
      }
      leading_break.clear();
      value += trailing_breaks;
      trailing_breaks.clear();
      leading_blank = IsBlank();
      while (!IsBreakZ()) ReadChar(value);
      ReadLine(leading_break);
      ScanBlockScalarBreaks(indent, trailing_breaks, start, end);
    }
    if (chomping != -1) value += leading_break;
    if (chomping == 1) value += trailing_breaks;

    Token& token = AddToken(TokenType::kScalar, start, end);
    token.value = std::move(value);
    token.style = literal ? ScalarStyle::kLiteral : ScalarStyle::kFolded;
  }

  // Reads the indentation and empty lines before a line of block scalar content; when the
  // indentation is not yet known, it becomes that of the first non-empty line (at least one more
  // than the current indentation).
  void ScanBlockScalarBreaks(Pos& indent, std::string& breaks, const Mark& start, Mark& end) {
    end = mark_;
    Pos max_indent = 0;
    for (;;) {
      while ((indent == 0 || mark_.column < indent) && IsSpace()) SkipChar();
      if (mark_.column > max_indent) max_indent = mark_.column;
      if ((indent == 0 || mark_.column < indent) && IsTab()) {
        ScanError("while scanning a block scalar", start,
                  "found a tab character where an indentation space is expected");
      }
      if (!IsBreak()) break;
      ReadLine(breaks);
      end = mark_;
    }
    if (indent == 0) {
      indent = max_indent;
      if (indent < indent_ + 1) indent = indent_ + 1;
      if (indent < 1) indent = 1;
    }
  }

  // What lies between two words of a flow scalar (quoted or plain).
  struct ScalarGap {
    std::string whitespaces;      // blanks after the last word, on its line
    std::string leading_break;    // the first line break
    std::string trailing_breaks;  // the line breaks after it (empty lines)
    bool leading_blanks = false;  // a line break was read: the gap folds

    // Appends the gap as YAML folds it: one line break becomes a space, more become all but the
    // first; blanks without a break stay as they are. The gap's text is emptied.
    void FoldInto(std::string& value) {
      if (!leading_blanks) {
        value += whitespaces;
        whitespaces.clear();
        return;
      }
      if (!leading_break.empty() && leading_break[0] == '\n') {
        value += trailing_breaks.empty() ? std::string(" ") : trailing_breaks;
      } else {
        value += leading_break;
        value += trailing_breaks;
      }
      trailing_breaks.clear();
      leading_break.clear();
    }
  };

  // One blank or line break of a gap: blanks count until the first break, then they are
  // indentation and skipped.
  void ReadBlankOrBreak(ScalarGap& gap) {
    if (IsBlank()) {
      if (gap.leading_blanks) {
        SkipChar();
      } else {
        ReadChar(gap.whitespaces);
      }
    } else if (!gap.leading_blanks) {
      gap.whitespaces.clear();
      ReadLine(gap.leading_break);
      gap.leading_blanks = true;
    } else {
      ReadLine(gap.trailing_breaks);
    }
  }

  // Single- and double-quoted scalars. Line breaks fold into a space (or into the empty lines
  // that follow them); in double quotes a backslash escapes a character or the line break.
  void ScanFlowScalar(bool single) {
    const Mark start = mark_;
    SkipChar();  // the opening quote
    std::string value;
    ScalarGap gap;
    bool after_break = false;
    for (;;) {
      if (AtDocumentIndicator()) {
        ScanError("while scanning a quoted scalar", start, "found unexpected document indicator");
      }
      if (IsZ())
        ScanError("while scanning a quoted scalar", start, "found unexpected end of stream");
      // Deliberately stricter than libyaml (which accepts it): in block context, a line of a
      // multi-line quoted scalar may not be less indented than the block it belongs to. Such a
      // line almost always means a quote was left open and the next keys were swallowed.
      if (after_break && flow_level_ == 0 && mark_.column < indent_) {
        ScanError("while scanning a quoted scalar", start,
                  "found a continuation line less indented than the current block");
      }
      gap.leading_blanks = false;
      while (!IsBlankZ()) {
        if (single && Is('\'') && Is('\'', 1)) {
          value.push_back('\'');
          SkipChar();
          SkipChar();
        } else if (Is(single ? '\'' : '"')) {
          break;
        } else if (!single && Is('\\') && IsBreak(1)) {
          SkipChar();
          SkipLine();
          gap.leading_blanks = true;
          break;
        } else if (!single && Is('\\')) {
          ReadEscape(value, start);
        } else {
          ReadChar(value);
        }
      }
      if (Is(single ? '\'' : '"')) break;

      while (IsBlank() || IsBreak()) {
        ReadBlankOrBreak(gap);
      }
      gap.FoldInto(value);
      after_break = gap.leading_blanks;
    }
    SkipChar();  // the closing quote
    Token& token = AddToken(TokenType::kScalar, start, mark_);
    token.value = std::move(value);
    token.style = single ? ScalarStyle::kSingleQuoted : ScalarStyle::kDoubleQuoted;
  }

  // One escape sequence of a double-quoted scalar (YAML 1.1's set, as libyaml reads it).
  void ReadEscape(std::string& value, const Mark& start) {
    std::size_t code_length = 0;
    switch (At(1)) {
      case '0':
        value.push_back('\0');
        break;
      case 'a':
        value.push_back('\x07');
        break;
      case 'b':
        value.push_back('\x08');
        break;
      case 't':
      case '\t':
        value.push_back('\x09');
        break;
      case 'n':
        value.push_back('\x0A');
        break;
      case 'v':
        value.push_back('\x0B');
        break;
      case 'f':
        value.push_back('\x0C');
        break;
      case 'r':
        value.push_back('\x0D');
        break;
      case 'e':
        value.push_back('\x1B');
        break;
      case ' ':
        value.push_back(' ');
        break;
      case '"':
        value.push_back('"');
        break;
      case '\'':
        value.push_back('\'');
        break;
      case '\\':
        value.push_back('\\');
        break;
      case 'N':  // next line, U+0085
        value += "\xC2\x85";
        break;
      case '_':  // no-break space, U+00A0
        value += "\xC2\xA0";
        break;
      case 'L':  // line separator, U+2028
        value += "\xE2\x80\xA8";
        break;
      case 'P':  // paragraph separator, U+2029
        value += "\xE2\x80\xA9";
        break;
      case 'x':
        code_length = 2;
        break;
      case 'u':
        code_length = 4;
        break;
      case 'U':
        code_length = 8;
        break;
      default:
        ScanError("while parsing a quoted scalar", start, "found unknown escape character");
    }
    SkipChar();
    SkipChar();
    if (code_length > 0) {
      std::uint32_t code = 0;
      for (std::size_t k = 0; k < code_length; ++k) {
        if (!IsHex(k)) {
          ScanError("while parsing a quoted scalar", start,
                    "did not find expected hexdecimal number");
        }
        code = (code << 4) + HexValue(k);
      }
      if ((code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) {
        ScanError("while parsing a quoted scalar", start,
                  "found invalid Unicode character escape code");
      }
      AppendUtf8(value, code);
      for (std::size_t k = 0; k < code_length; ++k) SkipChar();
    }
  }

  // Plain (unquoted) scalars: they end at ": ", " #", a flow indicator inside flow collections,
  // a document marker, or (in block context) a line indented no more than the current block.
  void ScanPlainScalar() {
    std::string value;
    ScalarGap gap;
    const Pos indent = indent_ + 1;
    const Mark start = mark_;
    Mark end = mark_;
    for (;;) {
      if (AtDocumentIndicator()) break;
      if (Is('#')) break;
      while (!IsBlankZ()) {
        if ((Is(':') && IsBlankZ(1)) ||
            (flow_level_ > 0 && (Is(',') || Is('?') || Is('[') || Is(']') || Is('{') || Is('}')))) {
          break;
        }
        gap.FoldInto(value);
        gap.leading_blanks = false;
        ReadChar(value);
        end = mark_;
      }
      if (!(IsBlank() || IsBreak())) break;
      while (IsBlank() || IsBreak()) {
        if (gap.leading_blanks && mark_.column < indent && IsTab()) {
          ScanError("while scanning a plain scalar", start,
                    "found a tab character that violates indentation");
        }
        ReadBlankOrBreak(gap);
      }
      if (flow_level_ == 0 && mark_.column < indent) break;
    }
    Token& token = AddToken(TokenType::kScalar, start, end);
    token.value = std::move(value);
    token.style = ScalarStyle::kPlain;
    if (gap.leading_blanks) simple_key_allowed_ = true;
  }

  const char* b_;
  std::size_t size_;
  Mark mark_;
  std::deque<Token> tokens_;
  std::size_t tokens_parsed_ = 0;
  bool token_available_ = false;
  bool stream_start_produced_ = false;
  Pos indent_ = -1;
  std::vector<Pos> indents_;
  bool simple_key_allowed_ = false;
  std::vector<SimpleKey> simple_keys_;
  std::unordered_map<std::size_t, std::size_t> simple_keys_by_token_;
  std::size_t flow_level_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Parser

enum class EventType : std::uint8_t {
  kStreamStart,
  kStreamEnd,
  kDocumentStart,
  kDocumentEnd,
  kAlias,
  kScalar,
  kSequenceStart,
  kSequenceEnd,
  kMappingStart,
  kMappingEnd,
};

struct Event {
  EventType type = EventType::kStreamStart;
  Mark start;
  std::string anchor;  // also the name an alias refers to
  std::string tag;     // full tag after %TAG expansion ("tag:yaml.org,2002:str", "!local", "!")
  std::string value;
  bool implicit = false;  // scalars: plain and untagged (or tagged with the non-specific "!")
  ScalarStyle style = ScalarStyle::kPlain;
};

constexpr std::string_view kYamlTagPrefix = "tag:yaml.org,2002:";

class Parser {
 public:
  explicit Parser(Scanner& scanner) : scanner_(scanner) {}

  // The next event; false after the end of the stream.
  bool Next(Event& event) {
    if (state_ == State::kEnd) return false;
    event = Event{};
    Dispatch(event);
    return true;
  }

 private:
  enum class State : std::uint8_t {
    kStreamStart,
    kImplicitDocumentStart,
    kDocumentStart,
    kDocumentContent,
    kDocumentEnd,
    kBlockNode,
    kBlockNodeOrIndentlessSequence,
    kFlowNode,
    kBlockSequenceFirstEntry,
    kBlockSequenceEntry,
    kIndentlessSequenceEntry,
    kBlockMappingFirstKey,
    kBlockMappingKey,
    kBlockMappingValue,
    kFlowSequenceFirstEntry,
    kFlowSequenceEntry,
    kFlowSequenceEntryMappingKey,
    kFlowSequenceEntryMappingValue,
    kFlowSequenceEntryMappingEnd,
    kFlowMappingFirstKey,
    kFlowMappingKey,
    kFlowMappingValue,
    kFlowMappingEmptyValue,
    kEnd,
  };

  void Dispatch(Event& event) {
    switch (state_) {
      case State::kStreamStart:
        return ParseStreamStart(event);
      case State::kImplicitDocumentStart:
        return ParseDocumentStart(event, true);
      case State::kDocumentStart:
        return ParseDocumentStart(event, false);
      case State::kDocumentContent:
        return ParseDocumentContent(event);
      case State::kDocumentEnd:
        return ParseDocumentEnd(event);
      case State::kBlockNode:
        return ParseNode(event, true, false);
      case State::kBlockNodeOrIndentlessSequence:
        return ParseNode(event, true, true);
      case State::kFlowNode:
        return ParseNode(event, false, false);
      case State::kBlockSequenceFirstEntry:
        return ParseBlockSequenceEntry(event, true);
      case State::kBlockSequenceEntry:
        return ParseBlockSequenceEntry(event, false);
      case State::kIndentlessSequenceEntry:
        return ParseIndentlessSequenceEntry(event);
      case State::kBlockMappingFirstKey:
        return ParseBlockMappingKey(event, true);
      case State::kBlockMappingKey:
        return ParseBlockMappingKey(event, false);
      case State::kBlockMappingValue:
        return ParseBlockMappingValue(event);
      case State::kFlowSequenceFirstEntry:
        return ParseFlowSequenceEntry(event, true);
      case State::kFlowSequenceEntry:
        return ParseFlowSequenceEntry(event, false);
      case State::kFlowSequenceEntryMappingKey:
        return ParseFlowSequenceEntryMappingKey(event);
      case State::kFlowSequenceEntryMappingValue:
        return ParseFlowSequenceEntryMappingValue(event);
      case State::kFlowSequenceEntryMappingEnd:
        return ParseFlowSequenceEntryMappingEnd(event);
      case State::kFlowMappingFirstKey:
        return ParseFlowMappingKey(event, true);
      case State::kFlowMappingKey:
        return ParseFlowMappingKey(event, false);
      case State::kFlowMappingValue:
        return ParseFlowMappingValue(event, false);
      case State::kFlowMappingEmptyValue:
        return ParseFlowMappingValue(event, true);
      case State::kEnd:
        break;
    }
  }

  Token& Peek() { return scanner_.Peek(); }
  TokenType PeekType() { return scanner_.Peek().type; }
  void Skip() { scanner_.Skip(); }

  void PopState() {
    state_ = states_.back();
    states_.pop_back();
  }

  [[noreturn]] void ParseError(std::string_view context, const Mark& context_mark,
                               std::string_view problem, const Mark& problem_mark) const {
    FailSyntax(context, context_mark, problem, problem_mark, scanner_.InputEnd());
  }

  static void EmptyScalar(Event& event, const Mark& mark) {
    event.type = EventType::kScalar;
    event.start = mark;
    event.implicit = true;
    event.style = ScalarStyle::kPlain;
  }

  void ParseStreamStart(Event& event) {
    event.type = EventType::kStreamStart;
    event.start = Peek().start;
    Skip();
    state_ = State::kImplicitDocumentStart;
  }

  void ParseDocumentStart(Event& event, bool implicit) {
    if (!implicit) {
      while (PeekType() == TokenType::kDocumentEnd) Skip();
    }
    const TokenType type = PeekType();
    if (implicit && type != TokenType::kVersionDirective && type != TokenType::kTagDirective &&
        type != TokenType::kDocumentStart && type != TokenType::kStreamEnd) {
      ProcessDirectives();
      states_.push_back(State::kDocumentEnd);
      state_ = State::kBlockNode;
      event.type = EventType::kDocumentStart;
      event.start = Peek().start;
    } else if (type != TokenType::kStreamEnd) {
      const Mark start = Peek().start;
      ProcessDirectives();
      if (PeekType() != TokenType::kDocumentStart) {
        ParseError("", start, "did not find expected <document start>", Peek().start);
      }
      states_.push_back(State::kDocumentEnd);
      state_ = State::kDocumentContent;
      event.type = EventType::kDocumentStart;
      event.start = start;
      Skip();
    } else {
      state_ = State::kEnd;
      event.type = EventType::kStreamEnd;
      event.start = Peek().start;
      Skip();
    }
  }

  void ParseDocumentContent(Event& event) {
    const TokenType type = PeekType();
    if (type == TokenType::kVersionDirective || type == TokenType::kTagDirective ||
        type == TokenType::kDocumentStart || type == TokenType::kDocumentEnd ||
        type == TokenType::kStreamEnd) {
      PopState();
      EmptyScalar(event, Peek().start);
      return;
    }
    ParseNode(event, true, false);
  }

  void ParseDocumentEnd(Event& event) {
    event.type = EventType::kDocumentEnd;
    event.start = Peek().start;
    if (PeekType() == TokenType::kDocumentEnd) Skip();
    tag_directives_.clear();
    state_ = State::kDocumentStart;
  }

  // %YAML and %TAG directives before a document, then the two default tag handles.
  void ProcessDirectives() {
    bool have_version = false;
    for (;;) {
      Token& token = Peek();
      if (token.type == TokenType::kVersionDirective) {
        if (have_version) {
          ParseError("", token.start, "found duplicate %YAML directive", token.start);
        }
        // Only YAML 1.1 is accepted, as the original's library did.
        if (token.major != 1 || token.minor != 1) {
          ParseError("", token.start, "found incompatible YAML document", token.start);
        }
        have_version = true;
      } else if (token.type == TokenType::kTagDirective) {
        AppendTagDirective(token.value, token.suffix, false, token.start);
      } else {
        break;
      }
      Skip();
    }
    const Mark mark = Peek().start;
    AppendTagDirective("!", "!", true, mark);
    AppendTagDirective("!!", std::string(kYamlTagPrefix), true, mark);
  }

  void AppendTagDirective(const std::string& handle, const std::string& prefix,
                          bool allow_duplicates, const Mark& mark) {
    for (const auto& directive : tag_directives_) {
      if (directive.first == handle) {
        if (allow_duplicates) return;
        ParseError("", mark, "found duplicate %TAG directive", mark);
      }
    }
    tag_directives_.emplace_back(handle, prefix);
  }

  void ParseNode(Event& event, bool block, bool indentless_sequence) {
    Token* token = &Peek();
    if (token->type == TokenType::kAlias) {
      PopState();
      event.type = EventType::kAlias;
      event.start = token->start;
      event.anchor = std::move(token->value);
      Skip();
      return;
    }
    Mark start = token->start;
    bool has_tag = false;
    std::string handle;
    std::string suffix;
    Mark tag_mark;
    auto take_tag = [&] {
      has_tag = true;
      handle = std::move(token->value);
      suffix = std::move(token->suffix);
      tag_mark = token->start;
      Skip();
      token = &Peek();
    };
    if (token->type == TokenType::kAnchor) {
      event.anchor = std::move(token->value);
      Skip();
      token = &Peek();
      if (token->type == TokenType::kTag) take_tag();
    } else if (token->type == TokenType::kTag) {
      take_tag();
      if (token->type == TokenType::kAnchor) {
        event.anchor = std::move(token->value);
        Skip();
        token = &Peek();
      }
    }
    if (has_tag) {
      if (handle.empty()) {
        event.tag = std::move(suffix);
      } else {
        for (const auto& directive : tag_directives_) {
          if (directive.first == handle) {
            event.tag = directive.second + suffix;
            break;
          }
        }
        if (event.tag.empty()) {
          ParseError("while parsing a node", start, "found undefined tag handle", tag_mark);
        }
      }
    }
    event.start = start;
    const bool implicit = event.tag.empty();
    if (indentless_sequence && token->type == TokenType::kBlockEntry) {
      state_ = State::kIndentlessSequenceEntry;
      event.type = EventType::kSequenceStart;
      return;
    }
    switch (token->type) {
      case TokenType::kScalar:
        event.type = EventType::kScalar;
        event.implicit = (implicit && token->style == ScalarStyle::kPlain) || event.tag == "!";
        event.style = token->style;
        event.value = std::move(token->value);
        PopState();
        Skip();
        return;
      case TokenType::kFlowSequenceStart:
        state_ = State::kFlowSequenceFirstEntry;
        event.type = EventType::kSequenceStart;
        return;
      case TokenType::kFlowMappingStart:
        state_ = State::kFlowMappingFirstKey;
        event.type = EventType::kMappingStart;
        return;
      case TokenType::kBlockSequenceStart:
        if (!block) break;
        state_ = State::kBlockSequenceFirstEntry;
        event.type = EventType::kSequenceStart;
        return;
      case TokenType::kBlockMappingStart:
        if (!block) break;
        state_ = State::kBlockMappingFirstKey;
        event.type = EventType::kMappingStart;
        return;
      default:
        break;
    }
    if (!event.anchor.empty() || !event.tag.empty()) {  // an anchor or tag on an empty value
      PopState();
      event.type = EventType::kScalar;
      event.implicit = implicit;
      event.style = ScalarStyle::kPlain;
      return;
    }
    ParseError(block ? "while parsing a block node" : "while parsing a flow node", start,
               "did not find expected node content", token->start);
  }

  // The node after an indicator (an entry, key or value): parsed now unless the next token is one
  // of `ends`, which leave the node empty (a null at `empty_at`). The parser goes on in `then`.
  void NodeOrEmpty(Event& event, State then, std::initializer_list<TokenType> ends,
                   const Mark& empty_at, bool block, bool indentless) {
    if (std::find(ends.begin(), ends.end(), PeekType()) == ends.end()) {
      states_.push_back(then);
      ParseNode(event, block, indentless);
    } else {
      state_ = then;
      EmptyScalar(event, empty_at);
    }
  }

  // The end of a collection at `token` (its closing token, consumed).
  void EndCollection(Event& event, EventType type, const Token& token) {
    PopState();
    marks_.pop_back();
    event.type = type;
    event.start = token.start;
    Skip();
  }

  // Before a collection's first entry: the token that opens it (the first '-' or key, '[' or '{')
  // is consumed, and its errors point there.
  void BeginCollection(bool first) {
    if (first) {
      marks_.push_back(Peek().start);
      Skip();
    }
  }

  // Between two entries of a flow collection: the ',' that must come (consumed); returns the
  // token after it.
  Token& AfterFlowEntry(const char* context, const char* closing) {
    const Token& token = Peek();
    if (token.type != TokenType::kFlowEntry) {
      ParseError(context, marks_.back(), std::string("did not find expected ',' or ") + closing,
                 token.start);
    }
    Skip();
    return Peek();
  }

  void ParseBlockSequenceEntry(Event& event, bool first) {
    BeginCollection(first);
    Token& token = Peek();
    if (token.type == TokenType::kBlockEntry) {
      const Mark mark = token.end;
      Skip();
      NodeOrEmpty(event, State::kBlockSequenceEntry, {TokenType::kBlockEntry, TokenType::kBlockEnd},
                  mark, true, false);
      return;
    }
    if (token.type == TokenType::kBlockEnd) {
      EndCollection(event, EventType::kSequenceEnd, token);
      return;
    }
    const Mark context = marks_.back();
    ParseError("while parsing a block collection", context, "did not find expected '-' indicator",
               token.start);
  }

  void ParseIndentlessSequenceEntry(Event& event) {
    Token& token = Peek();
    if (token.type == TokenType::kBlockEntry) {
      const Mark mark = token.end;
      Skip();
      NodeOrEmpty(
          event, State::kIndentlessSequenceEntry,
          {TokenType::kBlockEntry, TokenType::kKey, TokenType::kValue, TokenType::kBlockEnd}, mark,
          true, false);
      return;
    }
    PopState();
    event.type = EventType::kSequenceEnd;
    event.start = token.start;
  }

  void ParseBlockMappingKey(Event& event, bool first) {
    BeginCollection(first);
    Token& token = Peek();
    if (token.type == TokenType::kKey) {
      const Mark mark = token.end;
      Skip();
      NodeOrEmpty(event, State::kBlockMappingValue,
                  {TokenType::kKey, TokenType::kValue, TokenType::kBlockEnd}, mark, true, true);
      return;
    }
    if (token.type == TokenType::kBlockEnd) {
      EndCollection(event, EventType::kMappingEnd, token);
      return;
    }
    const Mark context = marks_.back();
    ParseError("while parsing a block mapping", context, "did not find expected key", token.start);
  }

  void ParseBlockMappingValue(Event& event) {
    Token& token = Peek();
    if (token.type == TokenType::kValue) {
      const Mark mark = token.end;
      Skip();
      NodeOrEmpty(event, State::kBlockMappingKey,
                  {TokenType::kKey, TokenType::kValue, TokenType::kBlockEnd}, mark, true, true);
      return;
    }
    state_ = State::kBlockMappingKey;
    EmptyScalar(event, token.start);
  }

  void ParseFlowSequenceEntry(Event& event, bool first) {
    BeginCollection(first);
    Token* token = &Peek();
    if (token->type != TokenType::kFlowSequenceEnd) {
      if (!first) token = &AfterFlowEntry("while parsing a flow sequence", "']'");
      if (token->type == TokenType::kKey) {  // [a: b] is a sequence of one single-pair mapping
        state_ = State::kFlowSequenceEntryMappingKey;
        event.type = EventType::kMappingStart;
        event.start = token->start;
        event.implicit = true;
        Skip();
        return;
      }
      if (token->type != TokenType::kFlowSequenceEnd) {
        states_.push_back(State::kFlowSequenceEntry);
        ParseNode(event, false, false);
        return;
      }
    }
    EndCollection(event, EventType::kSequenceEnd, *token);
  }

  void ParseFlowSequenceEntryMappingKey(Event& event) {
    const Token& token = Peek();
    if (token.type != TokenType::kValue && token.type != TokenType::kFlowEntry &&
        token.type != TokenType::kFlowSequenceEnd) {
      states_.push_back(State::kFlowSequenceEntryMappingValue);
      ParseNode(event, false, false);
      return;
    }
    // As in the original's library, the token is consumed here even when it is the ',' or ']'.
    const Mark mark = token.end;
    Skip();
    state_ = State::kFlowSequenceEntryMappingValue;
    EmptyScalar(event, mark);
  }

  void ParseFlowSequenceEntryMappingValue(Event& event) {
    const Token& token = Peek();
    const Mark mark = token.start;
    if (token.type == TokenType::kValue) {
      Skip();
      NodeOrEmpty(event, State::kFlowSequenceEntryMappingEnd,
                  {TokenType::kFlowEntry, TokenType::kFlowSequenceEnd}, mark, false, false);
      return;
    }
    state_ = State::kFlowSequenceEntryMappingEnd;
    EmptyScalar(event, mark);
  }

  void ParseFlowSequenceEntryMappingEnd(Event& event) {
    state_ = State::kFlowSequenceEntry;
    event.type = EventType::kMappingEnd;
    event.start = Peek().start;
  }

  void ParseFlowMappingKey(Event& event, bool first) {
    BeginCollection(first);
    Token* token = &Peek();
    if (token->type != TokenType::kFlowMappingEnd) {
      if (!first) token = &AfterFlowEntry("while parsing a flow mapping", "'}'");
      if (token->type == TokenType::kKey) {
        Skip();
        NodeOrEmpty(event, State::kFlowMappingValue,
                    {TokenType::kValue, TokenType::kFlowEntry, TokenType::kFlowMappingEnd},
                    Peek().start, false, false);
        return;
      }
      if (token->type != TokenType::kFlowMappingEnd) {
        states_.push_back(State::kFlowMappingEmptyValue);
        ParseNode(event, false, false);
        return;
      }
    }
    EndCollection(event, EventType::kMappingEnd, *token);
  }

  void ParseFlowMappingValue(Event& event, bool empty) {
    Token* token = &Peek();
    if (empty) {
      state_ = State::kFlowMappingKey;
      EmptyScalar(event, token->start);
      return;
    }
    if (token->type == TokenType::kValue) {
      Skip();
      NodeOrEmpty(event, State::kFlowMappingKey,
                  {TokenType::kFlowEntry, TokenType::kFlowMappingEnd}, Peek().start, false, false);
      return;
    }
    state_ = State::kFlowMappingKey;
    EmptyScalar(event, token->start);
  }

  Scanner& scanner_;
  State state_ = State::kStreamStart;
  std::vector<State> states_;
  std::vector<Mark> marks_;
  std::vector<std::pair<std::string, std::string>> tag_directives_;
};

// ---------------------------------------------------------------------------------------------
// Scalars: how yaml.v2 resolves a scalar's text and tag to a typed value.

struct Scalar {
  enum class Kind : std::uint8_t { kNull, kBool, kInt, kUint, kFloat, kString };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::int64_t integer = 0;
  std::uint64_t unsigned_integer = 0;
  double real = 0;
  std::string text;
};

// Problems found while turning a well-formed document into JSON. They are reported only if the
// rest of the document parses: like yaml.v2, a syntax error anywhere in a document wins.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void FailDecode(const Mark& mark, const std::string& reason) {
  throw DecodeError(Where(mark) + ": " + reason);
}

const std::string kStrTag = "tag:yaml.org,2002:str";
const std::string kBoolTag = "tag:yaml.org,2002:bool";
const std::string kIntTag = "tag:yaml.org,2002:int";
const std::string kFloatTag = "tag:yaml.org,2002:float";
const std::string kNullTag = "tag:yaml.org,2002:null";
const std::string kTimestampTag = "tag:yaml.org,2002:timestamp";
const std::string kBinaryTag = "tag:yaml.org,2002:binary";
const std::string kMergeTag = "tag:yaml.org,2002:merge";

std::string ShortTag(const std::string& tag) {
  if (tag.rfind(kYamlTagPrefix, 0) == 0) return "!!" + tag.substr(kYamlTagPrefix.size());
  return tag;
}

bool IsDigitChar(char c) noexcept { return c >= '0' && c <= '9'; }

// Go's strconv.ParseUint(s, 0, 64) on text without a sign (underscores already removed):
// 0x/0o/0b prefixes, and a leading 0 means octal.
std::optional<std::uint64_t> ParseGoUint(std::string_view s) {
  if (s.empty()) return std::nullopt;
  unsigned base = 10;
  if (s[0] == '0') {
    const char p = s.size() >= 3 ? static_cast<char>(s[1] | 0x20) : '\0';
    if (p == 'b' || p == 'o' || p == 'x') {
      base = p == 'b' ? 2 : p == 'o' ? 8 : 16;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
  }
  std::uint64_t value = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (const char c : s) {
    unsigned digit = 99;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
      digit = static_cast<unsigned>((c | 0x20) - 'a' + 10);
    }
    if (digit >= base) return std::nullopt;
    if (value > (kMax - digit) / base) return std::nullopt;
    value = value * base + digit;
  }
  return value;
}

// strtod on text already checked to be a plain decimal number. Go's ParseFloat refuses values
// too large for a double (out of range) but rounds tiny ones to zero, so only overflow fails.
std::optional<double> DecimalToDouble(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  if (errno == ERANGE && std::isinf(value)) return std::nullopt;
  return value;
}

// Go's strconv.ParseFloat for decimal text: optional sign, digits with at most one '.', an
// optional exponent; '_' is allowed only between two digits.
std::optional<double> ParseGoFloat(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  bool digits = false;
  bool dot = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (IsDigitChar(c)) {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else if (c != '_') {
      break;
    }
  }
  if (!digits) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= s.size() || !IsDigitChar(s[i])) return std::nullopt;
    while (i < s.size() && (IsDigitChar(s[i]) || s[i] == '_')) ++i;
  }
  if (i != s.size()) return std::nullopt;
  std::string plain;
  plain.reserve(s.size());
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (s[k] != '_') {
      plain.push_back(s[k]);
      continue;
    }
    if (k == 0 || k + 1 >= s.size() || !IsDigitChar(s[k - 1]) || !IsDigitChar(s[k + 1])) {
      return std::nullopt;
    }
  }
  return DecimalToDouble(plain);
}

// yaml.v2's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsYamlStyleFloat(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t first = i;
    while (i < s.size() && IsDigitChar(s[i])) ++i;
    if (i == first) return false;
  } else {
    const std::size_t first = i;
    while (i < s.size() && IsDigitChar(s[i])) ++i;
    if (i == first) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && IsDigitChar(s[i])) ++i;
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const std::size_t first = i;
    while (i < s.size() && IsDigitChar(s[i])) ++i;
    if (i == first) return false;
  }
  return i == s.size();
}

// Whether `s` is a timestamp yaml.v2 accepts: Go's time.Parse with the layouts
// "2006-1-2T15:4:5.999999999Z07:00" (also with a lower-case t), "2006-1-2 15:4:5.999999999" and
// "2006-1-2". Only matters for an explicit !!timestamp tag: a plain timestamp stays a string.
bool IsGoTimestamp(std::string_view s) {
  std::size_t i = 0;
  auto number = [&](std::size_t min_digits, std::size_t max_digits, int& out) {
    std::size_t n = 0;
    out = 0;
    while (i < s.size() && n < max_digits && IsDigitChar(s[i])) {
      out = out * 10 + (s[i] - '0');
      ++i;
      ++n;
    }
    return n >= min_digits;
  };
  auto literal = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  int year = 0;
  int month = 0;
  int day = 0;
  if (!number(4, 4, year) || !literal('-') || !number(1, 2, month) || !literal('-') ||
      !number(1, 2, day)) {
    return false;
  }
  if (month < 1 || month > 12) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int days_in_month = month == 2 && leap ? 29 : kDays[month - 1];
  if (day < 1 || day > days_in_month) return false;
  if (i == s.size()) return true;
  const char separator = s[i];
  if (separator != 'T' && separator != 't' && separator != ' ') return false;
  ++i;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!number(1, 2, hour) || !literal(':') || !number(1, 2, minute) || !literal(':') ||
      !number(1, 2, second)) {
    return false;
  }
  if (hour > 23 || minute > 59 || second > 59) return false;
  if (i + 1 < s.size() && (s[i] == '.' || s[i] == ',') && IsDigitChar(s[i + 1])) {
    ++i;
    for (int digits = 0; digits < 9 && i < s.size() && IsDigitChar(s[i]); ++digits) ++i;
  }
  if (separator == ' ') return i == s.size();
  if (literal('Z')) return i == s.size();
  if (s.size() - i != 6 || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':') return false;
  for (const std::size_t k : {i + 1, i + 2, i + 4, i + 5}) {
    if (!IsDigitChar(s[k])) return false;
  }
  const int zone_hour = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
  const int zone_minute = (s[i + 4] - '0') * 10 + (s[i + 5] - '0');
  return zone_hour <= 24 && zone_minute <= 60;
}

// Go's base64.StdEncoding.DecodeString: padding required, line breaks ignored.
std::optional<std::string> DecodeBase64(std::string_view in) {
  std::string s;
  s.reserve(in.size());
  for (const char c : in) {
    if (c != '\r' && c != '\n') s.push_back(c);
  }
  return Base64Decode(s);
}

// Replaces each byte that is not part of a valid UTF-8 sequence with U+FFFD, as Go's JSON
// encoder does (only !!binary values can hold such bytes).
std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t width = Utf8Width(lead);
    bool valid = width != 0 && i + width <= s.size();
    if (valid && width > 1) {
      std::uint32_t value = width == 2   ? (lead & 0x1Fu)
                            : width == 3 ? (lead & 0x0Fu)
                                         : (lead & 0x07u);
      for (std::size_t k = 1; k < width && valid; ++k) {
        const auto trail = static_cast<unsigned char>(s[i + k]);
        valid = (trail & 0xC0) == 0x80;
        value = (value << 6) | (trail & 0x3Fu);
      }
      valid = valid && !((width == 2 && value < 0x80) || (width == 3 && value < 0x800) ||
                         (width == 4 && value < 0x10000) || (value >= 0xD800 && value <= 0xDFFF) ||
                         value > 0x10FFFF);
    }
    if (valid) {
      out.append(s.substr(i, width));
      i += width;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

Scalar MakeString(std::string text) {
  Scalar scalar;
  scalar.kind = Scalar::Kind::kString;
  scalar.text = std::move(text);
  return scalar;
}

// The type and value yaml.v2 gives a scalar: `tag` is "" for an untagged plain scalar. Returns
// the resolved tag in `resolved_tag` (to check it against an explicit tag).
Scalar ResolveText(const std::string& tag, const std::string& in, const YamlOptions& options,
                   std::string& resolved_tag) {
  Scalar scalar;
  char hint = 'N';  // empty text
  if (!in.empty()) {
    const char c = in[0];
    if (c == '+' || c == '-') {
      hint = 'S';
    } else if (IsDigitChar(c)) {
      hint = 'D';
    } else if (std::string_view("yYnNtTfFoO~").find(c) != std::string_view::npos) {
      hint = 'M';
    } else if (c == '.') {
      hint = '.';
    } else {
      hint = 0;
    }
  }
  if (hint != 0 && tag != kStrTag) {
    // Words with a fixed meaning.
    static const std::unordered_map<std::string_view, int> kWords = {
        {"y", 1},     {"Y", 1},     {"yes", 1},   {"Yes", 1},   {"YES", 1},   {"on", 1},
        {"On", 1},    {"ON", 1},    {"n", 2},     {"N", 2},     {"no", 2},    {"No", 2},
        {"NO", 2},    {"off", 2},   {"Off", 2},   {"OFF", 2},   {"true", 3},  {"True", 3},
        {"TRUE", 3},  {"false", 4}, {"False", 4}, {"FALSE", 4}, {"", 5},      {"~", 5},
        {"null", 5},  {"Null", 5},  {"NULL", 5},  {".nan", 6},  {".NaN", 6},  {".NAN", 6},
        {".inf", 7},  {".Inf", 7},  {".INF", 7},  {"+.inf", 7}, {"+.Inf", 7}, {"+.INF", 7},
        {"-.inf", 8}, {"-.Inf", 8}, {"-.INF", 8},
    };
    if (const auto it = kWords.find(in); it != kWords.end()) {
      const int word = it->second;
      if (word <= 4 && (word >= 3 || options.yaml11_booleans)) {
        resolved_tag = kBoolTag;
        scalar.kind = Scalar::Kind::kBool;
        scalar.boolean = word == 1 || word == 3;
        return scalar;
      }
      if (word == 5) {
        resolved_tag = kNullTag;
        return scalar;
      }
      if (word >= 6) {
        resolved_tag = kFloatTag;
        scalar.kind = Scalar::Kind::kFloat;
        scalar.real = word == 6   ? std::numeric_limits<double>::quiet_NaN()
                      : word == 7 ? std::numeric_limits<double>::infinity()
                                  : -std::numeric_limits<double>::infinity();
        return scalar;
      }
    }
    if (hint == '.') {
      if (const auto value = ParseGoFloat(in)) {
        resolved_tag = kFloatTag;
        scalar.kind = Scalar::Kind::kFloat;
        scalar.real = *value;
        return scalar;
      }
    } else if (hint == 'D' || hint == 'S') {
      if ((tag.empty() || tag == kTimestampTag) && in.size() > 4 && in[4] == '-' &&
          IsGoTimestamp(in)) {
        resolved_tag = kTimestampTag;  // decoded into interface{}, a timestamp stays a string
        return MakeString(in);
      }
      std::string plain;
      plain.reserve(in.size());
      for (const char c : in) {
        if (c != '_') plain.push_back(c);
      }
      std::string_view digits(plain);
      const bool negative = !digits.empty() && digits[0] == '-';
      const bool has_sign = !digits.empty() && (digits[0] == '-' || digits[0] == '+');
      if (has_sign) digits.remove_prefix(1);
      if (const auto value = ParseGoUint(digits)) {
        constexpr std::uint64_t kInt64Limit = std::uint64_t{1} << 63;
        if (negative ? *value <= kInt64Limit : *value < kInt64Limit) {
          resolved_tag = kIntTag;
          scalar.kind = Scalar::Kind::kInt;
          scalar.integer = *value == kInt64Limit ? std::numeric_limits<std::int64_t>::min()
                           : negative            ? -static_cast<std::int64_t>(*value)
                                                 : static_cast<std::int64_t>(*value);
          return scalar;
        }
        if (!has_sign) {  // beyond int64: ParseUint, which takes no sign
          resolved_tag = kIntTag;
          scalar.kind = Scalar::Kind::kUint;
          scalar.unsigned_integer = *value;
          return scalar;
        }
      }
      if (IsYamlStyleFloat(plain)) {
        if (const auto value = DecimalToDouble(plain)) {
          resolved_tag = kFloatTag;
          scalar.kind = Scalar::Kind::kFloat;
          scalar.real = *value;
          return scalar;
        }
      }
    }
  }
  resolved_tag = kStrTag;
  return MakeString(in);
}

bool IsResolvableTag(const std::string& tag) {
  return tag.empty() || tag == kStrTag || tag == kBoolTag || tag == kIntTag || tag == kFloatTag ||
         tag == kNullTag || tag == kTimestampTag;
}

// A scalar event as yaml.v2 decodes it into interface{}.
Scalar ResolveScalar(const Event& event, const YamlOptions& options) {
  if (event.tag.empty() && !event.implicit) return MakeString(event.value);  // quoted, block
  if (!IsResolvableTag(event.tag)) {
    if (event.tag == kBinaryTag) {
      auto bytes = DecodeBase64(event.value);
      if (!bytes) FailDecode(event.start, "!!binary value contains invalid base64 data");
      return MakeString(ToValidUtf8(*bytes));
    }
    return MakeString(event.value);  // local and unknown tags: the text, unresolved
  }
  std::string resolved_tag;
  Scalar scalar = ResolveText(event.tag, event.value, options, resolved_tag);
  const std::string& tag = event.tag;
  if (tag.empty() || tag == resolved_tag || tag == kStrTag) return scalar;
  if (tag == kFloatTag && scalar.kind == Scalar::Kind::kInt) {  // !!float 1
    scalar.kind = Scalar::Kind::kFloat;
    scalar.real = static_cast<double>(scalar.integer);
    return scalar;
  }
  FailDecode(event.start, "cannot decode " + ShortTag(resolved_tag) + " `" + event.value +
                              "` as a " + ShortTag(tag));
}

// Go's strconv.FormatFloat(v, 'g', -1, 64 or 32): the shortest text that reads back as the same
// double (or float), in exponent form when the exponent is below -4 or at least 6.
std::string FormatGoFloat(double v, bool as_float32) {
  if (std::isnan(v)) return "NaN";
  const float narrowed = static_cast<float>(v);
  if (std::isinf(v) || (as_float32 && std::isinf(narrowed))) {
    return (as_float32 ? narrowed > 0 : v > 0) ? "+Inf" : "-Inf";
  }
  if (v == 0) return std::signbit(v) ? "-0" : "0";
  char buffer[64];
  const auto result =
      as_float32
          ? std::to_chars(buffer, buffer + sizeof buffer, narrowed, std::chars_format::scientific)
          : std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::scientific);
  const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  const bool negative = text[0] == '-';
  const std::size_t e = text.find('e');
  std::string digits;
  for (const char c : text.substr(negative ? 1 : 0, e - (negative ? 1 : 0))) {
    if (c != '.') digits.push_back(c);
  }
  const int exponent = std::atoi(std::string(text.substr(e + 1)).c_str());
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 6) {
    out.push_back(digits[0]);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += exponent < 0 ? "e-" : "e+";
    const std::string magnitude = std::to_string(std::abs(exponent));
    if (magnitude.size() < 2) out.push_back('0');
    out += magnitude;
    return out;
  }
  const int point = exponent + 1;  // digits before the decimal point
  const auto size = static_cast<int>(digits.size());
  if (point <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
  } else if (point >= size) {
    out += digits + std::string(static_cast<std::size_t>(point - size), '0');
  } else {
    out += digits.substr(0, static_cast<std::size_t>(point)) + "." +
           digits.substr(static_cast<std::size_t>(point));
  }
  return out;
}

// A scalar as a JSON value. JSON has no int/float distinction the original could keep (Go's
// encoder prints 1000.0 as 1000), so whole floats that fit 64 bits become integers.
nlohmann::json ScalarToJson(Scalar&& scalar, const Mark& mark) {
  switch (scalar.kind) {
    case Scalar::Kind::kNull:
      return nullptr;
    case Scalar::Kind::kBool:
      return scalar.boolean;
    case Scalar::Kind::kInt:
      return scalar.integer;
    case Scalar::Kind::kUint:
      return scalar.unsigned_integer;
    case Scalar::Kind::kString:
      return std::move(scalar.text);
    case Scalar::Kind::kFloat:
      break;
  }
  const double v = scalar.real;
  if (std::isnan(v) || std::isinf(v)) {
    FailDecode(mark, std::string("json: unsupported value: ") +
                         (std::isnan(v) ? "NaN"
                          : v > 0       ? "+Inf"
                                        : "-Inf") +
                         " (JSON has no infinity or NaN)");
  }
  if (std::trunc(v) == v) {
    if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
      return static_cast<std::int64_t>(v);
    }
    if (v >= 0 && v < 18446744073709551616.0) return static_cast<std::uint64_t>(v);
  }
  return v;
}

// A scalar mapping key as the original's JSON conversion wrote it.
std::string ScalarToKey(const Scalar& scalar, const Mark& mark, const YamlOptions& options) {
  switch (scalar.kind) {
    case Scalar::Kind::kString:
      return scalar.text;
    case Scalar::Kind::kBool:
      return scalar.boolean ? "true" : "false";
    case Scalar::Kind::kInt:
      return std::to_string(scalar.integer);
    case Scalar::Kind::kNull:
      FailDecode(mark, "unsupported map key null: a JSON object key must be a string");
    case Scalar::Kind::kUint:
      FailDecode(mark, "unsupported map key " + std::to_string(scalar.unsigned_integer) +
                           ": integer keys beyond int64 cannot be JSON object keys");
    case Scalar::Kind::kFloat:
      break;
  }
  // The original wrote the document back as YAML (where a float key prints as Go's shortest
  // form, so 1e3 reads back as the integer 1000) and then printed float keys with float32
  // precision.
  const std::string written = FormatGoFloat(scalar.real, false);
  if (written.find_first_of("IN") == std::string::npos) {
    std::string tag;
    const Scalar reread = ResolveText("", written, options, tag);
    if (reread.kind == Scalar::Kind::kInt) return std::to_string(reread.integer);
  }
  std::string key = FormatGoFloat(scalar.real, true);
  if (key == "+Inf") return ".inf";
  if (key == "-Inf") return "-.inf";
  if (key == "NaN") return ".nan";
  return key;
}

// ---------------------------------------------------------------------------------------------
// Builder: events to JSON, one document at a time.

class Builder {
 public:
  explicit Builder(const YamlOptions& options) : options_(options) {}

  std::vector<nlohmann::json> Run(Parser& parser) {
    std::vector<nlohmann::json> out;
    Event event;
    while (parser.Next(event)) {
      if (event.type == EventType::kDocumentStart) {
        StartDocument();
        continue;
      }
      if (event.type == EventType::kDocumentEnd) {
        if (pending_) throw Error(ErrorCode::kInvalidArgument, *pending_);
        // Empty and null documents are skipped (the original passed them on as `null`).
        if (!root_.is_null()) out.push_back(std::move(root_));
        continue;
      }
      if (pending_) continue;  // keep parsing: a later syntax error in the document wins
      try {
        Handle(event);
      } catch (const DecodeError& e) {
        pending_ = e.what();
      }
    }
    return out;
  }

 private:
  // A finished node on its way to its parent.
  struct Item {
    bool collection = false;
    bool from_alias = false;
    bool merge_key = false;  // a plain `<<` (or one tagged !!merge)
    Scalar scalar;           // when !collection
    nlohmann::json json;     // when collection
    Mark mark;
    std::size_t depth = 0;  // nesting of a collection: 1 for [] or {}
  };

  // An open collection.
  struct Frame {
    bool mapping = false;
    nlohmann::json value;
    Mark mark;
    std::string anchor;
    std::size_t serial = 0;
    std::size_t nodes_at_start = 0;
    std::size_t child_depth = 0;
    // mappings: the key read and waiting for its value
    bool have_key = false;
    bool key_is_merge = false;
    bool key_is_nan = false;
    std::string key;
    std::unordered_map<std::string, Pos> key_lines;  // explicit keys, for duplicates
  };

  struct Anchor {
    bool open = false;        // on a collection not yet finished
    std::size_t serial = 0;   // of that collection
    bool collection = false;  // else `scalar`
    Scalar scalar;
    nlohmann::json json;
    std::size_t nodes = 0;
    std::size_t depth = 0;
  };

  void StartDocument() {
    ++document_;
    nodes_ = 0;
    frames_.clear();
    anchors_.clear();
    root_ = nullptr;
    pending_.reset();
  }

  void CountNodes(std::size_t n) {
    nodes_ += n;
    if (nodes_ > options_.max_nodes) {
      throw Error(ErrorCode::kInvalidArgument, "document " + std::to_string(document_) +
                                                   ": too many nodes after alias expansion");
    }
  }

  void CheckDepth(std::size_t depth, const Mark& mark) const {
    if (depth > kMaxDocumentDepth) Fail(mark, DepthMessage());
  }

  void Handle(Event& event) {
    switch (event.type) {
      case EventType::kScalar: {
        CountNodes(1);
        Item item;
        item.mark = event.start;
        item.merge_key = event.value == "<<" && (event.implicit || event.tag == kMergeTag);
        item.scalar = ResolveScalar(event, options_);
        if (!event.anchor.empty()) {
          Anchor& anchor = anchors_[event.anchor];
          anchor = Anchor{};
          anchor.scalar = item.scalar;
          anchor.nodes = 1;
        }
        Deliver(std::move(item));
        return;
      }
      case EventType::kAlias:
        return HandleAlias(event);
      case EventType::kSequenceStart:
      case EventType::kMappingStart: {
        CountNodes(1);
        CheckDepth(frames_.size() + 1, event.start);
        Frame frame;
        frame.mapping = event.type == EventType::kMappingStart;
        frame.value = frame.mapping ? nlohmann::json::object() : nlohmann::json::array();
        frame.mark = event.start;
        frame.serial = ++serial_;
        frame.nodes_at_start = nodes_ - 1;  // the collection itself included
        if (!event.anchor.empty()) {
          frame.anchor = event.anchor;
          Anchor& anchor = anchors_[event.anchor];
          anchor = Anchor{};
          anchor.open = true;
          anchor.serial = frame.serial;
        }
        frames_.push_back(std::move(frame));
        return;
      }
      case EventType::kSequenceEnd:
      case EventType::kMappingEnd: {
        Frame frame = std::move(frames_.back());
        frames_.pop_back();
        Item item;
        item.collection = true;
        item.mark = frame.mark;
        item.depth = frame.child_depth + 1;
        if (!frame.anchor.empty()) {
          Anchor& anchor = anchors_[frame.anchor];
          if (anchor.open && anchor.serial == frame.serial) {
            anchor.open = false;
            anchor.collection = true;
            anchor.json = frame.value;
            anchor.nodes = nodes_ - frame.nodes_at_start;
            anchor.depth = item.depth;
          }
        }
        item.json = std::move(frame.value);
        Deliver(std::move(item));
        return;
      }
      default:
        return;
    }
  }

  void HandleAlias(const Event& event) {
    const auto it = anchors_.find(event.anchor);
    if (it == anchors_.end()) {
      Fail(event.start, "unknown anchor '" + event.anchor + "' referenced");
    }
    const Anchor& anchor = it->second;
    if (anchor.open) FailDecode(event.start, "anchor '" + event.anchor + "' value contains itself");
    CountNodes(anchor.nodes);
    Item item;
    item.mark = event.start;
    item.from_alias = true;
    item.collection = anchor.collection;
    if (anchor.collection) {
      CheckDepth(frames_.size() + anchor.depth, event.start);
      item.json = anchor.json;
      item.depth = anchor.depth;
    } else {
      item.scalar = anchor.scalar;
    }
    Deliver(std::move(item));
  }

  nlohmann::json ValueOf(Item& item) {
    if (item.collection) return std::move(item.json);
    return ScalarToJson(std::move(item.scalar), item.mark);
  }

  void Deliver(Item&& item) {
    if (frames_.empty()) {
      root_ = ValueOf(item);
      return;
    }
    Frame& frame = frames_.back();
    frame.child_depth = std::max(frame.child_depth, item.depth);
    if (!frame.mapping) {
      frame.value.push_back(ValueOf(item));
      return;
    }
    if (!frame.have_key) {
      frame.have_key = true;
      frame.key_is_merge = item.merge_key;
      // A NaN key never finds its value again in a Go map: the original wrote `.nan: null`.
      frame.key_is_nan = !item.collection && item.scalar.kind == Scalar::Kind::kFloat &&
                         std::isnan(item.scalar.real);
      if (item.merge_key) return;
      if (item.collection) {
        FailDecode(item.mark, std::string("invalid map key: a ") +
                                  (item.json.is_object() ? "mapping" : "sequence") +
                                  " cannot be a mapping key");
      }
      frame.key = ScalarToKey(item.scalar, item.mark, options_);
      if (frame.key == "<<") {
        // The original wrote the document back as YAML, where this key came out unquoted and was
        // then read as a merge key: refuse it rather than guess which reading was meant.
        FailDecode(item.mark,
                   "mapping key \"<<\" is only supported as a merge key (unquoted, untagged)");
      }
      // Deliberately stricter than the original (which kept the last value): a key given twice
      // in one mapping is refused, as kubectl does.
      const auto [it, inserted] = frame.key_lines.emplace(frame.key, item.mark.line);
      if (!inserted) {
        FailDecode(item.mark, "mapping key " + nlohmann::json(frame.key).dump() +
                                  " already defined at line " + std::to_string(it->second + 1));
      }
      return;
    }
    frame.have_key = false;
    if (frame.key_is_merge) {
      Merge(frame.value, item);
      return;
    }
    frame.value[frame.key] = frame.key_is_nan ? nlohmann::json() : ValueOf(item);
  }

  // `<<: value` copies the keys of a mapping (or of each mapping in a sequence, earlier ones
  // winning) into the mapping being built. As in yaml.v2 this happens where the `<<` stands:
  // keys written after it override merged ones, keys written before it are overridden.
  static void Merge(nlohmann::json& target, Item& item) {
    auto fail = [&] {
      FailDecode(item.mark, "map merge requires map or sequence of maps as the value");
    };
    if (!item.collection) fail();
    if (item.json.is_object()) {
      for (auto& [key, value] : item.json.items()) target[key] = std::move(value);
      return;
    }
    if (item.from_alias) fail();  // an alias must name a mapping
    for (auto it = item.json.rbegin(); it != item.json.rend(); ++it) {
      if (!it->is_object()) fail();
    }
    for (auto it = item.json.rbegin(); it != item.json.rend(); ++it) {
      for (auto& [key, value] : it->items()) target[key] = std::move(value);
    }
  }

  const YamlOptions& options_;
  std::size_t document_ = 0;
  std::size_t nodes_ = 0;
  std::size_t serial_ = 0;
  std::vector<Frame> frames_;
  std::unordered_map<std::string, Anchor> anchors_;
  nlohmann::json root_;
  std::optional<std::string> pending_;
};

}  // namespace

std::vector<nlohmann::json> YamlDocumentsToJson(std::string_view text, const YamlOptions& options) {
  std::size_t size = 0;
  const std::string input = DecodeInput(text, size);
  Scanner scanner(input, size);
  Parser parser(scanner);
  Builder builder(options);
  return builder.Run(parser);
}

}  // namespace common
