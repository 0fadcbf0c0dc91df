// The store's side of keys: list, df, gc and verify without the key (version
// 2 manifests, blob CRCs), keys loaded only when needed, version 1 manifests
// still read, and the key ring of a rotation.
#include <fmt/format.h>

#include "datastore/datastore_test_fixture.h"
#include "datastore/manifest.h"
#include "datastore/usage.h"

namespace ctdump::datastore {
namespace {

// Key files by path, as a storage's ring loads them, counting every load.
// A path not in `files` is a missing key file; one in `protected_files`
// needs its passphrase (not loaded without a prompt).
struct FakeKeyFiles {
  std::map<std::string, crypt::Key> files;
  std::set<std::string> protected_files;
  int prompted_loads = 0;  // loads that were allowed to ask a passphrase
  int quiet_loads = 0;

  KeyRing Ring(std::optional<std::string> current, std::vector<std::string> old = {}) {
    auto loader = [this](const std::string& path, bool may_prompt) -> Result<crypt::Key> {
      (may_prompt ? prompted_loads : quiet_loads)++;
      auto it = files.find(path);
      if (it == files.end())
        return NotFoundError(fmt::format("key file '{}' does not exist", path));
      if (!may_prompt && protected_files.count(path))
        return FailedPreconditionError(fmt::format("key file '{}' needs its passphrase", path));
      return it->second;
    };
    return KeyRing(std::move(current), std::move(old), loader);
  }
};

class KeyStoreTest : public DatastoreTest {
 protected:
  std::unique_ptr<Datastore> OpenWith(KeyRing ring) {
    auto backend = objstore::OpenLocalBackend(root_);
    EXPECT_TRUE(backend.ok());
    auto ds = Datastore::Open(std::move(*backend), std::move(ring), "datastore 'test'");
    EXPECT_TRUE(ds.ok()) << ds.status().ToString();
    return ds.ok() ? std::move(*ds) : nullptr;
  }

  // One encrypted backup of `vmid` at kT0 with key file "/k/a" (TestKey(1)).
  void MakeEncrypted(const std::string& vmid = "700") {
    keys_.files.insert_or_assign("/k/a", TestKey(1));
    auto ds = OpenWith(keys_.Ring("/k/a"));
    ASSERT_NE(ds, nullptr);
    tree_ = TreeBuilder()
                .Dir("")
                .File("random", RandomBytes(300000, 5))
                .File("text", TextBytes(200000, 6))
                .Build();
    auto m = Backup(*ds, vmid, kT0, WorkerStream(tree_));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_TRUE(ds->WriteNotes(FormatVolume(vmid, kT0), "secret notes").ok());
    vol_ = FormatVolume(vmid, kT0);
    chunks_ = ChunksOf(*ds, vol_);
  }

  FakeKeyFiles keys_;
  std::vector<std::string> loaded_;
  std::vector<Node> tree_;
  std::string vol_;
  std::set<Digest> chunks_;
};

TEST_F(KeyStoreTest, ManifestIsPlainAndSealed) {
  MakeEncrypted();
  auto blob = sys::ReadFile(PathOf(SnapshotPrefix(vol_) + kManifestName));
  ASSERT_TRUE(blob.ok());
  auto info = ParseBlobHeader(*blob, "manifest");
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->fingerprint.has_value());  // a plain blob
  auto text = DecodeBlob(*blob, BlobType::kManifest, nullptr, nullptr, "manifest");
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["key-fingerprint"], crypt::FingerprintString(TestKey(1).fingerprint()));
  EXPECT_TRUE(j.contains("signature"));
  EXPECT_TRUE(j.contains("private"));
  EXPECT_FALSE(j.contains("guest-config"));
  EXPECT_FALSE(Contains(*text, "hostname")) << *text;  // the guest config is private
  // With the key: whole, the config decrypted.
  auto ds = OpenWith(keys_.Ring("/k/a"));
  auto m = ds->ReadManifest(vol_);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m->sensitive);
  EXPECT_EQ(m->guest_config, "hostname: ct700\n");
}

// "a missing key even blocks list and verify": no more.
TEST_F(KeyStoreTest, ListUsageGcAndVerifyWithoutTheKeyFile) {
  MakeEncrypted();
  keys_.files.erase("/k/a");  // the key file is gone
  keys_.prompted_loads = keys_.quiet_loads = 0;
  auto ds = OpenWith(keys_.Ring("/k/a"));
  ASSERT_NE(ds, nullptr);

  auto list = ds->ListSnapshots(std::nullopt, nullptr);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 1u);
  const SnapshotInfo& s = (*list)[0];
  EXPECT_TRUE(s.manifest_read);
  EXPECT_FALSE(s.unreadable.has_value()) << *s.unreadable;  // its key is configured
  EXPECT_EQ(s.manifest.Stat("bytes"), 500000u);
  EXPECT_FALSE(s.notes.has_value());  // encrypted: not readable without the key
  EXPECT_FALSE(s.manifest.sensitive);

  auto usage = ComputeUsage(*ds, std::nullopt, nullptr);
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  EXPECT_TRUE(usage->unreadable_snapshots.empty());
  EXPECT_EQ(usage->logical_bytes, 500000u);
  EXPECT_EQ(usage->referenced_chunks, chunks_.size());

  auto gc = CollectGarbage(*ds, false, nullptr);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->marked, chunks_.size());
  EXPECT_EQ(gc->removed, 0u);
  EXPECT_EQ(keys_.prompted_loads, 0);  // none of these asked for the key

  RecordingObserver obs;
  VerifyOptions vo;
  vo.threads = 2;
  auto r = Verify(*ds, vo, &obs);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->ok()) << r->problems.front();
  EXPECT_EQ(r->keyless_snapshots, std::vector<std::string>{vol_});
  EXPECT_EQ(r->keyless_chunks, chunks_.size());
  EXPECT_EQ(r->keyless_chunks_without_crc, 0u);
  EXPECT_TRUE(r->other_key_snapshots.empty());
  EXPECT_TRUE(Contains(r->keyless_reason, "/k/a")) << r->keyless_reason;
  const std::string said = obs.All();
  EXPECT_TRUE(Contains(said, "verified without their key")) << said;
  EXPECT_TRUE(Contains(said, "NOT checked")) << said;
  EXPECT_TRUE(Contains(said, "signatures")) << said;
  // Its content was not checked: no "ok" state recorded.
  EXPECT_FALSE(ReadVerifyState(*ds, vol_).has_value());

  // What does need the key fails naming the fingerprint and the key file.
  auto reader = SnapshotReader::Open(*ds, vol_);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(
      Contains(reader.status().message(), crypt::FingerprintString(TestKey(1).fingerprint())))
      << reader.status().message();
  EXPECT_TRUE(Contains(reader.status().message(), "/k/a")) << reader.status().message();
  EXPECT_FALSE(ds->ReadNotes(vol_).ok());

  // The key file back: everything again, the key loaded once.
  keys_.files.insert_or_assign("/k/a", TestKey(1));
  auto with = OpenWith(keys_.Ring("/k/a"));
  keys_.prompted_loads = 0;
  auto full = Verify(*with, vo, nullptr);
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->ok());
  EXPECT_TRUE(full->keyless_snapshots.empty());
  ASSERT_TRUE(ReadVerifyState(*with, vol_).has_value());
  EXPECT_TRUE(ReadVerifyState(*with, vol_)->ok);
  EXPECT_EQ(keys_.prompted_loads, 1);
  ExpectTree(tree_, ReadBack(*with, vol_));
}

// A passphrase-protected key: list reads the notes only with the key at
// hand, never asking for the passphrase.
TEST_F(KeyStoreTest, ListNeverAsksForThePassphrase) {
  MakeEncrypted();
  keys_.protected_files.insert("/k/a");
  keys_.prompted_loads = 0;
  auto ds = OpenWith(keys_.Ring("/k/a"));
  auto list = ds->ListSnapshots(std::nullopt, nullptr);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_FALSE((*list)[0].notes.has_value());
  ASSERT_TRUE(ComputeUsage(*ds, std::nullopt, nullptr).ok());
  ASSERT_TRUE(CollectGarbage(*ds, true, nullptr).ok());
  EXPECT_EQ(keys_.prompted_loads, 0);
  // Reading the notes may ask.
  auto notes = ds->ReadNotes(vol_);
  ASSERT_TRUE(notes.ok()) << notes.status().ToString();
  EXPECT_EQ(*notes, std::optional<std::string>("secret notes"));
  EXPECT_EQ(keys_.prompted_loads, 1);
  // Loaded now: list shows the notes.
  list = ds->ListSnapshots(std::nullopt, nullptr);
  EXPECT_EQ((*list)[0].notes, std::optional<std::string>("secret notes"));
}

// Verify without the key finds a flipped byte in an encrypted chunk through
// its CRC, moves it aside and records the backup failed.
TEST_F(KeyStoreTest, KeylessVerifyFindsAFlippedByteByTheCrc) {
  MakeEncrypted();
  keys_.files.erase("/k/a");
  const Digest victim = *chunks_.begin();
  const std::string path = PathOf(ChunkObjectName(victim));
  for (size_t at : {size_t{kBlobEncryptedHeaderSize + 100}, size_t{30}, size_t{70}}) {
    SCOPED_TRACE(at);
    auto blob = sys::ReadFile(path);
    ASSERT_TRUE(blob.ok());
    std::string bad = *blob;
    bad[at] ^= 0x10;
    ASSERT_TRUE(sys::WriteFileAtomic(path, bad).ok());
    auto ds = OpenWith(keys_.Ring("/k/a"));
    for (bool one : {false, true}) {
      VerifyOptions vo;
      vo.threads = 2;
      if (one) vo.volname = vol_;
      auto r = Verify(*ds, vo, nullptr);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_FALSE(r->ok());
      std::string all;
      for (const auto& p : r->problems) all += p + "\n";
      EXPECT_TRUE(Contains(all, ChunkObjectName(victim))) << all;
      if (!one) {
        EXPECT_TRUE(Contains(all, "CRC mismatch") || Contains(all, "content does not match"))
            << all;
        EXPECT_TRUE(Contains(all, "moved to")) << all;
      }
      EXPECT_EQ(r->damaged_snapshots, std::vector<std::string>{vol_});
      auto state = ReadVerifyState(*ds, vol_);
      ASSERT_TRUE(state.has_value());
      EXPECT_FALSE(state->ok);
    }
    // Moved aside: put back for the next position.
    ASSERT_TRUE(sys::WriteFileAtomic(path, *blob).ok());
    ::unlink((path + kBadChunkSuffix).c_str());
  }
}

// A chunk whose index says another size than its header: found without
// the key.
TEST_F(KeyStoreTest, KeylessVerifyChecksSizesAgainstTheIndex) {
  MakeEncrypted();
  auto ds = OpenWith(keys_.Ring("/k/a"));
  auto m = ds->ReadManifest(vol_);
  ASSERT_TRUE(m.ok());
  // Forge with the key (a consistent manifest + index), then verify without.
  auto index = ds->ReadIndex(vol_, *m, kDataIndexName);
  ASSERT_TRUE(index.ok());
  ASSERT_GE(index->size(), 2u);
  std::vector<IndexEntry> forged = *index;
  forged[0].end -= 100;
  std::string plain = EncodeIndex(forged);
  BlobOptions bo;
  bo.type = BlobType::kIndex;
  auto blob = EncodeBlob(plain, crypt::Sha256(plain), bo);
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(ds->backend().Put(SnapshotPrefix(vol_) + kDataIndexName, *blob).ok());
  for (auto& f : m->files)
    if (f.name == kDataIndexName) f = {kDataIndexName, plain.size(), crypt::Sha256(plain)};
  auto key = ds->CurrentKey();
  auto sealed = SealManifest(*m, *key);
  ASSERT_TRUE(sealed.ok());
  bo.type = BlobType::kManifest;
  auto mblob = EncodeBlob(*sealed, crypt::Sha256(*sealed), bo);
  ASSERT_TRUE(ds->backend().Put(SnapshotPrefix(vol_) + kManifestName, *mblob).ok());
  keys_.files.erase("/k/a");
  auto keyless = OpenWith(keys_.Ring("/k/a"));
  auto r = Verify(*keyless, vol_, 2, nullptr);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->ok());
  EXPECT_TRUE(Contains(r->problems.front(), "its header says")) << r->problems.front();
}

// Manifests of version 1 (an encrypted blob) are still read with the key;
// without it they are listed unreadable, and gc reads their indexes unpinned.
TEST_F(KeyStoreTest, Version1ManifestsStillRead) {
  MakeEncrypted();
  auto ds = OpenWith(keys_.Ring("/k/a"));
  auto m = ds->ReadManifest(vol_);
  ASSERT_TRUE(m.ok());
  Manifest v1 = *m;
  v1.version = 1;
  v1.signature.reset();
  v1.private_part.reset();
  const crypt::Key key = TestKey(1);
  std::string plain = EncodeManifest(v1);
  BlobOptions bo;
  bo.type = BlobType::kManifest;
  bo.key = &key;
  auto blob = EncodeBlob(plain, ComputeDigest(&key, plain), bo);
  ASSERT_TRUE(blob.ok());
  ASSERT_TRUE(ds->backend().Put(SnapshotPrefix(vol_) + kManifestName, *blob).ok());
  auto again = OpenWith(keys_.Ring("/k/a"));
  auto read = again->ReadManifest(vol_);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->version, 1);
  EXPECT_EQ(read->guest_config, "hostname: ct700\n");
  ExpectTree(tree_, ReadBack(*again, vol_));
  auto report = Verify(*again, std::nullopt, 2, nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  ASSERT_NE(LoadParent(*again, "700", nullptr), nullptr);

  keys_.files.erase("/k/a");
  auto without = OpenWith(keys_.Ring("/k/a"));
  auto list = without->ListSnapshots(std::nullopt, nullptr);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].unreadable.has_value());
  EXPECT_FALSE((*list)[0].manifest_read);
  auto gc = CollectGarbage(*without, true, nullptr);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->marked, chunks_.size());
}

// Reads pick their key by fingerprint from the ring and load only the file
// that holds it (probed without its passphrase): after a rotation, reading
// a new backup never loads the old key, nor an old backup the new one.
TEST_F(KeyStoreTest, RingLoadsOnlyTheKeyAReadNeeds) {
  MakeEncrypted();  // with /k/a
  keys_.files.insert_or_assign("/k/b", TestKey(2));
  int probes = 0;
  auto ring = [&] {
    auto loader = [this](const std::string& path, bool may_prompt) -> Result<crypt::Key> {
      (may_prompt ? keys_.prompted_loads : keys_.quiet_loads)++;
      loaded_.push_back(path);
      return keys_.files.at(path);
    };
    auto prober = [&](const std::string& path) -> Result<crypt::Fingerprint> {
      ++probes;
      return keys_.files.at(path).fingerprint();
    };
    return KeyRing(std::string("/k/b"), {"/k/a"}, loader, prober);
  };
  auto ds = OpenWith(ring());
  auto tree2 = TreeBuilder().Dir("").File("n", RandomBytes(100000, 9)).Build();
  loaded_.clear();
  EXPECT_EQ(LoadParent(*ds, "700", nullptr), nullptr);  // the parent has the old key
  auto m = Backup(*ds, "700", kT0 + 10, WorkerStream(tree2));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->key_fingerprint, crypt::FingerprintString(TestKey(2).fingerprint()));
  EXPECT_EQ(loaded_, std::vector<std::string>{"/k/b"});

  auto fresh = OpenWith(ring());
  loaded_.clear();
  ExpectTree(tree_, ReadBack(*fresh, vol_));
  EXPECT_EQ(loaded_, std::vector<std::string>{"/k/a"});
  auto other = OpenWith(ring());
  loaded_.clear();
  ExpectTree(tree2, ReadBack(*other, FormatVolume("700", kT0 + 10)));
  EXPECT_EQ(loaded_, std::vector<std::string>{"/k/b"});
  EXPECT_GT(probes, 0);
  auto report = Verify(*other, std::nullopt, 2, nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  // A key no configured file holds: named with the configured ones.
  auto foreign = KeyRing(std::string("/k/b"), {}, [this](const std::string& p, bool) {
    return Result<crypt::Key>(keys_.files.at(p));
  });
  auto only_b = OpenWith(std::move(foreign));
  auto r = SnapshotReader::Open(*only_b, vol_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_TRUE(Contains(r.status().message(), crypt::FingerprintString(TestKey(1).fingerprint())));
  EXPECT_TRUE(Contains(r.status().message(), crypt::FingerprintString(TestKey(2).fingerprint())));
}

// verify and gc report their progress with their phase.
TEST_F(KeyStoreTest, VerifyAndGcReportProgress) {
  MakeEncrypted();
  struct ProgressObserver : Observer {
    std::mutex mu;
    std::vector<Progress> seen;
    void Log(LogLevel, std::string_view) noexcept override {}
    void OnProgress(const Progress& p) noexcept override {
      std::lock_guard<std::mutex> l(mu);
      seen.push_back(p);
    }
  } obs;
  auto ds = OpenWith(keys_.Ring("/k/a"));
  ASSERT_TRUE(Verify(*ds, std::nullopt, 2, &obs).ok());
  ASSERT_FALSE(obs.seen.empty());
  const Progress& v = obs.seen.back();
  EXPECT_EQ(v.phase, "verify");
  EXPECT_EQ(v.files, chunks_.size());
  EXPECT_EQ(v.total_files, std::optional<uint64_t>(chunks_.size()));
  EXPECT_GT(v.bytes, 500000u);  // the data and the metadata stream
  obs.seen.clear();
  ASSERT_TRUE(CollectGarbage(*ds, false, &obs).ok());
  std::set<std::string> phases;
  for (const auto& p : obs.seen) phases.insert(p.phase);
  EXPECT_EQ(phases, (std::set<std::string>{"gc-mark", "gc-sweep"}));
  for (const auto& p : obs.seen) {
    if (p.phase == "gc-mark") {
      EXPECT_EQ(p.total_files, std::optional<uint64_t>(1));
    }
    if (p.phase == "gc-sweep") {
      EXPECT_EQ(p.total_files, std::optional<uint64_t>(chunks_.size()));
    }
  }
  EXPECT_EQ(obs.seen.back().files, chunks_.size());
}

}  // namespace
}  // namespace ctdump::datastore
