#include "datastore/tar_export.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <memory>
#include <set>

#include "archive/archive_handle.h"
#include "archive/pax_fix.h"
#include "sys/locale.h"

namespace ctdump::datastore {
namespace {

// libarchive's pax output, corrected as GNU tar writes it (archive/pax_fix.h).
struct Sink {
  archive::PaxWriterFixer* fixer;
  Status error;
  uint64_t bytes = 0;
};

la_ssize_t SinkWrite(struct archive*, void* client, const void* buf, size_t n) {
  auto* sink = static_cast<Sink*>(client);
  Status s = sink->fixer->Write(static_cast<const char*>(buf), n);
  if (!s.ok()) {
    sink->error = s;
    return -1;
  }
  sink->bytes += n;
  return static_cast<la_ssize_t>(n);
}

bool Selected(const std::vector<std::string>& paths, const std::string& p) {
  if (paths.empty()) return true;
  for (const auto& sel : paths) {
    if (sel.empty() || p == sel) return true;
    if (p.size() > sel.size() && p.starts_with(sel) && p[sel.size()] == '/') return true;
  }
  return false;
}

void FillEntry(const Entry& e, archive_entry* a) {
  archive_entry_set_pathname(a, e.path.empty() ? "./" : ("./" + e.path).c_str());
  archive_entry_set_mode(a, e.mode);
  archive_entry_set_uid(a, e.uid);
  archive_entry_set_gid(a, e.gid);
  archive_entry_set_mtime(a, e.mtime_sec, e.mtime_nsec);
  if (e.is_hardlink()) {
    archive_entry_set_hardlink(a, ("./" + e.link).c_str());
    archive_entry_set_size(a, 0);
    return;
  }
  if (S_ISLNK(e.mode)) archive_entry_set_symlink(a, e.link.c_str());
  if (S_ISCHR(e.mode) || S_ISBLK(e.mode)) archive_entry_set_rdev(a, static_cast<dev_t>(e.rdev));
  archive_entry_set_size(a, S_ISREG(e.mode) ? static_cast<la_int64_t>(e.size) : 0);
  for (const auto& [n, v] : e.xattrs)
    archive_entry_xattr_add_entry(a, n.c_str(), v.data(), v.size());
  if (!e.acl_access.empty())
    archive_entry_acl_from_text(a, e.acl_access.c_str(), ARCHIVE_ENTRY_ACL_TYPE_ACCESS);
  if (!e.acl_default.empty())
    archive_entry_acl_from_text(a, e.acl_default.c_str(), ARCHIVE_ENTRY_ACL_TYPE_DEFAULT);
  for (auto [off, len] : e.sparse)
    archive_entry_sparse_add_entry(a, static_cast<la_int64_t>(off), static_cast<la_int64_t>(len));
}

}  // namespace

Result<std::string> NormalizeSnapshotPath(const std::string& path) {
  std::string out;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = std::min(path.find('/', pos), path.size());
    std::string_view c(path.data() + pos, end - pos);
    if (c == "..") return InvalidArgumentError(fmt::format("path '{}' contains \"..\"", path));
    if (!c.empty() && c != ".") out += (out.empty() ? "" : "/") + std::string(c);
    pos = end + 1;
  }
  return out;
}

Result<ExportStats> ExportTar(SnapshotReader& reader, const ExportOptions& options,
                              const std::function<Status(const void* data, size_t size)>& write,
                              const std::function<bool()>& closed, Observer* observer) {
  sys::ScopedUtf8Locale utf8;
  archive::WriteHandle a(archive_write_new());
  if (!a) return InternalError("libarchive: out of memory");
  archive::PaxWriterFixer fixer([&write](const char* d, size_t n) { return write(d, n); });
  Sink sink{&fixer, Status::OK(), 0};
  auto lib_error = [&](const std::string& what) -> Status {
    if (!sink.error.ok()) return sink.error;
    const char* msg = archive_error_string(a.get());
    return IOError(fmt::format("{}: {}", what, msg ? msg : "unknown libarchive error"));
  };
  // Unblocked: an entry's headers reach the fixer within archive_write_header
  // (the fixer coalesces the output).
  if (archive_write_set_format_pax(a.get()) != ARCHIVE_OK ||
      archive_write_set_format_option(a.get(), "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(a.get(), 0) != ARCHIVE_OK ||
      archive_write_open2(a.get(), &sink, nullptr, SinkWrite, nullptr, nullptr) != ARCHIVE_OK)
    return lib_error("Failed to set up the tar stream");
  ExportStats stats;
  std::set<std::string> found;           // selected paths seen
  std::set<std::string> exported_files;  // with a selection: hardlink targets available
  archive::EntryHandle ae(archive_entry_new());
  Status s = reader.ForEachEntry([&](const Entry& e) -> Status {
    if (closed && closed()) return CancelledError("consumer closed");
    if (!Selected(options.paths, e.path)) return Status::OK();
    for (const auto& p : options.paths)
      if (p == e.path || p.empty()) found.insert(p);
    if (e.is_hardlink() && !options.paths.empty() && !exported_files.count(e.link)) {
      if (observer)
        observer->Log(LogLevel::kWarn, fmt::format("'/{}': hardlink to '/{}' outside the selection "
                                                   "skipped",
                                                   e.path, e.link));
      return Status::OK();
    }
    archive_entry_clear(ae.get());
    FillEntry(e, ae.get());
    fixer.BeginHeader(archive::HeaderPerm(ae.get()));
    int r = archive_write_header(a.get(), ae.get());
    Status fixed = fixer.EndHeader();
    if (r < ARCHIVE_WARN)
      return lib_error(fmt::format("Failed to write the header of '/{}'", e.path));
    RETURN_IF_ERROR(fixed);
    ++stats.entries;
    if (e.is_regular()) {
      if (!options.paths.empty()) exported_files.insert(e.path);
      RETURN_IF_ERROR(reader.ReadFile(e, true, [&](const char* d, size_t n) -> Status {
        if (archive_write_data(a.get(), d, n) < 0)
          return lib_error(fmt::format("Failed to write the data of '/{}'", e.path));
        return Status::OK();
      }));
      stats.bytes += e.size;
    }
    return Status::OK();
  });
  if (!s.ok()) {
    // No end-of-archive blocks: the consumer must not see a valid short tar.
    archive_write_fail(a.get());
    if (s.code() == Code::kCancelled && closed && closed()) return stats;
    return s;
  }
  for (const auto& p : options.paths) {
    if (found.count(p)) continue;
    archive_write_fail(a.get());
    return NotFoundError(fmt::format("'/{}' is not in backup '{}'", p, reader.volname()));
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return lib_error("Failed to finish the tar stream");
  RETURN_IF_ERROR(fixer.Flush());
  return stats;
}

}  // namespace ctdump::datastore
