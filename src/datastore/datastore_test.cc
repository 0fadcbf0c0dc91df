#include "datastore/datastore.h"

#include "datastore/datastore_test_fixture.h"

namespace ctdump::datastore {
namespace {

TEST(VolumeTest, FormatAndParse) {
  EXPECT_EQ(FormatVolume("101", 0), "ct/101/1970-01-01T00_00_00Z");
  EXPECT_EQ(FormatVolume("web-1.example", kT0), "ct/web-1.example/2025-11-26T08_22_59Z");
  for (int64_t t : {int64_t{0}, kT0, int64_t{4102444799}, int64_t{951782400}}) {
    std::string v = FormatVolume("ct_1", t);
    auto parsed = ParseVolume(v);
    ASSERT_TRUE(parsed.ok()) << v << ": " << parsed.status().ToString();
    EXPECT_EQ(parsed->vmid, "ct_1");
    EXPECT_EQ(parsed->time, t);
  }
  EXPECT_EQ(SnapshotPrefix("ct/1/2025-11-26T08_22_59Z"), "snapshots/ct/1/2025-11-26T08_22_59Z/");
  EXPECT_EQ(BackupLockName("101"), "locks/backup.101");
  Digest d = crypt::Sha256("x");
  EXPECT_EQ(ChunkObjectName(d), "chunks/" + d.Hex().substr(0, 4) + "/" + d.Hex());
}

TEST(VolumeTest, ParseRejects) {
  for (const char* bad : {
           "",
           "ct/",
           "ct//2025-11-26T08_22_59Z",
           "vm/101/2025-11-26T08_22_59Z",
           "101/2025-11-26T08_22_59Z",
           "/ct/101/2025-11-26T08_22_59Z",
           "ct/a/b/2025-11-26T08_22_59Z",
           "ct/a b/2025-11-26T08_22_59Z",
           "ct/../2025-11-26T08_22_59Z",
           "ct/101",
           "ct/101/",
           "ct/101/2025-11-26T08_22_59",
           "ct/101/2025-11-26T08:22:59Z",
           "ct/101/2025-11-26 08_22_59Z",
           "ct/101/2025-13-26T08_22_59Z",
           "ct/101/2025-02-30T08_22_59Z",
           "ct/101/2025-11-26T24_00_00Z",
           "ct/101/2025-11-26T08_22_59Z/",
           "ct/101/2025-11-26T08_22_59Zx",
           "ct/101/+025-11-26T08_22_59Z",
           "ct/101/ 2025-11-26T08_22_59Z",
           "ct/101/2025-1-026T08_22_59Z",
       }) {
    auto v = ParseVolume(bad);
    EXPECT_FALSE(v.ok()) << "'" << bad << "' parsed";
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), Code::kInvalidArgument);
      EXPECT_TRUE(Contains(v.status().message(), std::string("'") + bad + "'"))
          << v.status().message();
    }
  }
}

// ---------------------------------------------------------------------------
// Opening

TEST_F(DatastoreTest, OpenCreatesConfigAndReopenReadsIt) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  ASSERT_TRUE(Exists("config"));
  auto text = sys::ReadFile(PathOf("config"));
  ASSERT_TRUE(text.ok());
  auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["format"], "ctdump-datastore");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(ds->chunker_params().avg_size, ChunkerParams{}.avg_size);
  EXPECT_EQ(ds->name(), "datastore 'test'");
  EXPECT_EQ(*ds->CurrentKey(), nullptr);

  // Reopening keeps the config (its chunker parameters win over defaults).
  j["chunker"] = {{"min", 1024}, {"avg", 4096}, {"max", 16384}};
  ASSERT_TRUE(ds->backend().Put("config", j.dump()).ok());
  auto again = Open(TestKey(1));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->chunker_params().min_size, 1024u);
  EXPECT_EQ(again->chunker_params().avg_size, 4096u);
  EXPECT_EQ(again->chunker_params().max_size, 16384u);
  ASSERT_NE(*again->CurrentKey(), nullptr);
}

// `list` and the like on a directory that is no datastore must never turn it
// into one; a datastore is created only in an empty directory.
TEST_F(DatastoreTest, NoDatastoreIsWrittenIntoADirectoryHoldingOtherFiles) {
  auto open = [&](bool create) -> Result<std::unique_ptr<Datastore>> {
    ASSIGN_OR_RETURN(auto backend, objstore::OpenLocalBackend(root_));
    return Datastore::Open(std::move(backend), std::nullopt, "datastore 'test'", create);
  };
  // Empty (a file system's lost+found does not count): readers write nothing.
  ASSERT_TRUE(sys::MakeDirs(root_ + "/lost+found").ok());
  {
    auto ds = open(false);
    ASSERT_TRUE(ds.ok()) << ds.status().ToString();
    EXPECT_FALSE((*ds)->exists());
    EXPECT_TRUE((*ds)->ListSnapshots(std::nullopt, nullptr)->empty());
    auto v = Verify(**ds, std::nullopt, 2, nullptr);
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->ok());
    auto gc = CollectGarbage(**ds, false, nullptr);
    ASSERT_TRUE(gc.ok()) << gc.status().ToString();
    EXPECT_FALSE((*ds)->SetProtected(FormatVolume("1", kT0), true).ok());
    EXPECT_EQ(*(*ds)->backend().List(""), std::vector<std::string>{});
    EXPECT_FALSE(Exists("config"));
    // The first backup creates it.
    ASSERT_TRUE(Backup(**ds, "1", kT0, WorkerStream(SampleTree())).ok());
    EXPECT_TRUE((*ds)->exists());
    EXPECT_TRUE(Exists("config"));
  }
  ASSERT_TRUE(sys::RemoveTree(root_).ok());
  ASSERT_TRUE(sys::MakeDirs(root_).ok());
  // Someone else's files (whatever their names): refused, nothing written.
  for (const char* foreign : {"important.txt", "my notes", ".hidden"}) {
    SCOPED_TRACE(foreign);
    ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/" + foreign, "mine").ok());
    for (bool create : {false, true}) {
      auto ds = open(create);
      ASSERT_FALSE(ds.ok());
      EXPECT_EQ(ds.status().code(), Code::kFailedPrecondition) << ds.status().ToString();
      EXPECT_TRUE(Contains(ds.status().message(), "ctdump datastore create"))
          << ds.status().message();
      EXPECT_TRUE(Contains(ds.status().message(), root_)) << ds.status().message();
    }
    auto backend = objstore::OpenLocalBackend(root_);
    auto created = Datastore::Create(std::move(*backend), "datastore 'test'");
    EXPECT_EQ(created.status().code(), Code::kFailedPrecondition) << created.status().ToString();
    EXPECT_FALSE(Exists("config"));
    ASSERT_EQ(::unlink((root_ + "/" + foreign).c_str()), 0);
  }
  // `datastore create`: in an empty directory, once.
  auto fresh = objstore::OpenLocalBackend(root_);
  ASSERT_TRUE(fresh.ok());
  auto created = Datastore::Create(std::move(*fresh), "datastore 'test'");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE((*created)->exists());
  EXPECT_TRUE(Exists("config"));
  auto reopened = objstore::OpenLocalBackend(root_);
  ASSERT_TRUE(reopened.ok());
  auto again = Datastore::Create(std::move(*reopened), "datastore 'test'");
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists) << again.status().ToString();
  ASSERT_TRUE(open(false).ok());
  EXPECT_TRUE((*open(false))->exists());
}

TEST_F(DatastoreTest, OpenRejectsABadConfig) {
  ASSERT_NE(Open(), nullptr);
  struct Case {
    std::string content;
    Code code;
  };
  const Case cases[] = {
      {"garbage", Code::kDataLoss},
      {"{\"format\": \"other\", \"version\": 1}", Code::kDataLoss},
      {"{\"format\": \"ctdump-datastore\", \"version\": 2}", Code::kFailedPrecondition},
      {"{\"format\": \"ctdump-datastore\", \"version\": 1}", Code::kDataLoss},
      {"{\"format\": \"ctdump-datastore\", \"version\": 1, \"chunker\": "
       "{\"min\": 1000, \"avg\": 3000, \"max\": 9000}}",
       Code::kInvalidArgument},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.content);
    ASSERT_TRUE(sys::WriteFileAtomic(PathOf("config"), c.content).ok());
    auto ds = TryOpen();
    ASSERT_FALSE(ds.ok());
    EXPECT_EQ(ds.status().code(), c.code) << ds.status().ToString();
    if (c.code == Code::kDataLoss) {
      EXPECT_TRUE(Contains(ds.status().message(), "datastore 'test'")) << ds.status().message();
    }
  }
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf("config"), "garbage").ok());
  auto ds = TryOpen();
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(Contains(ds.status().message(), root_ + "/config")) << ds.status().message();
}

// ---------------------------------------------------------------------------
// Writing and reading

TEST_F(DatastoreTest, RoundTripInPieces) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  const std::vector<Node> tree = SampleTree();
  const std::string stream = WorkerStream(tree);
  uint64_t file_bytes = 0, stored = 0;
  for (const Node& n : tree) {
    if (!n.entry.is_regular()) continue;
    file_bytes += n.entry.size;
    stored += n.entry.data_length;
  }
  int64_t time = kT0;
  for (size_t piece : {size_t{1}, size_t{7}, size_t{65536}, stream.size()}) {
    SCOPED_TRACE(::testing::Message() << "pieces of " << piece);
    WriterStats stats;
    auto m = Backup(*ds, "101", ++time, stream, nullptr, piece, &stats);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const std::string volname = FormatVolume("101", time);
    EXPECT_EQ(m->vmid, "101");
    EXPECT_EQ(m->backup_time, time);
    EXPECT_EQ(m->guest_config, "hostname: ct101\n");
    EXPECT_FALSE(m->parent.has_value());
    EXPECT_FALSE(m->key_fingerprint.has_value());
    EXPECT_EQ(stats.entries, tree.size());
    EXPECT_EQ(stats.file_bytes, file_bytes);
    EXPECT_EQ(stats.read_bytes, stored);
    EXPECT_EQ(stats.reused_bytes, 0u);
    EXPECT_GT(stats.chunks, 0u);
    EXPECT_EQ(m->stats.value("entries", uint64_t{0}), tree.size());
    EXPECT_EQ(m->stats.value("bytes", uint64_t{0}), file_bytes);
    EXPECT_EQ(m->stats.value("data-bytes", uint64_t{0}), stored);
    if (piece == 1) {
      EXPECT_EQ(stats.new_chunks, stats.chunks);
      EXPECT_LT(stats.stored_bytes, stats.new_bytes);  // the text compressed
    } else {
      EXPECT_EQ(stats.new_chunks, 0u);  // the same stream again: all dedup
      EXPECT_EQ(stats.dedup_chunks, stats.chunks);
    }
    auto read = ds->ReadManifest(volname);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(EncodeManifest(*read), EncodeManifest(*m));
    ExpectTree(tree, ReadBack(*ds, volname));
  }
  auto list = ds->ListSnapshots("101", &observer_);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].name.time, kT0 + 1);
  EXPECT_EQ((*list)[3].name.time, kT0 + 4);
  EXPECT_EQ(ds->ListSnapshots("102", nullptr)->size(), 0u);
  EXPECT_EQ(ds->ListSnapshots(std::nullopt, nullptr)->size(), 4u);
  EXPECT_EQ(ds->ListSnapshots("bad/name", nullptr)->size(), 0u);
  auto report = Verify(*ds, std::nullopt, 2, nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
}

TEST_F(DatastoreTest, ReaderDestroyedWhilePrefetching) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  auto tree = TreeBuilder().Dir("").File("big", RandomBytes(6 << 20, 8)).Build();
  ASSERT_TRUE(Backup(*ds, "1", kT0, WorkerStream(tree)).ok());
  for (int i = 0; i < 20; ++i) {
    auto r = SnapshotReader::Open(*ds, FormatVolume("1", kT0));
    ASSERT_TRUE(r.ok());
    ASSERT_GT((*r)->data().index().size(), 8u);
    // A read at the start queues the next chunks; the reader goes away with
    // their decoding in flight.
    std::string got;
    ASSERT_TRUE((*r)->data()
                    .Read(i * 1000, 100,
                          [&](const char* d, size_t n) {
                            got.append(d, n);
                            return Status::OK();
                          })
                    .ok());
    EXPECT_EQ(got, tree[1].content.substr(i * 1000, 100));
  }
}

TEST_F(DatastoreTest, EmptyTreeAndEmptyStream) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  auto only_root = TreeBuilder().Dir("").Build();
  ASSERT_TRUE(Backup(*ds, "1", kT0, WorkerStream(only_root)).ok());
  ExpectTree(only_root, ReadBack(*ds, FormatVolume("1", kT0)));
  auto empty = Backup(*ds, "1", kT0 + 1, Frame(kFrameEnd, ""));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(ReadBack(*ds, FormatVolume("1", kT0 + 1)).empty());
}

TEST_F(DatastoreTest, SnapshotWithTheSameNameIsRefusedAndKept) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  const std::vector<Node> first = SampleTree();
  ASSERT_TRUE(Backup(*ds, "101", kT0, WorkerStream(first)).ok());
  auto other = TreeBuilder().Dir("").File("x", "other content").Build();
  auto again = Backup(*ds, "101", kT0, WorkerStream(other));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists) << again.status().ToString();
  // The writer aborted: the published snapshot must be untouched.
  ExpectTree(first, ReadBack(*ds, FormatVolume("101", kT0)));
  auto report = Verify(*ds, std::nullopt, 2, nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
}

TEST_F(DatastoreTest, IncrementalBackupReusesUnchangedFiles) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  const std::vector<Node> old_tree = ManyFilesTree(300, 1);
  ASSERT_TRUE(Backup(*ds, "200", kT0, WorkerStream(old_tree)).ok());
  const std::string parent_vol = FormatVolume("200", kT0);
  ExpectTree(old_tree, ReadBack(*ds, parent_vol));

  // The new tree: some files deleted, some changed, some added.
  std::vector<Node> tree;
  std::set<std::string> fresh;  // changed or added: sent with data
  for (size_t i = 0; i < old_tree.size(); ++i) {
    Node n = old_tree[i];
    if (i % 37 == 5) continue;  // deleted
    if (i % 61 == 7 && n.entry.is_regular()) {
      n.content = RandomBytes(n.content.size() + 100, 5000 + i);
      n.entry.size = n.entry.data_length = n.content.size();
      n.entry.mtime_sec += 10;
      fresh.insert(n.entry.path);
    }
    tree.push_back(n);
  }
  for (const char* added : {"f/0010a", "f/0200a", "g"}) {
    Node n;
    n.entry.path = added;
    n.entry.mode = S_IFREG | 0644;
    n.content = RandomBytes(12345, std::hash<std::string>()(added));
    n.entry.size = n.entry.data_length = n.content.size();
    tree.push_back(n);
    fresh.insert(added);
  }
  std::sort(tree.begin(), tree.end(),
            [](const Node& a, const Node& b) { return a.entry.path < b.entry.path; });

  auto parent = LoadParent(*ds, "200", &observer_);
  ASSERT_NE(parent, nullptr);
  EXPECT_EQ(parent->volname, parent_vol);
  auto parent_records = RecordsOf(*ds, parent_vol);
  std::map<std::string, Entry> unchanged;
  uint64_t reused = 0, read = 0, reused_files = 0;
  for (const Node& n : tree) {
    if (!n.entry.is_regular()) continue;
    if (fresh.count(n.entry.path)) {
      read += n.entry.data_length;
    } else {
      unchanged[n.entry.path] = parent_records.at(n.entry.path);
      reused += n.entry.data_length;
      ++reused_files;
    }
  }
  ASSERT_GT(unchanged.size(), 250u);

  WriterStats stats;
  auto m = Backup(*ds, "200", kT0 + 60, WorkerStream(tree, unchanged), parent, 4096, &stats);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->parent, parent_vol);
  const std::string vol = FormatVolume("200", kT0 + 60);
  ExpectTree(tree, ReadBack(*ds, vol));
  EXPECT_EQ(stats.reused_bytes, reused);
  EXPECT_EQ(stats.reused_files, reused_files);
  EXPECT_EQ(stats.read_bytes, read);
  EXPECT_GT(stats.reused_bytes, 4u << 20);
  // Only the new data and the (rewritten) metadata stream are new chunks.
  const uint64_t meta_bytes = m->stats.value("meta-bytes", uint64_t{0});
  EXPECT_GT(meta_bytes, 0u);
  EXPECT_LE(stats.new_bytes, read + meta_bytes);
  EXPECT_LT(stats.new_chunks, 20u);

  // A third backup from the second, with every regular file unchanged but
  // sent in reverse order: runs of reused chunks restart all the time.
  auto parent2 = LoadParent(*ds, "200", nullptr);
  ASSERT_NE(parent2, nullptr);
  EXPECT_EQ(parent2->volname, vol);
  auto records2 = RecordsOf(*ds, vol);
  std::vector<Node> reversed(tree.rbegin(), tree.rend());
  std::map<std::string, Entry> all_unchanged;
  for (const Node& n : reversed)
    if (n.entry.is_regular()) all_unchanged[n.entry.path] = records2.at(n.entry.path);
  WriterStats stats3;
  auto m3 =
      Backup(*ds, "200", kT0 + 120, WorkerStream(reversed, all_unchanged), parent2, 65536, &stats3);
  ASSERT_TRUE(m3.ok()) << m3.status().ToString();
  ExpectTree(reversed, ReadBack(*ds, FormatVolume("200", kT0 + 120)));
  EXPECT_EQ(stats3.read_bytes, 0u);
  EXPECT_EQ(stats3.reused_bytes, reused + read);
  auto report = Verify(*ds, std::nullopt, 2, nullptr);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  EXPECT_EQ(report->snapshots, 3u);
}

TEST_F(DatastoreTest, SameTreeUnderAnotherContainerDedups) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  const std::vector<Node> tree = SampleTree();
  const std::string stream = WorkerStream(tree);
  WriterStats first, second;
  ASSERT_TRUE(Backup(*ds, "301", kT0, stream, nullptr, 1 << 20, &first).ok());
  ASSERT_TRUE(Backup(*ds, "302", kT0, stream, nullptr, 12345, &second).ok());
  EXPECT_GT(first.new_bytes, 4u << 20);
  EXPECT_EQ(second.new_chunks, 0u);
  EXPECT_EQ(second.new_bytes, 0u);
  EXPECT_EQ(second.dedup_chunks, second.chunks);
  ExpectTree(tree, ReadBack(*ds, FormatVolume("302", kT0)));
  EXPECT_EQ(ChunksOf(*ds, FormatVolume("301", kT0)), ChunksOf(*ds, FormatVolume("302", kT0)));
}

TEST_F(DatastoreTest, ParentIsTheNewestReadableSnapshotOfTheContainer) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  auto tree = TreeBuilder().Dir("").File("f", TextBytes(1000)).Build();
  const std::string stream = WorkerStream(tree);
  EXPECT_EQ(LoadParent(*ds, "501", nullptr), nullptr);
  // Out of time order on purpose, and another container in between.
  for (int64_t t : {kT0 + 20, kT0, kT0 + 10}) ASSERT_TRUE(Backup(*ds, "501", t, stream).ok());
  ASSERT_TRUE(Backup(*ds, "5010", kT0 + 30, stream).ok());
  auto p = LoadParent(*ds, "501", nullptr);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->volname, FormatVolume("501", kT0 + 20));
  // A damaged newest manifest is passed over for the next one.
  const std::string manifest =
      root_ + "/" + SnapshotPrefix(FormatVolume("501", kT0 + 20)) + kManifestName;
  ASSERT_TRUE(sys::WriteFileAtomic(manifest, "garbage", 0600).ok());
  p = LoadParent(*ds, "501", nullptr);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->volname, FormatVolume("501", kT0 + 10));
  EXPECT_EQ(LoadParent(*ds, "bad/name", nullptr), nullptr);
}

TEST_F(DatastoreTest, EncryptedStore) {
  const crypt::Key key = TestKey(42);
  const std::vector<Node> tree = SampleTree();
  const std::string volname = FormatVolume("401", kT0);
  {
    auto ds = Open(key);
    ASSERT_NE(ds, nullptr);
    auto m = Backup(*ds, "401", kT0, WorkerStream(tree));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    ASSERT_TRUE(m->key_fingerprint.has_value());
    EXPECT_EQ(*m->key_fingerprint, crypt::FingerprintString(key.fingerprint()));
    ExpectTree(tree, ReadBack(*ds, volname));
    ASSERT_TRUE(ds->WriteNotes(volname, "secret notes").ok());
    EXPECT_EQ(*ds->ReadNotes(volname), std::optional<std::string>("secret notes"));
    // LoadParent finds it under the same key.
    auto parent = LoadParent(*ds, "401", nullptr);
    ASSERT_NE(parent, nullptr);
    auto report = Verify(*ds, std::nullopt, 2, nullptr);
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok()) << report->problems.front();
  }
  // No plaintext on disk: a piece of the random file would show if stored raw.
  const std::string needle = tree[2].content.substr(100000, 64);
  ASSERT_EQ(tree[2].entry.path, "bin/big");
  for (const auto& f : std::filesystem::recursive_directory_iterator(root_)) {
    if (!f.is_regular_file()) continue;
    auto content = sys::ReadFile(f.path());
    ASSERT_TRUE(content.ok());
    EXPECT_FALSE(Contains(*content, needle)) << f.path();
    EXPECT_FALSE(Contains(*content, "secret notes")) << f.path();
  }

  const std::string fp = crypt::FingerprintString(key.fingerprint());
  {
    auto ds = Open();
    ASSERT_NE(ds, nullptr);
    auto r = SnapshotReader::Open(*ds, volname);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
    EXPECT_TRUE(Contains(r.status().message(), fp)) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), "manifest")) << r.status().message();
    // Listed, marked unreadable with the reason; never a parent.
    RecordingObserver obs;
    auto list = ds->ListSnapshots(std::nullopt, &obs);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ((*list)[0].volname, volname);
    ASSERT_TRUE((*list)[0].unreadable.has_value());
    EXPECT_TRUE(Contains(*(*list)[0].unreadable, fp)) << *(*list)[0].unreadable;
    EXPECT_EQ(LoadParent(*ds, "401", nullptr), nullptr);
    auto chunk = ds->ReadChunk(*ChunksOf(*Open(key), volname).begin());
    ASSERT_FALSE(chunk.ok());
    EXPECT_EQ(chunk.status().code(), Code::kFailedPrecondition);
  }
  {
    const crypt::Key other = TestKey(43);
    auto ds = Open(other);
    ASSERT_NE(ds, nullptr);
    auto r = SnapshotReader::Open(*ds, volname);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
    EXPECT_TRUE(Contains(r.status().message(), fp)) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), crypt::FingerprintString(other.fingerprint())))
        << r.status().message();
    EXPECT_EQ(LoadParent(*ds, "401", nullptr), nullptr);
  }
}

// ---------------------------------------------------------------------------
// Malicious worker streams

TEST_F(DatastoreTest, LockIsExclusiveAndNamesItsHolder) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  auto first =
      ds->TakeLock(BackupLockName("1"), std::string("ct/1/2025-11-26T08_22_59Z"), &observer_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->object, "locks/backup.1");
  EXPECT_EQ(first->pid, ::getpid());
  EXPECT_EQ(first->host, HostName());
  EXPECT_GT(first->mtime_ns, 0);
  auto second = ds->TakeLock(BackupLockName("1"), std::nullopt, &observer_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
  EXPECT_TRUE(Contains(second.status().message(), std::to_string(::getpid())))
      << second.status().message();
  EXPECT_TRUE(Contains(second.status().message(), HostName())) << second.status().message();
  EXPECT_TRUE(Contains(second.status().message(), "locks/backup.1")) << second.status().message();
  // Another container's lock is independent.
  ASSERT_TRUE(ds->TakeLock(BackupLockName("10"), std::nullopt, &observer_).ok());
  auto locks = ds->ListLocks("locks/backup.");
  ASSERT_TRUE(locks.ok());
  ASSERT_EQ(locks->size(), 2u);
  EXPECT_EQ((*locks)[0].parent, std::optional<std::string>("ct/1/2025-11-26T08_22_59Z"));
  EXPECT_FALSE((*locks)[1].parent.has_value());
  EXPECT_EQ((*locks)[0].mtime_ns, first->mtime_ns);
  ASSERT_TRUE(ds->ReleaseLock(BackupLockName("1")).ok());
  ASSERT_TRUE(ds->ReleaseLock(BackupLockName("1")).ok());  // idempotent
  EXPECT_TRUE(ds->TakeLock(BackupLockName("1"), std::nullopt, &observer_).ok());
}

TEST_F(DatastoreTest, StaleLockOfADeadProcessIsTakenOver) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  nlohmann::json dead = {{"host", HostName()}, {"pid", child}};
  ASSERT_TRUE(ds->backend().Put(BackupLockName("1"), dead.dump()).ok());
  RecordingObserver obs;
  auto lock = ds->TakeLock(BackupLockName("1"), std::nullopt, &obs);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->pid, ::getpid());
  EXPECT_EQ(obs.warnings(), 1u);
  EXPECT_TRUE(Contains(obs.All(), std::to_string(child))) << obs.All();

  // A dead pid on another host may be alive there: not taken over.
  nlohmann::json remote = {{"host", "other-host.invalid"}, {"pid", child}};
  ASSERT_TRUE(ds->backend().Put(BackupLockName("2"), remote.dump()).ok());
  auto busy = ds->TakeLock(BackupLockName("2"), std::nullopt, &obs);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), Code::kUnavailable);
  EXPECT_TRUE(Contains(busy.status().message(), "other-host.invalid"));

  // An unreadable lock is reported, not overwritten.
  ASSERT_TRUE(ds->backend().Put(BackupLockName("3"), "not json").ok());
  auto junk = ds->TakeLock(BackupLockName("3"), std::nullopt, &obs);
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(junk.status().message(), "locks/backup.3"));
}

TEST_F(DatastoreTest, ProtectionNotesAndDelete) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  ASSERT_TRUE(Backup(*ds, "800", kT0, WorkerStream(TreeBuilder().Dir("").Build())).ok());
  const std::string vol = FormatVolume("800", kT0);

  EXPECT_EQ(*ds->ReadNotes(vol), std::nullopt);
  ASSERT_TRUE(ds->WriteNotes(vol, "first line\nsecond \xc3\xa9\n").ok());
  EXPECT_EQ(*ds->ReadNotes(vol), std::optional<std::string>("first line\nsecond \xc3\xa9\n"));
  ASSERT_TRUE(ds->WriteNotes(vol, "replaced").ok());
  EXPECT_EQ(*ds->ReadNotes(vol), std::optional<std::string>("replaced"));

  EXPECT_FALSE(*ds->IsProtected(vol));
  ASSERT_TRUE(ds->SetProtected(vol, true).ok());
  ASSERT_TRUE(ds->SetProtected(vol, true).ok());
  EXPECT_TRUE(*ds->IsProtected(vol));
  auto list = ds->ListSnapshots("800", nullptr);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].is_protected);
  EXPECT_EQ((*list)[0].notes, std::optional<std::string>("replaced"));

  Status s = ds->DeleteSnapshot(vol);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "protected")) << s.message();
  EXPECT_EQ(ds->ListSnapshots("800", nullptr)->size(), 1u);

  ASSERT_TRUE(ds->SetProtected(vol, false).ok());
  ASSERT_TRUE(ds->SetProtected(vol, false).ok());
  ASSERT_TRUE(ds->WriteNotes(vol, "").ok());  // empty notes remove them
  EXPECT_EQ(*ds->ReadNotes(vol), std::nullopt);
  ASSERT_TRUE(ds->WriteNotes(vol, "again").ok());
  ASSERT_TRUE(ds->DeleteSnapshot(vol).ok());
  EXPECT_TRUE(ds->ListSnapshots("800", nullptr)->empty());
  EXPECT_TRUE(ds->backend().List(SnapshotPrefix(vol))->empty());
  auto m = ds->ReadManifest(vol);
  EXPECT_EQ(m.status().code(), Code::kNotFound);
  EXPECT_TRUE(Contains(m.status().message(), vol)) << m.status().message();

  EXPECT_EQ(ds->DeleteSnapshot(vol).code(), Code::kNotFound);
  EXPECT_EQ(ds->DeleteSnapshot("ct/800/../x").code(), Code::kInvalidArgument);
  EXPECT_EQ(SnapshotReader::Open(*ds, vol).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace ctdump::datastore
