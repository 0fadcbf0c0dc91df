// The datastore tests' fixture: a temporary local store, tree and worker-stream
// helpers (datastore_test_util.h) and the backup/restore steps the tests share.
// Included by the datastore test files only.
#ifndef CTDUMP_DATASTORE_DATASTORE_TEST_FIXTURE_H_
#define CTDUMP_DATASTORE_DATASTORE_TEST_FIXTURE_H_

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
#include "objstore/local_backend.h"
#include "sys/file.h"

namespace ctdump::datastore {
namespace {

using testing::Contains;
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

inline std::string HostName() {
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
inline std::vector<Node> SampleTree() {
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
inline std::vector<Node> ManyFilesTree(int count, uint64_t seed) {
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
    ASSIGN_OR_RETURN(auto backend, objstore::OpenLocalBackend(root_));
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
    o.compression = ds.backup_compression();  // storage.cfg's, as the provider passes it
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

}  // namespace
}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_DATASTORE_TEST_FIXTURE_H_
