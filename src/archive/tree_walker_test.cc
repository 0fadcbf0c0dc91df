// The walk itself (tree_walker.h): trees deeper than the open-file limit and
// than the walk goes, and a directory moved below one whose fd was closed.
#include "archive/tree_walker.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
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
  ASSERT_EQ(r.visited.size(),
            1 + kMaxWalkDepth + 1);  // the root, the directories kept, f
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

// Everything an entry carries, as text: stat fields, links, xattrs, ACLs
// and the sparse map (zero-length regions dropped, as the readers do).
std::string Describe(archive_entry* e) {
  std::string d = fmt::format(
      "{} type={:o} perm={:o} uid={} gid={} size={} mtime={}.{} ctime={}.{} "
      "ino={} nlink={} "
      "rdev={}",
      archive_entry_pathname(e), archive_entry_filetype(e), archive_entry_perm(e),
      archive_entry_uid(e), archive_entry_gid(e), archive_entry_size(e), archive_entry_mtime(e),
      archive_entry_mtime_nsec(e), archive_entry_ctime(e), archive_entry_ctime_nsec(e),
      archive_entry_ino64(e), archive_entry_nlink(e), archive_entry_rdev(e));
  if (const char* h = archive_entry_hardlink(e)) d += fmt::format(" hardlink={}", h);
  if (const char* l = archive_entry_symlink(e)) d += fmt::format(" symlink={}", l);
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
    d += fmt::format(" xattr:{}={}", name, std::string(static_cast<const char*>(value), size));
  for (int type : {ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT}) {
    if (archive_entry_acl_count(e, type) <= 0) continue;
    char* text = archive_entry_acl_to_text(e, nullptr, type | ARCHIVE_ENTRY_ACL_STYLE_EXTRA_ID);
    d += fmt::format(" acl{}=[{}]", type, text ? text : "?");
    std::free(text);
  }
  if (archive_entry_sparse_reset(e) > 0) {
    la_int64_t off, len;
    std::string map;
    while (archive_entry_sparse_next(e, &off, &len) == ARCHIVE_OK)
      if (len > 0) map += fmt::format(" {}+{}", off, len);
    d += " sparse:" + (map.empty() ? std::string(" all-hole") : map);
  }
  return d;
}

class Describer : public EntryVisitor {
 public:
  Status Visit(archive_entry* e, const std::string& rel, int fd) override {
    entries[rel] = Describe(e);
    if (on_visit) on_visit(rel);
    return Status::OK();
  }
  std::function<void(const std::string&)> on_visit;
  std::map<std::string, std::string> entries;
};

std::map<std::string, std::string> DescribeWalk(const std::string& src, bool full_metadata,
                                                bool prefetch = false) {
  WalkOptions o;
  o.full_metadata = full_metadata;
  o.prefetch = prefetch;
  Describer d;
  RecordingObserver obs;
  Status st = WalkTree(src, {"./"}, o, &d, &obs);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_THAT(obs.warnings, ::testing::IsEmpty());
  return d.entries;
}

void Sh(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

void Write(const std::string& path, std::string_view data) {
  ASSERT_TRUE(sys::WriteFileAtomic(path, data).ok()) << path;
}

// Most entries are filled from their stat alone; those with an xattr the
// walk keeps or an ACL go through libarchive. Both must give the entry
// libarchive gives for every kind of file: a dropped xattr, ACL, default
// ACL or hole makes the two walks differ.
TEST_F(TreeWalkerTest, StatOnlyEntriesEqualLibarchivesEntries) {
  const std::string p = src_ + "/";
  Write(p + "plain", "plain\n");
  Write(p + "empty", "");
  Write(p + "xattr", "x");
  ASSERT_EQ(::setxattr((p + "xattr").c_str(), "user.k", "v1", 2, 0), 0);
  Write(p + "acl", "a");
  Sh("setfacl -m u:4321:r " + p + "acl");
  Write(p + "masked", "m");
  Sh("setfacl -m g:2345:rw " + p + "masked");
  ASSERT_EQ(::mkdir((p + "dacl").c_str(), 0755), 0);
  Sh("setfacl -d -m u:4321:rx " + p + "dacl");
  Write(p + "dacl/inherits", "i");  // gets an access ACL from the default
  ASSERT_EQ(::mkdir((p + "dxattr").c_str(), 0755), 0);
  ASSERT_EQ(::setxattr((p + "dxattr").c_str(), "user.d", "dv", 2, 0), 0);
  {
    sys::UniqueFd f(::open((p + "sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(::pwrite(f.get(), "head", 4, 0), 4);
    ASSERT_EQ(::pwrite(f.get(), "tail", 4, 8 << 20), 4);
    ASSERT_EQ(::ftruncate(f.get(), 16 << 20), 0);
    ASSERT_EQ(::fsync(f.get()), 0);
    sys::UniqueFd h(::open((p + "hole").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(::ftruncate(h.get(), 1 << 20), 0);
  }
  ASSERT_EQ(::link((p + "plain").c_str(), (p + "plain2").c_str()), 0);
  ASSERT_EQ(::link((p + "xattr").c_str(), (p + "xattr2").c_str()), 0);
  ASSERT_EQ(::symlink("plain", (p + "link").c_str()), 0);
  ASSERT_EQ(::mkfifo((p + "fifo").c_str(), 0600), 0);

  auto fast = DescribeWalk(src_, false);
  auto full = DescribeWalk(src_, true);
  EXPECT_EQ(fast, full);
  EXPECT_EQ(DescribeWalk(src_, false, /*prefetch=*/true),
            full);  // files opened before a stat
  ASSERT_EQ(fast.size(), 15u);
  // The walk keeps what it found, and the comparison saw it.
  EXPECT_THAT(fast["xattr"], HasSubstr(" xattr:user.k=v1"));
  EXPECT_THAT(fast["xattr2"], HasSubstr(" hardlink=./xattr"));
  EXPECT_THAT(fast["dxattr"], HasSubstr(" xattr:user.d=dv"));
  EXPECT_THAT(fast["acl"], HasSubstr("user:4321:r--"));
  EXPECT_THAT(fast["masked"], HasSubstr("group:2345:rw-"));
  EXPECT_THAT(fast["dacl"], HasSubstr("user:4321:r-x"));
  EXPECT_THAT(fast["dacl/inherits"], HasSubstr("user:4321:r-x"));
  EXPECT_THAT(fast["sparse"], HasSubstr(" sparse: 0+"));
  EXPECT_THAT(fast["hole"], HasSubstr(" sparse: all-hole"));
  EXPECT_THAT(fast["plain"], ::testing::Not(HasSubstr("sparse")));
  EXPECT_THAT(fast["plain2"], HasSubstr(" hardlink=./plain"));
  EXPECT_THAT(fast["link"], HasSubstr(" symlink=plain"));
}

// An xattr the walk does not keep (trusted.*, security.* but the
// capability) leaves the entry to stat alone, which must still equal
// libarchive's; security.capability must survive the stat-only check.
TEST_F(TreeWalkerTest, RootDroppedXattrsAndCapabilities) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  const std::string p = src_ + "/";
  Write(p + "trusted", "t");
  ASSERT_EQ(::setxattr((p + "trusted").c_str(), "trusted.t", "tv", 2, 0), 0);
  Write(p + "ping", "#!/bin/sh\n");
  Sh("setcap cap_net_raw+ep " + p + "ping");
  auto fast = DescribeWalk(src_, false);
  EXPECT_EQ(fast, DescribeWalk(src_, true));
  EXPECT_THAT(fast["trusted"], ::testing::Not(HasSubstr("xattr:")));
  EXPECT_THAT(fast["ping"], HasSubstr(" xattr:security.capability="));
}

// A file replaced between the walk's stat and its open (IsUnchanged runs
// in between) is described by what was opened: the new file's xattr and
// ACL are not lost to the stat-only path, and a file replaced by a
// directory is left out.
TEST_F(TreeWalkerTest, FilesReplacedBetweenStatAndOpenKeepTheirMetadata) {
  const std::string p = src_ + "/";
  Write(p + "b", "old");
  Write(p + "c", "c");
  class Replacer : public Describer {
   public:
    bool IsUnchanged(const std::string& rel, const struct stat&) override {
      if (rel == "b") {
        Write(p + "new", "new b");
        EXPECT_EQ(::setxattr((p + "new").c_str(), "user.n", "nv", 2, 0), 0);
        Sh("setfacl -m u:4321:rw " + p + "new");
        EXPECT_EQ(::rename((p + "new").c_str(), (p + "b").c_str()), 0);
      } else if (rel == "c") {
        EXPECT_EQ(::unlink((p + "c").c_str()), 0);
        EXPECT_EQ(::mkdir((p + "c").c_str(), 0755), 0);
      }
      return false;
    }
    std::string p;
  } d;
  d.p = p;
  RecordingObserver obs;
  ASSERT_TRUE(WalkTree(src_, {"./"}, WalkOptions(), &d, &obs).ok());
  EXPECT_THAT(d.entries["b"], HasSubstr(" xattr:user.n=nv"));
  EXPECT_THAT(d.entries["b"], HasSubstr("user:4321:rw-"));
  EXPECT_THAT(d.entries["b"], HasSubstr(" size=5 "));
  EXPECT_EQ(d.entries.count("c"), 0u);
}

// Opening before a stat (WalkOptions::prefetch): a name readdir listed as
// a regular file that became a fifo, a directory or a symlink before the
// walk reached it is visited as what it is now, and a vanished one is
// left out.
TEST_F(TreeWalkerTest, OpenBeforeStatFollowsReplacedFiles) {
  const std::string p = src_ + "/";
  for (const char* n : {"a", "b", "c", "d", "e"}) Write(p + n, n);
  Describer d;
  d.on_visit = [&](const std::string& rel) {
    if (rel != "a") return;
    ASSERT_EQ(::unlink((p + "b").c_str()), 0);
    ASSERT_EQ(::mkfifo((p + "b").c_str(), 0600), 0);
    ASSERT_EQ(::unlink((p + "c").c_str()), 0);
    ASSERT_EQ(::mkdir((p + "c").c_str(), 0755), 0);
    Write(p + "c/in", "in");
    ASSERT_EQ(::unlink((p + "d").c_str()), 0);
    ASSERT_EQ(::symlink("a", (p + "d").c_str()), 0);
    ASSERT_EQ(::unlink((p + "e").c_str()), 0);
  };
  WalkOptions o;
  o.prefetch = true;
  RecordingObserver obs;
  Status st = WalkTree(src_, {"./"}, o, &d, &obs);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_THAT(d.entries["b"], HasSubstr(fmt::format("type={:o}", AE_IFIFO)));
  EXPECT_THAT(d.entries["c"], HasSubstr(fmt::format("type={:o}", AE_IFDIR)));
  EXPECT_THAT(d.entries["c/in"], HasSubstr(" size=2 "));
  EXPECT_THAT(d.entries["d"], HasSubstr(" symlink=a"));
  EXPECT_EQ(d.entries.count("e"), 0u);
  EXPECT_EQ(d.entries.size(), 6u);  // "", a, b, c, c/in, d
}

// With a cold page cache the prefetcher reads ahead of the walk (files
// dropped from the cache with POSIX_FADV_DONTNEED); the walk visits and
// reads the same as without it. With the files cached it does not start.
TEST_F(TreeWalkerTest, PrefetcherReadsAheadOnlyWhenTheCacheIsCold) {
  std::map<std::string, std::string> want;
  for (const char* d : {"a", "a/sub", "b", "skip"})
    ASSERT_EQ(::mkdir((src_ + "/" + d).c_str(), 0755), 0);
  for (int i = 0; i < 300; ++i) {
    std::string rel = fmt::format("{}/f{:03}", i % 3 == 0 ? "a" : i % 3 == 1 ? "a/sub" : "b", i);
    std::string data =
        fmt::format("{:<16}", rel) + std::string(8192, static_cast<char>('a' + i % 26));
    Write(src_ + "/" + rel, data);
    want[rel] = data.substr(0, 16);
  }
  Write(src_ + "/skip/x", "excluded");
  auto drop = [&] {
    for (const auto& [rel, d] : want) {
      sys::UniqueFd f(::open((src_ + "/" + rel).c_str(), O_RDONLY | O_CLOEXEC));
      ASSERT_EQ(::fdatasync(f.get()), 0);
      ASSERT_EQ(::posix_fadvise(f.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
    }
  };
  drop();
  auto walk = [&](bool prefetch, uint64_t* read_ahead) {
    WalkOptions o;
    o.exclude_patterns = {"/skip"};
    o.prefetch = prefetch;
    o.files_read_ahead = read_ahead;
    Recorder r;
    // A slow reader: the prefetcher gets ahead even on a busy machine.
    r.on_visit = [](const std::string&) { ::usleep(1000); };
    EXPECT_TRUE(WalkTree(src_, {"./"}, o, &r, &observer_).ok());
    return r;
  };
  uint64_t cold = 0, warm = 0;
  Recorder with = walk(true, &cold);
  EXPECT_GT(cold, 0u);
  EXPECT_EQ(with.data, want);
  Recorder again = walk(true, &warm);
  EXPECT_EQ(warm, 0u);
  drop();
  Recorder without = walk(false, nullptr);
  EXPECT_EQ(with.visited, without.visited);
  EXPECT_EQ(again.visited, without.visited);
  EXPECT_EQ(without.data, want);
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
