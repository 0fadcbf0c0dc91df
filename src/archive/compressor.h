// Compressor: a tar stream compressed into a file descriptor, as vzdump's
// compressor pipes do (`tar | zstd`, `tar | gzip`, `tar | lzop`).
//
// zstd frames carry a content checksum, as the zstd CLI writes them, so
// `zstd -t`, `zstd -d` and ctdump's verify detect a damaged archive; gzip
// streams end with their CRC-32; lzo archives are written by lzop (the same
// format vzdump's `compress lzo` produces). The caller owns the descriptor.
//
// Not thread-safe; one stream per object.
#ifndef CTDUMP_ARCHIVE_COMPRESSOR_H_
#define CTDUMP_ARCHIVE_COMPRESSOR_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "archive/tree_writer.h"
#include "ctdump/status.h"

namespace ctdump::archive {

struct CompressorOptions {
  int zstd_level = 3;    // vzdump's default
  int zstd_threads = 1;  // vzdump --zstd N (0 = half the cores)
  int gzip_level = 6;    // gzip's default
  // Names the output in errors, e.g. "\"/backup/dump/x.tar.zst.tmp\"".
  std::string what = "the archive";
};

class Compressor {
 public:
  virtual ~Compressor() = default;
  // Compresses `data` and writes what is ready to the descriptor.
  [[nodiscard]] virtual Status Write(std::string_view data) = 0;
  // Ends the stream (final frame, trailer, lzop's exit) and writes the rest.
  // Nothing may be written afterwards.
  [[nodiscard]] virtual Status Finish() = 0;
};

// A compressor for `c` writing to `out_fd` (kNone passes data through).
// kLzo needs /usr/bin/lzop (Debian package lzop).
Result<std::unique_ptr<Compressor>> MakeCompressor(Compression c, int out_fd,
                                                   const CompressorOptions& options);

// A zstd compressor handing its output to `out` (the API's .tar.zst
// downloads), in pieces of at most ZSTD_CStreamOutSize() (a 128 KiB block
// and its headers); an error of `out` ends the stream with it.
Result<std::unique_ptr<Compressor>> MakeZstdCompressor(std::function<Status(std::string_view)> out,
                                                       const CompressorOptions& options);

// Resolves vzdump's `zstd` thread count: 0 means half the cores.
int ResolveZstdThreads(int threads);

}  // namespace ctdump::archive

#endif  // CTDUMP_ARCHIVE_COMPRESSOR_H_
