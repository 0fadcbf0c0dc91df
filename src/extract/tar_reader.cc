#include "extract/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include "extract/entry_check.h"

namespace ctdump::extract {

void SupportTarFilters(archive* a) {
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_lzma(a);
  archive_read_support_filter_lz4(a);
  archive_read_support_filter_zstd(a);
}

void SupportTarInput(archive* a) {
  SupportTarFilters(a);
  archive_read_support_format_tar(a);
}

Status CheckUntrustedArchive(archive* a, const std::string& name,
                             const std::function<Status()>& cancelled) {
  UntrustedArchiveCheck check(name);
  for (;;) {
    if (cancelled) RETURN_IF_ERROR(cancelled());
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char* why = archive_error_string(a);
      return DataLossError(
          fmt::format("Failed to read '{}': {}", name, why ? why : "unknown error"));
    }
    const char* path = archive_entry_pathname(e);
    RETURN_IF_ERROR(check.Add(path ? path : "", archive_entry_filetype(e),
                              archive_entry_hardlink(e) != nullptr));
  }
  return check.Finish();
}

}  // namespace ctdump::extract
