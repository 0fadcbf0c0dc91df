// FORMAT: the metadata stream, one record per file system entry, and the
// worker stream that carries the same records from the user-namespace
// worker to ctdump. Specified in docs/formats/metadata-stream.md.
//
// Metadata stream = magic "CTDMETA" 0x01, then records back to back, in
// walk order (each source depth first, names sorted bytewise), the tree's
// root ("" path) first. It is stored like file data: content-defined chunks
// listed by meta.didx, so an unchanged part of the tree dedups.
//
// Record (all integers little endian):
//   u32  length of the rest of the record (<= kMaxRecordSize)
//   u32  flags (kEntry*)
//   u32  st_mode (file type and permission bits)
//   u32  uid, u32 gid (container view)
//   i64  mtime seconds, u32 mtime nanoseconds (< 1e9)
//   i64  ctime seconds, u32 ctime nanoseconds   (change detection only)
//   u64  inode                                   (change detection only)
//   u64  size: a regular file's logical size (holes included), else 0
//   u64  rdev (devices), else 0
//   u64  data offset: where the file's stored bytes start in the data stream
//   u64  data length: stored bytes (the size minus holes)
//   str  path, relative to the tree root, no leading "/" or "./"
//   str  link: symlink target, or hardlink target path (kEntryHardlink)
//   u32  xattr count, then per xattr: str name, str value
//   str  POSIX access ACL, str default ACL (libarchive text form with ids)
//   u32  sparse region count, then per region: u64 offset, u64 length
//        (the file's data regions in increasing, non-overlapping order; the
//        data stream holds exactly these bytes; 0 regions = dense file)
// where str = u32 length + bytes.
//
// Worker stream (worker -> ctdump, a pipe): frames of
//   u8 type, u32 payload length (<= kMaxFrameSize), payload
//   'E' a record (data offset 0); a regular file's data follows as 'D'
//       frames of exactly `data length` bytes in all, unless the record
//       carries kEntryUnchanged (the worker found it unchanged and read
//       nothing: ctdump takes the previous snapshot's record and data)
//   'D' file data
//   'Z' end of the walk (no payload)
// ctdump feeds the worker the previous snapshot's metadata stream (magic
// and records) on its stdin, for change detection.
#ifndef CTDUMP_DATASTORE_ENTRY_FORMAT_H_
#define CTDUMP_DATASTORE_ENTRY_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace ctdump::datastore {

inline constexpr char kMetaMagic[8] = {'C', 'T', 'D', 'M', 'E', 'T', 'A', 0x01};
inline constexpr size_t kMaxRecordSize = 16u << 20;  // xattrs and ACLs included
inline constexpr size_t kMaxFrameSize = 1u << 20;
inline constexpr size_t kRecordFixedSize = 4 + 4 * 4 + 8 + 4 + 8 + 4 + 8 * 5;

inline constexpr uint32_t kEntryHardlink = 0x1;   // link is the hardlink target
inline constexpr uint32_t kEntryUnchanged = 0x2;  // worker stream only
inline constexpr uint32_t kEntryKnownFlags = kEntryHardlink | kEntryUnchanged;

inline constexpr uint8_t kFrameEntry = 'E';
inline constexpr uint8_t kFrameData = 'D';
inline constexpr uint8_t kFrameEnd = 'Z';

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_ENTRY_FORMAT_H_
