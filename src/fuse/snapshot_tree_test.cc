#include "fuse/snapshot_tree.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "fuse/fuse_test_util.h"

namespace ctdump::fuse {
namespace {

using datastore::Entry;
using datastore::testing::RecordingObserver;
using testing::FindNode;
using testing::SampleTree;
using testing::SnapshotTest;

std::vector<std::string> ChildNames(const SnapshotTree& t, NodeId dir) {
  std::vector<std::string> out;
  for (const auto& d : t.node(dir).children) out.push_back(d.name);
  return out;
}

Entry Rec(const std::string& path, uint32_t mode) {
  Entry e;
  e.path = path;
  e.mode = mode;
  return e;
}

Entry Hardlink(const std::string& path, const std::string& target) {
  Entry e = Rec(path, S_IFREG | 0644);
  e.flags = datastore::kEntryHardlink;
  e.link = target;
  return e;
}

SnapshotTree Build(const std::vector<Entry>& entries, Observer* observer = nullptr) {
  SnapshotTreeBuilder b(observer);
  for (const Entry& e : entries) EXPECT_TRUE(b.Add(e).ok());
  return std::move(b).Finish();
}

using SnapshotTreeTest = SnapshotTest;

TEST_F(SnapshotTreeTest, BuildsTheSampleSnapshot) {
  const auto sample = SampleTree();
  ASSERT_NO_FATAL_FAILURE(Write(sample));
  auto tree = BuildTree(reader(), &observer_);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(observer_.warnings(), 0u) << observer_.All();

  // 13 records, two of them hardlinks.
  EXPECT_EQ(tree->size(), 11u);
  EXPECT_EQ(ChildNames(*tree, kRootNode),
            (std::vector<std::string>{"big", "dir", "fifo", "hard", "link", "null", "sparse"}));
  auto dir = tree->Find("dir");
  ASSERT_TRUE(dir);
  EXPECT_EQ(ChildNames(*tree, *dir), (std::vector<std::string>{"a", "b", "c", "sub"}));

  // Every record's attributes (but its path) arrive unchanged.
  for (const auto& n : sample) {
    SCOPED_TRACE(n.entry.path);
    if (n.entry.is_hardlink()) continue;
    auto id = tree->Find(n.entry.path);
    ASSERT_TRUE(id);
    const Entry& got = tree->node(*id).entry;
    EXPECT_TRUE(got.path.empty());
    EXPECT_EQ(got.mode, n.entry.mode);
    EXPECT_EQ(got.uid, n.entry.uid);
    EXPECT_EQ(got.gid, n.entry.gid);
    EXPECT_EQ(got.mtime_sec, n.entry.mtime_sec);
    EXPECT_EQ(got.size, n.entry.size);
    EXPECT_EQ(got.rdev, n.entry.rdev);
    EXPECT_EQ(got.link, n.entry.link);
    EXPECT_EQ(got.xattrs, n.entry.xattrs);
    EXPECT_EQ(got.sparse, n.entry.sparse);
    EXPECT_EQ(got.data_length, n.entry.data_length);
    EXPECT_EQ(tree->PathOf(*id), "/" + n.entry.path);
  }

  // Hardlinks share the target's node.
  auto a = tree->Find("dir/a");
  ASSERT_TRUE(a);
  EXPECT_EQ(tree->Find("dir/c"), a);
  EXPECT_EQ(tree->Find("hard"), a);
  EXPECT_EQ(tree->node(*a).nlink, 3u);
  EXPECT_EQ(tree->PathOf(*a), "/dir/a");

  // Directory link counts: 2 + subdirectories.
  EXPECT_EQ(tree->node(kRootNode).nlink, 3u);
  EXPECT_EQ(tree->node(*dir).nlink, 3u);
  EXPECT_EQ(tree->node(*tree->Find("dir/sub")).nlink, 2u);
  EXPECT_EQ(tree->node(*tree->Find("big")).nlink, 1u);
  EXPECT_EQ(tree->node(*tree->Find("dir/sub")).parent, *dir);

  uint64_t stored = 0;
  for (const auto& n : sample)
    if (n.entry.is_regular()) stored += n.entry.data_length;
  EXPECT_EQ(tree->stored_bytes(), stored);
  EXPECT_EQ(tree->node(*tree->Find("sparse")).entry.size, 8 * testing::kMiB);
  EXPECT_EQ(tree->node(*tree->Find("sparse")).entry.data_length,
            FindNode(sample, "sparse")->entry.data_length);
}

TEST(SnapshotTreeLookupTest, PathsAndNames) {
  SnapshotTree t = Build({Rec("", S_IFDIR | 0755), Rec("d", S_IFDIR | 0755),
                          Rec("d/f", S_IFREG | 0644), Rec("g", S_IFREG | 0644)});
  EXPECT_EQ(t.Find(""), kRootNode);
  EXPECT_EQ(t.Find("/"), kRootNode);
  EXPECT_EQ(t.Find("d/f"), t.Find("/d//f/"));
  EXPECT_TRUE(t.Find("d/f"));
  EXPECT_FALSE(t.Find("d/../g"));
  EXPECT_FALSE(t.Find("./g"));
  EXPECT_FALSE(t.Find("d/missing"));
  EXPECT_FALSE(t.Find("g/f"));  // through a file
  EXPECT_FALSE(t.Lookup(*t.Find("g"), "x"));
  EXPECT_FALSE(t.Lookup(12345, "x"));
  EXPECT_EQ(t.PathOf(kRootNode), "/");
  EXPECT_EQ(t.PathOf(*t.Find("d/f")), "/d/f");
}

TEST(SnapshotTreeLookupTest, ChildrenSortedBytewiseWhateverTheOrder) {
  SnapshotTree t = Build({Rec("", S_IFDIR | 0755), Rec("b", S_IFREG), Rec("\xc3\xa9", S_IFREG),
                          Rec("a", S_IFREG), Rec("B", S_IFREG), Rec("ab", S_IFREG)});
  EXPECT_EQ(ChildNames(t, kRootNode), (std::vector<std::string>{"B", "a", "ab", "b", "\xc3\xa9"}));
  for (const char* n : {"B", "a", "ab", "b", "\xc3\xa9"}) EXPECT_TRUE(t.Lookup(kRootNode, n)) << n;
}

TEST(SnapshotTreeLookupTest, MissingTopRecordGivesADefaultTop) {
  SnapshotTree t = Build({Rec("f", S_IFREG | 0644)});
  EXPECT_TRUE(S_ISDIR(t.node(kRootNode).entry.mode));
  EXPECT_TRUE(t.Find("f"));
}

// Records the tree cannot hold are skipped with a warning each; the rest of
// the tree stays whole.
TEST(SnapshotTreeBuilderTest, SkipsRecordsItCannotHold) {
  struct Case {
    const char* name;
    Entry bad;
  };
  const std::vector<Case> cases = {
      {"missing parent", Rec("nodir/f", S_IFREG | 0644)},
      {"parent is a file", Rec("file/f", S_IFREG | 0644)},
      {"duplicate name", Rec("file", S_IFREG | 0600)},
      {"duplicate directory", Rec("dir", S_IFDIR | 0700)},
      {"hardlink to nothing", Hardlink("h", "nothing")},
      {"hardlink to a directory", Hardlink("h", "dir")},
      {"hardlink over a name", Hardlink("file", "dir/x")},
      {"dot-dot name", Rec("dir/..", S_IFDIR | 0755)},
      {"dot name", Rec("dir/.", S_IFREG | 0644)},
      {"second root", Rec("", S_IFDIR | 0700)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    RecordingObserver obs;
    SnapshotTree t =
        Build({Rec("", S_IFDIR | 0755), Rec("dir", S_IFDIR | 0755), Rec("dir/x", S_IFREG | 0644),
               Rec("file", S_IFREG | 0644), c.bad, Rec("z", S_IFREG | 0644)},
              &obs);
    EXPECT_EQ(obs.warnings(), 1u) << obs.All();
    EXPECT_EQ(t.size(), 5u);
    EXPECT_EQ(ChildNames(t, kRootNode), (std::vector<std::string>{"dir", "file", "z"}));
    EXPECT_EQ(t.node(kRootNode).entry.mode, static_cast<uint32_t>(S_IFDIR | 0755));
    EXPECT_EQ(t.node(*t.Find("file")).entry.mode, static_cast<uint32_t>(S_IFREG | 0644));
    EXPECT_EQ(t.node(*t.Find("dir/x")).nlink, 1u);
    EXPECT_EQ(t.node(*t.Find("dir")).nlink, 2u);
  }
}

TEST(SnapshotTreeBuilderTest, TopThatIsNotADirectoryIsSkipped) {
  RecordingObserver obs;
  SnapshotTree t = Build({Rec("", S_IFREG | 0644), Rec("f", S_IFREG | 0644)}, &obs);
  EXPECT_EQ(obs.warnings(), 1u);
  EXPECT_TRUE(S_ISDIR(t.node(kRootNode).entry.mode));
  EXPECT_TRUE(t.Find("f"));
}

TEST(SnapshotTreeBuilderTest, WarningsAreCapped) {
  RecordingObserver obs;
  std::vector<Entry> entries = {Rec("", S_IFDIR | 0755)};
  for (int i = 0; i < 100; ++i) entries.push_back(Rec("nodir/f" + std::to_string(i), S_IFREG));
  SnapshotTree t = Build(entries, &obs);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(obs.warnings(), 21u) << obs.All();
  EXPECT_NE(obs.All().find("80 more entries"), std::string::npos) << obs.All();
}

}  // namespace
}  // namespace ctdump::fuse
