#include "sys/file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
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

TEST_F(FileTest, MakeDirsOverFileFails) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/f", "1").ok());
  EXPECT_FALSE(MakeDirs(dir_ + "/f/sub").ok());
}

}  // namespace
}  // namespace ctdump::sys
