// Test-only: a snapshot written into a fresh local datastore from a tree
// description (datastore/datastore_test_util.h), and the sample tree the
// fuse tests share.
#ifndef CTDUMP_FUSE_FUSE_TEST_UTIL_H_
#define CTDUMP_FUSE_FUSE_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datastore/datastore.h"
#include "datastore/datastore_test_util.h"
#include "datastore/reader.h"
#include "datastore/writer.h"
#include "objstore/local_backend.h"
#include "sys/file.h"

namespace ctdump::fuse::testing {

using datastore::testing::Node;

inline constexpr uint64_t kMiB = 1u << 20;

// Every kind of entry; "dir/a" has three names (dir/a, dir/c, hard).
inline std::vector<Node> SampleTree() {
  using datastore::testing::RandomBytes;
  using datastore::testing::TextBytes;
  datastore::testing::TreeBuilder b;
  b.Dir("")
      .File("big", RandomBytes(5 * kMiB + 123, 1))
      .Dir("dir")
      .File("dir/a", TextBytes(10000))
      .Xattr("user.comment", "hello")
      .Xattr("user.empty", "")
      .File("dir/b", "")
      .Hardlink("dir/c", "dir/a")
      .Dir("dir/sub", 0700)
      .Owner(1000, 1001)
      .File("dir/sub/z", "zzz")
      .Special("fifo", S_IFIFO | 0644)
      .Hardlink("hard", "dir/a")
      .Symlink("link", "dir/a")
      .Special("null", S_IFCHR | 0666, makedev(1, 3))
      .Sparse("sparse", 8 * kMiB,
              {{4096, 8192}, {kMiB, 65536}, {kMiB + 65536, 1000}, {7 * kMiB, 4096}}, 7);
  return b.Build();
}

// The node of `path` in a tree description.
inline const Node* FindNode(const std::vector<Node>& tree, const std::string& path) {
  for (const Node& n : tree)
    if (n.entry.path == path) return &n;
  return nullptr;
}

// Writes a tree as snapshot "ct/100/..." of a local datastore in a temp dir
// and opens it for reading.
class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = sys::MakeTempDir("/tmp/ctdump-fuse-test.");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    ASSERT_TRUE(sys::MakeDirs(dir_ + "/store").ok());
    auto backend = objstore::OpenLocalBackend(dir_ + "/store");
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    auto ds = datastore::Datastore::Open(std::move(*backend), std::nullopt, "datastore 'test'");
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    ds_ = std::move(*ds);
  }

  void TearDown() override {
    reader_.reset();
    ds_.reset();
    // RemoveTree does not cross mount points: a mount left behind by a
    // failed test is reported, never emptied.
    if (!dir_.empty()) {
      EXPECT_TRUE(sys::RemoveTree(dir_).ok());
    }
  }

  void Write(const std::vector<Node>& tree) {
    datastore::WriterOptions o;
    o.vmid = "100";
    o.backup_time = 1764145379;
    o.volname = datastore::FormatVolume(o.vmid, o.backup_time);
    o.guest_config = "arch: amd64\n";
    o.threads = 2;
    auto w = datastore::SnapshotWriter::Create(*ds_, o, nullptr, &observer_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    std::string stream = datastore::testing::WorkerStream(tree);
    ASSERT_TRUE((*w)->Feed(stream.data(), stream.size()).ok());
    auto m = (*w)->Finish();
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto r = datastore::SnapshotReader::Open(*ds_, o.volname);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reader_ = std::move(*r);
  }

  datastore::SnapshotReader& reader() { return *reader_; }

  std::string dir_;
  std::unique_ptr<datastore::Datastore> ds_;
  std::unique_ptr<datastore::SnapshotReader> reader_;
  datastore::testing::RecordingObserver observer_;
};

}  // namespace ctdump::fuse::testing

#endif  // CTDUMP_FUSE_FUSE_TEST_UTIL_H_
