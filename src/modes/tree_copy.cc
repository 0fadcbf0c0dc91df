#include "modes/tree_copy.h"

#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "archive/tree_walker.h"
#include "ctdump/units.h"
#include "modes/tree_copy_file.h"
#include "sys/dir_list.h"
#include "sys/token_bucket.h"
#include "sys/unique_fd.h"

namespace ctdump::modes {

struct SeenMap {
  std::unordered_map<std::string, TreeCopier::Seen> map;
};

// Passes messages on, each warning once: a file the first pass could not
// copy is usually still uncopyable in the second. The walk and the file
// pool's threads use it at once: one message at a time.
class TreeCopier::OnceObserver : public Observer {
 public:
  explicit OnceObserver(Observer* out) : out_(out) {}
  void Log(LogLevel level, std::string_view message) noexcept override {
    std::lock_guard lock(mu_);
    try {
      if (level == LogLevel::kWarn && !warned_.emplace(message).second) return;
    } catch (...) {  // out of memory: say it again rather than not at all
    }
    out_->Log(level, message);
  }
  void OnProgress(const Progress& p) noexcept override {
    std::lock_guard lock(mu_);
    out_->OnProgress(p);
  }
  void OnJobStart(const JobInfo& j) noexcept override {
    std::lock_guard lock(mu_);
    out_->OnJobStart(j);
  }
  void OnGuestStart(std::string_view vmid) noexcept override {
    std::lock_guard lock(mu_);
    out_->OnGuestStart(vmid);
  }
  void OnGuestEnd(const GuestSummary& g) noexcept override {
    std::lock_guard lock(mu_);
    out_->OnGuestEnd(g);
  }

 private:
  std::mutex mu_;
  Observer* out_;
  std::unordered_set<std::string> warned_;
};

namespace {

using copy::Fail;
using copy::Failure;
using copy::IsFatal;
using copy::Partial;
using copy::ProcPath;
using copy::ReadXattrs;
using copy::SetMetadata;
using copy::Xattrs;
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
        euid_(::geteuid()),
        egid_(::getegid()) {
    for (const auto& s : c.options_.sources) {
      auto rel = archive::NormalizeSource(s);
      if (!rel.ok()) continue;  // WalkTree reports it
      source_rels_.insert(*rel);
      for (std::string r = *rel; !r.empty(); r = Parent(r)) protected_.insert(r);
    }
    // A bandwidth limit is one bucket: the files are copied one at a time.
    if (c.options_.bwlimit > 0) bucket_.emplace(c.options_.bwlimit, Clock::now());
    int threads = c.options_.threads;
    if (threads < 0)
      threads = std::clamp<int>(static_cast<int>(std::thread::hardware_concurrency()), 2, 4);
    if (bucket_) threads = 0;
    pool_.emplace(
        static_cast<size_t>(threads), bucket_ ? &*bucket_ : nullptr, &bytes_,
        [this] { ReportProgress(false); },
        [this](const copy::FilePool::Job& job, const std::optional<Failure>& f) {
          FileDone(job, f);
        });
  }

  Status Finish() {
    RETURN_IF_ERROR(LeaveAll());
    pool_->Drain();
    RETURN_IF_ERROR(Fatal());
    for (const auto& rel : failed_rels_) c_.seen_->map.erase(rel);  // again next pass
    // Directories' times after everything in them was made, by the pool too.
    for (const auto& [rel, times] : dir_times_) {
      int r = rel.empty() ? ::futimens(dst_root_, times.data())
                          : ::utimensat(dst_.Open(Parent(rel)), Base(rel).c_str(), times.data(),
                                        AT_SYMLINK_NOFOLLOW);
      if (r != 0) RETURN_IF_ERROR(Report(rel, Failure{errno, "set times", false}));
    }
    // Copying a later source touched its parents' times after they were set.
    for (const auto& [rel, times] : parent_times_) {
      int pfd = dst_.Open(Parent(rel));
      if (pfd >= 0) ::utimensat(pfd, Base(rel).c_str(), times.data(), AT_SYMLINK_NOFOLLOW);
    }
    return Status::OK();
  }

  TreeCopyStats stats() {
    TreeCopyStats s = stats_;
    s.copied += copied_.load();
    s.failed += failed_.load();
    s.data_bytes = bytes_.load();
    return s;
  }

  // Progress at most every kProgressInterval (or now): a later pass knows
  // how many entries to expect from the one before.
  void ReportProgress(bool force) {
    auto now = Clock::now();
    if (!force && now - last_progress_ < kProgressInterval) return;
    last_progress_ = now;
    Progress p;
    p.phase = phase_;
    p.bytes = bytes_.load(std::memory_order_relaxed);
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

  void Unreadable(const std::string&, int) override { ++failed_; }  // named by the walk

  Status Visit(archive_entry* e, const std::string& rel, int fd) override {
    RETURN_IF_ERROR(Fatal());
    struct timespec looked;
    ::clock_gettime(CLOCK_REALTIME, &looked);
    RETURN_IF_ERROR(Begin(rel));
    ++stats_.entries;
    current_ = rel;
    ReportProgress(false);
    if (const char* target = archive_entry_hardlink(e)) {
      bool changed = true;
      std::string target_rel = std::string(target).substr(2);
      pool_->WaitFor(target_rel);  // copied by the pool: made first
      if (auto f = Link(rel, target_rel, &changed)) return Report(rel, *f);
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
      return SubmitFile(dfd, name, rel, st, fd, looked);
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
      if (made && S_ISDIR(made->st_mode))
        dirs_.push_back({rel, {st.st_atim, st.st_mtim}, st.st_mode, {}});
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
    mode_t mode;
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

  // A regular file goes to the pool, which copies it (FileDone). It is
  // remembered now; a failure forgets it again (Finish).
  Status SubmitFile(int dfd, const std::string& name, const std::string& rel, const struct stat& st,
                    int fd, const struct timespec& looked) {
    bool in_place = false;
    if (update_) {
      auto old = Existing(dfd, name);
      auto seen = c_.seen_->map.find(rel);
      in_place = old && S_ISREG(old->st_mode) && seen != c_.seen_->map.end() &&
                 seen->second.dev == st.st_dev && seen->second.ino == st.st_ino;
      if (old && !in_place) {
        if (auto f = Remove(dfd, name)) return Report(rel, *f);
      }
    }
    copy::FilePool::Job job;
    job.dir.Reset(::fcntl(dfd, F_DUPFD_CLOEXEC, 0));
    if (!job.dir.valid()) return Report(rel, Failure{errno, "duplicate a descriptor", false});
    job.src.Reset(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!job.src.valid()) return Report(rel, Failure{errno, "duplicate a descriptor", false});
    job.rel = rel;
    job.st = st;
    job.in_place = in_place;
    // A new file is the creator's: the chown is needed for another owner
    // or in a setgid directory (the group is the directory's then).
    job.chown = st.st_uid != euid_ || st.st_gid != egid_ || dirs_.empty() ||
                dirs_.back().rel != Parent(rel) || (dirs_.back().mode & S_ISGID);
    Remember(rel, st, looked);
    pool_->Submit(std::move(job));
    return Fatal();
  }

  // On the thread that copied the file.
  void FileDone(const copy::FilePool::Job& job, const std::optional<Failure>& f) {
    if (!f) {
      ++copied_;
      return;
    }
    Status s = Report(job.rel, *f);
    std::lock_guard lock(mu_);
    failed_rels_.push_back(job.rel);
    if (!s.ok() && fatal_.ok()) fatal_ = s;
  }

  // The first error of a pool thread, if any.
  Status Fatal() {
    std::lock_guard lock(mu_);
    return fatal_;
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
    dir_times_.emplace_back(d.rel, d.times);  // Finish sets them
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
    ++failed_;
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
  std::vector<std::pair<std::string, std::array<struct timespec, 2>>> dir_times_;
  const uid_t euid_;
  const gid_t egid_;
  std::optional<sys::TokenBucket> bucket_;
  TreeCopyStats stats_;  // entries and deleted: the walk's thread
  std::atomic<uint64_t> copied_{0}, failed_{0}, bytes_{0};
  std::mutex mu_;  // for the two below
  Status fatal_;   // a pool thread's error that ends the pass
  std::vector<std::string> failed_rels_;
  std::optional<copy::FilePool> pool_;  // last: its threads use the members above
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
  TreeCopyStats stats = pass.stats();
  previous_entries_ = stats.entries;
  stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return stats;
}

}  // namespace ctdump::modes
