// The fixture of the tree writer tests: trees in a temp dir, archived and
// read back by GNU tar (+ zstd) and libarchive.
#ifndef CTDUMP_ARCHIVE_TREE_WRITER_TEST_FIXTURE_H_
#define CTDUMP_ARCHIVE_TREE_WRITER_TEST_FIXTURE_H_

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
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "archive/tree_writer.h"
#include "sys/file.h"
#include "sys/subprocess.h"
#include "sys/unique_fd.h"

namespace ctdump::archive {

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
inline std::string Sh(const std::string& cmd) {
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

inline std::string Quote(const std::string& s) { return "'" + s + "'"; }

inline void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

inline std::string ReadAll(const std::string& path) {
  auto r = sys::ReadFile(path);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : "";
}

inline void SetMtime(const std::string& path, time_t sec, long nsec) {
  struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

inline std::string Hex(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

inline std::string GetXattr(const std::string& path, const char* name) {
  char buf[4096];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

// One line per entry: everything tar must keep (not atime/ctime).
inline std::string Describe(const std::string& path) {
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
inline std::map<std::string, std::string> Snapshot(const std::string& root,
                                                   const std::string& rel = "") {
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
inline std::vector<std::pair<std::string, MemberInfo>> ReadWithLibarchive(const std::string& path) {
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
    if (char* t = archive_entry_acl_to_text(e, nullptr, ARCHIVE_ENTRY_ACL_STYLE_EXTRA_ID)) {
      m.acl = t;
      std::free(t);  // the caller owns the text (LeakSanitizer)
    }
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
    std::string out =
        Sh("LC_ALL=C tar --quoting-style=escape --numeric-owner --xattrs --acls -tvf " +
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

}  // namespace ctdump::archive

#endif  // CTDUMP_ARCHIVE_TREE_WRITER_TEST_FIXTURE_H_
