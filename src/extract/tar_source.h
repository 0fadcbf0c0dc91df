// TarSource: the bytes of a tar archive file as libarchive should see them.
//
// libarchive decodes zstd, gzip, bzip2, xz and lz4 itself. lzop archives
// (vzdump's `compress lzo`, `.tar.lzo`) need the lzop program, which
// libarchive would run as the calling process (host root) on untrusted
// input: here lzop -d runs as nobody without privileges, fed through pipes
// by this object, so the archive's bytes reach libarchive as a plain tar.
//
// A source that is destroyed before its end kills its lzop quietly (no
// "Broken pipe" on the terminal). Not thread-safe.
#ifndef CTDUMP_EXTRACT_TAR_SOURCE_H_
#define CTDUMP_EXTRACT_TAR_SOURCE_H_

#include <memory>
#include <string>

#include "ctdump/status.h"

struct archive;

namespace ctdump::extract {

class TarSource {
 public:
  virtual ~TarSource() = default;
  // Up to `n` bytes into `buf`; 0 at the end. A damaged lzop stream or an
  // interruption (SIGINT/SIGTERM) is an error.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;

 private:
  friend int OpenArchiveOn(struct archive* a, TarSource* source);
  std::unique_ptr<char[]> callback_buffer_;  // OpenArchiveOn's read block
};

// Opens the libarchive reader `a` on `source`, which must outlive it (the
// read errors of the source become the reader's errors). ARCHIVE_OK or an
// error code, as archive_read_open.
int OpenArchiveOn(struct archive* a, TarSource* source);

// Whether the file at `fd` starts with lzop's magic (read with pread: the
// offset is not moved).
bool IsLzopFile(int fd);

// A source over the regular file `fd` (not owned; must stay open), read from
// offset 0, decompressed by lzop when IsLzopFile. `path` names it in errors.
Result<std::unique_ptr<TarSource>> OpenTarSource(int fd, const std::string& path);

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_TAR_SOURCE_H_
