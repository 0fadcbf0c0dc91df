#include "restore/restore_compare.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "restore/test_restore.h"
#include "sys/file.h"

namespace ctdump::restore {
namespace {

namespace fs = std::filesystem;

TEST(InSampleTest, PicksExactlyTheWantedNumberSpreadOut) {
  for (uint64_t total : {1u, 10u, 64u, 65u, 100u, 1000u, 12345u}) {
    for (uint64_t want : {1u, 3u, 64u}) {
      std::vector<uint64_t> picked;
      for (uint64_t i = 0; i < total; ++i)
        if (InSample(i, total, want)) picked.push_back(i);
      ASSERT_EQ(picked.size(), std::min(total, want)) << total << " " << want;
      EXPECT_EQ(picked.front(), 0u);
      if (total > want && want > 1) {
        // No gap is more than twice the even spacing.
        for (size_t k = 1; k < picked.size(); ++k)
          EXPECT_LE(picked[k] - picked[k - 1], 2 * (total / want) + 1) << total << " " << want;
        EXPECT_GE(picked.back(), total - 2 * (total / want) - 1);
      }
    }
  }
  EXPECT_FALSE(InSample(0, 10, 0));
  EXPECT_FALSE(InSample(10, 10, 64));
}

class FakeTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-test-restore-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    fs::create_directories(root_ + "/etc");
    ::chmod((root_ + "/etc").c_str(), 0755);
    ASSERT_TRUE(sys::WriteFileAtomic(root_ + "/etc/hostname", "ct1\n", 0644).ok());
    ASSERT_EQ(::symlink("../etc/hostname", (root_ + "/link").c_str()), 0);
    ASSERT_EQ(::link((root_ + "/etc/hostname").c_str(), (root_ + "/hard").c_str()), 0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CatalogEntry File(const std::string& path, uint32_t mode, uint64_t size) {
    CatalogEntry e;
    e.path = path;
    e.type = CatalogEntry::Type::kFile;
    e.mode = mode;
    e.uid = ::getuid();
    e.gid = ::getgid();
    e.size = size;
    return e;
  }

  std::string dir_, root_;
};

TEST_F(FakeTreeTest, EqualEntriesHaveNoDifferences) {
  EXPECT_TRUE(CompareEntry(File("etc/hostname", 0644, 4), root_, IdMap()).empty());
  CatalogEntry d = File("etc", 0755, 0);
  d.type = CatalogEntry::Type::kDir;
  EXPECT_TRUE(CompareEntry(d, root_, IdMap()).empty());
  CatalogEntry l = File("link", 0777, 0);
  l.type = CatalogEntry::Type::kSymlink;
  l.link = "../etc/hostname";
  EXPECT_TRUE(CompareEntry(l, root_, IdMap()).empty());
  CatalogEntry h = File("hard", 0, 0);
  h.type = CatalogEntry::Type::kHardlink;
  h.link = "etc/hostname";
  EXPECT_TRUE(CompareEntry(h, root_, IdMap()).empty());
}

TEST_F(FakeTreeTest, EachDifferenceIsNamed) {
  auto one = [&](const CatalogEntry& e) {
    auto d = CompareEntry(e, root_, IdMap());
    EXPECT_EQ(d.size(), 1u);
    return d.empty() ? std::string() : d[0];
  };
  EXPECT_EQ(one(File("etc/missing", 0644, 4)), "missing in the restored container");
  EXPECT_EQ(one(File("etc/hostname", 0600, 4)), "mode 0644, the backup has 0600");
  EXPECT_EQ(one(File("etc/hostname", 0644, 5)), "size 4, the backup has 5");
  EXPECT_EQ(one(File("etc", 0755, 0)), "is a directory, the backup has a regular file");
  CatalogEntry l = File("link", 0777, 0);
  l.type = CatalogEntry::Type::kSymlink;
  l.link = "/etc/hostname";
  EXPECT_EQ(one(l), "symlink to '../etc/hostname', the backup has '/etc/hostname'");
  CatalogEntry h = File("hard", 0, 0);
  h.type = CatalogEntry::Type::kHardlink;
  h.link = "link";
  EXPECT_EQ(one(h), "not a hardlink of /link");
  CatalogEntry owner = File("etc/hostname", 0644, 4);
  owner.uid = ::getuid() + 1;
  EXPECT_NE(one(owner).find("owner uid"), std::string::npos);
}

TEST_F(FakeTreeTest, OwnersAreComparedThroughTheNewMap) {
  auto map = IdMap::Parse({"u 0 300000 65536", "g 0 300000 65536"}, true);
  ASSERT_TRUE(map.ok());
  CatalogEntry e = File("etc/hostname", 0644, 4);
  e.uid = 33;
  e.gid = 34;
  auto d = CompareEntry(e, root_, *map);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0],
            fmt::format("owner uid {} on the host, the backup's 33 maps to 300033", ::getuid()));
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  ASSERT_EQ(::lchown((root_ + "/etc/hostname").c_str(), 300033, 300034), 0);
  EXPECT_TRUE(CompareEntry(e, root_, *map).empty());
  // An owner the map cannot represent (the restore gave it the fallback id)
  // is not compared.
  e.uid = 70000;
  EXPECT_TRUE(CompareEntry(e, root_, *map).empty());
}

TEST_F(FakeTreeTest, ContentIsComparedByteForByte) {
  std::string path = root_ + "/etc/hostname";
  {
    ContentComparer c(path);
    c.Feed("ct", 2);
    c.Feed("1\n", 2);
    EXPECT_EQ(c.Finish(), "");
  }
  {
    ContentComparer c(path);
    c.Feed("ct2\n", 4);
    EXPECT_EQ(c.Finish(), "content differs from the backup at byte 2");
  }
  {
    ContentComparer c(path);
    c.Feed("ct1", 3);
    EXPECT_EQ(c.Finish(), "content is longer than the backup's (3 bytes)");
  }
  {
    ContentComparer c(path);
    c.Feed("ct1\nmore", 8);
    EXPECT_EQ(c.Finish(), "content ends at byte 4, the backup's goes on");
  }
  {
    ContentComparer c(root_ + "/nothing");
    c.Feed("x", 1);
    EXPECT_NE(c.Finish().find("cannot be read"), std::string::npos);
  }
}

// A tar of a tree, unpacked by GNU tar elsewhere (as a restore would), then
// changed in ways only some checks see.
class CompareTarTest : public FakeTreeTest {
 protected:
  void SetUp() override {
    FakeTreeTest::SetUp();
    for (int i = 0; i < 100; ++i)
      ASSERT_TRUE(sys::WriteFileAtomic(fmt::format("{}/etc/f{:03}", root_, i),
                                       std::string(1000 + i, static_cast<char>('a' + i % 26)), 0640)
                      .ok());
    tar_ = dir_ + "/b.tar.zst";
    restored_ = dir_ + "/restored";
    fs::create_directories(restored_);
    Run(fmt::format("tar -C {} --numeric-owner -cf - . | zstd -q -c > {}", root_, tar_));
    Run(fmt::format("tar -C {} --numeric-owner -xpf {} --zstd", restored_, tar_));
  }
  static void Run(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

  RestoreTestOptions Options(uint32_t files) {
    RestoreTestOptions o;
    o.sample_files = files;
    return o;
  }

  std::string tar_, restored_;
};

TEST_F(CompareTarTest, AnIntactRestoreMatches) {
  auto r = CompareTarWithRoot(tar_, restored_, IdMap(), Options(64));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->mismatches, 0u) << (r->first_mismatches.empty() ? "" : r->first_mismatches[0]);
  EXPECT_EQ(r->entries, 105u);  // ., etc, hostname, 100 files, link, hard
  EXPECT_EQ(r->files_sampled, 64u);
}

TEST_F(CompareTarTest, ChangedContentOfTheSameSizeIsFoundWhenSampled) {
  Run(fmt::format("printf 'X' | dd of={}/etc/f050 bs=1 seek=500 conv=notrunc status=none",
                  restored_));
  auto all = CompareTarWithRoot(tar_, restored_, IdMap(), Options(1000));
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->mismatches, 1u);
  EXPECT_EQ(all->first_mismatches[0], "/etc/f050: content differs from the backup at byte 500");
  // Metadata alone does not see it.
  auto none = CompareTarWithRoot(tar_, restored_, IdMap(), Options(0));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->mismatches, 0u);
  EXPECT_EQ(none->files_sampled, 0u);
}

TEST_F(CompareTarTest, MissingAndChangedEntriesAreFoundWithoutSampling) {
  fs::remove(restored_ + "/etc/f007");
  ::chmod((restored_ + "/etc/f008").c_str(), 0600);
  ASSERT_TRUE(sys::WriteFileAtomic(restored_ + "/etc/f009", "short", 0640).ok());
  auto r = CompareTarWithRoot(tar_, restored_, IdMap(), Options(0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mismatches, 3u);
  std::set<std::string> got(r->first_mismatches.begin(), r->first_mismatches.end());
  EXPECT_TRUE(got.count("/etc/f007: missing in the restored container"));
  EXPECT_TRUE(got.count("/etc/f008: mode 0600, the backup has 0640"));
  EXPECT_TRUE(got.count("/etc/f009: size 5, the backup has 1009"));
}

TEST_F(CompareTarTest, TheSampleIsBoundedInBytes) {
  RestoreTestOptions o = Options(1000);
  o.sample_bytes = 10000;
  auto r = CompareTarWithRoot(tar_, restored_, IdMap(), o);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->bytes_sampled, 10000u);
  EXPECT_GE(r->files_sampled, 8u);
}

TEST_F(CompareTarTest, ADamagedArchiveFails) {
  auto bytes = sys::ReadFile(tar_);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(sys::WriteFileAtomic(tar_, bytes->substr(0, bytes->size() / 2), 0644).ok());
  auto r = CompareTarWithRoot(tar_, restored_, IdMap(), Options(64));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().message();
}

}  // namespace
}  // namespace ctdump::restore
