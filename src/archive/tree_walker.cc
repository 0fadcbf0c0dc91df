#include "archive/tree_walker.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "archive/archive_handle.h"
#include "ctdump/exclude.h"
#include "sys/dir_list.h"
#include "sys/unique_fd.h"

namespace ctdump::archive {
namespace {

std::string Join(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

// The archive member name of a container-relative path ("" is the root).
std::string MemberName(const std::string& rel) { return rel.empty() ? "./" : "./" + rel; }

bool KeepXattr(const char* name) {
  return std::strncmp(name, "user.", 5) == 0 || std::strcmp(name, "security.capability") == 0;
}

// Whether flistxattr on `fd` shows a name that libarchive's metadata lookups
// must read: an xattr the walk keeps, or any system.* name (POSIX ACLs,
// a directory's default ACL, NFSv4/rich ACLs). Without one, stat alone is
// the entry: libarchive would find no ACL and keep no xattr. A list too long
// for `buf` or an error other than "not supported" also answers true, so
// libarchive decides and reports as before.
bool NeedsLibarchive(int fd, std::vector<char>& buf) {
  ssize_t n = ::flistxattr(fd, buf.data(), buf.size());
  if (n < 0) return errno != ENOTSUP;
  for (size_t i = 0; i < static_cast<size_t>(n);) {
    const char* name = buf.data() + i;
    size_t len = ::strnlen(name, static_cast<size_t>(n) - i);
    if (KeepXattr(name) || std::strncmp(name, "system.", 7) == 0) return true;
    i += len + 1;
  }
  return false;
}

// Drops every xattr GNU tar would not store with vzdump's --xattrs-include.
void FilterXattrs(archive_entry* e) {
  std::vector<std::pair<std::string, std::string>> keep;
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (KeepXattr(name))
      keep.emplace_back(name, std::string(static_cast<const char*>(value), size));
  }
  archive_entry_xattr_clear(e);
  for (const auto& [n, v] : keep) archive_entry_xattr_add_entry(e, n.c_str(), v.data(), v.size());
}

// The names in a directory with their d_type (DT_UNKNOWN where the file
// system does not tell), sorted bytewise.
using Names = std::vector<std::pair<std::string, unsigned char>>;
Result<Names> ReadNames(int dir_fd, const std::string& rel) {
  Names names;
  RETURN_IF_ERROR(sys::VisitDirectoryAt(dir_fd, fmt::format("directory \"/{}\"", rel),
                                        [&names](std::string_view name, unsigned char type) {
                                          names.emplace_back(name, type);
                                          return true;
                                        }));
  std::sort(names.begin(), names.end());
  return names;
}

// openat with O_NOATIME (reading must not dirty the inodes of the tree),
// without it where the process may not (EPERM: not the owner, no
// CAP_FOWNER).
int OpenNoAtime(int dir_fd, const char* name, int flags) {
  int fd = ::openat(dir_fd, name, flags | O_NOATIME);
  if (fd >= 0 || errno != EPERM) return fd;
  return ::openat(dir_fd, name, flags);
}

// How much of a file the prefetcher reads ahead (the kernel's readahead
// takes the rest), how far ahead of the walk it goes, and after how many
// files found in the page cache it stops.
constexpr uint64_t kPrefetchPerFile = 2 << 20;
constexpr uint64_t kPrefetchAheadFiles = 512;
constexpr uint64_t kPrefetchAheadBytes = 64 << 20;
constexpr uint64_t kPrefetchCachedRun = 256;
// One in this many regular files the walk probes for a cold page cache.
constexpr uint64_t kProbeEvery = 32;

// Whether the first byte of `fd` is in the page cache (a read that must not
// wait for the disk).
bool Cached(int fd) {
  char b;
  struct iovec iov = {&b, 1};
  return ::preadv2(fd, &iov, 1, 0, RWF_NOWAIT) >= 0 || errno != EAGAIN;
}

// Reads ahead of the walk when the page cache is cold, on a thread of its
// own: the walk hands it the rest of its position (the names after the
// current one at every level of its directory chain) and it walks the same
// order, opening regular files and starting their reads (readahead(2)), so
// the disk serves many reads at once while the walk reads one file after
// another. It only warms the cache: nothing it does changes what the walk
// sees, and it gives up silently on any error. It counts regular files as
// the walk does and stays at most kPrefetchAheadFiles/-Bytes ahead; it stops
// after kPrefetchCachedRun files in a row were cached already, and the walk
// probes (Cached) to start it again.
class Prefetcher {
 public:
  struct Level {
    sys::UniqueFd fd;
    Names names;  // the ones still to walk, in order
    size_t next = 0;
    std::string rel;
  };

  Prefetcher(const ExcludeMatcher* matcher, const std::set<std::string>* source_rels)
      : matcher_(matcher), source_rels_(source_rels) {}
  ~Prefetcher() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  bool busy() const { return busy_.load(std::memory_order_acquire); }
  uint64_t files_read_ahead() const { return read_ahead_.load(); }

  // The walk passed a regular file of `size` bytes.
  void Passed(uint64_t size) {
    files_.store(files_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    bytes_.store(bytes_.load(std::memory_order_relaxed) + std::min(size, kPrefetchPerFile),
                 std::memory_order_relaxed);
  }

  // Starts reading ahead from `levels` (deepest last) on device `dev`; only
  // when not busy().
  void Start(std::vector<Level> levels, dev_t dev) {
    if (thread_.joinable()) thread_.join();
    levels_ = std::move(levels);
    dev_ = dev;
    busy_.store(true, std::memory_order_release);
    thread_ = std::thread([this] { Run(); });
  }

 private:
  void Run() {
    uint64_t files = files_.load(std::memory_order_relaxed);
    uint64_t bytes = bytes_.load(std::memory_order_relaxed);
    uint64_t cached_run = 0;
    while (!levels_.empty() && !stop_ && cached_run < kPrefetchCachedRun) {
      Level& l = levels_.back();
      if (l.next >= l.names.size() || !l.fd.valid()) {
        levels_.pop_back();
        continue;
      }
      const std::string& name = l.names[l.next++].first;
      std::string rel = Join(l.rel, name);
      struct stat st;
      if (::fstatat(l.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      const bool is_dir = S_ISDIR(st.st_mode);
      if (matcher_->Matches("/" + rel, is_dir)) continue;
      if (is_dir) {
        if (st.st_dev != dev_ || source_rels_->count(rel)) continue;
        Level sub;
        sub.fd.Reset(
            OpenNoAtime(l.fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.fd.valid()) continue;
        auto names = ReadNames(sub.fd.get(), rel);
        if (!names.ok()) continue;
        sub.names = std::move(*names);
        sub.rel = std::move(rel);
        levels_.push_back(std::move(sub));
        continue;
      }
      if (!S_ISREG(st.st_mode)) continue;
      const uint64_t want = std::min(static_cast<uint64_t>(st.st_size), kPrefetchPerFile);
      ++files;
      bytes += want;
      // Behind the walk: only follow it.
      if (files <= files_.load(std::memory_order_relaxed) || want == 0) continue;
      while (!stop_ && (files - files_.load(std::memory_order_relaxed) > kPrefetchAheadFiles ||
                        bytes - bytes_.load(std::memory_order_relaxed) > kPrefetchAheadBytes))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      sys::UniqueFd fd(OpenNoAtime(l.fd.get(), name.c_str(),
                                   O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
      if (!fd.valid()) continue;
      if (Cached(fd.get())) {
        ++cached_run;
        continue;
      }
      cached_run = 0;
      ::readahead(fd.get(), 0, want);
      read_ahead_.fetch_add(1, std::memory_order_relaxed);
    }
    levels_.clear();
    busy_.store(false, std::memory_order_release);
  }

  const ExcludeMatcher* matcher_;
  const std::set<std::string>* source_rels_;
  std::vector<Level> levels_;  // the thread's while busy
  dev_t dev_ = 0;
  std::thread thread_;
  std::atomic<bool> busy_{false}, stop_{false};
  std::atomic<uint64_t> files_{0}, bytes_{0}, read_ahead_{0};
};

// The directories from a walk's source down to the one being walked. Only
// the source and the deepest kOpenLevels hold an open fd: anyone in a
// container can make a tree deeper than the process may keep files open. A
// closed level is reopened through ".." of its child on the way back up and
// must be the same directory (device and inode), or the walk fails.
class DirChain {
 public:
  static constexpr size_t kOpenLevels = 64;

  void Push(sys::UniqueFd fd, const struct stat& st, const std::string& rel) {
    levels_.push_back({std::move(fd), st.st_dev, st.st_ino, rel});
    if (levels_.size() > kOpenLevels + 1) levels_[levels_.size() - kOpenLevels - 1].fd.Reset();
  }
  // The deepest level's fd: always open.
  int Top() const { return levels_.back().fd.get(); }
  // Level `i`'s fd (0: the source), -1 where closed.
  int Fd(size_t i) const { return levels_[i].fd.get(); }
  size_t depth() const { return levels_.size(); }
  Status Pop() {
    Level child = std::move(levels_.back());
    levels_.pop_back();
    Level& parent = levels_.back();
    if (parent.fd.valid()) return Status::OK();
    parent.fd.Reset(
        ::openat(child.fd.get(), "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    if (!parent.fd.valid() || ::fstat(parent.fd.get(), &st) != 0)
      return ErrnoError(errno, fmt::format("Failed to reopen directory \"/{}\"", parent.rel));
    if (st.st_dev != parent.dev || st.st_ino != parent.ino)
      return IOError(fmt::format("directory \"/{}\" was moved during the backup", child.rel));
    return Status::OK();
  }

 private:
  struct Level {
    sys::UniqueFd fd;
    dev_t dev;
    ino_t ino;
    std::string rel;
  };
  std::vector<Level> levels_;
};

// From this size on, a file is announced as read sequentially.
constexpr off_t kSequentialAt = 256 << 10;

class Walker {
 public:
  Walker(EntryVisitor* visitor, Observer* observer, ExcludeMatcher matcher,
         std::set<std::string> source_rels, const WalkOptions& options)
      : visitor_(visitor),
        observer_(observer),
        matcher_(std::move(matcher)),
        source_rels_(std::move(source_rels)),
        full_metadata_(options.full_metadata),
        xattr_names_(4096) {
    if (options.prefetch) prefetcher_ = std::make_unique<Prefetcher>(&matcher_, &source_rels_);
  }
  uint64_t files_read_ahead() const { return prefetcher_ ? prefetcher_->files_read_ahead() : 0; }

  Status Open();
  Status WalkSource(const std::string& directory, const std::string& rel);

 private:
  Status WalkDir(DirChain& chain, const std::string& rel, dev_t dev);
  Status VisitEntry(DirChain& chain, const std::string& name, unsigned char type,
                    const std::string& rel, dev_t dev);
  Status VisitDirectory(DirChain& chain, const std::string& name, const std::string& rel,
                        const struct stat& st, dev_t dev);
  // `opened`: the file already open, `st` its fstat (else opened here).
  Status VisitRegular(DirChain& chain, const std::string& name, const std::string& rel,
                      const struct stat& st, dev_t dev, sys::UniqueFd opened = sys::UniqueFd());
  // Hands the rest of the walk's position to the prefetcher.
  void StartPrefetch(const DirChain& chain, dev_t dev);
  Result<EntryHandle> MakeEntry(int fd, const std::string& source_path, const struct stat& st,
                                const std::string& rel);
  void Unreadable(const std::string& rel, int err);
  // How path-based lookups reach `name` in `dir_fd` (`dir_fd` itself for an
  // empty name; container path `rel`): through /proc/self/fd, or by full path
  // where /proc is missing.
  std::string ProcPath(int dir_fd, const std::string& name, const std::string& rel) const;

  EntryVisitor* visitor_;
  Observer* observer_;
  ExcludeMatcher matcher_;
  std::set<std::string> source_rels_;
  bool full_metadata_;
  std::vector<char> xattr_names_;  // NeedsLibarchive's buffer
  ReadHandle disk_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first member of each hardlinked inode
  // The walk's position: per level of the DirChain, its names and the index
  // of the one after the entry being visited.
  struct Position {
    const Names* names;
    size_t next;
    const std::string* rel;
  };
  std::vector<Position> position_;
  // The prefetcher's dups of the DirChain's fds share their file offset:
  // it never lists them (only directories it opened itself).
  std::unique_ptr<Prefetcher> prefetcher_;  // WalkOptions::prefetch
  uint64_t probes_ = 0;
  bool proc_fd_ = false;
  std::string directory_;  // the tree's root on the host
};

Status Walker::Open() {
  proc_fd_ = ::access("/proc/self/fd", X_OK) == 0;
  disk_.reset(archive_read_disk_new());
  if (!disk_) return InternalError("libarchive: out of memory");
  // NO_FFLAGS: GNU tar neither stores nor understands file flags.
  if (archive_read_disk_set_behavior(disk_.get(), ARCHIVE_READDISK_NO_FFLAGS) != ARCHIVE_OK)
    return IOError("Failed to set up libarchive's disk reader");
  return Status::OK();
}

std::string Walker::ProcPath(int dir_fd, const std::string& name, const std::string& rel) const {
  if (!proc_fd_) return rel.empty() ? directory_ : directory_ + "/" + rel;
  if (name.empty()) return fmt::format("/proc/self/fd/{}", dir_fd);
  return fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
}

void Walker::Unreadable(const std::string& rel, int err) {
  observer_->Log(LogLevel::kWarn, fmt::format("unable to read '/{}': {}", rel, std::strerror(err)));
  visitor_->Unreadable(rel, err);
}

// Fills an entry from stat plus libarchive's metadata lookups. `fd` may be
// -1; `source_path` names the object for path-based lookups. An open file
// or directory without a kept xattr or an ACL (NeedsLibarchive) is filled
// from `st` alone: libarchive's lookups would find nothing to keep, and they
// cost a dozen syscalls (ACL reads, xattr list, sparse probing, fstatfs).
// Its sparse map is then left to the caller.
Result<EntryHandle> Walker::MakeEntry(int fd, const std::string& source_path, const struct stat& st,
                                      const std::string& rel) {
  EntryHandle e(archive_entry_new());
  if (!e) return InternalError("libarchive: out of memory");
  if (fd >= 0 && !full_metadata_ && !NeedsLibarchive(fd, xattr_names_)) {
    archive_entry_copy_stat(e.get(), &st);
    archive_entry_set_pathname(e.get(), MemberName(rel).c_str());
    return e;
  }
  archive_entry_copy_sourcepath(e.get(), source_path.c_str());
  int r = archive_read_disk_entry_from_file(disk_.get(), e.get(), fd, &st);
  if (r == ARCHIVE_WARN) {
    const char* msg = archive_error_string(disk_.get());
    observer_->Log(LogLevel::kWarn,
                   fmt::format("'/{}': {}", rel, msg ? msg : "incomplete metadata"));
  } else if (r != ARCHIVE_OK) {
    const char* msg = archive_error_string(disk_.get());
    return IOError(fmt::format("Failed to read the metadata of \"/{}\": {}", rel,
                               msg ? msg : "unknown libarchive error"));
  }
  FilterXattrs(e.get());
  archive_entry_set_pathname(e.get(), MemberName(rel).c_str());
  archive_entry_copy_sourcepath(e.get(), nullptr);
  return e;
}

Status Walker::WalkSource(const std::string& directory, const std::string& rel) {
  if (!rel.empty() && matcher_.Matches("/" + rel, true)) return Status::OK();
  std::string path = rel.empty() ? directory : directory + "/" + rel;
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
  directory_ = directory;
  ASSIGN_OR_RETURN(EntryHandle e, MakeEntry(fd.get(), ProcPath(fd.get(), "", rel), st, rel));
  RETURN_IF_ERROR(visitor_->Visit(e.get(), rel, -1));
  DirChain chain;
  chain.Push(std::move(fd), st, rel);
  return WalkDir(chain, rel, st.st_dev);
}

Status Walker::WalkDir(DirChain& chain, const std::string& rel, dev_t dev) {
  ASSIGN_OR_RETURN(Names names, ReadNames(chain.Top(), rel));
  position_.push_back({&names, 0, &rel});
  for (size_t i = 0; i < names.size(); ++i) {
    position_.back().next = i + 1;
    const auto& [name, type] = names[i];
    Status s = VisitEntry(chain, name, type, Join(rel, name), dev);
    if (!s.ok()) {
      position_.pop_back();
      return s;
    }
  }
  position_.pop_back();
  return Status::OK();
}

Status Walker::VisitEntry(DirChain& chain, const std::string& name, unsigned char type,
                          const std::string& rel, dev_t dev) {
  const int dir_fd = chain.Top();  // valid until a subdirectory is walked
  if (prefetcher_ && type == DT_REG && !matcher_.Matches("/" + rel, false)) {
    // The visitor reads every regular file (WalkOptions::prefetch): open
    // first, one fstat of what was opened is the file's stat. Anything
    // else (not openable, replaced by another kind) is decided from a stat
    // below, as without a d_type.
    sys::UniqueFd fd(OpenNoAtime(dir_fd, name.c_str(),
                                 O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid() && errno == ENOENT) return Status::OK();  // vanished while we walked
    struct stat fst;
    if (fd.valid() && ::fstat(fd.get(), &fst) == 0 && S_ISREG(fst.st_mode)) {
      prefetcher_->Passed(static_cast<uint64_t>(fst.st_size));
      return VisitRegular(chain, name, rel, fst, dev, std::move(fd));
    }
  }
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::OK();  // vanished while we walked
    return ErrnoError(errno, fmt::format("Failed to stat \"/{}\"", rel));
  }
  const bool is_dir = S_ISDIR(st.st_mode);
  if (matcher_.Matches("/" + rel, is_dir)) return Status::OK();
  if (S_ISSOCK(st.st_mode)) return Status::OK();  // tar: "socket ignored"
  if (is_dir) {
    if (source_rels_.count(rel)) return Status::OK();  // visited by its own walk
    return VisitDirectory(chain, name, rel, st, dev);
  }
  if (S_ISREG(st.st_mode)) {
    if (prefetcher_) prefetcher_->Passed(static_cast<uint64_t>(st.st_size));
    return VisitRegular(chain, name, rel, st, dev);
  }
  // Symlinks, fifos, devices: metadata only.
  ASSIGN_OR_RETURN(EntryHandle e, MakeEntry(-1, ProcPath(dir_fd, name, rel), st, rel));
  return visitor_->Visit(e.get(), rel, -1);
}

Status Walker::VisitDirectory(DirChain& chain, const std::string& name, const std::string& rel,
                              const struct stat& st, dev_t dev) {
  const int dir_fd = chain.Top();
  sys::UniqueFd fd(
      OpenNoAtime(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Status::OK();
    if (err != EACCES && err != EPERM)
      return ErrnoError(err, fmt::format("Failed to open directory \"/{}\"", rel));
    // Keep the directory itself, as tar does, without its contents.
    ASSIGN_OR_RETURN(EntryHandle e, MakeEntry(-1, ProcPath(dir_fd, name, rel), st, rel));
    RETURN_IF_ERROR(visitor_->Visit(e.get(), rel, -1));
    Unreadable(rel, err);
    return Status::OK();
  }
  struct stat fst;
  if (::fstat(fd.get(), &fst) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat \"/{}\"", rel));
  ASSIGN_OR_RETURN(EntryHandle e, MakeEntry(fd.get(), ProcPath(fd.get(), "", rel), fst, rel));
  RETURN_IF_ERROR(visitor_->Visit(e.get(), rel, -1));
  if (fst.st_dev != dev) return Status::OK();  // another file system: entry only
  if (chain.depth() >= kMaxWalkDepth) {
    // The walk recurses; a bounded depth keeps it within the stack.
    observer_->Log(
        LogLevel::kWarn,
        fmt::format("unable to read '/{}': nested deeper than {} directories", rel, kMaxWalkDepth));
    visitor_->Unreadable(rel, ELOOP);
    return Status::OK();
  }
  chain.Push(std::move(fd), fst, rel);
  Status s = WalkDir(chain, rel, dev);
  Status up = chain.Pop();
  return s.ok() ? up : s;
}

void Walker::StartPrefetch(const DirChain& chain, dev_t dev) {
  std::vector<Prefetcher::Level> levels;
  for (size_t i = position_.size(); i-- > 0;) {
    if (chain.Fd(i) < 0) break;  // above: the walk's order cannot be followed
    Prefetcher::Level l;
    l.fd.Reset(::fcntl(chain.Fd(i), F_DUPFD_CLOEXEC, 0));
    if (!l.fd.valid()) break;
    const Position& p = position_[i];
    l.names.assign(p.names->begin() + static_cast<std::ptrdiff_t>(p.next), p.names->end());
    l.rel = *p.rel;
    levels.push_back(std::move(l));
  }
  std::reverse(levels.begin(), levels.end());  // the deepest last
  if (!levels.empty()) prefetcher_->Start(std::move(levels), dev);
}

Status Walker::VisitRegular(DirChain& chain, const std::string& name, const std::string& rel,
                            const struct stat& st, dev_t dev, sys::UniqueFd opened) {
  const int dir_fd = chain.Top();
  if (st.st_nlink > 1) {
    auto it = links_.find({st.st_dev, st.st_ino});
    if (it != links_.end()) {
      EntryHandle e(archive_entry_new());
      archive_entry_copy_stat(e.get(), &st);
      archive_entry_set_pathname(e.get(), MemberName(rel).c_str());
      archive_entry_set_hardlink(e.get(), MemberName(it->second).c_str());
      archive_entry_set_size(e.get(), 0);
      return visitor_->Visit(e.get(), rel, -1);
    }
  }
  if (visitor_->IsUnchanged(rel, st)) {
    // The first name of a hardlinked inode: later names link to it.
    if (st.st_nlink > 1) links_.emplace(std::make_pair(st.st_dev, st.st_ino), rel);
    return visitor_->SkippedUnchanged(rel, st);
  }
  sys::UniqueFd fd = std::move(opened);
  struct stat fst = st;
  if (!fd.valid()) {
    fd.Reset(OpenNoAtime(dir_fd, name.c_str(),
                         O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (!fd.valid()) {
      int err = errno;
      if (err == ENOENT) return Status::OK();
      if (err == EACCES || err == EPERM) {
        Unreadable(rel, err);
        return Status::OK();
      }
      return ErrnoError(err, fmt::format("Failed to open \"/{}\"", rel));
    }
    if (::fstat(fd.get(), &fst) != 0)
      return ErrnoError(errno, fmt::format("Failed to stat \"/{}\"", rel));
    if (!S_ISREG(fst.st_mode)) return Status::OK();  // replaced while we walked
  }
  if (prefetcher_ && !prefetcher_->busy() && fst.st_size > 0 && probes_++ % kProbeEvery == 0 &&
      !Cached(fd.get()))
    StartPrefetch(chain, dev);
  ASSIGN_OR_RETURN(EntryHandle e, MakeEntry(fd.get(), ProcPath(fd.get(), "", rel), fst, rel));
  // libarchive maps holes with SEEK_DATA/SEEK_HOLE on its path; where
  // that told nothing or did not run (MakeEntry's stat-only entries) and the
  // blocks say there are holes, DataRegions does (an all-hole file must
  // never be read whole). A file whose blocks cover its size is read whole
  // on the stat-only path, holes included, as GNU tar's --sparse decides
  // (preallocated or partly sparse files with that many blocks: same
  // content, stored dense).
  if (archive_entry_sparse_count(e.get()) == 0 && fst.st_size > 0 &&
      static_cast<uint64_t>(fst.st_blocks) * 512 < static_cast<uint64_t>(fst.st_size)) {
    for (auto [off, len] : DataRegions(fd.get(), static_cast<uint64_t>(fst.st_size)))
      archive_entry_sparse_add_entry(e.get(), static_cast<la_int64_t>(off),
                                     static_cast<la_int64_t>(len));
  }
  // Readahead's default window covers small files; larger ones get a
  // doubled window.
  if (fst.st_size >= kSequentialAt) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  RETURN_IF_ERROR(visitor_->Visit(e.get(), rel, fd.get()));
  if (fst.st_nlink > 1) links_.emplace(std::make_pair(fst.st_dev, fst.st_ino), rel);
  return Status::OK();
}

}  // namespace

Result<std::string> NormalizeSource(const std::string& source) {
  std::string_view v = source;
  if (v == ".") return std::string();
  if (!v.starts_with("./"))
    return InvalidArgumentError(fmt::format("source \"{}\" does not start with \"./\"", source));
  std::string out;
  size_t pos = 2;
  while (pos <= v.size()) {
    size_t end = v.find('/', pos);
    if (end == std::string_view::npos) end = v.size();
    std::string_view comp = v.substr(pos, end - pos);
    if (comp == "." || comp == "..")
      return InvalidArgumentError(fmt::format("source \"{}\" contains \"{}\"", source, comp));
    if (!comp.empty()) out += (out.empty() ? "" : "/") + std::string(comp);
    pos = end + 1;
  }
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> DataRegions(int fd, uint64_t size) {
  std::vector<std::pair<uint64_t, uint64_t>> regions;
  bool known = true;
  for (uint64_t pos = 0; pos < size;) {
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      known = errno == ENXIO;  // ENXIO: hole from pos to the end
      break;
    }
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole <= data) {
      known = false;
      break;
    }
    uint64_t end = std::min(static_cast<uint64_t>(hole), size);
    if (static_cast<uint64_t>(data) >= end) break;  // data beyond `size`: it grew
    regions.emplace_back(static_cast<uint64_t>(data), end - static_cast<uint64_t>(data));
    pos = end;
  }
  ::lseek(fd, 0, SEEK_SET);
  if (!known) return {};
  if (regions.empty()) return {{0, 0}};  // all hole
  if (regions.size() == 1 && regions[0].first == 0 && regions[0].second == size) return {};
  return regions;
}

bool WalkOrderLess(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    // '/' ends a component: it sorts before every byte of a longer name.
    if (a[i] == '/') return true;
    if (b[i] == '/') return false;
    return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

Status WalkTree(const std::string& directory, const std::vector<std::string>& sources,
                const WalkOptions& options, EntryVisitor* visitor, Observer* observer) {
  std::vector<std::string> rels;
  for (const auto& s : sources) {
    ASSIGN_OR_RETURN(std::string rel, NormalizeSource(s));
    rels.push_back(std::move(rel));
  }
  std::vector<std::string> patterns = options.exclude_patterns;
  if (options.skip_lost_and_found) patterns.push_back("lost+found");
  ASSIGN_OR_RETURN(ExcludeMatcher matcher, ExcludeMatcher::Create(patterns));
  Walker w(visitor, observer, std::move(matcher), std::set<std::string>(rels.begin(), rels.end()),
           options);
  RETURN_IF_ERROR(w.Open());
  Status s;
  for (const auto& rel : rels) {
    s = w.WalkSource(directory, rel);
    if (!s.ok()) break;
  }
  if (options.files_read_ahead) *options.files_read_ahead = w.files_read_ahead();
  return s;
}

}  // namespace ctdump::archive
