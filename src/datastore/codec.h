// Encoding and decoding of the datastore's formats: blobs (blob_format.h),
// dynamic indexes (index_format.h), metadata records (entry_format.h) and
// manifests (manifest_format.h). Pure functions of their input: no I/O.
//
// Every decoder takes untrusted bytes (a damaged store, or a worker that
// runs as the container's root) and returns DataLoss naming `what` and the
// problem, never crashes or over-allocates (fuzzed: codec_fuzz.cc).
#ifndef CTDUMP_DATASTORE_CODEC_H_
#define CTDUMP_DATASTORE_CODEC_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypt/crypt.h"
#include "ctdump/status.h"
#include "datastore/blob_format.h"
#include "datastore/entry_format.h"

namespace ctdump::datastore {

using crypt::Digest;

// The digest of a plaintext: SHA-256, or the keyed digest under `key`.
Digest ComputeDigest(const crypt::Key* key, std::string_view plain);

// How a blob's payload is compressed: zstd (level BlobOptions::zstd_level),
// LZ4 (about twice zstd level 1's speed at a fifth less reduction: what
// backups write, recompressed to zstd later by Compact, compact.h) or not.
enum class Compression : uint8_t { kNone, kZstd, kLz4 };

// "none", "zstd", "lz4".
std::string_view CompressionName(Compression c);
// The inverse; InvalidArgument naming the accepted values.
Result<Compression> ParseCompression(std::string_view name);
// The compression of an encoded blob's payload (from its header flags).
Compression BlobCompression(uint8_t flags);

struct BlobOptions {
  BlobType type = BlobType::kChunk;
  Compression compression = Compression::kZstd;
  int zstd_level = 1;  // with kZstd; 0: store uncompressed
  const crypt::Key* key = nullptr;
};

// Encodes `plain` whose digest (ComputeDigest) is `digest`. Compression is
// kept only when it saves at least 1/32 of the size (incompressible data is
// stored raw).
Result<std::string> EncodeBlob(std::string_view plain, const Digest& digest,
                               const BlobOptions& options);

struct BlobInfo {
  BlobType type;
  uint8_t flags;
  uint64_t raw_size;
  Digest digest;
  std::optional<crypt::Fingerprint> fingerprint;
  std::optional<uint32_t> crc;  // kBlobCrc: the blob's CRC-32
};

// Parses and checks the header only.
Result<BlobInfo> ParseBlobHeader(std::string_view blob, const std::string& what);

// What can be checked of a blob without its key: the header, the CRC (if the
// blob has one: encrypted blobs written since kBlobCrc), that the payload's
// length fits the plaintext size, and the header's digest against `expected`.
// DataLoss naming `what` on a mismatch. The content itself is not checked
// (that needs the key): `crc` of the result says whether the CRC was.
Result<BlobInfo> CheckBlobWithoutKey(std::string_view blob, BlobType type, const Digest* expected,
                                     const std::string& what);

// Decodes a blob of type `type`, checking everything (blob_format.h); the
// digest must match `expected` when given. An encrypted blob needs `key`
// (FailedPrecondition naming the blob's key fingerprint without one,
// PermissionDenied when `key` has another fingerprint).
Result<std::string> DecodeBlob(std::string_view blob, BlobType type, const crypt::Key* key,
                               const Digest* expected, const std::string& what);

// The dynamic index.
struct IndexEntry {
  uint64_t end = 0;
  Digest digest;
};

std::string EncodeIndex(const std::vector<IndexEntry>& entries);
Result<std::vector<IndexEntry>> ParseIndex(std::string_view data, const std::string& what);

// One file system entry of the metadata stream.
struct Entry {
  uint32_t flags = 0;
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  int64_t ctime_sec = 0;
  uint32_t ctime_nsec = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  uint64_t rdev = 0;
  uint64_t data_offset = 0;
  uint64_t data_length = 0;
  std::string path;
  std::string link;
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::string acl_access;
  std::string acl_default;
  std::vector<std::pair<uint64_t, uint64_t>> sparse;  // (offset, length)

  bool is_hardlink() const { return flags & kEntryHardlink; }
  bool is_regular() const;  // S_ISREG and not a hardlink
};

// Appends the record of `e` to `out`.
void EncodeEntry(const Entry& e, std::string* out);

// Decodes the record at the start of `data`; returns its total size
// (length field included), or 0 when `data` holds only part of a record.
Result<size_t> DecodeEntry(std::string_view data, Entry* e, const std::string& what);

// The snapshot manifest.
struct ManifestFile {
  std::string name;
  uint64_t size = 0;
  Digest digest;
};

struct Manifest {
  int version = 2;  // manifest_format.h: 2 written, 1 still read
  std::string vmid;
  int64_t backup_time = 0;
  std::string guest_config;
  std::optional<std::string> firewall_config;
  bool unprivileged = false;
  std::vector<ManifestFile> files;
  std::optional<std::string> parent;
  std::optional<std::string> key_fingerprint;
  uint32_t chunk_min = 0, chunk_avg = 0, chunk_max = 0;
  nlohmann::json stats = nlohmann::json::object();
  // Version 2 under a key (manifest.h): the encrypted configs (hex of a text
  // blob) and the signature (64 hex). `sensitive` is false while the configs
  // are not decrypted: guest_config and firewall_config are then empty.
  std::optional<std::string> private_part;
  std::optional<std::string> signature;
  bool sensitive = true;
  // The content key wrapped to the master public key (hex), and the master
  // key's fingerprint.
  std::optional<std::string> wrapped_key;
  std::optional<std::string> master_fingerprint;

  const ManifestFile* File(std::string_view name) const;
  // A non-negative integer of `stats`, 0 when missing or of another type.
  uint64_t Stat(const char* key) const;
};

// The manifest's JSON as written: version 1 or 2 as `m.version` says, its
// "private" and "signature" members as they are in `m` (SealManifest in
// manifest.h fills them).
nlohmann::json ManifestJson(const Manifest& m);
std::string EncodeManifest(const Manifest& m);
// Parses a manifest of version 1 or 2. A sealed version 2 manifest (under a
// key) is returned with `sensitive` false; its signature is not checked
// (UnsealManifest does that with the key).
Result<Manifest> ParseManifest(std::string_view json, const std::string& what);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_CODEC_H_
