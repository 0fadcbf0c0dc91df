// The walk itself (tree_walker.h): trees deeper than the open-file limit and
// than the walk goes, and a directory moved below one whose fd was closed.
#include "archive/tree_walker.h"

#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::archive {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

class RecordingObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    if (level == LogLevel::kWarn) warnings.emplace_back(message);
  }
  void OnProgress(const ctdump::Progress&) noexcept override {}
  std::vector<std::string> warnings;
};

// Records what the walk visits; `on_visit` may change the tree meanwhile.
class Recorder : public EntryVisitor {
 public:
  Status Visit(archive_entry* e, const std::string& rel, int fd) override {
    visited.push_back(rel);
    if (fd >= 0) {
      char buf[16] = {};
      ssize_t n = ::pread(fd, buf, sizeof(buf), 0);
      data[rel] = std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
    }
    if (on_visit) on_visit(rel);
    return Status::OK();
  }
  void Unreadable(const std::string& rel, int) override { unreadable.push_back(rel); }
  std::function<void(const std::string&)> on_visit;
  std::vector<std::string> visited, unreadable;
  std::map<std::string, std::string> data;
};

class TreeWalkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = sys::MakeTempDir("/var/tmp/ctdump-walker-test.");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    src_ = *dir;
  }
  void TearDown() override { EXPECT_TRUE(sys::RemoveTree(src_).ok()); }

  // Nests `depth` directories "d" below `top` (relative to the source),
  // with a file "f" holding "deep\n" in the one at `file_at`; returns that
  // directory's path relative to the source.
  std::string MakeDeep(const std::string& top, size_t depth, size_t file_at) {
    std::string rel = top, file_dir;
    sys::UniqueFd dir(::open((src_ + "/" + top).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    EXPECT_TRUE(dir.valid());
    for (size_t i = 1; i <= depth; ++i) {
      EXPECT_EQ(::mkdirat(dir.get(), "d", 0755), 0);
      dir.Reset(::openat(dir.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      EXPECT_TRUE(dir.valid());
      rel += rel.empty() ? "d" : "/d";
      if (i == file_at) {
        sys::UniqueFd f(::openat(dir.get(), "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        EXPECT_EQ(::write(f.get(), "deep\n", 5), 5);
        file_dir = rel;
      }
    }
    return file_dir;
  }

  std::string src_;
  RecordingObserver observer_;
};

// A tree deeper than the process may hold open files (1024 under systemd by
// default) and deeper than the walk goes: anyone in a container can make
// one, and it must not make the backup fail.
TEST_F(TreeWalkerTest, TreeDeeperThanTheOpenFileLimitAndTheWalk) {
  const std::string mid = MakeDeep("", kMaxWalkDepth + 5, 1500);  // below a closed fd
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  struct rlimit low = old;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  Recorder r;
  Status st = WalkTree(src_, {"./"}, WalkOptions(), &r, &observer_);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(observer_.warnings.size(), 1u);
  EXPECT_THAT(observer_.warnings[0],
              EndsWith(fmt::format("': nested deeper than {} directories", kMaxWalkDepth)));
  ASSERT_EQ(r.unreadable.size(), 1u);
  ASSERT_EQ(r.visited.size(), 1 + kMaxWalkDepth + 1);  // the root, the directories kept, f
  std::string deepest;
  for (size_t i = 0; i < kMaxWalkDepth; ++i) deepest += i ? "/d" : "d";
  EXPECT_EQ(r.visited[kMaxWalkDepth], deepest);
  EXPECT_EQ(r.unreadable[0], deepest);
  // "d" sorts before "f": f comes after the deep subtree, through reopened
  // directories.
  EXPECT_EQ(r.visited.back(), mid + "/f");
  EXPECT_EQ(r.data[mid + "/f"], "deep\n");
}

// A directory whose fd was closed (more than DirChain::kOpenLevels above)
// is reopened through "..": if an ancestor moved meanwhile, that leads
// elsewhere, and the walk must stop rather than go on in the wrong place.
TEST_F(TreeWalkerTest, WalkStopsWhenADirectoryMovesBelowAClosedAncestor) {
  ASSERT_EQ(::mkdir((src_ + "/a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src_ + "/b").c_str(), 0755), 0);
  MakeDeep("a", 100, 0);
  std::string deep = "a";
  for (int i = 0; i < 100; ++i) deep += "/d";
  Recorder r;
  bool moved = false;
  // a/d (level 2) goes into b while the walk is 100 levels below it.
  r.on_visit = [&](const std::string& rel) {
    if (rel == deep && !moved)
      moved = ::rename((src_ + "/a/d").c_str(), (src_ + "/b/d").c_str()) == 0;
  };
  Status st = WalkTree(src_, {"./"}, WalkOptions(), &r, &observer_);
  ASSERT_TRUE(moved);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("was moved during the backup"));
}

}  // namespace
}  // namespace ctdump::archive

namespace ctdump::archive {
namespace {

// SEEK_DATA/SEEK_HOLE regions, as the walk uses them where libarchive's
// FIEMAP map says nothing: an all-hole file is one empty region, written
// zeros are data, a dense file has no map.
TEST(DataRegionsTest, HolesDataAndWrittenZeros) {
  auto dir = sys::MakeTempDir("/var/tmp/ctdump-regions-test.");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  auto open = [&](const std::string& name) {
    return sys::UniqueFd(
        ::open((*dir + "/" + name).c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  };
  constexpr uint64_t kTiB = uint64_t{1} << 40;
  sys::UniqueFd hole = open("hole");
  ASSERT_EQ(::ftruncate(hole.get(), static_cast<off_t>(kTiB)), 0);
  using Regions = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(DataRegions(hole.get(), kTiB), (Regions{{0, 0}}));

  sys::UniqueFd mixed = open("mixed");
  ASSERT_EQ(::ftruncate(mixed.get(), static_cast<off_t>(kTiB)), 0);
  ASSERT_EQ(::pwrite(mixed.get(), "m", 1, kTiB / 2), 1);
  ASSERT_EQ(::fsync(mixed.get()), 0);
  Regions r = DataRegions(mixed.get(), kTiB);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_LE(r[0].first, kTiB / 2);
  EXPECT_GT(r[0].first + r[0].second, kTiB / 2);
  EXPECT_LT(r[0].second, uint64_t{1} << 20);
  EXPECT_EQ(::lseek(mixed.get(), 0, SEEK_CUR), 0);

  sys::UniqueFd zeros = open("zeros");
  std::string z(1 << 20, '\0');
  ASSERT_EQ(::write(zeros.get(), z.data(), z.size()), static_cast<ssize_t>(z.size()));
  ASSERT_EQ(::fsync(zeros.get()), 0);
  EXPECT_EQ(DataRegions(zeros.get(), z.size()), Regions{});  // dense: no map
  EXPECT_TRUE(sys::RemoveTree(*dir).ok());
}

}  // namespace
}  // namespace ctdump::archive
