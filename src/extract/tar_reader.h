// What extraction accepts as input, and the untrusted-archive listing.
#ifndef CTDUMP_EXTRACT_TAR_READER_H_
#define CTDUMP_EXTRACT_TAR_READER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ctdump/status.h"

struct archive;
struct archive_entry;

namespace ctdump::extract {

// Enables tar (ustar, pax, GNU) compressed with gzip, bzip2, xz, lzma, lz4,
// zstd or not at all, all detected from content (PVE goes by the file name;
// a misnamed file is fine here). Nothing else: no filter that runs an
// external program, no format (mtree) that reads files named inside it.
void SupportTarInput(::archive* a);
// Only the decompression filters of SupportTarInput (for a raw reader).
void SupportTarFilters(::archive* a);

// PVE's check_tar_archive over an opened reader, reading headers only
// (UntrustedArchiveCheck's messages); a reader error is DataLoss naming
// `name`. `cancelled`, when set, is asked between members and its error
// ends the listing (a large archive takes a while).
Status CheckUntrustedArchive(::archive* a, const std::string& name,
                             const std::function<Status()>& cancelled = nullptr);

// A tar reader that reads what libarchive 3.6 reads differently from GNU
// tar (archive/pax_fix.h) as GNU tar does: pre-1970 times with a fraction
// ("-0.75" is -0.75 s, not +0.75 s) and xattr names in GNU tar's keyword
// coding ("user.pct%2541" is "user.pct%41").
//
// A first libarchive reader decompresses the input (SupportTarInput's
// filters); the tar reader reads the plain stream through a window of its
// most recent bytes, where FixEntry finds an entry's extended header again
// (at archive_read_header_position) and reads its time and xattr records
// itself. Not thread-safe.
class TarStream {
 public:
  TarStream();
  ~TarStream();
  TarStream(const TarStream&) = delete;
  TarStream& operator=(const TarStream&) = delete;

  // Opens `fd` (not owned; must stay open), read in blocks of `block`
  // bytes. ARCHIVE_OK or an error code as archive_read_open; the error text
  // is get()'s.
  int Open(int fd, size_t block);
  // The tar reader (next header, data, errors); null when out of memory.
  ::archive* get() const { return tar_; }
  explicit operator bool() const { return decode_ && tar_; }

  // Corrects `e`, just returned by archive_read_next_header(get()).
  void FixEntry(archive_entry* e);

  // How many bytes of the plain stream the window keeps: more than any
  // header chain libarchive reads (each extended header is at most 1 MiB).
  static constexpr size_t kWindow = 8 << 20;

 private:
  static ssize_t ReadBlock(::archive* a, void* client, const void** buf);
  // [offset, offset+length) of the plain stream, if still in the window.
  bool Copy(uint64_t offset, size_t length, std::string* out) const;

  ::archive* decode_ = nullptr;
  ::archive* tar_ = nullptr;
  std::vector<char> window_;
  uint64_t end_ = 0;  // plain-stream offset after the last byte handed out
};

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_TAR_READER_H_
