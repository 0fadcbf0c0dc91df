#include "restore/guest_config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace ctdump::restore {
namespace {

RestoreTarget Target(bool unpriv) {
  RestoreTarget t;
  t.name = "new1";
  t.rootfs_spec = "dir:/var/lib/lxc/new1/rootfs";
  t.rootfs_path = "/var/lib/lxc/new1/rootfs";
  t.lxcpath = "/var/lib/lxc";
  t.source_volid = "store:c1/2026-11-26T06:00:00Z";
  if (unpriv) t.map = *IdMap::Parse({"u 0 200000 65536", "g 0 200000 65536"}, true);
  return t;
}

const char* kLxc =
    "lxc.include = /usr/share/lxc/config/common.conf\n"
    "lxc.include = /usr/share/lxc/config/userns.conf\n"
    "lxc.arch = amd64\n"
    "lxc.uts.name = web\n"
    "lxc.rootfs.path = btrfs:/mnt/btrfs/c1\n"
    "lxc.idmap = u 0 100000 65536\n"
    "lxc.idmap = g 0 100000 65536\n"
    "lxc.net.0.type = empty\n"
    "lxc.log.file = /var/lib/lxc/c1/lxc.log\n";

TEST(GuestConfigTest, InspectLxc) {
  auto b = InspectGuestConfig(kLxc);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->is_pct);
  EXPECT_TRUE(b->unprivileged);
  EXPECT_EQ(b->idmap_values, (std::vector<std::string>{"u 0 100000 65536", "g 0 100000 65536"}));
  EXPECT_EQ(b->hostname, "web");
}

TEST(GuestConfigTest, AdaptLxcReplacesRootfsMapAndLog) {
  auto r = AdaptGuestConfig(kLxc, Target(true));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->pct_conf);
  const std::string& c = r->lxc_config;
  EXPECT_EQ(c.find("btrfs:/mnt/btrfs/c1"), std::string::npos);
  EXPECT_EQ(c.find("100000"), std::string::npos);
  EXPECT_EQ(c.find("/var/lib/lxc/c1/lxc.log"), std::string::npos);
  EXPECT_NE(c.find("lxc.rootfs.path = dir:/var/lib/lxc/new1/rootfs\n"), std::string::npos);
  EXPECT_NE(c.find("lxc.idmap = u 0 200000 65536\nlxc.idmap = g 0 200000 65536\n"),
            std::string::npos);
  EXPECT_NE(c.find("lxc.uts.name = web\n"), std::string::npos);
  EXPECT_NE(c.find("lxc.include = /usr/share/lxc/config/userns.conf\n"), std::string::npos);
  EXPECT_NE(c.find("lxc.log.file = /var/lib/lxc/new1/lxc.log\n"), std::string::npos);
  EXPECT_EQ(c.rfind("# restored by ctdump from store:c1/2026-11-26T06:00:00Z\n", 0), 0u);
}

TEST(GuestConfigTest, AdaptLxcToPrivilegedDropsUserns) {
  auto r = AdaptGuestConfig(kLxc, Target(false));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lxc_config.find("userns.conf"), std::string::npos);
  EXPECT_EQ(r->lxc_config.find("lxc.idmap"), std::string::npos);
}

TEST(GuestConfigTest, AdaptPctSanitizesLikePve) {
  const char* pct =
      "#my web server\narch: amd64\nhostname: web\nmemory: 512\nlock: backup\n"
      "rootfs: local:100/vm-100-disk-0.raw,size=8G\nmp0: "
      "local:subvol-100-disk-1,mp=/data,backup=1\n"
      "unused0: local:vm-100-disk-9\nunprivileged: 1\ndigest: abc\nlxc.idmap: u 0 100000 65536\n"
      "lxc.cgroup2.devices.allow: c 10:200 rwm\nlxc.cgroup2.memory.max: 512M\n"
      "hookscript: local:snippets/x.sh\ndev0: /dev/sda\nfeatures: nesting=1\n\n[snap]\nhostname: "
      "old\n";
  auto b = InspectGuestConfig(pct);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->is_pct);
  EXPECT_TRUE(b->unprivileged);
  EXPECT_EQ(b->hostname, "web");
  auto r = AdaptGuestConfig(pct, Target(true));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->pct_conf);
  const std::string& p = *r->pct_conf;
  for (const char* gone : {"lock:", "local:100", "mp0:", "unused0:", "digest:", "[snap]", "old",
                           "100000", "devices.allow", "hookscript", "dev0", "features"})
    EXPECT_EQ(p.find(gone), std::string::npos) << gone;
  for (const char* kept : {"#my web server\n", "memory: 512\n", "hostname: web\n",
                           "rootfs: /var/lib/lxc/new1/rootfs\n", "unprivileged: 1\n",
                           "lxc.idmap: u 0 200000 65536\n", "lxc.cgroup2.memory.max: 512M\n"})
    EXPECT_NE(p.find(kept), std::string::npos) << kept;
  const std::string& c = r->lxc_config;
  EXPECT_NE(c.find("lxc.uts.name = web\n"), std::string::npos);
  EXPECT_NE(c.find("lxc.rootfs.path = dir:/var/lib/lxc/new1/rootfs\n"), std::string::npos);
  EXPECT_NE(c.find("lxc.cgroup2.memory.max = 512M\n"), std::string::npos);
  EXPECT_EQ(c.find("devices.allow"), std::string::npos);
  EXPECT_NE(c.find("lxc.include = /usr/share/lxc/config/common.conf\n"), std::string::npos);
  EXPECT_EQ(r->dropped, (std::vector<std::string>{"lxc.cgroup2.devices.allow: c 10:200 rwm",
                                                  "hookscript: local:snippets/x.sh",
                                                  "dev0: /dev/sda", "features: nesting=1"}));
}

TEST(GuestConfigTest, HostnameAndUniqueHwaddrsLxc) {
  const char* lxc =
      "lxc.uts.name = web\n"
      "lxc.net.0.type = veth\n"
      "lxc.net.0.hwaddr = 00:16:3e:aa:bb:cc\n"
      "lxc.net.1.type = veth\n"
      "lxc.net.1.hwaddr = 00:16:3e:aa:bb:cd\n";
  RestoreTarget t = Target(true);
  auto r = AdaptGuestConfig(lxc, t);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->lxc_config.find("lxc.net.0.hwaddr = 00:16:3e:aa:bb:cc\n"), std::string::npos);
  int n = 0;
  t.hostname = "web-test";
  t.new_hwaddr = [&n]() { return fmt::format("02:00:00:00:00:{:02x}", ++n); };
  r = AdaptGuestConfig(lxc, t);
  ASSERT_TRUE(r.ok());
  const std::string& c = r->lxc_config;
  EXPECT_EQ(c.find("00:16:3e"), std::string::npos) << c;
  EXPECT_NE(c.find("lxc.net.0.hwaddr = 02:00:00:00:00:01\n"), std::string::npos) << c;
  EXPECT_NE(c.find("lxc.net.1.hwaddr = 02:00:00:00:00:02\n"), std::string::npos) << c;
  EXPECT_EQ(c.find("lxc.uts.name = web\n"), std::string::npos) << c;
  EXPECT_EQ(c.find("lxc.uts.name"), c.rfind("lxc.uts.name"));
  EXPECT_NE(c.find("lxc.uts.name = web-test\n"), std::string::npos) << c;
  // A config without a host name gets one.
  r = AdaptGuestConfig("lxc.arch = amd64\n", t);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->lxc_config.find("lxc.uts.name = web-test\n"), std::string::npos);
}

TEST(GuestConfigTest, HostnameAndUniqueHwaddrsPct) {
  const char* pct =
      "hostname: web\narch: amd64\n"
      "net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth\n"
      "net1: hwaddr=BC:24:11:00:00:02,name=eth1,bridge=vmbr1\n"
      "lxc.net.5.hwaddr: 00:16:3e:00:00:05\n";
  RestoreTarget t = Target(true);
  int n = 0;
  t.hostname = "clone.example.org";
  t.new_hwaddr = [&n]() { return fmt::format("02:00:00:00:00:{:02x}", ++n); };
  auto r = AdaptGuestConfig(pct, t);
  ASSERT_TRUE(r.ok());
  const std::string& p = *r->pct_conf;
  EXPECT_NE(p.find("hostname: clone.example.org\n"), std::string::npos) << p;
  EXPECT_EQ(p.find("hostname: web"), std::string::npos) << p;
  EXPECT_NE(p.find("net0: name=eth0,bridge=vmbr0,hwaddr=02:00:00:00:00:01,ip=dhcp,type=veth\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("net1: hwaddr=02:00:00:00:00:02,name=eth1,bridge=vmbr1\n"), std::string::npos)
      << p;
  EXPECT_NE(p.find("lxc.net.5.hwaddr: 02:00:00:00:00:03\n"), std::string::npos) << p;
  EXPECT_EQ(p.find("BC:24:11"), std::string::npos) << p;
  const std::string& c = r->lxc_config;
  EXPECT_NE(c.find("lxc.uts.name = clone.example.org\n"), std::string::npos) << c;
  EXPECT_NE(c.find("lxc.net.5.hwaddr = 02:00:00:00:00:03\n"), std::string::npos) << c;
  EXPECT_EQ(c.find("00:16:3e"), std::string::npos) << c;
}

TEST(GuestConfigTest, HostnamesAreChecked) {
  for (const char* ok : {"web", "web-2", "a.b.c", "X1",
                         "a23456789012345678901234567890123456789012345678901234567890123"})
    EXPECT_TRUE(CheckHostname(ok).ok()) << ok;
  for (const char* bad :
       {"", "-web", "web-", "a..b", "a.", "we b", "web;x", "web\nlxc.hook.start=x",
        "a234567890123456789012345678901234567890123456789012345678901234"})
    EXPECT_FALSE(CheckHostname(bad).ok()) << bad;
  RestoreTarget t = Target(true);
  t.hostname = "bad name";
  auto r = AdaptGuestConfig(kLxc, t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("invalid host name 'bad name'"), std::string::npos);
}

TEST(GuestConfigTest, LocalMacAddresses) {
  uint8_t ones[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(LocalMacAddress(ones), "fe:ff:ff:ff:ff:ff");
  uint8_t zeros[6] = {0, 0, 0, 0, 0, 0};
  EXPECT_EQ(LocalMacAddress(zeros), "02:00:00:00:00:00");
  uint8_t some[6] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab};
  EXPECT_EQ(LocalMacAddress(some), "02:23:45:67:89:ab");
}

TEST(GuestConfigTest, NeedsATarget) {
  RestoreTarget t;
  EXPECT_FALSE(AdaptGuestConfig(kLxc, t).ok());
}

}  // namespace
}  // namespace ctdump::restore

namespace ctdump::restore {
namespace {

TEST(GuestConfigTest, HostReachingKeysAreDroppedAndReported) {
  const char* lxc =
      "lxc.uts.name = web\n"
      "lxc.hook.pre-start = /bin/evil\n"
      "lxc.mount.entry = / host none rbind 0 0\n"
      "lxc.include = /etc/evil.conf\n"
      "lxc.include = /usr/share/lxc/config/common.conf\n"
      "lxc.net.0.type = phys\n"
      "lxc.net.0.link = eth0\n"
      "lxc.apparmor.profile = unconfined\n"
      "lxc.cgroup2.devices.allow = a\n"
      "lxc.rootfs.path = dir:/\n"
      "lxc.environment = A=1\n";
  auto r = AdaptGuestConfig(lxc, Target(true));
  ASSERT_TRUE(r.ok());
  for (const char* gone : {"/bin/evil", "rbind", "/etc/evil.conf", "phys", "eth0", "unconfined",
                           "devices.allow", "dir:/\n"})
    EXPECT_EQ(r->lxc_config.find(gone), std::string::npos) << gone;
  for (const char* kept : {"lxc.uts.name = web", "common.conf", "lxc.environment = A=1"})
    EXPECT_NE(r->lxc_config.find(kept), std::string::npos) << kept;
  // Each with its value, in config order; the link of the dropped phys NIC too.
  EXPECT_EQ(r->dropped,
            (std::vector<std::string>{
                "lxc.hook.pre-start = /bin/evil", "lxc.mount.entry = / host none rbind 0 0",
                "lxc.include = /etc/evil.conf", "lxc.net.0.type = phys", "lxc.net.0.link = eth0",
                "lxc.apparmor.profile = unconfined", "lxc.cgroup2.devices.allow = a"}));
}

// Every key found to reach the host from a restored config, and its
// relatives: none may pass, from any backup.
TEST(GuestConfigTest, AttackKeysAreNeverRestorable) {
  const std::pair<const char*, const char*> kAttacks[] = {
      {"lxc.net.0.script.up", "/tmp/x.sh"},
      {"lxc.net.0.script.down", "/tmp/x.sh"},
      {"lxc.net.1.veth.ipv4.route", "0.0.0.0/0"},
      {"lxc.net.0.veth.pair", "eth0"},
      {"lxc.net.0.veth.mode", "router"},
      {"lxc.net.0.l2proxy", "1"},
      {"lxc.net.0.type", "none"},
      {"lxc.net.0.type", "phys"},
      {"lxc.net.0.type", "macvlan"},
      {"lxc.net.0.flags", "down; /bin/sh"},
      {"lxc.net.x.name", "eth0"},
      {"lxc.console.logfile", "/etc/cron.d/x"},
      {"lxc.console.path", "/dev/tty1"},
      {"lxc.console.rotate", "1"},
      {"lxc.cgroup.dir", "../../.."},
      {"lxc.cgroup.dir.container", "x"},
      {"lxc.cgroup.relative", "1"},
      {"lxc.cgroup.devices.allow", "a"},
      {"lxc.cgroup2.devices.allow", "b 8:* rwm"},
      {"lxc.cgroup2.memory/../../x", "1"},
      {"lxc.cgroup2.memory..x", "1"},
      {"lxc.cgroup2.cgroup.procs", "1"},
      {"lxc.cgroup2.cpuset.cpus.partition", "root"},
      {"lxc.cgroup2.cpuset.cpus.exclusive", "0-1"},
      {"lxc.tty.dir", "../../x"},
      {"lxc.mount.auto", "proc:rw sys:rw cgroup:rw"},
      {"lxc.mount.entry", "/ host none rbind 0 0"},
      {"lxc.mount.fstab", "/etc/fstab"},
      {"lxc.include", "/usr/share/lxc/config/../../../../tmp/evil.conf"},
      {"lxc.include", "/usr/share/lxc/config/nesting.conf"},
      {"lxc.include", "/usr/share/lxc/config/common.conf.d/"},
      {"lxc.include", "/usr/share/lxc/config//common.conf"},
      {"lxc.include", "/usr/share/lxc/config/x/../common.conf"},
      {"lxc.include", "/etc/lxc/default.conf"},
      {"lxc.hook.pre-start", "/bin/sh -c x"},
      {"lxc.hook.version", "1"},
      {"lxc.hook.autodev", "x"},
      {"lxc.apparmor.profile", "unconfined"},
      {"lxc.apparmor.allow_nesting", "1"},
      {"lxc.seccomp.profile", ""},
      {"lxc.selinux.context", "unconfined_t"},
      {"lxc.cap.keep", "sys_admin"},
      {"lxc.cap.drop", ""},
      {"lxc.namespace.share.net", "1"},
      {"lxc.namespace.keep", "user net"},
      {"lxc.sysctl.net.ipv4.ip_forward", "1"},
      {"lxc.proc.oom_score_adj", "-1000"},
      {"lxc.prlimit.nofile", "unlimited"},
      {"lxc.autodev", "0"},
      {"lxc.monitor.unshare", "0"},
      {"lxc.environment", "PATH"},
      {"lxc.environment.hooks", "LD_PRELOAD=/tmp/x.so"},
      {"lxc.ephemeral", "1"},
      {"lxc.keyring.session", "0"},
      {"lxc.time.offset.boot", "1"},
      {"lxc.network.0.script.up", "/tmp/x"},
      {"lxc.idmap", "u 0 0 65536"},
      {"lxc.log.file", "/etc/passwd"},
      {"lxc.rootfs.path", "dir:/"},
  };
  for (const auto& [k, v] : kAttacks) {
    EXPECT_FALSE(IsRestorableLxcKey(k, v)) << k << " = " << v;
    auto r = AdaptGuestConfig(fmt::format("lxc.uts.name = web\n{} = {}\n", k, v), Target(true));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->lxc_config.find(fmt::format("{} = {}\n", k, v)), std::string::npos) << k;
    // The same key in a pct.conf.
    r = AdaptGuestConfig(fmt::format("hostname: web\n{}: {}\n", k, v), Target(true));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->lxc_config.find(fmt::format("{} = {}\n", k, v)), std::string::npos) << k;
    EXPECT_EQ(r->pct_conf->find(fmt::format("{}: {}\n", k, v)), std::string::npos) << k;
  }
}

TEST(GuestConfigTest, HarmlessKeysAreRestorable) {
  const std::pair<const char*, const char*> kHarmless[] = {
      {"lxc.arch", "amd64"},
      {"lxc.uts.name", "web"},
      {"lxc.signal.halt", "SIGRTMIN+3"},
      {"lxc.start.auto", "1"},
      {"lxc.tty.max", "4"},
      {"lxc.pty.max", "1024"},
      {"lxc.init.cmd", "/sbin/init"},
      {"lxc.environment", "APP_ENV=production"},
      {"lxc.cgroup2.memory.max", "512M"},
      {"lxc.cgroup2.cpu.max", "50000 100000"},
      {"lxc.cgroup.memory.limit_in_bytes", "512M"},
      {"lxc.cgroup2.pids.max", "100"},
      {"lxc.cgroup2.cpuset.cpus", "0-1"},
      {"lxc.net.0.type", "veth"},
      {"lxc.net.1.type", "empty"},
      {"lxc.net.0.link", "lxcbr0"},
      {"lxc.net.0.flags", "up"},
      {"lxc.net.0.name", "eth0"},
      {"lxc.net.0.hwaddr", "00:16:3e:12:34:56"},
      {"lxc.net.0.mtu", "1500"},
      {"lxc.net.12.ipv4.address", "10.0.3.5/24"},
      {"lxc.net.0.ipv4.gateway", "auto"},
      {"lxc.net.0.ipv6.address", "fd00::5/64"},
      {"lxc.net.0.ipv6.gateway", "fd00::1"},
      {"lxc.include", "/usr/share/lxc/config/common.conf"},
      {"lxc.include", "/usr/share/lxc/config/debian.common.conf"},
      {"lxc.include", "/usr/share/lxc/config/ubuntu.userns.conf"},
  };
  for (const auto& [k, v] : kHarmless) EXPECT_TRUE(IsRestorableLxcKey(k, v)) << k << " = " << v;
}

TEST(GuestConfigTest, LinesWithoutAKeyAreDropped) {
  auto r = AdaptGuestConfig("lxc.uts.name = web\nlxc.hook.start\n", Target(true));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lxc_config.find("lxc.hook"), std::string::npos);
  EXPECT_EQ(r->dropped, (std::vector<std::string>{"lxc.hook.start"}));
}

TEST(GuestConfigTest, PctRawRootfsCannotOverrideTheRestoredOne) {
  const char* pct = "hostname: web\nrootfs: /old\nlxc.rootfs.path: dir:/\nlxc.hook.start: /x\n";
  RestoreTarget t = Target(true);
  auto r = AdaptGuestConfig(pct, t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->lxc_config.find("dir:/\n"), std::string::npos);
  EXPECT_EQ(r->lxc_config.find("lxc.hook"), std::string::npos);
  EXPECT_EQ(r->pct_conf->find("lxc.hook"), std::string::npos);
  // Exactly one rootfs: the restored one.
  const std::string& c = r->lxc_config;
  EXPECT_EQ(c.find("lxc.rootfs.path"), c.rfind("lxc.rootfs.path"));
  EXPECT_NE(c.find("lxc.rootfs.path = dir:/var/lib/lxc/new1/rootfs\n"), std::string::npos);
}

}  // namespace
}  // namespace ctdump::restore
