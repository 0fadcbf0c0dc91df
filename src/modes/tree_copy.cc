#include "modes/tree_copy.h"

#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "archive/tree_walker.h"
#include "ctdump/units.h"
#include "sys/dir_list.h"
#include "sys/token_bucket.h"
#include "sys/unique_fd.h"

namespace ctdump::modes {

struct SeenMap {
  std::unordered_map<std::string, TreeCopier::Seen> map;
};

// Passes messages on, each warning once: a file the first pass could not
// copy is usually still uncopyable in the second.
class TreeCopier::OnceObserver : public Observer {
 public:
  explicit OnceObserver(Observer* out) : out_(out) {}
  void Log(LogLevel level, std::string_view message) noexcept override {
    try {
      if (level == LogLevel::kWarn && !warned_.emplace(message).second) return;
    } catch (...) {  // out of memory: say it again rather than not at all
    }
    out_->Log(level, message);
  }
  void OnProgress(const Progress& p) noexcept override { out_->OnProgress(p); }
  void OnJobStart(const JobInfo& j) noexcept override { out_->OnJobStart(j); }
  void OnGuestStart(std::string_view vmid) noexcept override { out_->OnGuestStart(vmid); }
  void OnGuestEnd(const GuestSummary& g) noexcept override { out_->OnGuestEnd(g); }

 private:
  Observer* out_;
  std::unordered_set<std::string> warned_;
};

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kProgressInterval = std::chrono::milliseconds(250);

#define RETURN_FAILURE(expr)                     \
  do {                                           \
    if (auto failure_ = (expr)) return failure_; \
  } while (0)

std::string Parent(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string Base(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// Whether `rel` lies below directory `dir` ("" is the root).
bool IsBelow(const std::string& rel, const std::string& dir) {
  if (dir.empty()) return !rel.empty();
  return rel.size() > dir.size() && rel.compare(0, dir.size(), dir) == 0 && rel[dir.size()] == '/';
}

// The xattrs a copy keeps: what the walks reading the copy keep.
bool CopiedXattr(std::string_view name) {
  return name.starts_with("user.") || name == "security.capability" ||
         name == "system.posix_acl_access" || name == "system.posix_acl_default";
}

// Errors that mean the copy itself cannot be written: the pass fails.
bool IsFatal(int err) {
  return err == ENOSPC || err == EDQUOT || err == EROFS || err == EMFILE || err == ENFILE ||
         err == ENOMEM;
}

// An operation of a copy step that failed: errno and what was being done.
struct Failure {
  int err = 0;
  std::string what;      // "open", "mknod", "setxattr security.capability", ...
  bool source = false;   // on the source side (ENOENT there: the entry vanished)
  bool partial = false;  // the entry is in the copy, some of its metadata is not
};

// A failure after the entry was made: only its metadata is incomplete.
std::optional<Failure> Partial(std::optional<Failure> f) {
  if (f) f->partial = true;
  return f;
}

std::optional<Failure> Fail(std::string what, bool source = false, int err = errno) {
  return Failure{err, std::move(what), source};
}

// The directories from a root down to the one last asked for, each opened
// relative to its parent without following symlinks. Only the root and the
// deepest kOpenLevels keep an fd (the walk keeps 64 of its own); a closed level is reopened from
// the nearest open one (a tree deeper than the open-file limit is fine).
class DirCursor {
 public:
  static constexpr size_t kOpenLevels = 16;

  DirCursor(int root, bool create) : root_(root), create_(create) {}

  // The fd of directory `rel` ("": the root); -1 and errno set on failure.
  int Open(const std::string& rel) {
    std::vector<std::string_view> comps;
    for (size_t pos = 0; pos < rel.size();) {
      size_t end = std::min(rel.find('/', pos), rel.size());
      comps.push_back(std::string_view(rel).substr(pos, end - pos));
      pos = end + 1;
    }
    size_t k = 0;
    while (k < comps.size() && k < names_.size() && names_[k] == comps[k]) ++k;
    names_.resize(k);
    fds_.resize(k);
    if (k > 0 && !fds_[k - 1].valid() && Reopen(k - 1) < 0) return Truncate(k - 1);
    for (size_t i = k; i < comps.size(); ++i) {
      std::string name(comps[i]);
      int fd = OpenChild(Fd(i), name);
      if (fd < 0) return -1;
      names_.push_back(std::move(name));
      fds_.emplace_back(fd);
      Trim();
    }
    return Fd(comps.size());
  }

 private:
  // The fd of the directory the first i names lead to (0: the root).
  int Fd(size_t i) const { return i == 0 ? root_ : fds_[i - 1].get(); }

  int OpenChild(int parent, const std::string& name) {
    int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create_) {
      if (::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST) return -1;
      fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    return fd;
  }

  // Opens level i (and the closed ones above it) again.
  int Reopen(size_t i) {
    size_t j = i;
    while (j > 0 && !fds_[j - 1].valid()) --j;
    for (size_t m = j; m <= i; ++m) {
      int fd = OpenChild(Fd(m), names_[m]);
      if (fd < 0) return -1;
      fds_[m].Reset(fd);
      if (m >= kOpenLevels) fds_[m - kOpenLevels].Reset();  // few open on the way down
    }
    Trim();
    return fds_[i].get();
  }

  int Truncate(size_t k) {
    int err = errno;
    names_.resize(k);
    fds_.resize(k);
    errno = err;
    return -1;
  }

  void Trim() {
    for (size_t m = 0; m + kOpenLevels < fds_.size(); ++m) fds_[m].Reset();
  }

  int root_;
  bool create_;
  std::vector<std::string> names_;
  std::vector<sys::UniqueFd> fds_;  // fds_[i]: the directory names_[0..i]
};

std::string ProcPath(int dir_fd, const std::string& name) {
  return name.empty() ? fmt::format("/proc/self/fd/{}", dir_fd)
                      : fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
}

using Xattrs = std::vector<std::pair<std::string, std::string>>;

// The copied xattrs of the object at `path` (or of `fd` when >= 0).
std::optional<Failure> ReadXattrs(int fd, const std::string& path, bool follow, Xattrs* out) {
  std::vector<char> names(4096);
  for (;;) {
    ssize_t n = fd >= 0  ? ::flistxattr(fd, names.data(), names.size())
                : follow ? ::listxattr(path.c_str(), names.data(), names.size())
                         : ::llistxattr(path.c_str(), names.data(), names.size());
    if (n >= 0) {
      names.resize(static_cast<size_t>(n));
      break;
    }
    if (errno == ENOTSUP) return std::nullopt;
    if (errno != ERANGE) return Fail("listxattr", true);
    names.resize(names.size() * 4);
  }
  std::vector<char> value(4096);
  for (size_t pos = 0; pos < names.size();) {
    std::string name(names.data() + pos);
    pos += name.size() + 1;
    if (!CopiedXattr(name)) continue;
    for (;;) {
      ssize_t n = fd >= 0  ? ::fgetxattr(fd, name.c_str(), value.data(), value.size())
                  : follow ? ::getxattr(path.c_str(), name.c_str(), value.data(), value.size())
                           : ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      if (n >= 0) {
        out->emplace_back(name, std::string(value.data(), static_cast<size_t>(n)));
        break;
      }
      if (errno == ENODATA) break;  // removed meanwhile
      if (errno != ERANGE) return Fail("getxattr " + name, true);
      value.resize(value.size() * 4);
    }
  }
  return std::nullopt;
}

}  // namespace

std::string TreeCopyStats::Summary() const {
  return fmt::format("{} entries, {} copied ({} of file data), {} deleted, {} not copied, {:.1f} s",
                     entries, copied, HumanBytes(data_bytes), deleted, failed, seconds);
}

// One walk of the source, creating or updating the copy entry by entry.
class TreeCopier::Pass : public archive::EntryVisitor {
 public:
  Pass(TreeCopier& c, bool update, int src_root, int dst_root)
      : c_(c),
        update_(update),
        phase_(update ? "rsync-final" : "rsync-first"),
        src_root_(src_root),
        dst_root_(dst_root),
        src_(src_root, /*create=*/false),
        dst_(dst_root, /*create=*/true),
        buf_(1 << 20) {
    for (const auto& s : c.options_.sources) {
      auto rel = archive::NormalizeSource(s);
      if (!rel.ok()) continue;  // WalkTree reports it
      source_rels_.insert(*rel);
      for (std::string r = *rel; !r.empty(); r = Parent(r)) protected_.insert(r);
    }
    if (c.options_.bwlimit > 0) bucket_.emplace(c.options_.bwlimit, Clock::now());
  }

  Status Finish() {
    RETURN_IF_ERROR(LeaveAll());
    // Copying a later source touched its parents' times after they were set.
    for (const auto& [rel, times] : parent_times_) {
      int pfd = dst_.Open(Parent(rel));
      if (pfd >= 0) ::utimensat(pfd, Base(rel).c_str(), times.data(), AT_SYMLINK_NOFOLLOW);
    }
    return Status::OK();
  }

  TreeCopyStats& stats() { return stats_; }

  // Progress at most every kProgressInterval (or now): a later pass knows
  // how many entries to expect from the one before.
  void ReportProgress(bool force) {
    auto now = Clock::now();
    if (!force && now - last_progress_ < kProgressInterval) return;
    last_progress_ = now;
    Progress p;
    p.phase = phase_;
    p.bytes = stats_.data_bytes;
    p.files = stats_.entries;
    if (c_.previous_entries_ > 0) p.total_files = c_.previous_entries_;
    p.current = "/" + current_;
    c_.once_->OnProgress(p);
  }

  bool IsUnchanged(const std::string& rel, const struct stat& st) override {
    return update_ && Unchanged(rel, st);
  }

  Status SkippedUnchanged(const std::string& rel, const struct stat&) override {
    RETURN_IF_ERROR(Begin(rel));
    ++stats_.entries;
    current_ = rel;
    ReportProgress(false);
    return Status::OK();
  }

  void Unreadable(const std::string&, int) override { ++stats_.failed; }  // named by the walk

  Status Visit(archive_entry* e, const std::string& rel, int fd) override {
    struct timespec looked;
    ::clock_gettime(CLOCK_REALTIME, &looked);
    RETURN_IF_ERROR(Begin(rel));
    ++stats_.entries;
    current_ = rel;
    ReportProgress(false);
    if (const char* target = archive_entry_hardlink(e)) {
      bool changed = true;
      if (auto f = Link(rel, std::string(target).substr(2), &changed)) return Report(rel, *f);
      if (changed) ++stats_.copied;
      return Status::OK();
    }
    struct stat st;
    if (auto f = SourceStat(e, rel, fd, &st)) return Report(rel, *f);
    const std::string name = Base(rel);
    int dfd = rel.empty() ? dst_root_ : dst_.Open(Parent(rel));
    if (dfd < 0) return Report(rel, Failure{errno, "open the copy's directory", false});
    std::optional<Failure> f;
    bool changed = true;
    if (update_ && !S_ISREG(st.st_mode) && Unchanged(rel, st)) {
      changed = false;
    } else if (S_ISREG(st.st_mode)) {
      f = CopyFile(dfd, name, rel, st, fd);
    } else if (S_ISDIR(st.st_mode)) {
      f = MakeDir(dfd, name, rel, st);
    } else if (S_ISLNK(st.st_mode)) {
      const char* target = archive_entry_symlink(e);
      f = MakeSymlink(dfd, name, st, target ? target : "");
    } else {
      f = MakeNode(dfd, name, rel, st);
    }
    if (S_ISDIR(st.st_mode)) {
      auto made = Existing(dfd, name);
      if (made && S_ISDIR(made->st_mode)) dirs_.push_back({rel, {st.st_atim, st.st_mtim}, {}});
    }
    if (f) return Report(rel, *f);
    if (changed) ++stats_.copied;
    Remember(rel, st, looked);
    return Status::OK();
  }

 private:
  struct OpenDir {
    std::string rel;
    std::array<struct timespec, 2> times;
    std::set<std::string> names;  // entries seen in it (update: the others go)
  };

  static bool Same(const struct timespec& a, const struct timespec& b) {
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
  }

  // What the previous pass saw of `rel` is what the walk sees now.
  bool Unchanged(const std::string& rel, const struct stat& st) {
    auto it = c_.seen_->map.find(rel);
    if (it == c_.seen_->map.end()) return false;
    const Seen& s = it->second;
    return !s.racy && s.dev == st.st_dev && s.ino == st.st_ino && s.mode == st.st_mode &&
           s.size == st.st_size && Same(s.ctime, st.st_ctim) && Same(s.mtime, st.st_mtim);
  }

  // `looked`: the time the entry was visited, before its stat and copy.
  void Remember(const std::string& rel, const struct stat& st, const struct timespec& looked) {
    // A change in the same timestamp tick as the stat would leave ctime as
    // it is: such an entry is copied again by the next pass.
    bool racy = st.st_ctim.tv_sec + 2 > looked.tv_sec;
    c_.seen_->map[rel] =
        Seen{st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtim, st.st_ctim, racy};
  }

  // A new entry: the directories it is not in are complete.
  Status Begin(const std::string& rel) {
    if (source_rels_.count(rel)) {
      RETURN_IF_ERROR(LeaveAll());  // a new source
    } else {
      while (!dirs_.empty() && !IsBelow(rel, dirs_.back().rel)) RETURN_IF_ERROR(LeaveTop());
      if (!dirs_.empty() && Parent(rel) == dirs_.back().rel) dirs_.back().names.insert(Base(rel));
    }
    return Status::OK();
  }

  Status LeaveAll() {
    while (!dirs_.empty()) RETURN_IF_ERROR(LeaveTop());
    return Status::OK();
  }

  // A directory is complete: delete what the source no longer has (update),
  // then set its times.
  Status LeaveTop() {
    OpenDir d = std::move(dirs_.back());
    dirs_.pop_back();
    if (update_) {
      int fd = d.rel.empty() ? dst_root_ : dst_.Open(d.rel);
      if (fd < 0) return Report(d.rel, Failure{errno, "open", false});
      RETURN_IF_ERROR(DeleteUnseen(fd, d));
    }
    int r = d.rel.empty() ? ::futimens(dst_root_, d.times.data())
                          : ::utimensat(dst_.Open(Parent(d.rel)), Base(d.rel).c_str(),
                                        d.times.data(), AT_SYMLINK_NOFOLLOW);
    if (r != 0) return Report(d.rel, Failure{errno, "set times", false});
    if (protected_.count(d.rel) && !d.rel.empty()) parent_times_.emplace_back(d.rel, d.times);
    return Status::OK();
  }

  Status DeleteUnseen(int fd, const OpenDir& d) {
    std::vector<std::string> gone;
    RETURN_IF_ERROR(ListNames(fd, d.rel, [&](const std::string& n) {
      if (!d.names.count(n) && !protected_.count(Join(d.rel, n))) gone.push_back(n);
    }));
    for (const auto& n : gone) {
      if (auto f = Remove(fd, n)) return Report(Join(d.rel, n), *f);
      ++stats_.deleted;
    }
    return Status::OK();
  }

  template <typename Fn>
  Status ListNames(int fd, const std::string& rel, Fn&& fn) {
    // A readdir error is one too: a short list would leave stale files.
    return sys::VisitDirectoryAt(fd, fmt::format("the copy of \"/{}\"", rel),
                                 [&fn](std::string_view name, unsigned char) {
                                   fn(std::string(name));
                                   return true;
                                 });
  }

  // Removes `name` in `dir_fd`, a whole tree if it is a directory.
  std::optional<Failure> Remove(int dir_fd, const std::string& name) {
    if (::unlinkat(dir_fd, name.c_str(), 0) == 0 || errno == ENOENT) return std::nullopt;
    if (errno != EISDIR && errno != EPERM) return Fail("unlink");
    sys::UniqueFd fd(
        ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Fail("open to delete");
    RETURN_FAILURE(Empty(fd, 0));
    fd.Reset();
    if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) return Fail("rmdir");
    return std::nullopt;
  }

  // Empties directory `fd` of the copy. Below kKeepOpen levels a parent's
  // fd is closed while its child is emptied and reopened through "..".
  std::optional<Failure> Empty(sys::UniqueFd& fd, size_t depth) {
    static constexpr size_t kKeepOpen = 16;
    std::vector<std::string> names;
    Status s = ListNames(fd.get(), "", [&](const std::string& n) { names.push_back(n); });
    if (!s.ok()) return Fail("read to delete");
    for (const auto& n : names) {
      if (::unlinkat(fd.get(), n.c_str(), 0) == 0 || errno == ENOENT) continue;
      if (errno != EISDIR && errno != EPERM) return Fail("unlink");
      sys::UniqueFd child(
          ::openat(fd.get(), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child.valid()) return Fail("open to delete");
      const bool close = depth >= kKeepOpen;
      if (close) fd.Reset();
      RETURN_FAILURE(Empty(child, depth + 1));
      if (close) {
        fd.Reset(::openat(child.get(), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd.valid()) return Fail("reopen to delete");
      }
      child.Reset();
      if (::unlinkat(fd.get(), n.c_str(), AT_REMOVEDIR) != 0) return Fail("rmdir");
    }
    return std::nullopt;
  }

  // A failed entry: a warning naming it, unless it vanished or the copy
  // itself cannot be written.
  Status Report(const std::string& rel, const Failure& f) {
    if (f.source && (f.err == ENOENT || f.err == ENOTDIR || f.err == ELOOP)) return Status::OK();
    if (IsFatal(f.err))
      return ErrnoError(f.err, fmt::format("Failed to copy \"/{}\" ({})", rel, f.what));
    ++stats_.failed;
    c_.once_->Log(LogLevel::kWarn,
                  fmt::format("'/{}' not copied{}: {}: {}", rel, f.partial ? " completely" : "",
                              f.what, std::strerror(f.err)));
    return Status::OK();
  }

  // Existing entry `name` of the copy, if any.
  std::optional<struct stat> Existing(int dfd, const std::string& name) {
    struct stat st;
    if (name.empty()) return ::fstat(dfd, &st) == 0 ? std::optional(st) : std::nullopt;
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;
    return st;
  }

  std::optional<Failure> Replace(int dfd, const std::string& name) {
    if (Existing(dfd, name)) return Remove(dfd, name);
    return std::nullopt;
  }

  // A later name of a hardlinked inode: linked to the copy of its first
  // name (through /proc/self/fd: both may be deeper than a path can say).
  std::optional<Failure> Link(const std::string& rel, const std::string& target_rel,
                              bool* changed) {
    int tfd = dst_.Open(Parent(target_rel));
    if (tfd < 0) return Fail("open the link target's directory");
    sys::UniqueFd target(::openat(tfd, Base(target_rel).c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat t;
    if (!target.valid() || ::fstat(target.get(), &t) != 0)
      return Fail("open the link target /" + target_rel);
    int dfd = dst_.Open(Parent(rel));
    if (dfd < 0) return Fail("open the copy's directory");
    const std::string name = Base(rel);
    auto old = Existing(dfd, name);
    if (old && old->st_dev == t.st_dev && old->st_ino == t.st_ino) {
      *changed = false;
      return std::nullopt;
    }
    if (old) RETURN_FAILURE(Remove(dfd, name));
    if (::linkat(AT_FDCWD, ProcPath(target.get(), "").c_str(), dfd, name.c_str(),
                 AT_SYMLINK_FOLLOW) != 0)
      return Fail("link to /" + target_rel);
    return std::nullopt;
  }

  // The source entry's own stat: libarchive folds an ACL's group:: entry
  // into the entry's mode. The same inode as the walk saw, or it vanished.
  std::optional<Failure> SourceStat(archive_entry* e, const std::string& rel, int fd,
                                    struct stat* st) {
    *st = *archive_entry_stat(e);
    if (S_ISLNK(st->st_mode)) return std::nullopt;  // no mode of its own
    const dev_t dev = st->st_dev;
    const ino_t ino = st->st_ino;
    int r;
    if (fd >= 0) {
      r = ::fstat(fd, st);
    } else if (rel.empty()) {
      r = ::fstat(src_root_, st);
    } else {
      int pfd = src_.Open(Parent(rel));
      r = pfd < 0 ? -1 : ::fstatat(pfd, Base(rel).c_str(), st, AT_SYMLINK_NOFOLLOW);
    }
    if (r != 0) return Fail("stat", true);
    if (st->st_dev != dev || st->st_ino != ino) return Fail("stat", true, ENOENT);
    return std::nullopt;
  }

  std::optional<Failure> CopyFile(int dfd, const std::string& name, const std::string& rel,
                                  const struct stat& st, int fd) {
    auto old = Existing(dfd, name);
    auto seen = c_.seen_->map.find(rel);
    bool in_place = update_ && old && S_ISREG(old->st_mode) && seen != c_.seen_->map.end() &&
                    seen->second.dev == st.st_dev && seen->second.ino == st.st_ino;
    if (old && !in_place) RETURN_FAILURE(Remove(dfd, name));
    int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (in_place ? O_TRUNC : O_CREAT | O_EXCL);
    sys::UniqueFd out(::openat(dfd, name.c_str(), flags, 0600));
    if (!out.valid()) return Fail("create");
    if (auto f = CopyData(fd, out.get(), st.st_size)) {
      // No half file in a backup: it is left out, named in the warning.
      out.Reset();
      if (::unlinkat(dfd, name.c_str(), 0) != 0) return Fail("remove the half-copied file");
      return f;
    }
    Xattrs x;
    RETURN_FAILURE(Partial(ReadXattrs(fd, "", false, &x)));
    return Partial(SetMetadata(out.get(), -1, "", st, x, in_place));
  }

  std::optional<Failure> MakeDir(int dfd, const std::string& name, const std::string& rel,
                                 const struct stat& st) {
    sys::UniqueFd own;
    int fd = dfd;  // the root: the copy's directory itself
    bool existed = true;
    if (!rel.empty()) {
      auto old = Existing(dfd, name);
      existed = old && S_ISDIR(old->st_mode);
      if (old && !existed) RETURN_FAILURE(Remove(dfd, name));
      if (!existed && ::mkdirat(dfd, name.c_str(), 0700) != 0) return Fail("mkdir");
      own.Reset(::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!own.valid()) return Fail("open");
      fd = own.get();
    }
    Xattrs x;
    RETURN_FAILURE(Partial(SourceXattrs(rel, &x)));
    return Partial(SetMetadata(fd, -1, "", st, x, existed));
  }

  std::optional<Failure> MakeSymlink(int dfd, const std::string& name, const struct stat& st,
                                     const char* target) {
    RETURN_FAILURE(Replace(dfd, name));
    if (::symlinkat(target, dfd, name.c_str()) != 0) return Fail("symlink");
    return Partial(SetMetadata(-1, dfd, name, st, {}, false));
  }

  std::optional<Failure> MakeNode(int dfd, const std::string& name, const std::string& rel,
                                  const struct stat& st) {
    RETURN_FAILURE(Replace(dfd, name));
    if (::mknodat(dfd, name.c_str(), st.st_mode & (S_IFMT | 0600), st.st_rdev) != 0)
      return Fail(S_ISFIFO(st.st_mode) ? "mkfifo" : "mknod");
    Xattrs x;
    RETURN_FAILURE(Partial(SourceXattrs(rel, &x)));
    return Partial(SetMetadata(-1, dfd, name, st, x, false));
  }

  // The xattrs of a source entry without an open fd.
  std::optional<Failure> SourceXattrs(const std::string& rel, Xattrs* x) {
    if (rel.empty()) return ReadXattrs(src_root_, "", false, x);
    int pfd = src_.Open(Parent(rel));
    if (pfd < 0) return Fail("open the source directory", true);
    return ReadXattrs(-1, ProcPath(pfd, Base(rel)), false, x);
  }

  // Owner, mode, xattrs, times (not a directory's: LeaveTop sets them) of
  // `fd`, or of `name` in `dfd`. `existed`: drop xattrs the source lost.
  std::optional<Failure> SetMetadata(int fd, int dfd, const std::string& name,
                                     const struct stat& st, const Xattrs& x, bool existed) {
    const bool link = S_ISLNK(st.st_mode);
    int r = fd >= 0 ? ::fchown(fd, st.st_uid, st.st_gid)
                    : ::fchownat(dfd, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    if (r != 0) return Fail(fmt::format("chown to {}:{}", st.st_uid, st.st_gid));
    if (!link) {
      r = fd >= 0 ? ::fchmod(fd, st.st_mode & 07777)
                  : ::fchmodat(dfd, name.c_str(), st.st_mode & 07777, 0);
      if (r != 0) return Fail("chmod");
      std::string path = fd >= 0 ? std::string() : ProcPath(dfd, name);
      if (existed) RETURN_FAILURE(DropXattrs(fd, path, x));
      for (const auto& [n, v] : x) {
        r = fd >= 0 ? ::fsetxattr(fd, n.c_str(), v.data(), v.size(), 0)
                    : ::lsetxattr(path.c_str(), n.c_str(), v.data(), v.size(), 0);
        if (r != 0) return Fail("setxattr " + n);
      }
    }
    if (S_ISDIR(st.st_mode)) return std::nullopt;
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    r = fd >= 0 ? ::futimens(fd, times)
                : ::utimensat(dfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (r != 0) return Fail("set times");
    return std::nullopt;
  }

  std::optional<Failure> DropXattrs(int fd, const std::string& path, const Xattrs& keep) {
    Xattrs now;
    if (auto f = ReadXattrs(fd, path, false, &now)) return Fail("listxattr", false, f->err);
    for (const auto& [n, v] : now) {
      bool kept =
          std::any_of(keep.begin(), keep.end(), [&n = n](const auto& k) { return k.first == n; });
      if (kept) continue;
      int r = fd >= 0 ? ::fremovexattr(fd, n.c_str()) : ::lremovexattr(path.c_str(), n.c_str());
      if (r != 0 && errno != ENODATA) return Fail("removexattr " + n);
    }
    return std::nullopt;
  }

  // The data ranges of `in` (SEEK_DATA/SEEK_HOLE) up to `size`; the rest of
  // `out` stays holes.
  std::optional<Failure> CopyData(int in, int out, off_t size) {
    off_t off = 0;
    while (off < size) {
      off_t data = ::lseek(in, off, SEEK_DATA);
      off_t hole = size;
      if (data < 0) {
        if (errno == ENXIO) break;  // only holes from here
        if (errno != EINVAL && errno != EOPNOTSUPP) return Fail("seek", true);
        data = off;  // no hole support: all data
      } else {
        hole = ::lseek(in, data, SEEK_HOLE);
        if (hole < 0) hole = size;
      }
      if (data >= size) break;
      hole = std::min(hole, size);
      bool shrunk = false;
      RETURN_FAILURE(CopyRange(in, out, data, hole - data, &shrunk));
      if (shrunk) break;  // changed while copied: the next pass copies it again
      off = hole;
    }
    if (::ftruncate(out, size) != 0) return Fail("truncate");
    return std::nullopt;
  }

  std::optional<Failure> CopyRange(int in, int out, off_t off, off_t len, bool* shrunk) {
    while (len > 0) {
      size_t want = static_cast<size_t>(std::min<off_t>(len, 8 << 20));
      if (bucket_) want = Throttle(want);
      ssize_t n = -1;
      if (copy_file_range_) {
        loff_t ioff = off, ooff = off;
        n = ::copy_file_range(in, &ioff, out, &ooff, want, 0);
        errno_source_ = false;
        if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS ||
                      errno == EPERM)) {
          copy_file_range_ = errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP;
          n = ReadWrite(in, out, off, want);
        }
      } else {
        n = ReadWrite(in, out, off, want);
      }
      if (n < 0) return Fail(errno_source_ ? "read" : "write", errno_source_);
      if (n == 0) {
        *shrunk = true;
        return std::nullopt;
      }
      if (bucket_) bucket_->Consume(static_cast<uint64_t>(n));
      stats_.data_bytes += static_cast<uint64_t>(n);
      ReportProgress(false);  // a large file
      off += n;
      len -= n;
    }
    return std::nullopt;
  }

  // Copies up to `want` bytes at `off`; sets errno_source_ on failure.
  ssize_t ReadWrite(int in, int out, off_t off, size_t want) {
    want = std::min(want, buf_.size());
    ssize_t n;
    do n = ::pread(in, buf_.data(), want, off);
    while (n < 0 && errno == EINTR);
    errno_source_ = true;
    if (n <= 0) return n;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::pwrite(out, buf_.data() + done, static_cast<size_t>(n - done), off + done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        errno_source_ = false;
        return -1;
      }
      done += w;
    }
    return n;
  }

  size_t Throttle(size_t want) {
    for (;;) {
      auto now = Clock::now();
      uint64_t allowed = bucket_->Allowance(want, now);
      if (allowed > 0) return static_cast<size_t>(allowed);
      std::this_thread::sleep_for(bucket_->Delay(want, now));
    }
  }

  TreeCopier& c_;
  const bool update_;
  const char* phase_;
  std::string current_;
  Clock::time_point last_progress_{};
  const int src_root_, dst_root_;
  DirCursor src_, dst_;
  std::vector<OpenDir> dirs_;
  std::set<std::string> source_rels_;
  std::set<std::string> protected_;  // the sources and their parents: never deleted
  std::vector<std::pair<std::string, std::array<struct timespec, 2>>> parent_times_;
  std::optional<sys::TokenBucket> bucket_;
  std::vector<char> buf_;
  bool copy_file_range_ = true;
  bool errno_source_ = false;
  TreeCopyStats stats_;
};

TreeCopier::TreeCopier(std::string from, std::string to, TreeCopyOptions options,
                       Observer* observer)
    : from_(std::move(from)),
      to_(std::move(to)),
      options_(std::move(options)),
      once_(std::make_unique<OnceObserver>(observer)),
      seen_(std::make_unique<SeenMap>()) {}

TreeCopier::~TreeCopier() = default;

Result<TreeCopyStats> TreeCopier::Sync() {
  auto start = Clock::now();
  sys::UniqueFd src(::open(from_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!src.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", from_));
  sys::UniqueFd dst(::open(to_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dst.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", to_));
  Pass pass(*this, passes_++ > 0, src.get(), dst.get());
  archive::WalkOptions wo;
  wo.exclude_patterns = options_.exclude_patterns;
  RETURN_IF_ERROR(archive::WalkTree(from_, options_.sources, wo, &pass, once_.get()));
  RETURN_IF_ERROR(pass.Finish());
  pass.ReportProgress(true);
  previous_entries_ = pass.stats().entries;
  pass.stats().seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return pass.stats();
}

}  // namespace ctdump::modes
