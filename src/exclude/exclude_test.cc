#include "ctdump/exclude.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ctdump {
namespace {

// Printable form of a byte string for failure messages.
std::string Show(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

ExcludeMatcher MustCreate(const std::vector<std::string>& patterns) {
  Result<ExcludeMatcher> m = ExcludeMatcher::Create(patterns);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? std::move(m).value() : ExcludeMatcher();
}

struct Case {
  std::string pattern;
  std::string path;
  bool is_dir;
  bool want;
};

constexpr bool kDir = true;
constexpr bool kFile = false;

const std::vector<Case>& Cases() {
  static const std::vector<Case> kCases = {
      // vzdump documentation examples.
      {"/tmp/", "/tmp", kDir, true},
      {"/tmp/", "/tmp/x", kFile, true},
      {"/tmp/", "/tmp", kFile, false},
      {"/var/foo*", "/var/foo", kFile, true},
      {"/var/foo*", "/var/foobar", kFile, true},
      {"/var/foo*", "/var/foobar/baz", kFile, true},
      {"/var/foo*", "/x/var/foo", kFile, false},
      {"/var/foo*", "/var/fo", kFile, false},
      {"bar", "/bar", kFile, true},
      {"bar", "/var/bar", kFile, true},
      {"bar", "/var/foo/bar", kFile, true},
      {"bar", "/bar2", kFile, false},
      {"bar", "/foobar", kFile, false},
      {"bar", "/bar/x", kFile, true},
      {"foo/bar", "/foo/bar", kFile, true},
      {"foo/bar", "/a/foo/bar", kFile, true},
      {"foo/bar", "/a/xfoo/bar", kFile, false},
      {"foo/bar", "/foo/barx", kFile, false},
      {"foo/bar", "/foo", kDir, false},
      // Standard excludes.
      {"/tmp/?*", "/tmp", kDir, false},
      {"/tmp/?*", "/tmp/a", kFile, true},
      {"/tmp/?*", "/tmp/.X11-unix", kDir, true},
      {"/tmp/?*", "/tmp/a/b", kFile, true},
      {"/tmp/?*", "/x/tmp/a", kFile, false},
      {"/var/tmp/?*", "/var/tmp", kDir, false},
      {"/var/tmp/?*", "/var/tmp/x", kFile, true},
      {"/var/run/?*.pid", "/var/run/sshd.pid", kFile, true},
      {"/var/run/?*.pid", "/var/run/.pid", kFile, false},
      {"/var/run/?*.pid", "/var/run/sshd.pidx", kFile, false},
      {"/var/run/?*.pid", "/var/run/sub/a.pid", kFile, false},
      // '?'
      {"/a?c", "/abc", kFile, true},
      {"/a?c", "/ac", kFile, false},
      {"/a?c", "/a/c", kFile, false},
      {"?", "/x/y", kFile, true},
      {"?", "/xy", kFile, false},
      // '*'
      {"/a*", "/a", kFile, true},
      {"/*/c", "/a/c", kFile, true},
      {"/*/c", "/a/b/c", kFile, false},
      {"*.log", "/var/log/syslog.log", kFile, true},
      {"*.log", "/var/log/syslog.log.1", kFile, false},
      {"*", "/anything", kFile, true},
      {"*", "/", kDir, false},
      {"*.o", "/.o", kFile, true},
      {"*", "/.hidden", kFile, true},
      {"/etc/ssh/*_key", "/etc/ssh/ssh_host_rsa_key", kFile, true},
      {"/etc/ssh/*_key", "/etc/ssh/ssh_host_rsa_key.pub", kFile, false},
      // '**'
      {"/var/**/x", "/var/x", kFile, true},
      {"/var/**/x", "/var/a/b/x", kFile, true},
      {"/var/**/x", "/var/ax", kFile, false},
      {"/var/**/x", "/usr/var/x", kFile, false},
      {"**", "/a/b/c", kFile, true},
      {"**", "/", kDir, false},
      {"/**", "/a", kFile, true},
      {"**/x", "/x", kFile, true},
      {"**/x", "/a/b/x", kFile, true},
      {"**/x", "/a/bx", kFile, false},
      {"/a**z", "/a/b/z", kFile, true},
      {"/a**z", "/az", kFile, true},
      {"/a/**", "/a", kDir, false},
      {"/a/**", "/a/b", kFile, true},
      {"a/**/b", "/x/a/b", kFile, true},
      {"a/**/b", "/x/a/y/z/b", kFile, true},
      {"/a/***", "/a/b", kFile, true},
      {"**/cache/", "/home/u/cache", kDir, true},
      {"**/cache/", "/home/u/cache", kFile, false},
      // Classes.
      {"/[abc]", "/b", kFile, true},
      {"/[abc]", "/d", kFile, false},
      {"/[!abc]", "/d", kFile, true},
      {"/[!abc]", "/a", kFile, false},
      {"/[^abc]", "/d", kFile, true},
      {"/[a-c]x", "/bx", kFile, true},
      {"/[a-c]x", "/dx", kFile, false},
      {"/[]a]", "/]", kFile, true},
      {"/[!]a]", "/]", kFile, false},
      {"/[!]a]", "/b", kFile, true},
      {"/a[!x]b", "/a/b", kFile, false},
      {"/[a-]", "/-", kFile, true},
      {"/[[:digit:]]", "/7", kFile, true},
      {"/[[:digit:]]", "/x", kFile, false},
      {"/[[:alpha:]_]*", "/_x", kFile, true},
      {"/[z-a]", "/m", kFile, false},
      // Escapes.
      {"/a\\*", "/a*", kFile, true},
      {"/a\\*", "/ab", kFile, false},
      {"/\\[x]", "/[x]", kFile, true},
      {"/a\\?", "/a?", kFile, true},
      {"/a\\?", "/ab", kFile, false},
      {"/[\\]]", "/]", kFile, true},
      {"/a\\\\b", "/a\\b", kFile, true},
      {"/a\\", "/a\\", kFile, true},
      {"/a\\/b", "/a/b", kFile, true},
      // Trailing '/': directories only.
      {"cache/", "/var/cache", kDir, true},
      {"cache/", "/var/cache", kFile, false},
      {"cache/", "/var/cache/x", kFile, true},
      {"/tmp//", "/tmp", kDir, true},
      // Anchoring and slash normalisation.
      {"/bar", "/x/bar", kFile, false},
      {"//bar", "/bar", kFile, true},
      {"/var//log", "/var/log", kFile, true},
      {"/", "/x", kFile, false},
      {"/tmp/", "/tmp/", kDir, true},
      // Non-UTF-8 names.
      {"/\xff*", "/\xff\xfe", kFile, true},
      {"?", "/\xff", kFile, true},
      {"/[\x80-\xff]", "/\xc3", kFile, true},
      {"/[\x80-\xff]", "/c", kFile, false},
      // Punctuation is literal.
      {"lost+found", "/lost+found", kDir, true},
      {"lost+found", "/home/lost+found/x", kFile, true},
      {"/a.b", "/axb", kFile, false},
      {"/(a)", "/(a)", kFile, true},
  };
  return kCases;
}

TEST(ExcludeTableTest, AllCases) {
  ASSERT_GE(Cases().size(), 60u);
  for (const Case& c : Cases()) {
    ExcludeMatcher m = MustCreate({c.pattern});
    EXPECT_EQ(m.Matches(c.path, c.is_dir), c.want)
        << "pattern=" << Show(c.pattern) << " path=" << Show(c.path) << " is_dir=" << c.is_dir;
  }
}

TEST(ExcludeTest, StandardExcludes) {
  EXPECT_EQ(StandardExcludes(),
            (std::vector<std::string>{"/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid"}));
  ExcludeMatcher m = MustCreate(StandardExcludes());
  EXPECT_FALSE(m.Matches("/tmp", kDir));
  EXPECT_FALSE(m.Matches("/var/tmp", kDir));
  EXPECT_FALSE(m.Matches("/var/run", kDir));
  EXPECT_TRUE(m.Matches("/tmp/x", kFile));
  EXPECT_TRUE(m.Matches("/var/tmp/systemd-private/a", kFile));
  EXPECT_TRUE(m.Matches("/var/run/crond.pid", kFile));
  EXPECT_FALSE(m.Matches("/var/run/crond.reboot", kFile));
  EXPECT_FALSE(m.Matches("/etc/hostname", kFile));
}

TEST(ExcludeTest, EmptyMatcherMatchesNothing) {
  ExcludeMatcher def;
  EXPECT_TRUE(def.empty());
  EXPECT_FALSE(def.Matches("/tmp/x", kFile));
  ExcludeMatcher m = MustCreate({});
  EXPECT_TRUE(m.empty());
  EXPECT_TRUE(m.patterns().empty());
  EXPECT_FALSE(m.Matches("/a", kDir));
}

TEST(ExcludeTest, PatternsAreKeptRaw) {
  std::vector<std::string> raw = {"//tmp//", "a\\*", "**/x/"};
  ExcludeMatcher m = MustCreate(raw);
  EXPECT_FALSE(m.empty());
  EXPECT_EQ(m.patterns(), raw);
}

TEST(ExcludeTest, AnyOfSeveralPatterns) {
  ExcludeMatcher m = MustCreate({"/srv/a", "*.bak", "cache/", "/x/**/y"});
  EXPECT_TRUE(m.Matches("/srv/a", kFile));
  EXPECT_TRUE(m.Matches("/home/u/f.bak", kFile));
  EXPECT_TRUE(m.Matches("/home/u/cache/z", kFile));
  EXPECT_TRUE(m.Matches("/x/1/2/y", kDir));
  EXPECT_FALSE(m.Matches("/srv/b", kFile));
  EXPECT_FALSE(m.Matches("/home/u/cache", kFile));
  EXPECT_FALSE(m.Matches("/home/u/f.bak2", kFile));
}

TEST(ExcludeTest, RootNeverMatches) {
  ExcludeMatcher m = MustCreate({"**", "*", "/", "/**", "?*"});
  EXPECT_FALSE(m.Matches("/", kDir));
  EXPECT_FALSE(m.Matches("", kDir));
  EXPECT_FALSE(m.Matches("//", kDir));
  EXPECT_TRUE(m.Matches("/a", kFile));
}

// A walker that prunes excluded directories keeps exactly the entries for
// which Matches() is false: pruning and per-path checks agree.
TEST(ExcludeTest, SubtreePruning) {
  struct Entry {
    std::string path;
    bool is_dir;
  };
  const std::vector<Entry> tree = {
      {"/etc", kDir},
      {"/etc/passwd", kFile},
      {"/tmp", kDir},
      {"/tmp/a", kDir},
      {"/tmp/a/b", kDir},
      {"/tmp/a/b/c", kFile},
      {"/var", kDir},
      {"/var/cache", kDir},
      {"/var/cache/apt", kDir},
      {"/var/cache/apt/x.deb", kFile},
      {"/home", kDir},
      {"/home/cache", kFile},
      {"/home/u", kDir},
      {"/home/u/cache", kDir},
      {"/home/u/cache/f", kFile},
  };
  ExcludeMatcher m = MustCreate({"/tmp/?*", "cache/"});
  std::set<std::string> kept;
  std::function<void(const std::string&)> walk = [&](const std::string& dir) {
    for (const Entry& e : tree) {
      bool child =
          e.path.starts_with(dir + "/") && e.path.find('/', dir.size() + 1) == std::string::npos;
      if (!child || m.Matches(e.path, e.is_dir)) continue;
      kept.insert(e.path);
      if (e.is_dir) walk(e.path);
    }
  };
  walk("");
  std::set<std::string> by_path;
  for (const Entry& e : tree) {
    if (!m.Matches(e.path, e.is_dir)) by_path.insert(e.path);
  }
  EXPECT_EQ(kept, by_path);
  EXPECT_EQ(kept, (std::set<std::string>{"/etc", "/etc/passwd", "/tmp", "/var", "/home",
                                         "/home/cache", "/home/u"}));
  EXPECT_TRUE(m.Matches("/tmp/a/b/c", kFile));
  EXPECT_TRUE(m.Matches("/var/cache/apt/x.deb", kFile));
}

TEST(ExcludeTest, NonUtf8Bytes) {
  std::string latin1 = "caf\xe9";
  std::string bad = "\xc3\x28\xff\x80";
  ExcludeMatcher m = MustCreate({"/" + latin1 + "/", bad, "/z/[\xe0-\xef]?"});
  EXPECT_TRUE(m.Matches("/" + latin1, kDir));
  EXPECT_TRUE(m.Matches("/" + latin1 + "/\xfe", kFile));
  EXPECT_FALSE(m.Matches("/" + latin1, kFile));
  EXPECT_TRUE(m.Matches("/a/" + bad, kFile));
  EXPECT_FALSE(m.Matches("/a/" + bad + "x", kFile));
  EXPECT_TRUE(m.Matches("/z/\xe9\x01", kFile));
  EXPECT_FALSE(m.Matches("/z/\xf0\x01", kFile));
}

TEST(ExcludeTest, Escapes) {
  ExcludeMatcher m = MustCreate({"/\\*", "/q\\?", "/\\[a]", "/b\\\\", "/[\\!z]", "/c\\d"});
  EXPECT_TRUE(m.Matches("/*", kFile));
  EXPECT_FALSE(m.Matches("/x", kFile));
  EXPECT_TRUE(m.Matches("/q?", kFile));
  EXPECT_FALSE(m.Matches("/qx", kFile));
  EXPECT_TRUE(m.Matches("/[a]", kFile));
  EXPECT_FALSE(m.Matches("/a", kFile));
  EXPECT_TRUE(m.Matches("/b\\", kFile));
  EXPECT_TRUE(m.Matches("/!", kFile));
  EXPECT_TRUE(m.Matches("/cd", kFile));
}

TEST(ExcludeTest, BadPatternsGiveClearErrors) {
  struct Bad {
    std::string pattern;
    std::string quoted;
    std::string why;
  };
  const std::vector<Bad> bad = {
      {"", "\"\"", "empty"},
      {"/var/[abc", "\"/var/[abc\"", "unterminated '['"},
      {"a[", "\"a[\"", "unterminated '['"},
      {"[!", "\"[!\"", "unterminated '['"},
      {"[]", "\"[]\"", "unterminated '['"},
      {"[a\\", "\"[a\\\"", "unterminated '['"},
      {"[a-", "\"[a-\"", "unterminated '['"},
      {"a\nb", "\"a\\x0ab\"", "newline"},
      {std::string("a\0b", 3), "\"a\\x00b\"", "NUL"},
      {"[[:bogus:]]", "\"[[:bogus:]]\"", "unknown class [:bogus:]"},
  };
  for (const Bad& b : bad) {
    Result<ExcludeMatcher> m = ExcludeMatcher::Create({"/ok", b.pattern});
    ASSERT_FALSE(m.ok()) << Show(b.pattern);
    EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
    const std::string& msg = m.status().message();
    EXPECT_NE(msg.find("Invalid exclude pattern " + b.quoted), std::string::npos) << msg;
    EXPECT_NE(msg.find(b.why), std::string::npos) << msg;
  }
}

// Patterns that blow up backtracking matchers; these must simply finish.
TEST(ExcludeTest, PathologicalPatternsFinish) {
  std::string long_name(20000, 'a');
  std::string deep;
  for (int i = 0; i < 2000; ++i) deep += "/a";
  ExcludeMatcher m = MustCreate({"*a*a*a*a*a*a*a*a*a*a*b", "**a**a**a**a**a**a**b",
                                 "/**/a/**/a/**/a/**/a/**/b", "a*a*a*a*a*a*?b/"});
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(m.Matches("/" + long_name, kFile));
    EXPECT_FALSE(m.Matches(deep, kDir));
    EXPECT_FALSE(m.Matches(deep + "/" + long_name, kFile));
  }
  EXPECT_TRUE(m.Matches(deep + "/b", kFile));
}

// More states than fit in the inline scratch buffer.
TEST(ExcludeTest, ManyPatterns) {
  std::vector<std::string> patterns;
  for (int i = 0; i < 300; ++i) patterns.push_back("/p" + std::to_string(i) + "/*.x");
  patterns.push_back("zz");
  ExcludeMatcher m = MustCreate(patterns);
  EXPECT_TRUE(m.Matches("/p257/a.x", kFile));
  EXPECT_TRUE(m.Matches("/p0/.x/deeper", kFile));
  EXPECT_FALSE(m.Matches("/p300/a.x", kFile));
  EXPECT_FALSE(m.Matches("/p25/a.y", kFile));
  EXPECT_TRUE(m.Matches("/p300/zz", kFile));
}

// ---- Randomized comparison against a plain backtracking reference. ----

enum class Tok { kByte, kAny, kClass, kStar, kStarStar, kSlash };

struct RefClass {
  std::string text;
  std::string members;  // over the path alphabet
};

// Names in random paths use only these bytes.
const std::string kAlphabet = "ab*\xff";

const std::vector<RefClass>& RefClasses() {
  static const std::vector<RefClass> kClasses = {
      {"[ab]", "ab"},         {"[!a]", "b*\xff"}, {"[^b*]", "a\xff"},
      {"[\\*\xff]", "*\xff"}, {"[a-b]", "ab"},    {"[\x80-\xff]", "\xff"},
  };
  return kClasses;
}

struct RefToken {
  Tok kind;
  char byte = 0;
  size_t cls = 0;
};

struct RefPattern {
  std::vector<RefToken> toks;  // no leading, trailing or doubled slashes
  bool anchored = false;
  bool dir_only = false;
};

bool IsSlashTok(const std::vector<RefToken>& p, size_t i) {
  return i < p.size() && p[i].kind == Tok::kSlash;
}

// Does p[pi..] match exactly t[ti..]? Plain recursion: obviously right, slow.
bool RefGlob(const std::vector<RefToken>& p, size_t pi, std::string_view t, size_t ti) {
  if (pi == p.size()) return ti == t.size();
  const RefToken& tok = p[pi];
  bool more = ti < t.size();
  switch (tok.kind) {
    case Tok::kByte:
      return more && t[ti] == tok.byte && RefGlob(p, pi + 1, t, ti + 1);
    case Tok::kSlash:
      return more && t[ti] == '/' && RefGlob(p, pi + 1, t, ti + 1);
    case Tok::kAny:
      return more && t[ti] != '/' && RefGlob(p, pi + 1, t, ti + 1);
    case Tok::kClass:
      return more && RefClasses()[tok.cls].members.find(t[ti]) != std::string::npos &&
             RefGlob(p, pi + 1, t, ti + 1);
    case Tok::kStar:
      for (size_t k = ti;; ++k) {
        if (RefGlob(p, pi + 1, t, k)) return true;
        if (k == t.size() || t[k] == '/') return false;
      }
    case Tok::kStarStar: {
      bool whole = (pi == 0 || IsSlashTok(p, pi - 1)) && IsSlashTok(p, pi + 1);
      if (whole && RefGlob(p, pi + 2, t, ti)) return true;  // "**/" as zero components
      for (size_t k = ti; k <= t.size(); ++k) {
        if (RefGlob(p, pi + 1, t, k)) return true;
      }
      return false;
    }
  }
  return false;
}

std::string Join(const std::vector<std::string>& comps, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) out += (i > from ? "/" : "") + comps[i];
  return out;
}

// The contract, spelled out: some ancestor-or-self entry is matched by some
// pattern, anchored at the root or at any directory.
bool RefMatches(const std::vector<RefPattern>& pats, const std::vector<std::string>& comps,
                bool is_dir) {
  for (size_t depth = 1; depth <= comps.size(); ++depth) {
    bool entry_is_dir = depth < comps.size() || is_dir;
    for (const RefPattern& p : pats) {
      if (p.dir_only && !entry_is_dir) continue;
      size_t last_start = p.anchored ? 0 : depth - 1;
      for (size_t s = 0; s <= last_start; ++s) {
        if (RefGlob(p.toks, 0, Join(comps, s, depth), 0)) return true;
      }
    }
  }
  return false;
}

class RandomGen {
 public:
  explicit RandomGen(uint32_t seed) : rng_(seed) {}

  size_t Below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  RefPattern Pattern() {
    RefPattern p;
    p.anchored = Below(2) == 0;
    p.dir_only = Below(4) == 0;
    size_t len = 1 + Below(6);
    while (p.toks.size() < len) {
      RefToken t = Token();
      bool star = t.kind == Tok::kStar || t.kind == Tok::kStarStar;
      bool prev_star = !p.toks.empty() &&
                       (p.toks.back().kind == Tok::kStar || p.toks.back().kind == Tok::kStarStar);
      bool slash = t.kind == Tok::kSlash;
      if ((star && prev_star) ||
          (slash && (p.toks.empty() || IsSlashTok(p.toks, p.toks.size() - 1))))
        continue;
      p.toks.push_back(t);
    }
    while (IsSlashTok(p.toks, p.toks.size() - 1)) p.toks.pop_back();
    if (p.toks.empty()) p.toks.push_back({Tok::kAny});
    return p;
  }

  std::string Render(const RefPattern& p) {
    std::string out = p.anchored ? "/" : "";
    for (const RefToken& t : p.toks) {
      switch (t.kind) {
        case Tok::kByte:
          out += (t.byte == '*' || Below(8) == 0) ? std::string("\\") + t.byte
                                                  : std::string(1, t.byte);
          break;
        case Tok::kAny:
          out += "?";
          break;
        case Tok::kClass:
          out += RefClasses()[t.cls].text;
          break;
        case Tok::kStar:
          out += "*";
          break;
        case Tok::kStarStar:
          out += "**";
          break;
        case Tok::kSlash:
          out += "/";
          break;
      }
    }
    return out + (p.dir_only ? "/" : "");
  }

  std::vector<std::string> Path() {
    std::vector<std::string> comps(1 + Below(4));
    for (std::string& c : comps) {
      size_t len = 1 + Below(3);
      for (size_t i = 0; i < len; ++i) c += kAlphabet[Below(kAlphabet.size())];
    }
    return comps;
  }

 private:
  RefToken Token() {
    switch (Below(9)) {
      case 0:
        return {Tok::kAny};
      case 1:
        return {Tok::kClass, 0, Below(RefClasses().size())};
      case 2:
        return {Tok::kStar};
      case 3:
        return {Tok::kStarStar};
      case 4:
      case 5:
        return {Tok::kSlash};
      default:
        return {Tok::kByte, kAlphabet[Below(kAlphabet.size())]};
    }
  }

  std::mt19937 rng_;
};

TEST(ExcludeRandomTest, AgreesWithReference) {
  RandomGen gen(20240601);
  int matched = 0, checked = 0;
  for (int iter = 0; iter < 4000; ++iter) {
    std::vector<RefPattern> pats(1 + gen.Below(3));
    std::vector<std::string> texts;
    for (RefPattern& p : pats) {
      p = gen.Pattern();
      texts.push_back(gen.Render(p));
    }
    // Never-matching padding in front moves the real patterns across 64-bit
    // word boundaries and through every state-set size (1 to ~10 words).
    std::vector<std::string> padded(gen.Below(300), "/\x01");
    padded.insert(padded.end(), texts.begin(), texts.end());
    ExcludeMatcher m = MustCreate(texts);
    ExcludeMatcher m_padded = MustCreate(padded);
    for (int j = 0; j < 8; ++j) {
      std::vector<std::string> comps = gen.Path();
      std::string path = "/" + Join(comps, 0, comps.size());
      for (bool is_dir : {false, true}) {
        bool want = RefMatches(pats, comps, is_dir);
        bool got = m.Matches(path, is_dir);
        ++checked;
        matched += want;
        if (got != want || m_padded.Matches(path, is_dir) != want) {
          std::string all;
          for (const std::string& t : texts) all += " " + Show(t);
          ADD_FAILURE() << "patterns:" << all << " path=" << Show(path) << " is_dir=" << is_dir
                        << " want=" << want << " padding=" << padded.size() - texts.size();
          return;
        }
        if (got && is_dir) {
          EXPECT_TRUE(m.Matches(path + "/a", kFile)) << Show(path);
        }
      }
    }
  }
  // Keep the test meaningful: both outcomes must be common.
  EXPECT_GT(matched, checked / 20);
  EXPECT_LT(matched, checked - checked / 20);
}

}  // namespace
}  // namespace ctdump
