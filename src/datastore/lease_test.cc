// Locks with leases (datastore.h, lease_keeper.h) on the in-memory backend
// with leases: several Datastore objects on one store are several hosts; the
// store's clock is moved to make leases lapse, so nothing sleeps for a lease.
#include <fmt/format.h>

#include <atomic>

#include "datastore/datastore_test_fixture.h"
#include "datastore/lease_keeper.h"
#include "datastore/usage.h"
#include "objstore/memory_backend.h"
#include "sys/thread_pool.h"

namespace ctdump::datastore {
namespace {

using objstore::MemoryBackend;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kHour = 3600 * kSecond;

// Forwards to a backend, letting a test act before chosen calls or change
// what List returns (RADOS: an index entry whose object was never written).
class HookBackend final : public ObjectBackend {
 public:
  explicit HookBackend(std::unique_ptr<ObjectBackend> inner) : inner_(std::move(inner)) {}

  std::function<void(const std::string& prefix)> on_list;
  std::function<Status()> on_acquire;  // an error fails AcquireLease
  std::vector<std::string> phantoms;   // names List adds (sorted in) under a matching prefix

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
    return inner_->Get(name, max_size);
  }
  Result<ObjectStat> Stat(const std::string& name) override { return inner_->Stat(name); }
  Result<std::vector<std::string>> List(const std::string& prefix) override {
    if (on_list) on_list(prefix);
    ASSIGN_OR_RETURN(std::vector<std::string> names, inner_->List(prefix));
    for (const auto& p : phantoms)
      if (p.starts_with(prefix)) names.push_back(p);
    std::sort(names.begin(), names.end());
    return names;
  }
  Status Delete(const std::string& name) override { return inner_->Delete(name); }
  int IoDepth() const override { return inner_->IoDepth(); }
  int64_t ClockSkewNs() const override { return inner_->ClockSkewNs(); }
  bool HasLeases() const override { return inner_->HasLeases(); }
  Result<bool> AcquireLease(const std::string& name, const std::string& cookie, int duration_s,
                            bool renew) override {
    if (on_acquire) RETURN_IF_ERROR(on_acquire());
    return inner_->AcquireLease(name, cookie, duration_s, renew);
  }
  Status ReleaseLease(const std::string& name, const std::string& cookie) override {
    return inner_->ReleaseLease(name, cookie);
  }
  Result<bool> LeaseHeld(const std::string& name) override { return inner_->LeaseHeld(name); }

 private:
  std::unique_ptr<ObjectBackend> inner_;
};

class LeaseTest : public DatastoreTest {
 protected:
  void SetUp() override {
    DatastoreTest::SetUp();
    objstore::MemoryBackendOptions o;
    o.label = "pool";
    o.clock_ns = [this] { return now_.load(); };
    o.leases = true;
    o.io_depth = 16;
    o.clock_skew_ns = skew_ns_;
    memory_ = std::make_unique<MemoryBackend>(o);
  }

  // Another "host": a Datastore of its own on the shared store.
  std::unique_ptr<Datastore> Host(const std::string& label, HookBackend** hook = nullptr) {
    auto backend = std::make_unique<HookBackend>(memory_->Share(label));
    if (hook) *hook = backend.get();
    auto ds =
        Datastore::Open(std::move(backend), std::nullopt, fmt::format("datastore '{}'", label));
    EXPECT_TRUE(ds.ok()) << ds.status().ToString();
    return ds.ok() ? std::move(*ds) : nullptr;
  }

  // A writer of <vmid> at <time> holding the backup lock `lock` ("" none).
  Result<std::unique_ptr<SnapshotWriter>> Writer(Datastore& ds, const std::string& vmid,
                                                 int64_t time, const std::string& lock) {
    WriterOptions o;
    o.volname = FormatVolume(vmid, time);
    o.vmid = vmid;
    o.backup_time = time;
    o.guest_config = "hostname: ct" + vmid + "\n";
    o.threads = 2;
    o.lock = lock;
    return SnapshotWriter::Create(ds, o, nullptr, &observer_);
  }

  int64_t skew_ns_ = 0;
  std::atomic<int64_t> now_{kT0 * kSecond};
  std::unique_ptr<MemoryBackend> memory_;
};

TEST_F(LeaseTest, LockIsTakenOverOnlyAfterItsLeaseExpired) {
  auto a = Host("a");
  auto b = Host("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->lock_lease_s(), kDefaultLockLeaseS);
  auto held = a->TakeLock(BackupLockName("100"), std::nullopt, &observer_);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_FALSE(held->cookie.empty());
  EXPECT_EQ(memory_->LeaseHolder(BackupLockName("100")), held->cookie);
  // Same host name and pid (one test process), yet another holder: refused,
  // naming the holder from the lock object.
  auto busy = b->TakeLock(BackupLockName("100"), std::nullopt, &observer_);
  ASSERT_EQ(busy.status().code(), Code::kUnavailable) << busy.status().ToString();
  EXPECT_TRUE(
      Contains(busy.status().message(), fmt::format("pid {} on {}", ::getpid(), HostName())))
      << busy.status().ToString();
  // Just before expiry still held; at expiry free.
  now_ += (kDefaultLockLeaseS - 1) * kSecond;
  EXPECT_EQ(b->TakeLock(BackupLockName("100"), std::nullopt, &observer_).status().code(),
            Code::kUnavailable);
  now_ += kSecond;
  auto taken = b->TakeLock(BackupLockName("100"), std::nullopt, &observer_);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_NE(taken->cookie, held->cookie);
  EXPECT_TRUE(Contains(observer_.All(), "taking over lock 'locks/backup.100'")) << observer_.All();
  EXPECT_EQ(taken->mtime_ns, now_.load());  // the object was written anew: a new start
  // The old holder has lost it for good: its renewal is refused, and its
  // release leaves the new holder's lock alone.
  Status lost = a->RenewLock(BackupLockName("100"));
  EXPECT_EQ(lost.code(), Code::kFailedPrecondition) << lost.ToString();
  EXPECT_TRUE(Contains(lost.message(), "lost the lock 'locks/backup.100'")) << lost.ToString();
  EXPECT_EQ(a->CheckLock(BackupLockName("100")).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(a->ReleaseLock(BackupLockName("100")).ok());
  auto locks = a->ListLocks("locks/backup.");
  ASSERT_TRUE(locks.ok());
  ASSERT_EQ(locks->size(), 1u);
  EXPECT_EQ((*locks)[0].cookie, taken->cookie);
  EXPECT_TRUE(b->CheckLock(BackupLockName("100")).ok());
  EXPECT_TRUE(b->RenewLock(BackupLockName("100")).ok());
  ASSERT_TRUE(b->ReleaseLock(BackupLockName("100")).ok());
  EXPECT_FALSE(*memory_->LeaseHeld(BackupLockName("100")));
  EXPECT_TRUE(memory_->List("locks/")->empty());
}

TEST_F(LeaseTest, ListLocksLeavesOutLocksWhoseLeaseLapsed) {
  auto a = Host("a");
  auto dead = Host("dead");
  ASSERT_TRUE(dead->TakeLock(BackupLockName("1"), std::string("ct/1/x"), &observer_).ok());
  ASSERT_TRUE(a->TakeLock(BackupLockName("2"), std::nullopt, &observer_).ok());
  dead.reset();  // killed: no release, its lease runs out
  std::vector<LockInfo> lapsed;
  auto live = a->ListLocks("locks/backup.", &lapsed);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->size(), 2u);
  EXPECT_TRUE(lapsed.empty());
  now_ += (kDefaultLockLeaseS - 10) * kSecond;
  ASSERT_TRUE(a->RenewLock(BackupLockName("2")).ok());
  now_ += 10 * kSecond;
  live = a->ListLocks("locks/backup.", &lapsed);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].object, BackupLockName("2"));
  ASSERT_EQ(lapsed.size(), 1u);
  EXPECT_EQ(lapsed[0].object, BackupLockName("1"));
  // A lapsed lock is no running backup: its parent may be deleted.
  EXPECT_TRUE(a->LockHeld(BackupLockName("2")).value());
  EXPECT_FALSE(a->LockHeld(BackupLockName("1")).value());
}

TEST_F(LeaseTest, LapsedLeaseStopsThePublish) {
  auto a = Host("a");
  const std::string stream = WorkerStream(SampleTree());
  auto lock = a->TakeLock(BackupLockName("500"), std::nullopt, &observer_);
  ASSERT_TRUE(lock.ok());
  auto w = Writer(*a, "500", kT0, lock->object);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Feed(stream.data(), stream.size()).ok());
  // The host hung for longer than the lease: a gc elsewhere may have run
  // without seeing this backup.
  now_ += (kDefaultLockLeaseS + 1) * kSecond;
  auto m = (*w)->Finish();
  ASSERT_EQ(m.status().code(), Code::kFailedPrecondition) << m.status().ToString();
  EXPECT_TRUE(Contains(m.status().message(), "was not published")) << m.status().ToString();
  EXPECT_TRUE(Contains(m.status().message(), "lost the lock 'locks/backup.500'"))
      << m.status().ToString();
  (*w)->Abort();
  EXPECT_TRUE(a->ListSnapshots(std::nullopt, &observer_)->empty());
  EXPECT_TRUE(memory_->List("snapshots/")->empty());
  // Feeding after the loss fails at once, too.
  auto w2 = Writer(*a, "500", kT0 + 1, lock->object);
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ((*w2)->Feed(stream.data(), 100).code(), Code::kFailedPrecondition);
  (*w2)->Abort();
  // A lease renewed in time publishes, however long the backup took.
  ASSERT_TRUE(a->ReleaseLock(BackupLockName("500")).ok());
  lock = a->TakeLock(BackupLockName("500"), std::nullopt, &observer_);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  auto w3 = Writer(*a, "500", kT0 + 2, lock->object);
  ASSERT_TRUE(w3.ok());
  for (int step = 0; step < 5; ++step) {
    now_ += (kDefaultLockLeaseS / 2) * kSecond;
    ASSERT_TRUE(a->RenewLock(lock->object).ok());
  }
  ASSERT_TRUE((*w3)->Feed(stream.data(), stream.size()).ok());
  auto published = (*w3)->Finish();
  ASSERT_TRUE(published.ok()) << published.status().ToString();
  EXPECT_EQ(a->ListSnapshots(std::nullopt, &observer_)->size(), 1u);
}

TEST_F(LeaseTest, GcIgnoresADeadHostsLockAndRemovesItsLeftovers) {
  auto a = Host("a");
  auto b = Host("b");
  ASSERT_TRUE(Backup(*a, "600", kT0, WorkerStream(SampleTree())).ok());
  // Host b's backup of 700 died after writing an index and a chunk.
  ASSERT_TRUE(b->TakeLock(BackupLockName("700"), std::nullopt, &observer_).ok());
  const std::string vol = FormatVolume("700", kT0);
  const std::string index = SnapshotPrefix(vol) + kDataIndexName;
  const std::string chunk = "chunks/abcd/abcd" + std::string(60, '0');
  ASSERT_TRUE(memory_->Put(index, "partial").ok());
  ASSERT_TRUE(memory_->PutIfAbsent(chunk, "orphan").ok());
  // While b lives (its lease renewed) its leftovers are a running backup's.
  for (int step = 0; step < 240; ++step) {
    now_ += 30 * kSecond;
    ASSERT_TRUE(b->RenewLock(BackupLockName("700")).ok());
  }
  ASSERT_TRUE(memory_->SetMtime(index, now_ - kHour).ok());
  ASSERT_TRUE(memory_->SetMtime(chunk, now_ - kHour).ok());
  ASSERT_TRUE(memory_->SetMtime(BackupLockName("700"), now_ - kHour).ok());
  auto gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->leftovers_removed, 0u);
  EXPECT_EQ(gc->lapsed_locks_removed, 0u);
  EXPECT_EQ(gc->removed, 0u);  // its start (the lock's mtime) bounds the sweep
  EXPECT_TRUE(memory_->Stat(index).ok());
  // b dies; once its lease has run out gc collects what it left, lock too.
  b.reset();
  now_ += kDefaultLockLeaseS * kSecond;
  gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->leftovers_removed, 1u);
  EXPECT_EQ(gc->removed, 1u);
  EXPECT_EQ(gc->lapsed_locks_removed, 1u);
  EXPECT_EQ(memory_->Stat(index).status().code(), Code::kNotFound);
  EXPECT_EQ(memory_->Stat(chunk).status().code(), Code::kNotFound);
  EXPECT_EQ(memory_->Stat(BackupLockName("700")).status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(observer_.All(), "ignoring lock 'locks/backup.700'")) << observer_.All();
  EXPECT_TRUE(memory_->List("locks/")->empty());  // gc's own lock released, lease too
  EXPECT_FALSE(*memory_->LeaseHeld(kGcLockName));
  auto v = Verify(*a, std::nullopt, 2, nullptr);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->problems.front();
}

class SkewedLeaseTest : public LeaseTest {
 protected:
  void SetUp() override {
    skew_ns_ = 120 * kSecond;
    LeaseTest::SetUp();
  }
};

TEST_F(SkewedLeaseTest, GcRemovesALapsedLockOnlyOnceItIsOlderThanTheCutoff) {
  auto a = Host("a");
  ASSERT_TRUE(Backup(*a, "600", kT0, WorkerStream(SampleTree())).ok());
  auto b = Host("b");
  ASSERT_TRUE(b->TakeLock(BackupLockName("700"), std::nullopt, &observer_).ok());
  b.reset();
  now_ += kDefaultLockLeaseS * kSecond;
  // Lapsed, but only a minute old while the clocks may be two minutes apart.
  auto gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->lapsed_locks_removed, 0u);
  EXPECT_TRUE(memory_->Stat(BackupLockName("700")).ok());
  now_ += 2 * 60 * kSecond;
  gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->lapsed_locks_removed, 1u);
  EXPECT_EQ(memory_->Stat(BackupLockName("700")).status().code(), Code::kNotFound);
}

TEST_F(LeaseTest, GcStopsBeforeItsSweepWhenItsLeaseIsLost) {
  HookBackend* hook = nullptr;
  auto a = Host("a", &hook);
  ASSERT_TRUE(Backup(*a, "600", kT0, WorkerStream(SampleTree())).ok());
  const std::string chunk = "chunks/abcd/abcd" + std::string(60, '0');
  ASSERT_TRUE(memory_->PutIfAbsent(chunk, "orphan").ok());
  now_ += 2 * kHour;
  ASSERT_TRUE(memory_->SetMtime(chunk, now_ - kHour).ok());
  // The gc's lease is broken while it marks (its host lost the cluster, an
  // admin broke it): it must remove nothing.
  hook->on_list = [this](const std::string& prefix) {
    if (prefix == "snapshots/ct/") memory_->BreakLease(kGcLockName);
  };
  auto gc = CollectGarbage(*a, false, &observer_);
  ASSERT_EQ(gc.status().code(), Code::kFailedPrecondition) << gc.status().ToString();
  EXPECT_TRUE(Contains(gc.status().message(), "lost the lock 'locks/gc'"))
      << gc.status().ToString();
  EXPECT_TRUE(memory_->Stat(chunk).ok());
  hook->on_list = nullptr;
  // Nobody took its lock meanwhile, so it was removed on the way out; the
  // next gc runs.
  gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->removed, 1u);
}

TEST_F(LeaseTest, BackupDoesNotWaitForADeadHostsGc) {
  auto a = Host("a");
  ASSERT_TRUE(Backup(*a, "600", kT0, WorkerStream(SampleTree())).ok());
  auto g = Host("gc-host");
  ASSERT_TRUE(g->TakeLock(kGcLockName, std::nullopt, &observer_).ok());
  g.reset();  // died in the middle of a gc
  now_ += kDefaultLockLeaseS * kSecond;
  ASSERT_TRUE(memory_->Stat(kGcLockName).ok());
  // A backup that dedups against stored chunks re-checks them after any gc;
  // the dead gc's lock object is no running gc.
  WriterStats stats;
  auto m = Backup(*a, "601", kT0, WorkerStream(SampleTree()), nullptr,
                  std::numeric_limits<size_t>::max(), &stats);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_GT(stats.dedup_chunks, 0u);
  EXPECT_FALSE(Contains(observer_.All(), "waiting for the running garbage collection"));
}

TEST_F(LeaseTest, ListedButMissingSnapshotsAreSkippedSilently) {
  HookBackend* hook = nullptr;
  auto a = Host("a", &hook);
  ASSERT_TRUE(Backup(*a, "600", kT0, WorkerStream(SampleTree())).ok());
  // An index entry whose object a killed writer never wrote (RADOS).
  const std::string ghost = FormatVolume("600", kT0 + 60);
  hook->phantoms = {SnapshotPrefix(ghost) + kManifestName, SnapshotPrefix(ghost) + kDataIndexName,
                    BackupLockName("601")};
  auto list = a->ListSnapshots(std::nullopt, &observer_);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].volname, FormatVolume("600", kT0));
  EXPECT_EQ(observer_.warnings(), 0u) << observer_.All();
  EXPECT_TRUE(a->ListLocks("locks/backup.").ok());
  auto gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  auto v = Verify(*a, std::nullopt, 2, nullptr);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok()) << v->problems.front();
  auto usage = ComputeUsage(*a, std::nullopt, nullptr, 0);
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
}

TEST_F(LeaseTest, IoThreadsFollowTheBackendsQueueDepth) {
  auto a = Host("a");
  EXPECT_EQ(a->IoThreads(), std::max(16, sys::ThreadPool::ResolveThreads(0)));
  EXPECT_EQ(a->IoThreads(3), 3);
  auto local = Open();
  EXPECT_EQ(local->IoThreads(), sys::ThreadPool::ResolveThreads(0));
}

// --- Clock skew: gc's cutoff leaves room for writers whose clock is behind.

class ClockSkewTest : public LeaseTest, public ::testing::WithParamInterface<int64_t> {
 protected:
  void SetUp() override {
    skew_ns_ = GetParam();
    LeaseTest::SetUp();
  }
};

TEST_P(ClockSkewTest, ChunkOfASkewedWriterSurvivesGc) {
  auto a = Host("a");
  ASSERT_TRUE(Backup(*a, "600", kT0, WorkerStream(SampleTree())).ok());
  now_ += 2 * kHour;
  // A backup on a host whose clock is 30 s behind started after gc looked
  // at the running backups and wrote a chunk: stamped 30 s before gc's start.
  const std::string chunk = "chunks/abcd/abcd" + std::string(60, '0');
  ASSERT_TRUE(memory_->PutIfAbsent(chunk, "new").ok());
  ASSERT_TRUE(memory_->SetMtime(chunk, now_ - 30 * kSecond).ok());
  auto usage = ComputeUsage(*a, std::nullopt, nullptr, now_);
  ASSERT_TRUE(usage.ok());
  auto gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  const bool kept = memory_->Stat(chunk).ok();
  if (GetParam() >= 30 * kSecond) {
    EXPECT_TRUE(kept);
    EXPECT_EQ(gc->kept_recent, 1u);
  } else {
    EXPECT_FALSE(kept);  // without the margin it goes (what the margin is for)
    EXPECT_EQ(gc->removed, 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Skew, ClockSkewTest, ::testing::Values(0, 60 * kSecond),
                         [](const auto& info) { return info.param ? "Minute" : "None"; });

// --- The lease keeper itself, on real time (short leases).

TEST(LeaseKeeperTest, RenewsUntilTheLeaseIsBrokenThenStaysLost) {
  objstore::MemoryBackendOptions o;
  o.leases = true;
  MemoryBackend backend(o);
  ASSERT_TRUE(*backend.AcquireLease("locks/gc", "me", 1, false));
  LeaseKeeper keeper(backend, "datastore 'k'");
  keeper.Keep("locks/gc", "me", 1, LeaseKeeper::Clock::now());
  EXPECT_TRUE(keeper.Check("locks/gc").ok());
  // 1 s lease: renewed every third of a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_GE(keeper.renewals(), 1u);
  EXPECT_TRUE(keeper.Check("locks/gc").ok());
  EXPECT_TRUE(*backend.LeaseHeld("locks/gc"));
  backend.BreakLease("locks/gc");
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  Status lost = keeper.Check("locks/gc");
  EXPECT_EQ(lost.code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(lost.message(), "renewal refused")) << lost.ToString();
  // A later renewal by someone else's cookie does not bring it back.
  EXPECT_EQ(keeper.Renew("locks/gc").code(), Code::kFailedPrecondition);
  auto f = keeper.Forget("locks/gc");
  ASSERT_TRUE(f.has_value());
  EXPECT_FALSE(f->held);
  EXPECT_EQ(keeper.Check("locks/gc").code(), Code::kFailedPrecondition);
}

TEST(LeaseKeeperTest, FailingRenewalsLoseTheLeaseAfterTwoThirds) {
  objstore::MemoryBackendOptions o;
  o.leases = true;
  auto memory = std::make_unique<MemoryBackend>(o);
  MemoryBackend* raw = memory.get();
  HookBackend backend(std::move(memory));
  ASSERT_TRUE(*raw->AcquireLease("locks/backup.1", "me", 1, false));
  std::atomic<bool> fail{true};
  backend.on_acquire = [&fail]() -> Status {
    return fail ? IOError("cluster unreachable") : Status::OK();
  };
  LeaseKeeper keeper(backend, "datastore 'k'");
  const auto start = LeaseKeeper::Clock::now();
  keeper.Keep("locks/backup.1", "me", 1, start);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_TRUE(keeper.Check("locks/backup.1").ok());  // one failed renewal: retried
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  Status lost = keeper.Check("locks/backup.1");  // 0.8 s > 2/3 of the lease
  EXPECT_EQ(lost.code(), Code::kFailedPrecondition) << lost.ToString();
  EXPECT_TRUE(Contains(lost.message(), "cluster unreachable")) << lost.ToString();
  fail = false;  // back, and the lease may even be ours still: lost all the same
  EXPECT_EQ(keeper.Renew("locks/backup.1").code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace ctdump::datastore
