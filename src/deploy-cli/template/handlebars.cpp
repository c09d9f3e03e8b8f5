#include "deploy-cli/template/handlebars.hpp"

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/html.hpp"
#include "common/strings.hpp"

namespace deploy_cli {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Values

bool IsTruthy(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0.0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return !v.empty();
  return true;
}

// The shortest decimal that round-trips `d` (d finite, not zero): digits without leading or
// trailing zeros and the position of the decimal point (value = 0.<digits> * 10^point).
struct Decimal {
  bool negative = false;
  std::string digits;
  int point = 0;
};

Decimal ShortestDecimal(double d) {
  Decimal out;
  std::string text = fmt::format("{}", d);  // shortest round-trip, fixed or exponent form
  if (!text.empty() && text[0] == '-') {
    out.negative = true;
    text.erase(0, 1);
  }
  int exponent = 0;
  if (const auto e = text.find_first_of("eE"); e != std::string::npos) {
    exponent = std::stoi(text.substr(e + 1));
    text.resize(e);
  }
  int point = 0;
  bool seen_point = false;
  for (const char c : text) {
    if (c == '.') {
      seen_point = true;
      continue;
    }
    out.digits += c;
    if (!seen_point) ++point;
  }
  point += exponent;
  const auto first = out.digits.find_first_not_of('0');
  out.digits.erase(0, first);
  point -= static_cast<int>(first);
  out.digits.erase(out.digits.find_last_not_of('0') + 1);
  out.point = point;
  return out;
}

// Fixed notation of a shortest decimal (strconv 'f' with precision -1).
std::string FixedNotation(const Decimal& dec) {
  const int n = static_cast<int>(dec.digits.size());
  std::string out = dec.negative ? "-" : "";
  if (dec.point <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-dec.point), '0') + dec.digits;
  } else if (dec.point >= n) {
    out += dec.digits + std::string(static_cast<std::size_t>(dec.point - n), '0');
  } else {
    out += dec.digits.substr(0, static_cast<std::size_t>(dec.point)) + "." +
           dec.digits.substr(static_cast<std::size_t>(dec.point));
  }
  return out;
}

// Go strconv.FormatFloat(f, 'f', -1, 64): shortest round-trip digits, never an exponent.
std::string FormatFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  return FixedNotation(ShortestDecimal(d));
}

// Exponent notation of a shortest decimal (strconv 'e' with precision -1): "1.5e+21", "1e-07".
std::string ExponentNotation(const Decimal& dec) {
  const int exponent = dec.point - 1;
  std::string out = dec.negative ? "-" : "";
  out += dec.digits.substr(0, 1);
  if (dec.digits.size() > 1) out += "." + dec.digits.substr(1);
  out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', exponent < 0 ? -exponent : exponent);
  return out;
}

// Go strconv.FormatFloat(f, 'g', -1, 64), which is also fmt's %v of a float64: exponent form
// when the exponent is below -4 or at least 6 ("1e+06", "1.5e-07"), else fixed ("123456").
std::string FormatFloatG(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  const Decimal dec = ShortestDecimal(d);
  const int exponent = dec.point - 1;
  return exponent >= -4 && exponent < 6 ? FixedNotation(dec) : ExponentNotation(dec);
}

// Go's fmt printing a value with %s or %v (fmt.Sprintf("%s", map) is what raymond does for a
// map). Inside a map or slice the verb applies to each element: with %s a number prints as
// "%!s(float64=1)" and a boolean as "%!s(bool=true)"; nil is "<nil>"; map keys are sorted.
void GoPrint(const json& v, char verb, bool top, std::string& out) {
  switch (v.type()) {
    case json::value_t::string:
      out += v.get_ref<const std::string&>();
      return;
    case json::value_t::boolean: {
      const char* text = v.get<bool>() ? "true" : "false";
      out += verb == 'v' ? std::string(text) : fmt::format("%!s(bool={})", text);
      return;
    }
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      out += verb == 'v' ? v.dump() : fmt::format("%!s(int={})", v.dump());
      return;
    case json::value_t::number_float: {
      const std::string text = FormatFloatG(v.get<double>());
      out += verb == 'v' ? text : fmt::format("%!s(float64={})", text);
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ' ';
        first = false;
        GoPrint(item, verb, false, out);
      }
      out += ']';
      return;
    }
    case json::value_t::object: {
      out += "map[";
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        if (!first) out += ' ';
        first = false;
        out += key;
        out += ':';
        GoPrint(item, verb, false, out);
      }
      out += ']';
      return;
    }
    case json::value_t::null:
    case json::value_t::discarded:
    case json::value_t::binary:
      out += top && verb == 's' ? "%!s(<nil>)" : "<nil>";
      return;
  }
}

std::string Escape(const std::string& s) { return common::EscapeHtml(s, "&quot;", "&apos;"); }

// ---------------------------------------------------------------------------------------------
// Syntax tree

struct Expr;
struct Call {
  std::vector<Expr> items;  // head followed by params
  std::vector<std::pair<std::string, Expr>> hash;
  std::vector<std::string> block_params;
};

struct Expr {
  enum class Kind { kPath, kLiteral, kSub } kind = Kind::kPath;
  // kPath
  std::string original;
  std::vector<std::string> segments;
  int depth = 0;      // number of ../
  bool data = false;  // @name
  bool this_ref = false;
  // kLiteral
  json literal;
  // kSub
  std::shared_ptr<Call> sub;
};

struct Node {
  enum class Kind { kText, kMustache, kBlock } kind = Kind::kText;
  std::string text;
  bool escape = true;
  bool inverted = false;  // {{^x}}
  int line = 1;
  Call call;
  std::vector<Node> body;
  std::vector<Node> inverse;
};

// ---------------------------------------------------------------------------------------------
// Lexing the template into text and tags

struct Tag {
  enum class Kind { kComment, kVar, kRaw, kOpen, kInverseOpen, kElse, kClose } kind;
  std::string content;  // inside, without sigils
  bool strip_left = false;
  bool strip_right = false;
  int line = 1;
};

struct Token {
  bool is_text = true;
  std::string text;
  Tag tag{Tag::Kind::kComment, "", false, false, 1};
};

// How deeply blocks, and subexpressions, may nest in one template (parsing and rendering recurse
// once per level).
constexpr int kMaxNesting = 256;

[[noreturn]] void ParseFail(int line, const std::string& message) {
  throw TemplateError(true, fmt::format("Parse error on line {}: {}", line, message));
}

// Tag contents lose blanks and line breaks only (not \v or \f).
std::string TrimSpace(std::string_view s) { return common::Trim(s, " \t\r\n"); }

std::vector<Token> Lex(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t pos = 0;
  int line = 1;
  std::size_t line_pos = 0;  // LineAt cache
  auto line_of = [&](std::size_t p) {
    for (; line_pos < p; ++line_pos) {
      if (text[line_pos] == '\n') ++line;
    }
    return line;
  };
  while (pos < text.size()) {
    const auto open = text.find("{{", pos);
    if (open == std::string_view::npos) {
      tokens.push_back(Token{true, std::string(text.substr(pos)), {}});
      break;
    }
    // "\{{" escapes a mustache.
    if (open > 0 && text[open - 1] == '\\') {
      Token t{true, std::string(text.substr(pos, open - 1 - pos)) + "{{", {}};
      tokens.push_back(std::move(t));
      pos = open + 2;
      continue;
    }
    if (open > pos) tokens.push_back(Token{true, std::string(text.substr(pos, open - pos)), {}});
    const int tag_line = line_of(open);
    std::size_t p = open + 2;
    const bool triple = p < text.size() && text[p] == '{';
    if (triple) ++p;
    Tag tag{Tag::Kind::kVar, "", false, false, tag_line};
    if (p < text.size() && text[p] == '~') {
      tag.strip_left = true;
      ++p;
    }
    std::size_t close;
    std::size_t after;
    if (!triple && text.substr(p, 3) == "!--") {
      close = text.find("--", p + 3);
      while (close != std::string_view::npos) {
        std::size_t q = close + 2;
        if (q < text.size() && text[q] == '~') ++q;
        if (text.substr(q, 2) == "}}") break;
        close = text.find("--", close + 1);
      }
      if (close == std::string_view::npos) ParseFail(tag_line, "unclosed comment");
      tag.kind = Tag::Kind::kComment;
      after = close + 2;
      if (text[after] == '~') {
        tag.strip_right = true;
        ++after;
      }
      after += 2;
    } else {
      const std::string_view closer = triple ? "}}}" : "}}";
      close = text.find(closer, p);
      if (close == std::string_view::npos) {
        ParseFail(tag_line, fmt::format("unclosed \"{}\"", triple ? "{{{" : "{{"));
      }
      after = close + closer.size();
      std::size_t content_end = close;
      if (content_end > p && text[content_end - 1] == '~') {
        tag.strip_right = true;
        --content_end;
      }
      std::string content(text.substr(p, content_end - p));
      if (triple) {
        tag.kind = Tag::Kind::kRaw;
        tag.content = TrimSpace(content);
      } else {
        std::string trimmed = TrimSpace(content);
        const char sigil = trimmed.empty() ? '\0' : trimmed[0];
        switch (sigil) {
          case '!':
            tag.kind = Tag::Kind::kComment;
            break;
          case '&':
            tag.kind = Tag::Kind::kRaw;
            tag.content = TrimSpace(trimmed.substr(1));
            break;
          case '#':
            tag.kind = Tag::Kind::kOpen;
            tag.content = TrimSpace(trimmed.substr(1));
            break;
          case '/':
            tag.kind = Tag::Kind::kClose;
            tag.content = TrimSpace(trimmed.substr(1));
            break;
          case '^':
            tag.content = TrimSpace(trimmed.substr(1));
            tag.kind = tag.content.empty() ? Tag::Kind::kElse : Tag::Kind::kInverseOpen;
            break;
          case '>':
            ParseFail(tag_line, "partials are not supported");
          case '\0':
            ParseFail(tag_line, "empty mustache");
          default:
            if (trimmed == "else" || trimmed.rfind("else ", 0) == 0) {
              tag.kind = Tag::Kind::kElse;
              tag.content = TrimSpace(trimmed.substr(4));
            } else {
              tag.kind = Tag::Kind::kVar;
              tag.content = trimmed;
            }
        }
      }
    }
    Token token;
    token.is_text = false;
    token.tag = std::move(tag);
    tokens.push_back(std::move(token));
    pos = after;
  }
  return tokens;
}

bool IsBlank(std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; }

// Standalone lines ({{#x}}, {{/x}}, {{else}}, comments alone on a line) vanish with their
// newline, then ~ strips whitespace next to a tag.
void ApplyWhitespaceRules(std::vector<Token>& tokens) {
  const std::size_t n = tokens.size();
  std::vector<std::size_t> cut_front(n, 0);
  std::vector<std::size_t> cut_back(n, std::string::npos);  // keep text[0, cut_back)
  for (std::size_t i = 0; i < n; ++i) {
    if (tokens[i].is_text) continue;
    const auto kind = tokens[i].tag.kind;
    if (kind == Tag::Kind::kVar || kind == Tag::Kind::kRaw) continue;
    // before
    bool before_ok;
    std::size_t before_cut = 0;
    if (i == 0) {
      before_ok = true;
    } else if (!tokens[i - 1].is_text) {
      before_ok = false;
    } else {
      const std::string& t = tokens[i - 1].text;
      const auto nl = t.rfind('\n');
      if (nl == std::string::npos) {
        before_ok = (i - 1 == 0) && IsBlank(t);
        before_cut = 0;
      } else {
        before_ok = IsBlank(std::string_view(t).substr(nl + 1));
        before_cut = nl + 1;
      }
    }
    if (!before_ok) continue;
    bool after_ok;
    std::size_t after_cut = 0;
    if (i + 1 == n) {
      after_ok = true;
    } else if (!tokens[i + 1].is_text) {
      after_ok = false;
    } else {
      const std::string& t = tokens[i + 1].text;
      const auto nl = t.find('\n');
      if (nl == std::string::npos) {
        after_ok = (i + 2 == n) && IsBlank(t);
        after_cut = t.size();
      } else {
        after_ok = IsBlank(std::string_view(t).substr(0, nl));
        after_cut = nl + 1;
      }
    }
    if (!after_ok) continue;
    if (i > 0) cut_back[i - 1] = std::min(cut_back[i - 1], before_cut);
    if (i + 1 < n) cut_front[i + 1] = std::max(cut_front[i + 1], after_cut);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!tokens[i].is_text) continue;
    std::string& t = tokens[i].text;
    const std::size_t end = std::min(cut_back[i], t.size());
    const std::size_t begin = std::min(cut_front[i], end);
    t = t.substr(begin, end - begin);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (tokens[i].is_text) continue;
    if (tokens[i].tag.strip_left && i > 0 && tokens[i - 1].is_text) {
      std::string& t = tokens[i - 1].text;
      t.erase(t.find_last_not_of(" \t\r\n") + 1);
    }
    if (tokens[i].tag.strip_right && i + 1 < n && tokens[i + 1].is_text) {
      std::string& t = tokens[i + 1].text;
      const auto b = t.find_first_not_of(" \t\r\n");
      t.erase(0, b == std::string::npos ? t.size() : b);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing tag contents

class ExprParser {
 public:
  ExprParser(std::string_view text, int line) : text_(text), line_(line) {}

  Call ParseCall(bool allow_block_params) {
    Call call;
    SkipSpace();
    while (pos_ < text_.size()) {
      SkipSpace();
      if (pos_ >= text_.size()) break;
      if (text_[pos_] == ')') break;
      if (allow_block_params && StartsWord("as") && AfterAsIsPipe()) {
        pos_ += 2;
        SkipSpace();
        ++pos_;  // '|'
        while (true) {
          SkipSpace();
          if (pos_ >= text_.size()) ParseFail(line_, "unclosed block parameters");
          if (text_[pos_] == '|') {
            ++pos_;
            break;
          }
          call.block_params.push_back(ReadWord());
        }
        SkipSpace();
        if (pos_ < text_.size()) ParseFail(line_, "unexpected text after block parameters");
        break;
      }
      // hash argument key=value
      const std::size_t save = pos_;
      if (std::isalpha(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_') {
        std::string word = ReadWord();
        if (pos_ < text_.size() && text_[pos_] == '=') {
          ++pos_;
          call.hash.emplace_back(word, ParseExpr());
          continue;
        }
        pos_ = save;
      }
      if (!call.hash.empty()) ParseFail(line_, "positional parameter after hash arguments");
      call.items.push_back(ParseExpr());
    }
    if (call.items.empty()) ParseFail(line_, "expected an expression");
    return call;
  }

  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool StartsWord(std::string_view w) const {
    return text_.substr(pos_, w.size()) == w &&
           (pos_ + w.size() == text_.size() ||
            std::isspace(static_cast<unsigned char>(text_[pos_ + w.size()])));
  }
  bool AfterAsIsPipe() const {
    std::size_t p = pos_ + 2;
    while (p < text_.size() && std::isspace(static_cast<unsigned char>(text_[p]))) ++p;
    return p < text_.size() && text_[p] == '|';
  }
  static bool IsWordChar(char c) {
    return !(std::isspace(static_cast<unsigned char>(c)) || c == '(' || c == ')' || c == '|' ||
             c == '=' || c == '"' || c == '\'' || c == '}' || c == '{');
  }
  std::string ReadWord() {
    std::string word;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == '[') {
        const auto end = text_.find(']', pos_);
        if (end == std::string_view::npos) ParseFail(line_, "unclosed [");
        word.append(text_.substr(pos_, end - pos_ + 1));
        pos_ = end + 1;
        continue;
      }
      if (!IsWordChar(c)) break;
      word += c;
      ++pos_;
    }
    if (word.empty()) ParseFail(line_, fmt::format("unexpected character '{}'", text_[pos_]));
    return word;
  }

  Expr ParseExpr() {
    SkipSpace();
    if (pos_ >= text_.size()) ParseFail(line_, "expected an expression");
    const char c = text_[pos_];
    Expr e;
    if (c == '(') {
      if (++sub_nesting_ > kMaxNesting) ParseFail(line_, "subexpressions nested too deeply");
      ++pos_;
      e.kind = Expr::Kind::kSub;
      e.sub = std::make_shared<Call>(ParseCall(false));
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ')') ParseFail(line_, "unclosed (");
      ++pos_;
      --sub_nesting_;
      return e;
    }
    if (c == '"' || c == '\'') {
      std::string value;
      ++pos_;
      while (pos_ < text_.size() && text_[pos_] != c) {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] == c) ++pos_;
        value += text_[pos_++];
      }
      if (pos_ >= text_.size()) ParseFail(line_, "unterminated string");
      ++pos_;
      e.kind = Expr::Kind::kLiteral;
      e.literal = value;
      return e;
    }
    const std::string word = ReadWord();
    e.original = word;
    if (word == "true" || word == "false") {
      e.kind = Expr::Kind::kLiteral;
      e.literal = word == "true";
      return e;
    }
    if (word == "null" || word == "undefined") {
      e.kind = Expr::Kind::kLiteral;
      e.literal = nullptr;
      return e;
    }
    if (IsNumber(word)) {
      e.kind = Expr::Kind::kLiteral;
      if (word.find('.') == std::string::npos) {
        e.literal = std::stoll(word);
      } else {
        e.literal = std::stod(word);
      }
      return e;
    }
    ParsePath(word, e);
    return e;
  }

  static bool IsNumber(const std::string& w) {
    std::size_t i = 0;
    if (i < w.size() && w[i] == '-') ++i;
    if (i >= w.size()) return false;
    bool digits = false;
    bool dot = false;
    for (; i < w.size(); ++i) {
      if (std::isdigit(static_cast<unsigned char>(w[i]))) {
        digits = true;
      } else if (w[i] == '.' && !dot) {
        dot = true;
      } else {
        return false;
      }
    }
    return digits && w.back() != '.';
  }

  void ParsePath(const std::string& word, Expr& e) {
    std::string_view rest = word;
    if (!rest.empty() && rest[0] == '@') {
      e.data = true;
      rest.remove_prefix(1);
    }
    while (rest.substr(0, 3) == "../") {
      ++e.depth;
      rest.remove_prefix(3);
    }
    if (rest == "this" || rest == ".") {
      e.this_ref = true;
      return;
    }
    if (rest.substr(0, 5) == "this." || rest.substr(0, 5) == "this/") {
      e.this_ref = true;
      rest.remove_prefix(5);
    } else if (rest.substr(0, 2) == "./") {
      e.this_ref = true;
      rest.remove_prefix(2);
    }
    std::string segment;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      const char c = rest[i];
      if (c == '[') {
        const auto end = rest.find(']', i);
        segment.append(rest.substr(i + 1, end - i - 1));
        i = end;
      } else if (c == '.' || c == '/') {
        if (segment.empty()) ParseFail(line_, fmt::format("invalid path \"{}\"", word));
        e.segments.push_back(segment);
        segment.clear();
      } else {
        segment += c;
      }
    }
    if (segment.empty() && !e.this_ref) ParseFail(line_, fmt::format("invalid path \"{}\"", word));
    if (!segment.empty()) e.segments.push_back(segment);
  }

  std::string_view text_;
  int line_;
  std::size_t pos_ = 0;
  int sub_nesting_ = 0;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::vector<Node> ParseAll() {
    auto [nodes, end] = ParseSeq();
    if (end != nullptr) {
      if (end->kind == Tag::Kind::kElse) ParseFail(end->line, "{{else}} outside of a block");
      ParseFail(end->line, fmt::format("unexpected closing tag {{{{/{}}}}}", end->content));
    }
    return nodes;
  }

 private:
  // Parses nodes until an else/close tag (returned) or the end (nullptr).
  std::pair<std::vector<Node>, const Tag*> ParseSeq() {
    std::vector<Node> nodes;
    while (pos_ < tokens_.size()) {
      const Token& token = tokens_[pos_++];
      if (token.is_text) {
        if (!token.text.empty()) {
          Node n;
          n.kind = Node::Kind::kText;
          n.text = token.text;
          nodes.push_back(std::move(n));
        }
        continue;
      }
      const Tag& tag = token.tag;
      switch (tag.kind) {
        case Tag::Kind::kComment:
          break;
        case Tag::Kind::kVar:
        case Tag::Kind::kRaw: {
          Node n;
          n.kind = Node::Kind::kMustache;
          n.escape = tag.kind == Tag::Kind::kVar;
          n.line = tag.line;
          ExprParser p(tag.content, tag.line);
          n.call = p.ParseCall(false);
          nodes.push_back(std::move(n));
          break;
        }
        case Tag::Kind::kOpen:
        case Tag::Kind::kInverseOpen: {
          ExprParser p(tag.content, tag.line);
          Call call = p.ParseCall(true);
          const std::string name = call.items.front().original;
          nodes.push_back(
              ParseBlockRest(std::move(call), name, tag.line, tag.kind == Tag::Kind::kInverseOpen));
          break;
        }
        case Tag::Kind::kElse:
        case Tag::Kind::kClose:
          return {std::move(nodes), &tag};
      }
    }
    return {std::move(nodes), nullptr};
  }

  Node ParseBlockRest(Call call, const std::string& name, int line, bool inverted) {
    // Blocks (and {{else if}} chains) are parsed and rendered recursively: bound the nesting.
    if (++nesting_ > kMaxNesting) ParseFail(line, "blocks nested too deeply");
    struct Leave {
      int& nesting;
      ~Leave() { --nesting; }
    } leave{nesting_};
    Node node;
    node.kind = Node::Kind::kBlock;
    node.line = line;
    node.inverted = inverted;
    node.call = std::move(call);
    auto [body, end] = ParseSeq();
    node.body = std::move(body);
    if (end == nullptr) ParseFail(line, fmt::format("unclosed block {{{{#{}}}}}", name));
    if (end->kind == Tag::Kind::kElse) {
      if (end->content.empty()) {
        auto [inverse, end2] = ParseSeq();
        node.inverse = std::move(inverse);
        if (end2 == nullptr) ParseFail(line, fmt::format("unclosed block {{{{#{}}}}}", name));
        if (end2->kind == Tag::Kind::kElse) ParseFail(end2->line, "more than one {{else}}");
        end = end2;
      } else {
        ExprParser p(end->content, end->line);
        Call chained = p.ParseCall(true);
        node.inverse.push_back(ParseBlockRest(std::move(chained), name, end->line, false));
        return node;
      }
    }
    if (end->content != name) {
      ParseFail(end->line, fmt::format("{} doesn't match {}", name, end->content));
    }
    return node;
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int nesting_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Evaluation, modelled on raymond's evalVisitor: a stack of contexts (each, with and sections
// push one; if/unless/equal do not), a stack of private data frames (@index, @key, @first,
// @last; each iteration pushes a copy of the current frame, so @../index is the parent's) and a
// stack of block parameters.

class Evaluator {
 public:
  Evaluator(const json& root, bool strict) : root_(root), strict_(strict) {
    contexts_.push_back(&root_);
    data_frames_.push_back(json::object());
  }

  void Render(const std::vector<Node>& nodes, std::string& out) {
    for (const Node& node : nodes) {
      switch (node.kind) {
        case Node::Kind::kText:
          out += node.text;
          break;
        case Node::Kind::kMustache: {
          const std::string s = Stringify(EvalCall(node.call, node.line));
          out += node.escape ? Escape(s) : s;
          break;
        }
        case Node::Kind::kBlock:
          RenderBlock(node, out);
          break;
      }
    }
  }

 private:
  // Pushes onto a stack for the lifetime of the guard.
  template <typename Stack>
  struct Push {
    Push(Stack& stack, typename Stack::value_type value, bool active)
        : stack_(stack), active_(active) {
      if (active_) stack_.push_back(std::move(value));
    }
    ~Push() {
      if (active_) stack_.pop_back();
    }
    Push(const Push&) = delete;
    Push& operator=(const Push&) = delete;

   private:
    Stack& stack_;
    bool active_;
  };
  using BlockParams = std::map<std::string, json>;

  // raymond's evalField: one step into an object (key) or an array (decimal index).
  static const json* Field(const json& ctx, const std::string& name) {
    if (ctx.is_object()) {
      auto it = ctx.find(name);
      return it == ctx.end() ? nullptr : &*it;
    }
    if (ctx.is_array()) {
      std::size_t index = 0;
      const char* end = name.data() + name.size();
      const auto [ptr, ec] =
          std::from_chars(name.data() + (name.rfind('+', 0) == 0 ? 1 : 0), end, index);
      if (ec != std::errc() || ptr != end || index >= ctx.size()) return nullptr;
      return &ctx[index];
    }
    return nullptr;
  }

  // evalPath: nullopt when a part is missing; `resolved` once the first part was found.
  static std::optional<json> EvalPath(const json& ctx, const std::vector<std::string>& parts,
                                      bool& resolved) {
    resolved = false;
    const json* node = &ctx;
    for (const std::string& part : parts) {
      node = Field(*node, part);
      if (node == nullptr) return std::nullopt;
      resolved = true;
    }
    return *node;
  }

  // evalCtxPath: in an array context a path is looked up in every element (raymond's quirk).
  static std::optional<json> EvalCtxPath(const json& ctx, const std::vector<std::string>& parts,
                                         bool& resolved) {
    if (!ctx.is_array()) return EvalPath(ctx, parts, resolved);
    resolved = false;
    json results = json::array();
    for (const json& item : ctx) {
      bool found = false;
      if (auto value = EvalPath(item, parts, found)) results.push_back(std::move(*value));
    }
    return results;
  }

  static bool IsNil(const std::optional<json>& value) { return !value || value->is_null(); }

  // evalDepthPath: from the context `depth` levels up, outwards until the first part of the
  // path resolves (mustache's context precedence: {{team}} inside {{#each}} finds the root's).
  std::optional<json> EvalDepthPath(std::size_t depth, const std::vector<std::string>& parts) {
    for (std::size_t d = depth; d < contexts_.size(); ++d) {
      bool resolved = false;
      auto value = EvalCtxPath(*contexts_[contexts_.size() - 1 - d], parts, resolved);
      if (!IsNil(value) || resolved) return value;
    }
    return std::nullopt;
  }

  // The innermost block parameter called `name`; raymond treats a nil one as absent.
  const json* FindBlockParam(const std::string& name) const {
    for (auto it = block_params_.rbegin(); it != block_params_.rend(); ++it) {
      auto found = it->find(name);
      if (found != it->end()) return found->second.is_null() ? nullptr : &found->second;
    }
    return nullptr;
  }

  // evalPathExpression.
  std::optional<json> ResolvePath(const Expr& e) {
    const auto depth = static_cast<std::size_t>(e.depth);
    if (!e.segments.empty()) {
      if (const json* param = FindBlockParam(e.segments.front())) {
        const json holder = json::object({{e.segments.front(), *param}});
        const Push<std::vector<const json*>> push(contexts_, &holder, true);
        return EvalDepthPath(depth, e.segments);
      }
    }
    bool context_tried = false;
    std::optional<json> value;
    if (e.data && !e.segments.empty() && e.segments.front() == "root") {
      bool resolved = false;
      value = EvalCtxPath(root_, std::vector<std::string>(e.segments.begin() + 1, e.segments.end()),
                          resolved);
      context_tried = true;
    }
    if (IsNil(value) && e.data && depth < data_frames_.size()) {
      bool resolved = false;
      auto data = EvalCtxPath(data_frames_[data_frames_.size() - 1 - depth], e.segments, resolved);
      if (!IsNil(data)) return data;
      if (data) value = std::move(data);
    }
    if (IsNil(value) && !context_tried) {
      // Also for @name: private data that is not there is looked up as a context path.
      if (auto found = EvalDepthPath(depth, e.segments)) return found;
    }
    return value;
  }

  [[noreturn]] void Missing(int line, const std::string& name) const {
    throw TemplateError(false, fmt::format("line {}: missing variable \"{}\"", line, name));
  }

  json EvalExpr(const Expr& e, int line) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return e.literal;
      case Expr::Kind::kSub:
        return EvalCall(*e.sub, line);
      case Expr::Kind::kPath:
        break;
    }
    if (auto value = ResolvePath(e)) return *value;
    if (strict_) Missing(line, e.original);
    return nullptr;
  }

  static std::string HelperName(const Call& call) {
    const Expr& head = call.items.front();
    const bool simple = head.kind == Expr::Kind::kPath && !head.data && !head.this_ref &&
                        head.depth == 0 && head.segments.size() == 1;
    if (!simple) return "";
    const std::string& name = head.segments.front();
    return name == "lookup" || name == "equal" || name == "log" || name == "if" ||
                   name == "unless" || name == "each" || name == "with"
               ? name
               : "";
  }

  std::vector<json> Params(const Call& call, int line, const std::string& helper,
                           std::size_t count) {
    if (call.items.size() != count + 1) {
      Fail(line, fmt::format("helper \"{}\" needs {} parameter{}, got {}", helper, count,
                             count == 1 ? "" : "s", call.items.size() - 1));
    }
    std::vector<json> params;
    for (std::size_t i = 1; i < call.items.size(); ++i) {
      params.push_back(EvalExpr(call.items[i], line));
    }
    return params;
  }

  // An expression: helper call, or the value of its head (raymond ignores the parameters of a
  // head that is not a helper; --strict-vars makes that an error).
  json EvalCall(const Call& call, int line) {
    const std::string helper = HelperName(call);
    if (helper == "lookup") {
      // lookup(obj, field string): one step into obj, printed as a string.
      const auto params = Params(call, line, helper, 2);
      const json* found = Field(params[0], Stringify(params[1]));
      return found == nullptr ? std::string() : Stringify(*found);
    }
    if (helper == "equal") {
      // Only a subexpression gives a boolean; {{#equal}} is handled in RenderBlock.
      const auto params = Params(call, line, helper, 2);
      return Stringify(params[0]) == Stringify(params[1]);
    }
    if (helper == "log") {
      Params(call, line, helper, 1);
      return std::string();
    }
    if (!helper.empty()) {
      Fail(line, fmt::format("helper \"{}\" must be used as a block", helper));
    }
    const Expr& head = call.items.front();
    if (strict_ && (call.items.size() > 1 || !call.hash.empty())) {
      Fail(line, fmt::format("could not find helper \"{}\"", head.original));
    }
    if (head.kind == Expr::Kind::kLiteral) {
      // A literal alone is a key of the current context ({{"my key"}}, {{1}} in an array).
      const std::string key = Stringify(head.literal);
      if (const json* found = Field(*contexts_.back(), key)) return *found;
      if (strict_) Missing(line, key);
      return nullptr;
    }
    return EvalExpr(head, line);
  }

  [[noreturn]] static void Fail(int line, const std::string& message) {
    throw TemplateError(false, fmt::format("line {}: {}", line, message));
  }

  // evalProgram: renders `body` with an optional new context, data frame and block parameters
  // (the first is the context, the second the iteration key).
  void RenderProgram(const std::vector<Node>& body, const std::vector<std::string>& names,
                     const json* context, json* frame, const json* key, std::string& out) {
    BlockParams params;
    if (!names.empty()) params[names[0]] = context != nullptr ? *context : json(nullptr);
    if (names.size() > 1 && key != nullptr) params[names[1]] = *key;
    const Push<std::vector<BlockParams>> push_params(block_params_, std::move(params),
                                                     !names.empty());
    const Push<std::vector<const json*>> push_context(contexts_, context,
                                                      context != nullptr && !context->is_null());
    const Push<std::vector<json>> push_frame(
        data_frames_, frame != nullptr ? std::move(*frame) : json(), frame != nullptr);
    Render(body, out);
  }

  // newIterDataFrame: a copy of the current frame with the iteration variables.
  json IterFrame(std::size_t length, std::size_t index, const json& key) const {
    json frame = data_frames_.back();
    frame["index"] = index;
    frame["key"] = key;
    frame["first"] = index == 0;
    frame["last"] = index + 1 == length;
    return frame;
  }

  void IterateArray(const Node& node, const json& list, std::string& out) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      json frame = IterFrame(list.size(), i, nullptr);
      const json key = i;
      RenderProgram(node.body, node.call.block_params, &list[i], &frame, &key, out);
    }
  }

  void RenderEach(const Node& node, const json& value, std::string& out) {
    if (!IsTruthy(value)) {
      Render(node.inverse, out);
    } else if (value.is_array()) {
      IterateArray(node, value, out);
    } else if (value.is_object()) {
      // raymond ranges over a Go map (random order); ours is sorted by key.
      std::size_t i = 0;
      for (auto it = value.begin(); it != value.end(); ++it, ++i) {
        const json key = it.key();
        json frame = IterFrame(value.size(), i, key);
        RenderProgram(node.body, node.call.block_params, &*it, &frame, &key, out);
      }
    }
    // A truthy scalar renders nothing, as raymond's each helper.
  }

  void RenderBlock(const Node& node, std::string& out) {
    if (block_depth_ >= kMaxNesting) Fail(node.line, "template nesting too deep");
    ++block_depth_;
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{block_depth_};

    const Call& call = node.call;
    const std::string helper = HelperName(call);
    // {{^x}}...{{/x}} is a block whose only part is its inverse.
    static const std::vector<Node> kNone;
    const std::vector<Node>& program = node.inverted ? kNone : node.body;
    const std::vector<Node>& inverse = node.inverted ? node.body : node.inverse;
    const auto& names = call.block_params;
    if (helper == "if" || helper == "unless") {
      const bool truthy = IsTruthy(Params(call, node.line, helper, 1)[0]);
      if (truthy == (helper == "if")) {
        RenderProgram(program, names, nullptr, nullptr, nullptr, out);
      } else {
        Render(inverse, out);
      }
      return;
    }
    if (helper == "with") {
      const json value = Params(call, node.line, helper, 1)[0];
      if (IsTruthy(value)) {
        RenderProgram(program, names, &value, nullptr, nullptr, out);
      } else {
        Render(inverse, out);
      }
      return;
    }
    if (helper == "each") {
      const json value = Params(call, node.line, helper, 1)[0];
      if (node.inverted) {
        if (!IsTruthy(value)) Render(inverse, out);
        return;
      }
      RenderEach(node, value, out);
      return;
    }
    if (helper == "equal") {
      // raymond's equal renders its block or nothing: an {{else}} part is never used.
      const auto params = Params(call, node.line, helper, 2);
      if (Stringify(params[0]) == Stringify(params[1])) {
        RenderProgram(program, names, nullptr, nullptr, nullptr, out);
      }
      return;
    }
    if (helper == "lookup" || helper == "log") {
      // A helper's result replaces the block.
      out += Stringify(EvalCall(call, node.line));
      return;
    }
    // A section: a list iterates, another truthy value becomes the context, else the inverse.
    const json value = EvalCall(call, node.line);
    if (!IsTruthy(value)) {
      Render(inverse, out);
    } else if (value.is_array()) {
      if (!program.empty()) IterateArray(node, value, out);
    } else {
      RenderProgram(program, names, &value, nullptr, nullptr, out);
    }
  }

  const json& root_;
  bool strict_;
  std::vector<const json*> contexts_;
  std::vector<json> data_frames_;
  std::vector<BlockParams> block_params_;
  int block_depth_ = 0;
};

}  // namespace

std::string Stringify(const nlohmann::json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return value.get<std::string>();
    case json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return value.dump();
    case json::value_t::number_float:
      return FormatFloat(value.get<double>());
    case json::value_t::array: {
      std::string out;
      for (const auto& item : value) out += Stringify(item);
      return out;
    }
    case json::value_t::object: {
      std::string out;
      GoPrint(value, 's', true, out);
      return out;
    }
    case json::value_t::null:
    case json::value_t::discarded:
    case json::value_t::binary:
      return "";
  }
  return "";
}

std::string GoFormatFloat(double value, char format) {
  if (format == 'g') return FormatFloatG(value);
  if (format != 'e' || std::isnan(value) || std::isinf(value)) return FormatFloat(value);
  if (value == 0) return std::signbit(value) ? "-0e+00" : "0e+00";
  return ExponentNotation(ShortestDecimal(value));
}

std::string GoFormatV(const nlohmann::json& value) {
  std::string out;
  GoPrint(value, 'v', true, out);
  return out;
}

std::string RenderTemplate(std::string_view text, const nlohmann::json& context, bool strict) {
  std::vector<Token> tokens = Lex(text);
  ApplyWhitespaceRules(tokens);
  Parser parser(std::move(tokens));
  const std::vector<Node> nodes = parser.ParseAll();
  std::string out;
  out.reserve(text.size());
  Evaluator evaluator(context, strict);
  evaluator.Render(nodes, out);
  return out;
}

}  // namespace deploy_cli
