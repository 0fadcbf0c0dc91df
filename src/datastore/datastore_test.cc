#include "datastore/datastore.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "datastore/datastore_test_util.h"
#include "datastore/entry_format.h"
#include "datastore/maintenance.h"
#include "datastore/manifest_format.h"
#include "datastore/reader.h"
#include "datastore/writer.h"
#include "store/local_backend.h"
#include "sys/file.h"

namespace ctdump::datastore {
namespace {

using testing::EntryFrame;
using testing::ExpectSameEntry;
using testing::Frame;
using testing::Node;
using testing::RandomBytes;
using testing::RecordingObserver;
using testing::StoredBytes;
using testing::TestKey;
using testing::TextBytes;
using testing::TreeBuilder;
using testing::WorkerStream;

constexpr int64_t kT0 = 1764145379;  // 2025-11-26T08_22_59Z

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

// A file's data and metadata as a snapshot gives them back.
struct Restored {
  Entry entry;
  std::string with_holes;
  std::string stored;
};

// A tree with a bit of everything: big random and compressible files, an
// empty file, sparse files, links, devices, xattrs with binary values, ACLs.
std::vector<Node> SampleTree() {
  TreeBuilder t;
  t.Dir("").Xattr("user.root", "r").Acl("", "user::rwx\ngroup::r-x\nother::r-x\n");
  t.Dir("bin").File("bin/big", RandomBytes(3 << 20, 11), 0755);
  t.Hardlink("bin/big-link", "bin/big");
  t.File("bin/text", TextBytes(1536 * 1024, 3));
  t.Dir("dev").Special("dev/fifo", S_IFIFO | 0600);
  t.Special("dev/loop0", S_IFBLK | 0660, makedev(7, 0)).Owner(0, 6);
  t.Special("dev/null", S_IFCHR | 0666, makedev(1, 3));
  t.Special("dev/sock", S_IFSOCK | 0755);
  t.Dir("etc").File("etc/empty", "");
  t.File("etc/hostname", "ct101\n")
      .Xattr("security.selinux", "system_u:object_r:etc_t:s0")
      .Xattr("user.bin", std::string("\0\xff\x01", 3))
      .Acl("user::rw-\nuser:1000:rw-:1000\ngroup::r--\nmask::rw-\nother::r--\n");
  t.Symlink("etc/localtime", "/usr/share/zoneinfo/UTC");
  t.File("etc/sp ace\t\xc3\xa9", "odd name\n");
  t.Dir("var").Dir("var/lib").Dir("var/lib/deep");
  t.Sparse("var/lib/deep/holes-only", 1 << 20, {{1 << 20, 0}}, 0);
  t.File("var/lib/deep/small", RandomBytes(5000, 5)).Owner(0, 0);
  t.Sparse("var/lib/deep/sparse.img", 4 << 20,
           {{0, 1000}, {1000, 24}, {1 << 20, 70000}, {(4 << 20) - 10, 10}}, 21);
  t.Dir("var/lib/empty-dir", 0700);
  return t.Build();
}

// `count` small random files below "f/", then a big one and a sparse one.
std::vector<Node> ManyFilesTree(int count, uint64_t seed) {
  TreeBuilder t;
  t.Dir("").Dir("f");
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "f/%04d", i);
    size_t size = i % 50 == 0 ? 0 : rng() % 20000;
    t.File(name, RandomBytes(size, seed * 1000 + i));
  }
  t.File("z-big", RandomBytes(2 << 20, seed + 7));
  t.Sparse("z-sparse", 3 << 20, {{4096, 8192}, {2 << 20, 100000}}, seed + 9);
  return t.Build();
}

class DatastoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = sys::MakeTempDir("/tmp/ctdump-datastore-test.");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = *dir;
    root_ = dir_ + "/store";
    ASSERT_TRUE(sys::MakeDirs(root_).ok());
  }
  void TearDown() override { EXPECT_TRUE(sys::RemoveTree(dir_).ok()); }

  Result<std::unique_ptr<Datastore>> TryOpen(std::optional<crypt::Key> key = std::nullopt) {
    ASSIGN_OR_RETURN(auto backend, store::OpenLocalBackend(root_));
    return Datastore::Open(std::move(backend), std::move(key), "datastore 'test'");
  }
  std::unique_ptr<Datastore> Open(std::optional<crypt::Key> key = std::nullopt) {
    auto ds = TryOpen(std::move(key));
    EXPECT_TRUE(ds.ok()) << ds.status().ToString();
    return ds.ok() ? std::move(*ds) : nullptr;
  }

  // Backs `stream` up as <vmid> at <time>, fed in pieces of `piece` bytes.
  // Aborts on failure, as the caller of a writer must.
  Result<Manifest> Backup(Datastore& ds, const std::string& vmid, int64_t time,
                          std::string_view stream,
                          std::shared_ptr<const ParentSnapshot> parent = nullptr,
                          size_t piece = std::numeric_limits<size_t>::max(),
                          WriterStats* stats = nullptr) {
    WriterOptions o;
    o.volname = FormatVolume(vmid, time);
    o.vmid = vmid;
    o.backup_time = time;
    o.guest_config = "hostname: ct" + vmid + "\n";
    o.threads = 2;
    ASSIGN_OR_RETURN(auto w, SnapshotWriter::Create(ds, o, std::move(parent), &observer_));
    Status s;
    for (size_t pos = 0; pos < stream.size() && s.ok(); pos += piece)
      s = w->Feed(stream.data() + pos, std::min(piece, stream.size() - pos));
    Result<Manifest> m = s.ok() ? w->Finish() : Result<Manifest>(s);
    if (!m.ok()) w->Abort();
    if (stats) *stats = w->stats();
    return m;
  }

  // Every record of a snapshot and the data of its regular files.
  std::vector<Restored> ReadBack(Datastore& ds, const std::string& volname) {
    std::vector<Restored> out;
    auto r = SnapshotReader::Open(ds, volname);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    Status s = (*r)->ForEachEntry([&](const Entry& e) {
      out.push_back(Restored{e, {}, {}});
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    for (Restored& f : out) {
      if (!f.entry.is_regular()) continue;
      for (bool holes : {true, false}) {
        std::string* dst = holes ? &f.with_holes : &f.stored;
        Status rs = (*r)->ReadFile(f.entry, holes, [dst](const char* d, size_t n) {
          dst->append(d, n);
          return Status::OK();
        });
        EXPECT_TRUE(rs.ok()) << f.entry.path << ": " << rs.ToString();
      }
    }
    return out;
  }

  void ExpectTree(const std::vector<Node>& tree, const std::vector<Restored>& got) {
    ASSERT_EQ(tree.size(), got.size());
    for (size_t i = 0; i < tree.size(); ++i) {
      ExpectSameEntry(tree[i].entry, got[i].entry);
      if (!tree[i].entry.is_regular()) continue;
      // EXPECT_TRUE, not EXPECT_EQ: a mismatch would print megabytes.
      EXPECT_TRUE(got[i].with_holes == tree[i].content)
          << tree[i].entry.path << ": " << got[i].with_holes.size() << " bytes restored, "
          << tree[i].content.size() << " expected";
      EXPECT_TRUE(got[i].stored == StoredBytes(tree[i])) << tree[i].entry.path;
    }
  }

  // The records of a snapshot by path (no file data read).
  std::map<std::string, Entry> RecordsOf(Datastore& ds, const std::string& volname) {
    std::map<std::string, Entry> out;
    auto r = SnapshotReader::Open(ds, volname);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return out;
    Status s = (*r)->ForEachEntry([&](const Entry& e) {
      out[e.path] = e;
      return Status::OK();
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // The chunks a snapshot references.
  std::set<Digest> ChunksOf(Datastore& ds, const std::string& volname) {
    std::set<Digest> out;
    auto m = ds.ReadManifest(volname);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (!m.ok()) return out;
    for (const char* file : {kMetaIndexName, kDataIndexName}) {
      auto index = ds.ReadIndex(volname, *m, file);
      EXPECT_TRUE(index.ok()) << index.status().ToString();
      if (index.ok())
        for (const auto& e : *index) out.insert(e.digest);
    }
    return out;
  }

  std::string PathOf(const std::string& object) { return root_ + "/" + object; }
  bool Exists(const std::string& object) { return sys::PathExists(PathOf(object)); }

  // Sets the mtime of an object, or of every file below a directory.
  void SetMtime(const std::string& object, int64_t when) {
    struct timespec ts[2] = {{when, 0}, {when, 0}};
    std::string path = PathOf(object);
    if (sys::IsDirectory(path)) {
      for (const auto& f : std::filesystem::recursive_directory_iterator(path)) {
        if (f.is_regular_file()) {
          ASSERT_EQ(::utimensat(AT_FDCWD, f.path().c_str(), ts, 0), 0) << f.path();
        }
      }
      return;
    }
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), ts, 0), 0) << path;
  }

  // The chunk that holds byte `at` of `file` in `volname`'s data stream.
  Digest ChunkOfFile(Datastore& ds, const std::string& volname, const std::string& file,
                     uint64_t at) {
    auto records = RecordsOf(ds, volname);
    const Entry& e = records.at(file);
    auto r = SnapshotReader::Open(ds, volname);
    EXPECT_TRUE(r.ok());
    const auto& index = (*r)->data().index();
    uint64_t off = e.data_offset + at;
    auto it = std::upper_bound(index.begin(), index.end(), off,
                               [](uint64_t v, const IndexEntry& x) { return v < x.end; });
    EXPECT_NE(it, index.end());
    return it->digest;
  }

  Status ReadWholeFile(Datastore& ds, const std::string& volname, const std::string& file) {
    auto records = RecordsOf(ds, volname);
    ASSIGN_OR_RETURN(auto r, SnapshotReader::Open(ds, volname));
    return r->ReadFile(records.at(file), true, [](const char*, size_t) { return Status::OK(); });
  }

  std::string dir_;
  std::string root_;
  RecordingObserver observer_;
};

// ---------------------------------------------------------------------------
// Names

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
  EXPECT_EQ(ds->key(), nullptr);

  // Reopening keeps the config (its chunker parameters win over defaults).
  j["chunker"] = {{"min", 1024}, {"avg", 4096}, {"max", 16384}};
  ASSERT_TRUE(ds->backend().Put("config", j.dump()).ok());
  auto again = Open(TestKey(1));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->chunker_params().min_size, 1024u);
  EXPECT_EQ(again->chunker_params().avg_size, 4096u);
  EXPECT_EQ(again->chunker_params().max_size, 16384u);
  ASSERT_NE(again->key(), nullptr);
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

struct BadStream {
  const char* name;
  std::function<std::string(const Manifest& parent_data)> make;
  const char* problem;
  bool with_parent = false;
};

Entry Dir(const std::string& path) {
  Entry e;
  e.path = path;
  e.mode = S_IFDIR | 0755;
  return e;
}

Entry File(const std::string& path, uint64_t size) {
  Entry e;
  e.path = path;
  e.mode = S_IFREG | 0644;
  e.size = e.data_length = size;
  return e;
}

std::string Z() { return Frame(kFrameEnd, ""); }
std::string D(size_t n) { return Frame(kFrameData, std::string(n, 'd')); }

std::string RawHeader(uint8_t type, uint32_t len) {
  std::string out(1, static_cast<char>(type));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(len >> (8 * i)));
  return out;
}

std::vector<BadStream> BadStreams() {
  auto root = EntryFrame(Dir(""));
  std::vector<BadStream> cases = {
      {"dotdot path", [=](auto&) { return root + EntryFrame(Dir("../x")) + Z(); }, "'../x'"},
      {"dotdot inside", [=](auto&) { return root + EntryFrame(Dir("a/../../x")) + Z(); },
       "bad path"},
      {"absolute path", [=](auto&) { return root + EntryFrame(Dir("/abs")) + Z(); }, "'/abs'"},
      {"empty component", [=](auto&) { return root + EntryFrame(Dir("a//b")) + Z(); }, "'a//b'"},
      {"dot component", [=](auto&) { return root + EntryFrame(Dir("a/./b")) + Z(); }, "bad path"},
      {"trailing slash", [=](auto&) { return root + EntryFrame(Dir("a/")) + Z(); }, "bad path"},
      {"lone dot", [=](auto&) { return root + EntryFrame(Dir(".")) + Z(); }, "bad path"},
      {"NUL in a path", [=](auto&) { return root + EntryFrame(Dir(std::string("a\0b", 3))) + Z(); },
       "bad path"},
      {"hardlink escaping the tree",
       [=](auto&) {
         Entry e = File("h", 0);
         e.flags = kEntryHardlink;
         e.link = "../../etc/shadow";
         return root + EntryFrame(e) + Z();
       },
       "hardlink"},
      {"hardlink without a target",
       [=](auto&) {
         Entry e = File("h", 0);
         e.flags = kEntryHardlink;
         return root + EntryFrame(e) + Z();
       },
       "hardlink"},
      {"more data than announced",
       [=](auto&) { return root + EntryFrame(File("f", 10)) + D(6) + D(5) + Z(); },
       "more file data"},
      {"data without a file", [=](auto&) { return root + D(1) + Z(); }, "more file data"},
      {"data for a symlink",
       [=](auto&) {
         Entry e;
         e.path = "l";
         e.mode = S_IFLNK | 0777;
         e.link = "target";
         e.data_length = 5;
         return root + EntryFrame(e) + D(5) + Z();
       },
       "not a regular file"},
      {"data frame after a symlink",
       [=](auto&) {
         Entry e;
         e.path = "l";
         e.mode = S_IFLNK | 0777;
         e.link = "target";
         return root + EntryFrame(e) + D(5) + Z();
       },
       "more file data"},
      {"sparse map on a directory",
       [=](auto&) {
         Entry e = Dir("d");
         e.size = 10;
         e.sparse = {{0, 0}};
         return root + EntryFrame(e) + Z();
       },
       "not a regular file"},
      {"data length differs from size",
       [=](auto&) {
         Entry e = File("f", 10);
         e.data_length = 5;
         return root + EntryFrame(e) + D(5) + Z();
       },
       "does not match its size"},
      {"unchanged without a parent",
       [=](auto&) {
         Entry e = File("f", 10);
         e.flags = kEntryUnchanged;
         return root + EntryFrame(e) + Z();
       },
       "no parent"},
      {"unchanged beyond the parent",
       [=](const Manifest& p) {
         Entry e = File("f", 10);
         e.flags = kEntryUnchanged;
         e.data_offset = p.stats.value("data-bytes", uint64_t{0}) - 5;
         return root + EntryFrame(e) + Z();
       },
       "outside the parent", true},
      {"unchanged far beyond the parent",
       [=](const Manifest&) {
         Entry e = File("f", 1ull << 62);
         e.flags = kEntryUnchanged;
         e.data_offset = 1ull << 62;
         return root + EntryFrame(e) + Z();
       },
       "outside the parent", true},
      {"unchanged directory",
       [=](const Manifest&) {
         Entry e = Dir("d");
         e.flags = kEntryUnchanged;
         return root + EntryFrame(e) + Z();
       },
       "not a regular file", true},
      {"unknown frame type", [=](auto&) { return root + Frame('Q', "") + Z(); },
       "unknown frame type"},
      {"oversized data frame",
       [=](auto&) { return root + EntryFrame(File("f", 2 << 20)) + RawHeader('D', (1 << 20) + 1); },
       "oversized"},
      {"oversized record frame",
       [=](auto&) { return root + RawHeader('E', static_cast<uint32_t>(kMaxRecordSize + 5)); },
       "oversized"},
      {"oversized unknown frame", [=](auto&) { return root + RawHeader('Q', 0xffffffffu); },
       "oversized"},
      {"record before the data ended",
       [=](auto&) { return root + EntryFrame(File("f", 10)) + D(5) + EntryFrame(Dir("d")) + Z(); },
       "before the previous file's data ended"},
      {"record shorter than its frame",
       [=](auto&) {
         std::string rec;
         EncodeEntry(Dir("d"), &rec);
         return root + Frame(kFrameEntry, rec + "x") + Z();
       },
       "does not match its frame"},
      {"record longer than its frame",
       [=](auto&) {
         std::string rec;
         EncodeEntry(Dir("d"), &rec);
         return root + Frame(kFrameEntry, rec.substr(0, rec.size() - 1)) + Z();
       },
       "does not match its frame"},
      {"garbage record",
       [=](auto&) { return root + Frame(kFrameEntry, std::string("\x05\0\0\0garbage", 11)) + Z(); },
       "out of range"},
      {"bad timestamp",
       [=](auto&) {
         Entry e = Dir("d");
         e.mtime_nsec = 1'000'000'000;
         return root + EntryFrame(e) + Z();
       },
       "timestamp"},
      {"end inside a file's data",
       [=](auto&) { return root + EntryFrame(File("f", 10)) + D(5) + Z(); },
       "ended inside a file's data"},
      {"no end frame", [=](auto&) { return root + EntryFrame(File("f", 3)) + D(3); },
       "without its end frame"},
      {"cut inside a frame",
       [=](auto&) { return root + EntryFrame(File("f", 3)) + D(3).substr(0, 6); },
       "without its end frame"},
      {"frames after the end", [=](auto&) { return root + Z() + EntryFrame(Dir("d")); },
       "after the end"},
  };
  return cases;
}

TEST_F(DatastoreTest, MaliciousWorkerStreamsAreRejected) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  const auto parent_tree = TreeBuilder().Dir("").File("f", RandomBytes(100000, 1)).Build();
  auto parent_m = Backup(*ds, "666", kT0, WorkerStream(parent_tree));
  ASSERT_TRUE(parent_m.ok()) << parent_m.status().ToString();
  auto parent = LoadParent(*ds, "666", nullptr);
  ASSERT_NE(parent, nullptr);
  int64_t time = kT0;
  for (const BadStream& c : BadStreams()) {
    SCOPED_TRACE(c.name);
    const std::string stream = c.make(*parent_m);
    for (size_t piece : {size_t{1}, stream.size()}) {
      const std::string volname = FormatVolume("666", ++time);
      auto m = Backup(*ds, "666", time, stream, c.with_parent ? parent : nullptr, piece);
      ASSERT_FALSE(m.ok()) << "accepted";
      EXPECT_EQ(m.status().code(), Code::kDataLoss) << m.status().ToString();
      EXPECT_TRUE(Contains(m.status().message(), "backup worker")) << m.status().message();
      EXPECT_TRUE(Contains(m.status().message(), c.problem)) << m.status().message();
      auto objects = ds->backend().List(SnapshotPrefix(volname));
      ASSERT_TRUE(objects.ok());
      EXPECT_TRUE(objects->empty()) << objects->front();
    }
  }
  auto list = ds->ListSnapshots("666", nullptr);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].volname, FormatVolume("666", kT0));
}

TEST_F(DatastoreTest, WorkerErrorWithChunksInFlight) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  // Megabytes of data, then garbage: the writer fails and goes away while
  // its upload thread still works on the chunks cut so far (slow zstd keeps
  // the queue full).
  auto tree = TreeBuilder().Dir("").File("big", RandomBytes(4 << 20, 3)).Build();
  const std::string stream = WorkerStream(tree, {}, kMaxFrameSize, /*end=*/false) + Frame('Q', "");
  for (int i = 0; i < 3; ++i) {
    WriterOptions o;
    o.volname = FormatVolume("9", kT0 + i);
    o.vmid = "9";
    o.backup_time = kT0 + i;
    o.threads = 1;
    o.zstd_level = 19;
    auto w = SnapshotWriter::Create(*ds, o, nullptr, nullptr);
    ASSERT_TRUE(w.ok());
    Status s = (*w)->Feed(stream.data(), stream.size());
    EXPECT_TRUE(Contains(s.message(), "unknown frame type")) << s.ToString();
    (*w)->Abort();
  }
  EXPECT_TRUE(ds->backend().List("snapshots/")->empty());
}

TEST_F(DatastoreTest, AbortAfterFinishFailedLeavesNothing) {
  auto ds = Open();
  ASSERT_NE(ds, nullptr);
  // A stream with an error only Finish sees; Abort must leave nothing behind
  // (not even the indexes), and a second Feed keeps failing.
  WriterOptions o;
  o.volname = FormatVolume("7", kT0);
  o.vmid = "7";
  o.backup_time = kT0;
  o.threads = 1;
  auto w = SnapshotWriter::Create(*ds, o, nullptr, nullptr);
  ASSERT_TRUE(w.ok());
  std::string stream =
      WorkerStream(TreeBuilder().Dir("").File("a", "x").Build(), {}, kMaxFrameSize, /*end=*/false);
  ASSERT_TRUE((*w)->Feed(stream.data(), stream.size()).ok());
  EXPECT_FALSE((*w)->Finish().ok());
  (*w)->Abort();
  EXPECT_TRUE(ds->backend().List("snapshots/")->empty());
  EXPECT_TRUE(ds->ListSnapshots(std::nullopt, nullptr)->empty());
  Status bad = (*w)->Feed("Q\0\0\0\0", 5);
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE((*w)->Feed("Z\0\0\0\0", 5).ok());  // the first error sticks
}

// ---------------------------------------------------------------------------
// Verify

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

TEST_F(VerifyTest, CleanStore) {
  VerifyReport report = RunVerify();
  EXPECT_TRUE(report.ok()) << report.problems.front();
  EXPECT_EQ(report.snapshots, 2u);
  EXPECT_GT(report.chunks, 10u);
  EXPECT_GT(report.chunk_bytes, 4u << 20);
  EXPECT_GT(report.logical_bytes, 9u << 20);
  EXPECT_TRUE(report.damaged_snapshots.empty());
  VerifyReport one = RunVerify(vol_);
  EXPECT_TRUE(one.ok());
  EXPECT_EQ(one.snapshots, 1u);
  EXPECT_EQ(one.chunks, ChunksOf(*ds_, vol_).size());
}

TEST_F(VerifyTest, FlippedByteInAChunk) {
  auto blob = sys::ReadFile(PathOf(chunk_object_));
  ASSERT_TRUE(blob.ok());
  std::string bad = *blob;
  bad[bad.size() - 100] ^= 0x10;
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(chunk_object_), bad).ok());
  ExpectChunkDamageReported("damaged");
}

TEST_F(VerifyTest, TruncatedChunk) {
  ASSERT_EQ(::truncate(PathOf(chunk_object_).c_str(), 1000), 0);
  ExpectChunkDamageReported("damaged");
}

TEST_F(VerifyTest, MissingChunk) {
  ASSERT_TRUE(ds_->backend().Delete(chunk_object_).ok());
  ExpectChunkDamageReported("missing");
}

TEST_F(VerifyTest, DamagedIndex) {
  const std::string object = SnapshotPrefix(vol_) + kDataIndexName;
  auto blob = sys::ReadFile(PathOf(object));
  ASSERT_TRUE(blob.ok());
  std::string bad = *blob;
  bad.back() ^= 1;
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), bad).ok());
  VerifyReport report = RunVerify();
  ASSERT_FALSE(report.ok());
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(Contains(report.problems[0], object)) << report.problems[0];
  EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
  auto r = SnapshotReader::Open(*ds_, vol_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(r.status().message(), object)) << r.status().message();
  // An index swapped for another snapshot's is caught by the manifest's digest.
  auto other = sys::ReadFile(PathOf(SnapshotPrefix(other_vol_) + kDataIndexName));
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), *other).ok());
  auto swapped = SnapshotReader::Open(*ds_, vol_);
  ASSERT_FALSE(swapped.ok());
  EXPECT_TRUE(Contains(swapped.status().message(), object)) << swapped.status().message();
  // A missing index.
  ASSERT_TRUE(ds_->backend().Delete(object).ok());
  report = RunVerify();
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(Contains(report.problems[0], object)) << report.problems[0];
  EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
}

TEST_F(VerifyTest, DamagedManifest) {
  const std::string object = SnapshotPrefix(vol_) + kManifestName;
  auto blob = sys::ReadFile(PathOf(object));
  ASSERT_TRUE(blob.ok());
  std::string bad = *blob;
  bad[bad.size() / 2] ^= 0x20;
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), bad).ok());
  VerifyReport report = RunVerify();
  ASSERT_FALSE(report.ok());
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_TRUE(Contains(report.problems[0], object)) << report.problems[0];
  EXPECT_EQ(report.damaged_snapshots, std::vector<std::string>{vol_});
  RecordingObserver obs;
  auto list = ds_->ListSnapshots(std::nullopt, &obs);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].volname, other_vol_);
  EXPECT_TRUE(Contains(obs.All(), object)) << obs.All();
  // A manifest moved to another snapshot's place names another backup.
  auto other = sys::ReadFile(PathOf(SnapshotPrefix(other_vol_) + kManifestName));
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(object), *other).ok());
  auto m = ds_->ReadManifest(vol_);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(m.status().message(), "another backup")) << m.status().message();
}

// ---------------------------------------------------------------------------
// Garbage collection

class GcTest : public DatastoreTest {
 protected:
  void SetUp() override {
    DatastoreTest::SetUp();
    ds_ = Open();
    ASSERT_NE(ds_, nullptr);
    const std::string shared = RandomBytes(300000, 3);
    tree1_ = TreeBuilder().Dir("").File("a", RandomBytes(1 << 20, 1)).File("s", shared).Build();
    tree2_ = TreeBuilder().Dir("").File("b", RandomBytes(1 << 20, 2)).File("s", shared).Build();
    ASSERT_TRUE(Backup(*ds_, "600", kT0, WorkerStream(tree1_)).ok());
    ASSERT_TRUE(Backup(*ds_, "600", kT0 + 1, WorkerStream(tree2_)).ok());
    vol1_ = FormatVolume("600", kT0);
    vol2_ = FormatVolume("600", kT0 + 1);
    chunks1_ = ChunksOf(*ds_, vol1_);
    chunks2_ = ChunksOf(*ds_, vol2_);
    for (const Digest& d : chunks1_)
      if (!chunks2_.count(d)) only1_.insert(d);
    ASSERT_GT(only1_.size(), 2u);
    now_ = std::time(nullptr);
  }

  GcReport RunGc(bool dry_run = false) {
    auto r = CollectGarbage(*ds_, dry_run, &observer_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : GcReport{};
  }

  size_t Present(const std::set<Digest>& chunks) {
    size_t n = 0;
    for (const Digest& d : chunks) n += Exists(ChunkObjectName(d));
    return n;
  }

  std::unique_ptr<Datastore> ds_;
  std::vector<Node> tree1_, tree2_;
  std::string vol1_, vol2_;
  std::set<Digest> chunks1_, chunks2_, only1_;
  int64_t now_ = 0;
};

TEST_F(GcTest, KeepsEverythingReferenced) {
  SetMtime("chunks", now_ - 2 * 86400);
  GcReport report = RunGc();
  EXPECT_EQ(report.removed, 0u);
  EXPECT_EQ(report.chunks, report.marked);
  EXPECT_EQ(report.marked, (chunks1_.size() + chunks2_.size() - (chunks1_.size() - only1_.size())));
  EXPECT_EQ(Present(chunks1_), chunks1_.size());
  EXPECT_EQ(Present(chunks2_), chunks2_.size());
}

TEST_F(GcTest, RemovesOnlyOldUnreferencedChunks) {
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());
  EXPECT_TRUE(ds_->backend().List(SnapshotPrefix(vol1_))->empty());

  // Everything is younger than gc's start: nothing goes.
  GcReport recent = RunGc();
  EXPECT_EQ(recent.removed, 0u);
  EXPECT_EQ(recent.kept_recent, only1_.size());
  EXPECT_EQ(Present(only1_), only1_.size());

  SetMtime("chunks", now_ - 2 * 86400);
  GcReport dry = RunGc(/*dry_run=*/true);
  EXPECT_EQ(dry.removed, only1_.size());
  EXPECT_GT(dry.removed_bytes, 1u << 20);
  EXPECT_EQ(Present(only1_), only1_.size());

  GcReport report = RunGc();
  EXPECT_EQ(report.removed, only1_.size());
  EXPECT_EQ(report.marked, chunks2_.size());
  EXPECT_EQ(Present(only1_), 0u);
  EXPECT_EQ(Present(chunks2_), chunks2_.size());
  ExpectTree(tree2_, ReadBack(*ds_, vol2_));
  auto verify = Verify(*ds_, std::nullopt, 2, nullptr);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << verify->problems.front();
  EXPECT_EQ(verify->chunks, chunks2_.size());
  EXPECT_FALSE(Exists(kGcLockName));
}

TEST_F(GcTest, ARunningBackupProtectsItsParentAndLowersTheCutoff) {
  auto lock = ds_->TakeLock(BackupLockName("600"), vol1_, &observer_);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  EXPECT_EQ(lock->parent, vol1_);
  // The parent of a running backup cannot be deleted.
  Status del = ds_->DeleteSnapshot(vol1_);
  EXPECT_EQ(del.code(), Code::kFailedPrecondition) << del.ToString();
  EXPECT_TRUE(Contains(del.message(), vol1_)) << del.message();
  ASSERT_TRUE(ds_->ReleaseLock(lock->object).ok());
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());

  // A backup (of another container) that started two hours ago: chunks an
  // hour old may be ones it relies on.
  auto other = ds_->TakeLock(BackupLockName("601"), std::nullopt, &observer_);
  ASSERT_TRUE(other.ok());
  SetMtime(other->object, now_ - 7200);
  SetMtime("chunks", now_ - 3600);
  GcReport report = RunGc();
  EXPECT_EQ(report.removed, 0u);
  EXPECT_EQ(report.kept_recent, only1_.size());
  EXPECT_EQ(Present(only1_), only1_.size());
  ASSERT_TRUE(ds_->ReleaseLock(other->object).ok());
  report = RunGc();
  EXPECT_EQ(report.removed, only1_.size());
  EXPECT_EQ(Present(chunks2_), chunks2_.size());
}

TEST_F(GcTest, UnreadableParentOfARunningBackupStopsGc) {
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());
  SetMtime("chunks", now_ - 2 * 86400);
  // A lock naming a parent that cannot be read (here: already gone).
  nlohmann::json lock = {{"host", HostName()}, {"pid", ::getpid()}, {"parent", vol1_}};
  ASSERT_TRUE(ds_->backend().Put(BackupLockName("600"), lock.dump()).ok());
  auto r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(r.status().message(), vol1_)) << r.status().message();
  EXPECT_EQ(Present(only1_), only1_.size());
  EXPECT_FALSE(Exists(kGcLockName));
}

TEST_F(GcTest, DamagedManifestStopsGc) {
  ASSERT_TRUE(ds_->DeleteSnapshot(vol1_).ok());
  SetMtime("chunks", now_ - 2 * 86400);
  ASSERT_TRUE(sys::WriteFileAtomic(PathOf(SnapshotPrefix(vol2_) + kManifestName), "junk").ok());
  auto r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Contains(r.status().message(), vol2_)) << r.status().message();
  EXPECT_EQ(Present(chunks1_), chunks1_.size());
  EXPECT_EQ(Present(chunks2_), chunks2_.size());
}

TEST_F(GcTest, RemovesOldLeftoversOfKilledBackups) {
  const std::string old_vol = FormatVolume("700", kT0 - 86400);
  const std::string new_vol = FormatVolume("701", kT0 - 86400);
  const std::string busy_vol = FormatVolume("702", kT0 - 86400);
  for (const std::string& v : {old_vol, new_vol, busy_vol}) {
    ASSERT_TRUE(ds_->backend().Put(SnapshotPrefix(v) + kMetaIndexName, "x").ok());
    ASSERT_TRUE(ds_->backend().Put(SnapshotPrefix(v) + kDataIndexName, "y").ok());
  }
  SetMtime("snapshots/" + old_vol, now_ - 86400);
  SetMtime("snapshots/" + busy_vol, now_ - 86400);
  auto lock = ds_->TakeLock(BackupLockName("702"), std::nullopt, &observer_);
  ASSERT_TRUE(lock.ok());
  GcReport dry = RunGc(true);
  EXPECT_EQ(dry.leftovers_removed, 2u);
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(old_vol))->size(), 2u);
  GcReport report = RunGc();
  EXPECT_EQ(report.leftovers_removed, 2u);
  EXPECT_TRUE(ds_->backend().List(SnapshotPrefix(old_vol))->empty());
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(new_vol))->size(), 2u);   // too recent
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(busy_vol))->size(), 2u);  // backup running
  // Published snapshots, with their notes and protection, are no leftovers.
  ASSERT_TRUE(ds_->WriteNotes(vol1_, "keep").ok());
  ASSERT_TRUE(ds_->SetProtected(vol1_, true).ok());
  SetMtime("snapshots", now_ - 86400);
  ASSERT_TRUE(ds_->ReleaseLock(lock->object).ok());
  report = RunGc();
  EXPECT_EQ(report.leftovers_removed, 4u);  // new_vol's (now old) and busy_vol's
  EXPECT_TRUE(ds_->backend().List("snapshots/ct/70")->empty());
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(vol1_))->size(), 5u);
  EXPECT_EQ(ds_->backend().List(SnapshotPrefix(vol2_))->size(), 3u);
}

TEST_F(GcTest, OneGcAtATime) {
  auto held = ds_->TakeLock(kGcLockName, std::nullopt, &observer_);
  ASSERT_TRUE(held.ok());
  auto r = CollectGarbage(*ds_, false, &observer_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_TRUE(Contains(r.status().message(), kGcLockName)) << r.status().message();
  EXPECT_TRUE(Exists(kGcLockName));  // the failed gc did not release the other's lock
  ASSERT_TRUE(ds_->ReleaseLock(kGcLockName).ok());
  EXPECT_TRUE(CollectGarbage(*ds_, false, &observer_).ok());
}

// ---------------------------------------------------------------------------
// Locks, protection, notes

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
