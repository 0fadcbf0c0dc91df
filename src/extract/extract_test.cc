// Needs root (label "root"): extracts real archives into a directory owned
// by a container's root (map u/g 0 100000 65536) through a user namespace,
// and checks the result from the host.
#include "extract/extract.h"
#include "extract/dir_stream.h"

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

#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::extract {
namespace {

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

Member File(std::string name, std::string data, mode_t perm = 0644, int64_t uid = 0,
            int64_t gid = 0) {
  Member m;
  m.name = std::move(name);
  m.data = std::move(data);
  m.perm = perm;
  m.uid = uid;
  m.gid = gid;
  return m;
}
Member Dir(std::string name) {
  Member m;
  m.name = std::move(name);
  m.type = AE_IFDIR;
  m.perm = 0755;
  return m;
}
Member Symlink(std::string name, std::string target) {
  Member m;
  m.name = std::move(name);
  m.type = AE_IFLNK;
  m.perm = 0777;
  m.symlink = std::move(target);
  return m;
}
Member Hardlink(std::string name, std::string target) {
  Member m;
  m.name = std::move(name);
  m.hardlink = std::move(target);
  return m;
}
Member CharDevice(std::string name, dev_t rdev) {
  Member m;
  m.name = std::move(name);
  m.type = AE_IFCHR;
  m.perm = 0666;
  m.rdev = rdev;
  return m;
}

void WriteTar(const std::string& path, const std::vector<Member>& members,
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
std::vector<Member> RootfsMembers() {
  std::vector<Member> m = {Dir("./"), Symlink("./sbin", "usr/sbin"), Dir("./usr/"),
                           Dir("./usr/sbin/"), Dir("./etc/")};
  for (int i = 0; i < 6; ++i) m.push_back(File("./etc/f" + std::to_string(i), "x"));
  return m;
}

int Shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  return rc;
}

struct stat Lstat(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(::lstat(p.c_str(), &st), 0) << p << ": " << std::strerror(errno);
  return st;
}

std::string ReadAll(const std::string& p) {
  auto r = sys::ReadFile(p);
  return r.ok() ? *r : "<" + r.status().message() + ">";
}

std::string Xattr(const std::string& p, const char* name) {
  char buf[4096];
  ssize_t n = ::lgetxattr(p.c_str(), name, buf, sizeof(buf));
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

uint32_t Le32(const std::string& s, size_t off) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[off + i]);
  return v;
}

// Named (tag, id) pairs of a system.posix_acl_access value.
std::vector<std::pair<int, uint32_t>> AclNamed(const std::string& x) {
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

TEST_F(ExtractTest, GnuTarArchiveKeepsMetadataWithShiftedOwners) {
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  MakeTree(src);
  std::string tar = dir_ + "/backup.tar";
  Shell("tar --numeric-owner --xattrs --xattrs-include='*' --acls --sparse -cpf " + tar + " -C " +
        src + " .");
  ExtractOptions o;
  o.untrusted = true;
  auto stats = Extract(tar, o);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  CheckTree(root_);
  EXPECT_GE(stats->entries, 20u);
  EXPECT_EQ(stats->skipped_existing, 0u);
  EXPECT_EQ(stats->unmapped_ids, 0u);
  EXPECT_TRUE(log_.Has("INFO: checking archive..")) << log_.All();
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
  EXPECT_EQ(log_.last_progress.bytes, static_cast<uint64_t>(Lstat(tar).st_size));
  ExpectNothingOutside();
}

TEST_F(ExtractTest, CompressionIsDetectedFromContent) {
  std::string tar = dir_ + "/plain.tar";
  WriteTar(tar, RootfsMembers());
  struct Case {
    const char* name;
    const char* compress;  // shell filter
  } cases[] = {
      {"zstd-named.tar.gz", "zstd -q -c"},
      {"gzip-named.tar.zst", "gzip -c"},
      {"xz-named.tar", "xz -c"},
      {"none-named.tar.xz", "cat"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string file = dir_ + "/" + c.name;
    Shell(std::string(c.compress) + " < " + tar + " > " + file);
    std::string root = dir_ + "/root-" + c.name;
    MakeRoot(root);
    auto stats = ExtractTarFile(file, root, map_, {}, &log_);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_EQ(stats->entries, 11u);
    EXPECT_EQ(ReadAll(root + "/etc/f5"), "x");
    EXPECT_EQ(Lstat(root + "/etc/f5").st_uid, 100000u);
  }
}

struct Malicious {
  const char* test;
  std::vector<Member> members;
  const char* entry;  // named in the error
  const char* why;
};

TEST_F(ExtractTest, HostileMembersFailNamingTheEntry) {
  const std::string outside = outside_;
  std::vector<Malicious> cases = {
      {"absolute", {File("./ok", "1"), File(outside + "/abs", "x")}, "/abs", "absolute path"},
      {"dotdot", {File("../escape", "x")}, "../escape", "path contains '..'"},
      {"inner dotdot", {File("a/../../escape", "x")}, "a/../../escape", "path contains '..'"},
      {"hardlink absolute",
       {Hardlink("h", "/etc/shadow")},
       "h",
       "hardlink target '/etc/shadow' is absolute"},
      {"hardlink dotdot", {Hardlink("h", "../x")}, "h", "hardlink target '../x' contains '..'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.test);
    std::string tar = dir_ + "/evil.tar";
    WriteTar(tar, c.members);
    auto stats = Extract(tar);
    ASSERT_FALSE(stats.ok());
    EXPECT_EQ(stats.status().code(), Code::kInvalidArgument);
    const std::string& msg = stats.status().message();
    EXPECT_NE(msg.find("refusing entry '"), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.entry), std::string::npos) << msg;
    EXPECT_NE(msg.find("' in '" + tar + "': " + c.why), std::string::npos) << msg;
    ExpectNothingOutside();
  }
}

TEST_F(ExtractTest, SymlinkThenMemberThroughItStaysInside) {
  struct stat etc_passwd = Lstat("/etc/passwd");
  std::string before = ReadAll("/etc/passwd");
  std::string tar = dir_ + "/evil.tar";
  WriteTar(tar, {Symlink("link", outside_), File("link/passwd", "owned"), Symlink("etc", "/etc"),
                 File("etc/passwd", "owned")});
  auto stats = Extract(tar);
  ASSERT_FALSE(stats.ok());
  const std::string& msg = stats.status().message();
  EXPECT_NE(msg.find("link/passwd"), std::string::npos) << msg;
  EXPECT_NE(msg.find(tar), std::string::npos) << msg;
  EXPECT_EQ(ReadAll("/etc/passwd"), before);
  EXPECT_EQ(Lstat("/etc/passwd").st_mtime, etc_passwd.st_mtime);
  ExpectNothingOutside();
  // The symlink itself is harmless and was written, pointing where it said.
  EXPECT_TRUE(S_ISLNK(Lstat(root_ + "/link").st_mode));
}

TEST_F(ExtractTest, HardlinkThroughSymlinkCannotReachOutside) {
  std::string elsewhere = dir_ + "/elsewhere";
  Shell("mkdir " + elsewhere + " && echo secret > " + elsewhere +
        "/secret && chown -R 100000:100000 " + elsewhere);
  std::string tar = dir_ + "/evil.tar";
  WriteTar(tar, {Symlink("link", elsewhere), Hardlink("h", "link/secret")});
  auto stats = Extract(tar);
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'./h'"), std::string::npos) << stats.status().message();
  EXPECT_EQ(Lstat(elsewhere + "/secret").st_nlink, 1u);
  EXPECT_FALSE(sys::PathExists(root_ + "/h"));
}

TEST_F(ExtractTest, DirectoryReplacedBySymlinkStaysInside) {
  std::string tar = dir_ + "/evil.tar";
  WriteTar(tar, {Dir("d"), Symlink("d", outside_), File("d/f", "x")});
  // Without force the existing directory is kept and d/f lands in it.
  auto kept = Extract(tar);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(kept->skipped_existing, 1u);
  EXPECT_TRUE(S_ISDIR(Lstat(root_ + "/d").st_mode));
  EXPECT_EQ(ReadAll(root_ + "/d/f"), "x");
  ExpectNothingOutside();

  // With force the symlink replaces the (empty) directory; then the member
  // through it is refused.
  ASSERT_TRUE(sys::RemoveTree(root_).ok());
  MakeRoot(root_);
  ExtractOptions force;
  force.force = true;
  auto forced = Extract(tar, force);
  ASSERT_FALSE(forced.ok());
  EXPECT_NE(forced.status().message().find("'./d/f'"), std::string::npos)
      << forced.status().message();
  ExpectNothingOutside();
}

TEST_F(ExtractTest, ExistingFilesAreKeptUnlessForce) {
  Shell("mkdir -p " + root_ + "/etc && echo old > " + root_ +
        "/etc/hostname && chown -R 100000:100000 " + root_);
  std::string tar = dir_ + "/a.tar";
  WriteTar(tar, {Dir("./etc/"), File("./etc/hostname", "new\n"), File("./etc/other", "other\n")});
  auto kept = Extract(tar);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_EQ(kept->skipped_existing, 1u);
  EXPECT_EQ(kept->entries, 2u);
  EXPECT_EQ(ReadAll(root_ + "/etc/hostname"), "old\n");
  EXPECT_EQ(ReadAll(root_ + "/etc/other"), "other\n");

  ExtractOptions force;
  force.force = true;
  auto forced = Extract(tar, force);
  ASSERT_TRUE(forced.ok()) << forced.status().message();
  EXPECT_EQ(forced->skipped_existing, 0u);
  EXPECT_EQ(ReadAll(root_ + "/etc/hostname"), "new\n");
  EXPECT_EQ(Lstat(root_ + "/etc/hostname").st_uid, 100000u);
}

TEST_F(ExtractTest, UntrustedChecks) {
  ExtractOptions o;
  o.untrusted = true;
  std::string tar = dir_ + "/u.tar";

  auto members = RootfsMembers();
  members.pop_back();  // 10 members
  WriteTar(tar, members);
  auto ok = Extract(tar, o);
  EXPECT_TRUE(ok.ok()) << ok.status().message();

  members.pop_back();  // 9
  WriteTar(tar, members);
  auto few = Extract(tar, o);
  ASSERT_FALSE(few.ok());
  EXPECT_EQ(few.status().message(), "less than 10 members in archive '" + tar + "'");

  members = RootfsMembers();
  members.erase(members.begin() + 1);  // no ./sbin
  members.push_back(File("./usr/sbin/x", "x"));
  WriteTar(tar, members);
  auto no_sbin = Extract(tar, o);
  ASSERT_FALSE(no_sbin.ok());
  EXPECT_EQ(no_sbin.status().message(),
            "no 'sbin' directory (or link) found in archive '" + tar + "'");

  // A trusted extraction does not care.
  EXPECT_TRUE(Extract(tar).ok());

  // External archives are never extracted as host root.
  WriteTar(tar, RootfsMembers());
  auto privileged = ExtractTarFile(tar, root_, IdMap(), o, &log_);
  ASSERT_FALSE(privileged.ok());
  EXPECT_EQ(privileged.status().code(), Code::kPermissionDenied);
}

TEST_F(ExtractTest, UntrustedMultiVolumeMemberIsRefused) {
  // GNU tar's second volume starts with an 'M' (continuation) member.
  Shell("set -e; cd " + dir_ +
        " && head -c 30000 /dev/urandom > big && tar -c -M -L 20 -f v1.tar -f v2.tar big");
  ExtractOptions o;
  o.untrusted = true;
  auto r = Extract(dir_ + "/v2.tar", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "found multi-volume member in archive");
  // Trusted, the untyped member is refused by the child as well.
  auto trusted = Extract(dir_ + "/v2.tar");
  ASSERT_FALSE(trusted.ok());
  EXPECT_NE(trusted.status().message().find("refusing entry 'big'"), std::string::npos)
      << trusted.status().message();
  EXPECT_FALSE(sys::PathExists(root_ + "/big"));
}

TEST_F(ExtractTest, UnrepresentableOwnersFallBackAndAreReported) {
  std::string tar = dir_ + "/priv.tar";
  Member acl = File("./acl", "x", 0640);
  acl.acl = "user::rw-,user:1000:r--,user:100042:r--,group::r--,mask::r--,other::---";
  WriteTar(
      tar,
      {Dir("./"), File("./ok", "ok", 0644, 1000, 1000), File("./huge", "x", 04755, 4000000000LL, 0),
       File("./shifted", "x", 02755, 100042, 100042), File("./group", "x", 0640, 0, 70000), acl});
  auto stats = Extract(tar);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  EXPECT_EQ(stats->unmapped_ids, 4u);
  EXPECT_EQ(stats->unmapped_examples,
            (std::vector<std::string>{"./huge", "./shifted", "./group", "./acl"}));
  struct stat st = Lstat(root_ + "/ok");
  EXPECT_EQ(st.st_uid, 101000u);
  st = Lstat(root_ + "/huge");
  EXPECT_EQ(st.st_uid, 165534u);
  EXPECT_EQ(st.st_gid, 100000u);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "setuid dropped with the owner";
  st = Lstat(root_ + "/shifted");
  EXPECT_EQ(st.st_uid, 165534u);
  EXPECT_EQ(st.st_gid, 165534u);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat(root_ + "/group").st_gid, 165534u);
  // The ACL entry too goes to nobody (docs/restore.md), not away.
  EXPECT_EQ(AclNamed(Xattr(root_ + "/acl", "system.posix_acl_access")),
            (std::vector<std::pair<int, uint32_t>>{{2, 101000}, {2, 165534}}));
  EXPECT_EQ(stats->unmapped_acl_entries, 1u);
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
}

// GNU tar stores an ACL twice (SCHILY.acl.access and, with
// --xattrs-include='*', the raw xattr): both ways an unmapped entry goes to
// 65534 and merges with an entry already there.
TEST_F(ExtractTest, UnrepresentableAclEntriesFromGnuTarGoToNobody) {
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  Shell("set -e; cd " + src + "; mkdir sbin; echo x > f; setfacl -m u:70000:r,u:65534:w,g:80000:x,u:7:r f");
  for (const char* xattrs : {"", " --xattrs --xattrs-include='*'"}) {
    std::string tar = dir_ + "/acl.tar";
    Shell("tar --numeric-owner --acls" + std::string(xattrs) + " -cpf " + tar + " -C " + src + " .");
    std::string root = dir_ + "/r" + std::to_string(std::strlen(xattrs));
    MakeRoot(root);
    auto stats = ExtractTarFile(tar, root, map_, {}, &log_);
    ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
    EXPECT_EQ(AclNamed(Xattr(root + "/f", "system.posix_acl_access")),
              (std::vector<std::pair<int, uint32_t>>{{2, 100007}, {2, 165534}, {8, 165534}}))
        << xattrs;
    std::string text;
    FILE* p = ::popen(("getfacl -n --omit-header " + root + "/f").c_str(), "r");
    char buf[256];
    while (p && std::fgets(buf, sizeof(buf), p)) text += buf;
    if (p) ::pclose(p);
    EXPECT_NE(text.find("user:165534:rw-"), std::string::npos) << text;
    EXPECT_NE(text.find("group:165534:--x"), std::string::npos) << text;
    EXPECT_EQ(stats->unmapped_ids, 1u);
    EXPECT_EQ(stats->unmapped_acl_entries, 2u) << xattrs;
  }
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
}

TEST_F(ExtractTest, DevContentIsSkipped) {
  std::string tar = dir_ + "/dev.tar";
  WriteTar(tar, {Dir("./dev/"), CharDevice("./dev/null", makedev(1, 3)), Dir("./dev/pts/"),
                 File("./dev/x", "x"), File("./devices", "kept")});
  auto stats = Extract(tar);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(stats->entries, 2u);
  EXPECT_TRUE(S_ISDIR(Lstat(root_ + "/dev").st_mode));
  EXPECT_EQ(Shell("test -z \"$(ls -A " + root_ + "/dev)\""), 0);
  EXPECT_EQ(ReadAll(root_ + "/devices"), "kept");
}

TEST_F(ExtractTest, DeviceOutsideDevFailsButOthersAreWritten) {
  std::string tar = dir_ + "/dev.tar";
  WriteTar(tar, {CharDevice("./null", makedev(1, 3)), File("./after", "after")});
  auto stats = Extract(tar);
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("'./null'"), std::string::npos)
      << stats.status().message();
  EXPECT_EQ(ReadAll(root_ + "/after"), "after") << "tar goes on after a failed member";
}

TEST_F(ExtractTest, BandwidthLimitIsHonored) {
  std::string tar = dir_ + "/bw.tar";
  WriteTar(tar, {File("./blob", std::string(2 << 20, 'b'))});
  ExtractOptions o;
  o.bwlimit = 8 << 20;  // ~0.25 s for the 2 MiB archive; not asserted
  auto stats = Extract(tar, o);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(Lstat(root_ + "/blob").st_size, 2 << 20);
}

TEST_F(ExtractTest, SignalCancelsExtraction) {
  std::string tar = dir_ + "/slow.tar";
  WriteTar(tar, {File("./blob", std::string(4 << 20, 'b'))});
  sys::InstallInterruptHandlers();
  sys::ResetInterruptForTest();
  Shell("(sleep 0.3; kill -TERM " + std::to_string(::getpid()) + ") &");
  ExtractOptions o;
  o.bwlimit = 256 << 10;  // 16 s for the whole archive
  auto start = std::chrono::steady_clock::now();
  auto stats = Extract(tar, o);
  auto took = std::chrono::steady_clock::now() - start;
  sys::ResetInterruptForTest();
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), Code::kCancelled) << stats.status().message();
  EXPECT_NE(stats.status().message().find(tar), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(ExtractTest, TruncatedAndCorruptArchivesNameTheArchive) {
  std::string tar = dir_ + "/full.tar";
  std::string noise(100000, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 2654435761u) >> 13);
  WriteTar(tar, {File("./a", noise), File("./b", "b")});
  std::string cut = dir_ + "/cut.tar";
  Shell("head -c 50000 " + tar + " > " + cut);
  auto truncated = Extract(cut);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), Code::kDataLoss) << truncated.status().message();
  EXPECT_NE(truncated.status().message().find(cut), std::string::npos)
      << truncated.status().message();

  std::string zcut = dir_ + "/cut.tar.zst";
  Shell("zstd -q -c " + tar + " | head -c 200 > " + zcut);
  auto ztruncated = Extract(zcut);
  ASSERT_FALSE(ztruncated.ok());
  EXPECT_NE(ztruncated.status().message().find(zcut), std::string::npos)
      << ztruncated.status().message();

  std::string garbage = dir_ + "/garbage.tar";
  Shell("head -c 10000 /dev/urandom > " + garbage);
  auto bad = Extract(garbage);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kDataLoss);
  EXPECT_NE(bad.status().message().find(garbage), std::string::npos) << bad.status().message();

  ExtractOptions o;
  o.untrusted = true;
  auto bad_untrusted = Extract(garbage, o);
  ASSERT_FALSE(bad_untrusted.ok());
  EXPECT_NE(bad_untrusted.status().message().find(garbage), std::string::npos);
}

TEST_F(ExtractTest, InputsAreChecked) {
  auto dir = Extract(dir_);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().message(), "not a regular file '" + dir_ + "'");
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = Extract(fifo);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "not a regular file '" + fifo + "'");
  auto missing = Extract(dir_ + "/missing.tar");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);

  // A root container root cannot reach is the child's error, naming it.
  std::string tar = dir_ + "/a.tar";
  WriteTar(tar, RootfsMembers());
  std::string hidden = dir_ + "/hidden";
  ASSERT_EQ(::mkdir(hidden.c_str(), 0700), 0);
  std::string unreachable = hidden + "/root";
  MakeRoot(unreachable);
  auto r = ExtractTarFile(tar, unreachable, map_, {}, &log_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Failed to enter target root '" + unreachable + "'"),
            std::string::npos)
      << r.status().message();
}

TEST_F(ExtractTest, NamesAreKeptByteForByte) {
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  Shell("cd " + src + " && touch \"$(printf 'caf\\303\\251')\" \"$(printf 'raw\\377\\376')\" " +
        "\"$(printf 'new\\nline')\"");
  for (const char* format : {"gnu", "posix"}) {
    SCOPED_TRACE(format);
    std::string tar = dir_ + "/names-" + format + ".tar";
    Shell(std::string("tar --format=") + format + " -cf " + tar + " -C " + src + " .");
    std::string root = dir_ + "/root-" + format;
    MakeRoot(root);
    auto stats = ExtractTarFile(tar, root, map_, {}, &log_);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_TRUE(sys::PathExists(root + "/caf\xc3\xa9"));
    EXPECT_TRUE(sys::PathExists(root + "/raw\xff\xfe"));
    EXPECT_TRUE(sys::PathExists(root + "/new\nline"));
  }
}

TEST_F(ExtractTest, PrivilegedTargetKeepsIds) {
  std::string tar = dir_ + "/p.tar";
  WriteTar(tar, {File("./f", "x", 04755, 4000000000LL, 42)});
  auto stats = ExtractTarFile(tar, root_, IdMap(), {}, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  struct stat st = Lstat(root_ + "/f");
  EXPECT_EQ(st.st_uid, 4000000000u);
  EXPECT_EQ(st.st_gid, 42u);
  EXPECT_EQ(stats->unmapped_ids, 0u);
}

// restore-file: host root writes the stored owners, so a setuid-root file
// or a file capability from a backup would work on the host.
TEST_F(ExtractTest, StripPrivilegesRemovesSetidBitsAndCapabilities) {
  std::string src = dir_ + "/src";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  MakeTree(src);
  Shell("set -e; cd " + src + "; mkdir shared; chmod 2775 shared; printf g > sgid; chmod 2755 sgid");
  std::string tar = dir_ + "/backup.tar";
  Shell("tar --numeric-owner --xattrs --xattrs-include='*' --acls -cpf " + tar + " -C " + src +
        " .");
  ExtractOptions o;
  o.strip_privileges = true;
  auto stats = ExtractTarFile(tar, root_, IdMap(), o, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  EXPECT_EQ(Lstat(root_ + "/usr/bin/su").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat(root_ + "/usr/bin/su").st_uid, 0u);
  EXPECT_EQ(Lstat(root_ + "/sgid").st_mode & 07777, 0755u);
  EXPECT_EQ(Lstat(root_ + "/shared").st_mode & 07777, 02775u) << "a directory keeps setgid";
  EXPECT_EQ(Xattr(root_ + "/usr/bin/ping", "security.capability"), "");
  EXPECT_EQ(ReadAll(root_ + "/usr/bin/ping"), "ping");
  EXPECT_EQ(Xattr(root_ + "/etc/xattr", "user.test"), "value");
  // su (and its hardlink's header), sgid, ping.
  EXPECT_EQ(stats->stripped_privileges, 4u);

  // Kept when asked.
  std::string again = dir_ + "/again";
  MakeRoot(again);
  stats = ExtractTarFile(tar, again, IdMap(), {}, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(Lstat(again + "/usr/bin/su").st_mode & 07777, 04755u);
  EXPECT_NE(Xattr(again + "/usr/bin/ping", "security.capability"), "");
  EXPECT_EQ(stats->stripped_privileges, 0u);
}

TEST_F(ExtractTest, DirectoryMechanismRoundTripCrossesMountPoints) {
  std::string src = dir_ + "/restore-dir";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  MakeTree(src);
  // A provider may mount a volume below its restore directory.
  std::string volume = dir_ + "/volume";
  Shell("mkdir -p " + volume + " " + src + "/mnt/data && echo vol > " + volume +
        "/file && chown 1000:1000 " + volume + "/file");
  ASSERT_EQ(::mount(volume.c_str(), (src + "/mnt/data").c_str(), nullptr, MS_BIND, nullptr), 0)
      << std::strerror(errno);
  mounts_.push_back(src + "/mnt/data");
  Shell("cd " + src +
        " && python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('sock')\"");
  Shell("touch -h -d @" + std::to_string(kMtime) + " " + src + "/mnt " + src + "/mnt/data");

  auto stats = CopyDirectory(src, root_, map_, {}, &log_);
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  CheckTree(root_);
  EXPECT_EQ(ReadAll(root_ + "/mnt/data/file"), "vol\n");
  EXPECT_EQ(Lstat(root_ + "/mnt/data/file").st_uid, 101000u);
  EXPECT_FALSE(sys::PathExists(root_ + "/sock")) << "sockets are not copied";
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
  ExpectNothingOutside();

  // Again with a bandwidth limit: everything exists, so all is kept.
  ExtractOptions o;
  o.bwlimit = 64 << 20;
  auto again = CopyDirectory(src, root_, map_, o, &log_);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_GT(again->skipped_existing, 15u);
  EXPECT_EQ(again->entries, stats->entries - again->skipped_existing);
}

// A provider's directory holding a file that is one 1 TiB hole: streamed
// and written as a hole, in seconds.
TEST_F(ExtractTest, DirectoryMechanismKeepsAHugeHoleCheap) {
  std::string src = dir_ + "/holes";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  Shell("truncate -s 1T " + src + "/hole && printf end >> " + src + "/hole");
  auto started = std::chrono::steady_clock::now();
  auto stats = CopyDirectory(src, root_, map_, {}, &log_);
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  struct stat st = Lstat(root_ + "/hole");
  EXPECT_EQ(st.st_size, (off_t{1} << 40) + 3);
  EXPECT_LT(st.st_blocks * 512, 1 << 20);
  EXPECT_LT(seconds, 30) << "a hole took " << seconds << " s";
  std::cerr << "1 TiB hole through the directory mechanism: " << seconds << " s\n";
}

TEST_F(ExtractTest, DirectoryMechanismChecksItsInput) {
  auto r = CopyDirectory(dir_ + "/missing", root_, map_, {}, &log_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "not a directory '" + dir_ + "/missing'");
  // A provider's directory that is a symlink (to "/") was walked as one
  // symlink: 0 entries and success.
  ASSERT_EQ(::symlink("/", (dir_ + "/to-root").c_str()), 0);
  r = CopyDirectory(dir_ + "/to-root", root_, map_, {}, &log_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "restore directory '" + dir_ +
                                      "/to-root' is a symbolic link: refusing it (the provider "
                                      "must name the directory itself)");
  EXPECT_EQ(Shell("test -z \"$(ls -A " + root_ + ")\""), 0);
  // "<link>/." passed the check of the last component and followed the link.
  for (const std::string& via : {dir_ + "/to-root/.", dir_ + "/to-root/etc/.."}) {
    r = CopyDirectory(via, root_, map_, {}, &log_);
    ASSERT_FALSE(r.ok()) << via;
    EXPECT_NE(r.status().message().find("through a symbolic link"), std::string::npos)
        << r.status().message();
  }
  r = CopyDirectory("/", root_, map_, {}, &log_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("host's root directory"), std::string::npos);
  EXPECT_EQ(Shell("test -z \"$(ls -A " + root_ + ")\""), 0);
  // The walk refuses a source that is no directory on its own as well.
  std::string out;
  Status s = StreamDirectory(dir_ + "/to-root",
                             {[&out](const void* d, size_t n) {
                                out.append(static_cast<const char*>(d), n);
                                return Status::OK();
                              },
                              [] { return false; }},
                             &log_);
  EXPECT_EQ(s.message(), "'" + dir_ + "/to-root' is not a directory");
}

TEST_F(ExtractTest, RealRootfsTarball) {
  const std::string rootfs = "/var/cache/ctdump/rootfs-bookworm-minbase.tar";
  if (!sys::PathExists(rootfs)) GTEST_SKIP() << rootfs << " not present";
  std::string zst = dir_ + "/rootfs.tar.zst";
  Shell("zstd -q -1 -T0 -c " + rootfs + " > " + zst);
  ExtractOptions o;
  o.untrusted = true;
  auto start = std::chrono::steady_clock::now();
  auto stats = Extract(zst, o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(stats.ok()) << stats.status().message() << "\n" << log_.All();
  std::cout << "extracted " << stats->entries << " entries, " << stats->bytes << " bytes in "
            << secs << " s\n";
  EXPECT_GT(stats->entries, 6000u);
  struct stat st = Lstat(root_ + "/etc/shadow");
  EXPECT_EQ(st.st_uid, 100000u);
  EXPECT_EQ(st.st_gid, 100042u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Lstat(root_ + "/usr/bin/su").st_mode & 07777, 04755u);
  EXPECT_FALSE(log_.Has("WARN")) << log_.All();
}

}  // namespace
}  // namespace ctdump::extract
