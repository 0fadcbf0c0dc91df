// DirProvider tests. Tests whose names contain "Root" need root and user
// namespaces (CTest label root); the others run as any user (label unit).
#include "providers/dir_provider.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "sys/file.h"
#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::providers {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

class RecordingObserver : public Observer {
 public:
  void Log(LogLevel level, std::string_view message) noexcept override {
    (level == LogLevel::kWarn ? warnings : infos).emplace_back(message);
  }
  void OnProgress(const Progress& p) noexcept override { ++progress_calls; }
  std::vector<std::string> warnings, infos;
  int progress_calls = 0;
};

std::string Sh(const std::string& cmd) {
  sys::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", cmd};
  auto r = sys::RunCommand(o);
  EXPECT_TRUE(r.ok() && sys::ExitedOk(r->wait_status)) << cmd << "\n" << (r.ok() ? r->output : "");
  return r.ok() ? r->output : "";
}

void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

// Central European time without tzdata: names use local time.
constexpr char kTz[] = "CET-1CEST,M3.5.0,M10.5.0/3";
constexpr int64_t kStart = 1700000000;  // 2023-11-14 22:13:20 UTC, 23:13:20 CET

class DirProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", kTz, 1);
    ::tzset();
    char tmpl[] = "/var/tmp/ctdump-dir-provider-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    ASSERT_EQ(::chmod(base_.c_str(), 0755), 0);
    store_ = base_ + "/store";
    ASSERT_EQ(::mkdir(store_.c_str(), 0755), 0);
  }
  void TearDown() override {
    if (!base_.empty()) {
      EXPECT_TRUE(sys::RemoveTree(base_).ok());
    }
  }

  Section MakeSection(std::vector<std::pair<std::string, std::string>> extra = {}) {
    Section s{"dir", "backups", {{"path", store_}}};
    for (auto& kv : extra) s.options.push_back(kv);
    return s;
  }

  std::unique_ptr<DirProvider> Open(std::vector<std::pair<std::string, std::string>> extra = {}) {
    auto p = DirProvider::Create(MakeSection(std::move(extra)), &observer_);
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p.ok() ? std::move(*p) : nullptr;
  }

  std::string Dump(const std::string& name = "") const {
    return name.empty() ? store_ + "/dump" : store_ + "/dump/" + name;
  }

  // A finished archive in dump/ written directly (no worker): prefix files and
  // a one-file tree.
  void MakeArchive(const std::string& name, bool with_fw = true) {
    ASSERT_TRUE(sys::MakeDirs(Dump()).ok());
    std::string tree = base_ + "/tree-" + name;
    ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
    WriteFile(tree + "/file", "data");
    archive::TreeWriterOptions o;
    o.prefix_files = {{"./etc/vzdump/pct.conf", "hostname: ct1\n"}};
    if (with_fw) o.prefix_files.push_back({"./etc/vzdump/pct.fw", "[OPTIONS]\nenable: 1\n"});
    if (name.ends_with(".tar.gz")) o.compression = archive::Compression::kGzip;
    if (name.ends_with(".tar")) o.compression = archive::Compression::kNone;
    sys::UniqueFd fd(::open(Dump(name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid());
    auto st = archive::WriteTree(tree, {"./"}, o, fd.get(), &observer_);
    ASSERT_TRUE(st.ok()) << st.status().message();
  }

  std::string base_, store_;
  RecordingObserver observer_;
};

TEST_F(DirProviderTest, CreateValidatesTheSection) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> options;
    Code code;
    std::string message;
  } cases[] = {
      {{}, Code::kInvalidArgument, "storage 'backups' has no 'path'"},
      {{{"path", "relative/dir"}}, Code::kInvalidArgument, "must be an absolute path"},
      {{{"path", "/nonexistent/ctdump"}}, Code::kNotFound, "\"/nonexistent/ctdump\""},
      {{{"path", "@STORE"}, {"compress", "bzip2"}}, Code::kInvalidArgument, "'bzip2'"},
      {{{"path", "@STORE"}, {"compress", "2"}}, Code::kInvalidArgument, "'2'"},
      {{{"path", "@STORE"}, {"zstd", "-1"}}, Code::kInvalidArgument, "zstd '-1'"},
      {{{"path", "@STORE"}, {"zstd", "two"}}, Code::kInvalidArgument, "zstd 'two'"},
      {{{"path", "@STORE"}, {"prune-backups", "keep-often=3"}},
       Code::kInvalidArgument,
       "prune-backups"},
      {{{"path", "@STORE"}, {"max-protected-backups", "-2"}},
       Code::kInvalidArgument,
       "max-protected-backups '-2'"},
  };
  for (auto& c : cases) {
    Section s{"dir", "backups", {}};
    for (auto [k, v] : c.options) s.options.emplace_back(k, v == "@STORE" ? store_ : v);
    auto p = DirProvider::Create(s, &observer_);
    ASSERT_FALSE(p.ok()) << c.message;
    EXPECT_EQ(p.status().code(), c.code) << p.status().message();
    EXPECT_THAT(p.status().message(), HasSubstr(c.message));
  }
}

TEST_F(DirProviderTest, DefaultsAndOptions) {
  auto p = Open();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name(), "dir");
  EXPECT_EQ(p->storage_id(), "backups");
  EXPECT_EQ(p->dump_dir(), store_ + "/dump");
  EXPECT_EQ(p->compression(), archive::Compression::kZstd);
  EXPECT_EQ(p->zstd_threads(), 1);
  EXPECT_FALSE(p->prune_options());
  EXPECT_EQ(p->max_protected_backups(), -1);
  for (const char* f : {"list_backups", "delete_backup", "update_attribute"})
    EXPECT_TRUE(p->HasFeature(f)) << f;
  EXPECT_FALSE(p->HasFeature("backup_vm"));
  auto q = Open({{"compress", "gzip"},
                 {"zstd", "0"},
                 {"prune-backups", "keep-last=3"},
                 {"max-protected-backups", "5"},
                 {"content", "backup"}});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->compression(), archive::Compression::kGzip);
  EXPECT_EQ(q->zstd_threads(), 0);
  ASSERT_TRUE(q->prune_options());
  EXPECT_EQ(q->prune_options()->keep_last, 3u);
  EXPECT_EQ(q->max_protected_backups(), 5);
}

TEST_F(DirProviderTest, BackupNamesUseLocalTime) {
  EXPECT_EQ(BackupBaseName("101", kStart), "vzdump-lxc-101-2023_11_14-23_13_20");
  auto p = Open();
  auto name = p->BackupInit("101", kStart);
  ASSERT_TRUE(name.ok()) << name.status().message();
  EXPECT_EQ(*name, "vzdump-lxc-101-2023_11_14-23_13_20.tar.zst");
  EXPECT_TRUE(IsValidArchiveName(*name));
  EXPECT_TRUE(sys::IsDirectory(Dump()));  // created on demand
  EXPECT_EQ(*p->BackupGetMechanism("101"), "directory");
  EXPECT_TRUE(p->BackupContainerPrepare("101", BackupInfo())->is_null());
  EXPECT_EQ(*Open({{"compress", "gzip"}})->BackupInit("7", kStart),
            "vzdump-lxc-7-2023_11_14-23_13_20.tar.gz");
  EXPECT_EQ(*Open({{"compress", "none"}})->BackupInit("web-1", kStart),
            "vzdump-lxc-web-1-2023_11_14-23_13_20.tar");
  auto bad = p->BackupInit("a b", kStart);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

TEST_F(DirProviderTest, BackupInitRefusesAnExistingArchive) {
  MakeArchive("vzdump-lxc-101-2023_11_14-23_13_20.tar.zst");
  auto r = Open()->BackupInit("101", kStart);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kAlreadyExists);
}

TEST_F(DirProviderTest, ParseBackupNameTable) {
  struct Case {
    std::string name;
    std::optional<std::string> vmid;
  } cases[] = {
      {"vzdump-lxc-101-2023_11_14-23_13_20.tar.zst", "101"},
      {"vzdump-lxc-101-2023_11_14-23_13_20.tar.gz", "101"},
      {"vzdump-lxc-101-2023_11_14-23_13_20.tar", "101"},
      {"vzdump-lxc-web-1-2023_11_14-23_13_20.tar", "web-1"},
      {"vzdump-lxc-101-2023_11_14-23_13_20.tar.zst.tmp", std::nullopt},
      {"vzdump-lxc-101-2023_11_14-23_13_20.tar.zst.notes", std::nullopt},
      {"vzdump-lxc-101-2023_11_14-23_13_20.log", std::nullopt},
      {"vzdump-qemu-101-2023_11_14-23_13_20.vma.zst", std::nullopt},
      // Every name PVE's archive_info and decompressor_info accept.
      {"vzdump-lxc-101-2023_11_14-23_13_20.tar.lzo", "101"},
      {"vzdump-lxc-101-2023_11_14-23_13_20.tar.bz2", "101"},
      {"vzdump-lxc-101-2023_11_14-23_13_20.tgz", "101"},
      {"vzdump-lxc-101-2023_11_14-23_13_20.tgz.notes", std::nullopt},
      {"vzdump-lxc-101-2023_11_14-23_13_20.tar.xz", std::nullopt},
      {"vzdump-lxc--2023_11_14-23_13_20.tar", std::nullopt},
      {"../vzdump-lxc-101-2023_11_14-23_13_20.tar", std::nullopt},
      {"vzdump-lxc-a/b-2023_11_14-23_13_20.tar", std::nullopt},
      {"", std::nullopt},
  };
  for (const auto& c : cases) {
    auto b = ParseBackupName(c.name);
    EXPECT_EQ(b.has_value(), c.vmid.has_value()) << c.name;
    if (b && c.vmid) {
      EXPECT_EQ(b->vmid, *c.vmid);
      EXPECT_EQ(b->ctime, kStart) << c.name;  // local time, read back
    }
  }
}

TEST_F(DirProviderTest, ListBackupsReadsNamesNotesAndProtection) {
  MakeArchive("vzdump-lxc-101-2023_11_14-23_13_20.tar.zst");
  MakeArchive("vzdump-lxc-101-2023_11_15-01_00_00.tar.gz");
  MakeArchive("vzdump-lxc-102-2023_11_14-23_13_20.tar");
  WriteFile(Dump("vzdump-lxc-101-2023_11_14-23_13_20.tar.zst.notes"), "first line\nsecond\n");
  WriteFile(Dump("vzdump-lxc-101-2023_11_15-01_00_00.tar.gz.protected"), "");
  for (const char* other :
       {"vzdump-lxc-101-2023_11_14-23_13_20.log", "vzdump-lxc-103-2023_11_14-23_13_20.tar.zst.tmp",
        "vzdump-qemu-104-2023_11_14-23_13_20.vma.zst", "random.txt"})
    WriteFile(Dump(other), "x");
  auto p = Open();
  auto all = p->ListBackups(std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 3u);
  const BackupEntry& a = (*all)[0];
  EXPECT_EQ(a.volname, "vzdump-lxc-101-2023_11_14-23_13_20.tar.zst");
  EXPECT_EQ(a.vmid, "101");
  EXPECT_EQ(a.vmtype, "lxc");
  EXPECT_EQ(a.ctime, kStart);
  struct stat st;
  ASSERT_EQ(::stat(Dump(a.volname).c_str(), &st), 0);
  EXPECT_EQ(a.size, static_cast<uint64_t>(st.st_size));
  EXPECT_EQ(a.notes, "first line");
  EXPECT_FALSE(a.is_protected);
  EXPECT_EQ((*all)[1].volname, "vzdump-lxc-101-2023_11_15-01_00_00.tar.gz");
  EXPECT_TRUE((*all)[1].is_protected);
  EXPECT_FALSE((*all)[1].notes);
  EXPECT_EQ((*all)[2].vmid, "102");
  auto only = p->ListBackups(std::string("102"));
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ((*only)[0].volname, "vzdump-lxc-102-2023_11_14-23_13_20.tar");
}

TEST_F(DirProviderTest, ListBackupsWithoutDumpDirectoryIsEmpty) {
  auto list = Open()->ListBackups(std::nullopt);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(DirProviderTest, DeleteRemovesArchiveAndSidecarsButNotProtected) {
  const std::string vol = "vzdump-lxc-101-2023_11_14-23_13_20.tar.zst";
  MakeArchive(vol);
  WriteFile(Dump(vol + ".notes"), "n");
  WriteFile(Dump("vzdump-lxc-101-2023_11_14-23_13_20.log"), "log");
  auto p = Open();
  ASSERT_TRUE(p->UpdateAttribute(vol, "protected", true).ok());
  Status s = p->DeleteBackup(vol);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "backup '" + vol + "' is protected");
  EXPECT_TRUE(sys::PathExists(Dump(vol)));
  ASSERT_TRUE(p->UpdateAttribute(vol, "protected", false).ok());
  ASSERT_TRUE(p->DeleteBackup(vol).ok());
  for (const std::string& f :
       {vol, vol + ".notes", std::string("vzdump-lxc-101-2023_11_14-23_13_20.log")})
    EXPECT_FALSE(sys::PathExists(Dump(f))) << f;
  EXPECT_EQ(p->DeleteBackup(vol).code(), Code::kNotFound);
  EXPECT_EQ(p->DeleteBackup("../../etc/passwd").code(), Code::kInvalidArgument);
}

TEST_F(DirProviderTest, UpdateAttributeWritesSidecars) {
  const std::string vol = "vzdump-lxc-101-2023_11_14-23_13_20.tar.zst";
  MakeArchive(vol);
  auto p = Open();
  ASSERT_TRUE(p->UpdateAttribute(vol, "notes", "line 1\nline 2").ok());
  EXPECT_EQ(*sys::ReadFile(Dump(vol + ".notes")), "line 1\nline 2");
  ASSERT_TRUE(p->UpdateAttribute(vol, "notes", "").ok());
  EXPECT_FALSE(sys::PathExists(Dump(vol + ".notes")));
  ASSERT_TRUE(p->UpdateAttribute(vol, "protected", 1).ok());
  EXPECT_EQ(*sys::ReadFile(Dump(vol + ".protected")), "");
  ASSERT_TRUE(p->UpdateAttribute(vol, "protected", true).ok());  // idempotent
  ASSERT_TRUE(p->UpdateAttribute(vol, "protected", false).ok());
  EXPECT_FALSE(sys::PathExists(Dump(vol + ".protected")));
  Status unknown = p->UpdateAttribute(vol, "color", "red");
  EXPECT_EQ(unknown.code(), Code::kInvalidArgument);
  EXPECT_THAT(unknown.message(), HasSubstr("'color'"));
  EXPECT_EQ(p->UpdateAttribute("vzdump-lxc-9-2023_11_14-23_13_20.tar", "notes", "x").code(),
            Code::kNotFound);
}

TEST_F(DirProviderTest, RestoreReadsConfigsFromTheArchive) {
  const std::string vol = "vzdump-lxc-101-2023_11_14-23_13_20.tar.zst";
  MakeArchive(vol);
  MakeArchive("vzdump-lxc-102-2023_11_14-23_13_20.tar.gz", false);
  auto p = Open();
  EXPECT_EQ(*p->RestoreGetMechanism(vol), RestoreMechanism::kTar);
  EXPECT_EQ(*p->ArchiveGetGuestConfig(vol), "hostname: ct1\n");
  EXPECT_EQ(**p->ArchiveGetFirewallConfig(vol), "[OPTIONS]\nenable: 1\n");
  EXPECT_FALSE(*p->ArchiveGetFirewallConfig("vzdump-lxc-102-2023_11_14-23_13_20.tar.gz"));
  EXPECT_EQ(*p->RestoreContainerInit(vol, RestoreMechanism::kTar), Dump(vol));
  EXPECT_FALSE(p->RestoreContainerInit(vol, RestoreMechanism::kDirectory).ok());
  EXPECT_TRUE(p->RestoreContainerCleanup(vol).ok());
  EXPECT_EQ(p->RestoreGetMechanism("vzdump-lxc-9-2023_11_14-23_13_20.tar").status().code(),
            Code::kNotFound);
}

// PVE extracts ./etc/vzdump/pct.conf wherever it is in the archive, and only
// under that exact name.
TEST_F(DirProviderTest, GuestConfigIsFoundAnywhereWithTheDotSlashName) {
  ASSERT_TRUE(sys::MakeDirs(Dump()).ok());
  std::string tree = base_ + "/last";
  ASSERT_TRUE(sys::MakeDirs(tree + "/etc/vzdump").ok());
  ASSERT_TRUE(sys::MakeDirs(tree + "/srv").ok());
  WriteFile(tree + "/srv/a", std::string(100000, 'a'));
  WriteFile(tree + "/etc/vzdump/pct.conf", "hostname: last\n");
  WriteFile(tree + "/etc/vzdump/pct.fw", "[OPTIONS]\n");
  const std::string last = "vzdump-lxc-7-2023_11_14-23_13_20.tar.gz";
  Sh("tar -czf '" + Dump(last) + "' -C '" + tree +
     "' ./srv ./etc/vzdump/pct.conf ./etc/vzdump/pct.fw");
  EXPECT_EQ(*Open()->ArchiveGetGuestConfig(last), "hostname: last\n");
  EXPECT_EQ(**Open()->ArchiveGetFirewallConfig(last), "[OPTIONS]\n");
  const std::string bare = "vzdump-lxc-8-2023_11_14-23_13_20.tar";
  Sh("tar -cf '" + Dump(bare) + "' -C '" + tree + "' etc/vzdump/pct.conf srv");
  auto r = Open()->ArchiveGetGuestConfig(bare);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(DirProviderTest, GuestConfigMissingFromArchive) {
  const std::string vol = "vzdump-lxc-5-2023_11_14-23_13_20.tar";
  ASSERT_TRUE(sys::MakeDirs(Dump()).ok());
  std::string tree = base_ + "/plain";
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  Sh("tar -cf '" + Dump(vol) + "' -C '" + tree + "' .");
  auto r = Open()->ArchiveGetGuestConfig(vol);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "unable to find guest config in archive '" + vol +
                                      "' (no member './etc/vzdump/pct.conf')");
  WriteFile(Dump("vzdump-lxc-6-2023_11_14-23_13_20.tar.zst"), "not an archive at all");
  auto bad = Open()->ArchiveGetGuestConfig("vzdump-lxc-6-2023_11_14-23_13_20.tar.zst");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kDataLoss);
}

TEST_F(DirProviderTest, CleanupAndLogWithoutWorker) {
  auto p = Open();
  // Cleanup of a guest that never got to backup_init.
  EXPECT_FALSE(*p->BackupCleanup("9", false, false, "no such guest"));
  EXPECT_TRUE(p->BackupHandleLogFile("9", "/nonexistent").ok());
  auto name = p->BackupInit("101", kStart);
  ASSERT_TRUE(name.ok());
  auto done = p->BackupCleanup("101", true, true, "");
  EXPECT_FALSE(done.ok());  // success without an archive written
  EXPECT_EQ(p->UpdateAttribute(*name, "notes", "n").code(), Code::kNotFound);
  EXPECT_FALSE(*p->BackupCleanup("101", true, false, "failed"));
  std::string log = base_ + "/task.log";
  WriteFile(log, "INFO: Starting Backup of VM 101 (lxc)\n");
  ASSERT_TRUE(p->BackupHandleLogFile("101", log).ok());
  EXPECT_EQ(*sys::ReadFile(Dump("vzdump-lxc-101-2023_11_14-23_13_20.log")),
            "INFO: Starting Backup of VM 101 (lxc)\n");
  EXPECT_FALSE(p->BackupHandleLogFile("101", base_ + "/missing.log").ok());
}

// ---- Root: the worker in a user namespace ---------------------------------

class DirProviderRootTest : public DirProviderTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (user namespaces, chown)";
    DirProviderTest::SetUp();
    auto m = IdMap::Parse({"u 0 100000 65536", "g 0 100000 65536"}, true);
    ASSERT_TRUE(m.ok()) << m.status().message();
    map_ = *m;
    tree_ = base_ + "/rootfs";
    MakeTreeEntry("", 'd', 100000, 0755);
    MakeTreeEntry("etc", 'd', 100000, 0755);
    MakeTreeEntry("etc/hostname", 'f', 100000, 0644, "ct1\n");
    MakeTreeEntry("home", 'd', 100000, 0755);
    MakeTreeEntry("home/user", 'd', 101000, 0700);
    MakeTreeEntry("home/user/notes", 'f', 101000, 0600, "mine\n");
    MakeTreeEntry("hostsecret", 'f', 0, 0600, "host root only\n");
    MakeTreeEntry("lost+found", 'd', 100000, 0700);
    MakeTreeEntry("tmp", 'd', 100000, 01777);
    MakeTreeEntry("tmp/junk", 'f', 100000, 0644, "junk");
    MakeTreeEntry("var", 'd', 100000, 0755);
    MakeTreeEntry("var/cache", 'd', 100000, 0755);
    MakeTreeEntry("var/cache/big", 'f', 100000, 0644, "cache");
  }

  void MakeTreeEntry(const std::string& rel, char type, uid_t id, mode_t mode,
                     const std::string& data = "") {
    std::string p = rel.empty() ? tree_ : tree_ + "/" + rel;
    if (type == 'd') {
      ASSERT_EQ(::mkdir(p.c_str(), mode), 0) << p;
    } else {
      std::ofstream(p) << data;
    }
    ASSERT_EQ(::chown(p.c_str(), id, id), 0);
    ASSERT_EQ(::chmod(p.c_str(), mode), 0);
  }

  BackupContainerRequest Request() {
    BackupContainerRequest r;
    r.vmid = "101";
    r.guest_config = "arch: amd64\nhostname: ct1\nunprivileged: 1\n";
    r.exclude_patterns = {"/tmp/?*", "cache/"};
    r.info.directory = tree_;
    r.info.sources = {"./"};
    r.info.backup_user_id = 100000;
    r.info.firewall_config = "[OPTIONS]\nenable: 1\n";
    return r;
  }

  std::string TarList(const std::string& path) {
    return Sh("tar -I zstd --numeric-owner -tvf '" + path + "' 2>&1 | awk '{print $1, $2, $6}'");
  }

  IdMap map_;
  std::string tree_;
};

TEST_F(DirProviderRootTest, FullBackupRoundTrip) {
  auto p = Open();
  ASSERT_TRUE(p->JobInit(kStart).ok());
  auto vol = p->BackupInit("101", kStart);
  ASSERT_TRUE(vol.ok()) << vol.status().message();
  EXPECT_EQ(*p->BackupGetMechanism("101"), "directory");
  auto req = Request();
  auto state = p->BackupContainerPrepare("101", req.info);
  ASSERT_TRUE(state.ok());
  req.worker_state = *state;
  Status s = p->BackupContainer(map_, req);
  ASSERT_TRUE(s.ok()) << s.message();
  const std::string final_path = Dump(*vol);
  // Published as soon as complete (before the job's retention runs).
  EXPECT_FALSE(sys::PathExists(final_path + ".tmp"));
  EXPECT_TRUE(sys::PathExists(final_path));
  EXPECT_THAT(observer_.warnings,
              ::testing::ElementsAre("unable to read '/hostsecret': Permission denied"));
  EXPECT_GE(observer_.progress_calls, 1);

  auto size = p->BackupCleanup("101", true, true, "");
  ASSERT_TRUE(size.ok()) << size.status().message();
  EXPECT_FALSE(sys::PathExists(final_path + ".tmp"));
  struct stat st;
  ASSERT_EQ(::stat(final_path.c_str(), &st), 0);
  EXPECT_EQ(**size, static_cast<uint64_t>(st.st_size));
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  // GNU tar sees the container's owners; exclusions and lost+found applied.
  EXPECT_EQ(TarList(final_path),
            "-rw-r--r-- 0/0 ./etc/vzdump/pct.conf\n"
            "-rw-r--r-- 0/0 ./etc/vzdump/pct.fw\n"
            "drwxr-xr-x 0/0 ./\n"
            "drwxr-xr-x 0/0 ./etc/\n"
            "-rw-r--r-- 0/0 ./etc/hostname\n"
            "drwxr-xr-x 0/0 ./home/\n"
            "drwx------ 1000/1000 ./home/user/\n"
            "-rw------- 1000/1000 ./home/user/notes\n"
            "drwxrwxrwt 0/0 ./tmp/\n"
            "drwxr-xr-x 0/0 ./var/\n");
  EXPECT_EQ(*p->ArchiveGetGuestConfig(*vol), Request().guest_config);
  EXPECT_EQ(**p->ArchiveGetFirewallConfig(*vol), "[OPTIONS]\nenable: 1\n");

  std::string log = base_ + "/task.log";
  WriteFile(log, "INFO: done\n");
  ASSERT_TRUE(p->BackupHandleLogFile("101", log).ok());
  EXPECT_TRUE(sys::PathExists(Dump("vzdump-lxc-101-2023_11_14-23_13_20.log")));
  auto list = p->ListBackups(std::string("101"));
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].volname, *vol);
  EXPECT_TRUE(p->JobCleanup().ok());
  EXPECT_TRUE(p->Shutdown().ok());
}

TEST_F(DirProviderRootTest, ExtractedTreeKeepsContainerOwnersInsideTheNamespace) {
  auto p = Open({{"compress", "gzip"}});
  auto vol = p->BackupInit("101", kStart);
  ASSERT_TRUE(vol.ok());
  ASSERT_TRUE(p->BackupContainer(map_, Request()).ok());
  ASSERT_TRUE(p->BackupCleanup("101", true, true, "").ok());
  std::string dest = base_ + "/dest";
  ASSERT_EQ(::mkdir(dest.c_str(), 0755), 0);
  Sh("tar --numeric-owner -xpzf '" + Dump(*vol) + "' -C '" + dest + "'");
  struct stat st;
  ASSERT_EQ(::stat((dest + "/home/user/notes").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);  // container view, unshifted
  EXPECT_FALSE(sys::PathExists(dest + "/hostsecret"));
}

TEST_F(DirProviderRootTest, PrivilegedContainerRunsAsHostRoot) {
  auto p = Open({{"compress", "none"}});
  auto vol = p->BackupInit("101", kStart);
  ASSERT_TRUE(vol.ok());
  auto req = Request();
  req.exclude_patterns.clear();
  ASSERT_TRUE(p->BackupContainer(IdMap(), req).ok());
  ASSERT_TRUE(p->BackupCleanup("101", true, true, "").ok());
  std::string list = Sh("tar --numeric-owner -tvf '" + Dump(*vol) + "' | awk '{print $2, $6}'");
  EXPECT_THAT(list, HasSubstr("100000/100000 ./etc/hostname\n"));
  EXPECT_THAT(list, HasSubstr("0/0 ./hostsecret\n"));
  EXPECT_THAT(list, HasSubstr("./lost+found/\n"));  // kept for privileged containers
  EXPECT_TRUE(observer_.warnings.empty());
}

TEST_F(DirProviderRootTest, SignalCancelsTheWorker) {
  auto p = Open();
  auto vol = p->BackupInit("101", kStart);
  ASSERT_TRUE(vol.ok());
  auto req = Request();
  req.info.bandwidth_limit = 1;  // one byte per second: the worker would take hours
  sys::InstallInterruptHandlers();
  sys::ResetInterruptForTest();
  sys::SpawnOptions o;
  o.argv = {"/bin/sh", "-c", fmt::format("sleep 0.3; kill -TERM {}", ::getpid())};
  auto killer = sys::Spawn(o);
  ASSERT_TRUE(killer.ok());
  auto start = std::chrono::steady_clock::now();
  Status s = p->BackupContainer(map_, req);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  sys::ResetInterruptForTest();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kCancelled);
  EXPECT_FALSE(sys::PathExists(Dump(*vol) + ".tmp"));
  ASSERT_TRUE(killer->Wait().ok());
}

TEST_F(DirProviderRootTest, FailedBackupLeavesNoArchive) {
  auto p = Open();
  auto vol = p->BackupInit("101", kStart);
  ASSERT_TRUE(vol.ok());
  auto req = Request();
  req.info.sources = {"./", "./mnt/missing"};
  Status s = p->BackupContainer(map_, req);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(tree_ + "/mnt/missing"));
  EXPECT_EQ(s.code(), Code::kNotFound);  // the worker's code survives the pipe
  EXPECT_FALSE(sys::PathExists(Dump(*vol) + ".tmp"));
  EXPECT_EQ(p->UpdateAttribute(*vol, "notes", "x").code(), Code::kNotFound);
  auto r = p->BackupCleanup("101", true, false, s.message());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_FALSE(sys::PathExists(Dump(*vol)));
  EXPECT_TRUE(p->ListBackups(std::nullopt)->empty());
}

TEST_F(DirProviderRootTest, CleanupAfterLateFailureKeepsTheCompleteArchive) {
  auto p = Open();
  auto vol = p->BackupInit("101", kStart);
  ASSERT_TRUE(vol.ok());
  ASSERT_TRUE(p->BackupContainer(map_, Request()).ok());
  // The job sets notes and protection before backup_cleanup.
  ASSERT_TRUE(p->UpdateAttribute(*vol, "notes", "nightly").ok());
  ASSERT_TRUE(p->UpdateAttribute(*vol, "protected", true).ok());
  ASSERT_TRUE(p->BackupCleanup("101", true, false, "prune failed").ok());
  // The data is complete: deleting it would only lose it.
  for (const char* suffix : {"", ".notes", ".protected"})
    EXPECT_TRUE(sys::PathExists(Dump(*vol) + suffix)) << suffix;
  EXPECT_FALSE(sys::PathExists(Dump(*vol) + ".tmp"));
}

}  // namespace
}  // namespace ctdump::providers
