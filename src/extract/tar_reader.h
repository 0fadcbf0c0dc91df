// What extraction accepts as input, and the untrusted-archive listing.
#ifndef CTDUMP_EXTRACT_TAR_READER_H_
#define CTDUMP_EXTRACT_TAR_READER_H_

#include <functional>
#include <string>

#include "ctdump/status.h"

struct archive;

namespace ctdump::extract {

// Enables tar (ustar, pax, GNU) compressed with gzip, bzip2, xz, lzma, lz4,
// zstd or not at all, all detected from content (PVE goes by the file name;
// a misnamed file is fine here). Nothing else: no filter that runs an
// external program, no format (mtree) that reads files named inside it.
void SupportTarInput(archive* a);
// Only the decompression filters of SupportTarInput (for a raw reader).
void SupportTarFilters(archive* a);

// PVE's check_tar_archive over an opened reader, reading headers only
// (UntrustedArchiveCheck's messages); a reader error is DataLoss naming
// `name`. `cancelled`, when set, is asked between members and its error
// ends the listing (a large archive takes a while).
Status CheckUntrustedArchive(archive* a, const std::string& name,
                             const std::function<Status()>& cancelled = nullptr);

}  // namespace ctdump::extract

#endif  // CTDUMP_EXTRACT_TAR_READER_H_
