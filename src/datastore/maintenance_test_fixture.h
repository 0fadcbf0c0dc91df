// VerifyTest: a store with two containers' backups and one chunk of the
// first picked to damage; shared by the verify, heal and verify-state tests
// (maintenance_test.cc, verify_state_test.cc).
#ifndef CTDUMP_DATASTORE_MAINTENANCE_TEST_FIXTURE_H_
#define CTDUMP_DATASTORE_MAINTENANCE_TEST_FIXTURE_H_

#include "datastore/datastore_test_fixture.h"
#include "datastore/maintenance.h"

namespace ctdump::datastore {
namespace {  // as datastore_test_fixture.h: each test file its own copy

class VerifyTest : public DatastoreTest {
 protected:
  void SetUp() override {
    DatastoreTest::SetUp();
    ds_ = Open();
    ASSERT_NE(ds_, nullptr);
    tree_ = SampleTree();
    ASSERT_TRUE(Backup(*ds_, "500", kT0, WorkerStream(tree_)).ok());
    auto other = TreeBuilder().Dir("").File("other", RandomBytes(300000, 77)).Build();
    ASSERT_TRUE(Backup(*ds_, "501", kT0, WorkerStream(other)).ok());
    vol_ = FormatVolume("500", kT0);
    other_vol_ = FormatVolume("501", kT0);
    chunk_ = ChunkOfFile(*ds_, vol_, "bin/big", 3 << 19);
    chunk_object_ = ChunkObjectName(chunk_);
    ASSERT_TRUE(Exists(chunk_object_));
  }

  VerifyReport RunVerify(const std::optional<std::string>& volname = std::nullopt) {
    auto r = Verify(*ds_, volname, 2, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{};
  }

  // The damaged object is named, only `vol_` is listed damaged, and reading
  // bin/big fails naming the chunk.
  void ExpectChunkDamageReported(const std::string& problem) {
    VerifyReport report = RunVerify();
    ASSERT_FALSE(report.ok());
    ASSERT_EQ(report.problems.size(), 1u);
    EXPECT_TRUE(Contains(report.problems[0], chunk_object_)) << report.problems[0];
    EXPECT_TRUE(Contains(report.problems[0], problem)) << report.problems[0];
    EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
    VerifyReport one = RunVerify(vol_);
    ASSERT_FALSE(one.ok());
    EXPECT_TRUE(Contains(one.problems[0], chunk_object_)) << one.problems[0];
    EXPECT_EQ(one.damaged_snapshots, std::vector<std::string>{vol_});
    EXPECT_TRUE(RunVerify(other_vol_).ok());
    Status s = ReadWholeFile(*ds_, vol_, "bin/big");
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(Contains(s.message(), chunk_.Hex())) << s.message();
    EXPECT_TRUE(ReadWholeFile(*ds_, vol_, "bin/text").ok());
  }

  std::unique_ptr<Datastore> ds_;
  std::vector<Node> tree_;
  std::string vol_, other_vol_;
  Digest chunk_;
  std::string chunk_object_;
};

}  // namespace
}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_MAINTENANCE_TEST_FIXTURE_H_
