#include "restore/guest_config.h"

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
  EXPECT_NE(c.find("lxc.idmap = u 0 200000 65536\nlxc.idmap = g 0 200000 65536\n"), std::string::npos);
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
      "rootfs: local:100/vm-100-disk-0.raw,size=8G\nmp0: local:subvol-100-disk-1,mp=/data,backup=1\n"
      "unused0: local:vm-100-disk-9\nunprivileged: 1\ndigest: abc\nlxc.idmap: u 0 100000 65536\n"
      "lxc.cgroup2.devices.allow: c 10:200 rwm\n\n[snap]\nhostname: old\n";
  auto b = InspectGuestConfig(pct);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->is_pct);
  EXPECT_TRUE(b->unprivileged);
  EXPECT_EQ(b->hostname, "web");
  auto r = AdaptGuestConfig(pct, Target(true));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->pct_conf);
  const std::string& p = *r->pct_conf;
  for (const char* gone : {"lock:", "local:100", "mp0:", "unused0:", "digest:", "[snap]", "old", "100000"})
    EXPECT_EQ(p.find(gone), std::string::npos) << gone;
  for (const char* kept : {"#my web server\n", "memory: 512\n", "hostname: web\n",
                           "rootfs: /var/lib/lxc/new1/rootfs\n", "unprivileged: 1\n",
                           "lxc.idmap: u 0 200000 65536\n", "lxc.cgroup2.devices.allow: c 10:200 rwm\n"})
    EXPECT_NE(p.find(kept), std::string::npos) << kept;
  const std::string& c = r->lxc_config;
  EXPECT_NE(c.find("lxc.uts.name = web\n"), std::string::npos);
  EXPECT_NE(c.find("lxc.rootfs.path = dir:/var/lib/lxc/new1/rootfs\n"), std::string::npos);
  EXPECT_NE(c.find("lxc.cgroup2.devices.allow = c 10:200 rwm\n"), std::string::npos);
  EXPECT_NE(c.find("lxc.include = /usr/share/lxc/config/common.conf\n"), std::string::npos);
}

TEST(GuestConfigTest, NeedsATarget) {
  RestoreTarget t;
  EXPECT_FALSE(AdaptGuestConfig(kLxc, t).ok());
}

}  // namespace
}  // namespace ctdump::restore

namespace ctdump::restore {
namespace {

TEST(GuestConfigTest, UntrustedSourcesLoseHostReachingKeys) {
  const char* lxc =
      "lxc.uts.name = web\n"
      "lxc.hook.pre-start = /bin/evil\n"
      "lxc.mount.entry = / host none rbind 0 0\n"
      "lxc.include = /etc/evil.conf\n"
      "lxc.include = /usr/share/lxc/config/common.conf\n"
      "lxc.net.0.type = phys\n"
      "lxc.apparmor.profile = unconfined\n"
      "lxc.cgroup2.devices.allow = a\n"
      "lxc.rootfs.path = dir:/\n"
      "lxc.environment = A=1\n";
  RestoreTarget t = Target(true);
  t.untrusted = true;
  auto r = AdaptGuestConfig(lxc, t);
  ASSERT_TRUE(r.ok());
  for (const char* gone : {"/bin/evil", "rbind", "/etc/evil.conf", "phys", "unconfined", "devices.allow",
                           "dir:/\n"})
    EXPECT_EQ(r->lxc_config.find(gone), std::string::npos) << gone;
  for (const char* kept : {"lxc.uts.name = web", "common.conf", "lxc.environment = A=1"})
    EXPECT_NE(r->lxc_config.find(kept), std::string::npos) << kept;
  EXPECT_EQ(r->dropped.size(), 6u);
  // A trusted (built-in) backup keeps them, but never its storage keys.
  t.untrusted = false;
  r = AdaptGuestConfig(lxc, t);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->lxc_config.find("/bin/evil"), std::string::npos);
  EXPECT_EQ(r->lxc_config.find("dir:/\n"), std::string::npos);
}

TEST(GuestConfigTest, PctRawRootfsCannotOverrideTheRestoredOne) {
  const char* pct = "hostname: web\nrootfs: /old\nlxc.rootfs.path: dir:/\nlxc.hook.start: /x\n";
  RestoreTarget t = Target(true);
  t.untrusted = true;
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
