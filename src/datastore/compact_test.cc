// Compaction (compact.h) on a real local store: LZ4 and uncompressed chunks
// rewritten with zstd, the same chunk ids, every snapshot reading the same; damaged and
// keyless chunks left alone; later runs read only what changed.
#include "datastore/compact.h"

#include <gtest/gtest.h>

#include <map>

#include "datastore/datastore_test_fixture.h"
#include "datastore/maintenance.h"

namespace ctdump::datastore {
namespace {

using testing::Contains;
using testing::RandomBytes;
using testing::TestKey;

class CompactTest : public DatastoreTest {
 protected:
  // Every chunk object's bytes, by name.
  std::map<std::string, std::string> ChunkBlobs(Datastore& ds) {
    std::map<std::string, std::string> out;
    auto names = ds.backend().List("chunks/");
    EXPECT_TRUE(names.ok());
    if (!names.ok()) return out;
    for (const auto& n : *names) out[n] = *ds.backend().Get(n, kMaxBlobSize);
    return out;
  }
  static Compression Of(const std::string& blob) {
    auto info = ParseBlobHeader(blob, "blob");
    EXPECT_TRUE(info.ok());
    return info.ok() ? BlobCompression(info->flags) : Compression::kNone;
  }
  static size_t Count(const std::map<std::string, std::string>& blobs, Compression c) {
    size_t n = 0;
    for (const auto& [name, blob] : blobs) n += Of(blob) == c;
    return n;
  }
  CompactReport Run(Datastore& ds, CompactOptions o = {}) {
    auto r = Compact(ds, o, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CompactReport{};
  }
  void ExpectVerifyClean(Datastore& ds) {
    auto v = Verify(ds, std::nullopt, 2, nullptr);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_TRUE(v->ok()) << (v->problems.empty() ? "" : v->problems[0]);
  }
};

TEST_F(CompactTest, Lz4ChunksBecomeZstdAndEverySnapshotReadsTheSame) {
  auto ds = Open();
  auto tree = SampleTree();
  ASSERT_TRUE(Backup(*ds, "500", kT0, WorkerStream(tree)).ok());
  auto before = ChunkBlobs(*ds);
  const size_t lz4 = Count(before, Compression::kLz4);
  const size_t raw = Count(before, Compression::kNone);
  ASSERT_GT(lz4, 0u) << "backups write LZ4 chunks";
  ASSERT_GT(raw, 0u) << "the random file's chunks are not worth LZ4";

  CompactReport r = Run(*ds);
  EXPECT_FALSE(r.incremental);  // the first compaction reads everything
  EXPECT_EQ(r.chunks, before.size());
  EXPECT_EQ(r.read, before.size());
  // Every LZ4 and uncompressed chunk was tried; random data stays as it is.
  EXPECT_EQ(r.recompressed + r.kept, lz4 + raw);
  EXPECT_GE(r.kept, raw);
  EXPECT_GT(r.recompressed, 0u);
  EXPECT_LT(r.bytes_after, r.bytes_before);
  EXPECT_EQ(r.damaged, 0u);

  auto after = ChunkBlobs(*ds);
  ASSERT_EQ(after.size(), before.size());  // the same chunks: ids are the plaintext's
  EXPECT_EQ(Count(after, Compression::kLz4) + Count(after, Compression::kNone), r.kept);
  EXPECT_EQ(Count(after, Compression::kZstd), Count(before, Compression::kZstd) + r.recompressed);
  for (const auto& [name, blob] : after)
    EXPECT_LE(blob.size(), before[name].size()) << name << " grew";
  ExpectTree(tree, ReadBack(*ds, FormatVolume("500", kT0)));
  ExpectVerifyClean(*ds);
  EXPECT_TRUE(Exists(kCompactStateName));
  EXPECT_FALSE(Exists(kCompactLockName));  // released
}

TEST_F(CompactTest, StoreWithoutCompressionGetsItFromCompact) {
  auto ds = Open();
  ds->set_backup_compression(Compression::kNone);  // storage.cfg `compression none`
  auto tree = SampleTree();
  ASSERT_TRUE(Backup(*ds, "500", kT0, WorkerStream(tree)).ok());
  auto before = ChunkBlobs(*ds);
  ASSERT_EQ(Count(before, Compression::kNone), before.size()) << "the backup compressed nothing";

  CompactReport r = Run(*ds);
  EXPECT_EQ(r.read, before.size());
  EXPECT_GT(r.recompressed, 0u);  // the text chunks
  EXPECT_GT(r.kept, 0u);          // the random ones
  EXPECT_EQ(r.recompressed + r.kept, before.size());
  auto after = ChunkBlobs(*ds);
  EXPECT_EQ(Count(after, Compression::kZstd), r.recompressed);
  size_t bytes_before = 0, bytes_after = 0;
  for (const auto& [name, blob] : before) bytes_before += blob.size();
  for (const auto& [name, blob] : after) bytes_after += blob.size();
  EXPECT_LT(bytes_after, bytes_before);
  ExpectTree(tree, ReadBack(*ds, FormatVolume("500", kT0)));
  ExpectVerifyClean(*ds);
}

TEST_F(CompactTest, LaterRunsReadOnlyChunksChangedSinceTheLastOne) {
  auto ds = Open();
  ASSERT_TRUE(Backup(*ds, "500", kT0, WorkerStream(SampleTree())).ok());
  Run(*ds);
  // Everything is older than the mark now.
  SetMtime("chunks", 1'000'000);
  CompactReport idle = Run(*ds);
  EXPECT_TRUE(idle.incremental);
  EXPECT_EQ(idle.read, 0u);
  EXPECT_EQ(idle.recompressed, 0u);

  // A new backup's chunks are read, and only they.
  auto more = TreeBuilder().Dir("").File("new", testing::TextBytes(400000, 5)).Build();
  WriterStats stats;
  ASSERT_TRUE(Backup(*ds, "501", kT0 + 60, WorkerStream(more), nullptr, SIZE_MAX, &stats).ok());
  ASSERT_GT(stats.new_chunks, 0u);
  CompactReport next = Run(*ds);
  EXPECT_TRUE(next.incremental);
  EXPECT_EQ(next.read, stats.new_chunks);
  EXPECT_GT(next.recompressed, 0u);
  ExpectTree(more, ReadBack(*ds, FormatVolume("501", kT0 + 60)));

  // --all reads every chunk again; nothing is left to recompress.
  CompactOptions all;
  all.all = true;
  CompactReport full = Run(*ds, all);
  EXPECT_FALSE(full.incremental);
  EXPECT_EQ(full.read, full.chunks);
  EXPECT_EQ(full.recompressed, 0u);
}

TEST_F(CompactTest, EncryptedChunksStayEncryptedUnderTheirKey) {
  auto ds = Open(TestKey(3));
  auto tree = SampleTree();
  ASSERT_TRUE(Backup(*ds, "500", kT0, WorkerStream(tree)).ok());
  CompactReport r = Run(*ds);
  EXPECT_GT(r.recompressed, 0u);
  for (const auto& [name, blob] : ChunkBlobs(*ds)) {
    auto info = ParseBlobHeader(blob, name);
    ASSERT_TRUE(info.ok());
    ASSERT_TRUE(info->fingerprint.has_value()) << name << " lost its encryption";
    EXPECT_EQ(*info->fingerprint, TestKey(3).fingerprint());
    EXPECT_TRUE(info->crc.has_value());
  }
  ExpectTree(tree, ReadBack(*ds, FormatVolume("500", kT0)));
  ExpectVerifyClean(*ds);

  // Without the key nothing can be rewritten: counted, left as it was.
  auto locked = Open(TestKey(3));
  auto more = TreeBuilder().Dir("").File("more", testing::TextBytes(300000, 9)).Build();
  ASSERT_TRUE(Backup(*locked, "501", kT0 + 60, WorkerStream(more)).ok());
  locked.reset();
  auto keyless = Open();
  auto blobs = ChunkBlobs(*keyless);
  CompactReport k = Run(*keyless);
  EXPECT_GT(k.keyless, 0u);
  EXPECT_EQ(k.recompressed, 0u);
  ASSERT_FALSE(k.problems.empty());
  EXPECT_TRUE(Contains(k.problems[0], "key")) << k.problems[0];
  EXPECT_EQ(ChunkBlobs(*keyless), blobs);
}

TEST_F(CompactTest, DamagedChunkIsLeftForVerifyAndTheRestIsCompacted) {
  auto ds = Open();
  ASSERT_TRUE(Backup(*ds, "500", kT0, WorkerStream(SampleTree())).ok());
  auto blobs = ChunkBlobs(*ds);
  std::string victim;
  for (const auto& [name, blob] : blobs)
    if (Of(blob) == Compression::kLz4) victim = name;
  ASSERT_FALSE(victim.empty());
  std::string bad = blobs[victim];
  bad[bad.size() / 2] ^= 0x55;
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(victim), bad, 0600).ok());

  CompactReport r = Run(*ds);
  EXPECT_EQ(r.damaged, 1u);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_TRUE(Contains(r.problems[0], victim)) << r.problems[0];
  EXPECT_GT(r.recompressed, 0u);
  EXPECT_EQ(ChunkBlobs(*ds)[victim], bad);  // untouched
}

TEST_F(CompactTest, DryRunCountsAndWritesNothing) {
  auto ds = Open();
  ASSERT_TRUE(Backup(*ds, "500", kT0, WorkerStream(SampleTree())).ok());
  auto blobs = ChunkBlobs(*ds);
  CompactOptions o;
  o.dry_run = true;
  CompactReport r = Run(*ds, o);
  EXPECT_GT(r.recompressed, 0u);
  EXPECT_LT(r.bytes_after, r.bytes_before);
  EXPECT_EQ(ChunkBlobs(*ds), blobs);
  EXPECT_FALSE(Exists(kCompactStateName));
}

TEST_F(CompactTest, OneCompactionAtATimeAndLevelsAreChecked) {
  auto ds = Open();
  ASSERT_TRUE(Backup(*ds, "500", kT0, WorkerStream(SampleTree())).ok());
  auto other = Open();
  ASSERT_TRUE(other->TakeLock(kCompactLockName, std::nullopt, nullptr).ok());
  auto r = Compact(*ds, {}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  ASSERT_TRUE(other->ReleaseLock(kCompactLockName).ok());
  EXPECT_TRUE(Compact(*ds, {}, nullptr).ok());

  CompactOptions bad;
  bad.zstd_level = 20;
  r = Compact(*ds, bad, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "1 to 19")) << r.status().message();
}

}  // namespace
}  // namespace ctdump::datastore
