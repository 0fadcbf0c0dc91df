// A small, safe pattern matcher for parameter values.
//
// Param::pattern is matched against the whole value, as PVE's
// `m/^$pattern$/`, but with a subset of regular-expression syntax that can be
// matched in O(|value| * |pattern|) time without backtracking, so a hostile
// value cannot make a check slow:
//
//   atoms        a literal character, `\x` (x literal; `\d`, `\w`, `\s` are
//                the usual classes), `.` (any byte), `[...]` / `[^...]` with
//                ranges (`a-z`) and the escapes above
//   quantifiers  `?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}` (n, m <= 64)
//
// No alternation, groups, anchors or backreferences. Bytes are matched, not
// code points (patterns describe ASCII identifiers).
#ifndef CTDUMP_API_PATTERN_H_
#define CTDUMP_API_PATTERN_H_

#include <bitset>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::api {

class Pattern {
 public:
  // Compiles `text`; InvalidArgument names the pattern and the problem.
  static Result<Pattern> Compile(std::string_view text);

  // True if the whole of `value` matches.
  bool Matches(std::string_view value) const;

  const std::string& text() const { return text_; }

 private:
  enum class Repeat { kOne, kOptional, kStar };
  struct Atom {
    std::bitset<256> set;
    Repeat repeat = Repeat::kOne;
  };

  std::string text_;
  std::vector<Atom> atoms_;
};

}  // namespace ctdump::api

#endif  // CTDUMP_API_PATTERN_H_
