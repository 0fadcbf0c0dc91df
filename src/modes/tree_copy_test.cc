// Suspend mode's copier (tree_copy.h) on real temp trees: what a copy keeps
// (owners, modes, times, xattrs, ACLs, hardlinks, special files), holes and
// written zeros, paths beyond PATH_MAX, the second pass's updates and
// deletions, exclusions. Tests named *Root* need root (owners, devices).
#include "modes/tree_copy.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::modes {
namespace {

using ::testing::HasSubstr;

class RecordingObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    if (level == LogLevel::kWarn) warnings.emplace_back(message);
  }
  void OnProgress(const ctdump::Progress& p) noexcept override { progress.push_back(p); }
  std::vector<std::string> warnings;
  std::vector<ctdump::Progress> progress;
};

class TreeCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = sys::MakeTempDir("/var/tmp/ctdump-tree-copy-test.");
    ASSERT_TRUE(dir.ok()) << dir.status().message();
    dir_ = *dir;
    from_ = dir_ + "/from";
    to_ = dir_ + "/to";
    ASSERT_EQ(::mkdir(from_.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(to_.c_str(), 0700), 0);
  }
  void TearDown() override {
    // rm copes with trees deeper than PATH_MAX.
    EXPECT_EQ(std::system(("rm -rf --one-file-system " + dir_).c_str()), 0);
  }

  void Write(const std::string& rel, const std::string& data, mode_t mode = 0644) {
    sys::UniqueFd fd(::open((from_ + "/" + rel).c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode));
    ASSERT_TRUE(fd.valid()) << rel;
    ASSERT_EQ(::write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  void Mkdir(const std::string& rel, mode_t mode = 0755) {
    ASSERT_EQ(::mkdir((from_ + "/" + rel).c_str(), mode), 0) << rel;
  }
  static std::string Read(const std::string& path) {
    auto s = sys::ReadFile(path);
    return s.ok() ? *s : "<" + s.status().message() + ">";
  }
  static struct stat Lstat(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
  }
  static std::string Xattr(const std::string& path, const char* name) {
    char buf[256];
    ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof(buf));
    return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
  }
  static std::string Run(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[512];
    while (p && std::fgets(buf, sizeof(buf), p)) out += buf;
    if (p) ::pclose(p);
    return out;
  }
  TreeCopyStats Sync(TreeCopier& c) {
    auto s = c.Sync();
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? *s : TreeCopyStats{};
  }

  std::string dir_, from_, to_;
  RecordingObserver observer_;
};

TEST_F(TreeCopyTest, RootKeepsOwnersModesTimesXattrsAclsLinksAndSpecialFiles) {
  Mkdir("etc", 0750);
  Write("etc/shadow", "secret\n", 0640);
  ASSERT_EQ(::chown((from_ + "/etc/shadow").c_str(), 0, 42), 0);
  Write("bin-su", "elf", 0755);
  ASSERT_EQ(::chown((from_ + "/bin-su").c_str(), 1000, 1001), 0);
  ASSERT_EQ(::chmod((from_ + "/bin-su").c_str(), 04755), 0);
  ASSERT_EQ(::setxattr((from_ + "/bin-su").c_str(), "user.note", "v1", 2, 0), 0);
  ASSERT_EQ(::setxattr((from_ + "/etc").c_str(), "user.dir", "d", 1, 0), 0);
  Write("acl", "a", 0664);
  ASSERT_EQ(std::system(("setfacl -m u:1234:rwx,g:5678:r " + from_ + "/acl").c_str()), 0);
  ASSERT_EQ(std::system(("setfacl -d -m u:1234:rx " + from_ + "/etc").c_str()), 0);
  Write("hard1", "same inode");
  ASSERT_EQ(::link((from_ + "/hard1").c_str(), (from_ + "/etc/hard2").c_str()), 0);
  ASSERT_EQ(::symlink("../etc/shadow", (from_ + "/link").c_str()), 0);
  ASSERT_EQ(::lchown((from_ + "/link").c_str(), 5, 6), 0);
  ASSERT_EQ(::mkfifo((from_ + "/fifo").c_str(), 0620), 0);
  ASSERT_EQ(::chmod((from_ + "/fifo").c_str(), 0620), 0);  // past the umask
  ASSERT_EQ(::mknod((from_ + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  struct timespec times[2] = {{100, 123456789}, {200, 987654321}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (from_ + "/bin-su").c_str(), times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (from_ + "/etc").c_str(), times, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (from_ + "/link").c_str(), times, AT_SYMLINK_NOFOLLOW), 0);

  TreeCopier c(from_, to_, {}, &observer_);
  TreeCopyStats s = Sync(c);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(observer_.warnings, std::vector<std::string>{});

  EXPECT_EQ(Read(to_ + "/etc/shadow"), "secret\n");
  struct stat st = Lstat(to_ + "/etc/shadow");
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 42u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  st = Lstat(to_ + "/bin-su");
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_mtim.tv_sec, 200);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
  EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
  EXPECT_EQ(Xattr(to_ + "/bin-su", "user.note"), "v1");
  st = Lstat(to_ + "/etc");
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321) << "directory times are set after its contents";
  EXPECT_EQ(Xattr(to_ + "/etc", "user.dir"), "d");
  EXPECT_EQ(Run("getfacl -cpn " + to_ + "/acl"), Run("getfacl -cpn " + from_ + "/acl"));
  EXPECT_THAT(Run("getfacl -cpn " + to_ + "/acl"), HasSubstr("user:1234:rwx"));
  EXPECT_EQ(Lstat(to_ + "/acl").st_mode & 07777, 0674u);  // the mask in the group bits
  EXPECT_EQ(Run("getfacl -cpnd " + to_ + "/etc"), Run("getfacl -cpnd " + from_ + "/etc"));
  EXPECT_THAT(Run("getfacl -cpnd " + to_ + "/etc"), HasSubstr("user:1234:r-x"));
  EXPECT_EQ(Lstat(to_ + "/hard1").st_ino, Lstat(to_ + "/etc/hard2").st_ino);
  EXPECT_EQ(Lstat(to_ + "/hard1").st_nlink, 2u);
  char target[64] = {};
  ASSERT_GT(::readlink((to_ + "/link").c_str(), target, sizeof(target)), 0);
  EXPECT_STREQ(target, "../etc/shadow");
  st = Lstat(to_ + "/link");
  EXPECT_EQ(st.st_uid, 5u);
  EXPECT_EQ(st.st_gid, 6u);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
  st = Lstat(to_ + "/fifo");
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0620u);
  st = Lstat(to_ + "/null");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
}

TEST_F(TreeCopyTest, HolesStayHolesAndWrittenZerosStayData) {
  // 1 TiB of holes around 4 KiB of data: read in full this would take hours.
  {
    sys::UniqueFd fd(::open((from_ + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::ftruncate(fd.get(), off_t{1} << 40), 0);
    std::string data(4096, 'x');
    ASSERT_EQ(::pwrite(fd.get(), data.data(), data.size(), off_t{1} << 39), 4096);
  }
  Write("holes-only", "");
  ASSERT_EQ(::truncate((from_ + "/holes-only").c_str(), off_t{1} << 40), 0);
  Write("zeros", std::string(1 << 20, '\0'));
  ASSERT_EQ(::fsync(sys::UniqueFd(::open((from_ + "/zeros").c_str(), O_RDONLY)).get()), 0);

  TreeCopier c(from_, to_, {}, &observer_);
  TreeCopyStats s = Sync(c);
  EXPECT_EQ(s.data_bytes, 4096u + (1u << 20));

  struct stat st = Lstat(to_ + "/sparse");
  EXPECT_EQ(st.st_size, off_t{1} << 40);
  EXPECT_LE(st.st_blocks, 64) << "holes were written";
  sys::UniqueFd fd(::open((to_ + "/sparse").c_str(), O_RDONLY));
  char buf[4] = {};
  ASSERT_EQ(::pread(fd.get(), buf, 4, (off_t{1} << 39) + 100), 4);
  EXPECT_EQ(std::string(buf, 4), "xxxx");
  st = Lstat(to_ + "/holes-only");
  EXPECT_EQ(st.st_size, off_t{1} << 40);
  EXPECT_EQ(st.st_blocks, 0);
  st = Lstat(to_ + "/zeros");
  EXPECT_EQ(st.st_size, 1 << 20);
  EXPECT_GE(st.st_blocks, (1 << 20) / 512) << "written zeros became holes";
  EXPECT_EQ(Read(to_ + "/zeros"), std::string(1 << 20, '\0'));
}

TEST_F(TreeCopyTest, PathsLongerThanPathMaxWithFewOpenFiles) {
  sys::UniqueFd fd(::open(from_.c_str(), O_RDONLY | O_DIRECTORY));
  const std::string name(30, 'd');
  const int levels = 300;  // 9.3 KB: more than twice PATH_MAX, more levels than open files
  for (int i = 0; i < levels; ++i) {
    ASSERT_EQ(::mkdirat(fd.get(), name.c_str(), 0750), 0);
    fd.Reset(::openat(fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(fd.valid());
  }
  sys::UniqueFd f(::openat(fd.get(), "leaf", O_WRONLY | O_CREAT, 0600));
  ASSERT_EQ(::write(f.get(), "deep\n", 5), 5);
  f.Reset();
  ASSERT_EQ(::symlinkat("x", fd.get(), "link"), 0);
  ASSERT_EQ(::linkat(fd.get(), "leaf", fd.get(), "leaf2", 0), 0);
  fd.Reset();

  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  struct rlimit low = {256, old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  TreeCopier c(from_, to_, {}, &observer_);
  TreeCopyStats s = Sync(c);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(observer_.warnings, std::vector<std::string>{});
  EXPECT_EQ(s.entries, static_cast<uint64_t>(levels) + 4);

  fd.Reset(::open(to_.c_str(), O_RDONLY | O_DIRECTORY));
  for (int i = 0; i < levels; ++i) {
    fd.Reset(::openat(fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    ASSERT_TRUE(fd.valid()) << "level " << i;
  }
  struct stat st;
  ASSERT_EQ(::fstatat(fd.get(), "leaf", &st, 0), 0);
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::fstatat(fd.get(), "link", &st, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  fd.Reset();

  // The second pass deletes the deep tree once it is gone, as deep.
  ASSERT_EQ(std::system(("rm -rf " + from_ + "/" + name).c_str()), 0);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  s = Sync(c);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(s.deleted, 1u);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(observer_.warnings, std::vector<std::string>{});
  EXPECT_EQ(::access((to_ + "/" + name).c_str(), F_OK), -1);
}

TEST_F(TreeCopyTest, SecondPassCopiesOnlyWhatChangedAndDeletesWhatVanished) {
  Mkdir("d");
  Write("d/same", "unchanged");
  Write("d/edit", "aaaa");
  Write("d/gone", "x");
  Mkdir("d/gone-dir");
  Write("d/gone-dir/f", "y");
  Write("d/becomes-dir", "z");
  Write("chmod", "c");
  Write("xattr", "x");
  ASSERT_EQ(::setxattr((from_ + "/xattr").c_str(), "user.a", "1", 1, 0), 0);
  Write("hard", "h");
  ASSERT_EQ(::link((from_ + "/hard").c_str(), (from_ + "/hard-2").c_str()), 0);
  // A file changed within a second of the pass that looked at it may have
  // changed again in the same timestamp tick: only older ones are trusted.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));

  TreeCopier c(from_, to_, {}, &observer_);
  TreeCopyStats s = Sync(c);
  EXPECT_EQ(s.failed, 0u);
  ino_t same_ino = Lstat(to_ + "/d/same").st_ino;

  s = Sync(c);  // nothing changed
  EXPECT_EQ(s.copied, 0u) << s.Summary();
  EXPECT_EQ(s.deleted, 0u);
  EXPECT_EQ(s.data_bytes, 0u);

  // Same size and mtime, new content: ctime tells.
  struct stat before = Lstat(from_ + "/d/edit");
  Write("d/edit", "bbbb");
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (from_ + "/d/edit").c_str(), times, 0), 0);
  ASSERT_EQ(::unlink((from_ + "/d/gone").c_str()), 0);
  ASSERT_EQ(std::system(("rm -r " + from_ + "/d/gone-dir").c_str()), 0);
  ASSERT_EQ(::unlink((from_ + "/d/becomes-dir").c_str()), 0);
  Mkdir("d/becomes-dir");
  Write("d/becomes-dir/inside", "i");
  Write("d/new", "n");
  ASSERT_EQ(::chmod((from_ + "/chmod").c_str(), 0600), 0);
  ASSERT_EQ(::removexattr((from_ + "/xattr").c_str(), "user.a"), 0);
  ASSERT_EQ(::unlink((from_ + "/hard-2").c_str()), 0);
  Write("hard-2", "separate");

  s = Sync(c);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.deleted, 2u) << s.Summary();  // d/gone, d/gone-dir (becomes-dir is replaced)
  EXPECT_EQ(Read(to_ + "/d/edit"), "bbbb");
  EXPECT_EQ(Lstat(to_ + "/d/same").st_ino, same_ino) << "unchanged file copied again";
  EXPECT_EQ(::access((to_ + "/d/gone").c_str(), F_OK), -1);
  EXPECT_EQ(::access((to_ + "/d/gone-dir").c_str(), F_OK), -1);
  EXPECT_TRUE(S_ISDIR(Lstat(to_ + "/d/becomes-dir").st_mode));
  EXPECT_EQ(Read(to_ + "/d/becomes-dir/inside"), "i");
  EXPECT_EQ(Read(to_ + "/d/new"), "n");
  EXPECT_EQ(Lstat(to_ + "/chmod").st_mode & 07777, 0600u);
  EXPECT_EQ(Xattr(to_ + "/xattr", "user.a"), "<none>");
  EXPECT_EQ(Read(to_ + "/hard"), "h");
  EXPECT_EQ(Read(to_ + "/hard-2"), "separate");
  EXPECT_NE(Lstat(to_ + "/hard").st_ino, Lstat(to_ + "/hard-2").st_ino);
  EXPECT_EQ(Lstat(to_ + "/d").st_mtim.tv_nsec, Lstat(from_ + "/d").st_mtim.tv_nsec);
}

TEST_F(TreeCopyTest, TreeDeeperThanTheWalkIsCutWithOneWarning) {
  sys::UniqueFd fd(::open(from_.c_str(), O_RDONLY | O_DIRECTORY));
  for (int i = 0; i < 2050; ++i) {
    ASSERT_EQ(::mkdirat(fd.get(), "d", 0755), 0);
    fd.Reset(::openat(fd.get(), "d", O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(fd.valid());
  }
  fd.Reset();
  TreeCopier c(from_, to_, {}, &observer_);
  TreeCopyStats s = Sync(c);
  EXPECT_EQ(s.failed, 1u);
  s = Sync(c);
  EXPECT_EQ(s.failed, 1u);
  ASSERT_EQ(observer_.warnings.size(), 1u) << "warned again by the second pass";
  EXPECT_THAT(observer_.warnings[0], HasSubstr("nested deeper than 2048 directories"));
  // 2048 levels below the root, as the other modes' walks.
  fd.Reset(::open(to_.c_str(), O_RDONLY | O_DIRECTORY));
  for (int i = 0; i < 2048; ++i) {
    fd.Reset(::openat(fd.get(), "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    ASSERT_TRUE(fd.valid()) << "level " << i + 1;
  }
  struct stat st;
  EXPECT_NE(::fstatat(fd.get(), "d", &st, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(errno, ENOENT);
}

TEST_F(TreeCopyTest, RootFullCopyFailsNamingTheFile) {
  ASSERT_EQ(::mount("tmpfs", to_.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  Mkdir("srv");
  Write("srv/big", std::string(4 << 20, 'b'));
  TreeCopier c(from_, to_, {}, &observer_);
  auto s = c.Sync();
  ::umount2(to_.c_str(), MNT_DETACH);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("\"/srv/big\""));
  EXPECT_THAT(s.status().message(), HasSubstr("No space left on device"));
}

TEST_F(TreeCopyTest, FileChangedJustBeforeAPassIsCopiedAgainByTheNext) {
  // Its ctime is within the timestamp tick of the first pass's look: a write
  // right after that look could have left ctime as it was.
  Write("fresh", "1");
  TreeCopier c(from_, to_, {}, &observer_);
  Sync(c);
  TreeCopyStats s = Sync(c);
  EXPECT_GE(s.copied, 1u) << s.Summary();
  EXPECT_EQ(s.data_bytes, 1u);
}

TEST_F(TreeCopyTest, ExclusionsAndIncludedSources) {
  Mkdir("tmp");
  Write("tmp/junk", "j");
  Mkdir("var");
  Write("var/keep", "k");
  Write("var/x.log", "l");
  Mkdir("mnt");
  Mkdir("mnt/data");
  Write("mnt/data/f", "data");
  TreeCopyOptions o;
  o.sources = {"./", "./mnt/data"};
  o.exclude_patterns = {"/tmp/?*", "*.log"};
  TreeCopier c(from_, to_, o, &observer_);
  Sync(c);
  EXPECT_TRUE(S_ISDIR(Lstat(to_ + "/tmp").st_mode));
  EXPECT_EQ(::access((to_ + "/tmp/junk").c_str(), F_OK), -1);
  EXPECT_EQ(::access((to_ + "/var/x.log").c_str(), F_OK), -1);
  EXPECT_EQ(Read(to_ + "/var/keep"), "k");
  // A source below another is copied by its own walk, and the second pass
  // keeps it.
  EXPECT_EQ(Read(to_ + "/mnt/data/f"), "data");
  TreeCopyStats s = Sync(c);
  EXPECT_EQ(s.deleted, 0u);
  EXPECT_EQ(Read(to_ + "/mnt/data/f"), "data");
}

TEST_F(TreeCopyTest, BandwidthLimitSlowsTheFileData) {
  Write("big", std::string(3 << 20, 'b'));
  TreeCopyOptions o;
  o.bwlimit = 1 << 20;  // 1 MiB/s: 3 MiB take at least 2.8 s after the 128 KiB burst
  TreeCopier c(from_, to_, o, &observer_);
  auto start = std::chrono::steady_clock::now();
  TreeCopyStats s = Sync(c);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(s.data_bytes, 3u << 20);
  EXPECT_GE(secs, 2.8);
  EXPECT_EQ(Read(to_ + "/big"), std::string(3 << 20, 'b'));
}

// Each pass reports its phase; the last report of a pass has its counts;
// the final pass counts against the first pass's entries.
TEST_F(TreeCopyTest, PassesReportProgressWithPhaseAndTotals) {
  Mkdir("d");
  Write("d/a", std::string(100000, 'a'));
  Write("b", "bb");
  RecordingObserver obs;
  TreeCopier copier(from_, to_, {}, &obs);
  auto first = copier.Sync();
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_FALSE(obs.progress.empty());
  const ctdump::Progress& end1 = obs.progress.back();
  EXPECT_EQ(end1.phase, "rsync-first");
  EXPECT_EQ(end1.files, first->entries);
  EXPECT_EQ(end1.bytes, 100002u);
  EXPECT_EQ(end1.total_files, std::nullopt);
  EXPECT_EQ(end1.current.front(), '/');
  size_t after_first = obs.progress.size();
  Write("b", "changed");
  auto final_pass = copier.Sync();
  ASSERT_TRUE(final_pass.ok()) << final_pass.status().message();
  ASSERT_GT(obs.progress.size(), after_first);
  const ctdump::Progress& end2 = obs.progress.back();
  EXPECT_EQ(end2.phase, "rsync-final");
  EXPECT_EQ(end2.files, final_pass->entries);
  EXPECT_EQ(end2.bytes, final_pass->data_bytes);
  EXPECT_EQ(end2.total_files, first->entries);
  for (size_t i = 1; i < obs.progress.size(); ++i) {
    if (obs.progress[i].phase == obs.progress[i - 1].phase) {
      EXPECT_GE(obs.progress[i].bytes, obs.progress[i - 1].bytes);
    }
  }
}

// Everything a walk of the copy sees, one line per entry (atimes aside:
// reading changes them), with each file's content hash and xattrs.
std::string Manifest(const std::string& root) {
  std::string out;
  FILE* p = ::popen(("cd " + root +
                     " && find . -printf '%p %y %m %U %G %s %n %T@\\n' | LC_ALL=C sort"
                     " && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r md5sum"
                     " && getfattr -Rhd -m - . 2>/dev/null")
                        .c_str(),
                    "r");
  char buf[1024];
  while (p && std::fgets(buf, sizeof(buf), p)) out += buf;
  if (p) ::pclose(p);
  return out;
}

// The pool's threads (several, or none: the walk copies) make the same copy
// of a tree of many files in many directories: hardlinks across and within
// directories (the link waits for its target's copy), directory times after
// their contents, owners (chown skipped only where the creator's owner is
// right: not in a setgid directory), xattrs, holes, and a second pass with
// changes and deletions.
TEST_F(TreeCopyTest, RootThreadsOrNoneMakeTheSameCopyOfManyFiles) {
  Mkdir("sg", 02775);
  ASSERT_EQ(::chown((from_ + "/sg").c_str(), 0, 42), 0);
  ASSERT_EQ(::chmod((from_ + "/sg").c_str(), 02775), 0);  // mkdir leaves S_ISGID out
  Write("sg/root-file", "creator's owner but not the directory's group");
  ASSERT_EQ(::chown((from_ + "/sg/root-file").c_str(), 0, 0), 0);
  Write("sg/other", "o");
  ASSERT_EQ(::chown((from_ + "/sg/other").c_str(), 7, 42), 0);
  for (int d = 0; d < 30; ++d) {
    std::string dir = fmt::format("d{:02}", d);
    Mkdir(dir);
    for (int f = 0; f < 40; ++f) {
      std::string rel = fmt::format("{}/f{:02}", dir, f);
      Write(rel, std::string(static_cast<size_t>((d * 40 + f) * 97 % 70000), 'a' + f % 26));
      if (f % 7 == 0) {
        ASSERT_EQ(::chown((from_ + "/" + rel).c_str(), 1000 + f, 2000 + d), 0);
      }
      if (f % 11 == 0) {
        ASSERT_EQ(::setxattr((from_ + "/" + rel).c_str(), "user.n", "v", 1, 0), 0);
      }
    }
    if (d > 0) {
      std::string target = fmt::format("{}/d{:02}/f03", from_, d - 1);
      ASSERT_EQ(::link(target.c_str(), (from_ + "/" + dir + "/zz-link-up").c_str()), 0);
      ASSERT_EQ(
          ::link((from_ + "/" + dir + "/f39").c_str(), (from_ + "/" + dir + "/zz-link").c_str()),
          0);
    }
  }
  {
    sys::UniqueFd fd(::open((from_ + "/d05/sparse").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), "x", 1, 64 << 20), 1);
  }
  struct timespec times[2] = {{100, 1}, {200, 2}};
  for (const char* d : {"sg", "d00", "d17", "d29", "."})
    ASSERT_EQ(::utimensat(AT_FDCWD, (from_ + "/" + d).c_str(), times, 0), 0);

  const std::string to0 = dir_ + "/to0";
  ASSERT_EQ(::mkdir(to0.c_str(), 0700), 0);
  TreeCopyOptions threaded;
  threaded.threads = 4;
  TreeCopyOptions walk_only;
  walk_only.threads = 0;
  TreeCopier c(from_, to_, threaded, &observer_);
  TreeCopier c0(from_, to0, walk_only, &observer_);
  TreeCopyStats s = Sync(c);
  TreeCopyStats s0 = Sync(c0);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.copied, s0.copied);
  EXPECT_EQ(s.data_bytes, s0.data_bytes);
  EXPECT_EQ(observer_.warnings, std::vector<std::string>{});
  const std::string source = Manifest(from_);
  EXPECT_THAT(source, HasSubstr("./d29/zz-link-up f 644 0 0 "));
  EXPECT_EQ(Manifest(to_), source);
  EXPECT_EQ(Manifest(to0), source);
  EXPECT_EQ(Lstat(to_ + "/sg/root-file").st_gid, 0u) << "the setgid directory's group stayed";
  EXPECT_EQ(Lstat(to_ + "/d04/f03").st_ino, Lstat(to_ + "/d05/zz-link-up").st_ino);
  EXPECT_EQ(Lstat(to_ + "/d05/f39").st_ino, Lstat(to_ + "/d05/zz-link").st_ino);
  EXPECT_LT(Lstat(to_ + "/d05/sparse").st_blocks, 64) << "holes stay holes";
  EXPECT_EQ(Lstat(to_ + "/d17").st_mtim.tv_nsec, 2);

  // The second pass: what changed, what vanished, a link whose target changed.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // past the racy second
  Sync(c);
  Sync(c0);
  ASSERT_EQ(std::system(("rm -r " + from_ + "/d03").c_str()), 0);
  ASSERT_EQ(::unlink((from_ + "/d07/f05").c_str()), 0);
  Write("d08/f06", "new content");
  Write("d09/new", std::string(200000, 'n'));
  ASSERT_EQ(::unlink((from_ + "/d10/zz-link").c_str()), 0);
  Write("d10/zz-link", "no longer a link");
  for (const char* d : {"d07", "d08", "d09", "d10", "."})
    ASSERT_EQ(::utimensat(AT_FDCWD, (from_ + "/" + d).c_str(), times, 0), 0);
  s = Sync(c);
  s0 = Sync(c0);
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.deleted, 2u) << s.Summary();  // d03, d07/f05 (d10/zz-link is replaced)
  EXPECT_EQ(s.copied, s0.copied);
  const std::string changed = Manifest(from_);
  EXPECT_EQ(Manifest(to_), changed);
  EXPECT_EQ(Manifest(to0), changed);
}

// A copy that runs out of space on a pool thread ends the pass with an
// error naming a file, however many files are still queued.
TEST_F(TreeCopyTest, RootFullCopyOnThreadsFailsNamingAFile) {
  ASSERT_EQ(::mount("tmpfs", to_.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  Mkdir("srv");
  for (int i = 0; i < 60; ++i) Write(fmt::format("srv/f{:02}", i), std::string(100000, 'f'));
  TreeCopyOptions o;
  o.threads = 4;
  TreeCopier c(from_, to_, o, &observer_);
  auto s = c.Sync();
  ::umount2(to_.c_str(), MNT_DETACH);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("Failed to copy \"/srv/f"));
  EXPECT_THAT(s.status().message(), HasSubstr("No space left on device"));
}

// Into another file system copy_file_range cannot go (EXDEV): read and write
// instead, holes kept; on both paths (pool and walk).
TEST_F(TreeCopyTest, RootCopyToAnotherFileSystemFallsBackToReadWrite) {
  ASSERT_EQ(::mount("tmpfs", to_.c_str(), "tmpfs", 0, "size=64m"), 0) << std::strerror(errno);
  Write("a", std::string(3 << 20, 'a'));
  Write("b", "small");
  {
    sys::UniqueFd fd(::open((from_ + "/holes").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), "x", 1, 1 << 30), 1);
  }
  for (int threads : {4, 0}) {
    TreeCopyOptions o;
    o.threads = threads;
    TreeCopier c(from_, to_, o, &observer_);
    TreeCopyStats s = Sync(c);
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(Read(to_ + "/a"), std::string(3 << 20, 'a'));
    EXPECT_EQ(Read(to_ + "/b"), "small");
    EXPECT_EQ(Lstat(to_ + "/holes").st_size, (1 << 30) + 1);
    EXPECT_LT(Lstat(to_ + "/holes").st_blocks, 64);
    ASSERT_EQ(std::system(("rm -rf " + to_ + "/*").c_str()), 0);
  }
  ::umount2(to_.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace ctdump::modes
