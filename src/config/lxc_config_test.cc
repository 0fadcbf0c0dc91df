#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "config/config_test_util.h"
#include "ctdump/container_config.h"

namespace ctdump {
namespace {

using testing_util::Expand;
using testing_util::MemoryFiles;
using testing_util::Mutate;
using testing_util::TempDir;

// Each case is written below a fresh temporary directory; "$D" in file
// contents and expectations stands for that directory. The container config
// is always "ct/config".
struct LxcCase {
  const char* name;
  std::map<std::string, std::string> files{};
  std::string error{};  // substring of the expected message; "" = success
  Code code = Code::kInvalidArgument;
  std::string rootfs{};
  std::string backend = "dir";
  std::string hostname{};
  std::vector<std::string> idmaps{};
  std::vector<MountPoint> mounts{};
  size_t warnings = 0;
};

void PrintTo(const LxcCase& c, std::ostream* os) { *os << c.name; }

MountPoint Bind(std::string key, std::string source, std::string path, std::string options,
                bool backup = false) {
  return {
      std::move(key), std::move(source), std::move(path), "none", std::move(options), true, false,
      backup};
}

MountPoint Fs(std::string key, std::string source, std::string path, std::string fstype,
              std::string options) {
  return {std::move(key),
          std::move(source),
          std::move(path),
          std::move(fstype),
          std::move(options),
          false,
          false,
          false};
}

std::map<std::string, std::string> Main(std::string text) { return {{"ct/config", text}}; }

const char kRootfs[] = "lxc.rootfs.path = dir:/var/lib/lxc/ct/rootfs\n";

std::vector<LxcCase> RootfsCases() {
  return {
      {.name = "DirRootfs",
       .files = Main("lxc.rootfs.path = dir:/var/lib/lxc/ct100/rootfs\nlxc.uts.name = ct100\n"),
       .rootfs = "/var/lib/lxc/ct100/rootfs",
       .hostname = "ct100"},
      {.name = "BtrfsRootfs",
       .files = Main("lxc.rootfs.path = btrfs:/mnt/realenv/btrfs/ct200-rootfs/\n"),
       .rootfs = "/mnt/realenv/btrfs/ct200-rootfs",
       .backend = "btrfs"},
      {.name = "PlainPathRootfs",
       .files = Main("lxc.rootfs.path = /srv/ct//rootfs/.\n"),
       .rootfs = "/srv/ct/rootfs"},
      {.name = "SpacesTabsQuotesCrLf",
       .files = Main("  lxc.rootfs.path=/r  \t\r\n\tlxc.uts.name\t=\t\"my ct\"\r\n"),
       .rootfs = "/r",
       .hostname = "my ct"},
      {.name = "SingleQuotes", .files = Main("lxc.rootfs.path = '/q'\n"), .rootfs = "/q"},
      {.name = "LaterRootfsWins",
       .files = Main("lxc.rootfs.path = /a\nlxc.rootfs.path = btrfs:/b\nlxc.uts.name = x\n"
                     "lxc.uts.name = y\n"),
       .rootfs = "/b",
       .backend = "btrfs",
       .hostname = "y"},
      {.name = "CommentsBlankAndForeignLinesSkipped",
       .files = Main("# comment\n\n   # indented comment\nfoo = bar\nhello world\n" +
                     std::string(kRootfs)),
       .rootfs = "/var/lib/lxc/ct/rootfs"},
      {.name = "Lvm",
       .files = Main("lxc.rootfs.path = lvm:/dev/vg/ct\n"),
       .error = "$D/ct/config:1: unsupported rootfs backend 'lvm'"},
      {.name = "Zfs", .files = Main("lxc.rootfs.path = zfs:tank/ct\n"), .error = "backend 'zfs'"},
      {.name = "Overlay",
       .files = Main("lxc.rootfs.path = overlay:/lower:/upper\n"),
       .error = "backend 'overlay'"},
      {.name = "Loop", .files = Main("lxc.rootfs.path = loop:/img\n"), .error = "backend 'loop'"},
      {.name = "MissingRootfs",
       .files = Main("lxc.uts.name = x\n"),
       .error = "$D/ct/config: no lxc.rootfs.path"},
      {.name = "ClearedRootfs",
       .files = Main("lxc.rootfs.path = /r\nlxc.rootfs.path =\n"),
       .error = "no lxc.rootfs.path"},
      {.name = "RelativeRootfs",
       .files = Main("lxc.rootfs.path = rootfs\n"),
       .error = "not an absolute path"},
      {.name = "RelativeDirRootfs",
       .files = Main("lxc.rootfs.path = dir:rootfs\n"),
       .error = "$D/ct/config:1: lxc.rootfs.path 'dir:rootfs' does not name an absolute path"},
      {.name = "LineWithoutEquals",
       .files = Main(std::string(kRootfs) + "lxc.uts.name\n"),
       .error = "$D/ct/config:2: invalid line 'lxc.uts.name'"},
      {.name = "BadKey",
       .files = Main("lxc.uts name = x\n"),
       .error = "$D/ct/config:1: invalid key"},
      {.name = "MissingFile", .files = {}, .error = "$D/ct/config", .code = Code::kNotFound},
  };
}

std::vector<LxcCase> IdmapCases() {
  return {
      {.name = "Unprivileged",
       .files = Main(std::string(kRootfs) + "lxc.idmap = u 0 100000 65536\n"
                                            "lxc.idmap = g 0 100000 65536\n"),
       .rootfs = "/var/lib/lxc/ct/rootfs",
       .idmaps = {"u 0 100000 65536", "g 0 100000 65536"}},
      {.name = "EmptyIdmapClears",
       .files = Main(std::string(kRootfs) + "lxc.idmap = u 0 1 2\nlxc.idmap =\n"
                                            "lxc.idmap = g 0 100000 65536\n"),
       .rootfs = "/var/lib/lxc/ct/rootfs",
       .idmaps = {"g 0 100000 65536"}},
      {.name = "ClearedToNothingIsPrivileged",
       .files = Main(std::string(kRootfs) + "lxc.idmap = u 0 1 2\nlxc.idmap = \n"),
       .rootfs = "/var/lib/lxc/ct/rootfs"},
  };
}

std::vector<LxcCase> IncludeCases() {
  std::map<std::string, std::string> deep;
  for (int i = 0; i < 17; ++i) {
    deep["inc/" + std::to_string(i)] = "lxc.include = $D/inc/" + std::to_string(i + 1) + "\n";
  }
  deep["inc/17"] = kRootfs;
  std::map<std::string, std::string> deep_ok = deep;
  deep_ok["inc/16"] = kRootfs;
  deep_ok.erase("inc/17");
  deep["ct/config"] = deep_ok["ct/config"] = "lxc.include = $D/inc/1\n";
  return {
      {.name = "IncludeChain",
       .files = {{"ct/config",
                  "lxc.include = $D/a.conf\nlxc.idmap = u 0 100000 65536\n"
                  "lxc.idmap = g 0 100000 65536\n"},
                 {"a.conf", "lxc.uts.name = from-a\nlxc.include = $D/b.conf\n"},
                 {"b.conf", kRootfs}},
       .rootfs = "/var/lib/lxc/ct/rootfs",
       .hostname = "from-a",
       .idmaps = {"u 0 100000 65536", "g 0 100000 65536"}},
      {.name = "MainOverridesInclude",
       .files = {{"ct/config", "lxc.include = $D/a.conf\nlxc.uts.name = main\n"},
                 {"a.conf", std::string(kRootfs) + "lxc.uts.name = from-a\n"}},
       .rootfs = "/var/lib/lxc/ct/rootfs",
       .hostname = "main"},
      {.name = "DirectoryIncludeSorted",
       .files = {{"ct/config", "lxc.include = $D/inc.d/\n"},
                 {"inc.d/20-b.conf", "lxc.uts.name = b\nlxc.idmap = g 0 100000 65536\n"},
                 {"inc.d/10-a.conf",
                  std::string(kRootfs) + "lxc.uts.name = a\nlxc.idmap = u 0 100000 65536\n"},
                 {"inc.d/README", "not a config\n"},
                 {"inc.d/.conf", "lxc.uts.name = too-short-name\n"},
                 {"inc.d/30-c.conf.bak", "lxc.uts.name = backup-file\n"},
                 {"inc.d/empty.d/", ""}},
       .rootfs = "/var/lib/lxc/ct/rootfs",
       .hostname = "b",
       .idmaps = {"u 0 100000 65536", "g 0 100000 65536"}},
      {.name = "EmptyIncludeIgnored",
       .files = Main("lxc.include =\n" + std::string(kRootfs)),
       .rootfs = "/var/lib/lxc/ct/rootfs"},
      {.name = "SameFileTwiceIsNoCycle",
       .files = {{"ct/config", "lxc.include = $D/a.conf\nlxc.include = $D/a.conf\n"},
                 {"a.conf", kRootfs}},
       .rootfs = "/var/lib/lxc/ct/rootfs"},
      {.name = "Depth16Ok", .files = deep_ok, .rootfs = "/var/lib/lxc/ct/rootfs"},
      {.name = "Depth17Fails", .files = deep, .error = "nests deeper than 16"},
      {.name = "Cycle",
       .files = {{"ct/config", "lxc.include = $D/a.conf\n"},
                 {"a.conf", "lxc.include = $D/b.conf\n"},
                 {"b.conf", "lxc.include = $D/a.conf\n"}},
       .error =
           "$D/b.conf:1: lxc.include cycle: $D/ct/config -> $D/a.conf -> $D/b.conf -> $D/a.conf"},
      {.name = "SelfInclude",
       .files = Main("lxc.include = $D/ct/config\n"),
       .error = "lxc.include cycle"},
      {.name = "CycleThroughDirectory",
       .files = {{"ct/config", "lxc.include = $D/d\n"}, {"d/x.conf", "lxc.include = $D/d/\n"}},
       .error = "lxc.include cycle"},
      {.name = "MissingInclude",
       .files = Main("lxc.include = $D/nope.conf\n"),
       .error = "$D/ct/config:1: lxc.include: Failed to",
       .code = Code::kNotFound},
      {.name = "MissingDirectoryWithSlashIgnored",
       .files = Main("lxc.include = $D/userns.conf.d/\n" + std::string(kRootfs)),
       .rootfs = "/var/lib/lxc/ct/rootfs"},
      {.name = "MissingDirectoryWithoutSlash",
       .files = Main("lxc.include = $D/userns.conf.d\n" + std::string(kRootfs)),
       .error = "$D/ct/config:1: lxc.include: Failed to stat",
       .code = Code::kNotFound},
      {.name = "RelativeInclude",
       .files = Main("lxc.include = common.conf\n"),
       .error = "$D/ct/config:1: lxc.include path 'common.conf' is not absolute"},
      {.name = "ErrorInIncludedFileNamesIt",
       .files = {{"ct/config", "lxc.include = $D/a.conf\n"}, {"a.conf", "\n\nlxc.bad\n"}},
       .error = "$D/a.conf:3: invalid line"},
      {.name = "ErrorInDirectoryInclude",
       .files = {{"ct/config", "lxc.include = $D/d\n"}, {"d/a.conf", "lxc.rootfs.path = zfs:x\n"}},
       .error = "$D/d/a.conf:1: unsupported rootfs backend 'zfs'"},
  };
}

std::vector<LxcCase> MountCases() {
  const std::string r = "lxc.rootfs.path = $D/ct/rootfs\n";
  return {
      {.name = "RelativeBindTarget",
       .files = Main(r + "lxc.mount.entry = /srv/data mnt/data none bind,create=dir 0 0\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/srv/data", "/mnt/data", "bind,create=dir")}},
      {.name = "RbindWithBackupOption",
       .files = Main(r + "lxc.mount.entry = /srv/x srv/x/ none rbind,x-ctdump.backup 0 0\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/srv/x", "/srv/x", "rbind,x-ctdump.backup", true)}},
      {.name = "BackupOptionMustBeWholeToken",
       .files = Main(r + "lxc.mount.entry = /s m none bind,x-ctdump.backupx\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/s", "/m", "bind,x-ctdump.backupx")}},
      {.name = "NonBindMounts",
       .files = Main(r + "lxc.mount.entry = proc proc proc nodev,noexec,nosuid 0 0\n"
                         "lxc.mount.entry = tmpfs dev/shm tmpfs defaults\n"
                         "lxc.mount.entry = /dev/sdb1 mnt/disk ext4 rw,bindx 1 2\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Fs("lxc.mount.entry:0", "proc", "/proc", "proc", "nodev,noexec,nosuid"),
                  Fs("lxc.mount.entry:1", "tmpfs", "/dev/shm", "tmpfs", "defaults"),
                  Fs("lxc.mount.entry:2", "/dev/sdb1", "/mnt/disk", "ext4", "rw,bindx")}},
      {.name = "AbsoluteTargetBelowRootfs",
       .files = Main(r + "lxc.mount.entry = /h $D/ct/rootfs/mnt/abs none bind 0 0\n"
                         "lxc.mount.entry = /h2 $D/ct/rootfs none bind 0 0\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/h", "/mnt/abs", "bind"),
                  Bind("lxc.mount.entry:1", "/h2", "/", "bind")}},
      {.name = "AbsoluteTargetBelowConfigDirRootfs",
       .files = Main("lxc.rootfs.path = btrfs:/mnt/b/ct\n"
                     "lxc.mount.entry = /h $D/ct/rootfs/mnt/x none bind 0 0\n"),
       .rootfs = "/mnt/b/ct",
       .backend = "btrfs",
       .mounts = {Bind("lxc.mount.entry:0", "/h", "/mnt/x", "bind")}},
      {.name = "RootfsAssignedAfterMountEntry",
       .files = Main("lxc.mount.entry = /h /data/ct/mnt none bind 0 0\n"
                     "lxc.rootfs.path = /data/ct\n"),
       .rootfs = "/data/ct",
       .mounts = {Bind("lxc.mount.entry:0", "/h", "/mnt", "bind")}},
      {.name = "AbsoluteTargetOutsideRootfsIgnored",
       .files = Main(r + "lxc.mount.entry = /h /mnt/host none bind 0 0\n"
                         "lxc.mount.entry = /h $D/ct/rootfsX/a none bind 0 0\n"
                         "lxc.mount.entry = /h mnt/kept none bind 0 0\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:2", "/h", "/mnt/kept", "bind")},
       .warnings = 2},
      {.name = "FstabEscapes",
       .files = Main(r + "lxc.mount.entry = /srv/with\\040space\\134x mnt/a\\040b\\011c none "
                         "bind 0 0\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/srv/with space\\x", "/mnt/a b\tc", "bind")}},
      {.name = "TabsBetweenFields",
       .files = Main(r + "lxc.mount.entry = /s\tmnt/s\tnone\tbind\t0\t0\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/s", "/mnt/s", "bind")}},
      {.name = "DotDotTargetStaysInside",
       .files = Main(r + "lxc.mount.entry = /s ../../etc/./x/ none bind 0 0\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/s", "/etc/x", "bind")}},
      {.name = "EmptyEntryClears",
       .files = Main(r + "lxc.mount.entry = /a a none bind 0 0\nlxc.mount.entry =\n"
                         "lxc.mount.entry = /b b none bind 0 0\n"),
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/b", "/b", "bind")}},
      {.name = "EntriesFromIncludeAccumulate",
       .files = {{"ct/config", r + "lxc.mount.entry = /a a none bind 0 0\n"
                                   "lxc.include = $D/m.conf\n"},
                 {"m.conf", "lxc.mount.entry = /b b none bind 0 0\n"}},
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/a", "/a", "bind"),
                  Bind("lxc.mount.entry:1", "/b", "/b", "bind")}},
      {.name = "MountFstabFile",
       .files = {{"ct/config", r + "lxc.mount.fstab = $D/ct/fstab\n"
                                   "lxc.mount.entry = /a a none bind 0 0\n"},
                 {"ct/fstab",
                  "# comment\n\n/srv/f mnt/f none bind,x-ctdump.backup 0 0\n"
                  "proc proc proc defaults 0 0\n"}},
       .rootfs = "$D/ct/rootfs",
       .mounts = {Bind("lxc.mount.entry:0", "/a", "/a", "bind"),
                  Bind("lxc.mount.fstab:0", "/srv/f", "/mnt/f", "bind,x-ctdump.backup", true),
                  Fs("lxc.mount.fstab:1", "proc", "/proc", "proc", "defaults")}},
      {.name = "MountFstabBadLine",
       .files = {{"ct/config", r + "lxc.mount.fstab = $D/ct/fstab\n"},
                 {"ct/fstab", "\n/srv/f mnt/f\n"}},
       .error = "$D/ct/fstab:2: invalid mount entry '/srv/f mnt/f'"},
      {.name = "MountFstabMissing",
       .files = Main(r + "lxc.mount.fstab = $D/nope\n"),
       .error = "$D/ct/config:2: lxc.mount.fstab: Failed",
       .code = Code::kNotFound},
      {.name = "ThreeFields",
       .files = Main(r + "lxc.mount.entry = /a a none\n"),
       .error = "$D/ct/config:2: invalid mount entry '/a a none'"},
      {.name = "SevenFields",
       .files = Main(r + "lxc.mount.entry = /a a none bind 0 0 0\n"),
       .error = "invalid mount entry"},
      {.name = "NonNumericPass",
       .files = Main(r + "lxc.mount.entry = /a a none bind 0 x\n"),
       .error = "'x' is not a number"},
  };
}

class LxcConfigTest : public testing::TestWithParam<LxcCase> {};

TEST_P(LxcConfigTest, Reads) {
  const LxcCase& c = GetParam();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string& d = dir.path();
  for (const auto& [rel, text] : c.files) dir.Write(rel, Expand(text, d));
  Result<ContainerConfig> cfg = ReadLxcConfig(d + "/ct/config", "ct");
  if (!c.error.empty()) {
    ASSERT_FALSE(cfg.ok()) << "expected error: " << c.error;
    EXPECT_EQ(cfg.status().code(), c.code) << cfg.status().message();
    EXPECT_NE(cfg.status().message().find(Expand(c.error, d)), std::string::npos)
        << "message: " << cfg.status().message() << "\nwant: " << Expand(c.error, d);
    return;
  }
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->format, ContainerConfig::Format::kLxc);
  EXPECT_EQ(cfg->name, "ct");
  EXPECT_EQ(cfg->rootfs_path, Expand(c.rootfs, d));
  EXPECT_EQ(cfg->rootfs_backend, c.backend);
  EXPECT_EQ(cfg->hostname, c.hostname);
  EXPECT_EQ(cfg->idmap_values, c.idmaps);
  EXPECT_EQ(cfg->unprivileged, !c.idmaps.empty());
  std::vector<MountPoint> want = c.mounts;
  for (MountPoint& m : want) m.path = Expand(m.path, d);
  EXPECT_EQ(cfg->mounts, want);
  EXPECT_EQ(cfg->warnings.size(), c.warnings);
  EXPECT_EQ(cfg->raw, Expand(c.files.at("ct/config"), d));
}

auto CaseName = [](const auto& info) { return std::string(info.param.name); };
INSTANTIATE_TEST_SUITE_P(Rootfs, LxcConfigTest, testing::ValuesIn(RootfsCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Idmap, LxcConfigTest, testing::ValuesIn(IdmapCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Include, LxcConfigTest, testing::ValuesIn(IncludeCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Mount, LxcConfigTest, testing::ValuesIn(MountCases()), CaseName);

TEST(LxcConfigTest, EntriesInFileOrderWithIncludesInPlace) {
  MemoryFiles files;
  files.Add("/c/config", "lxc.arch = amd64\nlxc.include = /inc.conf\nlxc.uts.name = x\n");
  files.Add("/inc.conf", "lxc.rootfs.path = /r\nlxc.idmap = u 0 100000 65536\n");
  Result<ContainerConfig> cfg = ReadLxcConfig("/c/config", "c", files);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  std::vector<std::pair<std::string, std::string>> want = {{"lxc.arch", "amd64"},
                                                           {"lxc.include", "/inc.conf"},
                                                           {"lxc.rootfs.path", "/r"},
                                                           {"lxc.idmap", "u 0 100000 65536"},
                                                           {"lxc.uts.name", "x"}};
  EXPECT_EQ(cfg->entries, want);
  EXPECT_EQ(cfg->raw, "lxc.arch = amd64\nlxc.include = /inc.conf\nlxc.uts.name = x\n");
}

// The configs of real-environment.md §3, with the common.conf include.
TEST(LxcConfigTest, RealEnvironmentUnprivilegedConfig) {
  MemoryFiles files;
  files.Add("/usr/share/lxc/config/common.conf",
            "lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed\n"
            "lxc.include = /usr/share/lxc/config/common.conf.d/\n");
  files.Add("/usr/share/lxc/config/common.conf.d/00-lxcfs.conf",
            "lxc.hook.mount = /usr/share/lxcfs/lxc.mount.hook\n");
  files.Add("/usr/share/lxc/config/userns.conf", "lxc.cgroup.devices.deny =\n");
  files.Add("/var/lib/lxc/ct100/config",
            "lxc.include = /usr/share/lxc/config/common.conf\n"
            "lxc.arch = amd64\n"
            "lxc.uts.name = ct100\n"
            "lxc.rootfs.path = dir:/var/lib/lxc/ct100/rootfs      # or btrfs\n"
            "lxc.net.0.type = empty\n"
            "lxc.init.cmd = /sbin/init\n"
            "lxc.include = /usr/share/lxc/config/userns.conf\n"
            "lxc.idmap = u 0 100000 65536\n"
            "lxc.idmap = g 0 100000 65536\n");
  Result<ContainerConfig> cfg = ReadLxcConfig("/var/lib/lxc/ct100/config", "ct100", files);
  // LXC has no inline comments: the whole rest of the line is the path.
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->rootfs_path, "/var/lib/lxc/ct100/rootfs      # or btrfs");
  files.Add("/var/lib/lxc/ct100/config",
            "lxc.include = /usr/share/lxc/config/common.conf\n"
            "lxc.rootfs.path = dir:/var/lib/lxc/ct100/rootfs\n"
            "lxc.uts.name = ct100\n"
            "lxc.include = /usr/share/lxc/config/userns.conf\n"
            "lxc.idmap = u 0 100000 65536\n"
            "lxc.idmap = g 0 100000 65536\n");
  cfg = ReadLxcConfig("/var/lib/lxc/ct100/config", "ct100", files);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->rootfs_path, "/var/lib/lxc/ct100/rootfs");
  EXPECT_TRUE(cfg->unprivileged);
  EXPECT_TRUE(cfg->mounts.empty());
  Result<IdMap> map = cfg->GetIdMap();
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(map->root_uid(), 100000u);
  EXPECT_EQ(cfg->entries.size(), 10u);
}

TEST(LxcConfigTest, PrivilegedHasEmptyIdMap) {
  MemoryFiles files;
  files.Add("/c", "lxc.rootfs.path = /r\n");
  Result<ContainerConfig> cfg = ReadLxcConfig("/c", "c", files);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_FALSE(cfg->unprivileged);
  Result<IdMap> map = cfg->GetIdMap();
  ASSERT_TRUE(map.ok());
  EXPECT_TRUE(map->empty());
}

TEST(LxcConfigTest, BadIdmapSurfacesInGetIdMap) {
  MemoryFiles files;
  files.Add("/c", "lxc.rootfs.path = /r\nlxc.idmap = u 0 100000\n");
  Result<ContainerConfig> cfg = ReadLxcConfig("/c", "c", files);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->GetIdMap().status().message(), "failed to parse idmap 'u 0 100000'");
}

TEST(LxcConfigTest, IncludeOfADirectoryNamedConf) {
  MemoryFiles files;
  files.Add("/c", "lxc.rootfs.path = /r\nlxc.include = /d\n");
  files.AddDir("/d/sub.conf");
  Result<ContainerConfig> cfg = ReadLxcConfig("/c", "c", files);
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("/c:2: lxc.include"), std::string::npos)
      << cfg.status().message();
}

// Deterministic stand-in for config_lxc_fuzz: mutated configs (with includes
// available) either read into a config that satisfies the documented
// invariants or fail with an error naming a file.
TEST(LxcConfigTest, RandomizedNeverCrashes) {
  const std::vector<std::string> seeds = {
      "lxc.include = /inc/a.conf\nlxc.rootfs.path = dir:/var/lib/lxc/c/rootfs\n"
      "lxc.uts.name = c\nlxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n"
      "lxc.mount.entry = /srv/data mnt/data none bind,create=dir 0 0\n",
      "lxc.rootfs.path = btrfs:/b/c\nlxc.include = /inc/d\n"
      "lxc.mount.entry = proc proc proc nodev 0 0\nlxc.mount.fstab = /inc/fstab\n"
      "lxc.mount.entry = /h /b/c/abs none rbind,x-ctdump.backup 0 0\n",
  };
  const std::vector<std::string> tokens = {"\n",
                                           "=",
                                           " = ",
                                           "lxc.",
                                           "lxc.include = /inc/a.conf\n",
                                           "lxc.include = /inc/d\n",
                                           "lxc.include = /c/config\n",
                                           "lxc.mount.entry = ",
                                           "lxc.idmap =\n",
                                           "lxc.mount.entry =\n",
                                           "lxc.rootfs.path = ",
                                           "dir:",
                                           "btrfs:",
                                           "zfs:",
                                           "/",
                                           "..",
                                           "\\040",
                                           "\"",
                                           "'",
                                           "#",
                                           "\t",
                                           "bind",
                                           "rbind",
                                           ",",
                                           "x-ctdump.backup",
                                           "0 0"};
  MemoryFiles files;
  files.Add("/inc/a.conf", "lxc.uts.name = a\nlxc.include = /inc/b.conf\n");
  files.Add("/inc/b.conf", "lxc.idmap = u 0 1 1\n");
  files.Add("/inc/d/1.conf", "lxc.mount.entry = /x x none bind 0 0\n");
  files.Add("/inc/d/2.conf", "lxc.include = /inc/a.conf\n");
  files.Add("/inc/fstab", "/y y none bind 0 0\n");
  std::mt19937 rng(4242);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    files.Add("/c/config", Mutate(seeds[rng() % seeds.size()], rng, tokens));
    Result<ContainerConfig> cfg = ReadLxcConfig("/c/config", "c", files);
    if (!cfg.ok()) {
      ++failed;
      ASSERT_TRUE(cfg.status().code() == Code::kInvalidArgument ||
                  cfg.status().code() == Code::kNotFound)
          << cfg.status().message();
      ASSERT_EQ(cfg.status().message().rfind("/", 0), 0u) << cfg.status().message();
      continue;
    }
    ++ok;
    ASSERT_EQ(cfg->rootfs_path.front(), '/');
    ASSERT_TRUE(cfg->rootfs_backend == "dir" || cfg->rootfs_backend == "btrfs");
    for (const MountPoint& m : cfg->mounts) {
      ASSERT_EQ(m.path.front(), '/') << m.path;
      ASSERT_TRUE(m.path == "/" || m.path.back() != '/') << m.path;
      ASSERT_EQ(m.path.find("/./"), std::string::npos) << m.path;
      ASSERT_EQ(m.path.find("/../"), std::string::npos) << m.path;
      ASSERT_FALSE(m.is_volume);
    }
    (void)cfg->GetIdMap();
  }
  EXPECT_GT(ok, 500);
  EXPECT_GT(failed, 100);
}

}  // namespace
}  // namespace ctdump
