// Unit tests for the pure parts of extraction: member-name rules, id
// representability, ACL xattr filtering, PVE's untrusted checks, the report
// protocol and the bwlimit token bucket.
#include "extract/entry_check.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "extract/report.h"

namespace ctdump::extract {
namespace {

IdMap DefaultMap() {
  auto m = IdMap::Parse({"u 0 100000 65536", "g 0 100000 65536"}, true);
  EXPECT_TRUE(m.ok());
  return *m;
}

struct NameCase {
  const char* in;
  const char* out;  // nullptr: refused
  const char* why;
};

TEST(NormalizeEntryNameTest, Table) {
  const NameCase cases[] = {
      {"a/b", "./a/b", nullptr},
      {"./a/b", "./a/b", nullptr},
      {"./a//b/", "./a/b", nullptr},
      {"a/./b/.", "./a/b", nullptr},
      {".", ".", nullptr},
      {"./", ".", nullptr},
      {".//", ".", nullptr},
      {"...", "./...", nullptr},
      {"..a/b..", "./..a/b..", nullptr},
      {"./dev", "./dev", nullptr},
      {"", nullptr, "empty name"},
      {"/etc/passwd", nullptr, "absolute path"},
      {"//x", nullptr, "absolute path"},
      {"..", nullptr, "path contains '..'"},
      {"../escape", nullptr, "path contains '..'"},
      {"a/../../escape", nullptr, "path contains '..'"},
      {"a/..", nullptr, "path contains '..'"},
      {"./a/../b", nullptr, "path contains '..'"},
  };
  for (const auto& c : cases) {
    auto r = NormalizeEntryName(c.in);
    if (c.out) {
      ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().message();
      EXPECT_EQ(*r, c.out) << c.in;
    } else {
      ASSERT_FALSE(r.ok()) << c.in << " -> " << *r;
      EXPECT_EQ(r.status().message(), c.why) << c.in;
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    }
  }
}

TEST(NormalizeEntryNameTest, HardlinkTargetsNameTheTarget) {
  EXPECT_EQ(*NormalizeHardlinkTarget("usr/bin/x"), "./usr/bin/x");
  auto abs = NormalizeHardlinkTarget("/etc/shadow");
  ASSERT_FALSE(abs.ok());
  EXPECT_EQ(abs.status().message(), "hardlink target '/etc/shadow' is absolute");
  auto up = NormalizeHardlinkTarget("../x");
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().message(), "hardlink target '../x' contains '..'");
}

TEST(NormalizeEntryNameTest, RefusalMessage) {
  EXPECT_EQ(RefusalMessage("../x", "/a.tar", "path contains '..'"),
            "refusing entry '../x' in '/a.tar': path contains '..'");
}

TEST(IsBelowDevTest, OnlyBelow) {
  EXPECT_FALSE(IsBelowDev("./dev"));
  EXPECT_TRUE(IsBelowDev("./dev/null"));
  EXPECT_TRUE(IsBelowDev("./dev/pts/0"));
  EXPECT_FALSE(IsBelowDev("./devices/x"));
  EXPECT_FALSE(IsBelowDev("./a/dev/null"));
}

TEST(RepresentableTest, DefaultAndEmptyMap) {
  IdMap m = DefaultMap();
  EXPECT_TRUE(UidRepresentable(m, 0));
  EXPECT_TRUE(UidRepresentable(m, 65535));
  EXPECT_FALSE(UidRepresentable(m, 65536));
  EXPECT_FALSE(UidRepresentable(m, 100042));
  EXPECT_FALSE(UidRepresentable(m, 4000000000));
  EXPECT_FALSE(UidRepresentable(m, -1));
  EXPECT_TRUE(GidRepresentable(m, 42));
  EXPECT_FALSE(GidRepresentable(m, 70000));
  IdMap privileged;
  EXPECT_TRUE(UidRepresentable(privileged, 4000000000));
  EXPECT_FALSE(UidRepresentable(privileged, 4294967295));
  EXPECT_FALSE(GidRepresentable(privileged, 1LL << 33));
}

std::string AclXattr(const std::vector<std::tuple<uint16_t, uint16_t, uint32_t>>& entries) {
  std::string v = {2, 0, 0, 0};
  for (auto [tag, perm, id] : entries) {
    v += static_cast<char>(tag & 0xff);
    v += static_cast<char>(tag >> 8);
    v += static_cast<char>(perm & 0xff);
    v += static_cast<char>(perm >> 8);
    for (int i = 0; i < 4; ++i) v += static_cast<char>((id >> (8 * i)) & 0xff);
  }
  return v;
}

// docs/restore.md: such entries go to 65534, never dropped.
TEST(FilterPosixAclXattrTest, UnrepresentableNamedEntriesGoToTheFallback) {
  const uint32_t kUndef = 0xffffffff;
  std::string in = AclXattr({{0x01, 6, kUndef},
                             {0x02, 4, 1000},
                             {0x02, 4, 100042},
                             {0x04, 4, kUndef},
                             {0x08, 4, 4000000000u},
                             {0x10, 6, kUndef},
                             {0x20, 4, kUndef}});
  int fell_back = 0;
  auto out = FilterPosixAclXattr(in, DefaultMap(), 65534, 65533, &fell_back);
  ASSERT_TRUE(out);
  EXPECT_EQ(fell_back, 2);
  EXPECT_EQ(*out, AclXattr({{0x01, 6, kUndef},
                            {0x02, 4, 1000},
                            {0x02, 4, 65534},
                            {0x04, 4, kUndef},
                            {0x08, 4, 65533},
                            {0x10, 6, kUndef},
                            {0x20, 4, kUndef}}));
  fell_back = 0;
  EXPECT_EQ(*FilterPosixAclXattr(in, IdMap(), 65534, 65534, &fell_back), in);
  EXPECT_EQ(fell_back, 0);
}

TEST(FilterPosixAclXattrTest, FallbackEntriesMergeAndStaySorted) {
  const uint32_t kUndef = 0xffffffff;
  // 65535 sorts after the fallback; 65534 is already named; two unmapped ids.
  std::string in = AclXattr({{0x01, 6, kUndef},
                             {0x02, 1, 65534},
                             {0x02, 4, 65535},
                             {0x02, 2, 70000},
                             {0x02, 4, 80000},
                             {0x04, 4, kUndef},
                             {0x10, 7, kUndef},
                             {0x20, 0, kUndef}});
  int fell_back = 0;
  auto out = FilterPosixAclXattr(in, DefaultMap(), 65534, 65534, &fell_back);
  ASSERT_TRUE(out);
  EXPECT_EQ(fell_back, 2);
  EXPECT_EQ(*out, AclXattr({{0x01, 6, kUndef},
                            {0x02, 7, 65534},
                            {0x02, 4, 65535},
                            {0x04, 4, kUndef},
                            {0x10, 7, kUndef},
                            {0x20, 0, kUndef}}));
}

TEST(FilterPosixAclXattrTest, Malformed) {
  int n = 0;
  EXPECT_FALSE(FilterPosixAclXattr("", DefaultMap(), 65534, 65534, &n));
  EXPECT_FALSE(FilterPosixAclXattr(std::string("\x01\0\0\0", 4), DefaultMap(), 65534, 65534, &n));
  EXPECT_FALSE(FilterPosixAclXattr(AclXattr({{1, 6, 0}}) + "x", DefaultMap(), 65534, 65534, &n));
  EXPECT_TRUE(FilterPosixAclXattr(AclXattr({}), DefaultMap(), 65534, 65534, &n));
}

TEST(IdDatabaseTest, ParsesPasswdAndGroupText) {
  IdDatabase db = ParseIdDatabase(
      "root:x:0:0:root:/root:/bin/bash\n"
      "alice:x:1000:1000::/home/alice:/bin/sh\n"
      "shadow:x:42:\n"
      "alice:x:2000:2000::/:/bin/sh\n"  // the first wins, as with getpwnam
      "broken\n"
      ":x:5:\n"
      "neg:x:-1:\n"
      "big:x:4294967296:\n"
      "nl:x:7");
  EXPECT_EQ(db, (IdDatabase{{"root", 0}, {"alice", 1000}, {"shadow", 42}, {"nl", 7}}));
  EXPECT_EQ(ResolveAclName("alice", db), 1000u);
  EXPECT_EQ(ResolveAclName("1234", db), 1234u);
  EXPECT_EQ(ResolveAclName("bob", db), std::nullopt);
  EXPECT_EQ(ResolveAclName("", db), std::nullopt);
}

TEST(UntrustedArchiveCheckTest, AcceptsRootfsLikeListing) {
  UntrustedArchiveCheck c("/x.tar");
  ASSERT_TRUE(c.Add("./", S_IFDIR, false).ok());
  ASSERT_TRUE(c.Add("./sbin", S_IFLNK, false).ok());
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(c.Add("./f" + std::to_string(i), S_IFREG, false).ok());
  EXPECT_TRUE(c.Finish().ok());
  EXPECT_EQ(c.members(), 10u);
}

TEST(UntrustedArchiveCheckTest, SbinKinds) {
  struct Case {
    const char* name;
    mode_t type;
    bool hardlink;
    bool counts;
  } cases[] = {
      {"sbin/", S_IFDIR, false, true},  {"./sbin", S_IFDIR, false, true},
      {"sbin", S_IFLNK, false, true},   {"sbin", S_IFREG, true, true},
      {"sbin", S_IFREG, false, false},  {"./usr/sbin", S_IFDIR, false, false},
      {"/sbin", S_IFDIR, false, false}, {"sbin/x", S_IFREG, false, false},
  };
  for (const auto& k : cases) {
    UntrustedArchiveCheck c("/x.tar");
    ASSERT_TRUE(c.Add(k.name, k.type, k.hardlink).ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(c.Add("f" + std::to_string(i), S_IFREG, false).ok());
    Status s = c.Finish();
    EXPECT_EQ(s.ok(), k.counts) << k.name;
    if (!k.counts) {
      EXPECT_EQ(s.message(), "no 'sbin' directory (or link) found in archive '/x.tar'");
    }
  }
}

TEST(UntrustedArchiveCheckTest, FewMembersAndMultiVolume) {
  UntrustedArchiveCheck c("/x.tar");
  ASSERT_TRUE(c.Add("./sbin/", S_IFDIR, false).ok());
  EXPECT_EQ(c.Finish().message(), "less than 10 members in archive '/x.tar'");
  Status mv = c.Add("big", 0, false);
  EXPECT_EQ(mv.message(), "found multi-volume member in archive");
}

TEST(ReportTest, RoundTripEscapes) {
  std::string text = "a\nb\\n c";
  std::string line = EncodeReport('U', text);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto r = DecodeReport(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, 'U');
  EXPECT_EQ(r->text, text);
  EXPECT_FALSE(DecodeReport("X foo"));
  EXPECT_FALSE(DecodeReport("W"));
  EXPECT_FALSE(DecodeReport("Wfoo"));
}

class RecordingObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    lines.emplace_back(message);
  }
  std::vector<std::string> lines;
};

TEST(ReportTest, CollectorSplitsChunksAndKeepsFirstExamples) {
  RecordingObserver obs;
  ReportCollector c(&obs);
  ExtractStats s;
  s.entries = 7;
  s.bytes = 12345;
  s.skipped_existing = 1;
  s.unmapped_ids = 12;
  std::string all = EncodeReport('W', "careful") + EncodeReport('E', "bad\nthing");
  for (int i = 0; i < 12; ++i) all += EncodeReport('U', "./u" + std::to_string(i));
  all += "some crash text\n" + EncodeStats(s);
  for (char ch : all) c.Feed(std::string_view(&ch, 1));  // byte by byte
  c.Finish();
  ASSERT_EQ(c.errors().size(), 1u);
  EXPECT_EQ(c.errors()[0], "bad\nthing");
  auto got = c.stats();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->entries, 7u);
  EXPECT_EQ(got->bytes, 12345u);
  EXPECT_EQ(got->skipped_existing, 1u);
  EXPECT_EQ(got->unmapped_ids, 12u);
  ASSERT_EQ(got->unmapped_examples.size(), kMaxUnmappedExamples);
  EXPECT_EQ(got->unmapped_examples[0], "./u0");
  EXPECT_EQ(obs.lines, (std::vector<std::string>{"careful", "extraction: some crash text"}));
}

TEST(ReportTest, ProgressLinesCountUntilTheStats) {
  RecordingObserver obs;
  ReportCollector c(&obs);
  EXPECT_EQ(c.entries(), 0u);
  c.Feed(EncodeReport('P', "10 2048"));
  EXPECT_EQ(c.entries(), 10u);
  EXPECT_EQ(c.bytes(), 2048u);
  c.Feed(EncodeReport('P', "garbage"));  // dropped, no warning, no failure
  EXPECT_EQ(c.entries(), 10u);
  ExtractStats s;
  s.entries = 12;
  s.bytes = 4096;
  c.Feed(EncodeStats(s));
  c.Finish();
  EXPECT_EQ(c.entries(), 12u);
  EXPECT_EQ(c.bytes(), 4096u);
  EXPECT_TRUE(obs.lines.empty());
  EXPECT_TRUE(c.errors().empty());
}

TEST(ReportTest, WarningsAreCapped) {
  RecordingObserver obs;
  ReportCollector c(&obs);
  for (size_t i = 0; i < kMaxLoggedWarnings + 5; ++i) c.Feed(EncodeReport('W', "w"));
  c.Finish();
  EXPECT_EQ(obs.lines.size(), kMaxLoggedWarnings + 1);
  EXPECT_EQ(obs.lines.back(), "5 more extraction warnings not shown");
  EXPECT_FALSE(c.stats());
}

TEST(ReportTest, ChildStatus) {
  auto exited = [](int code) { return code << 8; };  // W_EXITCODE(code, 0)
  EXPECT_TRUE(ChildStatus(exited(0), {}, "'/a.tar'").ok());
  Status died = ChildStatus(SIGKILL, {}, "'/a.tar'");
  EXPECT_EQ(died.code(), Code::kIOError);
  EXPECT_NE(died.message().find("'/a.tar'"), std::string::npos);
  EXPECT_NE(died.message().find("killed by signal 9"), std::string::npos) << died.message();
  Status nonzero = ChildStatus(exited(1), {}, "'/a.tar'");
  EXPECT_NE(nonzero.message().find("exited with code 1"), std::string::npos);
  Status refused = ChildStatus(exited(kExitRefused), {"refusing x", "y"}, "'/a.tar'");
  EXPECT_EQ(refused.code(), Code::kInvalidArgument);
  EXPECT_EQ(refused.message(), "refusing x (and 1 more errors)");
  EXPECT_EQ(ChildStatus(exited(kExitCorrupt), {"trunc"}, "x").code(), Code::kDataLoss);
  // libarchive's exit(1) on a failed allocation, under the memory limit.
  Status oom =
      ChildStatus(exited(1), {}, "'/a.tar'", "Fatal Internal Error in libarchive: Out of memory");
  EXPECT_EQ(oom.message(),
            "extracting '/a.tar' failed: the extraction process exited with code 1 after 'Fatal "
            "Internal Error in libarchive: Out of memory' (the extraction's memory is limited; a "
            "crafted or damaged archive?)");
}

TEST(ReportTest, LinesWithoutNewlineCannotGrowWithoutBound) {
  RecordingObserver obs;
  ReportCollector c(&obs);
  std::string junk(1 << 20, 'j');
  for (int i = 0; i < 64; ++i) c.Feed(junk);  // 64 MiB, no newline
  c.Feed("\n" + EncodeReport('W', "after"));
  c.Finish();
  ASSERT_EQ(obs.lines.size(), 2u);
  EXPECT_EQ(obs.lines[0].size(), std::string("extraction: ").size() + kMaxReportLine);
  EXPECT_EQ(c.last_other().size(), kMaxReportLine);
  EXPECT_EQ(obs.lines[1], "after");
}

}  // namespace
}  // namespace ctdump::extract
