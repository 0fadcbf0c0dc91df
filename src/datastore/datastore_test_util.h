// Test-only helpers for the datastore tests: deterministic bytes and keys,
// record comparison, an in-memory tree description that is turned into a
// worker stream (entry_format.h), and a reader that brings a snapshot back.
#ifndef CTDUMP_DATASTORE_DATASTORE_TEST_UTIL_H_
#define CTDUMP_DATASTORE_DATASTORE_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypt/crypt.h"
#include "ctdump/observer.h"
#include "datastore/codec.h"
#include "datastore/entry_format.h"

namespace ctdump::datastore::testing {

// A key from fixed master bytes: the same `seed` always gives the same key.
inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline crypt::Key TestKey(uint8_t seed) {
  std::array<uint8_t, crypt::kKeySize> master{};
  for (size_t i = 0; i < master.size(); ++i) master[i] = static_cast<uint8_t>(seed + 7 * i + 1);
  return crypt::Key::FromMaster(master);
}

// Incompressible bytes, the same for the same seed.
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    for (int k = 0; k < 8; ++k) out[i + k] = static_cast<char>(v >> (8 * k));
  }
  for (uint64_t v = rng(); i < n; ++i, v >>= 8) out[i] = static_cast<char>(v);
  return out;
}

// Compressible text.
inline std::string TextBytes(size_t n, uint64_t seed = 0) {
  std::string out;
  out.reserve(n + 64);
  for (uint64_t line = seed; out.size() < n; ++line)
    out += "line " + std::to_string(line) + ": the quick brown fox jumps over the lazy dog\n";
  out.resize(n);
  return out;
}

// Every field but data_offset (which depends on where the data landed).
inline void ExpectSameEntry(const Entry& want, const Entry& got, bool compare_offset = false) {
  SCOPED_TRACE("entry '" + want.path + "'");
  EXPECT_EQ(want.flags, got.flags);
  EXPECT_EQ(want.mode, got.mode);
  EXPECT_EQ(want.uid, got.uid);
  EXPECT_EQ(want.gid, got.gid);
  EXPECT_EQ(want.mtime_sec, got.mtime_sec);
  EXPECT_EQ(want.mtime_nsec, got.mtime_nsec);
  EXPECT_EQ(want.ctime_sec, got.ctime_sec);
  EXPECT_EQ(want.ctime_nsec, got.ctime_nsec);
  EXPECT_EQ(want.ino, got.ino);
  EXPECT_EQ(want.size, got.size);
  EXPECT_EQ(want.rdev, got.rdev);
  if (compare_offset) {
    EXPECT_EQ(want.data_offset, got.data_offset);
  }
  EXPECT_EQ(want.data_length, got.data_length);
  EXPECT_EQ(want.path, got.path);
  EXPECT_EQ(want.link, got.link);
  EXPECT_EQ(want.xattrs, got.xattrs);
  EXPECT_EQ(want.acl_access, got.acl_access);
  EXPECT_EQ(want.acl_default, got.acl_default);
  EXPECT_EQ(want.sparse, got.sparse);
}

// One node of a tree as the worker would describe it.
struct Node {
  Entry entry;          // data_offset is ignored
  std::string content;  // regular files: the logical content, holes as zeros
};

// Builds trees in walk order (the caller adds nodes in the order the worker
// would send them).
class TreeBuilder {
 public:
  TreeBuilder& Dir(const std::string& path, uint32_t perm = 0755) {
    Add(path, S_IFDIR | perm);
    return *this;
  }
  TreeBuilder& File(const std::string& path, std::string content, uint32_t perm = 0644) {
    Node& n = Add(path, S_IFREG | perm);
    n.entry.size = n.entry.data_length = content.size();
    n.content = std::move(content);
    return *this;
  }
  // A sparse file of `size` bytes whose data regions hold random bytes.
  TreeBuilder& Sparse(const std::string& path, uint64_t size,
                      std::vector<std::pair<uint64_t, uint64_t>> regions, uint64_t seed) {
    Node& n = Add(path, S_IFREG | 0600);
    n.entry.size = size;
    n.content.assign(size, '\0');
    uint64_t stored = 0;
    for (auto [off, len] : regions) {
      std::string bytes = RandomBytes(len, seed++);
      n.content.replace(off, len, bytes);
      stored += len;
    }
    n.entry.sparse = std::move(regions);
    n.entry.data_length = stored;
    return *this;
  }
  TreeBuilder& Symlink(const std::string& path, const std::string& target) {
    Add(path, S_IFLNK | 0777).entry.link = target;
    return *this;
  }
  TreeBuilder& Hardlink(const std::string& path, const std::string& target) {
    Node& n = Add(path, S_IFREG | 0644);
    n.entry.flags = kEntryHardlink;
    n.entry.link = target;
    return *this;
  }
  TreeBuilder& Special(const std::string& path, uint32_t mode, uint64_t rdev = 0) {
    Add(path, mode).entry.rdev = rdev;
    return *this;
  }
  // Adds metadata to the last node.
  TreeBuilder& Xattr(std::string name, std::string value) {
    nodes_.back().entry.xattrs.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  TreeBuilder& Acl(std::string access, std::string def = "") {
    nodes_.back().entry.acl_access = std::move(access);
    nodes_.back().entry.acl_default = std::move(def);
    return *this;
  }
  TreeBuilder& Owner(uint32_t uid, uint32_t gid) {
    nodes_.back().entry.uid = uid;
    nodes_.back().entry.gid = gid;
    return *this;
  }

  std::vector<Node> Build() const { return nodes_; }

 private:
  Node& Add(const std::string& path, uint32_t mode) {
    Node n;
    n.entry.path = path;
    n.entry.mode = mode;
    n.entry.mtime_sec = 1700000000 + static_cast<int64_t>(nodes_.size());
    n.entry.mtime_nsec = static_cast<uint32_t>((nodes_.size() * 1000 + 7) % 1'000'000'000);
    n.entry.ctime_sec = 1700000100 + static_cast<int64_t>(nodes_.size());
    n.entry.ctime_nsec = 999'999'999;
    n.entry.ino = 1000 + nodes_.size();
    n.entry.uid = 100000;
    n.entry.gid = 100000;
    nodes_.push_back(std::move(n));
    return nodes_.back();
  }

  std::vector<Node> nodes_;
};

// One worker stream frame.
inline std::string Frame(uint8_t type, std::string_view payload) {
  std::string out(1, static_cast<char>(type));
  uint32_t len = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(len >> (8 * i)));
  out.append(payload);
  return out;
}

inline std::string EntryFrame(const Entry& e) {
  std::string rec;
  EncodeEntry(e, &rec);
  return Frame(kFrameEntry, rec);
}

// The stored bytes of a node (its data regions, or all of it).
inline std::string StoredBytes(const Node& n) {
  if (n.entry.sparse.empty()) return n.content;
  std::string out;
  for (auto [off, len] : n.entry.sparse) out.append(n.content, off, len);
  return out;
}

// The worker stream for `tree`. Nodes whose path is in `unchanged` are sent
// as that (parent) record with kEntryUnchanged and no data. `max_data` is the
// largest 'D' frame (<= kMaxFrameSize); data frames cycle through a few sizes
// up to it so frame boundaries fall everywhere.
inline std::string WorkerStream(const std::vector<Node>& tree,
                                const std::map<std::string, Entry>& unchanged = {},
                                size_t max_data = kMaxFrameSize, bool end = true) {
  std::string out;
  size_t cycle = 0;
  for (const Node& n : tree) {
    auto it = unchanged.find(n.entry.path);
    if (it != unchanged.end()) {
      Entry e = it->second;
      e.flags |= kEntryUnchanged;
      out += EntryFrame(e);
      continue;
    }
    Entry e = n.entry;
    e.data_offset = 0;
    out += EntryFrame(e);
    if (!e.is_regular()) continue;
    std::string data = StoredBytes(n);
    for (size_t pos = 0; pos < data.size();) {
      static constexpr size_t kSizes[] = {1, 4093, 65536, kMaxFrameSize};
      size_t k = std::min({data.size() - pos, max_data, kSizes[cycle++ % 4]});
      out += Frame(kFrameData, std::string_view(data).substr(pos, k));
      pos += k;
    }
  }
  if (end) out += Frame(kFrameEnd, "");
  return out;
}

// An observer that keeps every line.
class RecordingObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    std::lock_guard<std::mutex> l(mu_);
    lines_.emplace_back(level, std::string(message));
  }
  std::string All() {
    std::lock_guard<std::mutex> l(mu_);
    std::string out;
    for (const auto& [level, line] : lines_) out += line + "\n";
    return out;
  }
  size_t warnings() {
    std::lock_guard<std::mutex> l(mu_);
    size_t n = 0;
    for (const auto& [level, line] : lines_) n += level == LogLevel::kWarn;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

}  // namespace ctdump::datastore::testing

#endif  // CTDUMP_DATASTORE_DATASTORE_TEST_UTIL_H_
