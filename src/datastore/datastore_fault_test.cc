// The datastore's failure paths on the in-memory backend behind the
// fault-injecting decorator (objstore/memory_backend.h, fault_backend.h): a
// store that fills up during a backup, a sync that fails, chunks read back
// damaged, deletes that fail during gc, slow backends.
#include <atomic>
#include <nlohmann/json.hpp>

#include "datastore/datastore_test_fixture.h"
#include "datastore/tar_export.h"
#include "objstore/fault_backend.h"
#include "objstore/memory_backend.h"

namespace ctdump::datastore {
namespace {

using objstore::BackendOp;
using objstore::Fault;
using objstore::FaultBackend;
using objstore::FaultPlan;
using objstore::GetDamage;
using objstore::kEveryTime;
using objstore::MemoryBackend;
using objstore::ReadDamage;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kHour = 3600 * kSecond;

// A datastore on a memory store behind a fault plan, and the store itself
// seen without faults.
struct FaultStore {
  std::shared_ptr<FaultPlan> plan = std::make_shared<FaultPlan>();
  std::unique_ptr<MemoryBackend> memory;
  std::unique_ptr<Datastore> ds;
};

// The tree of the second backup: the sample tree with a new file and a
// changed one, so it stores new chunks and dedups others.
std::vector<Node> ChangedTree() {
  std::vector<Node> tree = SampleTree();
  TreeBuilder extra;
  extra.File("new-file", RandomBytes(1 << 20, 99));
  for (Node& n : extra.Build()) tree.push_back(std::move(n));
  for (Node& n : tree) {
    if (n.entry.path == "bin/text") {
      n.content = TextBytes(n.content.size(), 4);
    }
  }
  return tree;
}

class DatastoreFaultTest : public DatastoreTest {
 protected:
  // A new empty store (its clock is now_) with a datastore open on it.
  FaultStore MakeStore(const std::string& label = "fault") {
    FaultStore s;
    objstore::MemoryBackendOptions o;
    o.label = label;
    o.clock_ns = [this] { return now_.load(); };
    s.memory = std::make_unique<MemoryBackend>(o);
    s.ds = OpenOn(s);
    return s;
  }

  // A datastore on `s`'s objects through its fault plan.
  Result<std::unique_ptr<Datastore>> TryOpenOn(FaultStore& s, bool create_if_empty = true) {
    auto backend = std::make_unique<FaultBackend>(s.memory->Share("fault"), s.plan);
    return Datastore::Open(std::move(backend), std::nullopt, "datastore 'fault'", create_if_empty);
  }
  std::unique_ptr<Datastore> OpenOn(FaultStore& s) {
    auto ds = TryOpenOn(s);
    EXPECT_TRUE(ds.ok()) << ds.status().ToString();
    return ds.ok() ? std::move(*ds) : nullptr;
  }

  // The volnames of the snapshots of `vmid`.
  std::vector<std::string> Volnames(Datastore& ds, const std::string& vmid) {
    std::vector<std::string> out;
    auto list = ds.ListSnapshots(vmid, &observer_);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (list.ok())
      for (const auto& info : *list) out.push_back(info.volname);
    return out;
  }

  VerifyReport RunVerify(Datastore& ds, const std::optional<std::string>& volname = std::nullopt) {
    auto r = Verify(ds, volname, 2, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{};
  }

  // A store holding one snapshot of the sample tree at kT0.
  FaultStore StoreWithABackup() {
    FaultStore s = MakeStore();
    EXPECT_NE(s.ds, nullptr);
    if (s.ds) {
      EXPECT_TRUE(Backup(*s.ds, "500", kT0, WorkerStream(SampleTree())).ok());
    }
    return s;
  }
  static uint64_t Puts(const FaultPlan& plan) {
    return plan.Calls(BackendOp::kPutIfAbsent) + plan.Calls(BackendOp::kPut);
  }

  std::atomic<int64_t> now_{kT0 * kSecond};
};

// ---------------------------------------------------------------------------
// Opening

TEST_F(DatastoreFaultTest, UnreadableConfigFailsOpenAndWritesNothing) {
  FaultStore s = MakeStore();
  ASSERT_NE(s.ds, nullptr);
  const uint64_t objects = s.memory->ObjectCount();
  s.plan->ResetCounts();
  Fault f;
  f.ops = {BackendOp::kGet};
  f.prefix = "config";
  f.times = kEveryTime;
  s.plan->AddFault(f);
  // An I/O error is not "no config": the store is neither taken for empty
  // nor created again.
  auto ds = TryOpenOn(s);
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), Code::kIOError) << ds.status().ToString();
  EXPECT_TRUE(Contains(ds.status().message(), "get \"config\"")) << ds.status().ToString();
  auto created = Datastore::Create(std::make_unique<FaultBackend>(s.memory->Share("c"), s.plan),
                                   "datastore 'fault'");
  EXPECT_EQ(created.status().code(), Code::kIOError) << created.status().ToString();
  EXPECT_EQ(s.plan->Calls(BackendOp::kPutIfAbsent) + s.plan->Calls(BackendOp::kPut), 0u);
  EXPECT_EQ(s.memory->ObjectCount(), objects);
}

TEST_F(DatastoreFaultTest, StoreFullWhenCreatingLeavesTheStoreEmpty) {
  FaultStore s;
  s.memory = std::make_unique<MemoryBackend>();
  Fault full;
  full.ops = {BackendOp::kPutIfAbsent, BackendOp::kPut};
  full.error = objstore::StoreFullError();
  s.plan->AddFault(full);
  auto ds = TryOpenOn(s);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(Contains(ds.status().message(), "No space left on device")) << ds.status().ToString();
  EXPECT_TRUE(*s.memory->IsEmpty());
  // An emptiness that cannot be checked is no emptiness either.
  Fault cannot_list;
  cannot_list.ops = {BackendOp::kIsEmpty};
  s.plan->AddFault(cannot_list);
  auto later = TryOpenOn(s, /*create_if_empty=*/false);
  EXPECT_EQ(later.status().code(), Code::kIOError) << later.status().ToString();
  EXPECT_TRUE(*s.memory->IsEmpty());
  s.plan->Clear();
  ASSERT_NE(OpenOn(s), nullptr);
  EXPECT_EQ(*s.memory->List(""), std::vector<std::string>{"config"});
}

// ---------------------------------------------------------------------------
// Store full during a backup

// Which put of the second backup finds the store full.
enum class FullAt { kFirstChunk, kMiddleChunk, kMetaIndex, kDataIndex, kManifest };

class StoreFullTest : public DatastoreFaultTest, public ::testing::WithParamInterface<FullAt> {};

TEST_P(StoreFullTest, FailsTheBackupAndPublishesNothing) {
  const std::string stream = WorkerStream(ChangedTree());
  const std::string vol = FormatVolume("500", kT0 + 60);
  // The puts the second backup makes, counted on a store in the same state:
  // chunks, then the two indexes, then the manifest.
  uint64_t puts = 0;
  {
    FaultStore probe = StoreWithABackup();
    probe.plan->ResetCounts();
    ASSERT_TRUE(Backup(*probe.ds, "500", kT0 + 60, stream).ok());
    puts = Puts(*probe.plan);
    ASSERT_GT(puts, 10u);
  }
  uint64_t nth = 0;
  std::string object;  // the object whose put finds the store full
  switch (GetParam()) {
    case FullAt::kFirstChunk:
      nth = 1, object = "put-if-absent \"chunks/";
      break;
    case FullAt::kMiddleChunk:
      nth = (puts - 3) / 2, object = "put-if-absent \"chunks/";
      break;
    case FullAt::kMetaIndex:
      nth = puts - 2, object = "put \"" + SnapshotPrefix(vol) + kMetaIndexName;
      break;
    case FullAt::kDataIndex:
      nth = puts - 1, object = "put \"" + SnapshotPrefix(vol) + kDataIndexName;
      break;
    case FullAt::kManifest:
      nth = puts, object = "put-if-absent \"" + SnapshotPrefix(vol) + kManifestName;
      break;
  }
  FaultStore s = StoreWithABackup();
  const std::vector<std::string> before = Volnames(*s.ds, "500");
  ASSERT_EQ(before.size(), 1u);
  Fault full;
  full.ops = {BackendOp::kPutIfAbsent, BackendOp::kPut};
  full.nth = nth;
  full.times = kEveryTime;  // full stays full
  full.error = objstore::StoreFullError();
  s.plan->AddFault(full);
  s.plan->ResetCounts();

  auto m = Backup(*s.ds, "500", kT0 + 60, stream);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kIOError) << m.status().ToString();
  EXPECT_TRUE(Contains(m.status().message(), object)) << m.status().ToString();
  EXPECT_TRUE(Contains(m.status().message(), "No space left on device")) << m.status().ToString();
  // Nothing of the snapshot is visible or left behind (chunks are gc's).
  EXPECT_EQ(Volnames(*s.ds, "500"), before);
  EXPECT_TRUE(s.memory->List(SnapshotPrefix(vol))->empty());
  EXPECT_EQ(s.ds->ReadManifest(vol).status().code(), Code::kNotFound);
  EXPECT_TRUE(RunVerify(*s.ds).ok());

  // Space freed: the same backup works.
  s.plan->Clear();
  auto again = Backup(*s.ds, "500", kT0 + 60, stream);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(Volnames(*s.ds, "500"), (std::vector<std::string>{before[0], vol}));
  ExpectTree(ChangedTree(), ReadBack(*s.ds, vol));
  EXPECT_TRUE(RunVerify(*s.ds).ok());
}

INSTANTIATE_TEST_SUITE_P(Put, StoreFullTest,
                         ::testing::Values(FullAt::kFirstChunk, FullAt::kMiddleChunk,
                                           FullAt::kMetaIndex, FullAt::kDataIndex,
                                           FullAt::kManifest),
                         [](const auto& info) {
                           switch (info.param) {
                             case FullAt::kFirstChunk:
                               return "FirstChunk";
                             case FullAt::kMiddleChunk:
                               return "MiddleChunk";
                             case FullAt::kMetaIndex:
                               return "MetaIndex";
                             case FullAt::kDataIndex:
                               return "DataIndex";
                             case FullAt::kManifest:
                               return "Manifest";
                           }
                           return "?";
                         });

TEST_F(DatastoreFaultTest, StoreFullOnlyAfterTheLastPutLetsTheBackupThrough) {
  // The count the test above relies on is exact: a store that fills up only
  // after the backup's last put does not fail it.
  const std::string stream = WorkerStream(ChangedTree());
  uint64_t puts = 0;
  {
    FaultStore probe = StoreWithABackup();
    probe.plan->ResetCounts();
    ASSERT_TRUE(Backup(*probe.ds, "500", kT0 + 60, stream).ok());
    puts = Puts(*probe.plan);
  }
  FaultStore s = StoreWithABackup();
  Fault full;
  full.ops = {BackendOp::kPutIfAbsent, BackendOp::kPut};
  full.nth = puts + 1;
  full.times = kEveryTime;
  full.error = objstore::StoreFullError();
  s.plan->AddFault(full);
  auto m = Backup(*s.ds, "500", kT0 + 60, stream);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(s.plan->Injected().empty());
}

// ---------------------------------------------------------------------------
// Sync

TEST_F(DatastoreFaultTest, FailingSyncFailsTheBackupBeforeItsManifest) {
  FaultStore s = MakeStore();
  ASSERT_NE(s.ds, nullptr);
  ASSERT_TRUE(Backup(*s.ds, "500", kT0, WorkerStream(SampleTree())).ok());
  // A published snapshot survives a crash: everything it needs was synced.
  EXPECT_TRUE(s.memory->Unsynced().empty());
  s.plan->ResetCounts();

  Fault f;
  f.ops = {BackendOp::kSync};
  f.error = IOError("injected: Input/output error");
  s.plan->AddFault(f);
  const std::string vol = FormatVolume("500", kT0 + 60);
  auto m = Backup(*s.ds, "500", kT0 + 60, WorkerStream(ChangedTree()));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kIOError);
  EXPECT_TRUE(Contains(m.status().message(), "sync in memory:")) << m.status().ToString();
  EXPECT_EQ(s.plan->Calls(BackendOp::kSync), 1u);
  EXPECT_EQ(s.ds->ReadManifest(vol).status().code(), Code::kNotFound);
  EXPECT_TRUE(s.memory->List(SnapshotPrefix(vol))->empty());
  EXPECT_EQ(Volnames(*s.ds, "500"), std::vector<std::string>{FormatVolume("500", kT0)});
  // The chunks it wrote were never made durable; a crash now loses them and
  // nothing published needs them.
  std::vector<std::string> lost = s.memory->DropUnsynced();
  EXPECT_FALSE(lost.empty());
  for (const auto& name : lost) EXPECT_TRUE(name.starts_with("chunks/")) << name;
  VerifyReport report = RunVerify(*s.ds);
  EXPECT_TRUE(report.ok()) << report.problems.front();

  auto again = Backup(*s.ds, "500", kT0 + 60, WorkerStream(ChangedTree()));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(s.memory->DropUnsynced().empty());
  ExpectTree(ChangedTree(), ReadBack(*s.ds, vol));
}

// ---------------------------------------------------------------------------
// A backup that finds chunks stored already

// The second backup of a tree finds its chunks stored: it must refresh their
// mtime (gc's sweep spares them) or fail, never rely on them silently.
TEST_F(DatastoreFaultTest, FailingTouchOfADedupedChunkFailsTheBackup) {
  FaultStore s = StoreWithABackup();
  ASSERT_NE(s.ds, nullptr);
  const std::string vol = FormatVolume("500", kT0 + 60);
  Fault f;
  f.ops = {BackendOp::kTouch};
  f.prefix = "chunks/";
  f.nth = 2;
  s.plan->AddFault(f);
  auto m = Backup(*s.ds, "500", kT0 + 60, WorkerStream(ChangedTree()));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kIOError) << m.status().ToString();
  EXPECT_TRUE(Contains(m.status().message(), "touch \"chunks/")) << m.status().ToString();
  EXPECT_TRUE(s.memory->List(SnapshotPrefix(vol))->empty());
  EXPECT_EQ(Volnames(*s.ds, "500"), std::vector<std::string>{FormatVolume("500", kT0)});
  ASSERT_TRUE(Backup(*s.ds, "500", kT0 + 60, WorkerStream(ChangedTree())).ok());
  ExpectTree(ChangedTree(), ReadBack(*s.ds, vol));
}

// A chunk whose presence cannot be checked is not taken for absent (and
// written again) nor for present: the backup fails.
TEST_F(DatastoreFaultTest, FailingStatOfAChunkFailsTheBackup) {
  FaultStore s = StoreWithABackup();
  ASSERT_NE(s.ds, nullptr);
  Fault f;
  f.ops = {BackendOp::kStat};
  f.prefix = "chunks/";
  f.nth = 5;
  f.error = UnavailableError("injected: connection reset");
  s.plan->AddFault(f);
  s.plan->ResetCounts();
  auto m = Backup(*s.ds, "500", kT0 + 60, WorkerStream(ChangedTree()));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kUnavailable) << m.status().ToString();
  EXPECT_TRUE(Contains(m.status().message(), "stat \"chunks/")) << m.status().ToString();
  EXPECT_TRUE(s.memory->List(SnapshotPrefix(FormatVolume("500", kT0 + 60)))->empty());
  EXPECT_EQ(Volnames(*s.ds, "500").size(), 1u);
}

// A parent whose index cannot be read is no reason to fail: the backup reads
// everything, and says why.
TEST_F(DatastoreFaultTest, UnreadableParentMeansAFullBackupWithAWarning) {
  FaultStore s = StoreWithABackup();
  ASSERT_NE(s.ds, nullptr);
  const std::string index = SnapshotPrefix(FormatVolume("500", kT0)) + kDataIndexName;
  Fault f;
  f.ops = {BackendOp::kGet};
  f.prefix = index;
  s.plan->AddFault(f);
  EXPECT_EQ(LoadParent(*s.ds, "500", &observer_), nullptr);
  EXPECT_TRUE(Contains(observer_.All(), index)) << observer_.All();
  EXPECT_TRUE(Contains(observer_.All(), "reading everything")) << observer_.All();
  WriterStats stats;
  ASSERT_TRUE(
      Backup(*s.ds, "500", kT0 + 60, WorkerStream(ChangedTree()), nullptr, SIZE_MAX, &stats).ok());
  EXPECT_EQ(stats.reused_files, 0u);
  EXPECT_GT(stats.dedup_chunks, 0u);
  ExpectTree(ChangedTree(), ReadBack(*s.ds, FormatVolume("500", kT0 + 60)));
  // Readable again: it is the parent.
  auto parent = LoadParent(*s.ds, "500", &observer_);
  ASSERT_NE(parent, nullptr);
  EXPECT_EQ(parent->volname, FormatVolume("500", kT0 + 60));
}

// ---------------------------------------------------------------------------
// Damaged reads

class DamagedReadTest : public DatastoreFaultTest {
 protected:
  void SetUp() override {
    DatastoreFaultTest::SetUp();
    s_ = MakeStore();
    ASSERT_NE(s_.ds, nullptr);
    tree_ = SampleTree();
    ASSERT_TRUE(Backup(*s_.ds, "500", kT0, WorkerStream(tree_)).ok());
    vol_ = FormatVolume("500", kT0);
    chunk_ = ChunkOfFile(*s_.ds, vol_, "bin/big", 3 << 19);
    chunk_object_ = ChunkObjectName(chunk_);
    ASSERT_TRUE(s_.memory->Stat(chunk_object_).ok());
  }

  void Damage(ReadDamage damage, uint64_t at, uint64_t times) {
    GetDamage g;
    g.prefix = chunk_object_;
    g.damage = damage;
    g.at = at;
    g.times = times;
    s_.plan->AddGetDamage(g);
  }

  // Restore as the datastore provider does it: the snapshot as a tar stream.
  Status ExportAll() {
    ASSIGN_OR_RETURN(auto reader, SnapshotReader::Open(*s_.ds, vol_));
    auto stats = ExportTar(
        *reader, {}, [](const void*, size_t) { return Status::OK(); }, nullptr, &observer_);
    return stats.status();
  }

  // Restore and verify both fail naming the chunk.
  void ExpectDetected() {
    Status read = ReadWholeFile(*s_.ds, vol_, "bin/big");
    EXPECT_EQ(read.code(), Code::kDataLoss) << read.ToString();
    EXPECT_TRUE(Contains(read.message(), chunk_.Hex())) << read.ToString();
    Status exported = ExportAll();
    EXPECT_EQ(exported.code(), Code::kDataLoss) << exported.ToString();
    EXPECT_TRUE(Contains(exported.message(), chunk_.Hex())) << exported.ToString();
    // Other files do not need the chunk.
    EXPECT_TRUE(ReadWholeFile(*s_.ds, vol_, "bin/text").ok());
    VerifyReport report = RunVerify(*s_.ds, vol_);
    ASSERT_EQ(report.problems.size(), 1u);
    EXPECT_TRUE(Contains(report.problems[0], chunk_object_)) << report.problems[0];
    EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
  }

  FaultStore s_;
  std::vector<Node> tree_;
  std::string vol_;
  Digest chunk_;
  std::string chunk_object_;
};

TEST_F(DamagedReadTest, FlippedByteIsDetectedByRestoreAndVerify) {
  Damage(ReadDamage::kFlipByte, 200, kEveryTime);
  ExpectDetected();
}

TEST_F(DamagedReadTest, ShortReadIsDetectedByRestoreAndVerify) {
  Damage(ReadDamage::kTruncate, 1000, kEveryTime);
  ExpectDetected();
}

TEST_F(DamagedReadTest, EmptyReadIsDetectedByRestoreAndVerify) {
  Damage(ReadDamage::kTruncate, 0, kEveryTime);
  ExpectDetected();
}

TEST_F(DamagedReadTest, OneBadReadDoesNotCostTheGoodChunk) {
  // Verify reads the chunk damaged once; it sets the bytes it read aside and
  // reads again before removing anything: the stored copy is good, so it
  // stays, and the snapshot restores.
  Damage(ReadDamage::kFlipByte, 200, 1);
  VerifyReport report = RunVerify(*s_.ds);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(Contains(report.problems[0], chunk_object_)) << report.problems[0];
  // The message says what happened: not "moved to".
  EXPECT_TRUE(Contains(report.problems[0], "the stored chunk is intact")) << report.problems[0];
  EXPECT_FALSE(Contains(report.problems[0], "moved to")) << report.problems[0];
  EXPECT_TRUE(s_.memory->Stat(chunk_object_).ok());
  ExpectTree(tree_, ReadBack(*s_.ds, vol_));
  EXPECT_TRUE(RunVerify(*s_.ds).ok());
}

TEST_F(DamagedReadTest, DamagedIndexReadFailsTheRestoreNamingIt) {
  GetDamage g;
  g.prefix = SnapshotPrefix(vol_) + kDataIndexName;
  g.times = kEveryTime;
  g.at = 50;
  s_.plan->AddGetDamage(g);
  auto reader = SnapshotReader::Open(*s_.ds, vol_);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(reader.status().message(), g.prefix)) << reader.status().ToString();
  VerifyReport report = RunVerify(*s_.ds);
  ASSERT_FALSE(report.ok());
  EXPECT_TRUE(Contains(report.problems[0], g.prefix)) << report.problems[0];
}

TEST_F(DamagedReadTest, ReadErrorIsNoDamage) {
  // An I/O error reading the chunk fails the restore and is reported by
  // verify, but the chunk, which may be fine, is not moved aside.
  Fault f;
  f.ops = {BackendOp::kGet};
  f.prefix = chunk_object_;
  f.times = kEveryTime;
  s_.plan->AddFault(f);
  Status read = ReadWholeFile(*s_.ds, vol_, "bin/big");
  EXPECT_EQ(read.code(), Code::kIOError) << read.ToString();
  EXPECT_TRUE(Contains(read.message(), chunk_object_)) << read.ToString();
  VerifyReport report = RunVerify(*s_.ds);
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(Contains(report.problems[0], chunk_object_)) << report.problems[0];
  EXPECT_TRUE(s_.memory->Stat(chunk_object_).ok());
  EXPECT_EQ(s_.memory->Stat(BadChunkObjectName(chunk_)).status().code(), Code::kNotFound);
  s_.plan->Clear();
  ExpectTree(tree_, ReadBack(*s_.ds, vol_));
}

// ---------------------------------------------------------------------------
// gc

class GcFaultTest : public DatastoreFaultTest {
 protected:
  void SetUp() override {
    DatastoreFaultTest::SetUp();
    s_ = MakeStore();
    ASSERT_NE(s_.ds, nullptr);
    tree_ = SampleTree();
    ASSERT_TRUE(Backup(*s_.ds, "500", kT0, WorkerStream(tree_)).ok());
    vol_ = FormatVolume("500", kT0);
    auto other = TreeBuilder().Dir("").File("other", RandomBytes(2 << 20, 77)).Build();
    const std::string other_vol = FormatVolume("501", kT0);
    ASSERT_TRUE(Backup(*s_.ds, "501", kT0, WorkerStream(other)).ok());
    ASSERT_TRUE(s_.ds->DeleteSnapshot(other_vol).ok());
    keep_ = ChunksOf(*s_.ds, vol_);
    garbage_ = ChunkNames().size() - keep_.size();
    ASSERT_GE(garbage_, 4u);
    now_ += 2 * kHour;  // the deleted snapshot's chunks are old enough to go
    s_.plan->ResetCounts();
  }

  std::vector<std::string> ChunkNames() { return *s_.memory->List("chunks/"); }

  // Only the chunks of vol_ are left, and it restores and verifies.
  void ExpectCollected() {
    std::vector<std::string> want;
    for (const Digest& d : keep_) want.push_back(ChunkObjectName(d));
    std::sort(want.begin(), want.end());
    EXPECT_EQ(ChunkNames(), want);
    EXPECT_TRUE(RunVerify(*s_.ds).ok());
    ExpectTree(tree_, ReadBack(*s_.ds, vol_));
  }

  FaultStore s_;
  std::vector<Node> tree_;
  std::string vol_;
  std::set<Digest> keep_;
  size_t garbage_ = 0;
};

TEST_F(GcFaultTest, FailingDeleteIsReportedAndGcCanRunAgain) {
  Fault f;
  f.ops = {BackendOp::kDelete};
  f.prefix = "chunks/";
  f.nth = 3;
  f.error = IOError("injected: Read-only file system");
  s_.plan->AddFault(f);
  auto gc = CollectGarbage(*s_.ds, false, &observer_);
  ASSERT_FALSE(gc.ok());
  EXPECT_EQ(gc.status().code(), Code::kIOError);
  EXPECT_TRUE(Contains(gc.status().message(), "delete \"chunks/")) << gc.status().ToString();
  EXPECT_TRUE(Contains(gc.status().message(), "Read-only file system")) << gc.status().ToString();
  // Two removed before the failure, the rest still there; gc's lock is gone.
  EXPECT_EQ(ChunkNames().size(), keep_.size() + garbage_ - 2);
  EXPECT_EQ(s_.memory->Stat(kGcLockName).status().code(), Code::kNotFound);
  EXPECT_TRUE(RunVerify(*s_.ds).ok());

  auto again = CollectGarbage(*s_.ds, false, &observer_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->removed, garbage_ - 2);
  ExpectCollected();
}

TEST_F(GcFaultTest, DeleteThatFailsAfterRemovingIsRunAgainCleanly) {
  // The chunk went, but gc was told otherwise (a lost acknowledgement).
  Fault f;
  f.ops = {BackendOp::kDelete};
  f.prefix = "chunks/";
  f.error = DeadlineExceededError("injected timeout");
  f.after_call = true;
  s_.plan->AddFault(f);
  auto gc = CollectGarbage(*s_.ds, false, &observer_);
  ASSERT_FALSE(gc.ok());
  EXPECT_EQ(gc.status().code(), Code::kDeadlineExceeded) << gc.status().ToString();
  EXPECT_EQ(ChunkNames().size(), keep_.size() + garbage_ - 1);
  auto again = CollectGarbage(*s_.ds, false, &observer_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->removed, garbage_ - 1);
  ExpectCollected();
}

TEST_F(GcFaultTest, UnreadableIndexStopsGcBeforeAnyDelete) {
  Fault f;
  f.ops = {BackendOp::kGet};
  f.prefix = SnapshotPrefix(vol_) + kDataIndexName;
  s_.plan->AddFault(f);
  auto gc = CollectGarbage(*s_.ds, false, &observer_);
  ASSERT_FALSE(gc.ok());
  EXPECT_TRUE(Contains(gc.status().message(), "nothing removed")) << gc.status().ToString();
  EXPECT_TRUE(Contains(gc.status().message(), f.prefix)) << gc.status().ToString();
  EXPECT_EQ(ChunkNames().size(), keep_.size() + garbage_);
  // Only gc's own lock was deleted.
  EXPECT_EQ(s_.plan->Calls(BackendOp::kDelete), 1u);
  auto again = CollectGarbage(*s_.ds, false, &observer_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->removed, garbage_);
  ExpectCollected();
}

TEST_F(GcFaultTest, FailingListIsNoEmptyStore) {
  // A listing of the snapshots that fails is an error for verify, gc and
  // list, never "no snapshots" (for gc: every chunk unreferenced).
  Fault f;
  f.ops = {BackendOp::kList};
  f.prefix = "snapshots/";
  f.times = kEveryTime;
  s_.plan->AddFault(f);
  auto verify = Verify(*s_.ds, std::nullopt, 2, nullptr);
  EXPECT_EQ(verify.status().code(), Code::kIOError) << verify.status().ToString();
  auto list = s_.ds->ListSnapshots(std::nullopt, &observer_);
  EXPECT_EQ(list.status().code(), Code::kIOError) << list.status().ToString();
  auto gc = CollectGarbage(*s_.ds, false, &observer_);
  EXPECT_EQ(gc.status().code(), Code::kIOError) << gc.status().ToString();
  EXPECT_EQ(ChunkNames().size(), keep_.size() + garbage_);
  EXPECT_EQ(s_.memory->Stat(kGcLockName).status().code(), Code::kNotFound);
  s_.plan->Clear();
  ASSERT_TRUE(CollectGarbage(*s_.ds, false, &observer_).ok());
  ExpectCollected();
}

TEST_F(GcFaultTest, SnapshotDeleteFailingAfterItsManifestLeavesWhatGcRemoves) {
  // The manifest goes first: the snapshot is gone for every reader even if
  // deleting the rest fails; gc removes the rest once it is old enough.
  const std::string vol2 = FormatVolume("500", kT0 + 60);
  ASSERT_TRUE(Backup(*s_.ds, "500", kT0 + 60, WorkerStream(ChangedTree())).ok());
  Fault f;
  f.ops = {BackendOp::kDelete};
  f.prefix = SnapshotPrefix(vol2) + kDataIndexName;
  f.times = kEveryTime;
  s_.plan->AddFault(f);
  Status del = s_.ds->DeleteSnapshot(vol2);
  EXPECT_EQ(del.code(), Code::kIOError) << del.ToString();
  EXPECT_TRUE(Contains(del.message(), f.prefix)) << del.ToString();
  EXPECT_EQ(Volnames(*s_.ds, "500"), std::vector<std::string>{vol_});
  EXPECT_EQ(s_.ds->ReadManifest(vol2).status().code(), Code::kNotFound);
  // Deleting stopped at the first failure (data.didx sorts first).
  EXPECT_EQ(*s_.memory->List(SnapshotPrefix(vol2)),
            (std::vector<std::string>{SnapshotPrefix(vol2) + kDataIndexName,
                                      SnapshotPrefix(vol2) + kMetaIndexName}));
  EXPECT_TRUE(RunVerify(*s_.ds).ok());
  s_.plan->Clear();
  now_ += 2 * kHour;
  auto gc = CollectGarbage(*s_.ds, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->leftovers_removed, 2u);
  EXPECT_TRUE(s_.memory->List(SnapshotPrefix(vol2))->empty());
  ExpectCollected();
}

// ---------------------------------------------------------------------------
// Latency

TEST_F(DatastoreFaultTest, LatencyDoesNotChangeResults) {
  // The same backups, verify and gc on a fast store and on a slow one whose
  // calls finish in a shuffled order: the same objects, byte for byte.
  FaultStore fast = MakeStore("fast");
  FaultStore slow = MakeStore("slow");
  ASSERT_NE(fast.ds, nullptr);
  ASSERT_NE(slow.ds, nullptr);
  for (size_t op = 0; op < objstore::kBackendOpCount; ++op)
    slow.plan->SetLatency(static_cast<BackendOp>(op), std::chrono::microseconds(50),
                          std::chrono::microseconds(1500), op + 7);
  const std::string vol2 = FormatVolume("500", kT0 + 60);
  std::vector<GcReport> gcs;
  for (FaultStore* s : {&fast, &slow}) {
    SCOPED_TRACE(s->ds->backend().Describe());
    ASSERT_TRUE(Backup(*s->ds, "500", kT0, WorkerStream(SampleTree())).ok());
    auto parent = LoadParent(*s->ds, "500", &observer_);
    ASSERT_NE(parent, nullptr);
    ASSERT_TRUE(Backup(*s->ds, "500", kT0 + 60, WorkerStream(ChangedTree()), parent).ok());
    ASSERT_TRUE(Backup(*s->ds, "501", kT0, WorkerStream(ManyFilesTree(100, 3))).ok());
    ASSERT_TRUE(s->ds->DeleteSnapshot(FormatVolume("501", kT0)).ok());
    ExpectTree(ChangedTree(), ReadBack(*s->ds, vol2));
    EXPECT_TRUE(RunVerify(*s->ds).ok());
  }
  now_ += 2 * kHour;
  for (FaultStore* s : {&fast, &slow}) {
    auto gc = CollectGarbage(*s->ds, false, &observer_);
    ASSERT_TRUE(gc.ok()) << gc.status().ToString();
    gcs.push_back(*gc);
  }
  EXPECT_GT(slow.plan->Calls(BackendOp::kPutIfAbsent), 20u);
  EXPECT_GT(gcs[0].removed, 0u);
  EXPECT_EQ(gcs[0].removed, gcs[1].removed);
  EXPECT_EQ(gcs[0].marked, gcs[1].marked);
  EXPECT_EQ(gcs[0].chunks, gcs[1].chunks);
  auto names = fast.memory->List("");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, *slow.memory->List(""));
  for (const auto& name : *names) {
    if (name == "config") continue;  // holds its creation time
    // A verify state holds the clock time of its verify (the two stores were
    // verified one after the other): the same state, maybe another second.
    if (name.size() >= 12 && name.compare(name.size() - 12, 12, "/verify.json") == 0) {
      auto a = nlohmann::json::parse(*fast.memory->Get(name));
      auto b = nlohmann::json::parse(*slow.memory->Get(name));
      EXPECT_EQ(a.value("state", ""), "ok") << name;
      a.erase("time");
      b.erase("time");
      EXPECT_EQ(a, b) << name;
      continue;
    }
    EXPECT_TRUE(*fast.memory->Get(name) == *slow.memory->Get(name)) << name;
  }
}

}  // namespace
}  // namespace ctdump::datastore
