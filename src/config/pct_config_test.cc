#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "config/config_test_util.h"
#include "ctdump/container_config.h"

namespace ctdump {
namespace {

constexpr char kFile[] = "/etc/pve/lxc/101.conf";
constexpr char kRootfs[] = "rootfs: /var/lib/lxc/101/rootfs,size=8G\n";

struct PctCase {
  const char* name;
  std::string text{};
  std::string error{};  // substring of the expected message; "" = success
  bool unprivileged = false;
  std::string hostname{};
  std::vector<std::string> idmaps{};
  std::vector<MountPoint> mounts{};
  std::string root_map = "(none)";  // GetIdMap().ToString()
  size_t warnings = 0;
};

void PrintTo(const PctCase& c, std::ostream* os) { *os << c.name; }

MountPoint Volume(std::string key, std::string volume, std::string path, std::string options,
                  bool backup) {
  return {std::move(key), std::move(volume), std::move(path), "", std::move(options), false, true,
          backup};
}

MountPoint BindMp(std::string key, std::string source, std::string path, std::string options) {
  return {
      std::move(key), std::move(source), std::move(path), "bind", std::move(options), true, false,
      false};
}

std::string R(const std::string& rest) { return kRootfs + rest; }

const char kDefaultMap[] = "u 0 100000 65536, g 0 100000 65536";

std::vector<PctCase> BasicCases() {
  return {
      {.name = "Privileged",
       .text = "arch: amd64\nhostname: ct101\n" + R("ostype: debian\n"),
       .hostname = "ct101"},
      {.name = "UnprivilegedDefaultMap",
       .text = R("unprivileged: 1\n"),
       .unprivileged = true,
       .root_map = kDefaultMap},
      {.name = "UnprivilegedWithIdmap",
       .text = R("unprivileged: 1\nlxc.idmap: u 0 200000 65536\nlxc.idmap = g 0 300000 65536\n"),
       .unprivileged = true,
       .idmaps = {"u 0 200000 65536", "g 0 300000 65536"},
       .root_map = "u 0 200000 65536, g 0 300000 65536"},
      {.name = "PrivilegedWithIdmapUsesIt",
       .text = R("lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n"),
       .idmaps = {"u 0 100000 65536", "g 0 100000 65536"},
       .root_map = kDefaultMap},
      {.name = "UnprivilegedYes",
       .text = R("unprivileged: Yes\n"),
       .unprivileged = true,
       .root_map = kDefaultMap},
      {.name = "UnprivilegedOff", .text = R("unprivileged: off\n")},
      {.name = "LaterKeyWins", .text = R("unprivileged: 1\nunprivileged: 0\n")},
      {.name = "TrailingSpaceAndCr", .text = "hostname:   h1  \r\n" + R(""), .hostname = "h1"},
      {.name = "UnprivilegedNotBool",
       .text = R("unprivileged: maybe\n"),
       .error = "/etc/pve/lxc/101.conf:2: unprivileged must be a boolean, got 'maybe'"},
      {.name = "NoRootfs", .text = "hostname: x\n", .error = "/etc/pve/lxc/101.conf: no rootfs"},
      {.name = "RootfsStorageVolume",
       .text = "rootfs: local-lvm:vm-101-disk-0,size=8G\n",
       .error = "cannot resolve storage volume 'local-lvm:vm-101-disk-0' of rootfs in "
                "/etc/pve/lxc/101.conf: ctdump needs an absolute path"},
      {.name = "RootfsDevice",
       .text = "rootfs: /dev/vg/ct,size=8G\n",
       .error = "is a block device"},
      {.name = "RootfsMissingVolume",
       .text = "rootfs: size=8G\n",
       .error = "/etc/pve/lxc/101.conf:1: rootfs: missing volume"},
      {.name = "RootfsMpNotAllowed", .text = "rootfs: /r,mp=/\n", .error = "invalid key 'mp'"},
      {.name = "RootfsExplicitVolume", .text = "rootfs: size=8G,volume=/var/lib/lxc/101/rootfs\n"},
      {.name = "BadLine",
       .text = R("Foo: bar\n"),
       .error = "/etc/pve/lxc/101.conf:2: unable to parse config line 'Foo: bar'"},
      {.name = "KeyWithoutValue", .text = R("hostname:\n"), .error = ":2: unable to parse"},
      {.name = "IndentedComment", .text = R("  # x\n"), .error = ":2: unable to parse"},
      {.name = "DeleteOutsidePending",
       .text = R("delete: mp0\n"),
       .error = ":2: property 'delete' is only allowed in [pve:pending]"},
      {.name = "UppercaseLxcKeyRejected",
       .text = R("lxc.IDMAP: u 0 1 1\n"),
       .error = ":2: unable to parse"},
      {.name = "NulByte", .text = R(std::string("hostname: a\0b\n", 14)), .error = "NUL byte"},
  };
}

std::vector<PctCase> MountCases() {
  return {
      {.name = "VolumeBackup1",
       .text = R("mp0: local:101/vm-101-disk-1.raw,mp=/mnt/data,backup=1,size=8G\n"),
       .mounts = {Volume("mp0", "local:101/vm-101-disk-1.raw", "/mnt/data",
                         "local:101/vm-101-disk-1.raw,mp=/mnt/data,backup=1,size=8G", true)}},
      {.name = "VolumeBackup0",
       .text = R("mp0: local:vol,mp=/mnt/data/,backup=0\n"),
       .mounts = {Volume("mp0", "local:vol", "/mnt/data", "local:vol,mp=/mnt/data/,backup=0",
                         false)}},
      {.name = "VolumeNoBackupKey",
       .text = R("mp3: mp=/srv,volume=tank:subvol-101-disk-2\n"),
       .mounts = {Volume("mp3", "tank:subvol-101-disk-2", "/srv",
                         "mp=/srv,volume=tank:subvol-101-disk-2", false)}},
      {.name = "BindNeverBackedUp",
       .text = R("mp1: /srv/share,mp=/mnt/share,backup=1\n"),
       .mounts = {BindMp("mp1", "/srv/share", "/mnt/share", "/srv/share,mp=/mnt/share,backup=1")}},
      {.name = "DeviceMountPoint",
       .text = R("mp2: /dev/sdb1,mp=/mnt/disk,backup=1\n"),
       .mounts = {{"mp2", "/dev/sdb1", "/mnt/disk", "", "/dev/sdb1,mp=/mnt/disk,backup=1", false,
                   false, false}}},
      {.name = "OrderedByNumber",
       .text = R("mp10: /b,mp=/b\nmp2: /a,mp=/a\n"),
       .mounts = {BindMp("mp2", "/a", "/a", "/a,mp=/a"), BindMp("mp10", "/b", "/b", "/b,mp=/b")}},
      {.name = "BooleanSpellings",
       .text = R("mp0: s:v,mp=/x,backup=Yes,ro=on,acl=0,quota=false,replicate=no,shared=1\n"),
       .mounts = {Volume("mp0", "s:v", "/x",
                         "s:v,mp=/x,backup=Yes,ro=on,acl=0,quota=false,replicate=no,shared=1",
                         true)}},
      {.name = "EmptyPartsSkipped",
       .text = R("mp0: s:v,,mp=/x, ,backup=1\n"),
       .mounts = {Volume("mp0", "s:v", "/x", "s:v,,mp=/x, ,backup=1", true)}},
      {.name = "Mp256Ignored", .text = R("mp256: s:v,mp=/x\nmp01: s:v,mp=/y\n"), .warnings = 2},
      {.name = "DuplicateVolume",
       .text = R("mp0: s:a,s:b,mp=/x\n"),
       .error = "/etc/pve/lxc/101.conf:2: mp0: duplicate key 'volume'"},
      {.name = "DuplicateVolumeExplicit",
       .text = R("mp0: s:a,volume=s:b,mp=/x\n"),
       .error = "duplicate key 'volume'"},
      {.name = "DuplicateKey", .text = R("mp0: s:a,mp=/x,mp=/y\n"), .error = "duplicate key 'mp'"},
      {.name = "UnknownProperty",
       .text = R("mp0: s:a,mp=/x,foo=1\n"),
       .error = "invalid key 'foo'"},
      {.name = "EmptyValue", .text = R("mp0: s:a,mp=\n"), .error = "missing key or value in 'mp='"},
      {.name = "EmptyKey", .text = R("mp0: s:a,=/x\n"), .error = "missing key or value"},
      {.name = "MissingMp", .text = R("mp0: s:a,backup=1\n"), .error = "mp0: missing mp"},
      {.name = "MissingVolume", .text = R("mp0: mp=/x\n"), .error = "mp0: missing volume"},
      {.name = "RelativeMp", .text = R("mp0: s:a,mp=data\n"), .error = "must be absolute"},
      {.name = "DotDotMp", .text = R("mp0: s:a,mp=/a/../etc\n"), .error = "without '.' or '..'"},
      {.name = "DotMp", .text = R("mp0: s:a,mp=/a/.\n"), .error = "without '.' or '..'"},
      {.name = "NonBoolBackup",
       .text = R("mp0: s:a,mp=/x,backup=2\n"),
       .error = "'backup' must be a boolean, got '2'"},
  };
}

std::vector<PctCase> SectionCases() {
  return {
      {.name = "SnapshotSectionIgnored",
       .text = R("hostname: cur\n\n[snap1]\nrootfs: local:bad\nhostname: old\ngarbage line\n"),
       .hostname = "cur"},
      {.name = "PendingSectionIgnored",
       .text = R("[pve:pending]\ndelete: hostname\nhostname: new\n"),
       .hostname = ""},
      {.name = "UppercaseSectionName", .text = R("[Snap_2-b]\nfoo bar\n")},
      {.name = "OneCharSectionIsNotHeader", .text = R("[a]\n"), .error = ":2: unable to parse"},
  };
}

class PctConfigTest : public testing::TestWithParam<PctCase> {};

TEST_P(PctConfigTest, Parses) {
  const PctCase& c = GetParam();
  Result<ContainerConfig> cfg = ParsePctConfig(c.text, "101", kFile);
  if (!c.error.empty()) {
    ASSERT_FALSE(cfg.ok()) << "expected error: " << c.error;
    EXPECT_EQ(cfg.status().code(), Code::kInvalidArgument);
    EXPECT_NE(cfg.status().message().find(c.error), std::string::npos)
        << "message: " << cfg.status().message() << "\nwant: " << c.error;
    return;
  }
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->format, ContainerConfig::Format::kPct);
  EXPECT_EQ(cfg->name, "101");
  EXPECT_EQ(cfg->rootfs_path, "/var/lib/lxc/101/rootfs");
  EXPECT_EQ(cfg->rootfs_backend, "dir");
  EXPECT_EQ(cfg->unprivileged, c.unprivileged);
  EXPECT_EQ(cfg->hostname, c.hostname);
  EXPECT_EQ(cfg->idmap_values, c.idmaps);
  EXPECT_EQ(cfg->mounts, c.mounts);
  EXPECT_EQ(cfg->warnings.size(), c.warnings);
  Result<IdMap> map = cfg->GetIdMap();
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(map->ToString(), c.root_map);
}

auto CaseName = [](const auto& info) { return std::string(info.param.name); };
INSTANTIATE_TEST_SUITE_P(Basic, PctConfigTest, testing::ValuesIn(BasicCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Mount, PctConfigTest, testing::ValuesIn(MountCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(Section, PctConfigTest, testing::ValuesIn(SectionCases()), CaseName);

struct RawCase {
  const char* name;
  std::string text;
  std::string raw;
};

void PrintTo(const RawCase& c, std::ostream* os) { *os << c.name; }

class PctRawTest : public testing::TestWithParam<RawCase> {};

TEST_P(PctRawTest, MatchesAssembledConfig) {
  Result<ContainerConfig> cfg = ParsePctConfig(GetParam().text, "101", kFile);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->raw, GetParam().raw);
}

const char kFull[] =
    "#Web server\n"
    "#  second line\n"
    "arch: amd64\n"
    "cores: 2\n"
    "hostname: web\n"
    "lock: backup\n"
    "memory: 1024\n"
    "mp0: local:101/vm-101-disk-1.raw,mp=/srv,backup=1,size=4G\n"
    "net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth\n"
    "ostype: debian\n"
    "parent: before-upgrade\n"
    "rootfs: /var/lib/lxc/101/rootfs,size=8G\n"
    "swap: 512\n"
    "unprivileged: 1\n"
    "lxc.idmap: u 0 100000 65536\n"
    "lxc.idmap: g 0 100000 65536\n"
    "\n"
    "[before-upgrade]\n"
    "arch: amd64\n"
    "hostname: web\n"
    "rootfs: /var/lib/lxc/101/rootfs,size=8G\n"
    "snaptime: 1700000000\n"
    "\n"
    "[pve:pending]\n"
    "memory: 2048\n";

const char kFullRaw[] =
    "#Web server\n"
    "#  second line\n"
    "arch: amd64\n"
    "cores: 2\n"
    "hostname: web\n"
    "memory: 1024\n"
    "mp0: local:101/vm-101-disk-1.raw,mp=/srv,backup=1,size=4G\n"
    "net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth\n"
    "ostype: debian\n"
    "rootfs: /var/lib/lxc/101/rootfs,size=8G\n"
    "swap: 512\n"
    "unprivileged: 1\n"
    "lxc.idmap: u 0 100000 65536\n"
    "lxc.idmap: g 0 100000 65536\n";

INSTANTIATE_TEST_SUITE_P(
    Table, PctRawTest,
    testing::Values(RawCase{"Plain", R("hostname: a\n"), R("hostname: a\n")},
                    RawCase{"DropsLockParentSnapstate",
                            "lock: backup\n" + R("parent: s1\nsnapstate: prepare\nhostname: a\n"),
                            R("hostname: a\n")},
                    RawCase{"NoFinalNewline", R("hostname: a"), R("hostname: a\n")},
                    RawCase{"DropsSectionsAndTrailingBlankLines",
                            R("hostname: a\n\n \n[s1]\nhostname: b\n"), R("hostname: a\n")},
                    RawCase{"KeepsInnerBlankLines", R("\nhostname: a\n"), R("\nhostname: a\n")},
                    RawCase{"Full", kFull, kFullRaw}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(PctConfigTest, EntriesOfMainSectionInOrder) {
  Result<ContainerConfig> cfg = ParsePctConfig(kFull, "101", kFile);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  ASSERT_EQ(cfg->entries.size(), 14u);
  EXPECT_EQ(cfg->entries[0], (std::pair<std::string, std::string>("arch", "amd64")));
  EXPECT_EQ(cfg->entries[3], (std::pair<std::string, std::string>("lock", "backup")));
  EXPECT_EQ(cfg->entries[13],
            (std::pair<std::string, std::string>("lxc.idmap", "g 0 100000 65536")));
  EXPECT_EQ(cfg->hostname, "web");
  ASSERT_EQ(cfg->mounts.size(), 1u);
  EXPECT_TRUE(cfg->mounts[0].backup);
}

TEST(PctConfigTest, ReadPctConfigReadsFile) {
  testing_util::MemoryFiles files;
  files.Add("/etc/pve/lxc/101.conf", kFull);
  Result<ContainerConfig> cfg = ReadPctConfig("/etc/pve/lxc/101.conf", "101", files);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  EXPECT_EQ(cfg->raw, kFullRaw);
  Result<ContainerConfig> missing = ReadPctConfig("/etc/pve/lxc/102.conf", "102", files);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

// Deterministic stand-in for config_pct_fuzz.
TEST(PctConfigTest, RandomizedNeverCrashes) {
  const std::vector<std::string> tokens = {"\n",
                                           ":",
                                           ": ",
                                           ",",
                                           "=",
                                           "mp0: ",
                                           "mp1: ",
                                           "rootfs: ",
                                           "lxc.idmap: ",
                                           "lxc.idmap = ",
                                           "unprivileged: 1\n",
                                           "backup=1",
                                           "volume=",
                                           "mp=",
                                           "/",
                                           "..",
                                           "local:",
                                           "/dev/",
                                           "[s]\n",
                                           "[pve:pending]\n",
                                           "#",
                                           " ",
                                           "lock: backup\n",
                                           "delete: x\n",
                                           "0",
                                           "yes"};
  std::mt19937 rng(777);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    std::string text = testing_util::Mutate(kFull, rng, tokens);
    Result<ContainerConfig> cfg = ParsePctConfig(text, "101", kFile);
    if (!cfg.ok()) {
      ++failed;
      ASSERT_EQ(cfg.status().code(), Code::kInvalidArgument);
      ASSERT_NE(cfg.status().message().find(kFile), std::string::npos) << cfg.status().message();
      continue;
    }
    ++ok;
    ASSERT_EQ(cfg->rootfs_path.front(), '/');
    for (const MountPoint& m : cfg->mounts) {
      ASSERT_EQ(m.path.front(), '/');
      ASSERT_FALSE(m.is_bind && m.is_volume);
      ASSERT_TRUE(m.is_volume || !m.backup);
    }
    ASSERT_EQ(cfg->raw.find("\nlock:"), std::string::npos);
    (void)cfg->GetIdMap();
  }
  EXPECT_GT(ok, 1000);
  EXPECT_GT(failed, 1000);
}

}  // namespace
}  // namespace ctdump
