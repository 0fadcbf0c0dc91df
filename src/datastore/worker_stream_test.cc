#include "datastore/datastore_test_fixture.h"
#include "datastore/writer.h"

namespace ctdump::datastore {
namespace {

// The writer against worker streams it must refuse.
class WorkerStreamTest : public DatastoreTest {};

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

TEST_F(WorkerStreamTest, MaliciousWorkerStreamsAreRejected) {
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

TEST_F(WorkerStreamTest, WorkerErrorWithChunksInFlight) {
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

TEST_F(WorkerStreamTest, AbortAfterFinishFailedLeavesNothing) {
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

}  // namespace
}  // namespace ctdump::datastore
