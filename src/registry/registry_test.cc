// The registry: storage settings parsed once, and a backup job's options
// reaching the providers that use them (and logged as ignored by the others).
#include "registry/registry.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "providers/dir_provider.h"
#include "sys/file.h"

namespace ctdump::registry {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

class Lines : public Observer {
 public:
  void Log(LogLevel, std::string_view m) noexcept override { lines.emplace_back(m); }
  std::vector<std::string> lines;
};

Section Storage(std::vector<std::pair<std::string, std::string>> options) {
  return Section{"dir", "backups", std::move(options)};
}

TEST(StorageSettingsTest, Table) {
  auto none = ParseStorageSettings(Storage({{"path", "/x"}}));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->prune);
  EXPECT_EQ(none->max_protected, -1);

  auto set = ParseStorageSettings(
      Storage({{"prune-backups", "keep-last=3,keep-daily=7"}, {"max-protected-backups", "5"}}));
  ASSERT_TRUE(set.ok()) << set.status().message();
  ASSERT_TRUE(set->prune);
  EXPECT_EQ(set->prune->keep_last, 3u);
  EXPECT_EQ(set->prune->keep_daily, 7u);
  EXPECT_EQ(set->max_protected, 5);
  EXPECT_EQ(ParseStorageSettings(Storage({{"max-protected-backups", "-1"}}))->max_protected, -1);

  for (const char* bad : {"-2", "5abc", "", "99999999999999999999", "five"}) {
    auto r = ParseStorageSettings(Storage({{"max-protected-backups", bad}}));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_EQ(
        r.status().message(),
        fmt::format("storage 'backups': max-protected-backups '{}' is not an integer >= -1", bad));
  }
  auto prune = ParseStorageSettings(Storage({{"prune-backups", "keep-never=1"}}));
  EXPECT_FALSE(prune.ok());
  EXPECT_THAT(prune.status().message(), HasSubstr("storage 'backups': prune-backups: "));
}

class OpenBackupStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ctdump-registry-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(sys::MakeDirs(dir_ + "/store", 0755).ok());
  }
  void TearDown() override { ASSERT_TRUE(sys::RemoveTree(dir_).ok()); }
  void WriteConfig(const std::string& text) { std::ofstream(dir_ + "/storage.cfg") << text; }

  std::string dir_;
  Lines log_;
};

TEST_F(OpenBackupStorageTest, DirStorageGetsTheJobsCompressionAndItsSettings) {
  WriteConfig("dir: backups\n\tpath " + dir_ +
              "/store\n\tcompress gzip\n\tprune-backups keep-last=2\n\tmax-protected-backups 4\n");
  BackupJobSettings job;
  job.compress = "lzo";
  job.zstd_threads = 3;
  auto s = OpenBackupStorage(dir_, "backups", job, &log_);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->dump_dir, dir_ + "/store/dump");
  ASSERT_TRUE(s->settings.prune);
  EXPECT_EQ(s->settings.prune->keep_last, 2u);
  EXPECT_EQ(s->settings.max_protected, 4);
  auto* dir = dynamic_cast<providers::DirProvider*>(s->provider.get());
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->compression(), archive::Compression::kLzo);
  EXPECT_EQ(dir->zstd_threads(), 3);
  EXPECT_THAT(log_.lines, IsEmpty());
}

TEST_F(OpenBackupStorageTest, WithoutJobOptionsTheStoragesOwnApply) {
  WriteConfig("dir: backups\n\tpath " + dir_ + "/store\n\tcompress gzip\n");
  auto s = OpenBackupStorage(dir_, "backups", BackupJobSettings(), &log_);
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto* dir = dynamic_cast<providers::DirProvider*>(s->provider.get());
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->compression(), archive::Compression::kGzip);
}

TEST_F(OpenBackupStorageTest, OptionsOfOtherStoragesAreLoggedAsIgnored) {
  WriteConfig("dir: backups\n\tpath " + dir_ + "/store\n");
  BackupJobSettings job;
  job.force_full = true;
  ASSERT_TRUE(OpenBackupStorage(dir_, "backups", job, &log_).ok());
  EXPECT_THAT(log_.lines,
              Contains("--force-full is ignored: only datastore storages back up incrementally"));
  EXPECT_THAT(log_.lines, Not(Contains(HasSubstr("compress/zstd"))));
}

TEST_F(OpenBackupStorageTest, ErrorsSayWhichStorage) {
  WriteConfig("dir: backups\n\tpath " + dir_ + "/store\n\tmax-protected-backups x\n");
  auto missing = OpenBackupStorage(dir_, "nope", BackupJobSettings(), &log_);
  EXPECT_EQ(missing.status().message(),
            "could not get storage information for 'nope': storage 'nope' does not exist in " +
                dir_ + "/storage.cfg (it has: backups)");
  auto bad = OpenBackupStorage(dir_, "backups", BackupJobSettings(), &log_);
  EXPECT_EQ(bad.status().message(),
            "storage 'backups': max-protected-backups 'x' is not an integer >= -1");
  WriteConfig("dir: backups\n\tpath relative/path\n");
  auto relative = OpenBackupStorage(dir_, "backups", BackupJobSettings(), &log_);
  EXPECT_THAT(relative.status().message(),
              HasSubstr("could not get storage information for 'backups': "));
  BackupJobSettings job;
  job.compress = "bzip9";
  WriteConfig("dir: backups\n\tpath " + dir_ + "/store\n");
  EXPECT_FALSE(OpenBackupStorage(dir_, "backups", job, &log_).ok());
}

TEST_F(OpenBackupStorageTest, DumpDirIsADirStorageWithoutSettings) {
  BackupJobSettings job;
  job.compress = "gzip";
  auto s = OpenDumpDir(dir_ + "/store", job, &log_);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->dump_dir, dir_ + "/store");
  EXPECT_FALSE(s->settings.prune);
  auto* dir = dynamic_cast<providers::DirProvider*>(s->provider.get());
  ASSERT_NE(dir, nullptr);
  EXPECT_EQ(dir->dump_dir(), dir_ + "/store");
  EXPECT_EQ(dir->compression(), archive::Compression::kGzip);
  EXPECT_EQ(OpenDumpDir(dir_ + "/none", job, &log_).status().message(),
            "dumpdir '" + dir_ + "/none' does not exist");
}

TEST_F(OpenBackupStorageTest, FindStorageNamesAMissingOne) {
  std::vector<Section> storages{Storage({{"path", "/x"}}), Section{"datastore", "ds", {}}};
  auto found = FindStorage(storages, "ds");
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_EQ(*found, &storages[1]);
  auto missing = FindStorage(storages, "nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "storage 'nope' does not exist");
}

TEST_F(OpenBackupStorageTest, OpenStorageReadsTheConfigDir) {
  WriteConfig("dir: backups\n\tpath " + dir_ + "/store\n");
  auto p = OpenStorage(dir_, "backups", &log_);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_NE(dynamic_cast<providers::DirProvider*>(p->get()), nullptr);
  auto missing = OpenStorage(dir_, "nope", &log_);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "storage 'nope' does not exist in " + dir_ + "/storage.cfg (it has: backups)");
  WriteConfig("dir: backups\n\tpath " + dir_ + "/store\ndir: backups\n\tpath /x\n");
  EXPECT_FALSE(OpenStorage(dir_, "backups", &log_).ok());  // duplicate id
}

TEST_F(OpenBackupStorageTest, OpenDatastoreOnlyOpensDatastores) {
  std::vector<Section> storages{Storage({{"path", dir_ + "/store"}}),
                                Section{"datastore", "ds", {{"path", dir_ + "/store"}}}};
  auto ds = OpenDatastore(storages, "ds");
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ((*ds)->name(), "datastore 'ds'");
  EXPECT_FALSE((*ds)->exists());  // opening never creates the store
  auto other = OpenDatastore(storages, "backups");
  EXPECT_EQ(other.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(other.status().message(), "storage 'backups' is of type 'dir', not a datastore");
  auto missing = OpenDatastore(storages, "nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "storage 'nope' does not exist");
  storages[1].options.emplace_back("bogus", "1");
  EXPECT_EQ(OpenDatastore(storages, "ds").status().message(), "storage 'ds': unknown key 'bogus'");
}

// First-run help: every lookup through LoadStorageConfig names the file, and
// a missing one comes with the path and a section to start from.
TEST_F(OpenBackupStorageTest, AStorageNotFoundNamesTheFile) {
  const std::string cfg = dir_ + "/storage.cfg";
  auto none = LoadStorageConfig(dir_);
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_FALSE(none->exists);
  EXPECT_EQ(none->path, cfg);
  EXPECT_THAT(*none, IsEmpty());
  const std::string first_run = "storage 'local' does not exist: no storage.cfg at " + cfg +
                                "; create it, e.g. with the line \"dir: local\" and below it the "
                                "indented line \"path /var/lib/vz\"";
  EXPECT_EQ(FindStorage(*none, "local").status().message(), first_run);
  EXPECT_EQ(OpenStorage(dir_, "local", &log_).status().message(), first_run);
  EXPECT_EQ(OpenDatastore(*none, "local").status().message(), first_run);
  EXPECT_EQ(OpenBackupStorage(dir_, "local", BackupJobSettings(), &log_).status().message(),
            "could not get storage information for 'local': " + first_run);
  // The example is a section that works for the id asked for, or 'local'
  // when that id could not be one.
  EXPECT_THAT(FindStorage(*none, "backups").status().message(), HasSubstr("\"dir: backups\""));
  EXPECT_THAT(FindStorage(*none, "1bad").status().message(), HasSubstr("\"dir: local\""));

  WriteConfig("# nothing yet\n");
  auto empty = LoadStorageConfig(dir_);
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_TRUE(empty->exists);
  EXPECT_EQ(FindStorage(*empty, "local").status().message(),
            "storage 'local' does not exist: " + cfg + " has no storages");

  WriteConfig("dir: backups\n\tpath " + dir_ + "/store\n\ndatastore: ds\n\tpath " + dir_ +
              "/store\n");
  auto two = LoadStorageConfig(dir_);
  ASSERT_TRUE(two.ok()) << two.status().message();
  auto missing = FindStorage(*two, "local");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "storage 'local' does not exist in " + cfg + " (it has: backups, ds)");
  EXPECT_EQ(OpenStorage(*two, "local", &log_).status().message(), missing.status().message());
  EXPECT_EQ(OpenDatastore(*two, "local").status().message(), missing.status().message());
  EXPECT_EQ(*FindStorage(*two, "ds"), &(*two)[1]);
  // A plain list of sections knows no file.
  std::vector<Section> plain = *two;
  EXPECT_EQ(FindStorage(plain, "local").status().message(), "storage 'local' does not exist");
}

}  // namespace
}  // namespace ctdump::registry
