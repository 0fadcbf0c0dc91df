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

struct BlobOptions {
  BlobType type = BlobType::kChunk;
  int zstd_level = 1;  // 0: store uncompressed
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
};

// Parses and checks the header only.
Result<BlobInfo> ParseBlobHeader(std::string_view blob, const std::string& what);

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

  const ManifestFile* File(std::string_view name) const;
  // A non-negative integer of `stats`, 0 when missing or of another type.
  uint64_t Stat(const char* key) const;
};

std::string EncodeManifest(const Manifest& m);
Result<Manifest> ParseManifest(std::string_view json, const std::string& what);

}  // namespace ctdump::datastore

#endif  // CTDUMP_DATASTORE_CODEC_H_
