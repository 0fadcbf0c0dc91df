// Unit tests (label unit): trees in a temp dir, archived and read back by GNU
// tar (+ zstd) and libarchive. Tests that need root (devices, foreign
// owners, capabilities) are in tree_writer_privileges_test.cc.
#include "archive/tree_writer_test_fixture.h"

namespace ctdump::archive {
namespace {

TEST(CompressionTest, ParseAndSuffix) {
  EXPECT_EQ(*ParseCompression("zstd"), Compression::kZstd);
  EXPECT_EQ(*ParseCompression("gzip"), Compression::kGzip);
  EXPECT_EQ(*ParseCompression("none"), Compression::kNone);
  EXPECT_EQ(*ParseCompression("0"), Compression::kNone);  // vzdump's "no compression"
  auto bzip2 = ParseCompression("bzip2");                 // vzdump does not write it either
  ASSERT_FALSE(bzip2.ok());
  EXPECT_THAT(bzip2.status().message(), HasSubstr("'bzip2'"));
  EXPECT_STREQ(ArchiveSuffix(Compression::kZstd), ".tar.zst");
  EXPECT_STREQ(ArchiveSuffix(Compression::kGzip), ".tar.gz");
  EXPECT_STREQ(ArchiveSuffix(Compression::kNone), ".tar");
}

TEST_F(TreeWriterTest, GnuTarListsEveryMemberWithoutWarnings) {
  MakeRichTree();
  auto st = Write(TreeWriterOptions());
  ASSERT_TRUE(st.ok()) << st.status().message();
  std::string me = fmt::format("{}/{}", ::getuid(), ::getgid());
  std::vector<std::string> want = {
      "drwxr-xr-x " + me + " ./",
      "lrwxrwxrwx " + me + " ./dangling -> /nonexistent/target",
      // The file's mode (0664: the ACL mask rw- is its group bits), as GNU
      // tar stores it, not the ACL's group:: entry (r--).
      "-rw-rw-r--+ " + me + " ./data.bin",
      "drwxr-xr-x " + me + " ./" + std::string(120, 'd') + "/",
      "-rw-r--r-- " + me + " ./" + std::string(120, 'd') + "/" + std::string(150, 'f'),
      "-rw-r--r-- " + me + " ./empty",
      "drwx------ " + me + " ./emptydir/",
      "drwxr-xr-x " + me + " ./etc/",
      "-rw-r--r--* " + me + " ./etc/hosts",
      "prw-r----- " + me + " ./fifo",
      "-rw-r--r-- " + me + " ./hl1",
      "lrwxrwxrwx " + me + " ./link -> etc/hosts",
      "-rwsr-xr-x " + me + " ./setuid",
      "drwxrwsr-x " + me + " ./sgid/",
      "-rw-r--r-- " + me + " ./sparse",
      "drwxr-xr-x+ " + me + " ./sub/",
      "hrw-r--r-- " + me + " ./sub/hl2 link to ./hl1",
      "hrw-r--r-- " + me + " ./sub/hl3 link to ./hl1",
      "drwxrwxrwt " + me + " ./tmp/",
      "-rw-r--r-- " + me + " ./utf8-\\303\\244",
  };
  EXPECT_EQ(TarList(), want);  // sorted, the socket left out, no "tar:" lines
}

TEST_F(TreeWriterTest, GnuTarExtractsAnIdenticalTree) {
  MakeRichTree();
  auto st = Write(TreeWriterOptions());
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_TRUE(observer_.warnings.empty());
  ExpectSameTree(Extract());
  ExpectSameTree(Extract("zstd-pipe"));
}

// Pre-1970 times with a fraction, xattr names with a space, '%' and '=',
// and the mode of a file with an ACL mask come out of GNU tar as they were.
TEST_F(TreeWriterTest, GnuTarGetsPreEpochTimesXattrNamesAndAclModes) {
  WriteFile(P("early"), "e");
  SetMtime(P("early"), -1, 250000000);  // -0.75 s
  WriteFile(P("y1950"), "y");
  SetMtime(P("y1950"), -631151999 - 1, 750000000);  // 1950-01-01 00:00:00.75
  WriteFile(P("names"), "n");
  for (const char* name : {"user.name with space", "user.pct%41", "user.eq=x"})
    ASSERT_EQ(::lsetxattr(P("names").c_str(), name, "v", 1, 0), 0) << name;
  WriteFile(P("masked"), "m", 0644);
  Sh("setfacl -m g:2345:rw " + Quote(P("masked")));
  struct stat st;
  ASSERT_EQ(::lstat(P("masked").c_str(), &st), 0);
  ASSERT_EQ(st.st_mode & 07777, 0664u);
  auto w = Write(TreeWriterOptions());
  ASSERT_TRUE(w.ok()) << w.status().message();

  std::string dest = base_ + "/gnu";
  ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
  std::string out = Sh("tar --numeric-owner -p --xattrs --xattrs-include='user.*' --acls -xf " +
                       Quote(archive_) + " -C " + Quote(dest) + " 2>&1");
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    EXPECT_NE(line.find("implausibly old time stamp"), std::string::npos) << line;
  for (const char* f : {"early", "y1950"}) {
    struct stat want, got;
    ASSERT_EQ(::lstat(P(f).c_str(), &want), 0);
    ASSERT_EQ(::lstat((dest + "/" + f).c_str(), &got), 0) << f;
    EXPECT_EQ(got.st_mtim.tv_sec, want.st_mtim.tv_sec) << f;
    EXPECT_EQ(got.st_mtim.tv_nsec, want.st_mtim.tv_nsec) << f;
  }
  char list[1024];
  ssize_t n = ::llistxattr((dest + "/names").c_str(), list, sizeof(list));
  ASSERT_GT(n, 0);
  std::set<std::string> names;
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(std::strlen(list + i)) + 1)
    names.insert(list + i);
  EXPECT_EQ(names, (std::set<std::string>{"user.eq=x", "user.name with space", "user.pct%41"}));
  // Without --acls (a reader without ACL support) the header mode counts.
  std::string plain = base_ + "/plain";
  ASSERT_EQ(::mkdir(plain.c_str(), 0755), 0);
  Sh("tar -p -xf " + Quote(archive_) + " -C " + Quote(plain) + " ./masked 2>&1");
  ASSERT_EQ(::lstat((plain + "/masked").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0664u);
  EXPECT_EQ(Sh("getfacl -cp " + Quote(dest + "/masked")), Sh("getfacl -cp " + Quote(P("masked"))));
}

TEST_F(TreeWriterTest, EveryCompressionExtracts) {
  MakeRichTree();
  struct Case {
    Compression c;
    std::string magic;
    size_t offset;
  } cases[] = {{Compression::kZstd, "\x28\xb5\x2f\xfd", 0},
               {Compression::kGzip, "\x1f\x8b", 0},
               {Compression::kNone, "ustar", 257}};
  for (const auto& c : cases) {
    SCOPED_TRACE(ArchiveSuffix(c.c));
    TreeWriterOptions o;
    o.compression = c.c;
    auto st = Write(o);
    ASSERT_TRUE(st.ok()) << st.status().message();
    std::string data = ReadAll(archive_);
    EXPECT_EQ(data.substr(c.offset, c.magic.size()), c.magic);
    EXPECT_EQ(st->archive_bytes, data.size());
    ExpectSameTree(Extract());
  }
}

TEST_F(TreeWriterTest, ZstdThreadsAndLevels) {
  MakeRichTree();
  for (int threads : {0, 1, 2}) {
    TreeWriterOptions o;
    o.zstd_threads = threads;
    o.zstd_level = threads == 2 ? 19 : 1;
    auto st = Write(o);
    ASSERT_TRUE(st.ok()) << st.status().message();
    ExpectSameTree(Extract("zstd-pipe"));
  }
}

TEST_F(TreeWriterTest, LibarchiveReadsTheMetadata) {
  MakeRichTree();
  ASSERT_TRUE(Write(TreeWriterOptions()).ok());
  std::map<std::string, MemberInfo> m;
  for (auto& [name, info] : ReadWithLibarchive(archive_)) m[name] = info;
  EXPECT_EQ(m["./setuid"].mode, 04755u);
  EXPECT_EQ(m["./sgid/"].mode, 02775u);
  EXPECT_EQ(m["./tmp/"].mode, 01777u);
  EXPECT_EQ(m["./fifo"].type, static_cast<unsigned>(AE_IFIFO));
  EXPECT_EQ(m["./link"].symlink, "etc/hosts");
  EXPECT_EQ(m["./sub/hl2"].hardlink, "./hl1");
  EXPECT_EQ(m["./sub/hl2"].size, 0);
  EXPECT_EQ(m["./hl1"].data, "hardlinked\n");
  EXPECT_EQ(m["./etc/hosts"].xattrs,
            (std::map<std::string, std::string>{{"user.test", std::string("value\0bin", 9)}}));
  EXPECT_EQ(m["./sub/"].xattrs.count("user.dir"), 1u);
  EXPECT_THAT(m["./data.bin"].acl, HasSubstr("user:1234:r--"));
  EXPECT_THAT(m["./data.bin"].acl, HasSubstr("group:2345:rw-"));
  EXPECT_THAT(m["./sub/"].acl, HasSubstr("default:user:1234:r-x"));
  EXPECT_GE(m["./sparse"].sparse_regions, 2);
  EXPECT_EQ(m["./sparse"].size, 64 << 20);
  EXPECT_EQ(m["./etc/hosts"].uid, static_cast<int64_t>(::getuid()));
  EXPECT_EQ(m.count("./sock"), 0u);
}

TEST_F(TreeWriterTest, SparseFileKeepsItsHoles) {
  MakeSparse(P("sparse"));
  MakeSparse(P("sparse2"));
  TreeWriterOptions o;
  o.compression = Compression::kNone;  // the archive itself shows the holes
  auto st = Write(o);
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_LT(st->archive_bytes, 256u * 1024);
  EXPECT_LT(st->file_bytes, 256u * 1024);  // holes are not read
  std::string dest = Extract();
  struct stat s;
  ASSERT_EQ(::stat((dest + "/sparse").c_str(), &s), 0);
  EXPECT_EQ(s.st_size, 64 << 20);
  EXPECT_LT(s.st_blocks * 512, 1 << 20);
  int fd = ::open((dest + "/sparse").c_str(), O_RDONLY);
  char c[2] = {};
  EXPECT_EQ(::pread(fd, c, 1, 1 << 20), 1);
  EXPECT_EQ(c[0], 'x');
  EXPECT_EQ(::pread(fd, c, 2, 10 << 20), 2);
  EXPECT_EQ(std::string(c, 2), "yy");
  ::close(fd);
  ExpectSameTree(dest);
}

// A 1 TiB file that is all hole and a 1 TiB file with data in the middle
// and at the end are archived without reading or feeding their holes
// byte by byte; written zeros stay data. GNU tar restores both with holes.
TEST_F(TreeWriterTest, HugeSparseFilesAreFastAndWrittenZerosStayData) {
  constexpr off_t kTiB = off_t{1} << 40;
  WriteFile(P("allhole"), "");
  ASSERT_EQ(::truncate(P("allhole").c_str(), kTiB), 0);
  WriteFile(P("tail"), "");
  {
    sys::UniqueFd fd(::open(P("tail").c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_EQ(::pwrite(fd.get(), "mid", 3, kTiB / 2), 3);
    ASSERT_EQ(::pwrite(fd.get(), "end", 3, kTiB - 3), 3);
    ASSERT_EQ(::fsync(fd.get()), 0);
  }
  WriteFile(P("zeros"), std::string(1 << 20, '\0'));
  Sh("sync " + Quote(P("zeros")));
  TreeWriterOptions o;
  o.compression = Compression::kNone;
  auto start = std::chrono::steady_clock::now();
  auto st = Write(o);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_LT(seconds, 5.0);
  EXPECT_LT(st->archive_bytes, (1u << 20) + 256u * 1024);  // the zeros file is stored whole
  EXPECT_GE(st->archive_bytes, 1u << 20);
  std::string listing = Sh("tar -tvf " + Quote(archive_));
  EXPECT_NE(listing.find(" 1099511627776 "), std::string::npos) << listing;

  std::string dest = base_ + "/sparse-dest";
  ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
  Sh("tar --sparse -xpf " + Quote(archive_) + " -C " + Quote(dest) + " ./allhole ./tail ./zeros");
  struct stat s;
  ASSERT_EQ(::stat((dest + "/allhole").c_str(), &s), 0);
  EXPECT_EQ(s.st_size, kTiB);
  EXPECT_EQ(s.st_blocks, 0);
  ASSERT_EQ(::stat((dest + "/tail").c_str(), &s), 0);
  EXPECT_EQ(s.st_size, kTiB);
  EXPECT_LT(s.st_blocks * 512, 1 << 20);
  sys::UniqueFd fd(::open((dest + "/tail").c_str(), O_RDONLY | O_CLOEXEC));
  char buf[3];
  ASSERT_EQ(::pread(fd.get(), buf, 3, kTiB / 2), 3);
  EXPECT_EQ(std::string(buf, 3), "mid");
  ASSERT_EQ(::pread(fd.get(), buf, 3, kTiB - 3), 3);
  EXPECT_EQ(std::string(buf, 3), "end");
  ASSERT_EQ(::stat((dest + "/zeros").c_str(), &s), 0);
  EXPECT_EQ(s.st_size, 1 << 20);
  EXPECT_GE(s.st_blocks * 512, 1 << 20);  // data, not a hole
}

TEST_F(TreeWriterTest, PrefixFilesComeFirstOwnedByUid0) {
  WriteFile(P("a"), "a\n");
  TreeWriterOptions o;
  o.prefix_files = {{"./etc/vzdump/pct.conf", "arch: amd64\nhostname: ct1\n"},
                    {"./etc/vzdump/pct.fw", ""}};
  auto st = Write(o);
  ASSERT_TRUE(st.ok()) << st.status().message();
  auto members = ReadWithLibarchive(archive_);
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0].first, "./etc/vzdump/pct.conf");
  EXPECT_EQ(members[0].second.data, "arch: amd64\nhostname: ct1\n");
  EXPECT_EQ(members[0].second.mode, 0644u);
  EXPECT_EQ(members[0].second.uid, 0);
  EXPECT_EQ(members[0].second.gid, 0);
  EXPECT_EQ(members[1].first, "./etc/vzdump/pct.fw");
  EXPECT_EQ(members[1].second.size, 0);
  EXPECT_EQ(members[2].first, "./");
  EXPECT_EQ(members[3].first, "./a");
  EXPECT_EQ(st->entries, 4u);
  std::string dest = Extract();
  EXPECT_EQ(ReadAll(dest + "/etc/vzdump/pct.conf"), "arch: amd64\nhostname: ct1\n");
}

TEST_F(TreeWriterTest, Exclusions) {
  for (const char* d : {"etc", "var", "var/cache", "var/log", "srv", "srv/cache", "tmp"})
    ASSERT_EQ(::mkdir(P(d).c_str(), 0755), 0);
  for (const char* f : {"etc/hosts", "etc/hostname", "etc/passwd", "var/cache/x", "var/log/syslog",
                        "srv/cache/y", "srv/file.bak", "cache", "tmp/t1", "var/foo", "var/foobar"})
    WriteFile(P(f), "x");
  struct Case {
    std::vector<std::string> patterns;
    std::set<std::string> gone;  // everything else stays
  } cases[] = {
      {{"/etc/host*"}, {"./etc/hosts", "./etc/hostname"}},
      {{"cache/"}, {"./var/cache/", "./var/cache/x", "./srv/cache/", "./srv/cache/y"}},
      {{"cache"}, {"./var/cache/", "./var/cache/x", "./srv/cache/", "./srv/cache/y", "./cache"}},
      {{"/var/foo*"}, {"./var/foo", "./var/foobar"}},
      {{"*.bak", "/var/log"}, {"./srv/file.bak", "./var/log/", "./var/log/syslog"}},
      {{"/tmp/?*"}, {"./tmp/t1"}},
      {{"/srv/**/y"}, {"./srv/cache/y"}},
  };
  ASSERT_TRUE(Write(TreeWriterOptions()).ok());
  std::vector<std::string> all = Members();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.patterns[0]);
    TreeWriterOptions o;
    o.exclude_patterns = c.patterns;
    ASSERT_TRUE(Write(o).ok());
    std::vector<std::string> want;
    for (const auto& n : all)
      if (!c.gone.count(n)) want.push_back(n);
    EXPECT_EQ(Members(), want);
  }
}

TEST_F(TreeWriterTest, BadExcludePatternFails) {
  TreeWriterOptions o;
  o.exclude_patterns = {"[abc"};
  auto st = Write(o);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Code::kInvalidArgument);
}

TEST_F(TreeWriterTest, LostAndFoundIsSkippedWhenAsked) {
  ASSERT_EQ(::mkdir(P("lost+found").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(P("mnt").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("mnt/lost+found").c_str(), 0700), 0);
  WriteFile(P("mnt/lost+found/x"), "x");
  WriteFile(P("lost+found.txt"), "kept");
  ASSERT_TRUE(Write(TreeWriterOptions()).ok());
  EXPECT_TRUE(HasMember("./mnt/lost+found/x"));
  TreeWriterOptions o;
  o.skip_lost_and_found = true;
  ASSERT_TRUE(Write(o).ok());
  EXPECT_EQ(Members(), (std::vector<std::string>{"./", "./lost+found.txt", "./mnt/"}));
}

TEST_F(TreeWriterTest, SourcesAreWalkedSeparatelyAndOnce) {
  ASSERT_EQ(::mkdir(P("mnt").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("mnt/data").c_str(), 0755), 0);
  WriteFile(P("mnt/data/d"), "d");
  WriteFile(P("z"), "z");
  ASSERT_TRUE(Write(TreeWriterOptions(), {"./", "./mnt/data/"}).ok());
  EXPECT_EQ(Members(),
            (std::vector<std::string>{"./", "./mnt/", "./z", "./mnt/data/", "./mnt/data/d"}));
  ASSERT_TRUE(Write(TreeWriterOptions(), {"."}).ok());  // suspend mode's single source
  EXPECT_EQ(Members(),
            (std::vector<std::string>{"./", "./mnt/", "./mnt/data/", "./mnt/data/d", "./z"}));
  TreeWriterOptions o;
  o.exclude_patterns = {"/mnt/data"};
  ASSERT_TRUE(Write(o, {"./", "./mnt/data"}).ok());
  EXPECT_EQ(Members(), (std::vector<std::string>{"./", "./mnt/", "./z"}));
}

TEST_F(TreeWriterTest, InvalidSourcesAndMissingDirectory) {
  for (const char* s : {"../etc", "/etc", "./a/../b", "etc"}) {
    auto st = Write(TreeWriterOptions(), {s});
    ASSERT_FALSE(st.ok()) << s;
    EXPECT_EQ(st.status().code(), Code::kInvalidArgument) << s;
  }
  auto st = Write(TreeWriterOptions(), {"./missing"});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), Code::kNotFound);
  EXPECT_THAT(st.status().message(), HasSubstr(src_ + "/missing"));
}

TEST_F(TreeWriterTest, WriteErrorNamesTheCause) {
  WriteFile(P("f"), std::string(1 << 20, 'x'));
  sys::UniqueFd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(full.valid());
  TreeWriterOptions o;
  o.compression = Compression::kNone;
  auto st = WriteTree(src_, {"./"}, o, full.get(), &observer_);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().message(), HasSubstr("No space left on device"));
}

TEST_F(TreeWriterTest, HardlinkWhoseFirstNameIsExcludedKeepsItsData) {
  WriteFile(P("a"), "shared");
  ASSERT_EQ(::link(P("a").c_str(), P("b").c_str()), 0);
  TreeWriterOptions o;
  o.exclude_patterns = {"/a"};
  ASSERT_TRUE(Write(o).ok());
  auto members = ReadWithLibarchive(archive_);
  ASSERT_EQ(members.size(), 2u);
  EXPECT_EQ(members[1].first, "./b");
  EXPECT_EQ(members[1].second.hardlink, "");
  EXPECT_EQ(members[1].second.data, "shared");
}

TEST_F(TreeWriterTest, StatsAndProgress) {
  WriteFile(P("a"), std::string(5000, 'a'));
  WriteFile(P("b"), std::string(7000, 'b'));
  auto st = Write(TreeWriterOptions());
  ASSERT_TRUE(st.ok()) << st.status().message();
  EXPECT_EQ(st->entries, 3u);
  EXPECT_EQ(st->file_bytes, 12000u);
  EXPECT_EQ(st->archive_bytes, ReadAll(archive_).size());
  EXPECT_EQ(st->unreadable, 0u);
  EXPECT_GE(observer_.progress_calls, 1);
  EXPECT_EQ(observer_.last.bytes, 12000u);
  EXPECT_EQ(observer_.last.files, 3u);
  // The walk is sorted: the last entry written is "b".
  EXPECT_EQ(observer_.last.current, "/b");
}

TEST_F(TreeWriterTest, BandwidthLimitSlowsTheTarStream) {
  std::string data(3 << 20, 'z');  // compresses to nothing: the limit is on tar bytes
  WriteFile(P("big"), data);
  TreeWriterOptions o;
  o.bwlimit = 1 << 20;  // 1 MiB/s with a one-second burst: >= 2 s
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Write(o).ok());
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(secs, 1.8);
}

TEST_F(TreeWriterTest, NonUtf8NameSurvivesGnuTarWithAWarning) {
  std::string name = "bad\xff\xfe name";
  WriteFile(P(name), "latin1\n");
  ASSERT_TRUE(Write(TreeWriterOptions()).ok());
  EXPECT_TRUE(HasMember("./" + name));
  // libarchive marks the header "hdrcharset=BINARY"; GNU tar ignores the
  // keyword (with this warning) and keeps the raw bytes.
  std::string dest = Extract("", "tar: Ignoring unknown extended header keyword 'hdrcharset'\n");
  EXPECT_EQ(ReadAll(dest + "/" + name), "latin1\n");
}
}  // namespace
}  // namespace ctdump::archive
