#include "datastore/maintenance.h"

#include "datastore/maintenance_test_fixture.h"
#include "datastore/writer.h"

namespace ctdump::datastore {
namespace {

TEST_F(VerifyTest, CleanStore) {
  VerifyReport report = RunVerify();
  EXPECT_TRUE(report.ok()) << report.problems.front();
  EXPECT_EQ(report.snapshots, 2u);
  EXPECT_GT(report.chunks, 10u);
  EXPECT_GT(report.chunk_bytes, 4u << 20);
  EXPECT_GT(report.logical_bytes, 9u << 20);
  EXPECT_TRUE(report.damaged_snapshots.empty());
  VerifyReport one = RunVerify(vol_);
  EXPECT_TRUE(one.ok());
  EXPECT_EQ(one.snapshots, 1u);
  EXPECT_EQ(one.chunks, ChunksOf(*ds_, vol_).size());
}

TEST_F(VerifyTest, NonexistentSnapshotDoesNotExist) {
  // A typo in the time, another container: "does not exist", not damage.
  for (const std::string& typo : {FormatVolume("500", kT0 + 1), FormatVolume("599", kT0)}) {
    auto r = Verify(*ds_, typo, 2, nullptr);
    ASSERT_FALSE(r.ok()) << typo;
    EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), typo)) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), "does not exist")) << r.status().message();
  }
  auto bad = Verify(*ds_, std::string("ct/500/yesterday"), 2, nullptr);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument) << bad.status().ToString();
  EXPECT_TRUE(Contains(bad.status().message(), "ct/500/yesterday")) << bad.status().message();
  EXPECT_TRUE(RunVerify(vol_).ok());
}

TEST_F(VerifyTest, FlippedByteInAChunk) {
  auto blob = sys::ReadFile(PathOf(chunk_object_));
  ASSERT_TRUE(blob.ok());
  std::string bad = *blob;
  bad[bad.size() - 100] ^= 0x10;
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(chunk_object_), bad).ok());
  ExpectChunkDamageReported("damaged");
}

TEST_F(VerifyTest, TruncatedChunk) {
  ASSERT_EQ(::truncate(PathOf(chunk_object_).c_str(), 1000), 0);
  ExpectChunkDamageReported("damaged");
}

TEST_F(VerifyTest, MissingChunk) {
  ASSERT_TRUE(ds_->backend().Delete(chunk_object_).ok());
  ExpectChunkDamageReported("missing");
}

TEST_F(VerifyTest, DamagedIndex) {
  const std::string object = SnapshotPrefix(vol_) + kDataIndexName;
  auto blob = sys::ReadFile(PathOf(object));
  ASSERT_TRUE(blob.ok());
  std::string bad = *blob;
  bad.back() ^= 1;
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), bad).ok());
  VerifyReport report = RunVerify();
  ASSERT_FALSE(report.ok());
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(Contains(report.problems[0], object)) << report.problems[0];
  EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
  auto r = SnapshotReader::Open(*ds_, vol_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(r.status().message(), object)) << r.status().message();
  // An index swapped for another snapshot's is caught by the manifest's digest.
  auto other = sys::ReadFile(PathOf(SnapshotPrefix(other_vol_) + kDataIndexName));
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), *other).ok());
  auto swapped = SnapshotReader::Open(*ds_, vol_);
  ASSERT_FALSE(swapped.ok());
  EXPECT_TRUE(Contains(swapped.status().message(), object)) << swapped.status().message();
  // A missing index.
  ASSERT_TRUE(ds_->backend().Delete(object).ok());
  report = RunVerify();
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(Contains(report.problems[0], object)) << report.problems[0];
  EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
}

TEST_F(VerifyTest, DamagedManifest) {
  const std::string object = SnapshotPrefix(vol_) + kManifestName;
  auto blob = sys::ReadFile(PathOf(object));
  ASSERT_TRUE(blob.ok());
  std::string bad = *blob;
  bad[bad.size() / 2] ^= 0x20;
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), bad).ok());
  VerifyReport report = RunVerify();
  ASSERT_FALSE(report.ok());
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(Contains(report.problems[0], object)) << report.problems[0];
  EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
  RecordingObserver obs;
  auto list = ds_->ListSnapshots(std::nullopt, &obs);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].volname, other_vol_);
  EXPECT_TRUE(Contains(obs.All(), object)) << obs.All();
  // A manifest moved to another snapshot's place names another backup.
  auto other = sys::ReadFile(PathOf(SnapshotPrefix(other_vol_) + kManifestName));
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), *other).ok());
  auto m = ds_->ReadManifest(vol_);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(m.status().message(), "another backup")) << m.status().message();
}

// ---------------------------------------------------------------------------
// Healing: verify moves a damaged chunk aside, the next backup stores it again

class HealTest : public VerifyTest {
 protected:
  void FlipChunk() {
    auto blob = sys::ReadFile(PathOf(chunk_object_));
    ASSERT_TRUE(blob.ok());
    std::string bad = *blob;
    bad[bad.size() - 100] ^= 0x10;
    ASSERT_TRUE(sys::WriteFileAtomic(PathOf(chunk_object_), bad).ok());
  }

  // Verify finds the damage, moves the chunk aside and says so.
  void VerifyMovesItAside() {
    VerifyReport report = RunVerify();
    ASSERT_EQ(report.problems.size(), 1u);
    EXPECT_TRUE(Contains(report.problems[0], BadChunkObjectName(chunk_))) << report.problems[0];
    EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
    EXPECT_FALSE(Exists(chunk_object_));
    EXPECT_TRUE(Exists(BadChunkObjectName(chunk_)));
    // Still damaged for verify and for a reader, which names the quarantine.
    VerifyReport again = RunVerify(vol_);
    ASSERT_EQ(again.problems.size(), 1u);
    EXPECT_TRUE(Contains(again.problems[0], "missing")) << again.problems[0];
    EXPECT_TRUE(Contains(again.problems[0], BadChunkObjectName(chunk_))) << again.problems[0];
    EXPECT_EQ(again.damaged_snapshots, std::vector<std::string>{vol_});
    Status s = ReadWholeFile(*ds_, vol_, "bin/big");
    EXPECT_EQ(s.code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(s.message(), BadChunkObjectName(chunk_))) << s.message();
  }

  // After the healing backup `healed`: it, the old snapshot and the whole
  // store verify clean, and both read back whole.
  void ExpectHealed(const std::string& healed) {
    EXPECT_TRUE(Exists(chunk_object_));
    EXPECT_TRUE(RunVerify(healed).ok());
    VerifyReport old = RunVerify(vol_);
    EXPECT_TRUE(old.ok()) << old.problems.front();
    VerifyReport all = RunVerify();
    EXPECT_TRUE(all.ok()) << all.problems.front();
    ExpectTree(tree_, ReadBack(*ds_, vol_));
    ExpectTree(tree_, ReadBack(*ds_, healed));
  }
};

TEST_F(HealTest, FullBackupAfterVerifyStoresTheChunkAgain) {
  FlipChunk();
  VerifyMovesItAside();
  ASSERT_TRUE(Backup(*ds_, "500", kT0 + 10, WorkerStream(tree_)).ok());
  ExpectHealed(FormatVolume("500", kT0 + 10));
}

TEST_F(HealTest, IncrementalBackupDoesNotTakeMissingChunksFromItsParent) {
  FlipChunk();
  VerifyMovesItAside();
  RecordingObserver obs;
  auto parent = LoadParent(*ds_, "500", &obs);
  EXPECT_EQ(parent, nullptr);
  EXPECT_TRUE(Contains(obs.All(), chunk_object_)) << obs.All();
  EXPECT_TRUE(Contains(obs.All(), "verify found it damaged")) << obs.All();
  ASSERT_TRUE(Backup(*ds_, "500", kT0 + 10, WorkerStream(tree_), parent).ok());
  ExpectHealed(FormatVolume("500", kT0 + 10));
  // With every chunk back, the next backup is incremental again.
  EXPECT_NE(LoadParent(*ds_, "500", &obs), nullptr);
}

TEST_F(HealTest, MissingChunkIsStoredAgainByTheNextBackup) {
  ASSERT_TRUE(ds_->backend().Delete(chunk_object_).ok());
  VerifyReport report = RunVerify();
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_FALSE(Exists(BadChunkObjectName(chunk_)));  // nothing to move aside
  ASSERT_TRUE(
      Backup(*ds_, "500", kT0 + 10, WorkerStream(tree_), LoadParent(*ds_, "500", &observer_)).ok());
  ExpectHealed(FormatVolume("500", kT0 + 10));
}

TEST_F(HealTest, QuarantineKeepsAGoodCopyStoredMeanwhile) {
  // Verify read damaged bytes, but by the time it moves them aside a backup
  // has stored the chunk anew: the good copy stays.
  auto good = sys::ReadFile(PathOf(chunk_object_));
  ASSERT_TRUE(good.ok());
  auto moved = ds_->QuarantineChunk(chunk_, "damaged bytes");
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_FALSE(*moved);
  EXPECT_TRUE(Exists(chunk_object_));
  EXPECT_EQ(*sys::ReadFile(PathOf(chunk_object_)), *good);
  EXPECT_TRUE(ReadWholeFile(*ds_, vol_, "bin/big").ok());
}

TEST_F(HealTest, ReaderRacingVerifyNamesTheQuarantineOrReadsTheNewCopy) {
  auto good = sys::ReadFile(PathOf(chunk_object_));
  ASSERT_TRUE(good.ok());
  // Moved aside (as verify does: the .bad first, then the chunk goes).
  ASSERT_TRUE(ds_->backend().Put(BadChunkObjectName(chunk_), "damaged").ok());
  ASSERT_TRUE(ds_->backend().Delete(chunk_object_).ok());
  auto r = ds_->ReadChunk(chunk_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(r.status().message(), BadChunkObjectName(chunk_))) << r.status().message();
  // Stored anew by a backup while the .bad is still there: read as usual.
  ASSERT_TRUE(ds_->backend().PutIfAbsent(chunk_object_, *good).ok());
  EXPECT_TRUE(ds_->ReadChunk(chunk_).ok());
  EXPECT_TRUE(ReadWholeFile(*ds_, vol_, "bin/big").ok());
}

TEST_F(HealTest, GcRemovesTheDamagedCopyOnceStoredAgainOrUnreferenced) {
  FlipChunk();
  VerifyMovesItAside();
  const std::string bad = BadChunkObjectName(chunk_);
  SetMtime("chunks", std::time(nullptr) - 2 * 86400);
  // Still needed by vol_ and not stored again: kept.
  auto r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bad_removed, 0u);
  EXPECT_TRUE(Exists(bad));
  // Stored again by a backup: the damaged copy goes (dry run first).
  ASSERT_TRUE(Backup(*ds_, "500", kT0 + 10, WorkerStream(tree_)).ok());
  r = CollectGarbage(*ds_, true, &observer_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bad_removed, 1u);
  EXPECT_TRUE(Exists(bad));
  r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bad_removed, 1u);
  EXPECT_FALSE(Exists(bad));
  EXPECT_TRUE(RunVerify().ok());
  // Unreferenced: a .bad of a chunk no snapshot needs goes too.
  ASSERT_TRUE(ds_->backend().Put(bad, "old damage").ok());
  ASSERT_TRUE(ds_->DeleteSnapshot(vol_).ok());
  ASSERT_TRUE(ds_->DeleteSnapshot(FormatVolume("500", kT0 + 10)).ok());
  ASSERT_TRUE(ds_->backend().Delete(chunk_object_).ok());
  r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bad_removed, 1u);
  EXPECT_FALSE(Exists(bad));
}

// ---------------------------------------------------------------------------
// Garbage collection

class GcTest : public DatastoreTest {
 protected:
  void SetUp() override {
    DatastoreTest::SetUp();
    ds_ = Open();
    ASSERT_NE(ds_, nullptr);
    const std::string shared = RandomBytes(300000, 3);
    tree1_ = TreeBuilder().Dir("").File("a", RandomBytes(1 << 20, 1)).File("s", shared).Build();
    tree2_ = TreeBuilder().Dir("").File("b", RandomBytes(1 << 20, 2)).File("s", shared).Build();
    ASSERT_TRUE(Backup(*ds_, "600", kT0, WorkerStream(tree1_)).ok());
    ASSERT_TRUE(Backup(*ds_, "600", kT0 + 1, WorkerStream(tree2_)).ok());
    vol1_ = FormatVolume("600", kT0);
    vol2_ = FormatVolume("600", kT0 + 1);
    chunks1_ = ChunksOf(*ds_, vol1_);
    chunks2_ = ChunksOf(*ds_, vol2_);
    for (const Digest& d : chunks1_)
      if (!chunks2_.count(d)) only1_.insert(d);
    ASSERT_GT(only1_.size(), 2u);
    now_ = std::time(nullptr);
  }

  GcReport RunGc(bool dry_run = false) {
    auto r = CollectGarbage(*ds_, dry_run, &observer_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : GcReport{};
  }

  size_t Present(const std::set<Digest>& chunks) {
    size_t n = 0;
    for (const Digest& d : chunks) n += Exists(ChunkObjectName(d));
    return n;
  }

  std::unique_ptr<Datastore> ds_;
  std::vector<Node> tree1_, tree2_;
  std::string vol1_, vol2_;
  std::set<Digest> chunks1_, chunks2_, only1_;
  int64_t now_ = 0;
};

TEST_F(GcTest, KeepsEverythingReferenced) {
  SetMtime("chunks", now_ - 2 * 86400);
  GcReport report = RunGc();
  EXPECT_EQ(report.removed, 0u);
  EXPECT_EQ(report.chunks, report.marked);
  EXPECT_EQ(report.marked, (chunks1_.size() + chunks2_.size() - (chunks1_.size() - only1_.size())));
  EXPECT_EQ(Present(chunks1_), chunks1_.size());
  EXPECT_EQ(Present(chunks2_), chunks2_.size());
}

TEST_F(GcTest, RemovesOnlyOldUnreferencedChunks) {
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());
  EXPECT_TRUE(ds_->backend().List(SnapshotPrefix(vol1_))->empty());

  // Everything is younger than gc's start: nothing goes.
  GcReport recent = RunGc();
  EXPECT_EQ(recent.removed, 0u);
  EXPECT_EQ(recent.kept_recent, only1_.size());
  EXPECT_EQ(Present(only1_), only1_.size());

  SetMtime("chunks", now_ - 2 * 86400);
  GcReport dry = RunGc(/*dry_run=*/true);
  EXPECT_EQ(dry.removed, only1_.size());
  EXPECT_GT(dry.removed_bytes, 1u << 20);
  EXPECT_EQ(Present(only1_), only1_.size());

  GcReport report = RunGc();
  EXPECT_EQ(report.removed, only1_.size());
  EXPECT_EQ(report.marked, chunks2_.size());
  EXPECT_EQ(Present(only1_), 0u);
  EXPECT_EQ(Present(chunks2_), chunks2_.size());
  ExpectTree(tree2_, ReadBack(*ds_, vol2_));
  auto verify = Verify(*ds_, std::nullopt, 2, nullptr);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << verify->problems.front();
  EXPECT_EQ(verify->chunks, chunks2_.size());
  EXPECT_FALSE(Exists(kGcLockName));
}

TEST_F(GcTest, ARunningBackupProtectsItsParentAndLowersTheCutoff) {
  auto lock = ds_->TakeLock(BackupLockName("600"), vol1_, &observer_);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->parent, vol1_);
  // The parent of a running backup cannot be deleted.
  Status del = ds_->DeleteSnapshot(vol1_);
  EXPECT_EQ(del.code(), Code::kFailedPrecondition) << del.ToString();
  EXPECT_TRUE(Contains(del.message(), vol1_)) << del.message();
  ASSERT_TRUE(ds_->ReleaseLock(lock->object).ok());
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());

  // A backup (of another container) that started two hours ago: chunks an
  // hour old may be ones it relies on.
  auto other = ds_->TakeLock(BackupLockName("601"), std::nullopt, &observer_);
  ASSERT_TRUE(other.ok());
  SetMtime(other->object, now_ - 7200);
  SetMtime("chunks", now_ - 3600);
  GcReport report = RunGc();
  EXPECT_EQ(report.removed, 0u);
  EXPECT_EQ(report.kept_recent, only1_.size());
  EXPECT_EQ(Present(only1_), only1_.size());
  ASSERT_TRUE(ds_->ReleaseLock(other->object).ok());
  report = RunGc();
  EXPECT_EQ(report.removed, only1_.size());
  EXPECT_EQ(Present(chunks2_), chunks2_.size());
}

TEST_F(GcTest, UnreadableParentOfARunningBackupStopsGc) {
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());
  SetMtime("chunks", now_ - 2 * 86400);
  // A lock naming a parent that cannot be read (here: already gone).
  nlohmann::json lock = {{"host", HostName()}, {"pid", ::getpid()}, {"parent", vol1_}};
  ASSERT_TRUE(ds_->backend().Put(BackupLockName("600"), lock.dump()).ok());
  auto r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(r.status().message(), vol1_)) << r.status().message();
  EXPECT_EQ(Present(only1_), only1_.size());
  EXPECT_FALSE(Exists(kGcLockName));
}

TEST_F(GcTest, DamagedManifestStopsGc) {
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());
  SetMtime("chunks", now_ - 2 * 86400);
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(SnapshotPrefix(vol2_) + kManifestName), "junk").ok());
  auto r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(r.status().message(), vol2_)) << r.status().message();
  EXPECT_EQ(Present(chunks1_), chunks1_.size());
  EXPECT_EQ(Present(chunks2_), chunks2_.size());
}

TEST_F(GcTest, RemovesOldLeftoversOfKilledBackups) {
  const std::string old_vol = FormatVolume("700", kT0 - 86400);
  const std::string new_vol = FormatVolume("701", kT0 - 86400);
  const std::string busy_vol = FormatVolume("702", kT0 - 86400);
  for (const std::string& v : {old_vol, new_vol, busy_vol}) {
    ASSERT_TRUE(ds_->backend().Put(SnapshotPrefix(v) + kMetaIndexName, "x").ok());
    ASSERT_TRUE(ds_->backend().Put(SnapshotPrefix(v) + kDataIndexName, "y").ok());
  }
  SetMtime("snapshots/" + old_vol, now_ - 86400);
  SetMtime("snapshots/" + busy_vol, now_ - 86400);
  auto lock = ds_->TakeLock(BackupLockName("702"), std::nullopt, &observer_);
  ASSERT_TRUE(lock.ok());
  GcReport dry = RunGc(true);
  EXPECT_EQ(dry.leftovers_removed, 2u);
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(old_vol))->size(), 2u);
  GcReport report = RunGc();
  EXPECT_EQ(report.leftovers_removed, 2u);
  EXPECT_TRUE(ds_->backend().List(SnapshotPrefix(old_vol))->empty());
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(new_vol))->size(), 2u);   // too recent
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(busy_vol))->size(), 2u);  // backup running
  // Published snapshots, with their notes and protection, are no leftovers.
  ASSERT_TRUE(ds_->WriteNotes(vol1_, "keep").ok());
  ASSERT_TRUE(ds_->SetProtected(vol1_, true).ok());
  SetMtime("snapshots", now_ - 86400);
  ASSERT_TRUE(ds_->ReleaseLock(lock->object).ok());
  report = RunGc();
  EXPECT_EQ(report.leftovers_removed, 4u);  // new_vol's (now old) and busy_vol's
  EXPECT_TRUE(ds_->backend().List("snapshots/ct/70")->empty());
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(vol1_))->size(), 5u);
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(vol2_))->size(), 3u);
}

TEST_F(GcTest, RemovesOldTempsOfKilledWritesAndEmptySnapshotDirectories) {
  const std::string marker(objstore::kLocalTempMarker);
  const std::string old_temp = "chunks/abcd/abcdef" + marker + "AAAAAAAAAAAA";
  const std::string live_temp = "chunks/abcd/abcdee" + marker + "BBBBBBBBBBBB";
  const std::string killed = FormatVolume("700", kT0 - 86400);
  const std::string index_temp = "snapshots/" + killed + "/data.didx" + marker + "CCCCCCCCCCCC";
  for (const std::string& t : {old_temp, live_temp, index_temp}) {
    ASSERT_TRUE(sys::MakeDirs(PathOf(t.substr(0, t.rfind('/')))).ok());
    ASSERT_TRUE(sys::WriteFileAtomic(PathOf(t), "half").ok());
  }
  ASSERT_TRUE(ds_->backend().Put(SnapshotPrefix(killed) + kMetaIndexName, "x").ok());
  SetMtime("snapshots/" + killed, now_ - 7200);
  SetMtime(old_temp, now_ - 7200);
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());  // leaves its directory
  ASSERT_TRUE(sys::IsDirectory(PathOf("snapshots/" + vol1_)));

  GcReport dry = RunGc(true);
  EXPECT_EQ(dry.temps_removed + dry.dirs_removed, 0u);
  EXPECT_TRUE(Exists(old_temp));
  GcReport report = RunGc();
  EXPECT_EQ(report.leftovers_removed, 1u);
  EXPECT_EQ(report.temps_removed, 2u);
  EXPECT_FALSE(Exists(old_temp));
  EXPECT_FALSE(Exists(index_temp));
  EXPECT_TRUE(Exists(live_temp));  // a live writer's: too recent
  EXPECT_FALSE(sys::PathExists(PathOf("snapshots/" + killed)));
  EXPECT_FALSE(sys::PathExists(PathOf("snapshots/ct/700")));
  EXPECT_FALSE(sys::PathExists(PathOf("snapshots/" + vol1_)));
  EXPECT_EQ(report.dirs_removed, 3u);
  EXPECT_TRUE(Exists(SnapshotPrefix(vol2_) + kManifestName));
  ExpectTree(tree2_, ReadBack(*ds_, vol2_));
  // The next backup creates its directories again.
  ASSERT_TRUE(Backup(*ds_, "700", kT0, WorkerStream(tree1_)).ok());
  EXPECT_TRUE(RunGc().dirs_removed == 0u);
}

TEST_F(GcTest, OneGcAtATime) {
  auto held = ds_->TakeLock(kGcLockName, std::nullopt, &observer_);
  ASSERT_TRUE(held.ok());
  auto r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_TRUE(Contains(r.status().message(), kGcLockName)) << r.status().message();
  EXPECT_TRUE(Exists(kGcLockName));  // the failed gc did not release the other's lock
  ASSERT_TRUE(ds_->ReleaseLock(kGcLockName).ok());
  EXPECT_TRUE(CollectGarbage(*ds_, false, &observer_).ok());
}

// A backend that runs `hook` once, at the first Get of a chunk: to put a
// delete and a gc between verify's reading of the indexes and of the chunks.
class HookBackend final : public ObjectBackend {
 public:
  HookBackend(std::unique_ptr<ObjectBackend> inner, std::function<void()> hook)
      : inner_(std::move(inner)), hook_(std::move(hook)) {}
  std::string Describe() const override { return inner_->Describe(); }
  Result<bool> PutIfAbsent(const std::string& name, std::string_view data,
                           Durability durability) override {
    return inner_->PutIfAbsent(name, data, durability);
  }
  Status Sync() override { return inner_->Sync(); }
  Status Touch(const std::string& name) override { return inner_->Touch(name); }
  Status Put(const std::string& name, std::string_view data) override {
    return inner_->Put(name, data);
  }
  Result<std::string> Get(const std::string& name, uint64_t max_size) override {
    if (name.starts_with("chunks/")) std::call_once(once_, hook_);
    return inner_->Get(name, max_size);
  }
  Result<ObjectStat> Stat(const std::string& name) override { return inner_->Stat(name); }
  Result<std::vector<std::string>> List(const std::string& prefix) override {
    return inner_->List(prefix);
  }
  Status Delete(const std::string& name) override { return inner_->Delete(name); }
  Result<LeftoverCount> RemoveLeftovers(const std::string& prefix, int64_t temps_older_than_ns,
                                        bool empty_dirs) override {
    return inner_->RemoveLeftovers(prefix, temps_older_than_ns, empty_dirs);
  }

 private:
  std::unique_ptr<ObjectBackend> inner_;
  std::function<void()> hook_;
  std::once_flag once_;
};

TEST_F(GcTest, VerifyIgnoresABackupDeletedAndCollectedWhileItRuns) {
  SetMtime("chunks", now_ - 2 * 86400);
  for (const std::optional<std::string>& which :
       {std::optional<std::string>(), std::optional<std::string>(vol1_)}) {
    SCOPED_TRACE(which ? "one backup" : "the store");
    if (which) {  // vol1_ again, deleted by the first round
      ASSERT_TRUE(Backup(*ds_, "600", kT0, WorkerStream(tree1_)).ok());
      SetMtime("chunks", now_ - 2 * 86400);
    }
    // Once verify has read the indexes (vol1_'s too), vol1_ is deleted and
    // gc removes the chunks only it needed.
    auto backend = objstore::OpenLocalBackend(root_);
    ASSERT_TRUE(backend.ok());
    GcReport gc;
    auto racing = Datastore::Open(
        std::make_unique<HookBackend>(std::move(*backend),
                                      [&] {
                                        ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());
                                        gc = RunGc();
                                      }),
        std::nullopt, "datastore 'test'");
    ASSERT_TRUE(racing.ok());
    auto r = Verify(**racing, which, 2, nullptr);
    EXPECT_EQ(gc.removed, only1_.size());
    EXPECT_EQ(Present(only1_), 0u);
    if (which) {
      // The one backup asked for is gone: said so, not "damaged".
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
      EXPECT_TRUE(Contains(r.status().message(), "deleted")) << r.status().message();
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->ok()) << r->problems.front();
    EXPECT_TRUE(r->damaged_snapshots.empty());
    EXPECT_EQ(r->deleted_meanwhile, 1u);
    EXPECT_EQ(r->snapshots, 2u);
  }
  // Real damage of a backup that still exists is still reported.
  ASSERT_TRUE(ds_->backend().Delete(ChunkObjectName(*chunks2_.begin())).ok());
  auto r = Verify(*ds_, std::nullopt, 2, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->damaged_snapshots, std::vector<std::string>{vol2_});
}

// gc keeps a live snapshot's record (it is no leftover); deleting the
// snapshot removes it.
TEST_F(GcTest, KeepsTheVerifyStateOfALiveSnapshotDeleteRemovesIt) {
  ASSERT_TRUE(Verify(*ds_, std::nullopt, 2, nullptr).ok());
  const std::string state1 = SnapshotPrefix(vol1_) + kVerifyStateName;
  const std::string state2 = SnapshotPrefix(vol2_) + kVerifyStateName;
  ASSERT_TRUE(Exists(state1));
  SetMtime("snapshots", now_ - 2 * 86400);
  SetMtime("chunks", now_ - 2 * 86400);
  GcReport report = RunGc();
  EXPECT_EQ(report.leftovers_removed, 0u);
  EXPECT_TRUE(Exists(state1));
  EXPECT_TRUE(ReadVerifyState(*ds_, vol1_));
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());
  EXPECT_FALSE(Exists(state1));
  EXPECT_TRUE(Exists(state2));
  RunGc();
  EXPECT_TRUE(ReadVerifyState(*ds_, vol2_));
}

// A snapshot deleted while verify runs gets no record (none left behind for
// gc either); the other one does.
TEST_F(GcTest, VerifyRecordsNothingForABackupDeletedWhileItRuns) {
  auto backend = objstore::OpenLocalBackend(root_);
  ASSERT_TRUE(backend.ok());
  auto racing = Datastore::Open(
      std::make_unique<HookBackend>(std::move(*backend),
                                    [&] { ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok()); }),
      std::nullopt, "datastore 'test'");
  ASSERT_TRUE(racing.ok());
  auto r = Verify(**racing, VerifyOptions{}, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->ok());
  EXPECT_FALSE(Exists(SnapshotPrefix(vol1_) + kVerifyStateName));
  EXPECT_TRUE(ReadVerifyState(*ds_, vol2_));
}

// Deleted between verify's check and its write of the record: the record
// goes again, so no object of the deleted snapshot is left.
class DeleteBeforeStatePut final : public ObjectBackend {
 public:
  DeleteBeforeStatePut(std::unique_ptr<ObjectBackend> inner, std::function<void()> hook)
      : inner_(std::move(inner)), hook_(std::move(hook)) {}
  std::string Describe() const override { return inner_->Describe(); }
  Result<bool> PutIfAbsent(const std::string& name, std::string_view data,
                           Durability durability) override {
    return inner_->PutIfAbsent(name, data, durability);
  }
  Status Sync() override { return inner_->Sync(); }
  Status Touch(const std::string& name) override { return inner_->Touch(name); }
  Status Put(const std::string& name, std::string_view data) override {
    if (name.ends_with(kVerifyStateName)) std::call_once(once_, hook_);
    return inner_->Put(name, data);
  }
  Result<std::string> Get(const std::string& name, uint64_t max_size) override {
    return inner_->Get(name, max_size);
  }
  Result<ObjectStat> Stat(const std::string& name) override { return inner_->Stat(name); }
  Result<std::vector<std::string>> List(const std::string& prefix) override {
    return inner_->List(prefix);
  }
  Status Delete(const std::string& name) override { return inner_->Delete(name); }
  Result<LeftoverCount> RemoveLeftovers(const std::string& prefix, int64_t temps_older_than_ns,
                                        bool empty_dirs) override {
    return inner_->RemoveLeftovers(prefix, temps_older_than_ns, empty_dirs);
  }

 private:
  std::unique_ptr<ObjectBackend> inner_;
  std::function<void()> hook_;
  std::once_flag once_;
};

TEST_F(GcTest, VerifyStateOfABackupDeletedJustBeforeItsWriteIsRemoved) {
  auto backend = objstore::OpenLocalBackend(root_);
  ASSERT_TRUE(backend.ok());
  auto racing = Datastore::Open(
      std::make_unique<DeleteBeforeStatePut>(std::move(*backend),
                                             [&] { ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok()); }),
      std::nullopt, "datastore 'test'");
  ASSERT_TRUE(racing.ok());
  VerifyOptions o;
  o.volname = vol1_;
  auto r = Verify(**racing, o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(Exists(SnapshotPrefix(vol1_) + kVerifyStateName));
  auto left = ds_->backend().List(SnapshotPrefix(vol1_));
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

// ---------------------------------------------------------------------------
// Locks, protection, notes

}  // namespace
}  // namespace ctdump::datastore
