// The datastore on a real Ceph RADOS pool: the fixture "ceph"
// (scripts/ceph-cluster.sh) runs a cluster in $CTDUMP_TEST_CEPH_DIR with the
// pool "ctdump"; without it every test fails. Each test works in a fresh
// namespace of the pool. Two Datastore objects, each with its own librados
// connection, are two hosts.
//
// Backup, restore, verify and gc through the datastore API; two hosts backing
// up at once with dedup across them; gc on one host while the other backs up;
// a dead host's lock (its lease runs out on the OSD's clock); and the fault
// variant: FaultBackend over RADOS (errors, lost acknowledgements, delays,
// short reads, a failed lease renewal) leaves nothing half-visible.
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>

#include "datastore/datastore_test_fixture.h"
#include "objstore/fault_backend.h"
#include "objstore/rados_backend.h"

namespace ctdump::datastore {
namespace {

using objstore::BackendOp;
using objstore::Fault;
using objstore::FaultBackend;
using objstore::FaultPlan;
using objstore::GetDamage;
using objstore::kEveryTime;
using objstore::ReadDamage;

std::string CephConf() {
  const char* dir = std::getenv("CTDUMP_TEST_CEPH_DIR");
  if (dir == nullptr || *dir == '\0') {
    ADD_FAILURE() << "CTDUMP_TEST_CEPH_DIR is not set: run through ctest (fixture \"ceph\")";
    return "/nonexistent/ceph.conf";
  }
  return std::string(dir) + "/ceph.conf";
}

std::string FreshNamespace() {
  static std::atomic<int> counter{0};
  static const uint64_t run = std::random_device{}();
  return fmt::format("ds{:x}-{}-{}", run & 0xffffff, ::getpid(), counter++);
}

// A tree that shares most of its content with SampleTree (what two hosts'
// containers made from one template hold) and has some of its own.
std::vector<Node> SiblingTree(uint64_t seed) {
  std::vector<Node> tree = SampleTree();
  TreeBuilder extra;
  extra.File(fmt::format("own-{}", seed), RandomBytes(768 << 10, seed));
  for (Node& n : extra.Build())
    if (!n.entry.path.empty()) tree.push_back(std::move(n));
  return tree;
}

class RadosDatastoreTest : public DatastoreTest {
 protected:
  void SetUp() override {
    DatastoreTest::SetUp();
    ns_ = FreshNamespace();
  }

  Result<std::unique_ptr<ObjectBackend>> OpenBackend() {
    objstore::RadosOptions o;
    o.pool = "ctdump";
    o.ceph_conf = CephConf();
    o.ns = ns_;
    o.timeout_s = 20;
    return objstore::OpenRadosBackend(o);
  }

  // A host: a Datastore on its own connection to the namespace, through
  // `plan` if given.
  std::unique_ptr<Datastore> Host(const std::string& label,
                                  std::shared_ptr<FaultPlan> plan = nullptr) {
    auto backend = OpenBackend();
    EXPECT_TRUE(backend.ok()) << backend.status().ToString();
    if (!backend.ok()) return nullptr;
    std::unique_ptr<ObjectBackend> b = std::move(*backend);
    if (plan) b = std::make_unique<FaultBackend>(std::move(b), plan);
    auto ds = Datastore::Open(std::move(b), std::nullopt, fmt::format("datastore '{}'", label));
    EXPECT_TRUE(ds.ok()) << ds.status().ToString();
    if (!ds.ok()) return nullptr;
    (*ds)->set_lock_lease_s(kMinLockLeaseS * 2);
    return std::move(*ds);
  }

  // A backup as the provider makes it: under the container's lock (a lease
  // on RADOS), the writer holding it.
  Result<Manifest> LockedBackup(Datastore& ds, const std::string& vmid, int64_t time,
                                std::string_view stream,
                                std::shared_ptr<const ParentSnapshot> parent = nullptr,
                                WriterStats* stats = nullptr) {
    std::optional<std::string> parent_name;
    if (parent) parent_name = parent->volname;
    ASSIGN_OR_RETURN(LockInfo lock, ds.TakeLock(BackupLockName(vmid), parent_name, &observer_));
    WriterOptions o;
    o.volname = FormatVolume(vmid, time);
    o.vmid = vmid;
    o.backup_time = time;
    o.guest_config = "hostname: ct" + vmid + "\n";
    o.lock = lock.object;
    Result<Manifest> m = [&]() -> Result<Manifest> {
      ASSIGN_OR_RETURN(auto w, SnapshotWriter::Create(ds, o, parent, &observer_));
      Status s = w->Feed(stream.data(), stream.size());
      Result<Manifest> r = s.ok() ? w->Finish() : Result<Manifest>(s);
      if (!r.ok()) w->Abort();
      if (stats) *stats = w->stats();
      return r;
    }();
    Status released = ds.ReleaseLock(lock.object);
    if (m.ok() && !released.ok()) return released;
    return m;
  }

  std::vector<std::string> Volnames(Datastore& ds) {
    std::vector<std::string> out;
    auto list = ds.ListSnapshots(std::nullopt, &observer_);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (list.ok())
      for (const auto& s : *list) out.push_back(s.volname);
    return out;
  }

  void ExpectVerifyClean(Datastore& ds) {
    auto v = Verify(ds, std::nullopt, 0, nullptr);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_TRUE(v->ok()) << v->problems.front();
  }

  // Objects of snapshots that have no manifest (half-visible leftovers a
  // listing would not show, but that must not be there either once a
  // failed backup has cleaned up).
  std::vector<std::string> SnapshotObjectsWithoutManifest(Datastore& ds) {
    auto names = ds.backend().List("snapshots/");
    EXPECT_TRUE(names.ok());
    std::set<std::string> with;
    for (const auto& n : *names)
      if (n.ends_with(std::string("/") + kManifestName)) with.insert(SnapshotOfObject(n));
    std::vector<std::string> out;
    for (const auto& n : *names)
      if (!with.count(SnapshotOfObject(n)) && ds.backend().Stat(n).ok()) out.push_back(n);
    return out;
  }

  std::string ns_;
};

TEST_F(RadosDatastoreTest, BackupRestoreVerifyAndGc) {
  auto a = Host("a");
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->backend().HasLeases());
  EXPECT_GE(a->IoThreads(), 16);
  const std::vector<Node> tree = SampleTree();
  const std::string vol1 = FormatVolume("100", kT0);
  ASSERT_TRUE(LockedBackup(*a, "100", kT0, WorkerStream(tree)).ok());
  ExpectTree(tree, ReadBack(*a, vol1));
  // Incremental: unchanged files from the parent, the rest deduplicated.
  auto parent = LoadParent(*a, "100", &observer_);
  ASSERT_NE(parent, nullptr);
  std::map<std::string, Entry> unchanged;
  for (const auto& [path, e] : RecordsOf(*a, vol1))
    if (e.is_regular() && path != "bin/text") unchanged[path] = e;
  std::vector<Node> changed = tree;
  for (Node& n : changed)
    if (n.entry.path == "bin/text") n.content = TextBytes(n.content.size(), 9);
  WriterStats stats;
  auto m2 = LockedBackup(*a, "100", kT0 + 60, WorkerStream(changed, unchanged), parent, &stats);
  ASSERT_TRUE(m2.ok()) << m2.status().ToString();
  EXPECT_GT(stats.reused_files, 0u);
  const std::string vol2 = FormatVolume("100", kT0 + 60);
  ExpectTree(changed, ReadBack(*a, vol2));
  EXPECT_EQ(Volnames(*a), (std::vector<std::string>{vol1, vol2}));
  ExpectVerifyClean(*a);
  // Delete the first; gc keeps every chunk the second needs. Chunks only the
  // first needed are younger than gc's cutoff (seconds old, and the cutoff
  // is a minute of clock skew back), so they stay until a later gc.
  ASSERT_TRUE(a->DeleteSnapshot(vol1).ok());
  auto gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->removed, 0u);
  EXPECT_GT(gc->kept_recent, 0u);
  EXPECT_TRUE(a->backend().List("locks/")->empty());
  ExpectTree(changed, ReadBack(*a, vol2));
  ExpectVerifyClean(*a);
}

TEST_F(RadosDatastoreTest, TwoHostsBackUpAtOnceAndDedupAcrossThem) {
  auto a = Host("host-a");
  auto b = Host("host-b");
  ASSERT_TRUE(a && b);
  const std::vector<Node> tree_a = SiblingTree(1), tree_b = SiblingTree(2);
  WriterStats stats_a, stats_b;
  Status sa, sb;
  std::thread ta(
      [&] { sa = LockedBackup(*a, "201", kT0, WorkerStream(tree_a), nullptr, &stats_a).status(); });
  std::thread tb(
      [&] { sb = LockedBackup(*b, "202", kT0, WorkerStream(tree_b), nullptr, &stats_b).status(); });
  ta.join();
  tb.join();
  ASSERT_TRUE(sa.ok()) << sa.ToString();
  ASSERT_TRUE(sb.ok()) << sb.ToString();
  // The shared content is stored once: put-if-absent decides which host
  // writes each chunk, the other dedups against it.
  const uint64_t hashed = stats_a.chunks + stats_b.chunks;
  const uint64_t written = stats_a.new_chunks + stats_b.new_chunks;
  EXPECT_LT(written, hashed * 3 / 4) << written << " of " << hashed;
  auto chunks = a->backend().List("chunks/");
  ASSERT_TRUE(chunks.ok());
  EXPECT_EQ(chunks->size(), written);
  // Either host reads both.
  ExpectTree(tree_b, ReadBack(*a, FormatVolume("202", kT0)));
  ExpectTree(tree_a, ReadBack(*b, FormatVolume("201", kT0)));
  ExpectVerifyClean(*b);
  // The same container from two hosts at once: one holds its lock.
  ASSERT_TRUE(a->TakeLock(BackupLockName("201"), std::nullopt, &observer_).ok());
  auto busy = b->TakeLock(BackupLockName("201"), std::nullopt, &observer_);
  EXPECT_EQ(busy.status().code(), Code::kUnavailable) << busy.status().ToString();
  ASSERT_TRUE(a->ReleaseLock(BackupLockName("201")).ok());
}

TEST_F(RadosDatastoreTest, GcOnOneHostWhileTheOtherBacksUp) {
  auto a = Host("backup-host");
  auto g = Host("gc-host");
  ASSERT_TRUE(a && g);
  ASSERT_TRUE(LockedBackup(*a, "300", kT0, WorkerStream(SampleTree())).ok());
  // Garbage for gc to find: a deleted snapshot's chunks, made old.
  ASSERT_TRUE(LockedBackup(*a, "399", kT0, WorkerStream(SiblingTree(7))).ok());
  ASSERT_TRUE(a->DeleteSnapshot(FormatVolume("399", kT0)).ok());
  std::atomic<bool> done{false};
  std::atomic<int> gcs{0};
  Status gc_error;
  std::thread gc([&] {
    while (!done) {
      auto r = CollectGarbage(*g, false, nullptr);
      if (!r.ok() && r.status().code() != Code::kUnavailable) {
        gc_error = r.status();
        return;
      }
      ++gcs;
      // gc runs now and then, not back to back: a backup waits for a running
      // gc before its last check.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  });
  // Backups of new and of already stored content while gc loops.
  Status s1 = LockedBackup(*a, "301", kT0, WorkerStream(SiblingTree(3))).status();
  Status s2 = LockedBackup(*a, "302", kT0, WorkerStream(SiblingTree(7))).status();
  done = true;
  gc.join();
  ASSERT_TRUE(gc_error.ok()) << gc_error.ToString();
  EXPECT_GT(gcs.load(), 0);
  // A backup may fail (a chunk it touched was judged old by a sweep that was
  // already running): never publishing a broken snapshot. Run it again.
  if (!s2.ok()) {
    EXPECT_EQ(s2.code(), Code::kDataLoss) << s2.ToString();
    s2 = LockedBackup(*a, "302", kT0 + 1, WorkerStream(SiblingTree(7))).status();
  }
  ASSERT_TRUE(s1.ok()) << s1.ToString();
  ASSERT_TRUE(s2.ok()) << s2.ToString();
  auto final_gc = CollectGarbage(*g, false, &observer_);
  ASSERT_TRUE(final_gc.ok()) << final_gc.status().ToString();
  ExpectVerifyClean(*a);
  ExpectTree(SiblingTree(3), ReadBack(*g, FormatVolume("301", kT0)));
}

TEST_F(RadosDatastoreTest, DeadHostsGcLockExpiresThenGcRuns) {
  auto a = Host("a");
  ASSERT_TRUE(a != nullptr);
  ASSERT_TRUE(LockedBackup(*a, "400", kT0, WorkerStream(SampleTree())).ok());
  {
    auto dead = Host("dead");
    dead->set_lock_lease_s(kMinLockLeaseS);
    ASSERT_TRUE(dead->TakeLock(kGcLockName, std::nullopt, &observer_).ok());
  }  // killed holding it: no release
  auto busy = CollectGarbage(*a, false, &observer_);
  ASSERT_EQ(busy.status().code(), Code::kUnavailable) << busy.status().ToString();
  EXPECT_TRUE(Contains(busy.status().message(), "locks/gc")) << busy.status().ToString();
  // The lease runs out on the OSD's clock; then gc takes the lock over.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(kMinLockLeaseS + 10);
  Result<GcReport> gc = busy.status();
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    gc = CollectGarbage(*a, false, &observer_);
    if (gc.ok() || gc.status().code() != Code::kUnavailable) break;
  }
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_TRUE(Contains(observer_.All(), "taking over lock 'locks/gc'")) << observer_.All();
  EXPECT_TRUE(a->backend().List("locks/")->empty());
}

// --- Faults through FaultBackend over RADOS.

TEST_F(RadosDatastoreTest, FaultsLeaveNothingHalfVisible) {
  auto plan = std::make_shared<FaultPlan>();
  auto a = Host("faulty", plan);
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->backend().HasLeases());  // the decorator passes leases through
  ASSERT_TRUE(LockedBackup(*a, "500", kT0, WorkerStream(SampleTree())).ok());
  const std::vector<Node> changed = SiblingTree(5);
  const std::string stream = WorkerStream(changed);
  int64_t t = kT0;
  // Each failing backup has content of its own: a chunk a failed attempt
  // stored is found, not put, by the next.
  uint64_t seed = 10;
  auto expect_nothing_new = [&](const Status& s, const std::string& what) {
    EXPECT_FALSE(s.ok()) << what;
    EXPECT_EQ(Volnames(*a), std::vector<std::string>{FormatVolume("500", kT0)}) << what;
    EXPECT_TRUE(SnapshotObjectsWithoutManifest(*a).empty()) << what;
    EXPECT_TRUE(a->backend().List("locks/")->empty()) << what;
  };
  // An I/O error on a chunk put, before and after it reached the cluster
  // (the acknowledgement lost: the chunk may exist).
  for (bool after : {false, true}) {
    plan->Clear();
    Fault f;
    f.ops = {BackendOp::kPutIfAbsent};
    f.prefix = "chunks/";
    f.nth = 1;
    f.after_call = after;
    f.error = IOError("injected: connection reset");
    plan->AddFault(f);
    expect_nothing_new(LockedBackup(*a, "501", ++t, WorkerStream(SiblingTree(++seed))).status(),
                       fmt::format("chunk put fails (after the call: {})", after));
  }
  // A timeout writing the data index, with every put slowed down.
  plan->Clear();
  plan->SetLatency(BackendOp::kPut, std::chrono::microseconds(2000),
                   std::chrono::microseconds(3000), 7);
  plan->SetLatency(BackendOp::kPutIfAbsent, std::chrono::microseconds(500),
                   std::chrono::microseconds(1500), 8);
  Fault timeout;
  timeout.ops = {BackendOp::kPut};
  timeout.prefix = "snapshots/";
  timeout.nth = 2;
  timeout.error = UnavailableError("injected: operation timed out (rados-timeout)");
  plan->AddFault(timeout);
  expect_nothing_new(LockedBackup(*a, "501", ++t, WorkerStream(SiblingTree(++seed))).status(),
                     "index put times out");
  // The lease renewal before the manifest fails: nothing published.
  plan->Clear();
  Fault renew;
  renew.ops = {BackendOp::kAcquireLease};
  renew.prefix = BackupLockName("501");
  renew.nth = 2;  // the first is taking the lock
  renew.times = kEveryTime;
  renew.error = UnavailableError("injected: cluster unreachable");
  plan->AddFault(renew);
  Status lost = LockedBackup(*a, "501", ++t, WorkerStream(SiblingTree(++seed))).status();
  EXPECT_TRUE(Contains(lost.message(), "was not published")) << lost.ToString();
  plan->Clear();
  // The object of the lock whose release failed may remain, its lease
  // lapses; nothing else is visible.
  EXPECT_EQ(Volnames(*a), std::vector<std::string>{FormatVolume("500", kT0)});
  EXPECT_TRUE(SnapshotObjectsWithoutManifest(*a).empty());
  // Without faults the same backup works, and everything verifies.
  const std::string vol = FormatVolume("501", ++t);
  ASSERT_TRUE(LockedBackup(*a, "501", t, stream).ok());
  ExpectTree(changed, ReadBack(*a, vol));
  ExpectVerifyClean(*a);
  // Short reads: a truncated chunk fails the read naming the chunk, never
  // garbage; a truncated manifest leaves the backup out of the listing.
  GetDamage shorter;
  shorter.prefix = "chunks/";
  shorter.damage = ReadDamage::kTruncate;
  shorter.at = 10;
  shorter.times = kEveryTime;
  plan->AddGetDamage(shorter);
  auto reader = SnapshotReader::Open(*a, vol);  // manifest and indexes: no chunk yet
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Status read = (*reader)->ForEachEntry([](const Entry&) { return Status::OK(); });
  EXPECT_EQ(read.code(), Code::kDataLoss) << read.ToString();
  EXPECT_TRUE(Contains(read.message(), "chunk")) << read.ToString();
  plan->Clear();
  GetDamage manifest;
  manifest.prefix = SnapshotPrefix(vol) + kManifestName;
  manifest.damage = ReadDamage::kTruncate;
  manifest.at = 20;
  plan->AddGetDamage(manifest);
  EXPECT_EQ(Volnames(*a), std::vector<std::string>{FormatVolume("500", kT0)});
  EXPECT_TRUE(Contains(observer_.All(), "skipping backup '" + vol + "'")) << observer_.All();
  plan->Clear();
  EXPECT_EQ(Volnames(*a).size(), 2u);
  auto gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  ExpectVerifyClean(*a);
}

// Which put of a backup fails (the pool full: ENOSPC, as RADOS reports it).
enum class FailAt { kChunk, kMetaIndex, kDataIndex, kManifest };

class RadosPutFailureTest : public RadosDatastoreTest,
                            public ::testing::WithParamInterface<FailAt> {};

TEST_P(RadosPutFailureTest, PublishesNothingAndARetryWorks) {
  auto plan = std::make_shared<FaultPlan>();
  auto a = Host("full", plan);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(LockedBackup(*a, "600", kT0, WorkerStream(SampleTree())).ok());
  const std::string vol = FormatVolume("600", kT0 + 60);
  Fault f;
  f.error = objstore::StoreFullError();
  switch (GetParam()) {
    case FailAt::kChunk:
      f.ops = {BackendOp::kPutIfAbsent};
      f.prefix = "chunks/";
      break;
    case FailAt::kMetaIndex:
      f.ops = {BackendOp::kPut};
      f.prefix = SnapshotPrefix(vol) + kMetaIndexName;
      break;
    case FailAt::kDataIndex:
      f.ops = {BackendOp::kPut};
      f.prefix = SnapshotPrefix(vol) + kDataIndexName;
      break;
    case FailAt::kManifest:
      f.ops = {BackendOp::kPutIfAbsent};
      f.prefix = SnapshotPrefix(vol) + kManifestName;
      break;
  }
  plan->AddFault(f);
  const std::vector<Node> tree = SiblingTree(60);
  auto m = LockedBackup(*a, "600", kT0 + 60, WorkerStream(tree));
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(Contains(m.status().message(), "No space left on device")) << m.status().ToString();
  EXPECT_EQ(Volnames(*a), std::vector<std::string>{FormatVolume("600", kT0)});
  EXPECT_TRUE(SnapshotObjectsWithoutManifest(*a).empty());
  EXPECT_TRUE(a->backend().List("locks/")->empty());
  plan->Clear();
  ASSERT_TRUE(LockedBackup(*a, "600", kT0 + 60, WorkerStream(tree)).ok());
  ExpectTree(tree, ReadBack(*a, vol));
  ExpectVerifyClean(*a);
}

INSTANTIATE_TEST_SUITE_P(Stages, RadosPutFailureTest,
                         ::testing::Values(FailAt::kChunk, FailAt::kMetaIndex, FailAt::kDataIndex,
                                           FailAt::kManifest),
                         [](const auto& info) {
                           switch (info.param) {
                             case FailAt::kChunk:
                               return "Chunk";
                             case FailAt::kMetaIndex:
                               return "MetaIndex";
                             case FailAt::kDataIndex:
                               return "DataIndex";
                             case FailAt::kManifest:
                               return "Manifest";
                           }
                           return "";
                         });

TEST_F(RadosDatastoreTest, DamagedAndFailedReadsAreReportedNeverRestored) {
  auto plan = std::make_shared<FaultPlan>();
  auto a = Host("reads", plan);
  ASSERT_NE(a, nullptr);
  const std::vector<Node> tree = SampleTree();
  const std::string vol = FormatVolume("700", kT0);
  ASSERT_TRUE(LockedBackup(*a, "700", kT0, WorkerStream(tree)).ok());
  const Digest chunk = ChunkOfFile(*a, vol, "bin/big", 1 << 20);
  const std::string object = ChunkObjectName(chunk);
  // A byte flipped on the way, once: verify reports it, reads again, and
  // keeps the intact stored chunk.
  GetDamage flip;
  flip.prefix = object;
  flip.at = 200;
  plan->AddGetDamage(flip);
  auto v = Verify(*a, std::nullopt, 0, nullptr);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->problems.size(), 1u);
  EXPECT_TRUE(Contains(v->problems[0], object)) << v->problems[0];
  EXPECT_TRUE(Contains(v->problems[0], "the stored chunk is intact")) << v->problems[0];
  EXPECT_TRUE(a->backend().Stat(object).ok());
  EXPECT_TRUE(a->backend().Stat(BadChunkObjectName(chunk)).ok());  // the bytes read, for a look
  plan->Clear();
  // A read error (a timeout): the restore fails naming the chunk; the chunk
  // is not moved aside.
  Fault f;
  f.ops = {BackendOp::kGet};
  f.prefix = object;
  f.times = kEveryTime;
  f.error = UnavailableError("injected: operation timed out");
  plan->AddFault(f);
  Status read = ReadWholeFile(*a, vol, "bin/big");
  EXPECT_EQ(read.code(), Code::kUnavailable) << read.ToString();
  EXPECT_TRUE(Contains(read.message(), object)) << read.ToString();
  plan->Clear();
  EXPECT_TRUE(a->backend().Stat(object).ok());
  ExpectTree(tree, ReadBack(*a, vol));
  ExpectVerifyClean(*a);
}

TEST_F(RadosDatastoreTest, GcFaultsStopGcCleanlyAndItRunsAgain) {
  auto plan = std::make_shared<FaultPlan>();
  // No clock skew margin (one host's clock): chunks a second old may go.
  auto backend = [&]() -> Result<std::unique_ptr<ObjectBackend>> {
    objstore::RadosOptions o;
    o.pool = "ctdump";
    o.ceph_conf = CephConf();
    o.ns = ns_;
    o.max_clock_skew_s = 0;
    ASSIGN_OR_RETURN(auto b, objstore::OpenRadosBackend(o));
    return std::unique_ptr<ObjectBackend>(std::make_unique<FaultBackend>(std::move(b), plan));
  }();
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  auto opened = Datastore::Open(std::move(*backend), std::nullopt, "datastore 'gc'");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Datastore> a = std::move(*opened);
  const std::vector<Node> tree = SampleTree();
  const std::string vol = FormatVolume("800", kT0);
  ASSERT_TRUE(LockedBackup(*a, "800", kT0, WorkerStream(tree)).ok());
  auto other = TreeBuilder().Dir("").File("other", RandomBytes(2 << 20, 78)).Build();
  ASSERT_TRUE(LockedBackup(*a, "801", kT0, WorkerStream(other)).ok());
  ASSERT_TRUE(a->DeleteSnapshot(FormatVolume("801", kT0)).ok());
  const size_t keep = ChunksOf(*a, vol).size();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // older than gc's second
  // An index that cannot be read: gc removes nothing.
  Fault index;
  index.ops = {BackendOp::kGet};
  index.prefix = SnapshotPrefix(vol) + kDataIndexName;
  plan->AddFault(index);
  const size_t before = a->backend().List("chunks/")->size();
  ASSERT_GT(before, keep);
  auto gc = CollectGarbage(*a, false, &observer_);
  ASSERT_FALSE(gc.ok());
  EXPECT_TRUE(Contains(gc.status().message(), "nothing removed")) << gc.status().ToString();
  EXPECT_EQ(a->backend().List("chunks/")->size(), before);
  // A delete that fails after it reached the cluster: reported; the next gc
  // finishes the job.
  plan->Clear();
  Fault del;
  del.ops = {BackendOp::kDelete};
  del.prefix = "chunks/";
  del.nth = 2;
  del.after_call = true;
  plan->AddFault(del);
  gc = CollectGarbage(*a, false, &observer_);
  ASSERT_FALSE(gc.ok());
  EXPECT_TRUE(a->backend().List("locks/")->empty());  // its lock released all the same
  plan->Clear();
  gc = CollectGarbage(*a, false, &observer_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(a->backend().List("chunks/")->size(), keep);
  ExpectTree(tree, ReadBack(*a, vol));
  ExpectVerifyClean(*a);
}

}  // namespace
}  // namespace ctdump::datastore
