// FORMAT: the dynamic index, the list of chunks a stream (a snapshot's
// metadata or data stream) is cut into. Stored as the plaintext of a blob
// of type kIndex. Specified in docs/formats/index.md.
//
//   offset size  field
//   0      8     magic "CTDIDX" followed by 0x00 0x01 (version 1)
//   8      8     stream length in bytes (little endian) = end of the last entry
//   16     8     entry count n
//   24     40*n  entries: end offset (u64 LE, exclusive, strictly increasing,
//                so every chunk is non-empty) then the 32-byte chunk id
//
// Chunk i covers stream bytes [end(i-1), end(i)), end(-1) = 0. A reader
// finds the chunk holding offset x by binary search on the end offsets.
// Nothing may follow the entries.
#ifndef CTDUMP_DATASTORE_INDEX_FORMAT_H_
#define CTDUMP_DATASTORE_INDEX_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace ctdump::datastore {

inline constexpr char kIndexMagic[8] = {'C', 'T', 'D', 'I', 'D', 'X', 0x00, 0x01};
inline constexpr size_t kIndexHeaderSize = 24;
inline constexpr size_t kIndexEntrySize = 40;

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_INDEX_FORMAT_H_
