// Verify state: what verify records per snapshot (verify.json), skipping
// what it verified recently, and marking the snapshots that need a chunk a
// partial verify found damaged.
#include "datastore/maintenance.h"
#include "datastore/maintenance_test_fixture.h"

namespace ctdump::datastore {
namespace {

// ---------------------------------------------------------------------------
// Verify state: what verify records per snapshot, and skipping what it
// verified recently (PBS's ignore-verified + outdated-after)

class VerifyStateTest : public VerifyTest {
 protected:
  VerifyReport RunWith(const VerifyOptions& o) {
    auto r = Verify(*ds_, o, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{};
  }
  static VerifyOptions Skipping(int64_t now, int64_t days) {
    VerifyOptions o;
    o.threads = 2;
    o.now = now;
    o.skip_verified_s = days * 86400;
    return o;
  }
  std::string StateObject(const std::string& vol) { return SnapshotPrefix(vol) + kVerifyStateName; }
};

TEST_F(VerifyStateTest, VerifyRecordsOkWithItsStartTime) {
  EXPECT_FALSE(ReadVerifyState(*ds_, vol_));
  VerifyOptions o;
  o.now = kT0 + 100;
  VerifyReport r = RunWith(o);
  EXPECT_TRUE(r.ok());
  for (const auto& v : {vol_, other_vol_}) {
    auto state = ReadVerifyState(*ds_, v);
    ASSERT_TRUE(state) << v;
    EXPECT_TRUE(state->ok);
    EXPECT_EQ(state->time, kT0 + 100);
    EXPECT_EQ(state->problems, 0u);
  }
  // Not a snapshot object for anyone else: listing and reading stay as they were.
  auto list = ds_->ListSnapshots(std::nullopt, nullptr);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
}

TEST_F(VerifyStateTest, SkipsOnlySnapshotsVerifiedOkWithinTheDays) {
  const int64_t t = kT0 + 1000;
  VerifyReport first = RunWith(Skipping(t, 3));  // nothing recorded yet: everything
  EXPECT_EQ(first.snapshots, 2u);
  EXPECT_EQ(first.skipped, 0u);
  VerifyReport second = RunWith(Skipping(t + 3 * 86400 - 1, 3));
  EXPECT_TRUE(second.ok());
  EXPECT_EQ(second.snapshots, 0u);
  EXPECT_EQ(second.skipped, 2u);
  EXPECT_EQ(second.chunks, 0u);
  // Exactly N days later the record is outdated.
  VerifyReport third = RunWith(Skipping(t + 3 * 86400, 3));
  EXPECT_EQ(third.snapshots, 2u);
  EXPECT_EQ(third.skipped, 0u);
  EXPECT_EQ(ReadVerifyState(*ds_, vol_)->time, t + 3 * 86400);
  // Without skipping everything is verified, recently verified or not.
  VerifyOptions all;
  all.now = t + 3 * 86400 + 1;
  EXPECT_EQ(RunWith(all).snapshots, 2u);
  // 0 days: nothing is recent enough.
  EXPECT_EQ(RunWith(Skipping(t + 3 * 86400 + 2, 0)).snapshots, 2u);
  // A record from the future (the clock was set back) is not trusted.
  EXPECT_EQ(RunWith(Skipping(t, 30)).snapshots, 2u);
}

TEST_F(VerifyStateTest, DamagedSnapshotIsRecordedFailedAndVerifiedAgain) {
  ASSERT_TRUE(ds_->backend().Delete(chunk_object_).ok());
  VerifyReport first = RunWith(Skipping(kT0 + 10, 7));
  EXPECT_EQ(first.damaged_snapshots, std::vector<std::string>{vol_});
  auto state = ReadVerifyState(*ds_, vol_);
  ASSERT_TRUE(state);
  EXPECT_FALSE(state->ok);
  EXPECT_EQ(state->problems, 1u);
  EXPECT_TRUE(ReadVerifyState(*ds_, other_vol_)->ok);
  // The next run skips the good one and checks the damaged one again,
  // reading only its chunks.
  VerifyReport second = RunWith(Skipping(kT0 + 20, 7));
  EXPECT_EQ(second.skipped, 1u);
  EXPECT_EQ(second.snapshots, 1u);
  EXPECT_EQ(second.damaged_snapshots, std::vector<std::string>{vol_});
  EXPECT_LE(second.chunks, ChunksOf(*ds_, vol_).size());
}

TEST_F(VerifyStateTest, UnreadableRecordMeansNotVerified) {
  ASSERT_TRUE(RunWith(Skipping(kT0, 7)).ok());
  for (const std::string& text :
       {std::string("{not json"), std::string("{\"state\":\"ok\"}"),
        std::string("{\"state\":\"great\",\"time\":1}"), std::string("[1,2]"),
        std::string(kMaxVerifyStateSize + 1, ' ')}) {
    ASSERT_TRUE(ds_->backend().Put(StateObject(vol_), text).ok());
    EXPECT_FALSE(ReadVerifyState(*ds_, vol_)) << text.substr(0, 40);
    VerifyReport r = RunWith(Skipping(kT0 + 1, 7));
    EXPECT_EQ(r.skipped, 1u) << text.substr(0, 40);  // other_vol_ only
    EXPECT_EQ(r.snapshots, 1u);
    EXPECT_TRUE(ReadVerifyState(*ds_, vol_)->ok);  // written anew
  }
  // A FIFO in its place is no hang and no record.
  ASSERT_TRUE(ds_->backend().Delete(StateObject(vol_)).ok());
  ASSERT_EQ(::mkfifo(PathOf(StateObject(vol_)).c_str(), 0600), 0);
  EXPECT_FALSE(ReadVerifyState(*ds_, vol_));
}

TEST_F(VerifyStateTest, OnlyTheContainersSnapshotsWithVmid) {
  VerifyOptions o;
  o.vmid = "501";
  VerifyReport r = RunWith(o);
  EXPECT_EQ(r.snapshots, 1u);
  EXPECT_EQ(r.chunks, ChunksOf(*ds_, other_vol_).size());
  EXPECT_FALSE(ReadVerifyState(*ds_, vol_));
  EXPECT_TRUE(ReadVerifyState(*ds_, other_vol_));
  o.vmid = "../x";
  EXPECT_EQ(Verify(*ds_, o, nullptr).status().code(), Code::kInvalidArgument);
  o.vmid = "777";
  EXPECT_EQ(RunWith(o).snapshots, 0u);
}

TEST_F(VerifyStateTest, RecordOffWritesNothing) {
  VerifyOptions o;
  o.record_state = false;
  EXPECT_TRUE(RunWith(o).ok());
  EXPECT_FALSE(Exists(StateObject(vol_)));
}

TEST(RecentlyVerifiedTest, Boundaries) {
  VerifyState ok{true, 1000, 0}, failed{false, 1000, 2};
  EXPECT_TRUE(RecentlyVerified(ok, 1000, 1));
  EXPECT_TRUE(RecentlyVerified(ok, 1099, 100));
  EXPECT_FALSE(RecentlyVerified(ok, 1100, 100));
  EXPECT_FALSE(RecentlyVerified(ok, 999, 100));  // from the future
  EXPECT_FALSE(RecentlyVerified(failed, 1001, 100));
  EXPECT_FALSE(RecentlyVerified(std::nullopt, 1001, 100));
  EXPECT_FALSE(RecentlyVerified(ok, 1000, 0));
}

// A partial verify (--vmid, --ignore-verified, one backup) that finds a
// chunk damaged and moves it aside breaks every backup that needs the chunk,
// also those it did not read: they are recorded failed (and reported), so
// that --ignore-verified does not skip them forever while their restore fails.
class SharedChunkTest : public VerifyStateTest {
 protected:
  void SetUp() override {
    VerifyStateTest::SetUp();
    // Another container with the same data: it shares chunk_ with vol_.
    ASSERT_TRUE(Backup(*ds_, "502", kT0, WorkerStream(tree_)).ok());
    shared_vol_ = FormatVolume("502", kT0);
    ASSERT_TRUE(ChunksOf(*ds_, shared_vol_).count(chunk_));
    ASSERT_FALSE(ChunksOf(*ds_, other_vol_).count(chunk_));
  }
  void FlipChunk() {
    auto blob = sys::ReadFile(PathOf(chunk_object_));
    ASSERT_TRUE(blob.ok());
    std::string bad = *blob;
    bad[bad.size() - 100] ^= 0x10;
    ASSERT_TRUE(sys::WriteFileAtomic(PathOf(chunk_object_), bad).ok());
  }
  // `vol` is recorded failed at `t` and the next --ignore-verified verify
  // reads it again and finds it damaged.
  void ExpectFailedAndVerifiedAgain(const std::string& vol, int64_t t) {
    auto state = ReadVerifyState(*ds_, vol);
    ASSERT_TRUE(state);
    EXPECT_FALSE(state->ok);
    EXPECT_EQ(state->time, t);
    EXPECT_EQ(state->problems, 1u);
    EXPECT_TRUE(ReadVerifyState(*ds_, other_vol_)->ok);
    VerifyReport next = RunWith(Skipping(t + 10, 7));
    EXPECT_TRUE(std::count(next.damaged_snapshots.begin(), next.damaged_snapshots.end(), vol))
        << vol;
    EXPECT_FALSE(ReadVerifyState(*ds_, vol)->ok);
  }
  std::string shared_vol_;
};

TEST_F(SharedChunkTest, VerifyOfOneContainerMarksTheOthersThatNeedTheChunk) {
  ASSERT_TRUE(RunWith(Skipping(kT0 + 10, 7)).ok());  // all three ok
  ASSERT_TRUE(ReadVerifyState(*ds_, shared_vol_)->ok);
  FlipChunk();
  VerifyOptions o;
  o.threads = 2;
  o.now = kT0 + 20;
  o.vmid = "500";
  VerifyReport r = RunWith(o);
  EXPECT_EQ(r.snapshots, 1u);
  EXPECT_FALSE(Exists(chunk_object_));  // moved aside
  // vol_ (verified) and shared_vol_ (not read) are damaged; other_vol_ is not.
  EXPECT_EQ(r.damaged_snapshots, (std::vector<std::string>{vol_, shared_vol_}));
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_TRUE(std::any_of(
      r.problems.begin(), r.problems.end(),
      [&](const std::string& p) { return Contains(p, shared_vol_) && Contains(p, chunk_object_); }))
      << r.problems[0] << "\n"
      << r.problems[1];
  EXPECT_FALSE(ReadVerifyState(*ds_, vol_)->ok);
  ExpectFailedAndVerifiedAgain(shared_vol_, kT0 + 20);
}

TEST_F(SharedChunkTest, IgnoreVerifiedMarksTheSkippedThatNeedTheChunk) {
  ASSERT_TRUE(RunWith(Skipping(kT0 + 10, 7)).ok());
  // vol_ is due again (its record is gone), the other two are skipped.
  ASSERT_TRUE(ds_->backend().Delete(StateObject(vol_)).ok());
  FlipChunk();
  VerifyReport r = RunWith(Skipping(kT0 + 20, 7));
  EXPECT_EQ(r.snapshots, 1u);
  EXPECT_EQ(r.skipped, 2u);
  EXPECT_EQ(r.damaged_snapshots, (std::vector<std::string>{vol_, shared_vol_}));
  ExpectFailedAndVerifiedAgain(shared_vol_, kT0 + 20);
}

TEST_F(SharedChunkTest, VerifyOfOneBackupMarksTheOthersThatNeedTheChunk) {
  ASSERT_TRUE(RunWith(Skipping(kT0 + 10, 7)).ok());
  FlipChunk();
  VerifyOptions o;
  o.threads = 2;
  o.now = kT0 + 20;
  o.volname = vol_;
  VerifyReport r = RunWith(o);
  EXPECT_EQ(r.damaged_snapshots, (std::vector<std::string>{vol_, shared_vol_}));
  ExpectFailedAndVerifiedAgain(shared_vol_, kT0 + 20);
}

TEST_F(SharedChunkTest, NothingDamagedChangesNoOtherRecord) {
  ASSERT_TRUE(RunWith(Skipping(kT0 + 10, 7)).ok());
  VerifyOptions o;
  o.threads = 2;
  o.now = kT0 + 20;
  o.vmid = "500";
  EXPECT_TRUE(RunWith(o).ok());
  EXPECT_EQ(ReadVerifyState(*ds_, shared_vol_)->time, kT0 + 10);
  EXPECT_TRUE(ReadVerifyState(*ds_, shared_vol_)->ok);
}

TEST_F(SharedChunkTest, RecordOffMarksNothingButReports) {
  ASSERT_TRUE(RunWith(Skipping(kT0 + 10, 7)).ok());
  FlipChunk();
  VerifyOptions o;
  o.threads = 2;
  o.now = kT0 + 20;
  o.vmid = "500";
  o.record_state = false;
  VerifyReport r = RunWith(o);
  EXPECT_EQ(r.damaged_snapshots, (std::vector<std::string>{vol_, shared_vol_}));
  EXPECT_TRUE(ReadVerifyState(*ds_, shared_vol_)->ok);
}

}  // namespace
}  // namespace ctdump::datastore
