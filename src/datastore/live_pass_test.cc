// Suspend mode's live pass (SnapshotWriter::FinishAsParent): a snapshot
// stored but not published, then the parent of the frozen pass, which
// publishes the backup taking unchanged files from it.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "datastore/datastore_test_fixture.h"
#include "datastore/entry_format.h"

namespace ctdump::datastore {
namespace {

class LivePassTest : public DatastoreTest {
 protected:
  static constexpr int64_t kT0 = 1700000000;

  // Only the regular files of `records`: what a worker marks unchanged.
  static std::map<std::string, Entry> Files(std::map<std::string, Entry> records) {
    std::erase_if(records, [](const auto& kv) { return !kv.second.is_regular(); });
    return records;
  }

  // The records of a parent held in memory (its metadata stream's index).
  std::map<std::string, Entry> RecordsOfParent(Datastore& ds, const ParentSnapshot& p) {
    std::map<std::string, Entry> out;
    StreamReader meta(ds, p.meta_index, "live pass metadata", 0);
    std::string buf;
    EXPECT_TRUE(meta.Read(0, meta.size(),
                          [&](const char* d, size_t n) {
                            buf.append(d, n);
                            return Status::OK();
                          })
                    .ok());
    size_t pos = sizeof(kMetaMagic);
    while (pos < buf.size()) {
      Entry e;
      auto used = DecodeEntry(std::string_view(buf).substr(pos), &e, "live pass");
      EXPECT_TRUE(used.ok() && *used > 0);
      if (!used.ok() || *used == 0) break;
      pos += *used;
      out[e.path] = e;
    }
    return out;
  }
};

TEST_F(LivePassTest, FirstPassIsInvisibleAndTheSecondTakesItsFiles) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  std::vector<Node> tree = ManyFilesTree(300, 17);
  WriterOptions o;
  o.volname = FormatVolume("300", kT0);
  o.vmid = "300";
  o.backup_time = kT0;
  o.guest_config = "hostname: ct300\n";
  auto w = SnapshotWriter::Create(*ds, o, nullptr, &observer_);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Feed(WorkerStream(tree).data(), WorkerStream(tree).size()).ok());
  auto live = (*w)->FinishAsParent();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_TRUE((*live)->in_memory);
  EXPECT_TRUE((*live)->volname.empty());  // a full first pass: no published parent
  // Nothing of it is a snapshot: no index, no manifest; its chunks are stored.
  auto snaps = ds->backend().List("snapshots/");
  ASSERT_TRUE(snaps.ok());
  EXPECT_TRUE(snaps->empty()) << ::testing::PrintToString(*snaps);
  auto listed = ds->ListSnapshots(std::nullopt, nullptr);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  for (const auto* index : {&(*live)->meta_index, &(*live)->data_index})
    for (const auto& e : *index) EXPECT_TRUE(ds->backend().Stat(ChunkObjectName(e.digest)).ok());

  // The frozen pass: one file changed, the others taken from the live pass.
  auto records = RecordsOfParent(*ds, **live);
  std::map<std::string, Entry> unchanged;
  for (Node& n : tree) {
    if (!n.entry.is_regular()) continue;
    if (n.entry.path == "f/0007") {
      n.content = RandomBytes(4321, 99);
      n.entry.size = n.entry.data_length = n.content.size();
      continue;
    }
    unchanged[n.entry.path] = records.at(n.entry.path);
  }
  WriterStats stats;
  auto m = Backup(*ds, "300", kT0, WorkerStream(tree, unchanged), *live, 4096, &stats);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->parent.has_value());
  EXPECT_EQ(stats.reused_files, unchanged.size());
  EXPECT_EQ(stats.read_bytes, 4321u);
  ExpectTree(tree, ReadBack(*ds, FormatVolume("300", kT0)));
}

// A live pass that took files from a published backup hands its name on:
// the published backup's manifest names it as its parent.
TEST_F(LivePassTest, PublishedParentIsNamedThroughTheLivePass) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  std::vector<Node> tree = ManyFilesTree(50, 3);
  ASSERT_TRUE(Backup(*ds, "301", kT0, WorkerStream(tree)).ok());
  auto published = LoadParent(*ds, "301", nullptr);
  ASSERT_NE(published, nullptr);
  WriterOptions o;
  o.volname = FormatVolume("301", kT0 + 60);
  o.vmid = "301";
  o.backup_time = kT0 + 60;
  auto w = SnapshotWriter::Create(*ds, o, published, &observer_);
  ASSERT_TRUE(w.ok());
  std::string stream = WorkerStream(tree, Files(RecordsOf(*ds, FormatVolume("301", kT0))));
  ASSERT_TRUE((*w)->Feed(stream.data(), stream.size()).ok());
  auto live = (*w)->FinishAsParent();
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_EQ((*live)->volname, FormatVolume("301", kT0));
  auto m =
      Backup(*ds, "301", kT0 + 60, WorkerStream(tree, Files(RecordsOfParent(*ds, **live))), *live);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->parent, FormatVolume("301", kT0));
  ExpectTree(tree, ReadBack(*ds, FormatVolume("301", kT0 + 60)));
}

}  // namespace
}  // namespace ctdump::datastore
