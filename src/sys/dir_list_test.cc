#include "sys/dir_list.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::sys {
namespace {

class DirListTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-dir-list-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(dir_).ok()); }

  static std::vector<std::string> Names(std::vector<DirEntry> entries) {
    std::vector<std::string> names;
    for (const auto& e : entries) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

TEST_F(DirListTest, ListsEveryEntryButDotAndDotDot) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/file", "x").ok());
  ASSERT_EQ(::mkdir((dir_ + "/sub").c_str(), 0700), 0);
  ASSERT_EQ(::symlink("file", (dir_ + "/link").c_str()), 0);
  auto r = ListDirectory(dir_);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Names(*r), (std::vector<std::string>{"file", "link", "sub"}));
  for (const auto& e : *r) {
    // tmpfs and ext4 say; DT_UNKNOWN is allowed by the contract.
    if (e.type == DT_UNKNOWN) continue;
    EXPECT_EQ(e.type, e.name == "sub" ? DT_DIR : e.name == "link" ? DT_LNK : DT_REG) << e.name;
  }
}

TEST_F(DirListTest, EmptyDirectoryIsAnEmptyList) {
  auto r = ListDirectory(dir_);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(DirListTest, MissingDirectoryIsNotFoundNamingIt) {
  auto r = ListDirectory(dir_ + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find(dir_ + "/missing"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/file", "x").ok());
  EXPECT_FALSE(ListDirectory(dir_ + "/file").ok());
}

TEST_F(DirListTest, AtListsFromTheStartEveryTimeAndLeavesTheFdOpen) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/a", "x").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/b", "x").ok());
  UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  for (int i = 0; i < 2; ++i) {
    auto r = ListDirectoryAt(fd.get(), "the test dir");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(Names(*r), (std::vector<std::string>{"a", "b"})) << "listing " << i;
  }
  struct stat st;
  EXPECT_EQ(::fstatat(fd.get(), "a", &st, 0), 0);
  EXPECT_FALSE(ListDirectoryAt(-1, "nothing").ok());
}

TEST_F(DirListTest, VisitorStopsWhenItReturnsFalse) {
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(WriteFileAtomic(dir_ + "/" + n, "x").ok());
  UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int calls = 0;
  Status s = VisitDirectoryAt(fd.get(), "the test dir", [&](std::string_view, unsigned char) {
    ++calls;
    errno = EIO;  // a visitor's own calls do not turn into a listing error
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(calls, 3);
  calls = 0;
  s = VisitDirectoryAt(fd.get(), "the test dir", [&](std::string_view, unsigned char) {
    ++calls;
    return false;
  });
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(calls, 1);
}

// A readdir that fails midway is an error, not a short list: /proc/<pid>/fd
// of a process reaped after the directory was opened fails getdents with
// ENOENT.
TEST_F(DirListTest, ReadErrorIsAnErrorNamingTheDirectory) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  std::string fds = "/proc/" + std::to_string(child) + "/fd";
  UniqueFd fd(::open(fds.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  ASSERT_TRUE(fd.valid());
  auto r = ListDirectoryAt(fd.get(), "\"" + fds + "\"");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "Failed to list \"" + fds + "\": No such file or directory");
}

}  // namespace
}  // namespace ctdump::sys
