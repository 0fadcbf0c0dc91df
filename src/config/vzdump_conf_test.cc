#include "ctdump/vzdump_conf.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "config/config_test_util.h"

namespace ctdump {
namespace {

constexpr char kFile[] = "/etc/vzdump.conf";

using Words = std::vector<std::string>;

struct SplitCase {
  const char* name;
  std::string text;
  Words want;
  std::string error;  // substring of the expected message; "" = success
};

void PrintTo(const SplitCase& c, std::ostream* os) { *os << c.name; }

std::vector<SplitCase> SplitCases() {
  return {
      {"Empty", "", {}, ""},
      {"Spaces", "  \t ", {}, ""},
      {"One", "/tmp", {"/tmp"}, ""},
      {"Several",
       " /tmp  /var/cache\t/home/*/.cache ",
       {"/tmp", "/var/cache", "/home/*/.cache"},
       ""},
      {"DoubleQuoted", "\"/srv/my data\" /x", {"/srv/my data", "/x"}, ""},
      {"SingleQuoted", "'/srv/my data'", {"/srv/my data"}, ""},
      {"AdjacentPiecesJoin", "a\"b c\"d'e f'g", {"ab cde fg"}, ""},
      {"EscapedSpace", "/srv/my\\ data", {"/srv/my data"}, ""},
      {"EscapesInDoubleQuotes", "\"a\\\"b\\\\c\\d\"", {"a\"b\\cd"}, ""},
      {"BackslashKeptInSingleQuotes", "'a\\b\\'c'", {"a\\b\\'c"}, ""},
      {"EmptyQuoted", "\"\" x", {"", "x"}, ""},
      {"QuotedGlob", "'*.tmp' \"/var/log/*.gz\"", {"*.tmp", "/var/log/*.gz"}, ""},
      {"UnbalancedDouble", "\"/srv/x", {}, "unbalanced \" quote in '\"/srv/x'"},
      {"UnbalancedSingle", "a 'b", {}, "unbalanced ' quote"},
      {"EscapedClosingQuote", "\"abc\\\"", {}, "unbalanced \" quote"},
      {"SingleQuoteBackslashAtEnd", "'abc\\'", {}, "unbalanced ' quote"},
      {"TrailingBackslash", "abc\\", {}, "trailing backslash"},
  };
}

class SplitShellWordsTest : public testing::TestWithParam<SplitCase> {};

TEST_P(SplitShellWordsTest, Splits) {
  const SplitCase& c = GetParam();
  Result<Words> words = SplitShellWords(c.text);
  if (!c.error.empty()) {
    ASSERT_FALSE(words.ok());
    EXPECT_EQ(words.status().code(), Code::kInvalidArgument);
    EXPECT_NE(words.status().message().find(c.error), std::string::npos)
        << words.status().message();
    return;
  }
  ASSERT_TRUE(words.ok()) << words.status().message();
  EXPECT_EQ(*words, c.want);
}

INSTANTIATE_TEST_SUITE_P(Table, SplitShellWordsTest, testing::ValuesIn(SplitCases()),
                         [](const auto& info) { return std::string(info.param.name); });

struct ConfCase {
  const char* name;
  std::string text;
  std::vector<std::pair<std::string, std::string>> values;
  Words excludes;
  std::string error;  // substring of the expected message; "" = success
};

void PrintTo(const ConfCase& c, std::ostream* os) { *os << c.name; }

std::vector<ConfCase> ConfCases() {
  return {
      {"Empty", "", {}, {}, ""},
      {"CommentsAndBlanks", "# vzdump defaults\n\n   # indented\n\t\n", {}, {}, ""},
      {"Typical",
       "tmpdir: /var/tmp\nmode: snapshot\nbwlimit: 10000\nstdexcludes: 1\n"
       "prune-backups: keep-last=3,keep-daily=7\n",
       {{"tmpdir", "/var/tmp"},
        {"mode", "snapshot"},
        {"bwlimit", "10000"},
        {"stdexcludes", "1"},
        {"prune-backups", "keep-last=3,keep-daily=7"}},
       {},
       ""},
      {"SpacesAroundAndNoSpaceAfterColon",
       "  storage:backup-nfs  \r\nnotes-template:  {{guestname}} on {{node}} \n",
       {{"storage", "backup-nfs"}, {"notes-template", "{{guestname}} on {{node}}"}},
       {},
       ""},
      {"ValueWithColons",
       "mailto: a@b.c\nscript: /usr/local/bin/hook:x\n",
       {{"mailto", "a@b.c"}, {"script", "/usr/local/bin/hook:x"}},
       {},
       ""},
      {"EmptyValue", "mailto:\n", {{"mailto", ""}}, {}, ""},
      {"ExcludePathRepeatedAndSplit",
       "exclude-path: /tmp /var/tmp\nexclude-path: \"/srv/my data\" '/home/*/.cache'\n",
       {{"exclude-path", "/tmp /var/tmp"}, {"exclude-path", "\"/srv/my data\" '/home/*/.cache'"}},
       {"/tmp", "/var/tmp", "/srv/my data", "/home/*/.cache"},
       ""},
      {"AllKnownKeys",
       "mode: stop\nstorage: s\nbwlimit: 0\nstdexcludes: 0\nexclude-path: /x\ntmpdir: /t\n"
       "script: /s\nlockwait: 180\nstopwait: 10\nremove: 1\nprune-backups: keep-all=1\n"
       "notes-template: n\nprotected: 0\ncompress: zstd\nzstd: 1\nionice: 7\nmailto: m\n"
       "mailnotification: always\nnotification-mode: auto\n"
       "dumpdir: /d\nmaxfiles: 1\nnode: n1\nquiet: 1\n",
       {{"mode", "stop"},
        {"storage", "s"},
        {"bwlimit", "0"},
        {"stdexcludes", "0"},
        {"exclude-path", "/x"},
        {"tmpdir", "/t"},
        {"script", "/s"},
        {"lockwait", "180"},
        {"stopwait", "10"},
        {"remove", "1"},
        {"prune-backups", "keep-all=1"},
        {"notes-template", "n"},
        {"protected", "0"},
        {"compress", "zstd"},
        {"zstd", "1"},
        {"ionice", "7"},
        {"mailto", "m"},
        {"mailnotification", "always"},
        {"notification-mode", "auto"},
        {"dumpdir", "/d"},
        {"maxfiles", "1"},
        {"node", "n1"},
        {"quiet", "1"}},
       {"/x"},
       ""},
      {"UnknownKey", "mode: stop\nsize: 1\n", {}, {}, "/etc/vzdump.conf:2: unknown key 'size'"},
      {"CaseMatters", "Mode: stop\n", {}, {}, "unknown key 'Mode'"},
      {"NoColon", "mode stop\n", {}, {}, "/etc/vzdump.conf:1: unable to parse line 'mode stop'"},
      {"SpaceBeforeColon", "mode : stop\n", {}, {}, ":1: unable to parse line"},
      {"EmptyKey", ": stop\n", {}, {}, ":1: unable to parse line"},
      {"UnbalancedExclude",
       "\n\nexclude-path: \"/a\n",
       {},
       {},
       "/etc/vzdump.conf:3: exclude-path: unbalanced \" quote"},
      {"EmptyExclude",
       "exclude-path: '' /x\n",
       {},
       {},
       "/etc/vzdump.conf:1: exclude-path: empty path"},
  };
}

class VzdumpConfTest : public testing::TestWithParam<ConfCase> {};

TEST_P(VzdumpConfTest, Parses) {
  const ConfCase& c = GetParam();
  Result<VzdumpConf> conf = ParseVzdumpConf(c.text, kFile);
  if (!c.error.empty()) {
    ASSERT_FALSE(conf.ok());
    EXPECT_EQ(conf.status().code(), Code::kInvalidArgument);
    EXPECT_NE(conf.status().message().find(c.error), std::string::npos)
        << "message: " << conf.status().message() << "\nwant: " << c.error;
    return;
  }
  ASSERT_TRUE(conf.ok()) << conf.status().message();
  EXPECT_EQ(conf->values, c.values);
  EXPECT_EQ(conf->exclude_paths, c.excludes);
}

INSTANTIATE_TEST_SUITE_P(Table, VzdumpConfTest, testing::ValuesIn(ConfCases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(VzdumpConfTest, GetReturnsLastValue) {
  Result<VzdumpConf> conf = ParseVzdumpConf("mode: stop\nmode: suspend\n", kFile);
  ASSERT_TRUE(conf.ok()) << conf.status().message();
  EXPECT_EQ(conf->Get("mode"), "suspend");
  EXPECT_EQ(conf->Get("storage"), std::nullopt);
}

// Every key of PVE's vzdump.conf: implemented (silent), not yet implemented
// (a warning naming file, line and key) or rejected (an error naming them).
TEST(VzdumpConfTest, EveryKeyIsImplementedWarnedOrRejected) {
  struct Case {
    const char* key;
    const char* kind;  // "ok", "warn", "reject"
  } cases[] = {
      {"mode", "ok"},
      {"storage", "ok"},
      {"dumpdir", "ok"},
      {"bwlimit", "ok"},
      {"stdexcludes", "ok"},
      {"exclude-path", "ok"},
      {"tmpdir", "ok"},
      {"script", "ok"},
      {"lockwait", "ok"},
      {"stopwait", "ok"},
      {"remove", "ok"},
      {"prune-backups", "ok"},
      {"maxfiles", "ok"},
      {"notes-template", "ok"},
      {"protected", "ok"},
      {"compress", "ok"},
      {"zstd", "ok"},
      {"ionice", "ok"},
      {"quiet", "ok"},
      {"node", "ok"},
      {"mailto", "ok"},
      {"mailnotification", "ok"},
      {"notification-mode", "ok"},
      {"notification-target", "warn"},
      {"notification-policy", "warn"},
      {"pigz", "reject"},
      {"performance", "reject"},
      {"fleecing", "reject"},
      {"pbs-change-detection-mode", "reject"},
      {"pool", "reject"},
  };
  for (const auto& c : cases) {
    std::string text = std::string("# comment\nmode: stop\n") + c.key + ": x\n";
    Result<VzdumpConf> conf = ParseVzdumpConf(text, kFile);
    std::string where = std::string(kFile) + ":3: ";
    if (std::string(c.kind) == "reject") {
      ASSERT_FALSE(conf.ok()) << c.key;
      EXPECT_EQ(conf.status().code(), Code::kInvalidArgument);
      EXPECT_EQ(
          conf.status().message().rfind(where + "'" + c.key + "' is not supported by ctdump (", 0),
          0u)
          << conf.status().message();
      continue;
    }
    ASSERT_TRUE(conf.ok()) << c.key << ": " << conf.status().message();
    if (std::string(c.kind) == "warn") {
      ASSERT_EQ(conf->warnings.size(), 1u) << c.key;
      EXPECT_EQ(conf->warnings[0], where + "'" + c.key +
                                       "': deprecated since Proxmox VE 8.2 and ignored: "
                                       "notifications go by notification-mode and the matchers "
                                       "of notifications.cfg");
    } else {
      EXPECT_TRUE(conf->warnings.empty()) << c.key;
    }
    EXPECT_EQ(conf->Where(c.key), std::string(kFile) + ":3") << c.key;
  }
}

TEST(VzdumpConfTest, WhereNamesTheLineOfTheValueInEffect) {
  Result<VzdumpConf> conf = ParseVzdumpConf("mode: stop\n\nmode: suspend\n", kFile);
  ASSERT_TRUE(conf.ok()) << conf.status().message();
  EXPECT_EQ(conf->Where("mode"), std::string(kFile) + ":3");
  EXPECT_EQ(conf->Where("storage"), kFile);
}

// Deterministic stand-in for config_vzdump_fuzz.
TEST(VzdumpConfTest, RandomizedNeverCrashes) {
  const std::string seed =
      "# defaults\ntmpdir: /var/tmp\nmode: snapshot\n"
      "exclude-path: /tmp \"/srv/my data\" 'x y'\nexclude-path: a\\ b\nbwlimit: 100\n";
  const std::vector<std::string> tokens = {
      "\n", ":", ": ", "\"", "'", "\\", " ", "#", "exclude-path: ", "mode: ", "''", "x"};
  std::mt19937 rng(31337);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::string text = testing_util::Mutate(seed, rng, tokens);
    Result<VzdumpConf> conf = ParseVzdumpConf(text, kFile);
    if (!conf.ok()) {
      ++failed;
      ASSERT_EQ(conf.status().code(), Code::kInvalidArgument);
      ASSERT_EQ(conf.status().message().rfind(std::string(kFile) + ":", 0), 0u)
          << conf.status().message();
      continue;
    }
    ++ok;
    for (const std::string& path : conf->exclude_paths) ASSERT_FALSE(path.empty());
    for (const auto& [key, value] : conf->values) ASSERT_FALSE(key.empty());
  }
  EXPECT_GT(ok, 1000);
  EXPECT_GT(failed, 1000);
}

}  // namespace
}  // namespace ctdump
