#include "sys/file.h"

#include <sys/stat.h>

#include <cstdlib>

#include <gtest/gtest.h>

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

TEST_F(FileTest, MakeDirsAndRemoveTree) {
  ASSERT_TRUE(MakeDirs(dir_ + "/x/y/z").ok());
  ASSERT_TRUE(MakeDirs(dir_ + "/x/y/z").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/x/y/z/f", "1").ok());
  ASSERT_TRUE(RemoveTree(dir_ + "/x").ok());
  EXPECT_FALSE(PathExists(dir_ + "/x"));
  EXPECT_TRUE(RemoveTree(dir_ + "/x").ok());
}

TEST_F(FileTest, MakeDirsOverFileFails) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/f", "1").ok());
  EXPECT_FALSE(MakeDirs(dir_ + "/f/sub").ok());
}

}  // namespace
}  // namespace ctdump::sys
