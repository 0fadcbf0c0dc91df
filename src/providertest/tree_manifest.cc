#include "providertest/tree_manifest.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <tuple>

#include "sys/unique_fd.h"

namespace ctdump::providertest {
namespace {

constexpr char kAclAccess[] = "system.posix_acl_access";
constexpr char kAclDefault[] = "system.posix_acl_default";
constexpr char kCapability[] = "security.capability";

std::string Hex(const void* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

uint32_t Le32(const std::string& s, size_t off) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + off;
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

uint16_t Le16(const std::string& s, size_t off) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + off;
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}

std::string IdText(std::optional<uint32_t> id) {
  return id ? std::to_string(*id) : std::string("unmapped");
}

char TypeOf(mode_t m) {
  switch (m & S_IFMT) {
    case S_IFREG:
      return 'f';
    case S_IFDIR:
      return 'd';
    case S_IFLNK:
      return 'l';
    case S_IFIFO:
      return 'p';
    case S_IFCHR:
      return 'c';
    case S_IFBLK:
      return 'b';
    case S_IFSOCK:
      return 's';
    default:
      return '?';
  }
}

// Every xattr of `path` (not following a symlink): name → value.
Result<std::map<std::string, std::string>> ReadXattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
  if (n < 0) {
    if (errno == ENOTSUP) return out;
    return ErrnoError(errno, fmt::format("Failed to list xattrs of \"{}\"", path));
  }
  std::string names(static_cast<size_t>(n), '\0');
  n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return ErrnoError(errno, fmt::format("Failed to list xattrs of \"{}\"", path));
  names.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < names.size();) {
    std::string name(names.c_str() + i);
    i += name.size() + 1;
    ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (v < 0) {
      if (errno == ENODATA) continue;
      return ErrnoError(errno, fmt::format("Failed to read xattr {} of \"{}\"", name, path));
    }
    std::string value(static_cast<size_t>(v), '\0');
    v = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (v < 0)
      return ErrnoError(errno, fmt::format("Failed to read xattr {} of \"{}\"", name, path));
    value.resize(static_cast<size_t>(v));
    out[name] = value;
  }
  return out;
}

// SHA-256 of the file and whether it has a hole before its end.
Status HashFile(int fd, const std::string& path, uint64_t size, Entry* e) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return InternalError("OpenSSL: cannot start SHA-256");
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("Failed to read \"{}\"", path));
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  e->sha256 = Hex(md, len);
  off_t hole = ::lseek(fd, 0, SEEK_HOLE);
  e->sparse = hole >= 0 && static_cast<uint64_t>(hole) < size;
  return Status::OK();
}

struct CloseDir {
  void operator()(DIR* d) const { ::closedir(d); }
};

class Walker {
 public:
  Walker(std::string root, const IdMap& map) : root_(std::move(root)), map_(map) {}

  Result<Manifest> Run() {
    sys::UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", root_));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
      return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", root_));
    RETURN_IF_ERROR(Add(".", root_, -1, "", st));
    RETURN_IF_ERROR(Dir(fd.get(), "", root_));
    GroupHardLinks();
    std::sort(out_.begin(), out_.end(),
              [](const Entry& a, const Entry& b) { return a.path < b.path; });
    return std::move(out_);
  }

 private:
  // The entries below directory `dirfd` (relative path `rel`, "" for the root).
  Status Dir(int dirfd, const std::string& rel, const std::string& host) {
    int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return ErrnoError(errno, fmt::format("Failed to read \"{}\"", host));
    std::unique_ptr<DIR, CloseDir> d(::fdopendir(dup));
    if (!d) {
      ::close(dup);
      return ErrnoError(errno, fmt::format("Failed to read \"{}\"", host));
    }
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* de = ::readdir(d.get())) {
      if (std::strcmp(de->d_name, ".") && std::strcmp(de->d_name, ".."))
        names.push_back(de->d_name);
      errno = 0;
    }
    if (errno) return ErrnoError(errno, fmt::format("Failed to read \"{}\"", host));
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      std::string r = rel.empty() ? name : rel + "/" + name;
      std::string h = host + "/" + name;
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", h));
      RETURN_IF_ERROR(Add(r, h, dirfd, name, st));
      if (S_ISDIR(st.st_mode)) {
        sys::UniqueFd sub(
            ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", h));
        RETURN_IF_ERROR(Dir(sub.get(), r, h));
      }
    }
    return Status::OK();
  }

  Status Add(const std::string& rel, const std::string& host, int dirfd, const std::string& name,
             const struct stat& st) {
    Entry e;
    e.path = rel;
    e.type = TypeOf(st.st_mode);
    e.uid = map_.CtUid(st.st_uid);
    e.gid = map_.CtGid(st.st_gid);
    e.mode = st.st_mode & 07777;
    e.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
    if (e.type == 'c' || e.type == 'b')
      e.rdev = fmt::format("{}:{}", major(st.st_rdev), minor(st.st_rdev));
    if (e.type == 'l') {
      std::string t(PATH_MAX, '\0');
      ssize_t n = ::readlinkat(dirfd, name.c_str(), t.data(), t.size());
      if (n < 0) return ErrnoError(errno, fmt::format("Failed to read link \"{}\"", host));
      t.resize(static_cast<size_t>(n));
      e.target = t;
    }
    if (e.type == 'f') {
      e.size = static_cast<uint64_t>(st.st_size);
      sys::UniqueFd fd(
          ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", host));
      RETURN_IF_ERROR(HashFile(fd.get(), host, e.size, &e));
      if (st.st_nlink > 1) inodes_[{st.st_dev, st.st_ino}].push_back(rel);
    }
    ASSIGN_OR_RETURN(auto xattrs, ReadXattrs(host));
    for (auto& [k, v] : xattrs) {
      Result<std::string> text = std::string();
      std::string* into = nullptr;
      if (k == kAclAccess) {
        text = AclText(v, map_), into = &e.acl_access;
      } else if (k == kAclDefault) {
        text = AclText(v, map_), into = &e.acl_default;
      } else if (k == kCapability) {
        text = CapabilityText(v, map_), into = &e.fcaps;
      } else {
        e.xattrs[k] = Hex(v.data(), v.size());
        continue;
      }
      if (!text.ok()) return text.status().WithContext(host);
      *into = *text;
    }
    out_.push_back(std::move(e));
    return Status::OK();
  }

  void GroupHardLinks() {
    std::map<std::string, std::string> group_of;
    for (auto& [inode, members] : inodes_) {
      if (members.size() < 2) continue;
      std::sort(members.begin(), members.end());
      std::string g;
      for (const auto& m : members) g += (g.empty() ? "" : "\n") + m;
      for (const auto& m : members) group_of[m] = g;
    }
    for (auto& e : out_)
      if (auto it = group_of.find(e.path); it != group_of.end()) e.hardlinks = it->second;
  }

  std::string root_;
  const IdMap& map_;
  Manifest out_;
  std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> inodes_;
};

bool Ignored(const std::string& path, const std::vector<std::string>& ignore) {
  for (const auto& p : ignore) {
    if (p.size() >= 2 && p.compare(p.size() - 2, 2, "/*") == 0) {
      std::string dir = p.substr(0, p.size() - 1);  // "dev/"
      if (path.compare(0, dir.size(), dir) == 0) return true;
    } else if (path == p) {
      return true;
    }
  }
  return false;
}

// One attribute's difference, with the loss that covers it ("" for none).
struct Difference {
  std::string loss;
  std::string text;
};

std::string Joined(const std::map<std::string, std::string>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s.empty() ? "(none)" : s;
}

std::string Or(const std::string& s) { return s.empty() ? "(none)" : s; }

std::vector<Difference> Diff(const Entry& a, const Entry& b) {
  std::vector<Difference> d;
  std::string p = DisplayPath(a.path);
  auto add = [&](std::string loss, std::string_view what, const std::string& x,
                 const std::string& y) {
    d.push_back({std::move(loss), fmt::format("{}: {} {} != {}", p, what, x, y)});
  };
  if (a.type != b.type) {
    add(a.type == 'p' ? "fifo" : "", "type", std::string(1, a.type), std::string(1, b.type));
    return d;  // nothing else is comparable
  }
  if (a.uid != b.uid) add("", "uid", IdText(a.uid), IdText(b.uid));
  if (a.gid != b.gid) add("", "gid", IdText(a.gid), IdText(b.gid));
  if (a.mode != b.mode)
    add("", "mode", fmt::format("{:04o}", a.mode), fmt::format("{:04o}", b.mode));
  if (a.type == 'f') {
    if (a.size != b.size) add("", "size", std::to_string(a.size), std::to_string(b.size));
    if (a.sha256 != b.sha256) add("", "sha256", a.sha256, b.sha256);
    if (a.sparse != b.sparse)
      add("sparse", "sparse", a.sparse ? "holes" : "dense", b.sparse ? "holes" : "dense");
    if (a.hardlinks != b.hardlinks)
      add("hardlink", "hard links", Or(DisplayPath(a.hardlinks)), Or(DisplayPath(b.hardlinks)));
  }
  if (a.target != b.target) add("", "target", DisplayPath(a.target), DisplayPath(b.target));
  if (a.rdev != b.rdev) add("", "rdev", a.rdev, b.rdev);
  if (a.acl_access != b.acl_access) add("acl", "acl", Or(a.acl_access), Or(b.acl_access));
  if (a.acl_default != b.acl_default)
    add("acl", "default acl", Or(a.acl_default), Or(b.acl_default));
  if (a.xattrs != b.xattrs) add("xattr", "xattrs", Joined(a.xattrs), Joined(b.xattrs));
  if (a.fcaps != b.fcaps) add("fcaps", "fcaps", Or(a.fcaps), Or(b.fcaps));
  // A symlink's mtime is not compared: tar and most tools do not restore it.
  if (a.type != 'l' && a.mtime_ns != b.mtime_ns) {
    auto ns = [](int64_t t) { return fmt::format("{}.{:09}", t / 1000000000, t % 1000000000); };
    bool same_second = a.mtime_ns / 1000000000 == b.mtime_ns / 1000000000;
    add(same_second ? "mtime-subsecond" : "", "mtime", ns(a.mtime_ns), ns(b.mtime_ns));
  }
  return d;
}

}  // namespace

Result<Manifest> WalkTree(const std::string& root, const IdMap& map) {
  return Walker(root, map).Run();
}

Result<std::string> AclText(const std::string& xattr, const IdMap& map) {
  if (xattr.size() < 4 || (xattr.size() - 4) % 8 != 0 || Le32(xattr, 0) != 2)
    return InvalidArgumentError(fmt::format("malformed POSIX ACL xattr of {} bytes", xattr.size()));
  std::string out;
  for (size_t off = 4; off < xattr.size(); off += 8) {
    uint16_t tag = Le16(xattr, off), perm = Le16(xattr, off + 2);
    uint32_t id = Le32(xattr, off + 4);
    std::string rwx = {perm & 4 ? 'r' : '-', perm & 2 ? 'w' : '-', perm & 1 ? 'x' : '-'};
    std::string e;
    switch (tag) {
      case 0x01:
        e = "u::";
        break;
      case 0x02:
        e = "u:" + IdText(map.CtUid(id)) + ":";
        break;
      case 0x04:
        e = "g::";
        break;
      case 0x08:
        e = "g:" + IdText(map.CtGid(id)) + ":";
        break;
      case 0x10:
        e = "m::";
        break;
      case 0x20:
        e = "o::";
        break;
      default:
        return InvalidArgumentError(fmt::format("POSIX ACL entry with tag {:#x}", tag));
    }
    out += (out.empty() ? "" : ",") + e + rwx;
  }
  return out;
}

Result<std::string> CapabilityText(const std::string& xattr, const IdMap& map) {
  if (xattr.size() < 4) return InvalidArgumentError("security.capability shorter than 4 bytes");
  uint32_t magic = Le32(xattr, 0);
  uint32_t rev = magic & 0xFF000000u;
  bool v3 = rev == 0x03000000u;
  if ((rev != 0x02000000u && !v3) || xattr.size() != (v3 ? 24u : 20u))
    return InvalidArgumentError(
        fmt::format("security.capability revision {:#x} of {} bytes", rev, xattr.size()));
  uint64_t perm = Le32(xattr, 4) | uint64_t{Le32(xattr, 12)} << 32;
  uint64_t inh = Le32(xattr, 8) | uint64_t{Le32(xattr, 16)} << 32;
  std::optional<uint32_t> rootid = 0;
  if (v3) rootid = map.CtUid(Le32(xattr, 20));
  return fmt::format("eff={} perm={:#x} inh={:#x} rootid={}", magic & 1, perm, inh, IdText(rootid));
}

Comparison CompareManifests(const Manifest& source, const Manifest& restored,
                            const CompareOptions& options) {
  Comparison c;
  std::map<std::string, const Entry*> by_path;
  for (const auto& e : restored) by_path[e.path] = &e;
  auto report = [&](const Difference& d) {
    if (!d.loss.empty() && options.losses.count(d.loss))
      c.declared.push_back(d.text);
    else
      c.failures.push_back(d.text);
  };
  for (const auto& a : source) {
    if (Ignored(a.path, options.ignore)) continue;
    ++c.entries;
    auto it = by_path.find(a.path);
    if (it == by_path.end()) {
      report({a.type == 'p' ? "fifo" : "", DisplayPath(a.path) + ": missing in the restore"});
      continue;
    }
    auto diffs = Diff(a, *it->second);
    if (diffs.empty()) ++c.equal;
    for (auto& d : diffs) {
      if (a.path == "." && options.losses.count("root-entry")) d.loss = "root-entry";
      report(d);
    }
  }
  std::set<std::string> in_source;
  for (const auto& a : source) in_source.insert(a.path);
  for (const auto& b : restored)
    if (!Ignored(b.path, options.ignore) && !in_source.count(b.path))
      report({"", DisplayPath(b.path) + ": not in the source"});
  return c;
}

std::string DisplayPath(const std::string& raw) {
  std::string s;
  for (unsigned char ch : raw) {
    if (ch >= 0x20 && ch < 0x7F && ch != '\\')
      s += static_cast<char>(ch);
    else
      s += fmt::format("\\{:03o}", ch);
  }
  return s;
}

}  // namespace ctdump::providertest
