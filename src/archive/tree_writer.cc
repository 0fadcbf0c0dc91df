// TreeWriter: our own directory walk feeding libarchive.
//
// The walk (openat/fstatat relative to open directory descriptors, never
// following symlinks) decides what goes in: exclusions are matched on the
// container-relative path ("/var/tmp/x") and excluded directories are not
// entered; a directory on another device is archived as an entry but not
// entered (tar --one-file-system); sockets are skipped; a source below
// another source is left to its own walk. Names in a directory are sorted
// bytewise, so the same tree always gives the same member order.
//
// libarchive's archive_read_disk fills each entry's metadata from the open
// descriptor (ACLs, xattrs, sparse map); its path-based lookups (a
// directory's default ACL, symlink targets, a fifo's ACL) get
// /proc/self/fd/<dirfd>/<name>, so they never re-resolve a path through the
// container's symlinks. Only user.* and security.capability xattrs are kept
// (vzdump's --xattrs-include), file flags are not read (GNU tar ignores them).
//
// Format: full pax, not "restricted": members get an extended header
// with the sub-second mtime (and atime, ctime), as GNU tar's posix format
// writes it; xattrs only as SCHILY.xattr.* (GNU tar warns about the
// LIBARCHIVE.xattr.* copies). The last block is not padded: zstd -d rejects
// trailing zeros after the frame.
//
// Data: the pax writer expects a sparse file's whole logical content and
// drops the holes itself, so holes are fed from a zero buffer without
// reading them. The bandwidth limit counts the uncompressed tar stream, where
// vzdump puts cstream (tar | cstream | compressor).
#include "archive/tree_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "ctdump/exclude.h"
#include "sys/unique_fd.h"

namespace ctdump::archive {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 1 << 20;
constexpr auto kProgressInterval = std::chrono::milliseconds(250);

// Token bucket over a byte counter: `rate` bytes per second with a burst of
// one second's worth.
class Throttle {
 public:
  explicit Throttle(std::optional<uint64_t> rate)
      : rate_(rate.value_or(0)), tokens_(static_cast<double>(rate_)), last_(Clock::now()) {}

  void Consume(uint64_t n) {
    if (rate_ == 0 || n == 0) return;
    auto now = Clock::now();
    double dt = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(static_cast<double>(rate_), tokens_ + dt * static_cast<double>(rate_));
    tokens_ -= static_cast<double>(n);
    if (tokens_ < 0) std::this_thread::sleep_for(std::chrono::duration<double>(-tokens_ / rate_));
  }

 private:
  uint64_t rate_;
  double tokens_;
  Clock::time_point last_;
};

struct ArchiveDeleter {
  void operator()(struct archive* a) const {
    if (a) archive_write_free(a);
  }
};
struct DiskDeleter {
  void operator()(struct archive* a) const {
    if (a) archive_read_free(a);
  }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

// Where libarchive's output goes: all of it to `fd`, counted.
struct Sink {
  int fd = -1;
  uint64_t bytes = 0;
  int error = 0;  // errno of a failed write
};

la_ssize_t SinkWrite(struct archive*, void* client, const void* buf, size_t n) {
  auto* sink = static_cast<Sink*>(client);
  const char* p = static_cast<const char*>(buf);
  size_t left = n;
  while (left > 0) {
    ssize_t w = ::write(sink->fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      sink->error = errno;
      return -1;
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  sink->bytes += n;
  return static_cast<la_ssize_t>(n);
}

// "./" -> "", "." -> "", "./mnt/data/" -> "mnt/data".
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

std::string Join(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

// The archive member name of a container-relative path ("" is the root).
std::string MemberName(const std::string& rel) { return rel.empty() ? "./" : "./" + rel; }

bool KeepXattr(const char* name) {
  return std::strncmp(name, "user.", 5) == 0 || std::strcmp(name, "security.capability") == 0;
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

// Makes libarchive see a UTF-8 locale on this thread while it writes: pax
// names are UTF-8, and libarchive converts from the locale's charset. In the
// "C" locale every non-ASCII name would fail that conversion and be written
// with "hdrcharset=BINARY", which GNU tar reads correctly but warns about.
// With C.UTF-8 only names that are not valid UTF-8 get that treatment.
class Utf8Locale {
 public:
  Utf8Locale() {
    loc_ = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (loc_ != static_cast<locale_t>(0)) old_ = ::uselocale(loc_);
  }
  ~Utf8Locale() {
    if (loc_ == static_cast<locale_t>(0)) return;
    ::uselocale(old_);
    ::freelocale(loc_);
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t loc_ = static_cast<locale_t>(0);
  locale_t old_ = static_cast<locale_t>(0);
};

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<int>(std::max(1L, (cpus + 1) / 2));  // vzdump: half the cores
}

class TreeWriter {
 public:
  TreeWriter(const TreeWriterOptions& options, Observer* observer, ExcludeMatcher matcher)
      : options_(options),
        observer_(observer),
        matcher_(std::move(matcher)),
        throttle_(options.bwlimit),
        buf_(kChunk) {}

  Status Open(int out_fd, std::set<std::string> source_rels);
  Status WritePrefixFile(const std::string& name, const std::string& content);
  Status WriteSource(const std::string& directory, const std::string& rel);
  Status Close();
  TreeStats stats() const { return stats_; }

 private:
  Status SetUp();
  Status WalkDir(int dir_fd, const std::string& rel, dev_t dev);
  Status VisitEntry(int dir_fd, const std::string& name, const std::string& rel, dev_t dev);
  Status VisitDirectory(int dir_fd, const std::string& name, const std::string& rel,
                        const struct stat& st, dev_t dev);
  Status VisitRegular(int dir_fd, const std::string& name, const std::string& rel,
                      const struct stat& st);
  Result<EntryPtr> MakeEntry(int fd, const std::string& source_path, const struct stat& st,
                             const std::string& rel);
  Status WriteHeader(archive_entry* e, const std::string& rel);
  Status WriteFileData(int fd, archive_entry* e, const std::string& rel);
  Status CopyRange(int fd, uint64_t offset, uint64_t length, const std::string& rel,
                   uint64_t* shrunk);
  Status WriteZeros(uint64_t length, const std::string& rel);
  Status WriteBlock(const void* data, size_t n, const std::string& rel);
  void Unreadable(const std::string& rel, int err);
  void Progress(bool force);
  // Charges the tar stream bytes written since the last call to the throttle.
  void Charge();
  Status LibError(const std::string& what);
  // How path-based lookups reach `name` in `dir_fd` (`dir_fd` itself for an
  // empty name; container path `rel`): through /proc/self/fd, or by full path
  // where /proc is missing.
  std::string ProcPath(int dir_fd, const std::string& name, const std::string& rel) const;

  TreeWriterOptions options_;
  Observer* observer_;
  ExcludeMatcher matcher_;
  Throttle throttle_;
  std::unique_ptr<struct archive, ArchiveDeleter> writer_;
  std::unique_ptr<struct archive, DiskDeleter> disk_;
  Sink sink_;
  std::set<std::string> source_rels_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first member of each hardlinked inode
  std::vector<char> buf_;
  std::vector<char> zeros_;
  bool proc_fd_ = false;
  std::string directory_;   // the tree's root on the host
  uint64_t throttled_ = 0;  // tar stream bytes already charged
  TreeStats stats_;
  Clock::time_point last_progress_{};
};

Status TreeWriter::LibError(const std::string& what) {
  if (sink_.error != 0) return ErrnoError(sink_.error, "Failed to write the archive");
  const char* msg = writer_ ? archive_error_string(writer_.get()) : nullptr;
  return IOError(fmt::format("{}: {}", what, msg ? msg : "unknown libarchive error"));
}

Status TreeWriter::SetUp() {
  struct archive* a = writer_.get();
  if (archive_write_set_format_pax(a) != ARCHIVE_OK ||
      archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK)
    return LibError("Failed to set up the pax format");
  int r = ARCHIVE_OK;
  if (options_.compression == Compression::kZstd) {
    r = archive_write_add_filter_zstd(a);
    std::string level = std::to_string(options_.zstd_level);
    std::string threads = std::to_string(ResolveThreads(options_.zstd_threads));
    if (r == ARCHIVE_OK)
      r = archive_write_set_filter_option(a, "zstd", "compression-level", level.c_str());
    if (r == ARCHIVE_OK) r = archive_write_set_filter_option(a, "zstd", "threads", threads.c_str());
  } else if (options_.compression == Compression::kGzip) {
    r = archive_write_add_filter_gzip(a);
    if (r == ARCHIVE_OK) r = archive_write_set_filter_option(a, "gzip", "compression-level", "6");
  }
  if (r != ARCHIVE_OK) return LibError("Failed to set up compression");
  if (archive_write_set_bytes_per_block(a, 64 * 1024) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK)
    return LibError("Failed to set up the archive blocking");
  // NO_FFLAGS: GNU tar neither stores nor understands file flags.
  if (archive_read_disk_set_behavior(disk_.get(), ARCHIVE_READDISK_NO_FFLAGS) != ARCHIVE_OK)
    return IOError("Failed to set up libarchive's disk reader");
  return Status::OK();
}

Status TreeWriter::Open(int out_fd, std::set<std::string> source_rels) {
  source_rels_ = std::move(source_rels);
  proc_fd_ = ::access("/proc/self/fd", X_OK) == 0;
  writer_.reset(archive_write_new());
  disk_.reset(archive_read_disk_new());
  if (!writer_ || !disk_) return InternalError("libarchive: out of memory");
  RETURN_IF_ERROR(SetUp());
  sink_.fd = out_fd;
  if (archive_write_open2(writer_.get(), &sink_, nullptr, SinkWrite, nullptr, nullptr) !=
      ARCHIVE_OK)
    return LibError("Failed to open the archive");
  return Status::OK();
}

Status TreeWriter::Close() {
  if (archive_write_close(writer_.get()) != ARCHIVE_OK)
    return LibError("Failed to finish the archive");
  stats_.archive_bytes = sink_.bytes;
  Progress(true);
  return Status::OK();
}

std::string TreeWriter::ProcPath(int dir_fd, const std::string& name,
                                 const std::string& rel) const {
  if (!proc_fd_) return rel.empty() ? directory_ : directory_ + "/" + rel;
  if (name.empty()) return fmt::format("/proc/self/fd/{}", dir_fd);
  return fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
}

void TreeWriter::Unreadable(const std::string& rel, int err) {
  ++stats_.unreadable;
  observer_->Log(LogLevel::kWarn, fmt::format("unable to read '/{}': {}", rel, std::strerror(err)));
}

void TreeWriter::Progress(bool force) {
  auto now = Clock::now();
  if (!force && now - last_progress_ < kProgressInterval) return;
  last_progress_ = now;
  ctdump::Progress p;
  p.bytes = stats_.file_bytes;
  p.files = stats_.entries;
  observer_->OnProgress(p);
}

Status TreeWriter::WriteHeader(archive_entry* e, const std::string& rel) {
  int r = archive_write_header(writer_.get(), e);
  if (r == ARCHIVE_WARN) {
    const char* msg = archive_error_string(writer_.get());
    // A name that is not UTF-8 is stored byte-exact (hdrcharset=BINARY) and
    // restored as it was: nothing to warn about.
    bool binary_name = msg && std::string_view(msg).find("Can't translate") != std::string_view::npos;
    if (!binary_name)
      observer_->Log(LogLevel::kWarn,
                     fmt::format("'/{}': {}", rel, msg ? msg : "libarchive warning"));
  } else if (r != ARCHIVE_OK) {
    return LibError(fmt::format("Failed to write the header of \"/{}\"", rel));
  }
  ++stats_.entries;
  Charge();
  return Status::OK();
}

void TreeWriter::Charge() {
  uint64_t tar_bytes = static_cast<uint64_t>(archive_filter_bytes(writer_.get(), 0));
  throttle_.Consume(tar_bytes - throttled_);
  throttled_ = tar_bytes;
  Progress(false);
}

Status TreeWriter::WriteBlock(const void* data, size_t n, const std::string& rel) {
  la_ssize_t w = archive_write_data(writer_.get(), data, n);
  if (w < 0) return LibError(fmt::format("Failed to archive \"/{}\"", rel));
  Charge();
  return Status::OK();
}

Status TreeWriter::WriteZeros(uint64_t length, const std::string& rel) {
  if (length > 0 && zeros_.empty()) zeros_.assign(kChunk, 0);
  while (length > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(length, kChunk));
    // The pax writer drops these bytes (holes): they cost nothing.
    if (archive_write_data(writer_.get(), zeros_.data(), n) < 0)
      return LibError(fmt::format("Failed to archive \"/{}\"", rel));
    length -= n;
  }
  Charge();
  return Status::OK();
}

// Copies [offset, offset+length) of the file; a file that ended early leaves
// the rest to the caller (*shrunk counts it).
Status TreeWriter::CopyRange(int fd, uint64_t offset, uint64_t length, const std::string& rel,
                             uint64_t* shrunk) {
  while (length > 0) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(length, buf_.size()));
    ssize_t n = ::pread(fd, buf_.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("Failed to read \"/{}\"", rel));
    }
    if (n == 0) {
      *shrunk += length;
      return WriteZeros(length, rel);
    }
    RETURN_IF_ERROR(WriteBlock(buf_.data(), static_cast<size_t>(n), rel));
    stats_.file_bytes += static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status TreeWriter::WriteFileData(int fd, archive_entry* e, const std::string& rel) {
  const uint64_t size = static_cast<uint64_t>(archive_entry_size(e));
  std::vector<std::pair<uint64_t, uint64_t>> regions;  // data (offset, length)
  if (archive_entry_sparse_reset(e) > 0) {
    la_int64_t off, len;
    while (archive_entry_sparse_next(e, &off, &len) == ARCHIVE_OK)
      regions.emplace_back(static_cast<uint64_t>(off), static_cast<uint64_t>(len));
  } else {
    regions.emplace_back(0, size);
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t pos = 0, shrunk = 0;
  for (auto [off, len] : regions) {
    if (off < pos || off + len > size) continue;  // never trust a map beyond the size
    RETURN_IF_ERROR(WriteZeros(off - pos, rel));
    RETURN_IF_ERROR(CopyRange(fd, off, len, rel, &shrunk));
    pos = off + len;
  }
  RETURN_IF_ERROR(WriteZeros(size - pos, rel));
  if (shrunk > 0)
    observer_->Log(LogLevel::kWarn,
                   fmt::format("'/{}': file shrank by {} bytes; padding with zeros", rel, shrunk));
  return Status::OK();
}

// Fills an entry from stat plus libarchive's metadata lookups. `fd` may be
// -1; `source_path` names the object for path-based lookups.
Result<EntryPtr> TreeWriter::MakeEntry(int fd, const std::string& source_path,
                                       const struct stat& st, const std::string& rel) {
  EntryPtr e(archive_entry_new());
  if (!e) return InternalError("libarchive: out of memory");
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

Status TreeWriter::WritePrefixFile(const std::string& name, const std::string& content) {
  EntryPtr e(archive_entry_new());
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0644);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  archive_entry_set_mtime(e.get(), std::time(nullptr), 0);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
  std::string rel = name.starts_with("./") ? name.substr(2) : name;
  RETURN_IF_ERROR(WriteHeader(e.get(), rel));
  if (!content.empty()) RETURN_IF_ERROR(WriteBlock(content.data(), content.size(), rel));
  return Status::OK();
}

Status TreeWriter::WriteSource(const std::string& directory, const std::string& rel) {
  if (!rel.empty() && matcher_.Matches("/" + rel, true)) return Status::OK();
  std::string path = rel.empty() ? directory : directory + "/" + rel;
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
  directory_ = directory;
  ASSIGN_OR_RETURN(EntryPtr e, MakeEntry(fd.get(), ProcPath(fd.get(), "", rel), st, rel));
  RETURN_IF_ERROR(WriteHeader(e.get(), rel));
  return WalkDir(fd.get(), rel, st.st_dev);
}

// The names in a directory, sorted bytewise.
Result<std::vector<std::string>> ReadNames(int dir_fd, const std::string& rel) {
  int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return ErrnoError(errno, fmt::format("Failed to read directory \"/{}\"", rel));
  DIR* dir = ::fdopendir(dup_fd);
  if (!dir) {
    ::close(dup_fd);
    return ErrnoError(errno, fmt::format("Failed to read directory \"/{}\"", rel));
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* d = ::readdir(dir)) {
    if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0)
      names.emplace_back(d->d_name);
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return ErrnoError(err, fmt::format("Failed to read directory \"/{}\"", rel));
  std::sort(names.begin(), names.end());
  return names;
}

Status TreeWriter::WalkDir(int dir_fd, const std::string& rel, dev_t dev) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ReadNames(dir_fd, rel));
  for (const auto& name : names) RETURN_IF_ERROR(VisitEntry(dir_fd, name, Join(rel, name), dev));
  return Status::OK();
}

Status TreeWriter::VisitEntry(int dir_fd, const std::string& name, const std::string& rel,
                              dev_t dev) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::OK();  // vanished while we walked
    return ErrnoError(errno, fmt::format("Failed to stat \"/{}\"", rel));
  }
  const bool is_dir = S_ISDIR(st.st_mode);
  if (matcher_.Matches("/" + rel, is_dir)) return Status::OK();
  if (S_ISSOCK(st.st_mode)) return Status::OK();  // tar: "socket ignored"
  if (is_dir) {
    if (source_rels_.count(rel)) return Status::OK();  // archived by its own walk
    return VisitDirectory(dir_fd, name, rel, st, dev);
  }
  if (S_ISREG(st.st_mode)) return VisitRegular(dir_fd, name, rel, st);
  // Symlinks, fifos, devices: metadata only.
  ASSIGN_OR_RETURN(EntryPtr e, MakeEntry(-1, ProcPath(dir_fd, name, rel), st, rel));
  return WriteHeader(e.get(), rel);
}

Status TreeWriter::VisitDirectory(int dir_fd, const std::string& name, const std::string& rel,
                                  const struct stat& st, dev_t dev) {
  sys::UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Status::OK();
    if (err != EACCES && err != EPERM)
      return ErrnoError(err, fmt::format("Failed to open directory \"/{}\"", rel));
    // Keep the directory itself, as tar does, without its contents.
    ASSIGN_OR_RETURN(EntryPtr e, MakeEntry(-1, ProcPath(dir_fd, name, rel), st, rel));
    RETURN_IF_ERROR(WriteHeader(e.get(), rel));
    Unreadable(rel, err);
    return Status::OK();
  }
  struct stat fst;
  if (::fstat(fd.get(), &fst) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat \"/{}\"", rel));
  ASSIGN_OR_RETURN(EntryPtr e, MakeEntry(fd.get(), ProcPath(fd.get(), "", rel), fst, rel));
  RETURN_IF_ERROR(WriteHeader(e.get(), rel));
  if (fst.st_dev != dev) return Status::OK();  // another file system: entry only
  return WalkDir(fd.get(), rel, dev);
}

Status TreeWriter::VisitRegular(int dir_fd, const std::string& name, const std::string& rel,
                                const struct stat& st) {
  if (st.st_nlink > 1) {
    auto it = links_.find({st.st_dev, st.st_ino});
    if (it != links_.end()) {
      EntryPtr e(archive_entry_new());
      archive_entry_copy_stat(e.get(), &st);
      archive_entry_set_pathname(e.get(), MemberName(rel).c_str());
      archive_entry_set_hardlink(e.get(), MemberName(it->second).c_str());
      archive_entry_set_size(e.get(), 0);
      return WriteHeader(e.get(), rel);
    }
  }
  sys::UniqueFd fd(
      ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    if (err == ENOENT) return Status::OK();
    if (err == EACCES || err == EPERM) {
      Unreadable(rel, err);
      return Status::OK();
    }
    return ErrnoError(err, fmt::format("Failed to open \"/{}\"", rel));
  }
  struct stat fst;
  if (::fstat(fd.get(), &fst) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat \"/{}\"", rel));
  if (!S_ISREG(fst.st_mode)) return Status::OK();  // replaced while we walked
  ASSIGN_OR_RETURN(EntryPtr e, MakeEntry(fd.get(), ProcPath(fd.get(), "", rel), fst, rel));
  RETURN_IF_ERROR(WriteHeader(e.get(), rel));
  RETURN_IF_ERROR(WriteFileData(fd.get(), e.get(), rel));
  if (fst.st_nlink > 1) links_.emplace(std::make_pair(fst.st_dev, fst.st_ino), rel);
  return Status::OK();
}

}  // namespace

Result<Compression> ParseCompression(const std::string& name) {
  if (name == "zstd") return Compression::kZstd;
  if (name == "gzip") return Compression::kGzip;
  if (name == "none" || name == "0") return Compression::kNone;
  return InvalidArgumentError(
      fmt::format("unsupported compression '{}' (expected zstd, gzip or none)", name));
}

const char* ArchiveSuffix(Compression c) {
  switch (c) {
    case Compression::kZstd:
      return ".tar.zst";
    case Compression::kGzip:
      return ".tar.gz";
    case Compression::kNone:
      break;
  }
  return ".tar";
}

Result<TreeStats> WriteTree(const std::string& directory, const std::vector<std::string>& sources,
                            const TreeWriterOptions& options, int out_fd, Observer* observer) {
  std::vector<std::string> rels;
  for (const auto& s : sources) {
    ASSIGN_OR_RETURN(std::string rel, NormalizeSource(s));
    rels.push_back(std::move(rel));
  }
  std::vector<std::string> patterns = options.exclude_patterns;
  if (options.skip_lost_and_found) patterns.push_back("lost+found");
  ASSIGN_OR_RETURN(ExcludeMatcher matcher, ExcludeMatcher::Create(patterns));
  Utf8Locale utf8;
  TreeWriter w(options, observer, std::move(matcher));
  RETURN_IF_ERROR(w.Open(out_fd, std::set<std::string>(rels.begin(), rels.end())));
  for (const auto& [name, content] : options.prefix_files)
    RETURN_IF_ERROR(w.WritePrefixFile(name, content));
  for (const auto& rel : rels) RETURN_IF_ERROR(w.WriteSource(directory, rel));
  RETURN_IF_ERROR(w.Close());
  return w.stats();
}

}  // namespace ctdump::archive
