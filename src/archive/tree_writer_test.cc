// Unit tests (label unit): trees in a temp dir, archived and read back by GNU
// tar (+ zstd) and libarchive. Tests that need root (devices, foreign
// owners, capabilities) skip without it; a few run as "nobody" when root.
#include "archive/tree_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sys/file.h"
#include "sys/subprocess.h"
#include "sys/unique_fd.h"

namespace ctdump::archive {
namespace {

using ::testing::HasSubstr;

class RecordingObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    if (level == LogLevel::kWarn) warnings.emplace_back(message);
  }
  void OnProgress(const ctdump::Progress& p) noexcept override {
    ++progress_calls;
    last = p;
  }
  std::vector<std::string> warnings;
  int progress_calls = 0;
  ctdump::Progress last;
};

// Runs a shell command; returns its merged stdout+stderr. Fails the test on
// a non-zero exit.
std::string Sh(const std::string& cmd) {
  sys::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", cmd};
  auto r = sys::RunCommand(o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return "";
  EXPECT_TRUE(sys::ExitedOk(r->wait_status))
      << cmd << ": " << sys::DescribeWaitStatus(r->wait_status) << "\n"
      << r->output;
  return r->output;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

std::string ReadAll(const std::string& path) {
  auto r = sys::ReadFile(path);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : "";
}

void SetMtime(const std::string& path, time_t sec, long nsec) {
  struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

std::string Hex(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

std::string GetXattr(const std::string& path, const char* name) {
  char buf[4096];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// One line per entry: everything tar must keep (not atime/ctime).
std::string Describe(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return "missing";
  std::string d = fmt::format("mode={:o} owner={}:{} mtime={}.{:09}", st.st_mode, st.st_uid,
                              st.st_gid, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  if (S_ISREG(st.st_mode)) {
    d += fmt::format(" size={} nlink={}", st.st_size, st.st_nlink);
    if (st.st_size < (1 << 20))
      d += " data=" + std::to_string(std::hash<std::string>()(ReadAll(path)));
    if (st.st_blocks * 512 < st.st_size / 2) d += " sparse";
  }
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
    d += " -> " + std::string(buf, n > 0 ? n : 0);
  }
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
    d += fmt::format(" rdev={}:{}", major(st.st_rdev), minor(st.st_rdev));
  if (!S_ISLNK(st.st_mode)) {
    for (const char* x : {"user.test", "user.dir", "security.capability", "system.posix_acl_access",
                          "system.posix_acl_default"}) {
      std::string v = GetXattr(path, x);
      if (!v.empty()) d += fmt::format(" {}={}", x, Hex(v));
    }
  }
  return d;
}

// Every entry below `root` (sockets left out: tar skips them).
std::map<std::string, std::string> Snapshot(const std::string& root, const std::string& rel = "") {
  std::map<std::string, std::string> out;
  std::string path = rel.empty() ? root : root + "/" + rel;
  out[rel.empty() ? "." : rel] = Describe(path);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return out;
  std::vector<std::string> names;
  if (DIR* d = ::opendir(path.c_str())) {
    while (struct dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
    ::closedir(d);
  }
  for (const auto& n : names) {
    std::string child = rel.empty() ? n : rel + "/" + n;
    struct stat cst;
    if (::lstat((root + "/" + child).c_str(), &cst) == 0 && S_ISSOCK(cst.st_mode)) continue;
    out.merge(Snapshot(root, child));
  }
  return out;
}

struct MemberInfo {
  unsigned type = 0;
  unsigned mode = 0;
  int64_t uid = -1, gid = -1, size = 0;
  std::string hardlink, symlink, acl;
  std::map<std::string, std::string> xattrs;
  int sparse_regions = 0;
  std::string data;  // first 4 KiB
};

// Reads an archive back with libarchive, in member order.
std::vector<std::pair<std::string, MemberInfo>> ReadWithLibarchive(const std::string& path) {
  std::vector<std::pair<std::string, MemberInfo>> out;
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 65536), ARCHIVE_OK)
      << archive_error_string(a);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    MemberInfo m;
    m.type = archive_entry_filetype(e);
    m.mode = archive_entry_perm(e);
    m.uid = archive_entry_uid(e);
    m.gid = archive_entry_gid(e);
    m.size = archive_entry_size(e);
    if (auto* h = archive_entry_hardlink(e)) m.hardlink = h;
    if (auto* s = archive_entry_symlink(e)) m.symlink = s;
    if (auto* t = archive_entry_acl_to_text(e, nullptr, ARCHIVE_ENTRY_ACL_STYLE_EXTRA_ID))
      m.acl = t;
    archive_entry_xattr_reset(e);
    const char* name;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
      m.xattrs[name] = std::string(static_cast<const char*>(value), size);
    m.sparse_regions = archive_entry_sparse_count(e);
    char buf[4096];
    la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
    if (n > 0) m.data.assign(buf, static_cast<size_t>(n));
    out.emplace_back(archive_entry_pathname(e), m);
  }
  archive_read_free(a);
  return out;
}

class TreeWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/ctdump-archive-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    ASSERT_EQ(::chmod(base_.c_str(), 0755), 0);
    src_ = base_ + "/src";
    ASSERT_EQ(::mkdir(src_.c_str(), 0755), 0);
  }
  void TearDown() override {
    if (!base_.empty()) {
      Sh("chmod -R u+rwx " + Quote(base_) + " 2>/dev/null; true");
      EXPECT_TRUE(sys::RemoveTree(base_).ok());
    }
  }

  std::string P(const std::string& rel) const { return src_ + "/" + rel; }

  // A tree with every kind of entry a non-root user can make.
  void MakeRichTree() {
    ASSERT_EQ(::mkdir(P("etc").c_str(), 0755), 0);
    WriteFile(P("etc/hosts"), "127.0.0.1 localhost\n");
    std::string big;
    for (uint32_t i = 0; i < 300000; ++i) big += static_cast<char>('a' + (i * 7919u) % 26);
    WriteFile(P("data.bin"), big);
    WriteFile(P("setuid"), "#!/bin/sh\n", 04755);
    WriteFile(P("empty"), "");
    ASSERT_EQ(::mkdir(P("sgid").c_str(), 02775), 0);
    ASSERT_EQ(::chmod(P("sgid").c_str(), 02775), 0);
    ASSERT_EQ(::mkdir(P("tmp").c_str(), 01777), 0);
    ASSERT_EQ(::chmod(P("tmp").c_str(), 01777), 0);
    ASSERT_EQ(::mkdir(P("emptydir").c_str(), 0700), 0);
    ASSERT_EQ(::symlink("etc/hosts", P("link").c_str()), 0);
    ASSERT_EQ(::symlink("/nonexistent/target", P("dangling").c_str()), 0);
    ASSERT_EQ(::mkdir(P("sub").c_str(), 0755), 0);
    WriteFile(P("hl1"), "hardlinked\n");
    ASSERT_EQ(::link(P("hl1").c_str(), P("sub/hl2").c_str()), 0);
    ASSERT_EQ(::link(P("hl1").c_str(), P("sub/hl3").c_str()), 0);
    ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0640), 0);
    MakeSocket(P("sock"));
    MakeSparse(P("sparse"));
    ASSERT_EQ(::setxattr(P("etc/hosts").c_str(), "user.test", "value\0bin", 9, 0), 0);
    ASSERT_EQ(::setxattr(P("sub").c_str(), "user.dir", "d", 1, 0), 0);
    Sh("setfacl -m u:1234:r,g:2345:rw " + Quote(P("data.bin")));
    Sh("setfacl -d -m u:1234:rx " + Quote(P("sub")));
    std::string longdir = P(std::string(120, 'd'));
    ASSERT_EQ(::mkdir(longdir.c_str(), 0755), 0);
    WriteFile(longdir + "/" + std::string(150, 'f'), "long\n");
    WriteFile(P("utf8-\xc3\xa4"), "umlaut\n");
    SetMtime(P("etc/hosts"), 1600000000, 123456789);
    SetMtime(P("link"), 1500000000, 0);
  }

  void MakeSocket(const std::string& path) {
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(s, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(path.size(), sizeof(addr.sun_path));
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::close(s);
  }

  // 64 MiB with data at 1 MiB and 10 MiB; ends in a hole.
  void MakeSparse(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);
    ASSERT_EQ(::pwrite(fd, "x", 1, 1 << 20), 1);
    ASSERT_EQ(::pwrite(fd, "yy", 2, 10 << 20), 2);
    ::fsync(fd);
    ::close(fd);
  }

  // Writes the archive of `sources` to <base>/out<suffix>.
  Result<TreeStats> Write(const TreeWriterOptions& o, std::vector<std::string> sources = {"./"}) {
    archive_ = base_ + "/out" + ArchiveSuffix(o.compression);
    sys::UniqueFd fd(::open(archive_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    EXPECT_TRUE(fd.valid());
    return WriteTree(src_, sources, o, fd.get(), &observer_);
  }

  // GNU tar's verbose listing, "<mode> <owner> <name>" per member, and
  // nothing else (a warning would show up as an extra line).
  std::vector<std::string> TarList() {
    // A fixed locale and quoting: CI runs without LANG, where tar escapes
    // non-ASCII bytes.
    std::string out = Sh("LC_ALL=C tar --quoting-style=escape --numeric-owner --xattrs --acls -tvf " +
                         Quote(archive_) + " 2>&1");
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      std::string mode, owner, size, date, time, name;
      f >> mode >> owner >> size >> date >> time;
      std::getline(f, name);
      lines.push_back(mode + " " + owner + " " + name.substr(1));
    }
    return lines;
  }

  // Extracts with GNU tar as vzdump's restore does; returns the directory.
  // Any output (a warning) fails the test unless `expected_output` says so.
  std::string Extract(const std::string& how = "", const std::string& expected_output = "") {
    std::string dest = base_ + "/dest" + std::to_string(++extractions_);
    EXPECT_EQ(::mkdir(dest.c_str(), 0755), 0);
    std::string flags =
        "--numeric-owner -p --xattrs --xattrs-include='user.*' "
        "--xattrs-include=security.capability --acls";
    std::string cmd =
        how == "zstd-pipe"
            ? "zstd -dc " + Quote(archive_) + " | tar " + flags + " -xf - -C " + Quote(dest)
            : "tar " + flags + " -xf " + Quote(archive_) + " -C " + Quote(dest);
    EXPECT_EQ(Sh(cmd + " 2>&1"), expected_output);
    return dest;
  }

  // Member names in archive order (libarchive).
  std::vector<std::string> Members() {
    std::vector<std::string> names;
    for (const auto& [name, info] : ReadWithLibarchive(archive_)) names.push_back(name);
    return names;
  }

  bool HasMember(const std::string& name) {
    auto m = Members();
    return std::find(m.begin(), m.end(), name) != m.end();
  }

  // The extracted tree equals the source, apart from `ignore`d entries.
  void ExpectSameTree(const std::string& dest, const std::set<std::string>& ignore = {}) {
    auto want = Snapshot(src_), got = Snapshot(dest);
    for (const auto& n : ignore) want.erase(n), got.erase(n);
    EXPECT_EQ(want, got);
  }

  std::string base_, src_, archive_;
  int extractions_ = 0;
  RecordingObserver observer_;
};

TEST(CompressionTest, ParseAndSuffix) {
  EXPECT_EQ(*ParseCompression("zstd"), Compression::kZstd);
  EXPECT_EQ(*ParseCompression("gzip"), Compression::kGzip);
  EXPECT_EQ(*ParseCompression("none"), Compression::kNone);
  EXPECT_EQ(*ParseCompression("0"), Compression::kNone);  // vzdump's "no compression"
  auto bzip2 = ParseCompression("bzip2");  // vzdump does not write it either
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
  EXPECT_EQ(Sh("getfacl -cp " + Quote(dest + "/masked")),
            Sh("getfacl -cp " + Quote(P("masked"))));
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

// Runs WriteTree as "nobody" when we are root (root reads everything), so
// permission checks apply. Returns the warnings and the unreadable count.
struct Unprivileged {
  bool ok = false;
  std::string text;  // warnings, one per line, or the error
  uint64_t unreadable = 0;
};

Unprivileged WriteAsNobody(const std::string& dir, const std::string& out) {
  int pipe_fds[2];
  EXPECT_EQ(::pipe(pipe_fds), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
         ::setresuid(65534, 65534, 65534) != 0))
      ::_exit(3);
    RecordingObserver obs;
    int fd = ::open(out.c_str(), O_WRONLY);
    auto st = WriteTree(dir, {"./"}, TreeWriterOptions(), fd, &obs);
    std::string text = st.ok() ? fmt::format("{}\n", st->unreadable) : st.status().message();
    for (const auto& w : obs.warnings) text += w + "\n";
    [[maybe_unused]] ssize_t n = ::write(pipe_fds[1], text.data(), text.size());
    ::_exit(st.ok() ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) text.append(buf, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Unprivileged r;
  r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!r.ok) {
    r.text = text;
    return r;
  }
  size_t nl = text.find('\n');
  r.unreadable = std::stoull(text.substr(0, nl));
  r.text = text.substr(nl + 1);
  return r;
}

TEST_F(TreeWriterTest, UnreadableEntriesAreSkippedWithAWarning) {
  WriteFile(P("readable"), "ok");
  WriteFile(P("secret"), "no", 0600);
  ASSERT_EQ(::mkdir(P("locked").c_str(), 0700), 0);
  WriteFile(P("locked/inner"), "no");
  if (::geteuid() != 0) {
    ASSERT_EQ(::chmod(P("secret").c_str(), 0), 0);
    ASSERT_EQ(::chmod(P("locked").c_str(), 0), 0);
  }
  archive_ = base_ + "/out.tar.zst";
  WriteFile(archive_, "", 0666);
  Unprivileged r = WriteAsNobody(src_, archive_);
  ASSERT_TRUE(r.ok) << r.text;
  EXPECT_EQ(r.unreadable, 2u);
  EXPECT_EQ(r.text,
            "unable to read '/locked': Permission denied\n"
            "unable to read '/secret': Permission denied\n");
  EXPECT_EQ(Members(), (std::vector<std::string>{"./", "./locked/", "./readable"}));
}

// Root only from here on.
class RootTreeWriterTest : public TreeWriterTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    TreeWriterTest::SetUp();
  }
};

TEST_F(RootTreeWriterTest, OwnersDevicesAndCapabilitiesSurvive) {
  WriteFile(P("owned"), "o");
  ASSERT_EQ(::chown(P("owned").c_str(), 1000, 2000), 0);
  ASSERT_EQ(::mkdir(P("dev").c_str(), 0755), 0);
  ASSERT_EQ(::mknod(P("dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  ASSERT_EQ(::mknod(P("dev/loop9").c_str(), S_IFBLK | 0660, makedev(7, 9)), 0);
  ASSERT_EQ(::chmod(P("dev/null").c_str(), 0666), 0);
  WriteFile(P("ping"), "#!/bin/sh\n", 0755);
  Sh("setcap cap_net_raw+ep " + Quote(P("ping")));
  ASSERT_TRUE(Write(TreeWriterOptions()).ok());
  auto list = TarList();
  EXPECT_THAT(list, ::testing::Contains("-rw-r--r-- 1000/2000 ./owned"));
  EXPECT_THAT(list, ::testing::Contains("crw-rw-rw- 0/0 ./dev/null"));
  std::map<std::string, MemberInfo> m;
  for (auto& [name, info] : ReadWithLibarchive(archive_)) m[name] = info;
  EXPECT_EQ(m["./ping"].xattrs.count("security.capability"), 1u);
  std::string dest = Extract();
  ExpectSameTree(dest);
  EXPECT_THAT(Sh("getcap " + Quote(dest + "/ping")), HasSubstr("cap_net_raw=ep"));
}

TEST_F(RootTreeWriterTest, OtherFileSystemsAreNotEntered) {
  ASSERT_EQ(::mkdir(P("mnt").c_str(), 0755), 0);
  WriteFile(P("top"), "t");
  std::string one = base_ + "/one.tar", two = base_ + "/two.tar";
  pid_t pid = ::fork();
  if (pid == 0) {
    // A private mount namespace: the tmpfs vanishes with this child.
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", P("mnt").c_str(), "tmpfs", 0, "mode=0755") != 0)
      ::_exit(2);
    std::ofstream(P("mnt/inner")) << "i";
    RecordingObserver obs;
    TreeWriterOptions o;
    o.compression = Compression::kNone;
    int fd1 = ::open(one.c_str(), O_WRONLY | O_CREAT, 0644);
    int fd2 = ::open(two.c_str(), O_WRONLY | O_CREAT, 0644);
    bool ok = WriteTree(src_, {"./"}, o, fd1, &obs).ok() &&
              WriteTree(src_, {"./", "./mnt"}, o, fd2, &obs).ok();
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  archive_ = one;
  EXPECT_EQ(Members(), (std::vector<std::string>{"./", "./mnt/", "./top"}));
  archive_ = two;
  EXPECT_EQ(Members(), (std::vector<std::string>{"./", "./top", "./mnt/", "./mnt/inner"}));
}

}  // namespace
}  // namespace ctdump::archive
