// The fixture of the extraction tests (root): a target root owned by a
// container's root (map u/g 0 100000 65536), archive members built by hand,
// and checks of the result from the host.
#ifndef CTDUMP_EXTRACT_EXTRACT_TEST_FIXTURE_H_
#define CTDUMP_EXTRACT_EXTRACT_TEST_FIXTURE_H_

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "extract/dir_stream.h"
#include "extract/extract.h"
#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::extract {

constexpr time_t kMtime = 1700000000;  // 2023-11-14

class LogObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    lines.push_back(std::string(level == LogLevel::kWarn ? "WARN: " : "INFO: ") +
                    std::string(message));
  }
  void OnProgress(const Progress& p) noexcept override { last_progress = p; }
  bool Has(std::string_view needle) const {
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::string All() const {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }
  std::vector<std::string> lines;
  Progress last_progress;
};

// One member for archives built with libarchive's writer (which, unlike
// GNU tar, writes hostile names exactly as given).
struct Member {
  std::string name;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  int64_t uid = 0, gid = 0;
  std::string data;
  std::string symlink;
  std::string hardlink;
  std::string acl;  // libarchive ACL text (access ACL)
  dev_t rdev = 0;
};

inline Member File(std::string name, std::string data, mode_t perm = 0644, int64_t uid = 0,
                   int64_t gid = 0) {
  Member m;
  m.name = std::move(name);
  m.data = std::move(data);
  m.perm = perm;
  m.uid = uid;
  m.gid = gid;
  return m;
}
inline Member Dir(std::string name) {
  Member m;
  m.name = std::move(name);
  m.type = AE_IFDIR;
  m.perm = 0755;
  return m;
}
inline Member Symlink(std::string name, std::string target) {
  Member m;
  m.name = std::move(name);
  m.type = AE_IFLNK;
  m.perm = 0777;
  m.symlink = std::move(target);
  return m;
}
inline Member Hardlink(std::string name, std::string target) {
  Member m;
  m.name = std::move(name);
  m.hardlink = std::move(target);
  return m;
}
inline Member CharDevice(std::string name, dev_t rdev) {
  Member m;
  m.name = std::move(name);
  m.type = AE_IFCHR;
  m.perm = 0666;
  m.rdev = rdev;
  return m;
}

inline void WriteTar(const std::string& path, const std::vector<Member>& members,
                     const char* filter = nullptr) {
  archive* a = archive_write_new();
  ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  if (filter) {
    ASSERT_EQ(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
  }
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const Member& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, m.name.c_str());
    archive_entry_set_filetype(e, m.type);
    archive_entry_set_perm(e, m.perm);
    archive_entry_set_uid(e, m.uid);
    archive_entry_set_gid(e, m.gid);
    archive_entry_set_mtime(e, kMtime, 0);
    if (!m.symlink.empty()) archive_entry_copy_symlink(e, m.symlink.c_str());
    if (!m.hardlink.empty()) archive_entry_copy_hardlink(e, m.hardlink.c_str());
    if (m.rdev) archive_entry_set_rdev(e, m.rdev);
    if (!m.acl.empty()) {
      EXPECT_EQ(archive_entry_acl_from_text(e, m.acl.c_str(), ARCHIVE_ENTRY_ACL_TYPE_ACCESS),
                ARCHIVE_OK);
    }
    archive_entry_set_size(e, m.type == AE_IFREG && m.hardlink.empty() ? m.data.size() : 0);
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << m.name << ": " << archive_error_string(a);
    if (!m.data.empty()) archive_write_data(a, m.data.data(), m.data.size());
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

// A minimal container-like tree: enough members and an sbin for PVE's
// untrusted checks.
inline std::vector<Member> RootfsMembers() {
  std::vector<Member> m = {Dir("./"), Symlink("./sbin", "usr/sbin"), Dir("./usr/"),
                           Dir("./usr/sbin/"), Dir("./etc/")};
  for (int i = 0; i < 6; ++i) m.push_back(File("./etc/f" + std::to_string(i), "x"));
  return m;
}

inline int Shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  return rc;
}

inline struct stat Lstat(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p << ": " << std::strerror(errno);
  return st;
}

inline std::string ReadAll(const std::string& p) {
  auto r = sys::ReadFile(p);
  return r.ok() ? *r : "<" + r.status().message() + ">";
}

inline std::string Xattr(const std::string& p, const char* name) {
  char buf[4096];
  ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof(buf));
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

inline uint32_t Le32(const std::string& s, size_t off) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[off + i]);
  return v;
}

// Named (tag, id) pairs of a system.posix_acl_access value.
inline std::vector<std::pair<int, uint32_t>> AclNamed(const std::string& x) {
  std::vector<std::pair<int, uint32_t>> out;
  for (size_t off = 4; off + 8 <= x.size(); off += 8) {
    int tag = static_cast<unsigned char>(x[off]) | (static_cast<unsigned char>(x[off + 1]) << 8);
    if (tag == 2 || tag == 8) out.emplace_back(tag, Le32(x, off + 4));
  }
  return out;
}

class ExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    char tmpl[] = "/var/tmp/ctdump-extract-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);  // container root must traverse
    root_ = dir_ + "/root";
    MakeRoot(root_);
    // Writable by container root: an escape from the chroot would land here.
    outside_ = dir_ + "/outside";
    ASSERT_EQ(::mkdir(outside_.c_str(), 0777), 0);
    ASSERT_EQ(::chown(outside_.c_str(), 100000, 100000), 0);
    auto m = IdMap::Parse({"u 0 100000 65536", "g 0 100000 65536"}, true);
    ASSERT_TRUE(m.ok()) << m.status().message();
    map_ = *m;
  }
  void TearDown() override {
    for (auto it = mounts_.rbegin(); it != mounts_.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    if (!dir_.empty()) {
      ASSERT_TRUE(sys::RemoveTree(dir_).ok());
    }
  }

  void MakeRoot(const std::string& p) {
    ASSERT_EQ(::mkdir(p.c_str(), 0755), 0);
    ASSERT_EQ(::chown(p.c_str(), 100000, 100000), 0);
  }

  Result<ExtractStats> Extract(const std::string& tar, ExtractOptions o = {}) {
    return ExtractTarFile(tar, root_, map_, o, &log_);
  }

  // Nothing may appear outside the root: in `outside_` or as "escape".
  void ExpectNothingOutside() {
    EXPECT_EQ(Shell("test -z \"$(ls -A " + outside_ + ")\""), 0) << "outside_ is not empty";
    EXPECT_FALSE(sys::PathExists(dir_ + "/escape"));
    EXPECT_FALSE(sys::PathExists(dir_ + "/x"));
  }

  // A tree with container-view owners (as a backup made inside the
  // container's namespace stores them), built on the host.
  void MakeTree(const std::string& src) {
    Shell("set -e; cd " + src +
          "; mkdir -p etc usr/bin usr/sbin home/u var/lib; "
          "echo 'root:x:0:' > etc/shadow; chown 0:42 etc/shadow; chmod 0640 etc/shadow; "
          "printf 'su-binary' > usr/bin/su; chmod 4755 usr/bin/su; ln usr/bin/su usr/bin/su2; "
          "echo private > home/u/file; chown -R 1000:1000 home/u; chmod 0600 home/u/file; "
          "ln -s usr/sbin sbin; "
          "truncate -s 64M var/lib/sparse; printf data | dd of=var/lib/sparse bs=1 seek=1048576 "
          "conv=notrunc status=none; "
          "mkfifo var/lib/fifo; "
          "echo acl > etc/acl; setfacl -m u:1000:r,g:1000:rw etc/acl; "
          "echo x > etc/xattr; setfattr -n user.test -v value etc/xattr; "
          "setfattr -n trusted.ctdump -v host-only etc/xattr; "
          "printf 'ping' > usr/bin/ping; setcap cap_net_raw+ep usr/bin/ping; "
          "for i in 1 2 3 4 5; do echo $i > etc/n$i; done; "
          "find . -exec touch -h -d @" +
          std::to_string(kMtime) + " {} +");
  }

  void CheckTree(const std::string& r) {
    struct stat st = Lstat(r + "/etc/shadow");
    EXPECT_EQ(st.st_uid, 100000u);
    EXPECT_EQ(st.st_gid, 100042u);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    EXPECT_EQ(st.st_mtime, kMtime);
    st = Lstat(r + "/usr/bin/su");
    EXPECT_EQ(st.st_uid, 100000u);
    EXPECT_EQ(st.st_mode & 07777, 04755u) << "setuid kept";
    EXPECT_EQ(Lstat(r + "/usr/bin/su2").st_ino, st.st_ino) << "hardlink";
    st = Lstat(r + "/home/u/file");
    EXPECT_EQ(st.st_uid, 101000u);
    EXPECT_EQ(st.st_gid, 101000u);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(ReadAll(r + "/home/u/file"), "private\n");
    st = Lstat(r + "/sbin");
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_EQ(st.st_uid, 100000u);
    char target[64] = {};
    EXPECT_GT(::readlink((r + "/sbin").c_str(), target, sizeof(target) - 1), 0);
    EXPECT_STREQ(target, "usr/sbin");
    st = Lstat(r + "/var/lib/sparse");
    EXPECT_EQ(st.st_size, 64 << 20);
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "holes kept";
    EXPECT_EQ(ReadAll(r + "/var/lib/sparse").substr(1048576, 4), "data");
    EXPECT_TRUE(S_ISFIFO(Lstat(r + "/var/lib/fifo").st_mode));
    EXPECT_EQ(Xattr(r + "/etc/xattr", "user.test"), "value");
    // Only user.* and security.capability come back, as with vzdump's tar.
    EXPECT_EQ(::lgetxattr((r + "/etc/xattr").c_str(), "trusted.ctdump", nullptr, 0), -1);
    auto named = AclNamed(Xattr(r + "/etc/acl", "system.posix_acl_access"));
    EXPECT_EQ(named, (std::vector<std::pair<int, uint32_t>>{{2, 101000}, {8, 101000}}));
    // The kernel stores a v3 capability whose root is the container's root.
    std::string cap = Xattr(r + "/usr/bin/ping", "security.capability");
    ASSERT_EQ(cap.size(), 24u) << "v3 file capability";
    EXPECT_EQ(Le32(cap, 20), 100000u);
    EXPECT_EQ(Lstat(r + "/etc").st_mtime, kMtime) << "directory mtime restored last";
    EXPECT_EQ(Lstat(r).st_uid, 100000u);
  }

  std::string dir_, root_, outside_;
  IdMap map_;
  LogObserver log_;
  std::vector<std::string> mounts_;
};

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_EXTRACT_TEST_FIXTURE_H_
