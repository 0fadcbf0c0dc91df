// Byte-flip corruption of every kind of store object (as leveldb's
// db/corruption_test.cc): whatever breaks a restore must make verify fail,
// naming the object. Chunks, indexes and manifests of a plain and of an
// encrypted store; a plaintext manifest in an encrypted store; the wrong key;
// an index forged together with its (unauthenticated) manifest.
#include <fmt/format.h>

#include "datastore/datastore_test_fixture.h"
#include "datastore/index_format.h"

namespace ctdump::datastore {
namespace {

class CorruptionTest : public DatastoreTest {
 protected:
  void Make(std::optional<crypt::Key> key) {
    key_ = key;
    ds_ = Open(key);
    ASSERT_NE(ds_, nullptr);
    tree_ = TreeBuilder()
                .Dir("")
                .File("random", RandomBytes(300000, 5))
                .File("text", TextBytes(200000, 6))
                .Build();
    ASSERT_TRUE(Backup(*ds_, "800", kT0, WorkerStream(tree_)).ok());
    vol_ = FormatVolume("800", kT0);
    chunk_ = ChunkObjectName(*ChunksOf(*ds_, vol_).begin());
    ASSERT_TRUE(RunVerify(std::nullopt).ok());
  }

  VerifyReport RunVerify(const std::optional<std::string>& volname) {
    auto r = Verify(*ds_, volname, 2, nullptr);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : VerifyReport{};
  }

  // Verify of the store and of the snapshot both fail naming `needle`.
  void ExpectVerifyFails(const std::string& needle, const std::string& trace) {
    for (const auto& v : {std::optional<std::string>(), std::optional<std::string>(vol_)}) {
      VerifyReport r = RunVerify(v);
      ASSERT_FALSE(r.ok()) << trace << (v ? " (one backup)" : " (store)");
      std::string all;
      for (const auto& p : r.problems) all += p + "\n";
      EXPECT_TRUE(Contains(all, needle)) << trace << ": " << all;
    }
  }

  // Flips `mask` in byte `at` of `object`, checks verify fails, and puts the
  // object back (a chunk verify moved aside included).
  void FlipAndVerify(const std::string& object, size_t at, uint8_t mask) {
    const std::string path = PathOf(object);
    auto original = sys::ReadFile(path);
    ASSERT_TRUE(original.ok());
    ASSERT_LT(at, original->size());
    std::string bad = *original;
    bad[at] = static_cast<char>(bad[at] ^ mask);
    ASSERT_TRUE(sys::WriteFileAtomic(path, bad).ok());
    ExpectVerifyFails(object, fmt::format("{} byte {} ^ 0x{:02x}", object, at, mask));
    ASSERT_TRUE(sys::WriteFileAtomic(path, *original).ok());
    ::unlink((path + kBadChunkSuffix).c_str());
  }

  // Every header byte (three bits each) and some payload bytes.
  void FlipEverywhere(const std::string& object) {
    auto blob = sys::ReadFile(PathOf(object));
    ASSERT_TRUE(blob.ok());
    // Manifests (version 2) are plain blobs under a key too.
    auto info = ParseBlobHeader(*blob, object);
    ASSERT_TRUE(info.ok());
    size_t header = info->fingerprint ? kBlobEncryptedHeaderSize : kBlobHeaderSize;
    for (size_t at = 0; at < header; ++at)
      for (uint8_t mask : {0x01, 0x02, 0x80}) FlipAndVerify(object, at, mask);
    for (size_t at = header; at < blob->size(); at += std::max<size_t>(1, blob->size() / 16))
      FlipAndVerify(object, at, 0x04);
    FlipAndVerify(object, blob->size() - 1, 0x40);
    VerifyReport clean = RunVerify(std::nullopt);
    EXPECT_TRUE(clean.ok()) << clean.problems.front();
  }

  std::optional<crypt::Key> key_;
  std::unique_ptr<Datastore> ds_;
  std::vector<Node> tree_;
  std::string vol_, chunk_;
};

TEST_F(CorruptionTest, PlainChunk) {
  Make(std::nullopt);
  FlipEverywhere(chunk_);
}

TEST_F(CorruptionTest, PlainChunkFlagsByteClaimsEncryption) {
  Make(std::nullopt);
  FlipAndVerify(chunk_, 9, kBlobEncrypted);
  // ... and the restore it would break does break.
  auto blob = sys::ReadFile(PathOf(chunk_));
  std::string bad = *blob;
  bad[9] = static_cast<char>(bad[9] ^ kBlobEncrypted);
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(chunk_), bad).ok());
  auto r = SnapshotReader::Open(*ds_, vol_);
  ASSERT_TRUE(r.ok());
  Status s = (*r)->ForEachEntry([](const Entry&) { return Status::OK(); });
  Status f = ReadWholeFile(*ds_, vol_, "random");
  EXPECT_FALSE(s.ok() && f.ok() && ReadWholeFile(*ds_, vol_, "text").ok());
}

TEST_F(CorruptionTest, PlainIndexes) {
  Make(std::nullopt);
  FlipEverywhere(SnapshotPrefix(vol_) + kMetaIndexName);
  FlipEverywhere(SnapshotPrefix(vol_) + kDataIndexName);
}

TEST_F(CorruptionTest, PlainManifest) {
  Make(std::nullopt);
  FlipEverywhere(SnapshotPrefix(vol_) + kManifestName);
}

TEST_F(CorruptionTest, EncryptedChunk) {
  Make(TestKey(51));
  FlipEverywhere(chunk_);
}

TEST_F(CorruptionTest, EncryptedIndexesAndManifest) {
  Make(TestKey(52));
  FlipEverywhere(SnapshotPrefix(vol_) + kDataIndexName);
  FlipEverywhere(SnapshotPrefix(vol_) + kManifestName);
}

// Every byte of a sealed manifest (a plain blob under a key, no CRC): each
// flip is found. A zstd-compressed manifest let some through (the decoder
// ignores some bits, so the text and its digest stayed the same); manifests
// are stored uncompressed since.
TEST_F(CorruptionTest, EveryByteOfASealedManifest) {
  Make(TestKey(56));
  const std::string object = SnapshotPrefix(vol_) + kManifestName;
  auto blob = sys::ReadFile(PathOf(object));
  ASSERT_TRUE(blob.ok());
  for (size_t at = kBlobHeaderSize; at < blob->size(); ++at) FlipAndVerify(object, at, 0x04);
}

TEST_F(CorruptionTest, KeyFingerprintOfAChunkOrManifest) {
  Make(TestKey(53));
  for (size_t at = kBlobHeaderSize; at < kBlobHeaderSize + 8; ++at) {
    FlipAndVerify(chunk_, at, 0x01);
    FlipAndVerify(SnapshotPrefix(vol_) + kManifestName, at, 0x01);
  }
}

// Whoever can write the store can write a manifest that is not signed: a
// store with a key refuses it, be it of version 1 (plaintext blob) or an
// unsigned version 2 one.
TEST_F(CorruptionTest, PlaintextManifestInAnEncryptedStore) {
  Make(TestKey(54));
  const std::string object = SnapshotPrefix(vol_) + kManifestName;
  auto m = ds_->ReadManifest(vol_);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->signature.has_value());
  Manifest unsigned_m = *m;
  unsigned_m.signature.reset();
  unsigned_m.private_part.reset();
  unsigned_m.key_fingerprint.reset();
  for (int version : {1, 2}) {
    SCOPED_TRACE(version);
    unsigned_m.version = version;
    std::string plain = EncodeManifest(unsigned_m);
    BlobOptions bo;
    bo.type = BlobType::kManifest;
    auto blob = EncodeBlob(plain, crypt::Sha256(plain), bo);
    ASSERT_TRUE(blob.ok());
    ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), *blob).ok());
    ExpectVerifyFails(object, "plaintext manifest");
    ExpectVerifyFails(version == 1 ? "not encrypted" : "not signed", "plaintext manifest");
    EXPECT_FALSE(SnapshotReader::Open(*ds_, vol_).ok());
    EXPECT_FALSE(ds_->ReadManifestPublic(vol_).ok());
    // Listed as unreadable, never a parent.
    auto list = ds_->ListSnapshots(std::nullopt, nullptr);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 1u);
    EXPECT_TRUE((*list)[0].unreadable.has_value());
    EXPECT_EQ(LoadParent(*ds_, "800", nullptr), nullptr);
  }
}

// A sealed manifest with its public part changed (here: another index
// size, signature kept) fails its signature: verify with the key names it.
TEST_F(CorruptionTest, SealedManifestChangedWithoutTheKey) {
  Make(TestKey(57));
  const std::string object = SnapshotPrefix(vol_) + kManifestName;
  auto blob = ds_->backend().Get(object);
  ASSERT_TRUE(blob.ok());
  auto text = DecodeBlob(*blob, BlobType::kManifest, nullptr, nullptr, object);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  auto j = nlohmann::json::parse(*text);
  j["stats"]["bytes"] = 1;
  std::string changed = j.dump(1, '\t');
  BlobOptions bo;
  bo.type = BlobType::kManifest;
  auto forged = EncodeBlob(changed, crypt::Sha256(changed), bo);
  ASSERT_TRUE(forged.ok());
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), *forged).ok());
  ExpectVerifyFails("signature does not match", "changed manifest");
  ExpectVerifyFails(object, "changed manifest");
  EXPECT_FALSE(SnapshotReader::Open(*ds_, vol_).ok());
}

TEST_F(CorruptionTest, WrongOrNoKeyConfigured) {
  const crypt::Key right = TestKey(55), wrong = TestKey(56);
  Make(right);
  const std::string fp = crypt::FingerprintString(right.fingerprint());
  for (auto key : {std::optional<crypt::Key>(wrong), std::optional<crypt::Key>()}) {
    ds_ = Open(key);
    ASSERT_NE(ds_, nullptr);
    ExpectVerifyFails(fp, key ? "wrong key" : "no key");
    if (key) ExpectVerifyFails(crypt::FingerprintString(wrong.fingerprint()), "wrong key");
    EXPECT_FALSE(SnapshotReader::Open(*ds_, vol_).ok());
  }
  ds_ = Open(right);
  EXPECT_TRUE(RunVerify(std::nullopt).ok());
}

// On a plain store the manifest pins each index by size and SHA-256, but a
// writer of the store can rewrite both. Verify still checks what a restore
// relies on: each chunk is as long as its index entry says.
TEST_F(CorruptionTest, IndexForgedTogetherWithItsManifest) {
  Make(std::nullopt);
  auto m = ds_->ReadManifest(vol_);
  ASSERT_TRUE(m.ok());
  auto index = ds_->ReadIndex(vol_, *m, kDataIndexName);
  ASSERT_TRUE(index.ok());
  ASSERT_GE(index->size(), 2u);
  std::vector<IndexEntry> forged = *index;
  forged[0].end -= 100;  // chunk 0 shorter, chunk 1 longer: same stream length
  std::string plain = EncodeIndex(forged);
  BlobOptions bo;
  bo.type = BlobType::kIndex;
  const std::string object = SnapshotPrefix(vol_) + kDataIndexName;
  auto blob = EncodeBlob(plain, crypt::Sha256(plain), bo);
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), *blob).ok());
  for (auto& f : m->files) {
    if (f.name != kDataIndexName) continue;
    f.digest = crypt::Sha256(plain);
    f.size = plain.size();
  }
  std::string mplain = EncodeManifest(*m);
  bo.type = BlobType::kManifest;
  auto mblob = EncodeBlob(mplain, crypt::Sha256(mplain), bo);
  ASSERT_TRUE(mblob.ok());
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(SnapshotPrefix(vol_) + kManifestName), *mblob).ok());
  ASSERT_TRUE(ds_->ReadIndex(vol_, *ds_->ReadManifest(vol_), kDataIndexName).ok());
  EXPECT_FALSE(ReadWholeFile(*ds_, vol_, "random").ok());
  ExpectVerifyFails(object, "forged index");
  // The chunks are right: none was moved aside.
  for (const IndexEntry& e : forged) EXPECT_TRUE(Exists(ChunkObjectName(e.digest)));
}

// Not a file at all in an object's place: a FIFO (would block a reader), a
// character device like /dev/zero (endless), a file far larger than any
// blob. Every reader refuses it at once, naming it.
class NonRegularTest : public CorruptionTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    CorruptionTest::SetUp();
    ::alarm(120);  // a hang fails the test instead of blocking it
    Make(std::nullopt);
  }
  void TearDown() override {
    ::alarm(0);
    CorruptionTest::TearDown();
  }
  // Replaces `object` with the kind of file the test is about.
  void Replace(const std::string& object) {
    const std::string path = PathOf(object);
    ASSERT_EQ(::unlink(path.c_str()), 0) << path;
    if (GetParam() == "fifo") {
      ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
    } else if (GetParam() == "zero") {
      ASSERT_EQ(::mknod(path.c_str(), S_IFCHR | 0600, makedev(1, 5)), 0);
    } else if (GetParam() == "symlink") {
      ASSERT_EQ(::symlink("/dev/zero", path.c_str()), 0);
    } else {
      sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      ASSERT_TRUE(fd.valid());
      ASSERT_EQ(::ftruncate(fd.get(), int64_t{16} << 30), 0);  // 16 GiB, sparse
    }
  }
};

TEST_P(NonRegularTest, InPlaceOfAChunk) {
  Replace(chunk_);
  ExpectVerifyFails(chunk_, GetParam());
  Status s = ReadWholeFile(*ds_, vol_, "random");
  Status t = ReadWholeFile(*ds_, vol_, "text");
  EXPECT_FALSE(s.ok() && t.ok());
  EXPECT_EQ((s.ok() ? t : s).code(), Code::kDataLoss);
}

TEST_P(NonRegularTest, InPlaceOfAManifestOrIndex) {
  for (const char* file : {kDataIndexName, kManifestName}) {
    const std::string object = SnapshotPrefix(vol_) + file;
    auto saved = sys::ReadFile(PathOf(object));
    ASSERT_TRUE(saved.ok());
    Replace(object);
    ExpectVerifyFails(object, GetParam());
    auto r = SnapshotReader::Open(*ds_, vol_);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), object)) << r.status().message();
    // Listing does not hang; a manifest that is no file is no backup.
    RecordingObserver obs;
    auto list = ds_->ListSnapshots(std::nullopt, &obs);
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->size(), std::string(file) == kManifestName ? 0u : 1u);
    ASSERT_EQ(::unlink(PathOf(object).c_str()), 0);
    ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), *saved).ok());
  }
  EXPECT_TRUE(RunVerify(std::nullopt).ok());
}

TEST_P(NonRegularTest, InPlaceOfTheConfig) {
  Replace("config");
  auto ds = TryOpen();
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), Code::kDataLoss) << ds.status().ToString();
  EXPECT_TRUE(Contains(ds.status().message(), root_ + "/config")) << ds.status().message();
}

INSTANTIATE_TEST_SUITE_P(Kinds, NonRegularTest,
                         ::testing::Values("fifo", "zero", "symlink", "huge"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ctdump::datastore
