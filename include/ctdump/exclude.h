// Exclusion matching with vzdump `exclude-path` semantics.
//
// One matcher serves every built-in provider and the suspend-mode copier, so
// all of them exclude exactly the same entries. Patterns are shell-like globs
// (vzdump docs, "File Exclusions") read as rsync and PBS read them, plus the
// "**" of the Backup Provider POD ("matches current directory and
// subdirectories"):
//
//   * A leading '/' anchors the pattern at the container root: "/var/foo*"
//     matches /var/foo and /var/foobar, not /x/var/foo.
//   * Without a leading '/' the pattern matches relative to every directory:
//     "bar" matches /bar, /var/bar and /var/foo/bar, not /bar2; "foo/bar"
//     matches /foo/bar and /a/foo/bar.
//   * A trailing '/' restricts the pattern to directories: "/tmp/" excludes the
//     directory /tmp (and so its subtree), "cache/" excludes directories named
//     cache but not a file named cache. (Plain tar ignores such patterns; we
//     follow rsync and PBS, as vzdump's docs describe.)
//   * '?' matches one byte other than '/'; '*' matches any run of bytes
//     without '/'; '**' (two or more stars) matches any run including '/'.
//     A '**' that forms a whole path component also matches zero components:
//     "/var/**/x" matches /var/x and /var/a/b/x; "**/x" is the same as "x";
//     "**" alone matches every entry.
//   * "[...]" matches one byte (never '/') from a set: ranges "a-z", negation
//     with a leading '!' or '^', POSIX classes "[:alpha:]" (ASCII only), and a
//     ']' right after the opening bracket (or negation) is a member. An
//     unterminated '[' is an error (fnmatch() would take it literally).
//   * A backslash makes the next byte literal, inside classes too; "\/" is a
//     plain '/'; a backslash at the very end matches a backslash.
//   * Consecutive slashes in a pattern count as one. A pattern made only of
//     slashes (e.g. "/") names the root, which is never excluded, so it
//     matches nothing.
//   * A leading '.' in a name is not special: "*" matches ".hidden".
//   * Matching is on raw bytes; names need not be UTF-8.
//
// Excluding a directory excludes its whole subtree: Matches() is true for an
// entry when the entry itself or any of its ancestors matches, so walkers may
// prune (not descend into) an excluded directory, and code that checks single
// paths gets the same answer.
//
// Cost: Create() compiles all patterns into one NFA; Matches() makes a single
// pass over the path, O(path length x total pattern length / 64), with no
// backtracking, and allocates nothing unless the patterns are very many.
//
// Thread-safety: an ExcludeMatcher is immutable after Create(); Matches() may
// be called from any number of threads at once.
#ifndef CTDUMP_EXCLUDE_H_
#define CTDUMP_EXCLUDE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump {

// Standard excludes vzdump adds when stdexcludes=1 (the default):
// "/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid". They exclude the contents of
// /tmp and /var/tmp but keep the directories themselves.
const std::vector<std::string>& StandardExcludes();

class ExcludeMatcher {
 public:
  // An empty matcher: excludes nothing.
  ExcludeMatcher() = default;

  // Compiles vzdump exclude-path globs (syntax in the file comment). Fails with
  // InvalidArgument, naming the offending pattern, for an empty pattern, an
  // unterminated '[' class, an unknown "[:name:]" class, or a pattern that
  // contains a NUL byte or a newline.
  static Result<ExcludeMatcher> Create(const std::vector<std::string>& patterns);

  // True when the entry at `path` is excluded, either by itself or because an
  // ancestor directory is. `path` is relative to the container root, starts
  // with '/' and has no empty components: "/var/tmp/x". The root "/" (and
  // "") never matches. `is_dir` says whether the entry itself is a directory;
  // all ancestors are directories. A trailing '/' on `path` is ignored.
  bool Matches(std::string_view path, bool is_dir) const;

  // True when there are no patterns.
  bool empty() const { return patterns_.empty(); }

  // The raw pattern list as given to Create().
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  class Compiler;

  // The simulation; Set is a fixed-size array for small words_ (exclude.cc).
  template <typename Set>
  bool Run(std::string_view rel, bool is_dir, Set cur, Set next) const;

  std::vector<std::string> patterns_;
  // NFA state sets are bit sets of words_ 64-bit words; state i+1 follows
  // state i in its pattern. Each mask below is one such set, except
  // advance_, which holds one per byte value.
  size_t words_ = 0;
  std::vector<uint64_t> advance_;         // [b]: states that consume b, go to i+1
  std::vector<uint64_t> loop_slash_;      // states that stay on '/' ("**")
  std::vector<uint64_t> loop_other_;      // states that stay on other bytes
  std::vector<uint64_t> eps_next_;        // stars: epsilon edge i -> i+1
  std::vector<uint64_t> split_mask_;      // split states (before "**/")
  std::vector<uint32_t> split_states_;    // the same, as indexes
  std::vector<uint64_t> split_closures_;  // [k]: epsilon closure of split k
  std::vector<uint64_t> anchored_start_;  // closure of anchored starts
  std::vector<uint64_t> floating_start_;  // closure of unanchored starts
  std::vector<uint64_t> accept_file_;     // accepts valid for any entry
  std::vector<uint64_t> accept_dir_;      // accepts valid for directories
  bool has_floating_ = false;
};

}  // namespace ctdump

#endif  // CTDUMP_EXCLUDE_H_
