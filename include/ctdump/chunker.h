// Content-defined chunking for the deduplicating datastore.
//
// Concepts. A Chunker splits a byte stream into chunks whose boundaries
// depend on the content, not on offsets, so an insertion or deletion moves
// only the cuts near it and the other chunks dedup against earlier backups.
// It is a small streaming value type: feed the next bytes with Scan(), get
// either "the current chunk ends after n of these bytes" or "feed more". No
// allocation, no I/O, nothing printed.
//
// Algorithm: FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking,
// level 2:
//   * Gear rolling hash h = (h << 1) + kGear[byte] over 64-bit state, so h
//     depends only on the last 64 bytes; the cut test looks at the TOP bits of
//     h (bit k depends on the last k+1 bytes only, so low bits would make a
//     4-byte window).
//   * The first min_size - 64 bytes of a chunk are skipped unhashed; the next
//     63 are hashed without testing, so from min_size on h is exactly the hash
//     of the 64-byte window and a cut depends on the window and the chunk
//     length only.
//   * A chunk of length L in [min_size, avg_size) ends where the top
//     log2(avg)+2 bits of h are zero (harder), in [avg_size, max_size) where
//     the top log2(avg)-2 bits are zero (easier), and at max_size regardless.
//
// FORMAT. The cut positions are part of the datastore format: changing the
// gear table (splitmix64 from kGearSeed), the masks, the skip rule or the
// default params changes every chunk and defeats dedup against existing
// backups. Never change them; chunker_test.cc pins the first cuts of a fixed
// input (golden test) and checks every cut against a byte-at-a-time
// implementation of the definition above, and chunker.cc static_asserts
// table entries. Scan() hashes two bytes a step (the same hashes), 2.7 GiB/s
// per core here against 2.0 byte by byte (`chunker_bench` BM_Scan).
//
// Thread-safety: a Chunker is a value; distinct objects may be used from
// distinct threads, one object needs external synchronization.
#ifndef CTDUMP_CHUNKER_H_
#define CTDUMP_CHUNKER_H_

#include <cstddef>
#include <cstdint>

#include "ctdump/status.h"

namespace ctdump {

// Chunk size bounds, in bytes. Defaults chosen by measurement with this
// chunker at -O2: `chunker_bench` BM_Dedup, and (ad hoc) zstd -3 per chunk on
// the first 64 MiB of a tar of a Debian /usr/lib/x86_64-linux-gnu. "stored" is the share of a
// 64 MiB random buffer's changed copy (1 % of its 4 KiB blocks rewritten at
// random places, 8 insertions of 1..4096 bytes) in chunks not already stored:
//
//   min/avg/max    chunks/64MiB  mean     stored   zstd-3 size (real data)
//   4K/16K/64K         3561      18 KiB    7.2 %   41.4 %
//   16K/64K/256K        880      74 KiB   20.6 %   39.5 %
//   32K/128K/512K       449     146 KiB   37.1 %   38.2 %   <- default
//   64K/256K/1M         220     298 KiB   57.4 %   38.1 %
//   256K/1M/4M           60    1093 KiB   97.9 %   37.5 %
//   1M/4M/16M (PBS)      14    4682 KiB  100.0 %   37.2 %
//
// Why 32K/128K/512K: scattered small edits (the worst case above) favour
// small chunks, but every chunk is one store object (a put, an inode or RADOS
// object, a SHA-256 and zstd frame) and zstd loses ratio below ~128 KiB
// (+3.5 % bytes at 64K). 128K keeps nearly all of 256K's compression, stores
// 35 % less than 256K on scattered edits, and means ~40k objects for a 5 GB
// container (vs. 74k at 64K). min = avg/4 and max = 4 * avg give a mean of
// ~1.15 * avg on random data; 4 MiB chunks (PBS) barely dedup scattered edits.
struct ChunkerParams {
  // No chunk is shorter than this, except the last of a stream. >= 64.
  uint32_t min_size = 32 * 1024;
  // Target mean chunk size; a power of two, min_size < avg_size < max_size.
  uint32_t avg_size = 128 * 1024;
  // No chunk is longer than this. <= 16 MiB.
  uint32_t max_size = 512 * 1024;
};

class Chunker {
 public:
  // Precondition: Validate(p).ok(); aborts otherwise (a programming error:
  // validate user-supplied params first).
  explicit Chunker(const ChunkerParams& p = {});

  // InvalidArgument naming the offending field unless min_size >= 64,
  // avg_size is a power of two, min_size < avg_size < max_size and
  // max_size <= 16 MiB.
  static Status Validate(const ChunkerParams& p);

  // Scans `data`, the next `len` bytes of the stream. Returns n in [1, len]
  // if the current chunk ends right after data[n - 1]; the chunker then starts
  // a new chunk at data[n], which the caller must pass again in the next call.
  // Returns 0 if there is no cut in `data` ("feed more"); all of it belongs to
  // the current chunk. The cuts do not depend on how the stream is split
  // into calls. The end of the stream ends the last chunk; the chunker has no
  // end-of-stream call.
  size_t Scan(const uint8_t* data, size_t len);

  // Forgets the current chunk: the next byte fed starts a new stream.
  void Reset();

  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // tested for chunk lengths in [min, avg)
  uint64_t mask_large_;  // tested for chunk lengths in [avg, max)
  uint64_t hash_ = 0;    // gear hash of the current chunk's hashed bytes
  uint32_t length_ = 0;  // bytes of the current chunk seen so far
};

}  // namespace ctdump

#endif  // CTDUMP_CHUNKER_H_
