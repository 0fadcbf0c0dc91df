#include "extract/dir_stream.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string_view>
#include <vector>

#include "archive/archive_handle.h"

namespace ctdump::extract {
namespace {

constexpr size_t kZeroBlock = 1 << 20;

std::string ErrorText(::archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown error";
}

// "/src" + "/a/b" -> "./a/b"; the directory itself -> ".".
std::string MemberName(std::string_view path, std::string_view dir) {
  path.remove_prefix(std::min(dir.size(), path.size()));
  while (path.starts_with('/')) path.remove_prefix(1);
  return path.empty() ? "." : fmt::format("./{}", path);
}

class Walker {
 public:
  Walker(std::string dir, const StreamSink& sink, Observer* observer)
      : dir_(std::move(dir)), sink_(sink), observer_(observer) {}
  Status Run();
  const DirStreamStats& stats() const { return stats_; }

 private:
  static la_ssize_t WriteCallback(::archive*, void* self, const void* data, size_t size);
  Status Open();
  Status WriteEntry(archive_entry* e);
  Status CopyData(const std::string& name);
  // The error to return after a libarchive write failure.
  Status WriteError(const std::string& name);
  void Warn(const std::string& message) {
    if (observer_) observer_->Log(LogLevel::kWarn, message);
  }

  std::string dir_;
  const StreamSink& sink_;
  Observer* observer_;
  archive::ReadHandle disk_;
  archive::WriteHandle out_;
  archive::LinkResolverHandle links_;
  Status sink_status_;
  bool sink_closed_ = false;
  std::vector<char> zeros_;
  DirStreamStats stats_;
};

la_ssize_t Walker::WriteCallback(::archive*, void* self, const void* data, size_t size) {
  auto* w = static_cast<Walker*>(self);
  if (w->sink_closed_ || !w->sink_status_.ok()) return -1;
  w->sink_status_ = w->sink_.write(data, size);
  if (!w->sink_status_.ok()) return -1;
  if (w->sink_.closed()) {
    w->sink_closed_ = true;
    return -1;
  }
  return static_cast<la_ssize_t>(size);
}

Status Walker::Open() {
  disk_.reset(archive_read_disk_new());
  out_.reset(archive_write_new());
  links_.reset(archive_entry_linkresolver_new());
  if (!disk_ || !out_ || !links_) return InternalError("out of memory creating libarchive objects");
  // Physical walk (symlinks are members), crossing mount points, with
  // xattrs, ACLs and sparse holes; no name lookups: numeric owners only.
  archive_read_disk_set_symlink_physical(disk_.get());
  archive_read_disk_set_behavior(disk_.get(), ARCHIVE_READDISK_NO_FFLAGS);
  // Full pax, not restricted: sub-second mtimes go into every header that
  // has them (restricted pax keeps them only when a header needs pax for
  // something else). Names as their bytes (hdrcharset=BINARY): no
  // conversion to UTF-8, which fails, with a warning, for other bytes.
  archive_write_set_format_pax(out_.get());
  if (archive_write_set_options(out_.get(), "hdrcharset=BINARY") != ARCHIVE_OK)
    return InternalError(fmt::format("libarchive: {}", ErrorText(out_.get())));
  archive_write_set_bytes_in_last_block(out_.get(), 1);
  archive_entry_linkresolver_set_strategy(links_.get(), archive_format(out_.get()));
  if (archive_write_open(out_.get(), this, nullptr, WriteCallback, nullptr) != ARCHIVE_OK)
    return WriteError(".");
  if (archive_read_disk_open(disk_.get(), dir_.c_str()) != ARCHIVE_OK)
    return IOError(fmt::format("Failed to read directory '{}': {}", dir_, ErrorText(disk_.get())));
  return Status::OK();
}

Status Walker::Run() {
  while (dir_.size() > 1 && dir_.ends_with('/')) dir_.pop_back();
  RETURN_IF_ERROR(Open());
  archive::EntryHandle entry(archive_entry_new());
  bool first = true;
  for (;;) {
    archive_entry_clear(entry.get());
    int r = archive_read_next_header2(disk_.get(), entry.get());
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_WARN) Warn(fmt::format("'{}': {}", dir_, ErrorText(disk_.get())));
    if (r < ARCHIVE_WARN) {
      return IOError(
          fmt::format("Failed to read directory '{}': {}", dir_, ErrorText(disk_.get())));
    }
    // The first entry is the source itself: a directory, never a symlink
    // standing in for one (it would be copied as one symlink).
    if (first && archive_entry_filetype(entry.get()) != AE_IFDIR)
      return InvalidArgumentError(fmt::format("'{}' is not a directory", dir_));
    first = false;
    archive_read_disk_descend(disk_.get());
    if (archive_entry_filetype(entry.get()) == AE_IFSOCK) continue;
    const char* path = archive_entry_pathname(entry.get());
    archive_entry_copy_pathname(entry.get(), MemberName(path ? path : "", dir_).c_str());
    // Only the mtime is restored: no atime, ctime or birth time in the
    // stream (full pax would write them all).
    archive_entry_unset_atime(entry.get());
    archive_entry_unset_ctime(entry.get());
    archive_entry_unset_birthtime(entry.get());
    archive_entry* e = entry.get();
    archive_entry* unused = nullptr;
    // Tar strategy: the first link carries the data, later ones become
    // hardlinks to its (already rewritten) name; nothing is deferred.
    archive_entry_linkify(links_.get(), &e, &unused);
    RETURN_IF_ERROR(WriteEntry(e));
    if (sink_closed_) return Status::OK();
  }
  if (archive_write_close(out_.get()) != ARCHIVE_OK && !sink_closed_) return WriteError(".");
  return Status::OK();
}

Status Walker::WriteEntry(archive_entry* e) {
  std::string name = archive_entry_pathname(e);
  int r = archive_write_header(out_.get(), e);
  if (r == ARCHIVE_WARN) Warn(fmt::format("'{}/{}': {}", dir_, name, ErrorText(out_.get())));
  if (r < ARCHIVE_WARN) return WriteError(name);
  ++stats_.entries;
  if (archive_entry_hardlink(e) == nullptr && archive_entry_size(e) > 0)
    RETURN_IF_ERROR(CopyData(name));
  if (archive_write_finish_entry(out_.get()) < ARCHIVE_WARN) return WriteError(name);
  return Status::OK();
}

Status Walker::CopyData(const std::string& name) {
  la_int64_t progress = 0;
  for (;;) {
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(disk_.get(), &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return Status::OK();
    if (r == ARCHIVE_WARN) Warn(fmt::format("'{}/{}': {}", dir_, name, ErrorText(disk_.get())));
    if (r < ARCHIVE_WARN) {
      return IOError(fmt::format("Failed to read '{}/{}': {}", dir_, name, ErrorText(disk_.get())));
    }
    // A hole: the pax writer drops data that falls into the sparse map's
    // holes, but it must be handed the bytes (as bsdtar does).
    while (offset > progress) {
      if (zeros_.empty()) zeros_.assign(kZeroBlock, 0);
      size_t n = static_cast<size_t>(std::min<la_int64_t>(offset - progress, kZeroBlock));
      la_ssize_t w = archive_write_data(out_.get(), zeros_.data(), n);
      if (w <= 0) return WriteError(name);
      progress += w;
    }
    const char* p = static_cast<const char*>(buf);
    stats_.data_bytes += size;
    while (size > 0) {
      la_ssize_t w = archive_write_data(out_.get(), p, size);
      if (w <= 0) return WriteError(name);
      p += w;
      size -= static_cast<size_t>(w);
      progress += w;
    }
  }
}

Status Walker::WriteError(const std::string& name) {
  if (!sink_status_.ok()) return sink_status_;
  if (sink_closed_) return Status::OK();
  return IOError(fmt::format("Failed to stream '{}/{}': {}", dir_, name, ErrorText(out_.get())));
}

}  // namespace

Status StreamDirectory(const std::string& source_dir, const StreamSink& sink, Observer* observer,
                       DirStreamStats* stats) {
  Walker w(source_dir, sink, observer);
  Status s = w.Run();
  if (stats) *stats = w.stats();
  return s;
}

}  // namespace ctdump::extract
