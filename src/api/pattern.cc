#include "api/pattern.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>

namespace ctdump::api {
namespace {

constexpr int kMaxRepeat = 64;
constexpr size_t kMaxAtoms = 1024;

using CharSet = std::bitset<256>;

void AddRange(CharSet& set, unsigned char from, unsigned char to) {
  for (unsigned c = from; c <= to; ++c) set.set(c);
}

// The set of an escape `\c`.
CharSet EscapeSet(char c) {
  CharSet set;
  switch (c) {
    case 'd':
      AddRange(set, '0', '9');
      break;
    case 'w':
      AddRange(set, '0', '9');
      AddRange(set, 'a', 'z');
      AddRange(set, 'A', 'Z');
      set.set('_');
      break;
    case 's':
      for (char s : {' ', '\t', '\n', '\v', '\f', '\r'}) set.set(static_cast<unsigned char>(s));
      break;
    default:
      set.set(static_cast<unsigned char>(c));
  }
  return set;
}

class Compiler {
 public:
  explicit Compiler(std::string_view text) : text_(text) {}

  // Parses one atom at pos_; nullopt on a syntax error (error_ set).
  std::optional<CharSet> ParseAtom() {
    char c = text_[pos_++];
    if (c == '\\') {
      if (pos_ >= text_.size()) return Fail("trailing backslash");
      return EscapeSet(text_[pos_++]);
    }
    if (c == '.') return CharSet().set();
    if (c == '[') return ParseClass();
    if (c == '(' || c == ')' || c == '|' || c == '^' || c == '$' || c == '*' || c == '+' ||
        c == '?' || c == '{')
      return Fail(std::string("unsupported '") + c + "'");
    return CharSet().set(static_cast<unsigned char>(c));
  }

  // Parses an optional quantifier: {min, max} with max -1 = unbounded.
  std::optional<std::pair<int, int>> ParseQuantifier() {
    if (pos_ >= text_.size()) return std::pair{1, 1};
    char c = text_[pos_];
    if (c != '?' && c != '*' && c != '+' && c != '{') return std::pair{1, 1};
    ++pos_;
    if (c == '?') return std::pair{0, 1};
    if (c == '*') return std::pair{0, -1};
    if (c == '+') return std::pair{1, -1};
    std::optional<int> min = ParseNumber();
    if (!min) return std::nullopt;
    int max = *min;
    if (pos_ < text_.size() && text_[pos_] == ',') {
      ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '}') {
        max = -1;
      } else {
        std::optional<int> m = ParseNumber();
        if (!m) return std::nullopt;
        max = *m;
      }
    }
    if (pos_ >= text_.size() || text_[pos_] != '}') return Fail<std::pair<int, int>>("bad {}");
    ++pos_;
    if (max != -1 && max < *min) return Fail<std::pair<int, int>>("bad {}");
    return std::pair{*min, max};
  }

  bool done() const { return pos_ >= text_.size(); }
  const std::string& error() const { return error_; }

 private:
  template <typename T = CharSet>
  std::optional<T> Fail(std::string why) {
    error_ = std::move(why);
    return std::nullopt;
  }

  std::optional<int> ParseNumber() {
    int n = 0;
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      n = n * 10 + (text_[pos_++] - '0');
      if (n > kMaxRepeat) return Fail<int>("repeat count above 64");
    }
    if (pos_ == start) return Fail<int>("bad {}");
    return n;
  }

  std::optional<CharSet> ParseClass() {
    CharSet set;
    bool negate = pos_ < text_.size() && text_[pos_] == '^';
    if (negate) ++pos_;
    bool first = true;
    while (pos_ < text_.size() && (text_[pos_] != ']' || first)) {
      first = false;
      char c = text_[pos_++];
      if (c == '\\') {
        if (pos_ >= text_.size()) break;
        set |= EscapeSet(text_[pos_++]);
        continue;
      }
      if (pos_ + 1 < text_.size() && text_[pos_] == '-' && text_[pos_ + 1] != ']') {
        char to = text_[pos_ + 1];
        pos_ += 2;
        if (static_cast<unsigned char>(to) < static_cast<unsigned char>(c))
          return Fail("bad range");
        AddRange(set, static_cast<unsigned char>(c), static_cast<unsigned char>(to));
        continue;
      }
      set.set(static_cast<unsigned char>(c));
    }
    if (pos_ >= text_.size()) return Fail("unterminated [");
    ++pos_;  // ']'
    return negate ? ~set : set;
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

Result<Pattern> Pattern::Compile(std::string_view text) {
  Pattern p;
  p.text_ = std::string(text);
  Compiler compiler(text);
  while (!compiler.done()) {
    std::optional<CharSet> set = compiler.ParseAtom();
    std::optional<std::pair<int, int>> q = set ? compiler.ParseQuantifier() : std::nullopt;
    if (!set || !q)
      return InvalidArgumentError("invalid pattern '" + p.text_ + "': " + compiler.error());
    auto [min, max] = *q;
    // {n,m} becomes n mandatory and m-n optional atoms; {n,} n mandatory and a star.
    for (int i = 0; i < min; ++i) p.atoms_.push_back({*set, Repeat::kOne});
    if (max == -1) {
      p.atoms_.push_back({*set, Repeat::kStar});
    } else {
      for (int i = min; i < max; ++i) p.atoms_.push_back({*set, Repeat::kOptional});
    }
    if (p.atoms_.size() > kMaxAtoms)
      return InvalidArgumentError("invalid pattern '" + p.text_ + "': too long");
  }
  return p;
}

// A Thompson simulation: `states[i]` means "the next atom to match is i".
bool Pattern::Matches(std::string_view value) const {
  const size_t n = atoms_.size();
  std::vector<char> states(n + 1, 0), next(n + 1, 0);
  auto close = [&](std::vector<char>& s) {
    for (size_t i = 0; i < n; ++i)
      if (s[i] && atoms_[i].repeat != Repeat::kOne) s[i + 1] = 1;
  };
  states[0] = 1;
  close(states);
  for (char ch : value) {
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      if (!states[i] || !atoms_[i].set.test(static_cast<unsigned char>(ch))) continue;
      next[atoms_[i].repeat == Repeat::kStar ? i : i + 1] = 1;
      any = true;
    }
    if (!any) return false;
    close(next);
    states.swap(next);
  }
  return states[n] != 0;
}

}  // namespace ctdump::api
