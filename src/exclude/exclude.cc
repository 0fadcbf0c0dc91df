// Compiles exclude globs into one Thompson NFA and simulates it bit-parallel.
//
// Every pattern becomes a chain of states ending in an accept state: state i
// either consumes one byte and moves to i+1, loops on itself (stars, which
// also have an epsilon edge to i+1), or only has epsilon edges (the split
// before a whole-component "**/", to i+1 and i+3). Byte edges go to i or i+1,
// so one Shift-And step over 64-bit words advances all states of all patterns
// at once; star epsilon edges never chain, so closing over them is one more
// shift, and the rare splits use precomputed closures.
//
// Matches() walks the path once: anchored patterns start at byte 0,
// unanchored ones are started again at every component, and at every
// component end an accept state means that ancestor (or the entry itself) is
// excluded. That single pass gives the "whole subtree" rule and unanchored
// matching without backtracking, so no pattern can make matching exponential.
#include "ctdump/exclude.h"

#include <algorithm>
#include <array>

namespace ctdump {
namespace {

using ByteSet = std::array<uint64_t, 4>;

void SetBit(uint64_t* set, size_t i) { set[i / 64] |= uint64_t{1} << (i % 64); }
bool TestBit(const uint64_t* set, size_t i) { return (set[i / 64] >> (i % 64)) & 1; }

// State-set operations. A Set is std::array<uint64_t, N> for small N, so the
// simulation stays in registers with unrolled loops, or std::vector<uint64_t>.
// State i+1 is bit i+1, possibly in the next word: shifts carry across words.

// Follows the epsilon edge i -> i+1 of every star in `set`. Such an edge never
// leads to another epsilon edge (stars are never adjacent, splits only start a
// component), so one pass is a full closure for sets without splits.
template <typename Set>
void CloseStars(Set& set, const uint64_t* eps_next) {
  uint64_t carry = 0;
  for (size_t w = 0; w < set.size(); ++w) {
    uint64_t e = set[w] & eps_next[w];
    set[w] |= (e << 1) | carry;
    carry = e >> 63;
  }
}

// Adds the precomputed epsilon closure (closures[k], set.size() words) of each
// split state splits[k] in `set`.
template <typename Set>
void ExpandSplits(Set& set, const std::vector<uint32_t>& splits, const uint64_t* closures) {
  const size_t n = set.size();
  for (size_t k = 0; k < splits.size(); ++k) {
    if (!TestBit(set.data(), splits[k])) continue;
    for (size_t w = 0; w < n; ++w) set[w] |= closures[k * n + w];
  }
}

// next := states reached from `cur` through one byte, given that byte's
// advance mask and the matching self-loop mask.
template <typename Set>
void StepSet(const Set& cur, const uint64_t* advance, const uint64_t* loop, Set& next) {
  uint64_t carry = 0;
  for (size_t w = 0; w < cur.size(); ++w) {
    uint64_t moved = cur[w] & advance[w];
    next[w] = (cur[w] & loop[w]) | (moved << 1) | carry;
    carry = moved >> 63;
  }
}

template <typename Set>
bool Intersects(const Set& set, const uint64_t* mask) {
  uint64_t hit = 0;
  for (size_t w = 0; w < set.size(); ++w) hit |= set[w] & mask[w];
  return hit != 0;
}

template <typename Set>
bool IsEmpty(const Set& set) {
  uint64_t any = 0;
  for (uint64_t w : set) any |= w;
  return any == 0;
}

enum class Kind : uint8_t {
  kLiteral,   // consumes one byte equal to `byte`
  kAnyByte,   // consumes one byte other than '/'
  kClass,     // consumes one byte in `cls` (never '/')
  kStar,      // loops on bytes other than '/'; epsilon to the next state
  kStarStar,  // loops on every byte; epsilon to the next state
  kSplit,     // epsilon to the next state and over the following "**/"
  kAccept,    // end of one pattern
};

// One NFA state of the pattern being compiled.
struct State {
  Kind kind;
  uint8_t byte = 0;
  uint32_t cls = 0;  // index into the compiler's classes
};

// The pattern as it appears in messages: quoted, control and non-ASCII bytes
// as \xNN so logs and JSON stay valid whatever the bytes.
std::string Quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f || c == '"') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

Status PatternError(std::string_view pattern, std::string_view why) {
  return InvalidArgumentError("Invalid exclude pattern " + Quote(pattern) + ": " +
                              std::string(why));
}

bool InRange(unsigned c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; }

// ASCII-only POSIX classes; names are not locale-dependent on purpose, so a
// backup excludes the same files whatever the locale of the caller.
bool PosixClassHas(std::string_view name, unsigned c, bool* known) {
  *known = true;
  bool upper = InRange(c, 'A', 'Z'), lower = InRange(c, 'a', 'z'), digit = InRange(c, '0', '9');
  bool graph = InRange(c, 0x21, 0x7e);
  if (name == "alpha") return upper || lower;
  if (name == "digit") return digit;
  if (name == "alnum") return upper || lower || digit;
  if (name == "upper") return upper;
  if (name == "lower") return lower;
  if (name == "xdigit") return digit || InRange(c | 0x20, 'a', 'f');
  if (name == "space") return c == ' ' || InRange(c, '\t', '\r');
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "punct") return graph && !upper && !lower && !digit;
  if (name == "graph") return graph;
  if (name == "print") return graph || c == ' ';
  if (name == "cntrl") return c < 0x20 || c == 0x7f;
  *known = false;
  return false;
}

}  // namespace

const std::vector<std::string>& StandardExcludes() {
  static const std::vector<std::string> kStandard = {"/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid"};
  return kStandard;
}

// Turns pattern text into lexemes, then lexemes into NFA states.
class ExcludeMatcher::Compiler {
 public:
  explicit Compiler(ExcludeMatcher* m) : m_(m) {}

  Status Add(std::string_view pattern) {
    if (pattern.empty()) return PatternError(pattern, "pattern is empty");
    if (pattern.find('\0') != std::string_view::npos) {
      return PatternError(pattern, "pattern contains a NUL byte");
    }
    if (pattern.find('\n') != std::string_view::npos) {
      return PatternError(pattern, "pattern contains a newline");
    }
    pattern_ = pattern;
    lexemes_.clear();
    for (size_t i = 0; i < pattern.size();) RETURN_IF_ERROR(Lex(&i));
    Emit();
    return Status::OK();
  }

  // Builds the start and accept masks once all patterns are in.
  void Finish();

 private:
  enum class LexKind : uint8_t { kByte, kAnyByte, kClass, kStars, kSlash };
  struct Lexeme {
    LexKind kind;
    uint8_t byte = 0;
    uint32_t value = 0;  // class index or number of stars
  };

  Status Lex(size_t* i);
  Status LexClass(size_t* i);
  Status ClassMember(size_t* i, ByteSet* set);
  int ReadClassByte(size_t* i);
  void Emit();
  void EmitStars(size_t* i, size_t begin, size_t end);
  void AddToMasks(uint32_t s);
  void EpsilonClosure(uint32_t s, uint64_t* set) const;
  uint32_t Push(Kind kind, uint8_t byte = 0, uint32_t cls = 0);

  bool IsSlash(size_t i) const {
    return i < lexemes_.size() && lexemes_[i].kind == LexKind::kSlash;
  }

  ExcludeMatcher* m_;
  std::string_view pattern_;
  std::vector<Lexeme> lexemes_;
  std::vector<State> states_;
  std::vector<ByteSet> classes_;
  std::vector<uint32_t> anchored_starts_, floating_starts_, accepts_any_, accepts_dir_;
};

Status ExcludeMatcher::Compiler::Lex(size_t* i) {
  unsigned char c = pattern_[*i];
  if (c == '[') return LexClass(i);
  ++*i;
  if (c == '/') {
    lexemes_.push_back({LexKind::kSlash});
  } else if (c == '?') {
    lexemes_.push_back({LexKind::kAnyByte});
  } else if (c == '*') {
    uint32_t stars = 1;
    for (; *i < pattern_.size() && pattern_[*i] == '*'; ++*i) ++stars;
    lexemes_.push_back({LexKind::kStars, 0, stars});
  } else if (c == '\\' && *i < pattern_.size()) {
    unsigned char escaped = pattern_[(*i)++];
    lexemes_.push_back({escaped == '/' ? LexKind::kSlash : LexKind::kByte, escaped});
  } else {
    lexemes_.push_back({LexKind::kByte, c});
  }
  return Status::OK();
}

Status ExcludeMatcher::Compiler::LexClass(size_t* i) {
  size_t start = (*i)++;
  bool negate = *i < pattern_.size() && (pattern_[*i] == '!' || pattern_[*i] == '^');
  if (negate) ++*i;
  ByteSet set{};
  for (bool first = true;; first = false) {
    if (*i >= pattern_.size()) {
      return PatternError(pattern_, "unterminated '[' class at offset " + std::to_string(start));
    }
    if (pattern_[*i] == ']' && !first) break;
    RETURN_IF_ERROR(ClassMember(i, &set));
  }
  ++*i;  // the closing ']'
  if (negate) {
    for (uint64_t& w : set) w = ~w;
  }
  set['/' / 64] &= ~(uint64_t{1} << ('/' % 64));  // a class never matches '/'
  classes_.push_back(set);
  lexemes_.push_back({LexKind::kClass, 0, static_cast<uint32_t>(classes_.size() - 1)});
  return Status::OK();
}

// Reads one possibly escaped byte of a class; -1 at the end of the pattern.
int ExcludeMatcher::Compiler::ReadClassByte(size_t* i) {
  if (*i < pattern_.size() && pattern_[*i] == '\\') ++*i;
  if (*i >= pattern_.size()) return -1;
  return static_cast<unsigned char>(pattern_[(*i)++]);
}

// Adds one member (byte, range or "[:name:]") starting at *i to `set`.
Status ExcludeMatcher::Compiler::ClassMember(size_t* i, ByteSet* set) {
  std::string_view rest = pattern_.substr(*i);
  if (rest.starts_with("[:")) {
    size_t end = rest.find(":]", 2);
    if (end != std::string_view::npos) {
      std::string_view name = rest.substr(2, end - 2);
      bool known = false;
      for (unsigned c = 0; c < 256; ++c) {
        if (PosixClassHas(name, c, &known)) SetBit(set->data(), c);
      }
      if (!known) return PatternError(pattern_, "unknown class [:" + std::string(name) + ":]");
      *i += end + 2;
      return Status::OK();
    }
  }
  int lo = ReadClassByte(i);
  int hi = lo;
  if (*i + 1 < pattern_.size() && pattern_[*i] == '-' && pattern_[*i + 1] != ']') {
    ++*i;
    hi = ReadClassByte(i);
  }
  if (lo < 0 || hi < 0) return PatternError(pattern_, "unterminated '[' class");
  for (int c = lo; c <= hi; ++c) SetBit(set->data(), c);
  return Status::OK();
}

uint32_t ExcludeMatcher::Compiler::Push(Kind kind, uint8_t byte, uint32_t cls) {
  states_.push_back({kind, byte, cls});
  return static_cast<uint32_t>(states_.size() - 1);
}

void ExcludeMatcher::Compiler::Emit() {
  // Leading slashes anchor, trailing ones mean "directories only", and
  // repeated ones collapse: paths have no empty components.
  size_t begin = 0, end = lexemes_.size();
  while (begin < end && IsSlash(begin)) ++begin;
  while (end > begin && IsSlash(end - 1)) --end;
  bool anchored = begin > 0;
  bool dir_only = end < lexemes_.size();
  uint32_t start = static_cast<uint32_t>(states_.size());
  for (size_t i = begin; i < end; ++i) {
    const Lexeme& lx = lexemes_[i];
    if (lx.kind == LexKind::kSlash) {
      if (!IsSlash(i - 1)) Push(Kind::kLiteral, '/');
    } else if (lx.kind == LexKind::kByte) {
      Push(Kind::kLiteral, lx.byte);
    } else if (lx.kind == LexKind::kAnyByte) {
      Push(Kind::kAnyByte);
    } else if (lx.kind == LexKind::kClass) {
      Push(Kind::kClass, 0, lx.value);
    } else {
      EmitStars(&i, begin, end);
    }
  }
  uint32_t accept = Push(Kind::kAccept);
  (anchored ? anchored_starts_ : floating_starts_).push_back(start);
  (dir_only ? accepts_dir_ : accepts_any_).push_back(accept);
}

// Emits lexeme *i, a run of stars, within lexemes [begin, end).
void ExcludeMatcher::Compiler::EmitStars(size_t* i, size_t begin, size_t end) {
  if (lexemes_[*i].value == 1) {
    Push(Kind::kStar);
    return;
  }
  // A whole-component "**/" may also match no components at all: a split
  // state either enters "**" "/" or jumps past both (i -> i+3).
  bool component_start = *i == begin || IsSlash(*i - 1);
  bool whole = component_start && *i + 1 < end && IsSlash(*i + 1);
  if (whole) Push(Kind::kSplit);
  Push(Kind::kStarStar);
  if (whole) {
    Push(Kind::kLiteral, '/');
    while (*i + 1 < end && IsSlash(*i + 1)) ++*i;
  }
}

// Adds state s to the transition masks.
void ExcludeMatcher::Compiler::AddToMasks(uint32_t s) {
  ExcludeMatcher& m = *m_;
  const State& st = states_[s];
  auto advance_on = [&](unsigned b) { SetBit(&m.advance_[b * m.words_], s); };
  switch (st.kind) {
    case Kind::kLiteral:
      advance_on(st.byte);
      break;
    case Kind::kAnyByte:
    case Kind::kClass:
      for (unsigned b = 0; b < 256; ++b) {
        if (b != '/' && (st.kind == Kind::kAnyByte || TestBit(classes_[st.cls].data(), b))) {
          advance_on(b);
        }
      }
      break;
    case Kind::kStarStar:
      SetBit(m.loop_slash_.data(), s);
      [[fallthrough]];
    case Kind::kStar:
      SetBit(m.loop_other_.data(), s);
      SetBit(m.eps_next_.data(), s);
      break;
    case Kind::kSplit:
      SetBit(m.split_mask_.data(), s);
      m.split_states_.push_back(s);
      m.split_closures_.resize(m.split_closures_.size() + m.words_);
      EpsilonClosure(s, &m.split_closures_[m.split_closures_.size() - m.words_]);
      break;
    case Kind::kAccept:
      break;
  }
}

// Adds s and every state reachable from it by epsilon edges to `set`.
void ExcludeMatcher::Compiler::EpsilonClosure(uint32_t s, uint64_t* set) const {
  SetBit(set, s);
  Kind k = states_[s].kind;
  if (k == Kind::kStar || k == Kind::kStarStar || k == Kind::kSplit) EpsilonClosure(s + 1, set);
  if (k == Kind::kSplit) EpsilonClosure(s + 3, set);
}

void ExcludeMatcher::Compiler::Finish() {
  ExcludeMatcher& m = *m_;
  // Round up to a size Matches() has a fixed-size Set for; padding words
  // hold no states and stay zero.
  size_t words = (states_.size() + 63) / 64;
  for (size_t fixed : {1, 2, 4, 8}) {
    if (words > fixed / 2 && words < fixed) words = fixed;
  }
  m.words_ = words;
  m.advance_.assign(256 * m.words_, 0);
  for (auto* mask : {&m.loop_slash_, &m.loop_other_, &m.eps_next_, &m.split_mask_}) {
    mask->assign(m.words_, 0);
  }
  for (uint32_t s = 0; s < states_.size(); ++s) AddToMasks(s);
  auto mask = [&](const std::vector<uint32_t>& states, std::vector<uint64_t>* out) {
    out->assign(m.words_, 0);
    for (uint32_t s : states) EpsilonClosure(s, out->data());
  };
  mask(anchored_starts_, &m.anchored_start_);
  mask(floating_starts_, &m.floating_start_);
  mask(accepts_any_, &m.accept_file_);
  mask(accepts_dir_, &m.accept_dir_);
  for (size_t w = 0; w < m.words_; ++w) m.accept_dir_[w] |= m.accept_file_[w];
  m.has_floating_ = !floating_starts_.empty();
}

Result<ExcludeMatcher> ExcludeMatcher::Create(const std::vector<std::string>& patterns) {
  ExcludeMatcher m;
  Compiler compiler(&m);
  for (const std::string& p : patterns) RETURN_IF_ERROR(compiler.Add(p));
  compiler.Finish();
  m.patterns_ = patterns;
  return m;
}

// `rel` is the path without its leading '/'; cur and next hold words_ words.
template <typename Set>
bool ExcludeMatcher::Run(std::string_view rel, bool is_dir, Set cur, Set next) const {
  const size_t n = cur.size();
  const uint64_t *advance = advance_.data(), *eps_next = eps_next_.data();
  const uint64_t *loop_slash = loop_slash_.data(), *loop_other = loop_other_.data();
  const uint64_t *floating = floating_start_.data(), *accept_dir = accept_dir_.data();
  const bool has_splits = !split_states_.empty();
  auto close = [&](Set& set) {
    if (has_splits && Intersects(set, split_mask_.data())) {
      ExpandSplits(set, split_states_, split_closures_.data());
    }
    CloseStars(set, eps_next);
  };
  for (size_t w = 0; w < n; ++w) cur[w] = anchored_start_[w] | floating[w];
  for (size_t pos = 0; pos < rel.size(); ++pos) {
    unsigned char b = rel[pos];
    if (IsEmpty(cur)) {
      // Nothing alive: only a new component can start a match.
      if (!has_floating_ || (pos = rel.find('/', pos)) == std::string_view::npos) return false;
      std::copy(floating, floating + n, cur.begin());
    } else if (b == '/') {
      if (Intersects(cur, accept_dir)) return true;  // an ancestor is excluded
      StepSet(cur, advance + '/' * n, loop_slash, next);
      close(next);
      for (size_t w = 0; w < n; ++w) cur[w] = next[w] | floating[w];
    } else {
      StepSet(cur, advance + b * n, loop_other, next);
      close(next);
      cur = next;
    }
  }
  return Intersects(cur, is_dir ? accept_dir : accept_file_.data());
}

bool ExcludeMatcher::Matches(std::string_view path, bool is_dir) const {
  size_t first = path.find_first_not_of('/');
  if (first == std::string_view::npos || words_ == 0) return false;  // root or no patterns
  size_t last = path.find_last_not_of('/');
  std::string_view rel = path.substr(first, last - first + 1);
  switch (words_) {
    case 1:
      return Run(rel, is_dir, std::array<uint64_t, 1>{}, std::array<uint64_t, 1>{});
    case 2:
      return Run(rel, is_dir, std::array<uint64_t, 2>{}, std::array<uint64_t, 2>{});
    case 4:
      return Run(rel, is_dir, std::array<uint64_t, 4>{}, std::array<uint64_t, 4>{});
    case 8:
      return Run(rel, is_dir, std::array<uint64_t, 8>{}, std::array<uint64_t, 8>{});
    default:
      return Run(rel, is_dir, std::vector<uint64_t>(words_), std::vector<uint64_t>(words_));
  }
}

}  // namespace ctdump
