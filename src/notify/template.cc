// The handlebars subset of proxmox-notify's webhook target (see template.h).
#include "notify/template.h"

#include <fmt/format.h>

#include "base/utf8.h"

namespace ctdump::notify {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Strip(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// handlebars-rust's identifier characters (ASCII part; '-' allowed, as in
// url-encode and fields.job-id).
bool IsIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '$' || static_cast<unsigned char>(c) >= 0x80;
}

// Splits an expression into its whitespace-separated words; a "..." literal
// is one word (quotes kept).
Result<std::vector<std::string>> Words(std::string_view expr) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < expr.size()) {
    if (IsBlank(expr[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    if (expr[i] == '"') {
      ++i;
      while (i < expr.size() && expr[i] != '"') i += expr[i] == '\\' ? 2 : 1;
      if (i >= expr.size()) return InvalidArgumentError("unterminated string literal");
      ++i;
    } else {
      while (i < expr.size() && !IsBlank(expr[i])) ++i;
    }
    words.emplace_back(expr.substr(start, i - start));
  }
  return words;
}

// A string literal's content ("a\"b" -> a"b).
std::string Unquote(std::string_view word) {
  std::string out;
  for (size_t i = 1; i + 1 < word.size(); ++i) {
    if (word[i] == '\\' && i + 2 < word.size()) ++i;
    out += word[i];
  }
  return out;
}

Status ParseValue(std::string_view word, const std::set<std::string>& secrets,
                  Template::Piece& piece) {
  if (!word.empty() && word.front() == '"') {
    piece.root = Template::Root::kLiteral;
    piece.literal = Unquote(word);
    return Status::OK();
  }
  std::string_view root = word;
  std::string_view member;
  size_t dot = word.find('.');
  if (dot != std::string_view::npos) {
    root = word.substr(0, dot);
    member = word.substr(dot + 1);
    if (member.size() >= 2 && member.front() == '[' && member.back() == ']') {
      member = member.substr(1, member.size() - 2);
    } else if (member.empty() ||
               member.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_$") != std::string_view::npos) {
      return InvalidArgumentError(fmt::format("invalid variable '{}'", word));
    }
  }
  static const std::pair<std::string_view, Template::Root> kRoots[] = {
      {"title", Template::Root::kTitle},       {"message", Template::Root::kMessage},
      {"severity", Template::Root::kSeverity}, {"timestamp", Template::Root::kTimestamp},
      {"fields", Template::Root::kFields},     {"secrets", Template::Root::kSecrets}};
  bool found = false;
  for (const auto& [name, r] : kRoots) {
    if (name == root) {
      piece.root = r;
      found = true;
    }
  }
  bool has_members =
      piece.root == Template::Root::kFields || piece.root == Template::Root::kSecrets;
  if (!found || (dot != std::string_view::npos && !has_members)) {
    return InvalidArgumentError(fmt::format(
        "unknown variable '{}' (known: title, message, severity, timestamp, fields.<name>, "
        "secrets.<name>)",
        word));
  }
  if (dot != std::string_view::npos) {
    piece.has_member = true;
    piece.literal = std::string(member);
    if (piece.root == Template::Root::kSecrets && !secrets.count(piece.literal)) {
      return InvalidArgumentError(
          fmt::format("unknown secret '{}' (the target defines no such secret)", member));
    }
  }
  return Status::OK();
}

Result<Template::Piece> ParseExpression(std::string_view expr,
                                        const std::set<std::string>& secrets) {
  Template::Piece piece;
  piece.is_expr = true;
  std::string_view s = Strip(expr);
  if (s.empty()) return InvalidArgumentError("empty expression");
  char c = s.front();
  if (c == '#' || c == '/' || c == '>' || c == '^' || c == '~' || c == '&' || c == '*' ||
      s.back() == '~' || s == "else") {
    return InvalidArgumentError(
        "unsupported template construct (only values and the helpers json, escape and "
        "url-encode are supported)");
  }
  ASSIGN_OR_RETURN(std::vector<std::string> words, Words(s));
  if (words.size() > 2) return InvalidArgumentError("too many arguments");
  if (words.size() == 2) {
    const std::string& name = words[0];
    if (name == "json") {
      piece.helper = Template::Helper::kJson;
    } else if (name == "escape") {
      piece.helper = Template::Helper::kEscape;
    } else if (name == "url-encode") {
      piece.helper = Template::Helper::kUrlEncode;
    } else {
      return InvalidArgumentError(
          fmt::format("unknown helper '{}' (known: json, escape, url-encode)", name));
    }
  }
  const std::string& value = words.back();
  if (words.size() == 1 && (value == "json" || value == "escape" || value == "url-encode")) {
    return InvalidArgumentError(fmt::format("{}: missing parameter", value));
  }
  if (words.size() == 1 && value.front() != '"') {
    for (char ch : value) {
      if (!IsIdentChar(ch) && ch != '.' && ch != '[' && ch != ']') {
        return InvalidArgumentError(fmt::format("invalid variable '{}'", value));
      }
    }
  }
  RETURN_IF_ERROR(ParseValue(value, secrets, piece));
  bool is_string = piece.root == Template::Root::kLiteral || piece.root == Template::Root::kTitle ||
                   piece.root == Template::Root::kMessage ||
                   piece.root == Template::Root::kSeverity || piece.has_member;
  if ((piece.helper == Template::Helper::kEscape || piece.helper == Template::Helper::kUrlEncode) &&
      !is_string) {
    return InvalidArgumentError(
        fmt::format("{}: '{}' is not a string",
                    piece.helper == Template::Helper::kEscape ? "escape" : "url-encode", value));
  }
  return piece;
}

std::string JsonString(std::string_view s) { return "\"" + JsonEscape(s) + "\""; }

std::string JsonObject(const std::map<std::string, std::string>& m) {
  std::string out = "{";
  for (const auto& [k, v] : m) {
    if (out.size() > 1) out += ',';
    out += JsonString(k) + ":" + JsonString(v);
  }
  return out + "}";
}

}  // namespace

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // JSON is UTF-8 (RFC 8259): a byte that is not part of a well-formed
      // sequence becomes U+FFFD, so a strict server does not refuse the body.
      size_t n = Utf8SequenceLength(s, i);
      if (n > 0) {
        out.append(s.substr(i, n));
        i += n;
      } else {
        out += "\xEF\xBF\xBD";
        i += Utf8IllFormedLength(s, i);
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  // Everything but RFC 3986's unreserved characters (ALPHA DIGIT - . _ ~) as
  // %XX. proxmox-notify's set (webhook.rs, handlebars_percent_encode: CONTROLS
  // plus :/?#[]@!$&'()*+,;=% and space) leaves " < > \ ^ ` { | } raw, which
  // are not allowed in a URL; the decoded value is the same either way.
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<Template> Template::Parse(std::string_view text, const std::set<std::string>& secrets) {
  Template t;
  t.text_ = std::string(text);
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "\\{{") == 0) {
      literal += "{{";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "{{") != 0) {
      literal += text[i++];
      continue;
    }
    bool triple = text.compare(i, 3, "{{{") == 0;
    std::string_view close = triple ? "}}}" : "}}";
    size_t open_len = triple ? 3 : 2;
    size_t end = text.find(close, i + open_len);
    if (end == std::string_view::npos) {
      return InvalidArgumentError(fmt::format("unterminated '{}' in template", text.substr(i, 40)));
    }
    std::string_view expr = text.substr(i + open_len, end - i - open_len);
    std::string_view whole = text.substr(i, end + close.size() - i);
    i = end + close.size();
    if (!triple && !expr.empty() && expr.front() == '!') continue;  // comment
    if (!literal.empty()) {
      t.pieces_.push_back(Piece{std::move(literal)});
      literal.clear();
    }
    Result<Piece> piece = ParseExpression(expr, secrets);
    if (!piece.ok()) {
      return InvalidArgumentError(
          fmt::format("template '{}': {}", whole, piece.status().message()));
    }
    t.pieces_.push_back(std::move(*piece));
  }
  if (!literal.empty()) t.pieces_.push_back(Piece{std::move(literal)});
  return t;
}

Result<std::string> Template::Render(const TemplateData& data) const {
  std::string out;
  for (const Piece& p : pieces_) {
    if (!p.is_expr) {
      out += p.literal;
      continue;
    }
    // The value: a string, a number, an object or missing.
    const std::string* str = nullptr;
    const std::map<std::string, std::string>* object = nullptr;
    bool is_number = false;
    switch (p.root) {
      case Root::kLiteral:
        str = &p.literal;
        break;
      case Root::kTitle:
        str = &data.title;
        break;
      case Root::kMessage:
        str = &data.message;
        break;
      case Root::kSeverity:
        str = &data.severity;
        break;
      case Root::kTimestamp:
        is_number = true;
        break;
      case Root::kFields:
      case Root::kSecrets: {
        const auto& m = p.root == Root::kFields ? data.fields : data.secrets;
        if (!p.has_member) {
          object = &m;
        } else if (auto it = m.find(p.literal); it != m.end()) {
          str = &it->second;
        }
        break;
      }
    }
    std::string number = std::to_string(data.timestamp);
    switch (p.helper) {
      case Helper::kNone:
        if (str) out += *str;
        if (is_number) out += number;
        if (object) out += "[object]";
        break;
      case Helper::kJson:
        if (str) {
          out += JsonString(*str);
        } else if (is_number) {
          out += number;
        } else if (object) {
          out += JsonObject(*object);
        } else {
          out += "null";
        }
        break;
      case Helper::kEscape:
      case Helper::kUrlEncode: {
        const char* name = p.helper == Helper::kEscape ? "escape" : "url-encode";
        if (!str) {
          return InvalidArgumentError(fmt::format("{}: missing parameter ({}.{} is not set)", name,
                                                  p.root == Root::kFields ? "fields" : "secrets",
                                                  p.literal));
        }
        out += p.helper == Helper::kEscape ? JsonEscape(*str) : UrlEncode(*str);
        break;
      }
    }
  }
  return out;
}

}  // namespace ctdump::notify
