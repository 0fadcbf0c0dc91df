#include "datastore/usage.h"

#include <chrono>
#include <cstdlib>

#include "datastore/datastore_test_fixture.h"

namespace ctdump::datastore {
namespace {

class UsageTest : public DatastoreTest {
 protected:
  void SetUp() override {
    DatastoreTest::SetUp();
    ds_ = Open();
    ASSERT_NE(ds_, nullptr);
  }

  StoreUsage Usage(const std::optional<std::string>& vmid = std::nullopt) {
    auto u = ComputeUsage(*ds_, vmid, nullptr);
    EXPECT_TRUE(u.ok()) << u.status().ToString();
    return u.ok() ? *u : StoreUsage{};
  }

  uint64_t SizeOf(const std::set<Digest>& chunks) {
    uint64_t sum = 0;
    for (const Digest& d : chunks) {
      auto st = ds_->backend().Stat(ChunkObjectName(d));
      EXPECT_TRUE(st.ok()) << st.status().ToString();
      if (st.ok()) sum += st->size;
    }
    return sum;
  }

  const SnapshotUsage* Find(const StoreUsage& u, const std::string& volname) {
    for (const auto& s : u.snapshots)
      if (s.volname == volname) return &s;
    ADD_FAILURE() << volname << " not listed";
    return nullptr;
  }

  std::unique_ptr<Datastore> ds_;
};

TEST_F(UsageTest, EmptyStore) {
  StoreUsage u = Usage();
  EXPECT_EQ(u.chunks, 0u);
  EXPECT_EQ(u.referenced_bytes, 0u);
  EXPECT_EQ(u.reclaimable_bytes, 0u);
  EXPECT_EQ(u.dedup_factor(), 0.0);
  EXPECT_TRUE(u.snapshots.empty());
}

// Two identical backups of one container share every chunk: neither has
// unique bytes, the container has all of them, the dedup factor is 2x the
// single backup's. A third, of other data in another container, shares none.
TEST_F(UsageTest, IdenticalBackupsShareEverything) {
  std::string stream = WorkerStream(SampleTree());
  ASSERT_TRUE(Backup(*ds_, "500", kT0, stream).ok());
  ASSERT_TRUE(Backup(*ds_, "500", kT0 + 3600, stream).ok());
  auto other = TreeBuilder().Dir("").File("other", RandomBytes(900000, 78)).Build();
  ASSERT_TRUE(Backup(*ds_, "501", kT0, WorkerStream(other)).ok());
  const std::string a = FormatVolume("500", kT0), b = FormatVolume("500", kT0 + 3600),
                    c = FormatVolume("501", kT0);
  std::set<Digest> ca = ChunksOf(*ds_, a), cc = ChunksOf(*ds_, c);
  ASSERT_EQ(ca, ChunksOf(*ds_, b));
  const uint64_t stored_a = SizeOf(ca), stored_c = SizeOf(cc);

  StoreUsage u = Usage();
  ASSERT_EQ(u.snapshots.size(), 3u);
  const SnapshotUsage* ua = Find(u, a);
  const SnapshotUsage* ub = Find(u, b);
  const SnapshotUsage* uc = Find(u, c);
  ASSERT_TRUE(ua && ub && uc);
  EXPECT_GT(ua->logical, 0u);
  EXPECT_EQ(ua->logical, ub->logical);
  EXPECT_EQ(ua->stored, stored_a);
  EXPECT_EQ(ub->stored, stored_a);
  EXPECT_EQ(ua->unique, 0u);
  EXPECT_EQ(ub->unique, 0u);
  EXPECT_EQ(ua->chunks, ca.size());
  EXPECT_EQ(uc->stored, stored_c);
  EXPECT_EQ(uc->unique, stored_c);
  EXPECT_EQ(u.referenced_bytes, stored_a + stored_c);
  EXPECT_EQ(u.referenced_chunks, ca.size() + cc.size());
  EXPECT_EQ(u.chunk_bytes, u.referenced_bytes);
  EXPECT_GT(u.total_bytes, u.chunk_bytes);  // manifests, indexes, logs, config
  EXPECT_EQ(u.reclaimable_bytes, 0u);
  EXPECT_EQ(u.logical_bytes, 2 * ua->logical + uc->logical);
  EXPECT_DOUBLE_EQ(u.dedup_factor(),
                   double(2 * ua->logical + uc->logical) / double(stored_a + stored_c));
  ASSERT_EQ(u.containers.size(), 2u);
  EXPECT_EQ(u.containers[0].vmid, "500");
  EXPECT_EQ(u.containers[0].backups, 2u);
  EXPECT_EQ(u.containers[0].logical, 2 * ua->logical);
  EXPECT_EQ(u.containers[0].stored, stored_a);
  EXPECT_EQ(u.containers[0].unique, stored_a);
  EXPECT_EQ(u.containers[1].unique, stored_c);

  // Only one container listed; the numbers stay store-wide.
  StoreUsage only = Usage("501");
  ASSERT_EQ(only.snapshots.size(), 1u);
  EXPECT_EQ(only.snapshots[0].unique, stored_c);
  ASSERT_EQ(only.containers.size(), 1u);
  EXPECT_EQ(only.referenced_bytes, u.referenced_bytes);

  // Once one of the twins is gone the other owns all of it.
  ASSERT_TRUE(ds_->DeleteSnapshot(a).ok());
  StoreUsage after = Usage();
  ASSERT_EQ(after.snapshots.size(), 2u);
  EXPECT_EQ(Find(after, b)->unique, stored_a);
  EXPECT_EQ(after.reclaimable_bytes, 0u);  // nothing unreferenced
}

// A second backup that changes part of the data: the first's unique bytes
// are the chunks the second does not have, exactly; deleting it leaves them
// unreferenced, reclaimable once old enough, and gc removes exactly those.
TEST_F(UsageTest, PartlySharedBackupsAndWhatGcFrees) {
  auto tree1 = TreeBuilder()
                   .Dir("")
                   .File("keep", RandomBytes(2 << 20, 1))
                   .File("change", RandomBytes(1 << 20, 2))
                   .Build();
  auto tree2 = TreeBuilder()
                   .Dir("")
                   .File("keep", RandomBytes(2 << 20, 1))
                   .File("change", RandomBytes(1 << 20, 3))
                   .Build();
  ASSERT_TRUE(Backup(*ds_, "600", kT0, WorkerStream(tree1)).ok());
  const std::string a = FormatVolume("600", kT0), b = FormatVolume("600", kT0 + 60);
  StoreUsage alone = Usage();
  ASSERT_EQ(alone.snapshots.size(), 1u);
  const uint64_t unique_alone = alone.snapshots[0].unique;
  EXPECT_EQ(unique_alone, alone.snapshots[0].stored);
  EXPECT_EQ(unique_alone, alone.chunk_bytes);

  ASSERT_TRUE(Backup(*ds_, "600", kT0 + 60, WorkerStream(tree2)).ok());
  std::set<Digest> ca = ChunksOf(*ds_, a), cb = ChunksOf(*ds_, b);
  std::set<Digest> only_a, only_b, both;
  for (const Digest& d : ca) (cb.count(d) ? both : only_a).insert(d);
  for (const Digest& d : cb)
    if (!ca.count(d)) only_b.insert(d);
  ASSERT_FALSE(both.empty());
  ASSERT_FALSE(only_a.empty());
  StoreUsage u = Usage();
  const SnapshotUsage* ua = Find(u, a);
  const SnapshotUsage* ub = Find(u, b);
  ASSERT_TRUE(ua && ub);
  EXPECT_EQ(ua->unique, SizeOf(only_a));
  EXPECT_LT(ua->unique, unique_alone);  // the second backup shares the rest
  EXPECT_EQ(ub->unique, SizeOf(only_b));
  EXPECT_EQ(ua->stored, SizeOf(ca));
  EXPECT_EQ(u.referenced_bytes, SizeOf(only_a) + SizeOf(only_b) + SizeOf(both));
  EXPECT_DOUBLE_EQ(u.dedup_factor(),
                   double(ua->logical + ub->logical) / double(u.referenced_bytes));
  EXPECT_GT(u.dedup_factor(), 1.0);

  ASSERT_TRUE(ds_->DeleteSnapshot(a).ok());
  // Just written: too recent for a gc now.
  StoreUsage fresh = Usage();
  EXPECT_EQ(fresh.reclaimable_bytes, 0u);
  EXPECT_EQ(fresh.unreferenced_recent_bytes, SizeOf(only_a));
  SetMtime("chunks", std::time(nullptr) - 86400);
  StoreUsage old = Usage();
  EXPECT_EQ(old.reclaimable_bytes, SizeOf(only_a));
  EXPECT_EQ(old.reclaimable_chunks, only_a.size());
  EXPECT_EQ(old.unreferenced_recent_bytes, 0u);
  auto gc = CollectGarbage(*ds_, false, nullptr);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->removed_bytes, old.reclaimable_bytes);
  EXPECT_EQ(gc->removed, old.reclaimable_chunks);
  EXPECT_EQ(Usage().reclaimable_bytes, 0u);
}

// A running backup's lock keeps unreferenced chunks newer than its start
// out of the reclaimable bytes; leftovers of a killed backup count in.
TEST_F(UsageTest, LeftoversAndRunningBackups) {
  auto tree = TreeBuilder().Dir("").File("f", RandomBytes(700000, 9)).Build();
  ASSERT_TRUE(Backup(*ds_, "700", kT0, WorkerStream(tree)).ok());
  const std::string v = FormatVolume("700", kT0);
  // A killed backup's index without manifest.
  ASSERT_TRUE(ds_->backend().Put("snapshots/ct/701/2025-11-26T08_22_59Z/data.didx", "x").ok());
  ASSERT_TRUE(ds_->DeleteSnapshot(v).ok());
  SetMtime("chunks", std::time(nullptr) - 86400);
  SetMtime("snapshots", std::time(nullptr) - 86400);
  StoreUsage u = Usage();
  EXPECT_EQ(u.leftover_bytes, 1u);
  EXPECT_EQ(u.reclaimable_bytes, u.chunk_bytes + 1);
  EXPECT_EQ(u.referenced_bytes, 0u);
  // A running backup that started before the chunks' mtime protects them.
  auto lock = ds_->TakeLock(BackupLockName("702"), std::nullopt, nullptr);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  SetMtime(lock->object, std::time(nullptr) - 2 * 86400);
  StoreUsage busy = Usage();
  EXPECT_EQ(busy.reclaimable_bytes, 0u);
  EXPECT_EQ(busy.unreferenced_recent_bytes, u.chunk_bytes);
  ASSERT_TRUE(ds_->ReleaseLock(lock->object).ok());
}

// A backup whose index cannot be read: gc removes nothing (it cannot know
// what that backup needs), so nothing is reclaimable; its manifest damaged,
// its chunks still count as referenced (gc reads the index unpinned).
TEST_F(UsageTest, UnreadableBackupsMakeNothingReclaimable) {
  auto tree1 = TreeBuilder().Dir("").File("a", RandomBytes(600000, 31)).Build();
  auto tree2 = TreeBuilder().Dir("").File("b", RandomBytes(600000, 32)).Build();
  auto tree3 = TreeBuilder().Dir("").File("c", RandomBytes(600000, 33)).Build();
  ASSERT_TRUE(Backup(*ds_, "900", kT0, WorkerStream(tree1)).ok());
  ASSERT_TRUE(Backup(*ds_, "901", kT0, WorkerStream(tree2)).ok());
  ASSERT_TRUE(Backup(*ds_, "902", kT0, WorkerStream(tree3)).ok());
  const std::string v1 = FormatVolume("900", kT0), v2 = FormatVolume("901", kT0),
                    v3 = FormatVolume("902", kT0);
  const uint64_t stored1 = SizeOf(ChunksOf(*ds_, v1)), stored2 = SizeOf(ChunksOf(*ds_, v2));
  ASSERT_TRUE(ds_->DeleteSnapshot(v3).ok());
  SetMtime("chunks", std::time(nullptr) - 86400);
  const uint64_t garbage = Usage().reclaimable_bytes;
  ASSERT_GT(garbage, 0u);

  // A damaged manifest: the backup is not listed, its chunks stay
  // referenced, and as gc then removes nothing (it cannot tell what that
  // backup needs) nothing is reclaimable: the backup is named, the reason
  // logged.
  const std::string manifest2 = SnapshotPrefix(v2) + kManifestName;
  auto good_manifest = ds_->backend().Get(manifest2);
  ASSERT_TRUE(good_manifest.ok());
  ASSERT_TRUE(ds_->backend().Put(manifest2, "garbage").ok());
  RecordingObserver obs;
  auto got = ComputeUsage(*ds_, std::nullopt, &obs);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  StoreUsage u = *got;
  EXPECT_EQ(u.snapshots.size(), 1u);
  EXPECT_EQ(u.unreadable_snapshots, std::vector<std::string>{v2});
  EXPECT_EQ(u.reclaimable_bytes, 0u);
  EXPECT_EQ(u.referenced_bytes, stored1 + stored2);
  EXPECT_EQ(u.leftover_bytes, 0u);  // its objects are no leftovers
  EXPECT_TRUE(Contains(DescribeUnreferenced(u, "s"), "a gc would remove nothing"));
  EXPECT_TRUE(Contains(DescribeUnreferenced(u, "s"), v2));
  EXPECT_TRUE(Contains(obs.All(), "cannot read backup '" + v2 + "'")) << obs.All();
  EXPECT_TRUE(Contains(obs.All(), "damaged")) << obs.All();
  EXPECT_FALSE(CollectGarbage(*ds_, true, nullptr).ok());
  // Repaired: reclaimable again.
  ASSERT_TRUE(ds_->backend().Put(manifest2, *good_manifest).ok());
  EXPECT_EQ(Usage().reclaimable_bytes, garbage);

  // A damaged index: gc refuses, nothing is reclaimable, the backup is named.
  ASSERT_TRUE(ds_->backend().Put(SnapshotPrefix(v1) + kDataIndexName, "garbage").ok());
  StoreUsage d = Usage();
  EXPECT_EQ(d.unreadable_snapshots, std::vector<std::string>{v1});
  EXPECT_EQ(d.reclaimable_bytes, 0u);
  EXPECT_TRUE(Contains(DescribeUnreferenced(d, "s"), "a gc would remove nothing"));
  EXPECT_FALSE(CollectGarbage(*ds_, true, nullptr).ok());
}

// Timing on a bigger store (run by hand: --gtest_also_run_disabled_tests;
// CTDUMP_USAGE_BENCH_SNAPSHOTS, default 40). Small chunks (min 256 B, avg
// 1 KiB) give many chunks and index entries per byte: 40 backups of a 24 MiB
// tree with 256 KiB changed each time are about 30 000 chunk objects and
// 900 000 index entries, what 110 GiB of backups of 128 KiB chunks have.
TEST_F(UsageTest, DISABLED_BigStoreTiming) {
  const char* env = std::getenv("CTDUMP_USAGE_BENCH_SNAPSHOTS");
  const int snapshots = env ? std::atoi(env) : 40;
  auto text = ds_->backend().Get("config");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  nlohmann::json config = nlohmann::json::parse(*text);
  config["chunker"] = {{"min", 256}, {"avg", 1024}, {"max", 4096}};
  ASSERT_TRUE(ds_->backend().Put("config", config.dump()).ok());
  ds_ = Open();
  ASSERT_NE(ds_, nullptr);
  ASSERT_EQ(ds_->chunker_params().avg_size, 1024u);
  for (int i = 0; i < snapshots; ++i) {
    TreeBuilder t;
    t.Dir("")
        .File("base", RandomBytes(24 << 20, 1))
        .File("changing", RandomBytes(256 << 10, 100 + i));
    ASSERT_TRUE(Backup(*ds_, "800", kT0 + i, WorkerStream(t.Build())).ok());
  }
  auto start = std::chrono::steady_clock::now();
  StoreUsage u = Usage();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t entries = 0;
  for (const auto& s : u.snapshots) entries += s.chunks;
  std::printf(
      "%zu snapshots, %llu objects, %llu chunks, %llu distinct index references, "
      "%.1f MiB: ComputeUsage %.3f s\n",
      u.snapshots.size(), (unsigned long long)u.objects, (unsigned long long)u.chunks,
      (unsigned long long)entries, u.total_bytes / 1048576.0, secs);
  EXPECT_EQ(u.snapshots.size(), size_t(snapshots));
}

}  // namespace
}  // namespace ctdump::datastore
