// FORMAT: the blob, the envelope of every object the datastore writes
// (chunks, indexes, manifests, logs). Specified in docs/formats/blob.md.
//
//   offset size  field
//   0      8     magic "CTDBLOB" followed by the format version byte 0x01
//   8      1     type (BlobType)
//   9      1     flags (kBlobZstd | kBlobEncrypted | kBlobCrc | kBlobLz4); other bits
//                must be 0; kBlobZstd and kBlobLz4 never both
//   10     4     with kBlobCrc: CRC-32 (zlib) of the whole blob with these 4
//                bytes as 0, little endian; else 0
//   14     2     reserved, 0
//   16     8     raw_size: plaintext length, little endian, <= kMaxBlobRawSize
//   24     32    digest of the plaintext: SHA-256, or under a key
//                HMAC-SHA256(id_key, plaintext); for a chunk this is its id
//   56            end of the plain header (kBlobHeaderSize)
//   encrypted blobs only:
//   56     8     key fingerprint
//   64     12    AES-256-GCM IV
//   76     16    GCM tag
//   92            end of the encrypted header (kBlobEncryptedHeaderSize)
//   then the payload: the plaintext, compressed if kBlobZstd (one zstd frame
//   with its content size) or kBlobLz4 (one LZ4 block, of exactly raw_size
//   bytes when decompressed; the fast codec backups write, which
//   `ctdump compact` turns into zstd later), then
//   AES-256-GCM-encrypted if kBlobEncrypted, with bytes [0, 64) of the header
//   (the CRC field as 0) as additional authenticated data. Encrypted blobs
//   carry kBlobCrc (those written before it existed do not): the CRC lets
//   verify find damage without the key. It is no authentication (GCM is):
//   it is computed last, over the finished blob.
//
// Reading checks, in order: size, magic, version, type, flags, reserved
// bytes, CRC (if kBlobCrc), key fingerprint, GCM tag, zstd frame (exactly raw_size bytes), and
// the digest of the plaintext against the header (and, for chunks, against
// the name the chunk was stored under).
#ifndef CTDUMP_DATASTORE_BLOB_FORMAT_H_
#define CTDUMP_DATASTORE_BLOB_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace ctdump::datastore {

inline constexpr char kBlobMagic[8] = {'C', 'T', 'D', 'B', 'L', 'O', 'B', 0x01};
inline constexpr size_t kBlobHeaderSize = 56;
inline constexpr size_t kBlobEncryptedHeaderSize = 92;
inline constexpr size_t kBlobAadSize = 64;  // header bytes authenticated by GCM
inline constexpr uint64_t kMaxBlobRawSize = 64ull << 20;
// The largest blob (compression is kept only when it makes the payload
// smaller): what a reader reads at most of a blob object.
inline constexpr uint64_t kMaxBlobSize = kBlobEncryptedHeaderSize + kMaxBlobRawSize;

enum class BlobType : uint8_t {
  kChunk = 1,     // a piece of a data or metadata stream
  kIndex = 2,     // a dynamic index (index_format.h)
  kManifest = 3,  // a snapshot manifest (manifest_format.h)
  kText = 4,      // a task log or other text attached to a snapshot
};

inline constexpr uint8_t kBlobZstd = 0x01;
inline constexpr uint8_t kBlobEncrypted = 0x02;
inline constexpr uint8_t kBlobCrc = 0x04;  // bytes [10, 14) hold the blob's CRC-32
inline constexpr size_t kBlobCrcOffset = 10;
inline constexpr uint8_t kBlobLz4 = 0x08;  // payload: one LZ4 block (added in 0.2)

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_BLOB_FORMAT_H_
