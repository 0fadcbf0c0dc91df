#include "extract/extract_child.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <clocale>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "archive/archive_handle.h"
#include "extract/entry_check.h"
#include "extract/file_writers.h"
#include "extract/report.h"
#include "extract/tar_reader.h"

namespace ctdump::extract {
namespace {

// Per-entry libarchive failures (a device node outside ./dev, a refused
// symlink path) are reported and extraction goes on, as tar does; after this
// many the child gives up.
constexpr size_t kMaxErrors = 20;
constexpr size_t kReadBlockSize = 256 * 1024;
// Directories with names this long get their times and mode from
// FinishDeepDirs: libarchive applies them at the end by path, which fails
// beyond PATH_MAX.
constexpr size_t kDeepDirName = PATH_MAX / 2;
// Regular files up to this size go to the writer threads (file_writers.h)
// with their data in memory, at most kWriterQueueBytes and kWriterQueueFiles
// of it queued; larger ones are written by the main thread as it reads them.
constexpr size_t kMaxWriterFile = 1 << 20;
constexpr size_t kWriterQueueBytes = 32 << 20;
constexpr size_t kWriterQueueFiles = 512;
// Writer threads when ExtractOptions::writer_threads is 0: one per CPU, at
// most this many.
constexpr long kMaxAutoWriters = 4;

// `path` (relative to the working directory) opened component by component,
// never following symlinks; -1 with errno.
int OpenDirDeep(const std::string& path) {
  int fd = ::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (size_t pos = 0; fd >= 0 && pos < path.size();) {
    size_t end = std::min(path.find('/', pos), path.size());
    std::string comp = path.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".") continue;
    int next = ::openat(fd, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    ::close(fd);
    fd = next;
    errno = err;
  }
  return fd;
}

uint64_t memory_limit = 0;  // the child's, for messages

std::string MemoryLimitText() {
  return fmt::format(
      "the extraction may use at most {} MiB of memory; a crafted or damaged archive?",
      memory_limit >> 20);
}

void WriteStderr(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(2, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent is gone; nothing left to tell
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string ErrorText(::archive* a) {
  const char* s = archive_error_string(a);
  std::string text = s ? s : "unknown error";
  // libarchive's disk writer often says only "Write failed": add the errno
  // (ENOSPC, EDQUOT, EIO ...) so the user learns why.
  int e = archive_errno(a);
  if (e > 0) {
    std::string why = std::strerror(e);
    if (text.find(why) == std::string::npos) text += ": " + why;
  }
  if (e == ENOMEM) text += " (" + MemoryLimitText() + ")";
  return text;
}

class Extractor {
 public:
  explicit Extractor(const ChildConfig& c) : c_(c) {}
  int Run();

 private:
  enum class Step { kNext, kStop };

  int EnterRoot();
  int OpenArchives();
  int ExtractAll();
  Step Process(archive_entry* e);
  Step ProcessOnMain(archive_entry* e, const std::string& name, bool hardlink);
  // Reads the entry's data into a job for the writer threads.
  Step SubmitFile(archive_entry* e, const std::string& name, bool plain);
  // Reports and counts what the writer threads finished.
  void CollectWriters();
  // Waits for the writer threads, then CollectWriters.
  Step DrainWriters();
  // Each data block of the current entry to `sink`.
  Step ReadData(const std::string& name,
                const std::function<Step(const void* buf, size_t size, int64_t offset)>& sink);
  Step CopyData(const std::string& name);
  bool KeepExisting(const std::string& name, mode_t type, bool hardlink) const;
  void MapOwners(archive_entry* e, const std::string& name);
  // ExtractOptions::strip_privileges for the mode bits; the capability
  // xattr goes in FilterAclXattrs. True if a bit was removed.
  bool StripPrivilegedBits(archive_entry* e) const;
  int FilterAcl(archive_entry* e) const;
  int FilterAclXattrs(archive_entry* e, const std::string& name);
  // A new directory with a name of kDeepDirName or more: its mode and times
  // are set again after libarchive's deferred ones (FinishDeepDirs).
  void RecordDeepDir(archive_entry* e, const std::string& name);
  // The mode and times of `name` (a directory that exists) to set in
  // FinishDeepDirs, after everything below it was written.
  void RecordDirMetadata(archive_entry* e, const std::string& name);
  void FinishDeepDirs();

  void Report(char kind, std::string_view text) { WriteStderr(EncodeReport(kind, text)); }
  // "P <entries> <bytes>", at most every 250 ms.
  void ReportProgress() {
    auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ < std::chrono::milliseconds(250)) return;
    last_progress_ = now;
    Report('P', fmt::format("{} {}", stats_.entries, stats_.bytes));
  }
  // Records an error; stops when it is fatal or one too many.
  Step Error(int code, std::string message);
  Step Refuse(std::string_view name, std::string_view why) {
    return Error(kExitRefused, RefusalMessage(name, c_.archive, why));
  }
  int Fail(int code, std::string message) {
    Error(code, std::move(message));
    return exit_code_;
  }

  const ChildConfig& c_;
  TarStream in_;  // times and xattr names as GNU tar reads them
  archive::WriteHandle out_;
  int flags_ = 0;                         // archive_write_disk's
  std::unique_ptr<FileWriters> writers_;  // null: every entry on the main thread
  ExtractStats stats_;
  std::chrono::steady_clock::time_point last_progress_{};
  bool privileges_stripped_ = false;  // the current entry's
  struct DeepDir {
    std::string name;
    mode_t perm;
    struct timespec times[2];  // atime, mtime
  };
  std::vector<DeepDir> deep_dirs_;
  // Directories libarchive creates as the parents of a member that comes
  // before their own entry (borg puts a mount point's tree before the
  // root's): their entry, when it comes, sets their metadata as for a new
  // directory, where an existing directory keeps its own. Only these are
  // held (the walk up a member's path stops at one that exists), so the
  // bookkeeping stays small however many directories the tree has.
  void TrackImplicitParents(std::string_view name);
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using NameSet = std::unordered_set<std::string, NameHash, std::equal_to<>>;
  NameSet implicit_dirs_;
  std::string last_parent_ = ".";  // of the last member: most share it
  size_t errors_ = 0;
  int exit_code_ = kExitOk;
  bool fatal_ = false;
};

Extractor::Step Extractor::Error(int code, std::string message) {
  Report('E', message);
  if (exit_code_ == kExitOk) exit_code_ = code;
  ++errors_;
  if (code == kExitRefused || code == kExitCorrupt || errors_ >= kMaxErrors) fatal_ = true;
  return fatal_ ? Step::kStop : Step::kNext;
}

int Extractor::Run() {
  // Member names in pax headers are UTF-8; in the C locale libarchive would
  // fail to convert non-ASCII ones. Loaded before the chroot hides the
  // locale files.
  std::setlocale(LC_CTYPE, "C.UTF-8");
  if (c_.options.memory_limit) {
    struct rlimit limit = {c_.options.memory_limit, c_.options.memory_limit};
    if (::setrlimit(RLIMIT_AS, &limit) != 0)
      return Fail(kExitIOError,
                  fmt::format("Failed to limit the extraction's memory: {}", std::strerror(errno)));
  }
  ::umask(022);  // only for parent directories libarchive creates itself
  if (int r = EnterRoot(); r != kExitOk) return r;
  if (int r = OpenArchives(); r != kExitOk) return r;
  int r = ExtractAll();
  WriteStderr(EncodeStats(stats_));
  return r;
}

int Extractor::EnterRoot() {
  if (::chdir(c_.root.c_str()) != 0) {
    return Fail(kExitIOError,
                fmt::format("Failed to enter target root '{}' as the container's root: {} (every "
                            "directory above it must be searchable by the container's root)",
                            c_.root, std::strerror(errno)));
  }
  struct stat st;
  if (::stat(".", &st) != 0 || st.st_dev != c_.root_dev || st.st_ino != c_.root_ino)
    return Fail(kExitIOError,
                fmt::format("target root '{}' was replaced during extraction", c_.root));
  if (::chroot(".") != 0 || ::chdir("/") != 0)
    return Fail(kExitIOError,
                fmt::format("Failed to chroot into '{}': {}", c_.root, std::strerror(errno)));
  return kExitOk;
}

int Extractor::OpenArchives() {
  out_.reset(archive_write_disk_new());
  if (!in_ || !out_) return Fail(kExitIOError, "out of memory creating libarchive objects");
  int flags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
              ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
              ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
  // No ARCHIVE_EXTRACT_SPARSE: a sparse member's data blocks come with their
  // offsets, so its holes are kept anyway; the flag would only make
  // libarchive scan all data for zeros and write it in 4 KiB pieces (a
  // write per 4 KiB of every file).
  // SECURE_SYMLINKS re-checks every directory of every member's path (seven
  // openat + fstatat per member): kept for archives from outside (external
  // providers, restore-file targets holding other data). A built-in store's
  // own stream is extracted into a fresh root under the chroot, so a symlink
  // it contains can only lead elsewhere inside that same new root.
  if (c_.options.untrusted || c_.options.secure_symlinks) flags |= ARCHIVE_EXTRACT_SECURE_SYMLINKS;
  if (!c_.options.force) flags |= ARCHIVE_EXTRACT_NO_OVERWRITE;
  // No archive_write_disk_set_standard_lookup(): owners are numeric ids,
  // never names looked up in the target's /etc/passwd.
  archive_write_disk_set_options(out_.get(), flags);
  flags_ = flags;
  size_t threads = c_.options.writer_threads;
  if (threads == 0)
    threads = static_cast<size_t>(std::clamp(::sysconf(_SC_NPROCESSORS_ONLN), 1L, kMaxAutoWriters));
  if (threads > 1) {
    writers_ = std::make_unique<FileWriters>(flags, ErrorText, c_.archive, kWriterQueueBytes,
                                             kWriterQueueFiles);
    // None started (the address-space limit): every entry on the main thread.
    if (writers_->Start(threads) == 0) writers_.reset();
  }
  if (in_.Open(0, kReadBlockSize) != ARCHIVE_OK)
    return Fail(kExitCorrupt,
                fmt::format("Failed to read '{}': {}", c_.archive, ErrorText(in_.get())));
  return kExitOk;
}

int Extractor::ExtractAll() {
  while (!fatal_) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(in_.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_WARN) {
      Report('W', fmt::format("'{}': {}", c_.archive, ErrorText(in_.get())));
    } else if (r != ARCHIVE_OK) {
      Error(kExitCorrupt, fmt::format("Failed to read '{}': {}", c_.archive, ErrorText(in_.get())));
      break;
    }
    in_.FixEntry(e);
    if (Process(e) == Step::kStop) break;
    if (writers_) CollectWriters();
  }
  if (writers_) {
    // Whatever stopped the loop, the files already queued are written (as
    // the main thread would have written them before going on).
    writers_->Stop();
    CollectWriters();
    writers_.reset();
  }
  if (!fatal_ && archive_write_close(out_.get()) != ARCHIVE_OK) {
    // Deferred directory modes and times are applied here.
    Error(kExitIOError,
          fmt::format("Failed to finish extracting '{}': {}", c_.archive, ErrorText(out_.get())));
  }
  if (!fatal_) FinishDeepDirs();
  return exit_code_;
}

void Extractor::RecordDeepDir(archive_entry* e, const std::string& name) {
  int fd = OpenDirDeep(name);
  if (fd >= 0) {  // an existing directory keeps its metadata, as libarchive does
    ::close(fd);
    return;
  }
  RecordDirMetadata(e, name);
}

void Extractor::TrackImplicitParents(std::string_view name) {
  size_t slash = name.rfind('/');
  if (slash == std::string_view::npos) return;
  std::string_view dir = name.substr(0, slash);
  if (dir == last_parent_) return;
  for (std::string_view d = dir;;) {
    if (implicit_dirs_.find(d) != implicit_dirs_.end()) break;
    std::string path(d);
    struct stat st;
    if (::fstatat(AT_FDCWD, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) break;
    if (errno != ENOENT) break;  // too long to look at here: kept as it is
    implicit_dirs_.insert(std::move(path));
    slash = d.rfind('/');
    if (slash == std::string_view::npos) break;
    d = d.substr(0, slash);
  }
  last_parent_.assign(dir);
}

void Extractor::RecordDirMetadata(archive_entry* e, const std::string& name) {
  DeepDir d{name, archive_entry_perm(e), {}};
  d.times[0] = archive_entry_atime_is_set(e)
                   ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)}
                   : timespec{0, UTIME_OMIT};
  d.times[1] = timespec{archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  deep_dirs_.push_back(std::move(d));
}

void Extractor::FinishDeepDirs() {
  for (const auto& d : deep_dirs_) {
    int fd = OpenDirDeep(d.name);
    if (fd < 0) continue;  // not extracted (reported then)
    if (::fchmod(fd, d.perm) != 0 || ::futimens(fd, d.times) != 0)
      Report('W', fmt::format("'{}': cannot set mode and times: {}", d.name, std::strerror(errno)));
    ::close(fd);
  }
}

Extractor::Step Extractor::Process(archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  std::string_view stored = raw ? raw : "";
  auto name = NormalizeEntryName(stored);
  if (!name.ok()) return Refuse(stored, name.status().message());
  const char* raw_link = archive_entry_hardlink(e);
  std::string link;
  if (raw_link) {
    auto t = NormalizeHardlinkTarget(raw_link);
    if (!t.ok()) return Refuse(stored, t.status().message());
    link = *t;
  }
  mode_t type = archive_entry_filetype(e);
  if (type == 0 && !raw_link)
    return Refuse(stored, "multi-volume continuation or unknown member type");
  if (IsBelowDev(*name)) return Step::kNext;
  for (const auto& skip : c_.options.skip_members)
    if (*name == skip) return Step::kNext;
  bool deep = name->size() >= kDeepDirName;
  // The entry must find the tree as a serial extraction would: nothing at,
  // above or below its path (nor its hardlink target) still being written.
  // libarchive's disk writer changes the working directory for a deep path.
  if (writers_ && (deep || writers_->Busy(*name) || (raw_link && writers_->Busy(link)))) {
    if (DrainWriters() == Step::kStop) return Step::kStop;
  }
  bool to_writers =
      writers_ && type == AE_IFREG && !raw_link && !deep &&
      (!archive_entry_size_is_set(e) || archive_entry_size(e) <= la_int64_t{kMaxWriterFile});
  // A plain file's writer skips an existing one itself (O_EXCL).
  bool plain = to_writers && !c_.options.force && FileWriters::PlainApplicable(flags_, e);
  // The tree's root exists (the restore made it, owned by the container's
  // root) and keeps its metadata in libarchive, as every existing directory
  // does: its mode and times are still the backup's, set last, as tar -x
  // sets them.
  if (c_.options.set_root_metadata && *name == "." && type == AE_IFDIR) {
    StripPrivilegedBits(e);
    RecordDirMetadata(e, *name);
  }
  TrackImplicitParents(*name);
  if (!plain && KeepExisting(*name, type, raw_link != nullptr)) {
    ++stats_.skipped_existing;
    return Step::kNext;
  }
  bool implicit = false;
  if (type == AE_IFDIR && !raw_link) implicit = implicit_dirs_.erase(*name) > 0;
  archive_entry_copy_pathname(e, name->c_str());
  if (raw_link) archive_entry_copy_hardlink(e, link.c_str());
  privileges_stripped_ = false;
  MapOwners(e, *name);
  if (StripPrivilegedBits(e)) privileges_stripped_ = true;
  if (type == AE_IFDIR && deep) RecordDeepDir(e, *name);
  if (to_writers) return SubmitFile(e, *name, plain);
  // Without NO_OVERWRITE libarchive gives an existing directory the entry's
  // owner, mode, ACLs, xattrs and (deferred) times.
  if (implicit) archive_write_disk_set_options(out_.get(), flags_ & ~ARCHIVE_EXTRACT_NO_OVERWRITE);
  Step step = ProcessOnMain(e, *name, raw_link != nullptr);
  if (implicit) archive_write_disk_set_options(out_.get(), flags_);
  // Back to the root, whatever libarchive left after a deep path.
  if (deep && writers_ && ::chdir("/") != 0) {
    fatal_ = true;
    return Error(kExitIOError,
                 fmt::format("Failed to return to the target root: {}", std::strerror(errno)));
  }
  return step;
}

Extractor::Step Extractor::ProcessOnMain(archive_entry* e, const std::string& name, bool hardlink) {
  int r;
  if (writers_) {
    std::lock_guard<std::mutex> lock(writers_->header_mutex());
    r = archive_write_header(out_.get(), e);
  } else {
    r = archive_write_header(out_.get(), e);
  }
  if (r == ARCHIVE_WARN) Report('W', fmt::format("'{}': {}", name, ErrorText(out_.get())));
  if (r < ARCHIVE_WARN) {
    if (r == ARCHIVE_FATAL) fatal_ = true;
    return Error(kExitIOError, fmt::format("Failed to extract '{}' from '{}': {}", name, c_.archive,
                                           ErrorText(out_.get())));
  }
  if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0 && !hardlink) {
    if (CopyData(name) == Step::kStop) return Step::kStop;
  }
  r = archive_write_finish_entry(out_.get());
  if (r == ARCHIVE_WARN) Report('W', fmt::format("'{}': {}", name, ErrorText(out_.get())));
  if (r < ARCHIVE_WARN) {
    return Error(kExitIOError, fmt::format("Failed to extract '{}' from '{}': {}", name, c_.archive,
                                           ErrorText(out_.get())));
  }
  ++stats_.entries;
  if (privileges_stripped_) ++stats_.stripped_privileges;
  ReportProgress();
  return Step::kNext;
}

bool Extractor::StripPrivilegedBits(archive_entry* e) const {
  if (!c_.options.strip_privileges) return false;
  mode_t bits = S_ISUID | (archive_entry_filetype(e) == AE_IFDIR ? 0 : S_ISGID);
  mode_t perm = archive_entry_perm(e);
  if ((perm & bits) == 0) return false;
  archive_entry_set_perm(e, perm & ~bits);
  return true;
}

Extractor::Step Extractor::SubmitFile(archive_entry* e, const std::string& name, bool plain) {
  auto job = std::make_unique<FileJob>();
  job->name = name;
  job->plain = plain;
  job->privileges_stripped = privileges_stripped_;
  if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0) {
    job->data.reserve(static_cast<size_t>(archive_entry_size(e)));
    Step step = ReadData(name, [&](const void* buf, size_t size, int64_t offset) {
      job->data.append(static_cast<const char*>(buf), size);
      job->blocks.emplace_back(offset, size);
      return Step::kNext;
    });
    if (step == Step::kStop) return step;
  }
  job->entry = archive_entry_clone(e);
  if (!job->entry) {
    fatal_ = true;
    return Error(kExitIOError, fmt::format("Failed to extract '{}' from '{}': out of memory ({})",
                                           name, c_.archive, MemoryLimitText()));
  }
  writers_->Submit(std::move(job));
  return Step::kNext;
}

void Extractor::CollectWriters() {
  for (auto& job : writers_->TakeDone()) {
    for (const auto& w : job->warnings) Report('W', w);
    stats_.bytes += job->written;
    if (!job->error.empty()) {
      if (job->fatal) fatal_ = true;
      Error(kExitIOError, std::move(job->error));
      continue;
    }
    if (job->skipped) {
      ++stats_.skipped_existing;
      continue;
    }
    ++stats_.entries;
    if (job->privileges_stripped) ++stats_.stripped_privileges;
  }
  ReportProgress();
}

Extractor::Step Extractor::DrainWriters() {
  writers_->Drain();
  CollectWriters();
  return fatal_ ? Step::kStop : Step::kNext;
}

Extractor::Step Extractor::CopyData(const std::string& name) {
  return ReadData(name, [&](const void* buf, size_t size, int64_t offset) {
    la_ssize_t w = archive_write_data_block(out_.get(), buf, size, offset);
    // libarchive's "Write failed" (ENOSPC, EIO) is only a warning; the file
    // is incomplete.
    bool failed = w < ARCHIVE_WARN || (w == ARCHIVE_WARN && archive_errno(out_.get()) != 0);
    if (w == ARCHIVE_WARN && !failed)
      Report('W', fmt::format("'{}': {}", name, ErrorText(out_.get())));
    if (failed) {
      fatal_ = true;  // a full or failing disk: the next files would fail too
      return Error(kExitIOError,
                   fmt::format("Failed to write '{}': {}", name, ErrorText(out_.get())));
    }
    stats_.bytes += size;
    return Step::kNext;
  });
}

Extractor::Step Extractor::ReadData(
    const std::string& name,
    const std::function<Step(const void* buf, size_t size, int64_t offset)>& sink) {
  for (;;) {
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(in_.get(), &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return Step::kNext;
    if (r == ARCHIVE_WARN) Report('W', fmt::format("'{}': {}", name, ErrorText(in_.get())));
    if (r < ARCHIVE_WARN) {
      return Error(kExitCorrupt, fmt::format("Failed to read '{}' at '{}': {}", c_.archive, name,
                                             ErrorText(in_.get())));
    }
    if (sink(buf, size, offset) == Step::kStop) return Step::kStop;
  }
}

// tar --skip-old-files: an existing non-directory (or a directory where
// the member is not one) is kept unless `force`. Existing directories are
// reused (libarchive leaves their metadata alone without force).
bool Extractor::KeepExisting(const std::string& name, mode_t type, bool hardlink) const {
  if (c_.options.force) return false;
  struct stat st;
  if (::fstatat(AT_FDCWD, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
  return !(S_ISDIR(st.st_mode) && type == AE_IFDIR && !hardlink);
}

void Extractor::MapOwners(archive_entry* e, const std::string& name) {
  bool fell_back = false;
  if (!UidRepresentable(c_.map, archive_entry_uid(e))) {
    archive_entry_set_uid(e, c_.options.fallback_uid);
    // chown would fail and tar would then drop the bit too; keep no
    // setuid binary owned by an id nobody asked for.
    archive_entry_set_perm(e, archive_entry_perm(e) & ~S_ISUID);
    fell_back = true;
  }
  if (!GidRepresentable(c_.map, archive_entry_gid(e))) {
    archive_entry_set_gid(e, c_.options.fallback_gid);
    if (archive_entry_filetype(e) != AE_IFDIR)
      archive_entry_set_perm(e, archive_entry_perm(e) & ~S_ISGID);
    fell_back = true;
  }
  archive_entry_set_uname(e, nullptr);
  archive_entry_set_gname(e, nullptr);
  // GNU tar may store an ACL twice (SCHILY.acl.* and the raw xattr).
  int acl_entries = std::max(FilterAcl(e), FilterAclXattrs(e, name));
  stats_.unmapped_acl_entries += static_cast<uint64_t>(acl_entries);
  if (fell_back || acl_entries > 0) {
    if (stats_.unmapped_ids < kMaxUnmappedExamples) Report('U', name);
    ++stats_.unmapped_ids;
  }
}

// Drops named entries the map cannot represent. Entries with only a name
// get their id from the host's databases first (as PVE's tar on the host
// would); unknown names are dropped too.
int Extractor::FilterAcl(archive_entry* e) const {
  const int want = ARCHIVE_ENTRY_ACL_TYPE_POSIX1E;
  if (archive_entry_acl_reset(e, want) == 0) return 0;
  struct Ace {
    int type, permset, tag, qual;
  };
  std::vector<Ace> keep;
  int fell_back = 0;
  bool changed = false;
  int type, permset, tag, qual;
  const char* ace_name;
  while (archive_entry_acl_next(e, want, &type, &permset, &tag, &qual, &ace_name) == ARCHIVE_OK) {
    bool user = tag == ARCHIVE_ENTRY_ACL_USER, group = tag == ARCHIVE_ENTRY_ACL_GROUP;
    bool unknown = false;
    if ((user || group) && qual == -1) {  // libarchive: no id, only a name
      changed = true;
      auto id = ResolveAclName(ace_name ? ace_name : "", user ? c_.host_users : c_.host_groups);
      qual = id ? static_cast<int>(*id) : -1;
      unknown = !id;
    }
    // As for owners (docs/restore.md): an id the map cannot hold, or a
    // name nobody knows, goes to the fallback id; the entry is kept.
    if (unknown || (user && !UidRepresentable(c_.map, static_cast<uint32_t>(qual))) ||
        (group && !GidRepresentable(c_.map, static_cast<uint32_t>(qual)))) {
      qual = static_cast<int>(user ? c_.options.fallback_uid : c_.options.fallback_gid);
      ++fell_back;
      changed = true;
    }
    // Two entries for one id are invalid: permissions are or-ed.
    auto same = std::find_if(keep.begin(), keep.end(), [&](const Ace& a) {
      return (user || group) && a.type == type && a.tag == tag && a.qual == qual;
    });
    if (same != keep.end()) {
      same->permset |= permset;
      continue;
    }
    keep.push_back({type, permset, tag, qual});
  }
  if (!changed) return 0;
  // Rebuilding re-adds the user::/group::/other:: entries libarchive derives
  // from the mode; adding them sets the same mode bits again. Names are
  // left out: archive_write_disk uses the numeric id.
  archive_entry_acl_clear(e);
  for (const Ace& a : keep)
    archive_entry_acl_add_entry(e, a.type, a.permset, a.tag, a.qual, nullptr);
  return fell_back;
}

// GNU tar --xattrs-include='*' also stores the ACLs as raw xattrs; their ids
// must be filtered the same way or setxattr fails in the namespace. Other
// xattrs than user.* and security.capability are not restored.
int Extractor::FilterAclXattrs(archive_entry* e, const std::string& name) {
  if (archive_entry_xattr_reset(e) == 0) return 0;
  struct Xattr {
    std::string name, value;
  };
  std::vector<Xattr> all;
  bool changed = false;
  int dropped = 0;
  const char* xname;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
    std::string n = xname ? xname : "";
    // Restore what vzdump's tar restores (--xattrs-include=user.*
    // --xattrs-include=security.capability, plus ACLs): trusted.*,
    // security.selinux and the like cannot be set in the namespace anyway.
    bool acl = n == "system.posix_acl_access" || n == "system.posix_acl_default";
    if (!acl && n.rfind("user.", 0) != 0 && n != "security.capability") {
      changed = true;
      continue;
    }
    if (n == "security.capability" && c_.options.strip_privileges) {
      changed = true;
      privileges_stripped_ = true;
      continue;
    }
    std::string v(static_cast<const char*>(value), size);
    if (acl) {
      int d = 0;
      auto filtered =
          FilterPosixAclXattr(v, c_.map, c_.options.fallback_uid, c_.options.fallback_gid, &d);
      if (!filtered) {
        Report('W', fmt::format("'{}': dropped malformed xattr {}", name, n));
        changed = true;
        continue;
      }
      if (d > 0) {
        changed = true;
        dropped += d;
        v = std::move(*filtered);
      }
    }
    all.push_back({std::move(n), std::move(v)});
  }
  if (!changed) return 0;
  archive_entry_xattr_clear(e);
  for (const Xattr& x : all)
    archive_entry_xattr_add_entry(e, x.name.c_str(), x.value.data(), x.value.size());
  return dropped;
}

}  // namespace

int RunExtractChild(const ChildConfig& config) {
  memory_limit = config.options.memory_limit;
  try {
    Extractor x(config);
    return x.Run();
  } catch (const std::bad_alloc&) {
    WriteStderr(EncodeReport('E', fmt::format("Failed to extract '{}': out of memory ({})",
                                              config.archive, MemoryLimitText())));
    return kExitCorrupt;
  }
}

}  // namespace ctdump::extract
