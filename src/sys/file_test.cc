#include "sys/file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

namespace ctdump::sys {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-file-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_).ok()); }
  std::string dir_;
};

TEST_F(FileTest, WriteAtomicThenRead) {
  std::string p = dir_ + "/a.txt";
  ASSERT_TRUE(WriteFileAtomic(p, "hello", 0600).ok());
  auto r = ReadFile(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello");
  struct stat st;
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(FileTest, ReadMissingNamesPath) {
  auto r = ReadFile(dir_ + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(),
            "Failed to open \"" + dir_ + "/missing\": No such file or directory");
}

TEST_F(FileTest, ReadRegularFileRefusesFifosDevicesAndDirectories) {
  std::string fifo = dir_ + "/fifo", zero = dir_ + "/zero";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);  // no writer: a plain open would block
  ASSERT_EQ(::symlink("/dev/zero", zero.c_str()), 0);
  for (const std::string& p : {fifo, zero, dir_}) {
    auto r = ReadRegularFile(p, 1 << 20);
    ASSERT_FALSE(r.ok()) << p;
    EXPECT_EQ(r.status().message(), "\"" + p + "\" is not a regular file");
  }
  EXPECT_EQ(ReadRegularFile(dir_ + "/missing", 10).status().code(), Code::kNotFound);
}

TEST_F(FileTest, ReadRegularFileIsBounded) {
  std::string p = dir_ + "/big";
  ASSERT_TRUE(WriteFileAtomic(p, std::string(100, 'x'), 0600).ok());
  EXPECT_EQ(ReadRegularFile(p, 100)->size(), 100u);
  auto r = ReadRegularFile(p, 99);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("larger than 99 bytes"), std::string::npos);
}

TEST_F(FileTest, MakeDirsAndRemoveTree) {
  ASSERT_TRUE(MakeDirs(dir_ + "/x/y/z").ok());
  ASSERT_TRUE(MakeDirs(dir_ + "/x/y/z").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/x/y/z/f", "1").ok());
  ASSERT_TRUE(RemoveTree(dir_ + "/x").ok());
  EXPECT_FALSE(PathExists(dir_ + "/x"));
  EXPECT_TRUE(RemoveTree(dir_ + "/x").ok());
}

TEST_F(FileTest, RemoveTreeCountsWhatItRemoves) {
  ASSERT_TRUE(MakeDirs(dir_ + "/x/y").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/x/y/f", std::string(1000, 'a')).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/x/g", std::string(24, 'b')).ok());
  ASSERT_EQ(::symlink("/nonexistent/target/of/some/length", (dir_ + "/x/l").c_str()), 0);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  ASSERT_TRUE(
      RemoveTree(dir_ + "/x", [&](uint64_t n, uint64_t b) { calls.emplace_back(n, b); }).ok());
  EXPECT_FALSE(PathExists(dir_ + "/x"));
  // f, y, g, l, x: one call each; symlinks and directories add no bytes.
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls.back(), std::make_pair(uint64_t{5}, uint64_t{1024}));
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_EQ(calls[i].first, calls[i - 1].first + 1);
}

TEST_F(FileTest, RemoveTreeOnThreadsRemovesEverythingBelowAndNothingElse) {
  // Outside the tree: a symlink in it must be removed, never followed.
  ASSERT_TRUE(MakeDirs(dir_ + "/outside/keep").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/outside/keep/f", "kept").ok());
  uint64_t want_entries = 1, want_bytes = 0;  // the root
  for (int d = 0; d < 40; ++d) {
    std::string sub = dir_ + "/x/d" + std::to_string(d) + "/e" + std::to_string(d % 3);
    ASSERT_TRUE(MakeDirs(sub).ok());
    want_entries += 2;
    for (int f = 0; f < 25; ++f) {
      std::string content(static_cast<size_t>(d * 25 + f), 'c');
      ASSERT_TRUE(WriteFileAtomic(sub + "/f" + std::to_string(f), content).ok());
      ++want_entries;
      want_bytes += content.size();
    }
  }
  ASSERT_EQ(::symlink((dir_ + "/outside").c_str(), (dir_ + "/x/d0/link").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir_ + "/x/d1/fifo").c_str(), 0600), 0);
  want_entries += 2;
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  ASSERT_TRUE(RemoveTreeOnThreads(dir_ + "/x", 4, [&](uint64_t n, uint64_t b) {
                calls.emplace_back(n, b);  // one call at a time
              }).ok());
  EXPECT_FALSE(PathExists(dir_ + "/x"));
  EXPECT_EQ(*ReadFile(dir_ + "/outside/keep/f"), "kept");
  ASSERT_EQ(calls.size(), want_entries);
  EXPECT_EQ(calls.back(), std::make_pair(want_entries, want_bytes));
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_EQ(calls[i].first, calls[i - 1].first + 1);
  // A tree deeper than PATH_MAX: the part too deep to name is removed by
  // the second phase, a descriptor per level.
  ASSERT_TRUE(MakeDirs(dir_ + "/deep").ok());
  int fd = ::open((dir_ + "/deep").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 1500; ++i) {
    ASSERT_EQ(::mkdirat(fd, "dd", 0700), 0);
    int sub = ::openat(fd, "dd", O_RDONLY | O_DIRECTORY);
    ::close(fd);
    ASSERT_GE(fd = sub, 0);
  }
  int f = ::openat(fd, "f", O_WRONLY | O_CREAT, 0600);
  ASSERT_GE(f, 0);
  ::close(f);
  ::close(fd);
  uint64_t deep_entries = 0;
  ASSERT_TRUE(
      RemoveTreeOnThreads(dir_ + "/deep", 2, [&](uint64_t n, uint64_t) { deep_entries = n; }).ok());
  EXPECT_FALSE(PathExists(dir_ + "/deep"));
  EXPECT_EQ(deep_entries, 1502u);  // 1500 dd, f, deep
  // Missing: fine, as RemoveTree.
  EXPECT_TRUE(RemoveTreeOnThreads(dir_ + "/x", 4, {}).ok());
  // A file, and one thread: RemoveTree's way.
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/file", "1").ok());
  EXPECT_TRUE(RemoveTreeOnThreads(dir_ + "/file", 4, {}).ok());
  EXPECT_FALSE(PathExists(dir_ + "/file"));
}

// A mount point below the tree stops the removal; the mounted file system
// keeps its content. In a child with its own mount namespace, so nothing
// leaks to the host.
TEST_F(FileTest, RemoveTreeOnThreadsRefusesAMountPoint) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount";
  ASSERT_TRUE(MakeDirs(dir_ + "/x/a/m").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/x/a/f", "1").ok());
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr))
      ::_exit(10);
    std::string m = dir_ + "/x/a/m";
    if (::mount("tmpfs", m.c_str(), "tmpfs", 0, "size=1m") != 0) ::_exit(11);
    if (!WriteFileAtomic(m + "/inside", "data").ok()) ::_exit(12);
    Status s = RemoveTreeOnThreads(dir_ + "/x", 3, {});
    if (s.ok() || s.message().find("is a mount point") == std::string::npos) ::_exit(13);
    if (!PathExists(m + "/inside")) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10-12: set-up failed; 13: not refused; 14: content lost";
}

TEST_F(FileTest, MakeDirsOverFileFails) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/f", "1").ok());
  EXPECT_FALSE(MakeDirs(dir_ + "/f/sub").ok());
}

}  // namespace
}  // namespace ctdump::sys
