#include "providertest/tree_manifest.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "sys/file.h"

namespace ctdump::providertest {
namespace {

IdMap Map(uint32_t host, uint32_t count = 65536) {
  auto m = IdMap::Parse({"u 0 " + std::to_string(host) + " " + std::to_string(count),
                         "g 0 " + std::to_string(host) + " " + std::to_string(count)},
                        true);
  EXPECT_TRUE(m.ok());
  return *m;
}

std::string Le(uint64_t x, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((x >> (8 * i)) & 0xFF);
  return s;
}

// {tag, perm, host id} entries after the version 2 header.
std::string AclXattr(const std::vector<std::tuple<uint16_t, uint16_t, uint32_t>>& entries) {
  std::string v = Le(2, 4);
  for (auto [t, p, id] : entries) v += Le(t, 2) + Le(p, 2) + Le(id, 4);
  return v;
}

TEST(AclTextTest, TranslatesNamedEntriesThroughTheMap) {
  std::string v = AclXattr({{1, 6, 0xFFFFFFFF},
                            {2, 4, 101000},
                            {2, 4, 170002},  // outside the 65536 ids
                            {4, 4, 0xFFFFFFFF},
                            {8, 6, 101000},
                            {0x10, 6, 0xFFFFFFFF},
                            {0x20, 4, 0xFFFFFFFF}});
  auto t = AclText(v, Map(100000));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(*t, "u::rw-,u:1000:r--,u:unmapped:r--,g::r--,g:1000:rw-,m::rw-,o::r--");
  auto wide = AclText(v, Map(100000, 131072));
  ASSERT_TRUE(wide.ok());
  EXPECT_NE(wide->find("u:70002:r--"), std::string::npos);
}

TEST(AclTextTest, RejectsMalformedValues) {
  struct Case {
    const char* what;
    std::string value;
  } cases[] = {
      {"empty", ""},
      {"version 1", Le(1, 4)},
      {"truncated entry", Le(2, 4) + "\x01\x00\x06"},
      {"unknown tag", AclXattr({{0x40, 4, 0}})},
  };
  for (const auto& c : cases) EXPECT_FALSE(AclText(c.value, Map(100000)).ok()) << c.what;
}

TEST(CapabilityTextTest, V3RootIdIsTranslatedAndV2IsRootZero) {
  std::string v3 =
      Le(0x03000001, 4) + Le(1 << 13, 4) + Le(0, 4) + Le(0, 4) + Le(0, 4) + Le(200000, 4);
  std::string v2 = Le(0x02000001, 4) + Le(1 << 13, 4) + Le(0, 4) + Le(0, 4) + Le(0, 4);
  auto a = CapabilityText(v3, Map(200000));
  auto b = CapabilityText(v2, Map(300000));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, "eff=1 perm=0x2000 inh=0x0 rootid=0");
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*CapabilityText(v3, Map(300000)), "eff=1 perm=0x2000 inh=0x0 rootid=unmapped");
  EXPECT_FALSE(CapabilityText(v3.substr(0, 22), Map(200000)).ok());
  EXPECT_FALSE(CapabilityText(Le(0x01000000, 4), Map(200000)).ok());
}

class WalkTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = sys::MakeTempDir("/var/tmp/tree_manifest_test.");
    ASSERT_TRUE(d.ok());
    dir_ = *d;
  }
  void TearDown() override { (void)sys::RemoveTree(dir_); }
  void Write(const std::string& rel, const std::string& content) {
    ASSERT_TRUE(sys::WriteFileAtomic(dir_ + "/" + rel, content).ok());
  }
  const Entry* Find(const Manifest& m, const std::string& path) {
    for (const auto& e : m)
      if (e.path == path) return &e;
    return nullptr;
  }
  std::string dir_;
};

TEST_F(WalkTreeTest, RecordsTypesContentLinksHolesXattrsAndTimes) {
  Write("abc.txt", "abc");
  Write("hl1", "linked");
  ASSERT_EQ(::link((dir_ + "/hl1").c_str(), (dir_ + "/hl2").c_str()), 0);
  ASSERT_EQ(::mkdir((dir_ + "/sub").c_str(), 0750), 0);
  ASSERT_EQ(::link((dir_ + "/hl1").c_str(), (dir_ + "/sub/hl3").c_str()), 0);
  ASSERT_EQ(::symlink("abc.txt", (dir_ + "/link").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  int fd = ::open((dir_ + "/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 16 << 20), 0);
  ASSERT_EQ(::pwrite(fd, "x", 1, 8 << 20), 1);
  ::close(fd);
  ASSERT_EQ(::setxattr((dir_ + "/abc.txt").c_str(), "user.k", "v\x01", 2, 0), 0)
      << "no user xattrs on /var/tmp";
  struct timespec t[2] = {{1700000000, 123456789}, {1700000000, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ + "/abc.txt").c_str(), t, 0), 0);

  auto m = WalkTree(dir_, IdMap());
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->front().path, ".");
  const Entry* abc = Find(*m, "abc.txt");
  ASSERT_NE(abc, nullptr);
  EXPECT_EQ(abc->type, 'f');
  EXPECT_EQ(abc->size, 3u);
  EXPECT_EQ(abc->sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(abc->xattrs.at("user.k"), "7601");
  EXPECT_EQ(abc->mtime_ns, 1700000000123456789);
  EXPECT_FALSE(abc->sparse);
  EXPECT_EQ(abc->uid, 0u);
  EXPECT_EQ(Find(*m, "hl1")->hardlinks, "hl1\nhl2\nsub/hl3");
  EXPECT_EQ(Find(*m, "sub/hl3")->hardlinks, "hl1\nhl2\nsub/hl3");
  EXPECT_EQ(Find(*m, "link")->type, 'l');
  EXPECT_EQ(Find(*m, "link")->target, "abc.txt");
  EXPECT_EQ(Find(*m, "fifo")->type, 'p');
  EXPECT_TRUE(Find(*m, "sparse")->sparse);
  EXPECT_EQ(Find(*m, "sub")->mode, 0750u);
}

TEST_F(WalkTreeTest, TranslatesOwnersAndAclIdsThroughTheMap) {
  Write("f", "x");
  std::string f = dir_ + "/f";
  ASSERT_EQ(::chown(f.c_str(), 101000, 101001), 0) << "needs root";
  std::string acl = AclXattr({{1, 6, 0xFFFFFFFF},
                              {2, 4, 101005},
                              {4, 4, 0xFFFFFFFF},
                              {0x10, 4, 0xFFFFFFFF},
                              {0x20, 4, 0xFFFFFFFF}});
  ASSERT_EQ(::setxattr(f.c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0), 0);
  auto m = WalkTree(dir_, Map(100000));
  ASSERT_TRUE(m.ok()) << m.status().message();
  const Entry* e = Find(*m, "f");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->uid, 1000u);
  EXPECT_EQ(e->gid, 1001u);
  EXPECT_EQ(e->acl_access, "u::rw-,u:1005:r--,g::r--,m::r--,o::r--");
  EXPECT_TRUE(e->xattrs.empty());
  // The root directory is host root's: outside the map.
  EXPECT_FALSE(m->front().uid.has_value());
}

Entry File(const std::string& path) {
  Entry e;
  e.path = path;
  e.type = 'f';
  e.uid = e.gid = 0;
  e.mode = 0644;
  e.size = 1;
  e.sha256 = "aa";
  e.mtime_ns = 1700000000123456789;
  return e;
}

TEST(CompareManifestsTest, Table) {
  struct Case {
    const char* name;
    std::function<void(Entry&)> change;  // applied to the restored copy of "f"
    std::set<std::string> losses;
    size_t failures, declared;
    const char* first;  // expected start of the first difference
  } cases[] = {
      {"equal", [](Entry&) {}, {}, 0, 0, ""},
      {"mode", [](Entry& e) { e.mode = 0600; }, {}, 1, 0, "f: mode 0644 != 0600"},
      {"owner unmapped", [](Entry& e) { e.uid.reset(); }, {}, 1, 0, "f: uid 0 != unmapped"},
      {"content", [](Entry& e) { e.sha256 = "bb"; }, {"xattr"}, 1, 0, "f: sha256 aa != bb"},
      {"acl undeclared", [](Entry& e) { e.acl_access = "u::rw-"; }, {}, 1, 0, "f: acl"},
      {"acl declared", [](Entry& e) { e.acl_access = "u::rw-"; }, {"acl"}, 0, 1, "f: acl"},
      {"xattr declared", [](Entry& e) { e.xattrs["user.a"] = "01"; }, {"xattr"}, 0, 1, "f: xattrs"},
      {"fcaps declared", [](Entry& e) { e.fcaps = "eff=1"; }, {"fcaps"}, 0, 1, "f: fcaps"},
      {"sparse declared", [](Entry& e) { e.sparse = true; }, {"sparse"}, 0, 1, "f: sparse"},
      {"hardlink declared",
       [](Entry& e) { e.hardlinks = "f\ng"; },
       {"hardlink"},
       0,
       1,
       "f: hard links"},
      {"subsecond declared",
       [](Entry& e) { e.mtime_ns -= 123456789; },
       {"mtime-subsecond"},
       0,
       1,
       "f: mtime 1700000000.123456789 != 1700000000.000000000"},
      {"subsecond undeclared", [](Entry& e) { e.mtime_ns -= 123456789; }, {}, 1, 0, "f: mtime"},
      {"seconds differ despite the loss",
       [](Entry& e) { e.mtime_ns += 2000000000; },
       {"mtime-subsecond"},
       1,
       0,
       "f: mtime"},
      {"type", [](Entry& e) { e.type = 'l'; }, {}, 1, 0, "f: type f != l"},
  };
  for (const auto& c : cases) {
    Manifest a = {File("f")}, b = {File("f")};
    c.change(b[0]);
    CompareOptions o;
    o.losses = c.losses;
    Comparison r = CompareManifests(a, b, o);
    EXPECT_EQ(r.failures.size(), c.failures) << c.name;
    EXPECT_EQ(r.declared.size(), c.declared) << c.name;
    EXPECT_EQ(r.entries, 1u) << c.name;
    auto all = r.failures;
    all.insert(all.end(), r.declared.begin(), r.declared.end());
    if (*c.first) {
      ASSERT_FALSE(all.empty()) << c.name;
      EXPECT_EQ(all[0].rfind(c.first, 0), 0u) << c.name << ": " << all[0];
    }
  }
}

TEST(CompareManifestsTest, MissingExtraIgnoredFifoAndRootEntry) {
  Entry root = File(".");
  root.type = 'd';
  Entry fifo = File("p");
  fifo.type = 'p';
  Manifest a = {root, File("dev/null"), File("gone"), fifo, File("skipped")};
  Entry root2 = root;
  root2.mode = 0700;
  Manifest b = {root2, File("dev/zero"), File("new")};
  CompareOptions o;
  o.ignore = {"dev/*", "skipped"};
  Comparison r = CompareManifests(a, b, o);
  EXPECT_EQ(r.entries, 3u);  // ., gone, p
  EXPECT_EQ(r.failures,
            (std::vector<std::string>{".: mode 0644 != 0700", "gone: missing in the restore",
                                      "p: missing in the restore", "new: not in the source"}));
  o.losses = {"fifo", "root-entry"};
  r = CompareManifests(a, b, o);
  EXPECT_EQ(r.failures,
            (std::vector<std::string>{"gone: missing in the restore", "new: not in the source"}));
  EXPECT_EQ(r.declared,
            (std::vector<std::string>{".: mode 0644 != 0700", "p: missing in the restore"}));
}

TEST(DisplayPathTest, EscapesBytesOutsidePrintableAscii) {
  EXPECT_EQ(DisplayPath("a b"), "a b");
  EXPECT_EQ(DisplayPath("new\nline\\\xff"), "new\\012line\\134\\377");
}

}  // namespace
}  // namespace ctdump::providertest
