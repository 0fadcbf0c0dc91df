// TreeWriter: the shared walk (tree_walker.h) feeding libarchive's pax
// writer.
//
// Format: full pax, not "restricted": members get an extended header
// with the sub-second mtime (and atime, ctime), as GNU tar's posix format
// writes it; xattrs only as SCHILY.xattr.* (GNU tar warns about the
// LIBARCHIVE.xattr.* copies). libarchive's pax writer writes unblocked into
// PaxWriterFixer (pax_fix.h: pre-1970 times, xattr names and the modes of
// files with an ACL mask as GNU tar writes them), which feeds a second,
// raw-format libarchive writer for the compression. The last block is not
// padded: zstd -d rejects trailing zeros after the frame.
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

#include "archive/archive_handle.h"
#include "archive/pax_fix.h"
#include "archive/tree_walker.h"
#include "sys/locale.h"
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

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  return static_cast<int>(std::max(1L, (cpus + 1) / 2));  // vzdump: half the cores
}

class TreeWriter : public EntryVisitor {
 public:
  TreeWriter(const TreeWriterOptions& options, Observer* observer)
      : options_(options),
        observer_(observer),
        throttle_(options.bwlimit),
        fixer_([this](const char* data, size_t n) { return Output(data, n); }),
        buf_(kChunk) {}
  // Freeing a writer that Close() did not close (after a failure) closes it:
  // libarchive then writes the end of the archive through TarWrite into
  // fixer_ and compress_, so the writers go first, while those still exist.
  ~TreeWriter() {
    writer_.reset();
    compress_.reset();
  }

  Status Open(int out_fd);
  Status WritePrefixFile(const std::string& name, const std::string& content);
  Status Close();
  TreeStats stats() const { return stats_; }

  Status Visit(archive_entry* e, const std::string& rel, int fd) override {
    current_ = rel;  // for the terminal's progress bar
    RETURN_IF_ERROR(WriteHeader(e, rel));
    if (fd >= 0) return WriteFileData(fd, e, rel);
    return Status::OK();
  }
  void Unreadable(const std::string& rel, int err) override { ++stats_.unreadable; }

 private:
  Status SetUp();
  // The tar stream, corrected by fixer_, to the compressor or out_fd.
  static la_ssize_t TarWrite(struct archive*, void* client, const void* buf, size_t n);
  Status Output(const char* data, size_t n);
  Status WriteHeader(archive_entry* e, const std::string& rel);
  Status WriteFileData(int fd, archive_entry* e, const std::string& rel);
  Status WriteZeros(uint64_t length, const std::string& rel);
  Status WriteBlock(const void* data, size_t n, const std::string& rel);
  void Progress(bool force);
  // Charges the tar stream bytes written since the last call to the throttle.
  void Charge();
  Status LibError(const std::string& what);

  TreeWriterOptions options_;
  Observer* observer_;
  Throttle throttle_;
  WriteHandle writer_;    // pax, unblocked
  WriteHandle compress_;  // raw + filter; null: none
  Sink sink_;
  PaxWriterFixer fixer_;
  Status output_error_;  // the first failure below writer_
  std::vector<char> buf_;
  std::vector<char> zeros_;
  uint64_t throttled_ = 0;  // tar stream bytes already charged
  TreeStats stats_;
  Clock::time_point last_progress_{};
  std::string current_;  // the entry being written, relative
};

Status TreeWriter::LibError(const std::string& what) {
  if (sink_.error != 0) return ErrnoError(sink_.error, "Failed to write the archive");
  if (!output_error_.ok()) return output_error_;
  const char* msg = writer_ ? archive_error_string(writer_.get()) : nullptr;
  if (!msg && compress_) msg = archive_error_string(compress_.get());
  return IOError(fmt::format("{}: {}", what, msg ? msg : "unknown libarchive error"));
}

la_ssize_t TreeWriter::TarWrite(struct archive*, void* client, const void* buf, size_t n) {
  auto* w = static_cast<TreeWriter*>(client);
  Status s = w->fixer_.Write(static_cast<const char*>(buf), n);
  if (!s.ok()) {
    if (w->output_error_.ok()) w->output_error_ = s;
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

Status TreeWriter::Output(const char* data, size_t n) {
  if (!compress_) {
    if (SinkWrite(nullptr, &sink_, data, n) < 0) return LibError("Failed to write the archive");
    return Status::OK();
  }
  if (archive_write_data(compress_.get(), data, n) < 0) {
    const char* msg = archive_error_string(compress_.get());
    if (sink_.error != 0) return ErrnoError(sink_.error, "Failed to write the archive");
    return IOError(fmt::format("Failed to compress the archive: {}", msg ? msg : "unknown error"));
  }
  return Status::OK();
}

Status TreeWriter::SetUp() {
  // Unblocked: an entry's headers reach fixer_ within archive_write_header.
  if (archive_write_set_format_pax(writer_.get()) != ARCHIVE_OK ||
      archive_write_set_format_option(writer_.get(), "pax", "xattrheader", "SCHILY") !=
          ARCHIVE_OK ||
      archive_write_set_bytes_per_block(writer_.get(), 0) != ARCHIVE_OK)
    return LibError("Failed to set up the pax format");
  if (options_.compression == Compression::kNone) return Status::OK();
  compress_.reset(archive_write_new());
  struct archive* a = compress_.get();
  if (!a) return InternalError("libarchive: out of memory");
  if (archive_write_set_format_raw(a) != ARCHIVE_OK)
    return LibError("Failed to set up compression");
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
  if (options_.compression == Compression::kLzo)
    return InvalidArgumentError("lzo archives are compressed by the caller (archive/compressor.h)");
  if (r != ARCHIVE_OK) return LibError("Failed to set up compression");
  if (archive_write_set_bytes_per_block(a, 64 * 1024) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK)
    return LibError("Failed to set up the archive blocking");
  return Status::OK();
}

Status TreeWriter::Open(int out_fd) {
  writer_.reset(archive_write_new());
  if (!writer_) return InternalError("libarchive: out of memory");
  RETURN_IF_ERROR(SetUp());
  sink_.fd = out_fd;
  if (compress_) {
    // The raw format's one member is the whole tar stream.
    EntryHandle e(archive_entry_new());
    archive_entry_set_pathname(e.get(), "tar");
    archive_entry_set_filetype(e.get(), AE_IFREG);
    if (archive_write_open2(compress_.get(), &sink_, nullptr, SinkWrite, nullptr, nullptr) !=
            ARCHIVE_OK ||
        archive_write_header(compress_.get(), e.get()) != ARCHIVE_OK)
      return LibError("Failed to open the archive");
  }
  if (archive_write_open2(writer_.get(), this, nullptr, TarWrite, nullptr, nullptr) != ARCHIVE_OK)
    return LibError("Failed to open the archive");
  return Status::OK();
}

Status TreeWriter::Close() {
  if (archive_write_close(writer_.get()) != ARCHIVE_OK)
    return LibError("Failed to finish the archive");
  RETURN_IF_ERROR(fixer_.Flush());
  if (compress_ && archive_write_close(compress_.get()) != ARCHIVE_OK)
    return LibError("Failed to finish the archive");
  stats_.archive_bytes = sink_.bytes;
  Progress(true);
  return Status::OK();
}

void TreeWriter::Progress(bool force) {
  auto now = Clock::now();
  if (!force && now - last_progress_ < kProgressInterval) return;
  last_progress_ = now;
  ctdump::Progress p;
  p.bytes = stats_.file_bytes;
  p.files = stats_.entries;
  p.current = "/" + current_;
  observer_->OnProgress(p);
}

Status TreeWriter::WriteHeader(archive_entry* e, const std::string& rel) {
  fixer_.BeginHeader(HeaderPerm(e));
  int r = archive_write_header(writer_.get(), e);
  Status fixed = fixer_.EndHeader();
  if (r == ARCHIVE_WARN) {
    const char* msg = archive_error_string(writer_.get());
    // A name that is not UTF-8 is stored byte-exact (hdrcharset=BINARY) and
    // restored as it was: nothing to warn about.
    bool binary_name =
        msg && std::string_view(msg).find("Can't translate") != std::string_view::npos;
    if (!binary_name)
      observer_->Log(LogLevel::kWarn,
                     fmt::format("'/{}': {}", rel, msg ? msg : "libarchive warning"));
  } else if (r != ARCHIVE_OK) {
    return LibError(fmt::format("Failed to write the header of \"/{}\"", rel));
  }
  RETURN_IF_ERROR(fixed);
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
  uint64_t pos = 0, shrunk = 0;
  for (auto [off, len] : regions) {
    if (off < pos || off + len > size) continue;  // never trust a map beyond the size
    RETURN_IF_ERROR(WriteZeros(off - pos, rel));
    uint64_t missing = 0;
    RETURN_IF_ERROR(ReadRange(fd, off, len, buf_, rel, &missing, [&](const char* data, size_t n) {
      stats_.file_bytes += n;
      return WriteBlock(data, n, rel);
    }));
    RETURN_IF_ERROR(WriteZeros(missing, rel));
    shrunk += missing;
    pos = off + len;
  }
  RETURN_IF_ERROR(WriteZeros(size - pos, rel));
  if (shrunk > 0)
    observer_->Log(LogLevel::kWarn,
                   fmt::format("'/{}': file shrank by {} bytes; padding with zeros", rel, shrunk));
  return Status::OK();
}

Status TreeWriter::WritePrefixFile(const std::string& name, const std::string& content) {
  EntryHandle e(archive_entry_new());
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

}  // namespace

Result<Compression> ParseCompression(const std::string& name) {
  if (name == "zstd") return Compression::kZstd;
  if (name == "gzip") return Compression::kGzip;
  if (name == "lzo" || name == "1") return Compression::kLzo;  // vzdump: 1 = lzo
  if (name == "none" || name == "0") return Compression::kNone;
  return InvalidArgumentError(
      fmt::format("unsupported compression '{}' (expected zstd, gzip, lzo, 1 (lzo) or 0)", name));
}

const char* ArchiveSuffix(Compression c) {
  switch (c) {
    case Compression::kZstd:
      return ".tar.zst";
    case Compression::kGzip:
      return ".tar.gz";
    case Compression::kLzo:
      return ".tar.lzo";
    case Compression::kNone:
      break;
  }
  return ".tar";
}

Result<TreeStats> WriteTree(const std::string& directory, const std::vector<std::string>& sources,
                            const TreeWriterOptions& options, int out_fd, Observer* observer) {
  sys::ScopedUtf8Locale utf8;
  TreeWriter w(options, observer);
  RETURN_IF_ERROR(w.Open(out_fd));
  for (const auto& [name, content] : options.prefix_files)
    RETURN_IF_ERROR(w.WritePrefixFile(name, content));
  WalkOptions wo;
  wo.exclude_patterns = options.exclude_patterns;
  wo.skip_lost_and_found = options.skip_lost_and_found;
  wo.prefetch = true;  // every regular file is read: read ahead while the page cache is cold
  RETURN_IF_ERROR(WalkTree(directory, sources, wo, &w, observer));
  RETURN_IF_ERROR(w.Close());
  return w.stats();
}

}  // namespace ctdump::archive
