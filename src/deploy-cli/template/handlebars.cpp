#include "deploy-cli/template/handlebars.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <optional>
#include <vector>

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

// Go strconv.FormatFloat(f, 'f', -1, 64): shortest round-trip digits, never an exponent.
std::string FormatFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  std::string shortest = fmt::format("{}", d);  // shortest round-trip (may use exponent)
  const auto e_pos = shortest.find_first_of("eE");
  if (e_pos == std::string::npos) {
    if (shortest.size() > 2 && shortest.compare(shortest.size() - 2, 2, ".0") == 0) {
      shortest.resize(shortest.size() - 2);
    }
    return shortest;
  }
  std::string mantissa = shortest.substr(0, e_pos);
  const int exponent = std::stoi(shortest.substr(e_pos + 1));
  std::string sign;
  if (!mantissa.empty() && mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  int point = 0;  // digits before the decimal point in mantissa
  bool seen_point = false;
  for (const char c : mantissa) {
    if (c == '.') {
      seen_point = true;
      continue;
    }
    digits += c;
    if (!seen_point) ++point;
  }
  point += exponent;
  std::string out;
  if (point <= 0) {
    out = "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
  } else if (static_cast<std::size_t>(point) >= digits.size()) {
    out = digits + std::string(static_cast<std::size_t>(point) - digits.size(), '0');
  } else {
    out = digits.substr(0, static_cast<std::size_t>(point)) + "." +
          digits.substr(static_cast<std::size_t>(point));
  }
  return sign + out;
}

std::string Escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '\'': out += "&apos;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

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
  int depth = 0;       // number of ../
  bool data = false;   // @name
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

[[noreturn]] void ParseFail(int line, const std::string& message) {
  throw TemplateError(true, fmt::format("Parse error on line {}: {}", line, message));
}

std::string TrimSpace(std::string_view s) {
  const auto* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  const auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

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
          case '!': tag.kind = Tag::Kind::kComment; break;
          case '&': tag.kind = Tag::Kind::kRaw; tag.content = TrimSpace(trimmed.substr(1)); break;
          case '#': tag.kind = Tag::Kind::kOpen; tag.content = TrimSpace(trimmed.substr(1)); break;
          case '/': tag.kind = Tag::Kind::kClose; tag.content = TrimSpace(trimmed.substr(1)); break;
          case '^':
            tag.content = TrimSpace(trimmed.substr(1));
            tag.kind = tag.content.empty() ? Tag::Kind::kElse : Tag::Kind::kInverseOpen;
            break;
          case '>': ParseFail(tag_line, "partials are not supported");
          case '\0': ParseFail(tag_line, "empty mustache");
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
      ++pos_;
      e.kind = Expr::Kind::kSub;
      e.sub = std::make_shared<Call>(ParseCall(false));
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != ')') ParseFail(line_, "unclosed (");
      ++pos_;
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
        case Tag::Kind::kComment: break;
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
          nodes.push_back(ParseBlockRest(std::move(call), name, tag.line,
                                         tag.kind == Tag::Kind::kInverseOpen));
          break;
        }
        case Tag::Kind::kElse:
        case Tag::Kind::kClose: return {std::move(nodes), &tag};
      }
    }
    return {std::move(nodes), nullptr};
  }

  Node ParseBlockRest(Call call, const std::string& name, int line, bool inverted) {
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
};

// ---------------------------------------------------------------------------------------------
// Evaluation

struct Frame {
  const json* context;
  json data = json::object();
  std::map<std::string, json> block_params;
  bool changes_context = true;
};

class Evaluator {
 public:
  Evaluator(const json& root, bool strict) : root_(root), strict_(strict) {
    frames_.push_back(Frame{&root_, json::object(), {}, true});
  }

  void Render(const std::vector<Node>& nodes, std::string& out) {
    for (const Node& node : nodes) {
      switch (node.kind) {
        case Node::Kind::kText: out += node.text; break;
        case Node::Kind::kMustache: {
          const json value = EvalCall(node.call, node.line, /*mustache=*/true);
          const std::string s = Stringify(value);
          out += node.escape ? Escape(s) : s;
          break;
        }
        case Node::Kind::kBlock: RenderBlock(node, out); break;
      }
    }
  }

 private:
  const json& CurrentContext(int depth) const {
    int remaining = depth;
    for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
      if (!it->changes_context) continue;
      if (remaining == 0) return *it->context;
      --remaining;
    }
    return root_;
  }

  std::optional<json> Resolve(const Expr& e) const {
    if (e.data) {
      if (!e.segments.empty() && e.segments.front() == "root") {
        return Walk(root_, e.segments, 1);
      }
      for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
        if (!e.segments.empty() && it->data.contains(e.segments.front())) {
          return Walk(it->data[e.segments.front()], e.segments, 1);
        }
      }
      return std::nullopt;
    }
    if (!e.this_ref && e.depth == 0 && !e.segments.empty()) {
      for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
        auto found = it->block_params.find(e.segments.front());
        if (found != it->block_params.end()) return Walk(found->second, e.segments, 1);
      }
    }
    return Walk(CurrentContext(e.depth), e.segments, 0);
  }

  static std::optional<json> Walk(const json& start, const std::vector<std::string>& segments,
                                  std::size_t from) {
    const json* node = &start;
    for (std::size_t i = from; i < segments.size(); ++i) {
      const std::string& key = segments[i];
      if (node->is_object()) {
        auto it = node->find(key);
        if (it == node->end()) return std::nullopt;
        node = &*it;
      } else if (node->is_array()) {
        char* end = nullptr;
        const unsigned long index = std::strtoul(key.c_str(), &end, 10);
        if (end == key.c_str() || *end != '\0' || index >= node->size()) return std::nullopt;
        node = &(*node)[index];
      } else {
        return std::nullopt;
      }
    }
    return *node;
  }

  json EvalExpr(const Expr& e, int line) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.literal;
      case Expr::Kind::kSub: return EvalCall(*e.sub, line, false);
      case Expr::Kind::kPath: break;
    }
    if (auto value = Resolve(e)) return *value;
    if (strict_) {
      throw TemplateError(false,
                          fmt::format("line {}: missing variable \"{}\"", line, e.original));
    }
    return nullptr;
  }

  static bool IsHelperName(const std::string& name) {
    return name == "lookup" || name == "equal" || name == "log" || name == "if" ||
           name == "unless" || name == "each" || name == "with";
  }

  json EvalCall(const Call& call, int line, bool mustache) {
    const Expr& head = call.items.front();
    const bool path_head = head.kind == Expr::Kind::kPath && !head.data && !head.this_ref &&
                           head.depth == 0 && head.segments.size() == 1;
    const std::string name = path_head ? head.segments.front() : "";
    if (path_head && IsHelperName(name)) {
      std::vector<json> args;
      for (std::size_t i = 1; i < call.items.size(); ++i) args.push_back(EvalExpr(call.items[i], line));
      if (name == "lookup") {
        if (args.size() != 2) Fail(line, "lookup needs 2 parameters");
        const json& obj = args[0];
        if (obj.is_object()) {
          const std::string key = Stringify(args[1]);
          auto it = obj.find(key);
          return it == obj.end() ? json(nullptr) : *it;
        }
        if (obj.is_array()) {
          const std::string key = Stringify(args[1]);
          char* end = nullptr;
          const unsigned long index = std::strtoul(key.c_str(), &end, 10);
          if (end != key.c_str() && *end == '\0' && index < obj.size()) return obj[index];
        }
        return nullptr;
      }
      if (name == "equal") {
        if (args.size() != 2) Fail(line, "equal needs 2 parameters");
        return Stringify(args[0]) == Stringify(args[1]);
      }
      if (name == "log") return nullptr;
      if (mustache) Fail(line, fmt::format("helper \"{}\" must be used as a block", name));
      return nullptr;
    }
    if (call.items.size() > 1 || !call.hash.empty()) {
      Fail(line, fmt::format("could not find helper \"{}\"", head.original));
    }
    return EvalExpr(head, line);
  }

  [[noreturn]] static void Fail(int line, const std::string& message) {
    throw TemplateError(false, fmt::format("line {}: {}", line, message));
  }

  void RenderWithFrame(const std::vector<Node>& body, Frame frame, std::string& out) {
    frames_.push_back(std::move(frame));
    if (frames_.size() > 256) Fail(0, "template nesting too deep");
    Render(body, out);
    frames_.pop_back();
  }

  void RenderEach(const Node& node, const json& value, std::string& out) {
    const auto& bp = node.call.block_params;
    if (value.is_array() && !value.empty()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        Frame frame{&value[i], json::object(), {}, true};
        frame.data["index"] = i;
        frame.data["first"] = i == 0;
        frame.data["last"] = i + 1 == value.size();
        if (!bp.empty()) frame.block_params[bp[0]] = value[i];
        if (bp.size() > 1) frame.block_params[bp[1]] = i;
        RenderWithFrame(node.body, std::move(frame), out);
      }
      return;
    }
    if (value.is_object() && !value.empty()) {
      std::size_t i = 0;
      for (auto it = value.begin(); it != value.end(); ++it, ++i) {
        Frame frame{&*it, json::object(), {}, true};
        frame.data["key"] = it.key();
        frame.data["index"] = i;
        frame.data["first"] = i == 0;
        frame.data["last"] = i + 1 == value.size();
        if (!bp.empty()) frame.block_params[bp[0]] = *it;
        if (bp.size() > 1) frame.block_params[bp[1]] = it.key();
        RenderWithFrame(node.body, std::move(frame), out);
      }
      return;
    }
    Render(node.inverse, out);
  }

  void RenderBlock(const Node& node, std::string& out) {
    const Call& call = node.call;
    const Expr& head = call.items.front();
    const bool path_head = head.kind == Expr::Kind::kPath && !head.data && !head.this_ref &&
                           head.depth == 0 && head.segments.size() == 1;
    const std::string name = path_head ? head.segments.front() : "";
    auto arg = [&](std::size_t i) -> json {
      if (call.items.size() <= i) Fail(node.line, fmt::format("{} needs a parameter", name));
      return EvalExpr(call.items[i], node.line);
    };
    if (!node.inverted && path_head) {
      if (name == "if" || name == "unless") {
        const bool truthy = IsTruthy(arg(1));
        Render((truthy == (name == "if")) ? node.body : node.inverse, out);
        return;
      }
      if (name == "each") {
        const json value = arg(1);
        RenderEach(node, value, out);
        return;
      }
      if (name == "with") {
        const json value = arg(1);
        if (!IsTruthy(value)) {
          Render(node.inverse, out);
          return;
        }
        Frame frame{nullptr, json::object(), {}, true};
        auto holder = std::make_shared<json>(value);
        frame.context = holder.get();
        if (!call.block_params.empty()) frame.block_params[call.block_params[0]] = value;
        holders_.push_back(holder);
        RenderWithFrame(node.body, std::move(frame), out);
        return;
      }
      if (name == "equal") {
        const bool equal = Stringify(arg(1)) == Stringify(arg(2));
        Render(equal ? node.body : node.inverse, out);
        return;
      }
      if (name == "lookup" || name == "log") {
        const json value = EvalCall(call, node.line, false);
        Render(IsTruthy(value) ? node.body : node.inverse, out);
        return;
      }
    }
    // Mustache sections: {{#list}} iterates, {{#object}} changes context, {{^x}} inverts.
    const json value = EvalCall(call, node.line, false);
    if (node.inverted) {
      Render(IsTruthy(value) ? node.inverse : node.body, out);
      return;
    }
    if (value.is_array()) {
      RenderEach(node, value, out);
      return;
    }
    if (!IsTruthy(value)) {
      Render(node.inverse, out);
      return;
    }
    if (value.is_object()) {
      auto holder = std::make_shared<json>(value);
      holders_.push_back(holder);
      RenderWithFrame(node.body, Frame{holder.get(), json::object(), {}, true}, out);
      return;
    }
    Render(node.body, out);
  }

  const json& root_;
  bool strict_;
  std::vector<Frame> frames_;
  std::vector<std::shared_ptr<json>> holders_;
};

}  // namespace

std::string Stringify(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  if (value.is_number_float()) return FormatFloat(value.get<double>());
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) out += Stringify(item);
    return out;
  }
  if (value.is_object()) return value.dump();
  return "";
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
