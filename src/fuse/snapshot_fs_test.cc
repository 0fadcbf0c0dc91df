#include "fuse/snapshot_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fuse/fuse_test_util.h"
#include "fuse/snapshot_tree.h"
#include "sys/file.h"
#include "sys/signals.h"

namespace ctdump::fuse {
namespace {

using datastore::Entry;
using testing::FindNode;
using testing::kMiB;
using testing::SampleTree;
using testing::SnapshotTest;

constexpr long kFuseSuperMagic = 0x65735546;

// ---------------------------------------------------------------------------
// Ranged reads (no FUSE).

class ReadFileRangeTest : public SnapshotTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(SnapshotTest::SetUp());
    sample_ = SampleTree();
    ASSERT_NO_FATAL_FAILURE(Write(sample_));
    auto tree = BuildTree(reader());
    ASSERT_TRUE(tree.ok()) << tree.status().ToString();
    tree_ = std::move(*tree);
  }

  const Entry& StoredEntry(const std::string& path) { return tree_.node(*tree_.Find(path)).entry; }

  // Compares every range of `ranges` with the content.
  void CheckRanges(const std::string& path,
                   const std::vector<std::pair<uint64_t, uint64_t>>& ranges) {
    const std::string& content = FindNode(sample_, path)->content;
    for (auto [off, len] : ranges) {
      SCOPED_TRACE(path + " @" + std::to_string(off) + "+" + std::to_string(len));
      std::string got = "garbage";
      ASSERT_TRUE(ReadFileRange(reader(), StoredEntry(path), off, len, &got).ok());
      std::string want = off >= content.size() ? "" : content.substr(off, len);
      ASSERT_EQ(got.size(), want.size());
      ASSERT_TRUE(got == want);
    }
  }

  std::vector<std::pair<uint64_t, uint64_t>> RandomRanges(uint64_t size, int n) {
    std::mt19937_64 rng(42);
    std::vector<std::pair<uint64_t, uint64_t>> out;
    for (int i = 0; i < n; ++i) out.emplace_back(rng() % (size + 10), rng() % (300 * 1024));
    return out;
  }

  std::vector<datastore::testing::Node> sample_;
  SnapshotTree tree_;
};

TEST_F(ReadFileRangeTest, DenseFile) {
  const uint64_t size = 5 * kMiB + 123;
  CheckRanges("big", {{0, size},
                      {0, 1},
                      {size - 1, 1},
                      {size - 100, 1000},
                      {size, 10},
                      {size + 5, 10},
                      {1000, 0},
                      {kMiB - 3, 2 * kMiB}});
  CheckRanges("big", RandomRanges(size, 50));
  CheckRanges("dir/a", {{0, 10000}, {9990, 100}});
  CheckRanges("dir/b", {{0, 100}});
}

TEST_F(ReadFileRangeTest, SparseFileHolesReadAsZeros) {
  const uint64_t size = 8 * kMiB;
  CheckRanges("sparse", {{0, size},
                         {0, 4096},                // a hole only
                         {4000, 200},              // hole into data
                         {4096 + 8000, 1000},      // data into hole
                         {kMiB + 65000, 2000},     // across two adjacent regions
                         {7 * kMiB + 4000, kMiB},  // the last region to the end
                         {size - 1, 10}});
  CheckRanges("sparse", RandomRanges(size, 100));
}

TEST_F(ReadFileRangeTest, InconsistentRecordsAreDataLoss) {
  std::string out;
  Entry e = StoredEntry("big");
  e.data_offset = reader().data().size();  // beyond the data stream
  EXPECT_EQ(ReadFileRange(reader(), e, 0, 10, &out).code(), Code::kDataLoss);
  e = StoredEntry("big");
  e.data_offset = UINT64_MAX - 5;  // wraps around
  EXPECT_EQ(ReadFileRange(reader(), e, 0, 10, &out).code(), Code::kDataLoss);

  Entry s = StoredEntry("sparse");
  s.sparse = {{100, 10}, {50, 10}};  // not increasing
  s.data_length = 20;
  EXPECT_EQ(ReadFileRange(reader(), s, 0, 200, &out).code(), Code::kDataLoss);
  s.sparse = {{0, s.size + 1}};  // beyond the size
  s.data_length = s.size + 1;
  EXPECT_EQ(ReadFileRange(reader(), s, 0, 200, &out).code(), Code::kDataLoss);
  s = StoredEntry("sparse");
  s.data_length -= 1;  // regions hold more than the record stores
  EXPECT_EQ(ReadFileRange(reader(), s, 0, s.size, &out).code(), Code::kDataLoss);
}

// ---------------------------------------------------------------------------
// Refusals before mounting (no FUSE needed).

using MountSnapshotTest = SnapshotTest;

TEST_F(MountSnapshotTest, MountPointMustBeAnEmptyDirectory) {
  ASSERT_NO_FATAL_FAILURE(Write(SampleTree()));
  const std::string full = dir_ + "/full";
  ASSERT_TRUE(sys::MakeDirs(full + "/x").ok());
  Status s = MountSnapshot(reader(), full, MountOptions{}, nullptr);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("\"" + full + "\" is not empty"), std::string::npos) << s.message();

  s = MountSnapshot(reader(), full + "/missing", MountOptions{}, nullptr);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find(full + "/missing"), std::string::npos) << s.message();

  ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/file", "x").ok());
  s = MountSnapshot(reader(), dir_ + "/file", MountOptions{}, nullptr);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("is not a directory"), std::string::npos) << s.message();
}

TEST_F(MountSnapshotTest, BackgroundIsRefused) {
  ASSERT_NO_FATAL_FAILURE(Write(SampleTree()));
  ASSERT_TRUE(sys::MakeDirs(dir_ + "/mnt").ok());
  MountOptions o;
  o.foreground = false;
  EXPECT_EQ(MountSnapshot(reader(), dir_ + "/mnt", o, nullptr).code(), Code::kFailedPrecondition);
}

// ---------------------------------------------------------------------------
// The real mount (root, /dev/fuse).

// Runs MountSnapshot in a thread; the destructor unmounts (lazily) and
// joins, so a failing test never leaves a mount or a thread behind.
class BackgroundMount {
 public:
  BackgroundMount(datastore::SnapshotReader& reader, std::string mnt, Observer* observer,
                  MountOptions o = {})
      : mnt_(std::move(mnt)) {
    std::promise<Status> p;
    result_ = p.get_future();
    thread_ = std::thread([&reader, this, observer, o, p = std::move(p)]() mutable {
      p.set_value(MountSnapshot(reader, mnt_, o, observer));
    });
  }
  ~BackgroundMount() {
    if (!thread_.joinable()) return;
    if (!Finished()) ::umount2(mnt_.c_str(), MNT_DETACH);
    thread_.join();
  }

  bool Finished() {
    return result_.valid() &&
           result_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }
  // Waits until the file system is mounted, or MountSnapshot returned.
  bool WaitMounted() {
    for (int i = 0; i < 1000 && !Finished(); ++i) {
      struct statfs st;
      if (::statfs(mnt_.c_str(), &st) == 0 && st.f_type == kFuseSuperMagic) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // Waits for MountSnapshot to return (after an unmount).
  Status Wait() {
    if (result_.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
      return DeadlineExceededError("MountSnapshot did not return after the unmount");
    thread_.join();
    return result_.get();
  }

 private:
  std::string mnt_;
  std::future<Status> result_;
  std::thread thread_;
};

std::string ReadAll(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "<open failed: " + std::string(strerror(errno)) + ">";
  std::string out, buf(kMiB, '\0');
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) > 0) out.append(buf.data(), n);
  ::close(fd);
  return n < 0 ? "<read failed>" : out;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) return {"<opendir failed>"};
  while (const dirent* e = ::readdir(d)) out.push_back(e->d_name);
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

int ErrnoOf(int r) { return r < 0 ? errno : 0; }

class FuseRootTest : public SnapshotTest {
 protected:
  void SetUp() override {
    if (::access("/dev/fuse", R_OK | W_OK) != 0)
      GTEST_SKIP() << "/dev/fuse is not available: " << strerror(errno);
    ASSERT_NO_FATAL_FAILURE(SnapshotTest::SetUp());
  }
  // A signal test leaves no interruption behind for the next test.
  void TearDown() override {
    sys::ResetInterruptForTest();
    SnapshotTest::TearDown();
  }
};

TEST_F(FuseRootTest, MountAndRead) {
  const auto sample = SampleTree();
  ASSERT_NO_FATAL_FAILURE(Write(sample));
  const std::string mnt = dir_ + "/mnt";
  ASSERT_TRUE(sys::MakeDirs(mnt).ok());
  const std::string m = mnt + "/";

  BackgroundMount mount(reader(), mnt, &observer_);
  ASSERT_TRUE(mount.WaitMounted()) << observer_.All();

  // A backup's setuid files and devices are inert on the host.
  struct statvfs vfs;
  ASSERT_EQ(::statvfs(mnt.c_str(), &vfs), 0);
  EXPECT_TRUE(vfs.f_flag & ST_RDONLY);
  EXPECT_TRUE(vfs.f_flag & ST_NOSUID);
  EXPECT_TRUE(vfs.f_flag & ST_NODEV);

  // Names, types, owners, times.
  struct stat st;
  ASSERT_EQ(::stat(mnt.c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, 1u);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_nlink, 3u);
  EXPECT_EQ(ListDir(mnt), (std::vector<std::string>{".", "..", "big", "dir", "fifo", "hard", "link",
                                                    "null", "sparse"}));
  EXPECT_EQ(ListDir(m + "dir"), (std::vector<std::string>{".", "..", "a", "b", "c", "sub"}));
  for (const auto& n : sample) {
    if (n.entry.path.empty() || n.entry.is_hardlink()) continue;
    SCOPED_TRACE(n.entry.path);
    ASSERT_EQ(::lstat((m + n.entry.path).c_str(), &st), 0) << strerror(errno);
    EXPECT_EQ(st.st_mode, n.entry.mode);
    EXPECT_EQ(st.st_uid, n.entry.uid);
    EXPECT_EQ(st.st_gid, n.entry.gid);
    EXPECT_EQ(st.st_mtim.tv_sec, n.entry.mtime_sec);
    EXPECT_EQ(st.st_mtim.tv_nsec, n.entry.mtime_nsec);
    if (S_ISREG(n.entry.mode)) {
      EXPECT_EQ(static_cast<uint64_t>(st.st_size), n.entry.size);
      EXPECT_EQ(static_cast<uint64_t>(st.st_blocks), (n.entry.data_length + 511) / 512);
    }
  }
  ASSERT_EQ(::stat((m + "null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(::stat((m + "missing").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);

  // Hardlinks: one inode, three names.
  struct stat a, c, h;
  ASSERT_EQ(::stat((m + "dir/a").c_str(), &a), 0);
  ASSERT_EQ(::stat((m + "dir/c").c_str(), &c), 0);
  ASSERT_EQ(::stat((m + "hard").c_str(), &h), 0);
  EXPECT_EQ(a.st_ino, c.st_ino);
  EXPECT_EQ(a.st_ino, h.st_ino);
  EXPECT_EQ(a.st_nlink, 3u);
  EXPECT_EQ(ReadAll(m + "hard"), FindNode(sample, "dir/a")->content);

  // Symlink.
  char target[256];
  ssize_t n = ::readlink((m + "link").c_str(), target, sizeof(target));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(target, n), "dir/a");
  ASSERT_EQ(::lstat((m + "link").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 5);

  // Content: a multi-MiB random file, sequentially and at random offsets.
  const std::string& big = FindNode(sample, "big")->content;
  EXPECT_TRUE(ReadAll(m + "big") == big);
  int fd = ::open((m + "big").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20; ++i) {
    uint64_t off = rng() % big.size(), len = 1 + rng() % 200000;
    std::string buf(len, '\0');
    ssize_t got = ::pread(fd, buf.data(), len, static_cast<off_t>(off));
    ASSERT_EQ(got, static_cast<ssize_t>(std::min<uint64_t>(len, big.size() - off)));
    buf.resize(got);
    EXPECT_TRUE(buf == big.substr(off, got)) << "at " << off;
  }
  ::close(fd);
  EXPECT_EQ(ReadAll(m + "dir/b"), "");
  EXPECT_EQ(ReadAll(m + "dir/sub/z"), "zzz");

  // A sparse file: holes read as zeros, SEEK_DATA / SEEK_HOLE follow the
  // regions (adjacent ones merge).
  EXPECT_TRUE(ReadAll(m + "sparse") == FindNode(sample, "sparse")->content);
  fd = ::open((m + "sparse").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::lseek(fd, 0, SEEK_DATA), 4096);
  EXPECT_EQ(::lseek(fd, 4096, SEEK_HOLE), 4096 + 8192);
  EXPECT_EQ(::lseek(fd, 20000, SEEK_DATA), static_cast<off_t>(kMiB));
  EXPECT_EQ(::lseek(fd, kMiB + 10, SEEK_HOLE), static_cast<off_t>(kMiB + 65536 + 1000));
  EXPECT_EQ(::lseek(fd, 7 * kMiB + 4096, SEEK_HOLE), static_cast<off_t>(7 * kMiB + 4096));
  EXPECT_EQ(::lseek(fd, 7 * kMiB + 4096, SEEK_DATA), -1);
  EXPECT_EQ(errno, ENXIO);
  ::close(fd);

  // Extended attributes.
  char value[64];
  n = ::getxattr((m + "dir/a").c_str(), "user.comment", value, sizeof(value));
  ASSERT_EQ(n, 5) << strerror(errno);
  EXPECT_EQ(std::string(value, n), "hello");
  EXPECT_EQ(::getxattr((m + "hard").c_str(), "user.comment", nullptr, 0), 5);
  EXPECT_EQ(::getxattr((m + "dir/a").c_str(), "user.empty", value, sizeof(value)), 0);
  EXPECT_EQ(::getxattr((m + "dir/a").c_str(), "user.comment", value, 2), -1);
  EXPECT_EQ(errno, ERANGE);
  EXPECT_EQ(::getxattr((m + "big").c_str(), "user.comment", value, sizeof(value)), -1);
  EXPECT_EQ(errno, ENODATA);
  char names[256];
  n = ::listxattr((m + "dir/a").c_str(), names, sizeof(names));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(names, n), std::string("user.comment\0user.empty\0", 24));

  // Read-only: every kind of write fails with EROFS.
  EXPECT_EQ(ErrnoOf(::open((m + "big").c_str(), O_WRONLY | O_CLOEXEC)), EROFS);
  EXPECT_EQ(ErrnoOf(::open((m + "big").c_str(), O_RDWR | O_CLOEXEC)), EROFS);
  EXPECT_EQ(ErrnoOf(::open((m + "new").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), EROFS);
  EXPECT_EQ(ErrnoOf(::mkdir((m + "newdir").c_str(), 0755)), EROFS);
  EXPECT_EQ(ErrnoOf(::unlink((m + "big").c_str())), EROFS);
  EXPECT_EQ(ErrnoOf(::rename((m + "big").c_str(), (m + "big2").c_str())), EROFS);
  EXPECT_EQ(ErrnoOf(::chmod((m + "big").c_str(), 0777)), EROFS);
  EXPECT_EQ(ErrnoOf(::truncate((m + "big").c_str(), 0)), EROFS);
  EXPECT_EQ(ErrnoOf(::setxattr((m + "big").c_str(), "user.x", "1", 1, 0)), EROFS);
  ASSERT_EQ(::statvfs(mnt.c_str(), &vfs), 0);
  EXPECT_EQ(vfs.f_files, 11u);

  // Listed as ctdump's, naming the backup.
  auto mounts = sys::ReadFile("/proc/self/mountinfo");
  ASSERT_TRUE(mounts.ok());
  EXPECT_NE(mounts->find(" fuse.ctdump ctdump:ct/100/"), std::string::npos) << *mounts;

  // Unmounting ends the session: MountSnapshot returns OK.
  ASSERT_EQ(::umount2(mnt.c_str(), 0), 0) << strerror(errno);
  Status s = mount.Wait();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_NE(observer_.All().find("Mounted backup 'ct/100/"), std::string::npos) << observer_.All();
  EXPECT_EQ(observer_.warnings(), 0u) << observer_.All();
}

// SIGTERM (as from systemd or kill) ends the session: the mount is removed
// and MountSnapshot returns OK.
TEST_F(FuseRootTest, SignalUnmounts) {
  ASSERT_NO_FATAL_FAILURE(Write(SampleTree()));
  const std::string mnt = dir_ + "/mnt";
  ASSERT_TRUE(sys::MakeDirs(mnt).ok());
  {
    BackgroundMount mount(reader(), mnt, &observer_);
    ASSERT_TRUE(mount.WaitMounted()) << observer_.All();
    EXPECT_EQ(ReadAll(mnt + "/dir/sub/z"), "zzz");
    ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);  // MountSnapshot's handler records it
    Status s = mount.Wait();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  struct statfs st;
  ASSERT_EQ(::statfs(mnt.c_str(), &st), 0);
  EXPECT_NE(st.f_type, kFuseSuperMagic);
  EXPECT_NE(observer_.All().find("Signal 15 received"), std::string::npos) << observer_.All();
}

// The unprivileged way out, fusermount3 -u, works on a mount root made;
// the other options are accepted, and libfuse's debug log goes to the
// observer.
TEST_F(FuseRootTest, FusermountUnmountsWithAllOptions) {
  ASSERT_NO_FATAL_FAILURE(Write(SampleTree()));
  const std::string mnt = dir_ + "/mnt";
  ASSERT_TRUE(sys::MakeDirs(mnt).ok());
  MountOptions o;
  o.allow_other = true;
  o.debug = true;
  BackgroundMount mount(reader(), mnt, &observer_, o);
  ASSERT_TRUE(mount.WaitMounted()) << observer_.All();
  EXPECT_EQ(ReadAll(mnt + "/dir/sub/z"), "zzz");
  auto mounts = sys::ReadFile("/proc/self/mountinfo");
  ASSERT_TRUE(mounts.ok());
  EXPECT_NE(mounts->find("allow_other"), std::string::npos) << *mounts;
  ASSERT_EQ(std::system(("fusermount3 -u " + mnt).c_str()), 0);
  Status s = mount.Wait();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(sys::IsDirectory(mnt));
  EXPECT_NE(observer_.All().find("INIT"), std::string::npos) << observer_.All();
}

}  // namespace
}  // namespace ctdump::fuse
