#include "providertest/fixture.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <sstream>

#include "container/container.h"
#include "restore/restore_journal.h"
#include "restore/subordinate_ids.h"
#include "restore/test_restore.h"
#include "sys/file.h"
#include "sys/journal.h"
#include "sys/unique_fd.h"

namespace ctdump::providertest {
namespace {

constexpr uint32_t kBlock = 65536;

// Writes the source tree as host root; every owner shifted by `base_`.
class TreeWriter {
 public:
  TreeWriter(std::string root, uint32_t base) : root_(std::move(root)), base_(base) {}

  Status Dir(const std::string& rel, mode_t mode, uint32_t uid = 0, uint32_t gid = 0) {
    std::string p = Path(rel);
    if (::mkdir(p.c_str(), mode) != 0 && errno != EEXIST)
      return ErrnoError(errno, fmt::format("Failed to create \"{}\"", p));
    return Own(rel, mode, uid, gid);
  }

  Status File(const std::string& rel, std::string_view content, mode_t mode = 0644,
              uint32_t uid = 0, uint32_t gid = 0) {
    std::string p = Path(rel);
    sys::UniqueFd fd(
        ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to create \"{}\"", p));
    RETURN_IF_ERROR(sys::WriteAll(fd.get(), content, p));
    return Own(rel, mode, uid, gid);
  }

  Status Symlink(const std::string& rel, const std::string& target) {
    std::string p = Path(rel);
    if (::symlink(target.c_str(), p.c_str()) != 0)
      return ErrnoError(errno, fmt::format("Failed to create symlink \"{}\"", p));
    if (::lchown(p.c_str(), base_, base_) != 0)
      return ErrnoError(errno, fmt::format("Failed to chown \"{}\"", p));
    return Status::OK();
  }

  Status Link(const std::string& existing, const std::string& rel) {
    if (::link(Path(existing).c_str(), Path(rel).c_str()) != 0)
      return ErrnoError(errno, fmt::format("Failed to link \"{}\"", Path(rel)));
    return Status::OK();
  }

  Status Fifo(const std::string& rel) {
    if (::mkfifo(Path(rel).c_str(), 0644) != 0)
      return ErrnoError(errno, fmt::format("Failed to create FIFO \"{}\"", Path(rel)));
    return Own(rel, 0644, 0, 0);
  }

  // 64 MiB with two data extents of 3840 bytes, at 0 and at 32 MiB.
  Status Sparse(const std::string& rel) {
    std::string p = Path(rel);
    sys::UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid() || ::ftruncate(fd.get(), 64 << 20) != 0)
      return ErrnoError(errno, fmt::format("Failed to create \"{}\"", p));
    std::string a, b;
    for (int i = 0; i < 256; ++i) a += "ctdump-sparse-A", b += "ctdump-sparse-B";
    if (::pwrite(fd.get(), a.data(), a.size(), 0) != static_cast<ssize_t>(a.size()) ||
        ::pwrite(fd.get(), b.data(), b.size(), 32 << 20) != static_cast<ssize_t>(b.size()))
      return ErrnoError(errno, fmt::format("Failed to write \"{}\"", p));
    return Own(rel, 0644, 0, 0);
  }

  // Raw xattr; POSIX ACL values carry host ids.
  Status Xattr(const std::string& rel, const std::string& name, const std::string& value) {
    std::string p = Path(rel);
    if (::lsetxattr(p.c_str(), name.c_str(), value.data(), value.size(), 0) != 0)
      return ErrnoError(errno, fmt::format("Failed to set {} on \"{}\"", name, p));
    return Status::OK();
  }

  // entries: {tag, perm, container id or -1}.
  std::string Acl(const std::vector<std::tuple<uint16_t, uint16_t, int64_t>>& entries) const {
    std::string v;
    auto le = [&](uint64_t x, int n) {
      for (int i = 0; i < n; ++i) v += static_cast<char>((x >> (8 * i)) & 0xFF);
    };
    le(2, 4);
    for (auto [tag, perm, id] : entries) {
      le(tag, 2);
      le(perm, 2);
      le(id < 0 ? 0xFFFFFFFFu : base_ + static_cast<uint32_t>(id), 4);
    }
    return v;
  }

  // VFS_CAP_REVISION_3, effective, cap_net_raw permitted, root id = base_.
  std::string NetRawCapability() const {
    std::string v;
    auto le = [&](uint32_t x) {
      for (int i = 0; i < 4; ++i) v += static_cast<char>((x >> (8 * i)) & 0xFF);
    };
    le(0x03000000u | 1);
    le(1u << 13);  // permitted: CAP_NET_RAW
    le(0);         // inheritable
    le(0);
    le(0);
    le(base_);
    return v;
  }

  // Post-order: every entry gets its own nanosecond mtime.
  Status SetMtimes() {
    uint64_t n = 0;
    std::error_code ec;
    std::vector<std::string> all;
    for (auto it = std::filesystem::recursive_directory_iterator(root_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
      all.push_back(it->path().string());
    if (ec) return ErrnoError(ec.value(), fmt::format("Failed to walk \"{}\"", root_));
    // Deepest first, so that a directory's mtime is set after its entries.
    std::sort(all.begin(), all.end(), [](const std::string& a, const std::string& b) {
      auto da = std::count(a.begin(), a.end(), '/'), db = std::count(b.begin(), b.end(), '/');
      return da != db ? da > db : a < b;
    });
    all.push_back(root_);
    for (const auto& p : all) RETURN_IF_ERROR(Mtime(p, n++));
    return Status::OK();
  }

  static Status Mtime(const std::string& p, uint64_t n) {
    struct timespec t[2];
    t[0].tv_sec = t[1].tv_sec = static_cast<time_t>(1700000000 + n * 61);
    t[0].tv_nsec = t[1].tv_nsec = static_cast<long>((123456789 + n * 1000003) % 1000000000);
    if (::utimensat(AT_FDCWD, p.c_str(), t, AT_SYMLINK_NOFOLLOW) != 0)
      return ErrnoError(errno, fmt::format("Failed to set the mtime of \"{}\"", p));
    return Status::OK();
  }

  std::string Path(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  Status Own(const std::string& rel, mode_t mode, uint32_t uid, uint32_t gid) {
    std::string p = Path(rel);
    if (::lchown(p.c_str(), base_ + uid, base_ + gid) != 0)
      return ErrnoError(errno, fmt::format("Failed to chown \"{}\"", p));
    if (::chmod(p.c_str(), mode) != 0)
      return ErrnoError(errno, fmt::format("Failed to chmod \"{}\"", p));
    return Status::OK();
  }

 private:
  std::string root_;
  uint32_t base_;
};

Status WriteSystem(TreeWriter& w) {
  for (const char* d : {"dev", "etc", "sbin", "srv", "var", "var/cache", "var/cache/apt", "root"})
    RETURN_IF_ERROR(w.Dir(d, 0755));
  RETURN_IF_ERROR(w.Dir("tmp", 01777));
  RETURN_IF_ERROR(w.Dir("var/tmp", 01777));
  RETURN_IF_ERROR(w.File("sbin/init", "#!/bin/sh\nexec /bin/sh\n", 0755));
  const std::pair<const char*, const char*> etc[] = {
      {"hostname", "ctdump-pt\n"},
      {"hosts", "127.0.0.1 localhost\n"},
      {"passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"},
      {"group", "root:x:0:\nuser:x:1000:\n"},
      {"fstab", "# empty\n"},
      {"os-release", "ID=ctdump-pt\nNAME=\"ctdump provider-test\"\n"},
      {"resolv.conf", "nameserver 127.0.0.1\n"},
      {"issue", "ctdump provider-test\n"},
      {"motd", "a container the conformance kit made\n"},
      {"profile", "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"},
      {"shells", "/bin/sh\n"},
      {"timezone", "Etc/UTC\n"}};
  for (auto [name, content] : etc) RETURN_IF_ERROR(w.File(std::string("etc/") + name, content));
  RETURN_IF_ERROR(w.File("etc/shadow", "root:*:19000:0:99999:7:::\n", 0640, 0, 42));
  // What the backup excludes.
  RETURN_IF_ERROR(w.File("tmp/should-be-excluded", "tmp file\n"));
  RETURN_IF_ERROR(w.File("var/tmp/also-excluded", "var tmp file\n"));
  RETURN_IF_ERROR(w.File("var/cache/apt/pkgcache.bin", std::string(4096, 'c')));
  RETURN_IF_ERROR(w.Dir("srv/trickydir", 0755));
  return w.File("srv/trickydir/x", "excluded with its directory\n");
}

Status WriteData(TreeWriter& w) {
  const std::string d = kDataDir;
  RETURN_IF_ERROR(w.Dir(d, 0755));
  RETURN_IF_ERROR(w.File(d + "/hello.txt", "hello, ctdump\n"));
  RETURN_IF_ERROR(w.File(d + "/hl1", "one inode, two names\n"));
  RETURN_IF_ERROR(w.Link(d + "/hl1", d + "/hl2"));
  RETURN_IF_ERROR(w.Sparse(d + "/sparse.img"));
  RETURN_IF_ERROR(w.Fifo(d + "/fifo"));
  RETURN_IF_ERROR(w.File(d + "/suid-true", "#!/bin/true\n", 04755));
  RETURN_IF_ERROR(w.File(d + "/cap-true", "#!/bin/true\n", 0755));
  RETURN_IF_ERROR(w.Xattr(d + "/cap-true", "security.capability", w.NetRawCapability()));
  // u::rw-, u:1000:r--, u:70002:r--, g::r--, g:1000:rw-, m::rw-, o::r--
  RETURN_IF_ERROR(w.File(d + "/acl.txt", "acl file\n", 0664));
  RETURN_IF_ERROR(w.Xattr(d + "/acl.txt", "system.posix_acl_access",
                          w.Acl({{1, 6, -1},
                                 {2, 4, 1000},
                                 {2, 4, 70002},
                                 {4, 4, -1},
                                 {8, 6, 1000},
                                 {0x10, 6, -1},
                                 {0x20, 4, -1}})));
  RETURN_IF_ERROR(w.Dir(d + "/acldir", 0775));
  RETURN_IF_ERROR(
      w.Xattr(d + "/acldir", "system.posix_acl_access",
              w.Acl({{1, 7, -1}, {2, 7, 1000}, {4, 5, -1}, {0x10, 7, -1}, {0x20, 5, -1}})));
  RETURN_IF_ERROR(w.Xattr(
      d + "/acldir", "system.posix_acl_default",
      w.Acl({{1, 7, -1}, {2, 7, 1000}, {4, 5, -1}, {8, 5, 1000}, {0x10, 7, -1}, {0x20, 5, -1}})));
  // Created below the default ACL: the kernel gives it an access ACL.
  RETURN_IF_ERROR(w.File(d + "/acldir/inherited.txt", "inherits the default acl\n", 0644));
  RETURN_IF_ERROR(w.File(d + "/xattr.txt", "has xattrs\n"));
  RETURN_IF_ERROR(w.Xattr(d + "/xattr.txt", "user.ctdump", "hello"));
  RETURN_IF_ERROR(
      w.Xattr(d + "/xattr.txt", "user.bin", std::string("\x00\xff\xfe\x0a\x5c\x01", 6)));
  RETURN_IF_ERROR(w.File(d + "/uid1000.txt", "secret-1000\n", 0600, 1000, 1000));
  RETURN_IF_ERROR(w.File(d + "/uid70000.txt", "high ids\n", 0640, 70000, 70001));
  std::string long_name = "long-";
  long_name.resize(255, 'x');
  RETURN_IF_ERROR(w.File(d + "/" + long_name, "255-byte name\n"));
  std::string deep = d + "/deep";
  RETURN_IF_ERROR(w.Dir(deep, 0755));
  for (int i = 1; i <= 20; ++i) {
    deep += fmt::format("/l{:02}", i);
    RETURN_IF_ERROR(w.Dir(deep, 0755));
  }
  RETURN_IF_ERROR(w.File(deep + "/leaf.txt", "twenty levels down\n"));
  RETURN_IF_ERROR(w.File(d + "/bad-\xff\xfe.txt", "not utf-8\n"));
  for (const char* n :
       {"new\nline.txt", "star*.txt", "q?.txt", "br[acket.txt", "-leading-dash.txt"})
    RETURN_IF_ERROR(w.File(d + "/" + n, "odd name\n"));
  RETURN_IF_ERROR(w.Symlink(d + "/symlink", "hello.txt"));
  RETURN_IF_ERROR(w.Symlink(d + "/abs-link", "/etc/hostname"));
  RETURN_IF_ERROR(w.Symlink(d + "/dangling", "does/not/exist"));
  RETURN_IF_ERROR(w.Dir(d + "/emptydir", 0755));
  RETURN_IF_ERROR(w.Dir(d + "/private1000", 0700, 1000, 1000));
  RETURN_IF_ERROR(w.File(d + "/private1000/inner.txt", "inside a 0700 dir\n", 0600, 1000, 1000));
  // Excluded by the unanchored pattern tricky*.
  return w.File(d + "/tricky-1.txt", "excluded\n");
}

// Host-only: root of the host (the worker must not read it) and an id
// outside the map.
Status WriteHostFiles(const std::string& rootfs) {
  std::string p = rootfs + "/" + kHostRootFile;
  {
    sys::UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to create \"{}\"", p));
    RETURN_IF_ERROR(sys::WriteAll(fd.get(), kHostRootContent, p));
  }
  if (::chown(p.c_str(), 0, 0) != 0 || ::chmod(p.c_str(), 0600) != 0)
    return ErrnoError(errno, fmt::format("Failed to chown \"{}\"", p));
  p = rootfs + "/" + kUnmappedFile;
  RETURN_IF_ERROR(sys::WriteFileAtomic(p, "owned by an id the container cannot map\n", 0644));
  if (::chown(p.c_str(), 4000000000u, 4000000000u) != 0)
    return ErrnoError(errno, fmt::format("Failed to chown \"{}\"", p));
  return Status::OK();
}

std::string LxcConfig(const std::string& name, const std::string& rootfs, uint32_t base) {
  return fmt::format(
      "# ctdump provider-test: a throw-away container, never started\n"
      "lxc.include = /usr/share/lxc/config/common.conf\n"
      "lxc.include = /usr/share/lxc/config/userns.conf\n"
      "lxc.idmap = u 0 {0} {1}\n"
      "lxc.idmap = g 0 {0} {1}\n"
      "lxc.arch = amd64\n"
      "lxc.uts.name = {2}\n"
      "lxc.rootfs.path = dir:{3}\n"
      "lxc.net.0.type = empty\n"
      "lxc.init.cmd = /sbin/init\n"
      "lxc.environment = CTDUMP_PT=1\n"
      "lxc.start.auto = 0\n"
      "lxc.tty.max = 2\n",
      base, kMapCount, name, rootfs);
}

}  // namespace

uint32_t PickIdBase(const std::string& lxcpath) {
  uint64_t top = 0;
  auto note = [&](uint64_t end) { top = std::max(top, end); };
  std::vector<restore::IdRange> uids, gids;
  restore::TakenByContainers(lxcpath, &uids, &gids);
  for (const auto* ranges : {&uids, &gids})
    for (const auto& r : *ranges) note(r.start + r.count);
  for (const char* f : {"/etc/subuid", "/etc/subgid"}) {
    auto text = sys::ReadFile(f);
    for (const auto& r : restore::DelegatedRanges(text.ok() ? *text : "", "root", "0"))
      note(r.start + r.count);
  }
  note(kBlock * 16);  // never in the low ids a host uses for itself
  return static_cast<uint32_t>((top + kBlock - 1) / kBlock * kBlock);
}

std::vector<std::string> ExcludeOptions() { return {"/var/cache/", "tricky*"}; }

std::vector<std::string> ExcludedPaths() {
  return {"tmp/should-be-excluded", "var/tmp/also-excluded",      "var/cache",
          "var/cache/apt",          "var/cache/apt/pkgcache.bin", "srv/trickydir",
          "srv/trickydir/x",        "srv/data/tricky-1.txt"};
}

IdMap KitMap(uint32_t base) {
  auto m = IdMap::Parse(
      {fmt::format("u 0 {} {}", base, kMapCount), fmt::format("g 0 {} {}", base, kMapCount)}, true);
  return m.ok() ? *m : IdMap();
}

Result<std::unique_ptr<KitContainer>> KitContainer::Journal(const KitPaths& paths,
                                                            std::string name) {
  std::unique_ptr<KitContainer> c(new KitContainer(paths, std::move(name)));
  restore::RestoreJournal j(sys::MakeJournalDirs(paths.state_dir, paths.run_dir), c->name_,
                            c->dir(), /*throwaway=*/true);
  Status s = j.WillCreateDir(c->dir());
  if (!s.ok()) {
    c->gone_ = true;
    return s.WithContext(fmt::format("journaling container '{}'", c->name_));
  }
  return c;
}

KitContainer::~KitContainer() {
  if (!keep_) (void)Destroy();
}

std::string KitContainer::dir() const { return paths_.lxcpath + "/" + name_; }
std::string KitContainer::rootfs() const { return dir() + "/rootfs"; }

Status KitContainer::Destroy() {
  if (gone_) return Status::OK();
  RETURN_IF_ERROR(sys::RemoveTree(dir()));
  RETURN_IF_ERROR(
      restore::ClearRestoreJournal(sys::MakeJournalDirs(paths_.state_dir, paths_.run_dir), name_));
  ::unlink(restore::RestoreLockPath(paths_.run_dir, name_).c_str());
  container::RemoveLxcLockFiles(name_, paths_.lxcpath);
  gone_ = true;
  return Status::OK();
}

Result<std::unique_ptr<KitContainer>> CreateSourceContainer(const KitPaths& paths,
                                                            const std::string& name,
                                                            uint32_t base) {
  if (sys::PathExists(paths.lxcpath + "/" + name))
    return AlreadyExistsError(fmt::format("container '{}' exists in \"{}\"", name, paths.lxcpath));
  ASSIGN_OR_RETURN(auto c, KitContainer::Journal(paths, name));
  if (::mkdir(c->dir().c_str(), 0750) != 0)
    return ErrnoError(errno, fmt::format("Failed to create \"{}\"", c->dir()));
  if (::mkdir(c->rootfs().c_str(), 0755) != 0)
    return ErrnoError(errno, fmt::format("Failed to create \"{}\"", c->rootfs()));
  TreeWriter w(c->rootfs(), base);
  RETURN_IF_ERROR(w.Own("", 0755, 0, 0));
  RETURN_IF_ERROR(WriteSystem(w));
  RETURN_IF_ERROR(WriteData(w));
  RETURN_IF_ERROR(WriteHostFiles(c->rootfs()));
  RETURN_IF_ERROR(w.SetMtimes());
  RETURN_IF_ERROR(sys::WriteFileAtomic(c->dir() + "/ctdump.fw", kFirewallConfig, 0640));
  RETURN_IF_ERROR(
      sys::WriteFileAtomic(c->dir() + "/config", LxcConfig(name, c->rootfs(), base), 0640));
  return c;
}

Status ChangeOneFile(const std::string& rootfs, uint32_t base) {
  TreeWriter w(rootfs, base);
  RETURN_IF_ERROR(w.File(kChangedFile, "hello again, ctdump: changed for the incremental\n"));
  RETURN_IF_ERROR(TreeWriter::Mtime(rootfs + "/" + kChangedFile, 100001));
  return TreeWriter::Mtime(rootfs + "/" + kDataDir, 100002);
}

}  // namespace ctdump::providertest
