// Sync between datastores (sync.h) on in-memory stores: what is copied and
// skipped, transfer-last, remove-vanished, damaged source chunks, encrypted
// snapshots copied without the key, a sync interrupted and run again, and gc
// on the target while a sync relies on chunks it found there.
#include "datastore/sync.h"

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "datastore/datastore_test_fixture.h"
#include "datastore/manifest_format.h"
#include "objstore/fault_backend.h"
#include "objstore/memory_backend.h"

namespace ctdump::datastore {
namespace {

using objstore::BackendOp;
using objstore::Fault;
using objstore::FaultBackend;
using objstore::FaultPlan;
using objstore::MemoryBackend;

// A small tree whose content depends on `seed`: several chunks, some shared
// between seeds (the "common" file).
std::vector<Node> SmallTree(uint64_t seed) {
  TreeBuilder t;
  t.Dir("").File("common", RandomBytes(600 << 10, 1)).File("own", RandomBytes(300 << 10, seed));
  t.File("text", TextBytes(100 << 10, seed));
  return t.Build();
}

// Forwards to another backend; after the first Touch of a chunk it deletes
// that chunk, as a gc does that decided to remove it just before the touch.
class GcRaceBackend final : public ObjectBackend {
 public:
  explicit GcRaceBackend(std::unique_ptr<ObjectBackend> inner) : inner_(std::move(inner)) {}
  std::string Describe() const override { return inner_->Describe(); }
  Result<bool> PutIfAbsent(const std::string& n, std::string_view d, Durability du) override {
    return inner_->PutIfAbsent(n, d, du);
  }
  Status Sync() override { return inner_->Sync(); }
  Status Touch(const std::string& n) override {
    Status s = inner_->Touch(n);
    if (s.ok() && n.starts_with("chunks/") && !fired_.exchange(true)) {
      removed_ = n;
      return inner_->Delete(n);
    }
    return s;
  }
  Status Put(const std::string& n, std::string_view d) override { return inner_->Put(n, d); }
  Result<std::string> Get(const std::string& n, uint64_t max) override {
    return inner_->Get(n, max);
  }
  Result<ObjectStat> Stat(const std::string& n) override { return inner_->Stat(n); }
  Result<std::vector<std::string>> List(const std::string& p) override { return inner_->List(p); }
  Status Delete(const std::string& n) override { return inner_->Delete(n); }
  Result<bool> IsEmpty() override { return inner_->IsEmpty(); }

  std::string removed() const { return removed_; }

 private:
  std::unique_ptr<ObjectBackend> inner_;
  std::atomic<bool> fired_{false};
  std::string removed_;  // written before fired_ is read by the test (after the sync)
};

class SyncTest : public DatastoreTest {
 protected:
  std::unique_ptr<Datastore> Memory(const std::string& label,
                                    std::optional<crypt::Key> key = std::nullopt) {
    objstore::MemoryBackendOptions o;
    o.label = label;
    auto backend = std::make_unique<MemoryBackend>(o);
    memories_[label] = backend.get();
    return OpenWith(std::move(backend), label, std::move(key));
  }
  std::unique_ptr<Datastore> OpenWith(std::unique_ptr<ObjectBackend> backend,
                                      const std::string& label,
                                      std::optional<crypt::Key> key = std::nullopt) {
    auto ds = Datastore::Open(std::move(backend), std::move(key), "datastore '" + label + "'");
    EXPECT_TRUE(ds.ok()) << ds.status().ToString();
    return ds.ok() ? std::move(*ds) : nullptr;
  }
  // Another datastore on the objects of the memory store `label`.
  std::unique_ptr<Datastore> Reopen(const std::string& label,
                                    std::optional<crypt::Key> key = std::nullopt) {
    return OpenWith(memories_.at(label)->Share(label), label, std::move(key));
  }

  void BackupSmall(Datastore& ds, const std::string& vmid, int64_t time, uint64_t seed) {
    auto m = Backup(ds, vmid, time, WorkerStream(SmallTree(seed)), LoadParent(ds, vmid, nullptr));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
  }

  SyncReport Sync(Datastore& src, Datastore& dst, SyncOptions o = {}) {
    o.threads = 3;
    auto r = SyncStores(src, dst, o, &observer_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : SyncReport{};
  }

  std::vector<std::string> Volnames(Datastore& ds) {
    std::vector<std::string> out;
    auto list = ds.ListSnapshots(std::nullopt, &observer_);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (list.ok())
      for (const auto& s : *list) out.push_back(s.volname);
    return out;
  }

  std::map<std::string, MemoryBackend*> memories_;
};

TEST_F(SyncTest, CopiesSnapshotsWithTheirAttributesAndSkipsThemNextTime) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  BackupSmall(*src, "101", kT0 + 60, 2);
  BackupSmall(*src, "102", kT0 + 30, 3);
  const std::string v1 = FormatVolume("101", kT0);
  ASSERT_TRUE(src->WriteNotes(v1, "first\nsecond line").ok());
  ASSERT_TRUE(src->SetProtected(v1, true).ok());
  ASSERT_TRUE(src->backend().Put(SnapshotPrefix(v1) + kLogName, "a task log blob").ok());
  ASSERT_TRUE(src->backend().Put(SnapshotPrefix(v1) + kVerifyStateName, "{}").ok());

  auto dst = Memory("dst");
  SyncReport r = Sync(*src, *dst);
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(r.failures);
  EXPECT_EQ(r.copied, 3u);
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_GT(r.chunks_sent, 0u);
  EXPECT_GT(r.chunks_present, 0u);  // "common" once sent, then found (known) or touched
  EXPECT_EQ(Volnames(*dst), Volnames(*src));
  for (const auto& v : Volnames(*src)) {
    auto want = ReadBack(*src, v);
    auto got = ReadBack(*dst, v);
    ASSERT_EQ(want.size(), got.size()) << v;
    for (size_t i = 0; i < want.size(); ++i) {
      ExpectSameEntry(want[i].entry, got[i].entry, true);
      EXPECT_TRUE(want[i].with_holes == got[i].with_holes) << v << " " << want[i].entry.path;
    }
    // Byte for byte.
    EXPECT_EQ(*src->backend().Get(SnapshotPrefix(v) + kManifestName),
              *dst->backend().Get(SnapshotPrefix(v) + kManifestName));
  }
  EXPECT_EQ(*dst->ReadNotes(v1), std::optional<std::string>("first\nsecond line"));
  EXPECT_TRUE(*dst->IsProtected(v1));
  EXPECT_EQ(*dst->backend().Get(SnapshotPrefix(v1) + kLogName), "a task log blob");
  EXPECT_EQ(dst->backend().Stat(SnapshotPrefix(v1) + kVerifyStateName).status().code(),
            Code::kNotFound);
  EXPECT_TRUE(dst->ListLocks("locks/").value().empty());
  auto verify = Verify(*dst, std::nullopt, 2, &observer_);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << ::testing::PrintToString(verify->problems);

  SyncReport again = Sync(*src, *dst);
  EXPECT_EQ(again.copied, 0u);
  EXPECT_EQ(again.skipped, 3u);
  EXPECT_EQ(again.chunks_sent + again.chunks_present, 0u);
  // Nothing to do takes no lock: a backup running on the target is no obstacle.
  ASSERT_TRUE(dst->TakeLock(BackupLockName("101"), std::nullopt, nullptr).ok());
  EXPECT_TRUE(Sync(*src, *dst).ok());
}

TEST_F(SyncTest, NewSnapshotsSendOnlyNewChunks) {
  auto src = Memory("src");
  auto dst = Memory("dst");
  BackupSmall(*src, "101", kT0, 1);
  SyncReport first = Sync(*src, *dst);
  ASSERT_EQ(first.copied, 1u);
  BackupSmall(*src, "101", kT0 + 60, 2);  // "common" unchanged, "own" and "text" new
  SyncReport second = Sync(*src, *dst);
  EXPECT_EQ(second.copied, 1u);
  EXPECT_EQ(second.skipped, 1u);
  EXPECT_GT(second.chunks_present, 0u);
  EXPECT_LT(second.bytes_sent, first.bytes_sent);
  EXPECT_EQ(ChunksOf(*dst, FormatVolume("101", kT0 + 60)),
            ChunksOf(*src, FormatVolume("101", kT0 + 60)));
}

TEST_F(SyncTest, TransferLastCopiesTheNewestOnlyAndOlderOnesStaySkipped) {
  auto src = Memory("src");
  for (int i = 0; i < 4; ++i) BackupSmall(*src, "101", kT0 + 60 * i, i);
  auto dst = Memory("dst");
  SyncOptions o;
  o.transfer_last = 2;
  SyncReport r = Sync(*src, *dst, o);
  EXPECT_EQ(r.copied, 2u);
  EXPECT_EQ(Volnames(*dst), (std::vector<std::string>{FormatVolume("101", kT0 + 120),
                                                      FormatVolume("101", kT0 + 180)}));
  // PBS's rule: what is older than the target's newest is not copied (the
  // target may have pruned it).
  SyncReport all = Sync(*src, *dst);
  EXPECT_EQ(all.copied, 0u);
  EXPECT_EQ(all.skipped, 4u);
  EXPECT_TRUE(Contains(observer_.All(), "2 older than the target's newest")) << observer_.All();
}

TEST_F(SyncTest, VmidSelectsContainers) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  BackupSmall(*src, "102", kT0, 2);
  BackupSmall(*src, "103", kT0, 3);
  auto dst = Memory("dst");
  SyncOptions o;
  o.vmids = {"103", "101"};
  SyncReport r = Sync(*src, *dst, o);
  EXPECT_EQ(r.containers, 2u);
  EXPECT_EQ(Volnames(*dst),
            (std::vector<std::string>{FormatVolume("101", kT0), FormatVolume("103", kT0)}));
  o.vmids = {"../x"};
  EXPECT_EQ(SyncStores(*src, *dst, o, nullptr).status().code(), Code::kInvalidArgument);
}

TEST_F(SyncTest, RemoveVanishedKeepsProtectedSnapshots) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  BackupSmall(*src, "101", kT0 + 60, 2);
  BackupSmall(*src, "101", kT0 + 120, 3);
  BackupSmall(*src, "102", kT0, 4);
  auto dst = Memory("dst");
  Sync(*src, *dst);
  ASSERT_TRUE(dst->SetProtected(FormatVolume("101", kT0 + 60), true).ok());
  ASSERT_TRUE(src->DeleteSnapshot(FormatVolume("101", kT0)).ok());
  ASSERT_TRUE(src->DeleteSnapshot(FormatVolume("101", kT0 + 60)).ok());
  ASSERT_TRUE(src->DeleteSnapshot(FormatVolume("102", kT0)).ok());

  SyncReport plain = Sync(*src, *dst);  // without remove-vanished: nothing goes
  EXPECT_EQ(Volnames(*dst).size(), 4u);
  EXPECT_EQ(plain.removed, 0u);

  SyncOptions o;
  o.remove_vanished = true;
  SyncReport r = Sync(*src, *dst, o);
  EXPECT_EQ(r.removed, 2u);  // 101's first and 102's (a vanished container)
  EXPECT_EQ(r.kept_protected, (std::vector<std::string>{FormatVolume("101", kT0 + 60)}));
  EXPECT_EQ(Volnames(*dst), (std::vector<std::string>{FormatVolume("101", kT0 + 60),
                                                      FormatVolume("101", kT0 + 120)}));
  EXPECT_TRUE(Contains(observer_.All(), "protected")) << observer_.All();
}

TEST_F(SyncTest, DamagedSourceChunkFailsItsSnapshotOnly) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  BackupSmall(*src, "102", kT0, 2);
  // A chunk only 101 has ("own" of seed 1), its stored bytes changed.
  Digest d = ChunkOfFile(*src, FormatVolume("101", kT0), "own", 0);
  const std::string name = ChunkObjectName(d);
  std::string blob = *src->backend().Get(name);
  blob[blob.size() / 2] ^= 0x20;
  ASSERT_TRUE(src->backend().Delete(name).ok());
  ASSERT_TRUE(src->backend().Put(name, blob).ok());

  auto dst = Memory("dst");
  SyncReport r = Sync(*src, *dst);
  EXPECT_EQ(r.copied, 1u);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_TRUE(Contains(r.failures[0], FormatVolume("101", kT0))) << r.failures[0];
  EXPECT_TRUE(Contains(r.failures[0], name)) << r.failures[0];
  EXPECT_EQ(Volnames(*dst), (std::vector<std::string>{FormatVolume("102", kT0)}));
  EXPECT_EQ(dst->backend().Stat(name).status().code(), Code::kNotFound);
  // Nothing of 101's snapshot is left on the target but chunks (gc's).
  auto left = dst->backend().List("snapshots/ct/101/");
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty()) << ::testing::PrintToString(*left);
  EXPECT_TRUE(dst->ListLocks("locks/").value().empty());
}

TEST_F(SyncTest, EncryptedSnapshotsAreCopiedWithoutTheKey) {
  auto src = Memory("src", TestKey(1));
  BackupSmall(*src, "101", kT0, 1);
  BackupSmall(*src, "101", kT0 + 60, 2);
  ASSERT_TRUE(src->WriteNotes(FormatVolume("101", kT0), "secret notes").ok());
  // With the key at hand the chunks are decoded on arrival; the result is
  // the same.
  auto dst_keyed_src = Memory("dst-keyed-src");
  SyncReport with = Sync(*src, *dst_keyed_src);
  EXPECT_EQ(with.copied, 2u) << ::testing::PrintToString(with.failures);
  // The sync reads the source without its key.
  auto keyless_src = Reopen("src");
  auto dst = Memory("dst");
  SyncReport r = Sync(*keyless_src, *dst);
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(r.failures);
  EXPECT_EQ(r.copied, 2u);
  // Listed without the key, readable and verified with it.
  auto list = dst->ListSnapshots(std::nullopt, &observer_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_TRUE((*list)[0].unreadable.has_value());
  auto with_key = Reopen("dst", TestKey(1));
  for (const auto& v : Volnames(*src)) {
    ASSERT_TRUE(with_key->ReadManifest(v).ok()) << v;  // the signature holds
    ExpectTree(SmallTree(v == FormatVolume("101", kT0) ? 1 : 2), ReadBack(*with_key, v));
  }
  EXPECT_EQ(*with_key->ReadNotes(FormatVolume("101", kT0)),
            std::optional<std::string>("secret notes"));
  auto verify = Verify(*with_key, std::nullopt, 2, &observer_);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << ::testing::PrintToString(verify->problems);
  EXPECT_EQ(verify->other_key_chunks, 0u);
}

TEST_F(SyncTest, EncryptedChunkDamageIsFoundWithoutTheKey) {
  auto src = Memory("src", TestKey(1));
  BackupSmall(*src, "101", kT0, 1);
  Digest d = ChunkOfFile(*src, FormatVolume("101", kT0), "own", 0);
  std::string blob = *src->backend().Get(ChunkObjectName(d));
  blob[blob.size() - 3] ^= 0x01;  // in the ciphertext: the CRC finds it
  ASSERT_TRUE(src->backend().Delete(ChunkObjectName(d)).ok());
  ASSERT_TRUE(src->backend().Put(ChunkObjectName(d), blob).ok());
  auto keyless_src = Reopen("src");
  auto dst = Memory("dst");
  SyncReport r = Sync(*keyless_src, *dst);
  EXPECT_EQ(r.copied, 0u);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_TRUE(Contains(r.failures[0], ChunkObjectName(d))) << r.failures[0];
}

TEST_F(SyncTest, PlainSnapshotIsRefusedByATargetWithAKey) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  auto dst = Memory("dst", TestKey(2));
  SyncReport r = Sync(*src, *dst);
  EXPECT_EQ(r.copied, 0u);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_TRUE(Contains(r.failures[0], "encryption key")) << r.failures[0];
  EXPECT_TRUE(Volnames(*dst).empty());
  // Encrypted with another key than the target's: copied (key rotation).
  auto enc = Memory("enc", TestKey(1));
  BackupSmall(*enc, "101", kT0 + 60, 1);
  SyncReport e = Sync(*enc, *dst);
  EXPECT_EQ(e.copied, 1u) << ::testing::PrintToString(e.failures);
}

TEST_F(SyncTest, InterruptedSyncLeavesNothingVisibleAndResumes) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  const std::string v = FormatVolume("101", kT0);
  const size_t total = ChunksOf(*src, v).size();
  ASSERT_GT(total, 6u);
  auto plan = std::make_shared<FaultPlan>();
  objstore::MemoryBackendOptions mo;
  mo.label = "dst";
  auto memory = std::make_unique<MemoryBackend>(mo);
  auto dst = OpenWith(std::make_unique<FaultBackend>(memory->Share("dst"), plan), "dst");
  // The 5th chunk put fails, as a store that fills up or a connection lost.
  Fault f;
  f.ops = {BackendOp::kPutIfAbsent};
  f.prefix = "chunks/";
  f.nth = 5;
  plan->AddFault(f);
  SyncReport failed = Sync(*src, *dst);
  EXPECT_EQ(failed.copied, 0u);
  ASSERT_EQ(failed.failures.size(), 1u);
  EXPECT_TRUE(Volnames(*dst).empty());
  EXPECT_TRUE(memory->List("snapshots/").value().empty());
  EXPECT_TRUE(dst->ListLocks("locks/").value().empty());
  const uint64_t stored = memory->List("chunks/").value().size();
  EXPECT_GE(stored, 4u);
  EXPECT_LT(stored, total);

  plan->Clear();
  SyncReport resumed = Sync(*src, *dst);
  EXPECT_EQ(resumed.copied, 1u);
  EXPECT_EQ(resumed.chunks_sent, total - stored);
  EXPECT_EQ(resumed.chunks_present, stored);
  EXPECT_EQ(ChunksOf(*dst, v), ChunksOf(*src, v));
}

TEST_F(SyncTest, KilledSyncLeftoversAreRepairedByTheNextRun) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  const std::string v = FormatVolume("101", kT0);
  auto dst = Memory("dst");
  // What a SIGKILL after the indexes leaves: some chunks, indexes, and the
  // lock of a process that is gone.
  ASSERT_TRUE(dst->EnsureCreated().ok());
  for (const char* file : {kMetaIndexName, kDataIndexName})
    ASSERT_TRUE(dst->backend()
                    .Put(SnapshotPrefix(v) + file, *src->backend().Get(SnapshotPrefix(v) + file))
                    .ok());
  auto chunks = ChunksOf(*src, v);
  const Digest first = *chunks.begin();
  ASSERT_TRUE(
      dst->backend().Put(ChunkObjectName(first), *src->backend().Get(ChunkObjectName(first))).ok());
  ASSERT_TRUE(dst->backend()
                  .Put(BackupLockName("101"),
                       nlohmann::json{{"host", HostName()}, {"pid", 999999999}}.dump() + "\n")
                  .ok());
  EXPECT_TRUE(Volnames(*dst).empty());
  SyncReport r = Sync(*src, *dst);
  EXPECT_EQ(r.copied, 1u) << ::testing::PrintToString(r.failures);
  EXPECT_EQ(r.chunks_present, 1u);
  EXPECT_EQ(r.chunks_sent, chunks.size() - 1);
  EXPECT_TRUE(Contains(observer_.All(), "stale lock")) << observer_.All();
  EXPECT_EQ(ChunksOf(*dst, v), chunks);
}

TEST_F(SyncTest, ChunkRemovedByAnOverlappingGcIsSentAgain) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  const std::string v = FormatVolume("101", kT0);
  // The target holds the snapshot's chunks already, unreferenced (its
  // backup was deleted): the sync touches them.
  objstore::MemoryBackendOptions mo;
  mo.label = "dst";
  auto memory = std::make_unique<MemoryBackend>(mo);
  auto prepare = OpenWith(memory->Share("dst"), "dst");
  for (const Digest& d : ChunksOf(*src, v))
    ASSERT_TRUE(
        prepare->backend().Put(ChunkObjectName(d), *src->backend().Get(ChunkObjectName(d))).ok());
  // A gc is running (its lock held) and removes the first chunk touched
  // right after the touch; it ends a little later.
  ASSERT_TRUE(prepare->TakeLock(kGcLockName, std::nullopt, nullptr).ok());
  auto race = std::make_unique<GcRaceBackend>(memory->Share("dst"));
  GcRaceBackend* race_ptr = race.get();
  auto dst = OpenWith(std::move(race), "dst");
  std::thread gc_end([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    ASSERT_TRUE(prepare->ReleaseLock(kGcLockName).ok());
  });
  SyncReport r = Sync(*src, *dst);
  gc_end.join();
  EXPECT_EQ(r.copied, 1u) << ::testing::PrintToString(r.failures);
  EXPECT_EQ(r.chunks_resent, 1u);
  EXPECT_FALSE(race_ptr->removed().empty());
  EXPECT_TRUE(memory->Stat(race_ptr->removed()).ok());
  EXPECT_TRUE(Contains(observer_.All(), "waiting for the garbage collection")) << observer_.All();
  auto verify = Verify(*prepare, std::nullopt, 2, &observer_);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << ::testing::PrintToString(verify->problems);
}

TEST_F(SyncTest, GcOnTheTargetDuringASyncRemovesNothingItNeeds) {
  auto src = Memory("src");
  for (int i = 0; i < 3; ++i) BackupSmall(*src, std::to_string(101 + i), kT0, i);
  auto plan = std::make_shared<FaultPlan>();
  objstore::MemoryBackendOptions mo;
  mo.label = "dst";
  auto memory = std::make_unique<MemoryBackend>(mo);
  auto dst = OpenWith(std::make_unique<FaultBackend>(memory->Share("dst"), plan), "dst");
  ASSERT_TRUE(dst->EnsureCreated().ok());
  plan->SetLatency(BackendOp::kPutIfAbsent, std::chrono::microseconds(2000),
                   std::chrono::microseconds(2000));
  std::atomic<bool> done{false};
  int gcs = 0;
  std::thread gc([&] {
    auto other = OpenWith(memory->Share("dst"), "dst");
    while (!done) {
      auto g = CollectGarbage(*other, false, nullptr);
      if (g.ok()) ++gcs;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  SyncReport r = Sync(*src, *dst);
  done = true;
  gc.join();
  EXPECT_GT(gcs, 0);
  EXPECT_EQ(r.copied, 3u) << ::testing::PrintToString(r.failures);
  auto verify = Verify(*dst, std::nullopt, 2, &observer_);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << ::testing::PrintToString(verify->problems);
}

// Forwards to another backend; calls `hook` before the Nth chunk put and
// before the Nth chunk get.
class HookBackend final : public ObjectBackend {
 public:
  HookBackend(std::unique_ptr<ObjectBackend> inner, int nth, std::function<void()> hook)
      : inner_(std::move(inner)), nth_(nth), hook_(std::move(hook)) {}
  std::string Describe() const override { return inner_->Describe(); }
  Result<bool> PutIfAbsent(const std::string& n, std::string_view d, Durability du) override {
    if (n.starts_with("chunks/")) {
      std::lock_guard<std::mutex> l(mu_);  // calls after the Nth wait for the hook
      if (++puts_ == nth_) hook_();
    }
    return inner_->PutIfAbsent(n, d, du);
  }
  Status Sync() override { return inner_->Sync(); }
  Status Touch(const std::string& n) override { return inner_->Touch(n); }
  Status Put(const std::string& n, std::string_view d) override { return inner_->Put(n, d); }
  Result<std::string> Get(const std::string& n, uint64_t max) override {
    if (n.starts_with("chunks/")) {
      std::lock_guard<std::mutex> l(mu_);
      if (++gets_ == nth_) hook_();
    }
    return inner_->Get(n, max);
  }
  Result<ObjectStat> Stat(const std::string& n) override { return inner_->Stat(n); }
  Result<std::vector<std::string>> List(const std::string& p) override { return inner_->List(p); }
  Status Delete(const std::string& n) override { return inner_->Delete(n); }
  Result<bool> IsEmpty() override { return inner_->IsEmpty(); }
  bool HasLeases() const override { return inner_->HasLeases(); }
  Result<bool> AcquireLease(const std::string& n, const std::string& c, int d, bool r) override {
    return inner_->AcquireLease(n, c, d, r);
  }
  Status ReleaseLease(const std::string& n, const std::string& c) override {
    return inner_->ReleaseLease(n, c);
  }
  Result<bool> LeaseHeld(const std::string& n) override { return inner_->LeaseHeld(n); }

 private:
  std::unique_ptr<ObjectBackend> inner_;
  const int nth_;
  std::function<void()> hook_;
  std::mutex mu_;  // guards puts_, gets_; held while the hook runs
  int puts_ = 0, gets_ = 0;
};

TEST_F(SyncTest, ALostLeasePublishesNothing) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  objstore::MemoryBackendOptions mo;
  mo.label = "dst";
  mo.leases = true;
  auto memory = std::make_unique<MemoryBackend>(mo);
  MemoryBackend* m = memory.get();
  // The target's lease on locks/backup.101 is broken (the host lost the
  // cluster for longer than the lease) while chunks are being sent.
  auto dst = OpenWith(
      std::make_unique<HookBackend>(memory->Share("dst"), 3,
                                    [m] { EXPECT_TRUE(m->BreakLease(BackupLockName("101"))); }),
      "dst");
  SyncReport r = Sync(*src, *dst);
  EXPECT_EQ(r.copied, 0u);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_TRUE(Contains(r.failures[0], "lost the lock")) << r.failures[0];
  EXPECT_TRUE(m->List("snapshots/").value().empty());
  // The next run takes the lock again and completes the copy.
  auto again = OpenWith(memory->Share("dst"), "dst");
  SyncReport ok = Sync(*src, *again);
  EXPECT_EQ(ok.copied, 1u) << ::testing::PrintToString(ok.failures);
  EXPECT_GT(ok.chunks_present, 0u);
}

TEST_F(SyncTest, ABackupPrunedOnTheSourceMeanwhileIsSkipped) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  BackupSmall(*src, "101", kT0 + 60, 2);
  const std::string first = FormatVolume("101", kT0);
  // While its chunks are read, the first backup is pruned on the source and
  // a gc there removes its own chunks.
  auto pruner = Reopen("src");
  std::set<Digest> own = ChunksOf(*src, first);
  for (const Digest& d : ChunksOf(*src, FormatVolume("101", kT0 + 60))) own.erase(d);
  ASSERT_FALSE(own.empty());
  auto reader = OpenWith(
      std::make_unique<HookBackend>(memories_.at("src")->Share("src"), 1,
                                    [&] {
                                      ASSERT_TRUE(pruner->DeleteSnapshot(first).ok());
                                      for (const Digest& d : own)
                                        pruner->backend().Delete(ChunkObjectName(d)).IgnoreError();
                                    }),
      "src");
  auto dst = Memory("dst");
  SyncReport r = Sync(*reader, *dst);
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(r.failures);
  EXPECT_EQ(r.copied_snapshots, (std::vector<std::string>{FormatVolume("101", kT0 + 60)}));
  EXPECT_TRUE(Contains(observer_.All(), "was removed from datastore 'src' meanwhile"))
      << observer_.All();
}

TEST_F(SyncTest, SourceReadErrorsAndDamageInTransitFailTheBackupAndARetryWorks) {
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  auto plan = std::make_shared<FaultPlan>();
  auto faulty =
      OpenWith(std::make_unique<FaultBackend>(memories_.at("src")->Share("src"), plan), "src");
  auto dst = Memory("dst");
  // A read that fails (a timeout, an OSD down), then one that arrives damaged.
  Fault f;
  f.ops = {BackendOp::kGet};
  f.prefix = "chunks/";
  f.nth = 2;
  f.error = UnavailableError("timed out");
  plan->AddFault(f);
  SyncReport failed = Sync(*faulty, *dst);
  ASSERT_EQ(failed.failures.size(), 1u);
  EXPECT_TRUE(Contains(failed.failures[0], "timed out")) << failed.failures[0];
  plan->Clear();
  objstore::GetDamage damage;
  damage.prefix = "chunks/";
  damage.nth = 1;
  damage.damage = objstore::ReadDamage::kFlipByte;
  damage.at = 200;
  plan->AddGetDamage(damage);
  SyncReport damaged = Sync(*faulty, *dst);
  ASSERT_EQ(damaged.failures.size(), 1u);
  EXPECT_TRUE(Contains(damaged.failures[0], "chunks/")) << damaged.failures[0];
  EXPECT_TRUE(Volnames(*dst).empty());
  // Nothing damaged was stored: every chunk on the target is whole.
  auto stored = dst->backend().List("chunks/");
  ASSERT_TRUE(stored.ok());
  for (const auto& name : *stored) {
    auto blob = dst->backend().Get(name);
    ASSERT_TRUE(blob.ok());
    EXPECT_EQ(*blob, *src->backend().Get(name)) << name;
  }
  plan->Clear();
  SyncReport ok = Sync(*faulty, *dst);
  EXPECT_EQ(ok.copied, 1u) << ::testing::PrintToString(ok.failures);
  auto verify = Verify(*dst, std::nullopt, 2, &observer_);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << ::testing::PrintToString(verify->problems);
}

TEST_F(SyncTest, RefusesASourceThatIsNoDatastoreAndTheSameStore) {
  // An empty store opened as the cli opens a storage: no datastore (yet).
  auto opened = Datastore::Open(std::make_unique<MemoryBackend>(), std::nullopt,
                                "datastore 'empty'", /*create_if_empty=*/false);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto& empty = *opened;
  auto dst = Memory("dst");
  EXPECT_EQ(SyncStores(*empty, *dst, {}, nullptr).status().code(), Code::kFailedPrecondition);
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  auto same = Reopen("src");
  EXPECT_EQ(SyncStores(*src, *same, {}, nullptr).status().code(), Code::kInvalidArgument);
}

TEST_F(SyncTest, ReportsProgressPerSnapshot) {
  struct ProgressObserver : Observer {
    void Log(LogLevel, std::string_view) noexcept override {}
    void OnProgress(const Progress& p) noexcept override { seen.push_back(p); }
    std::vector<Progress> seen;
  } po;
  auto src = Memory("src");
  BackupSmall(*src, "101", kT0, 1);
  auto dst = Memory("dst");
  ASSERT_TRUE(SyncStores(*src, *dst, {}, &po).ok());
  ASSERT_FALSE(po.seen.empty());
  const Progress& last = po.seen.back();
  EXPECT_EQ(last.phase, "sync");
  EXPECT_EQ(last.current, FormatVolume("101", kT0));
  EXPECT_EQ(last.files, *last.total_files);
  EXPECT_EQ(last.bytes, *last.total_bytes);
  EXPECT_GT(last.bytes, 0u);
}

}  // namespace
}  // namespace ctdump::datastore
