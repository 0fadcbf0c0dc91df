#include "datastore/codec.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datastore/blob_format.h"
#include "datastore/datastore_test_util.h"
#include "datastore/entry_format.h"
#include "datastore/index_format.h"
#include "datastore/manifest.h"
#include "datastore/manifest_format.h"

namespace ctdump::datastore {
namespace {

using testing::Contains;
using testing::ExpectSameEntry;
using testing::RandomBytes;
using testing::TestKey;
using testing::TextBytes;

const std::string kWhat = "chunk 'chunks/abcd/test'";

void PutU64At(std::string* s, size_t pos, uint64_t v) {
  for (int i = 0; i < 8; ++i) (*s)[pos + i] = static_cast<char>(v >> (8 * i));
}
void PutU32At(std::string* s, size_t pos, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[pos + i] = static_cast<char>(v >> (8 * i));
}

// ---------------------------------------------------------------------------
// Indexes

std::vector<IndexEntry> MakeIndex(size_t n) {
  std::vector<IndexEntry> out;
  uint64_t end = 0;
  for (size_t i = 0; i < n; ++i) {
    end += 1 + (i * 7919) % 100000;
    out.push_back(IndexEntry{end, crypt::Sha256(std::to_string(i))});
  }
  return out;
}

TEST(IndexTest, RoundTrip) {
  for (size_t n : {0, 1, 2, 1000}) {
    SCOPED_TRACE(n);
    auto entries = MakeIndex(n);
    std::string data = EncodeIndex(entries);
    EXPECT_EQ(data.size(), kIndexHeaderSize + n * kIndexEntrySize);
    EXPECT_EQ(data.substr(0, 8), std::string(kIndexMagic, 8));
    auto parsed = ParseIndex(data, "index 'x'");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    ASSERT_EQ(parsed->size(), n);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ((*parsed)[i].end, entries[i].end);
      EXPECT_EQ((*parsed)[i].digest, entries[i].digest);
    }
  }
}

TEST(IndexTest, RejectsDamage) {
  const std::string good = EncodeIndex(MakeIndex(3));
  struct Case {
    const char* name;
    std::function<std::string()> make;
    const char* problem;
  };
  const Case cases[] = {
      {"empty", [] { return std::string(); }, "not a ctdump index"},
      {"short", [&] { return good.substr(0, kIndexHeaderSize - 1); }, "not a ctdump index"},
      {"bad magic",
       [&] {
         std::string s = good;
         s[0] = 'x';
         return s;
       },
       "not a ctdump index"},
      {"version byte",
       [&] {
         std::string s = good;
         s[7] = 2;
         return s;
       },
       "version"},
      {"count too high",
       [&] {
         std::string s = good;
         PutU64At(&s, 16, 4);
         return s;
       },
       "count"},
      {"count too low",
       [&] {
         std::string s = good;
         PutU64At(&s, 16, 2);
         return s;
       },
       "count"},
      {"count overflows",
       [&] {
         std::string s = good;
         PutU64At(&s, 16, (1ull << 63) / 20);
         return s;
       },
       "count"},
      {"count max",
       [&] {
         std::string s = good;
         PutU64At(&s, 16, std::numeric_limits<uint64_t>::max());
         return s;
       },
       "count"},
      {"trailing bytes", [&] { return good + "x"; }, "count"},
      {"missing bytes", [&] { return good.substr(0, good.size() - 1); }, "count"},
      {"equal ends",
       [&] {
         auto e = MakeIndex(3);
         e[2].end = e[1].end;
         return EncodeIndex(e);
       },
       "out of order"},
      {"decreasing ends",
       [&] {
         auto e = MakeIndex(3);
         e[1].end = e[0].end - 1;
         return EncodeIndex(e);
       },
       "out of order"},
      {"empty first chunk",
       [&] {
         std::vector<IndexEntry> e = {{0, {}}, {5, {}}};
         return EncodeIndex(e);
       },
       "out of order"},
      {"length mismatch",
       [&] {
         std::string s = good;
         PutU64At(&s, 8, MakeIndex(3).back().end + 1);
         return s;
       },
       "length"},
      {"length of an empty index",
       [&] {
         std::string s = EncodeIndex({});
         PutU64At(&s, 8, 1);
         return s;
       },
       "length"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto r = ParseIndex(c.make(), "index 'snapshots/x/data.didx'");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(r.status().message(), "index 'snapshots/x/data.didx'"))
        << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), c.problem)) << r.status().message();
  }
}

// ---------------------------------------------------------------------------
// Metadata records

Entry FullEntry() {
  Entry e;
  e.flags = kEntryHardlink;
  e.mode = S_IFREG | 04755;
  e.uid = 4294967294u;
  e.gid = 100000;
  e.mtime_sec = -1234567890123;
  e.mtime_nsec = 999'999'999;
  e.ctime_sec = std::numeric_limits<int64_t>::max();
  e.ctime_nsec = 1;
  e.ino = std::numeric_limits<uint64_t>::max();
  e.size = 10'000'000;
  e.rdev = makedev(259, 3);
  e.data_offset = 1ull << 40;
  e.data_length = 3000;
  e.path = "usr/lib/\xc3\xa9t\xc3\xa9 file with spaces";
  e.link = "some/target";
  e.xattrs = {{"user.empty", ""},
              {"user.binary", std::string("\0\x01\xff\xfe zero\0inside", 16)},
              {"security.capability", std::string(20, '\x7f')},
              {"trusted.big", std::string(70000, 'v')}};
  e.acl_access = "user::rwx\nuser:1000:r-x:1000\ngroup::r-x\nmask::r-x\nother::r--\n";
  e.acl_default = "user::rwx\ngroup::---\nother::---\n";
  e.sparse = {{0, 1000}, {1000, 1000}, {9'999'000, 1000}};
  return e;
}

TEST(EntryTest, RoundTripEveryField) {
  const Entry full = FullEntry();
  Entry plain;
  plain.mode = S_IFDIR | 0755;
  Entry symlink;
  symlink.mode = S_IFLNK | 0777;
  symlink.path = "a/b";
  symlink.link = "../../../../etc/passwd";
  for (const Entry& want : {full, plain, symlink}) {
    std::string rec;
    EncodeEntry(want, &rec);
    Entry got;
    got.xattrs = {{"stale", "value"}};  // must be cleared
    got.sparse = {{1, 2}};
    auto n = DecodeEntry(rec, &got, "stream");
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, rec.size());
    ExpectSameEntry(want, got, /*compare_offset=*/true);
  }
}

TEST(EntryTest, LayoutOfTheFixedPart) {
  // 4 length + 4 flags + 4 mode + 4 uid + 4 gid + 12 mtime + 12 ctime + 5*8,
  // then path, link, xattr count, two ACLs and the region count.
  std::string rec;
  EncodeEntry(Entry{}, &rec);
  EXPECT_EQ(rec.size(), 84u + 6 * 4);
  EXPECT_GE(rec.size() - 4, kRecordFixedSize - 4);  // the decoder's lower bound holds
}

TEST(EntryTest, RecordsBackToBackAndPartialData) {
  std::string buf;
  std::vector<Entry> want;
  for (int i = 0; i < 5; ++i) {
    Entry e = FullEntry();
    e.path = "file" + std::to_string(i);
    e.xattrs.resize(i % 3);
    want.push_back(e);
    EncodeEntry(e, &buf);
  }
  size_t pos = 0;
  for (const Entry& w : want) {
    Entry got;
    auto n = DecodeEntry(std::string_view(buf).substr(pos), &got, "stream");
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ASSERT_GT(*n, 0u);
    ExpectSameEntry(w, got, true);
    // Every strict prefix of this record is "feed more".
    for (size_t cut = 0; cut < *n; cut += (cut < 200 ? 1 : 509)) {
      Entry partial;
      auto p = DecodeEntry(std::string_view(buf).substr(pos, cut), &partial, "stream");
      ASSERT_TRUE(p.ok()) << "prefix " << cut << ": " << p.status().ToString();
      EXPECT_EQ(*p, 0u) << "prefix " << cut;
    }
    pos += *n;
  }
  EXPECT_EQ(pos, buf.size());
}

TEST(EntryTest, RejectsDamage) {
  auto encode = [](const Entry& e) {
    std::string rec;
    EncodeEntry(e, &rec);
    return rec;
  };
  const size_t kPathLength = 84;  // offset of the path's length field
  struct Case {
    const char* name;
    std::function<std::string()> make;
    const char* problem;
  };
  const Case cases[] = {
      {"length too small",
       [&] {
         std::string s = encode(Entry{});
         PutU32At(&s, 0, kRecordFixedSize - 5);
         return s;
       },
       "out of range"},
      {"length too small, partial data",
       [] {
         std::string s(4, '\0');
         PutU32At(&s, 0, 3);
         return s;
       },
       "out of range"},
      {"length too large, partial data",
       [] {
         std::string s(4, '\0');
         PutU32At(&s, 0, kMaxRecordSize + 1);
         return s;
       },
       "out of range"},
      {"length shorter than the fields",
       [&] {
         std::string s = encode(Entry{});
         PutU32At(&s, 0, 100);
         return s.substr(0, 104);
       },
       "truncated"},
      {"unknown flags",
       [&] {
         Entry e;
         e.flags = 0x4;
         return encode(e);
       },
       "flags"},
      {"mtime nsec",
       [&] {
         Entry e;
         e.mtime_nsec = 1'000'000'000;
         return encode(e);
       },
       "timestamp"},
      {"ctime nsec",
       [&] {
         Entry e;
         e.ctime_nsec = 4'000'000'000u;
         return encode(e);
       },
       "timestamp"},
      {"overlapping regions",
       [&] {
         Entry e = FullEntry();
         e.sparse = {{0, 1000}, {999, 2000}};
         return encode(e);
       },
       "sparse map"},
      {"regions out of order",
       [&] {
         Entry e = FullEntry();
         e.sparse = {{5000, 1000}, {0, 2000}};
         return encode(e);
       },
       "sparse map"},
      {"region beyond the size",
       [&] {
         Entry e = FullEntry();
         e.sparse = {{e.size - 2000, 3000}};
         return encode(e);
       },
       "sparse map"},
      {"region longer than the file",
       [&] {
         Entry e = FullEntry();
         e.sparse = {{0, e.size + 1}};
         e.data_length = e.size + 1;
         return encode(e);
       },
       "sparse map"},
      {"region offset overflows",
       [&] {
         Entry e = FullEntry();
         e.sparse = {{std::numeric_limits<uint64_t>::max() - 10, 3000}};
         return encode(e);
       },
       "sparse map"},
      {"sparse sum differs from data length",
       [&] {
         Entry e = FullEntry();
         e.data_length = 2999;
         return encode(e);
       },
       "does not match its data"},
      {"data range overflows",
       [&] {
         Entry e;
         e.data_offset = std::numeric_limits<uint64_t>::max();
         e.data_length = 2;
         return encode(e);
       },
       "overflows"},
      {"trailing bytes",
       [&] {
         std::string s = encode(FullEntry());
         PutU32At(&s, 0, static_cast<uint32_t>(s.size() - 4 + 1));
         return s + "x";
       },
       "trailing"},
      {"path longer than the record",
       [&] {
         std::string s = encode(Entry{});
         PutU32At(&s, kPathLength, 1000);
         return s;
       },
       "truncated"},
      {"path length huge",
       [&] {
         std::string s = encode(Entry{});
         PutU32At(&s, kPathLength, 0xffffffffu);
         return s;
       },
       "truncated"},
      {"link longer than the record",
       [&] {
         std::string s = encode(Entry{});
         PutU32At(&s, kPathLength + 4, 25);
         return s;
       },
       "truncated"},
      {"xattr count huge",
       [&] {
         std::string s = encode(Entry{});
         PutU32At(&s, kPathLength + 8, 0xffffffffu);
         return s;
       },
       "xattr"},
      {"xattr value truncated",
       [&] {
         Entry e;
         e.xattrs = {{"user.a", "value"}};
         std::string s = encode(e);
         // name "user.a" (4 + 6 bytes) follows the count; bump the value's length.
         PutU32At(&s, kPathLength + 12 + 10, 1000);
         return s;
       },
       "xattr"},
      {"region count huge",
       [&] {
         std::string s = encode(Entry{});
         PutU32At(&s, s.size() - 4, 0x10000000u);
         return s;
       },
       "sparse map"},
      {"record cut short inside the ACLs",
       [&] {
         std::string s = encode(Entry{});
         s.resize(s.size() - 6);
         PutU32At(&s, 0, static_cast<uint32_t>(s.size() - 4));
         return s;
       },
       "truncated"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Entry e;
    auto r = DecodeEntry(c.make(), &e, "metadata stream of 'x'");
    ASSERT_FALSE(r.ok()) << "decoded " << (r.ok() ? *r : 0);
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(r.status().message(), "metadata stream of 'x'")) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), c.problem)) << r.status().message();
  }
}

TEST(EntryTest, IsRegular) {
  Entry e;
  e.mode = S_IFREG | 0644;
  EXPECT_TRUE(e.is_regular());
  e.flags = kEntryHardlink;
  EXPECT_FALSE(e.is_regular());
  EXPECT_TRUE(e.is_hardlink());
  e.flags = 0;
  e.mode = S_IFLNK | 0777;
  EXPECT_FALSE(e.is_regular());
}

// ---------------------------------------------------------------------------
// Manifests

// A version 1 manifest (its configs in the clear, encrypted as a whole under a key).
Manifest FullManifest() {
  Manifest m;
  m.version = 1;
  m.vmid = "101";
  m.backup_time = 1764145379;
  m.guest_config = "arch: amd64\nhostname: ct\n\xc3\xa9\n";
  m.firewall_config = "[OPTIONS]\nenable: 1\n";
  m.unprivileged = true;
  m.files = {{kMetaIndexName, 104, crypt::Sha256("meta")},
             {kDataIndexName, 4024, crypt::Sha256("data")}};
  m.parent = "ct/101/2025-11-26T08_22_59Z";
  m.key_fingerprint = "aa:bb:cc:dd:ee:ff:00:11";
  m.chunk_min = 32768;
  m.chunk_avg = 131072;
  m.chunk_max = 524288;
  m.stats = {{"entries", 12}, {"bytes", 123456789012ull}};
  return m;
}

TEST(ManifestTest, RoundTrip) {
  Manifest minimal = FullManifest();
  minimal.firewall_config.reset();
  minimal.parent.reset();
  minimal.key_fingerprint.reset();
  minimal.unprivileged = false;
  minimal.stats = nlohmann::json::object();
  Manifest minimal_v2 = minimal;
  minimal_v2.version = 2;
  for (const Manifest& want : {FullManifest(), minimal, minimal_v2}) {
    std::string text = EncodeManifest(want);
    auto got = ParseManifest(text, "manifest 'x'");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->version, want.version);
    EXPECT_TRUE(got->sensitive);
    EXPECT_EQ(got->vmid, want.vmid);
    EXPECT_EQ(got->backup_time, want.backup_time);
    EXPECT_EQ(got->guest_config, want.guest_config);
    EXPECT_EQ(got->firewall_config, want.firewall_config);
    EXPECT_EQ(got->unprivileged, want.unprivileged);
    ASSERT_EQ(got->files.size(), want.files.size());
    for (size_t i = 0; i < want.files.size(); ++i) {
      EXPECT_EQ(got->files[i].name, want.files[i].name);
      EXPECT_EQ(got->files[i].size, want.files[i].size);
      EXPECT_EQ(got->files[i].digest, want.files[i].digest);
    }
    EXPECT_EQ(got->parent, want.parent);
    EXPECT_EQ(got->key_fingerprint, want.key_fingerprint);
    EXPECT_EQ(got->chunk_min, want.chunk_min);
    EXPECT_EQ(got->chunk_avg, want.chunk_avg);
    EXPECT_EQ(got->chunk_max, want.chunk_max);
    EXPECT_EQ(got->stats, want.stats);
    ASSERT_NE(got->File(kDataIndexName), nullptr);
    EXPECT_EQ(got->File(kDataIndexName)->size, 4024u);
    EXPECT_EQ(got->File("nope"), nullptr);
  }
}

TEST(ManifestTest, RejectsDamage) {
  const nlohmann::json good = nlohmann::json::parse(EncodeManifest(FullManifest()));
  using Mutate = std::function<void(nlohmann::json&)>;
  struct Case {
    const char* name;
    Mutate mutate;
    const char* problem;
  };
  const Case cases[] = {
      {"wrong format", [](auto& j) { j["format"] = "ctdump-other"; }, "not a ctdump"},
      {"version 3", [](auto& j) { j["version"] = 3; }, "version 3"},
      {"version 0", [](auto& j) { j["version"] = 0; }, "version 0"},
      {"version as a string", [](auto& j) { j["version"] = "1"; }, "bad manifest field"},
      {"no format", [](auto& j) { j.erase("format"); }, "bad manifest field"},
      {"no vmid", [](auto& j) { j.erase("vmid"); }, "bad manifest field"},
      {"vmid a number", [](auto& j) { j["vmid"] = 101; }, "bad manifest field"},
      {"backup time a string", [](auto& j) { j["backup-time"] = "now"; }, "bad manifest field"},
      {"no files", [](auto& j) { j.erase("files"); }, "bad manifest field"},
      {"files empty", [](auto& j) { j["files"] = nlohmann::json::array(); }, "no metadata"},
      {"files not an array", [](auto& j) { j["files"] = "meta.didx"; }, "bad manifest field"},
      {"only the metadata index", [](auto& j) { j["files"].erase(1); }, "no metadata or data"},
      {"file without size", [](auto& j) { j["files"][0].erase("size"); }, "bad manifest field"},
      {"bad digest hex", [](auto& j) { j["files"][1]["digest"] = "xyz"; }, "bad file digest"},
      {"short digest", [](auto& j) { j["files"][1]["digest"] = std::string(62, 'a'); },
       "bad file digest"},
      {"no chunker", [](auto& j) { j.erase("chunker"); }, "bad manifest field"},
      {"chunker min a string", [](auto& j) { j["chunker"]["min"] = "x"; }, "bad manifest field"},
      {"firewall a number", [](auto& j) { j["firewall-config"] = 1; }, "bad manifest field"},
      {"parent a number", [](auto& j) { j["parent"] = 1; }, "bad manifest field"},
      // Floats beyond the integers' range must not reach get<integer>() (UB).
      {"backup time a huge float", [](auto& j) { j["backup-time"] = 1.7e64; }, "not an integer"},
      {"version a float", [](auto& j) { j["version"] = 1.0; }, "not an integer"},
      {"file size a float", [](auto& j) { j["files"][0]["size"] = 1e300; }, "not an integer"},
      {"chunker max a float", [](auto& j) { j["chunker"]["max"] = -1e20; }, "not an integer"},
      {"unprivileged a string", [](auto& j) { j["unprivileged"] = "yes"; }, "bad manifest field"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    nlohmann::json j = good;
    c.mutate(j);
    auto r = ParseManifest(j.dump(), "manifest 'snapshots/ct/1/x/manifest'");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(r.status().message(), "manifest 'snapshots/ct/1/x/manifest'"))
        << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), c.problem)) << r.status().message();
  }
  for (const std::string& text :
       {std::string(), std::string("{"), std::string("[1, 2]"), std::string("null"),
        std::string("\"ctdump-snapshot\""), std::string("manifest"), std::string("{\"a\": \xff}"),
        EncodeManifest(FullManifest()).substr(0, 100)}) {
    SCOPED_TRACE(text);
    auto r = ParseManifest(text, "manifest 'm'");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(r.status().message(), "manifest 'm'")) << r.status().message();
  }
}

// Version 2 under a key: public members readable without it, the configs
// private, everything signed.
TEST(ManifestTest, SealedRoundTrip) {
  const crypt::Key key = TestKey(7);
  Manifest want = FullManifest();
  want.version = 2;
  auto text = SealManifest(want, &key);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_FALSE(Contains(*text, "hostname")) << *text;  // the configs are private
  EXPECT_FALSE(Contains(*text, "enable: 1")) << *text;
  auto got = ParseManifest(*text, "manifest 'x'");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->version, 2);
  EXPECT_FALSE(got->sensitive);
  EXPECT_EQ(got->guest_config, "");
  EXPECT_EQ(got->vmid, want.vmid);
  EXPECT_EQ(got->stats, want.stats);
  EXPECT_EQ(got->key_fingerprint, crypt::FingerprintString(key.fingerprint()));
  ASSERT_TRUE(got->signature.has_value());
  ASSERT_TRUE(UnsealManifest(*text, key, &*got, "manifest 'x'").ok());
  EXPECT_TRUE(got->sensitive);
  EXPECT_EQ(got->guest_config, want.guest_config);
  EXPECT_EQ(got->firewall_config, want.firewall_config);
  // Another key does not match the signature.
  auto again = ParseManifest(*text, "manifest 'x'");
  Status other = UnsealManifest(*text, TestKey(8), &*again, "manifest 'x'");
  EXPECT_EQ(other.code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(other.message(), "signature does not match")) << other.message();
  // Without a key: plain, no signature, the configs in the clear.
  auto plain = SealManifest(want, nullptr);
  ASSERT_TRUE(plain.ok());
  auto p = ParseManifest(*plain, "manifest 'x'");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->sensitive);
  EXPECT_FALSE(p->signature.has_value());
  EXPECT_FALSE(p->key_fingerprint.has_value());
  EXPECT_EQ(p->guest_config, want.guest_config);
}

// Any change to a sealed manifest, however small, breaks its signature; a
// manifest stripped of its seal is refused by the parser.
TEST(ManifestTest, SealedManifestCannotBeChanged) {
  const crypt::Key key = TestKey(9);
  Manifest m = FullManifest();
  m.version = 2;
  auto text = SealManifest(m, &key);
  ASSERT_TRUE(text.ok());
  const nlohmann::json good = nlohmann::json::parse(*text);
  using Mutate = std::function<void(nlohmann::json&)>;
  const std::pair<const char*, Mutate> changes[] = {
      {"backup time",
       [](auto& j) { j["backup-time"] = j["backup-time"].template get<int64_t>() + 1; }},
      {"vmid", [](auto& j) { j["vmid"] = "102"; }},
      {"index digest", [](auto& j) { j["files"][1]["digest"] = std::string(64, 'b'); }},
      {"index size", [](auto& j) { j["files"][0]["size"] = 1; }},
      {"stats", [](auto& j) { j["stats"]["bytes"] = 1; }},
      {"unprivileged", [](auto& j) { j["unprivileged"] = false; }},
      {"a new member", [](auto& j) { j["notes"] = "x"; }},
      {"parent", [](auto& j) { j["parent"] = nullptr; }},
      {"signature", [](auto& j) { j["signature"] = std::string(64, '0'); }},
      {"private part",
       [](auto& j) {
         std::string p = j["private"];
         p[p.size() - 1] = p.back() == '0' ? '1' : '0';
         j["private"] = p;
       }},
  };
  for (const auto& [name, mutate] : changes) {
    SCOPED_TRACE(name);
    nlohmann::json j = good;
    mutate(j);
    const std::string changed = j.dump(1, '\t');
    auto parsed = ParseManifest(changed, "manifest 'x'");
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    Status s = UnsealManifest(changed, key, &*parsed, "manifest 'x'");
    EXPECT_EQ(s.code(), Code::kDataLoss) << s.message();
    EXPECT_TRUE(Contains(s.message(), "manifest 'x'")) << s.message();
    EXPECT_FALSE(parsed->sensitive);
  }
  // Formatting is not signed: the same JSON differently spaced still verifies.
  auto compact = ParseManifest(good.dump(), "manifest 'x'");
  ASSERT_TRUE(compact.ok());
  EXPECT_TRUE(UnsealManifest(good.dump(), key, &*compact, "manifest 'x'").ok());
  // Stripped of parts of its seal: refused when parsed.
  const std::pair<const char*, Mutate> stripped[] = {
      {"no signature", [](auto& j) { j.erase("signature"); }},
      {"no private part",
       [](auto& j) {
         j.erase("private");
         j["guest-config"] = "x";
         j["firewall-config"] = nullptr;
       }},
      {"no key fingerprint", [](auto& j) { j["key-fingerprint"] = nullptr; }},
      {"configs in the clear too", [](auto& j) { j["guest-config"] = "x"; }},
      {"malformed signature", [](auto& j) { j["signature"] = "zz"; }},
  };
  for (const auto& [name, mutate] : stripped) {
    SCOPED_TRACE(name);
    nlohmann::json j = good;
    mutate(j);
    auto parsed = ParseManifest(j.dump(), "manifest 'x'");
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), Code::kDataLoss);
  }
}

}  // namespace
}  // namespace ctdump::datastore
