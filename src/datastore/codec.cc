#include "datastore/codec.h"

#include <fmt/format.h>
#include <lz4.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

#include "datastore/index_format.h"
#include "datastore/manifest_format.h"

namespace ctdump::datastore {
namespace {

// Little endian on every host; one memcpy where the host is little endian.
void PutU32(std::string* out, uint32_t v) {
  if constexpr (std::endian::native != std::endian::little) v = __builtin_bswap32(v);
  out->append(reinterpret_cast<const char*>(&v), 4);
}
void PutU64(std::string* out, uint64_t v) {
  if constexpr (std::endian::native != std::endian::little) v = __builtin_bswap64(v);
  out->append(reinterpret_cast<const char*>(&v), 8);
}
void PutStr(std::string* out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}
uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native != std::endian::little) v = __builtin_bswap32(v);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native != std::endian::little) v = __builtin_bswap64(v);
  return v;
}

// A bounds-checked cursor over a record.
class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool U32(uint32_t* v) {
    if (d_.size() - pos_ < 4) return false;
    *v = GetU32(d_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    if (d_.size() - pos_ < 8) return false;
    *v = GetU64(d_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!U64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n;
    if (!U32(&n) || d_.size() - pos_ < n) return false;
    s->assign(d_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  size_t left() const { return d_.size() - pos_; }

 private:
  std::string_view d_;
  size_t pos_ = 0;
};

struct CctxDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxDeleter {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

ZSTD_CCtx* ThreadCctx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CctxDeleter> ctx(ZSTD_createCCtx());
  return ctx.get();
}
ZSTD_DCtx* ThreadDctx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DctxDeleter> ctx(ZSTD_createDCtx());
  return ctx.get();
}

Status Damaged(const std::string& what, std::string_view problem) {
  return DataLossError(fmt::format("{} is damaged: {}", what, problem));
}

// CRC-32 of `blob` with its CRC field read as 0.
uint32_t BlobCrc(std::string_view blob) {
  static constexpr char kZero[4] = {};
  auto crc = [](uLong c, std::string_view s) {
    for (size_t off = 0; off < s.size();) {  // zlib's length is a uInt
      uInt n = static_cast<uInt>(std::min<size_t>(s.size() - off, 1u << 30));
      c = ::crc32(c, reinterpret_cast<const Bytef*>(s.data() + off), n);
      off += n;
    }
    return c;
  };
  uLong c = ::crc32(0L, Z_NULL, 0);
  c = crc(c, blob.substr(0, kBlobCrcOffset));
  c = crc(c, std::string_view(kZero, 4));
  c = crc(c, blob.substr(kBlobCrcOffset + 4));
  return static_cast<uint32_t>(c);
}

// The GCM additional data: header bytes [0, kBlobAadSize), the CRC field as 0
// (it is computed over the finished blob, after encryption).
std::string BlobAad(std::string_view blob) {
  std::string aad(blob.substr(0, kBlobAadSize));
  std::memset(aad.data() + kBlobCrcOffset, 0, 4);
  return aad;
}

}  // namespace

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kZstd:
      return "zstd";
    case Compression::kLz4:
      return "lz4";
  }
  return "?";
}

Result<Compression> ParseCompression(std::string_view name) {
  for (Compression c : {Compression::kLz4, Compression::kZstd, Compression::kNone})
    if (name == CompressionName(c)) return c;
  return InvalidArgumentError(fmt::format("unknown compression '{}' (lz4, zstd or none)", name));
}

Compression BlobCompression(uint8_t flags) {
  if (flags & kBlobZstd) return Compression::kZstd;
  if (flags & kBlobLz4) return Compression::kLz4;
  return Compression::kNone;
}

Digest ComputeDigest(const crypt::Key* key, std::string_view plain) {
  return key ? key->KeyedDigest(plain.data(), plain.size()) : crypt::Sha256(plain);
}

Result<std::string> EncodeBlob(std::string_view plain, const Digest& digest,
                               const BlobOptions& options) {
  if (plain.size() > kMaxBlobRawSize)
    return InvalidArgumentError(fmt::format("blob of {} bytes is too large", plain.size()));
  std::string header(kBlobHeaderSize, '\0');
  std::memcpy(header.data(), kBlobMagic, 8);
  header[8] = static_cast<char>(options.type);
  std::string compressed;
  std::string_view payload = plain;
  uint8_t flags = 0;
  // Kept only when it saves at least 1/32 of the size.
  const size_t worth = plain.size() - plain.size() / 32;
  if (options.compression == Compression::kLz4 && plain.size() >= 64) {
    // The size fits an int: kMaxBlobRawSize is 64 MiB.
    const int in = static_cast<int>(plain.size());
    compressed.resize(static_cast<size_t>(LZ4_compressBound(in)));
    int n = LZ4_compress_default(plain.data(), compressed.data(), in,
                                 static_cast<int>(compressed.size()));
    if (n > 0 && static_cast<size_t>(n) < worth) {
      compressed.resize(static_cast<size_t>(n));
      payload = compressed;
      flags |= kBlobLz4;
    }
  } else if (options.compression == Compression::kZstd && options.zstd_level > 0 &&
             plain.size() >= 64) {
    compressed.resize(ZSTD_compressBound(plain.size()));
    size_t n = ZSTD_compressCCtx(ThreadCctx(), compressed.data(), compressed.size(), plain.data(),
                                 plain.size(), options.zstd_level);
    if (!ZSTD_isError(n) && n < worth) {
      compressed.resize(n);
      payload = compressed;
      flags |= kBlobZstd;
    }
  }
  if (options.key) flags |= kBlobEncrypted | kBlobCrc;
  header[9] = static_cast<char>(flags);
  std::string size_le;
  PutU64(&size_le, plain.size());
  std::memcpy(header.data() + 16, size_le.data(), 8);
  std::memcpy(header.data() + 24, digest.bytes.data(), 32);
  if (!options.key) {
    header.append(payload);
    return header;
  }
  const auto& fp = options.key->fingerprint();
  header.append(reinterpret_cast<const char*>(fp.data()), fp.size());
  uint8_t iv[crypt::kIvSize], tag[crypt::kTagSize];
  std::string cipher;
  cipher.reserve(payload.size());
  RETURN_IF_ERROR(options.key->Encrypt(payload, std::string_view(header.data(), kBlobAadSize), iv,
                                       tag, &cipher));
  header.append(reinterpret_cast<const char*>(iv), sizeof(iv));
  header.append(reinterpret_cast<const char*>(tag), sizeof(tag));
  header.append(cipher);
  std::string crc_le;
  PutU32(&crc_le, BlobCrc(header));
  std::memcpy(header.data() + kBlobCrcOffset, crc_le.data(), 4);
  return header;
}

Result<BlobInfo> ParseBlobHeader(std::string_view blob, const std::string& what) {
  if (blob.size() < kBlobHeaderSize) return Damaged(what, "shorter than a blob header");
  if (std::memcmp(blob.data(), kBlobMagic, 7) != 0) return Damaged(what, "not a ctdump blob");
  if (blob[7] != kBlobMagic[7])
    return Damaged(what, fmt::format("unsupported blob version {}", static_cast<int>(blob[7])));
  BlobInfo info;
  uint8_t type = static_cast<uint8_t>(blob[8]);
  if (type < 1 || type > 4) return Damaged(what, fmt::format("unknown blob type {}", type));
  info.type = static_cast<BlobType>(type);
  info.flags = static_cast<uint8_t>(blob[9]);
  if (info.flags & ~(kBlobZstd | kBlobEncrypted | kBlobCrc | kBlobLz4))
    return Damaged(what, "unknown blob flags (written by a newer ctdump?)");
  if ((info.flags & kBlobZstd) && (info.flags & kBlobLz4))
    return Damaged(what, "both zstd and LZ4 compression flags are set");
  for (size_t i = (info.flags & kBlobCrc) ? kBlobCrcOffset + 4 : kBlobCrcOffset; i < 16; ++i)
    if (blob[i] != 0) return Damaged(what, "reserved header bytes are set");
  if (info.flags & kBlobCrc) info.crc = GetU32(blob.data() + kBlobCrcOffset);
  info.raw_size = GetU64(blob.data() + 16);
  if (info.raw_size > kMaxBlobRawSize) return Damaged(what, "implausible plaintext size");
  std::memcpy(info.digest.bytes.data(), blob.data() + 24, 32);
  if (info.flags & kBlobEncrypted) {
    if (blob.size() < kBlobEncryptedHeaderSize)
      return Damaged(what, "shorter than an encrypted blob header");
    crypt::Fingerprint fp;
    std::memcpy(fp.data(), blob.data() + kBlobHeaderSize, fp.size());
    info.fingerprint = fp;
  }
  return info;
}

Result<BlobInfo> CheckBlobWithoutKey(std::string_view blob, BlobType type, const Digest* expected,
                                     const std::string& what) {
  ASSIGN_OR_RETURN(BlobInfo info, ParseBlobHeader(blob, what));
  if (info.type != type)
    return Damaged(what, fmt::format("blob type {} where {} was expected",
                                     static_cast<int>(info.type), static_cast<int>(type)));
  if (info.crc && BlobCrc(blob) != *info.crc) return Damaged(what, "CRC mismatch");
  const size_t header = info.fingerprint ? kBlobEncryptedHeaderSize : kBlobHeaderSize;
  const uint64_t payload = blob.size() - header;
  if ((info.flags & (kBlobZstd | kBlobLz4)) ? payload >= info.raw_size || payload == 0
                                            : payload != info.raw_size)
    return Damaged(what, "payload size does not fit the plaintext size");
  if (expected && *expected != info.digest)
    return Damaged(what, "content does not match its name or reference");
  return info;
}

Result<std::string> DecodeBlob(std::string_view blob, BlobType type, const crypt::Key* key,
                               const Digest* expected, const std::string& what) {
  ASSIGN_OR_RETURN(BlobInfo info, ParseBlobHeader(blob, what));
  if (info.type != type)
    return Damaged(what, fmt::format("blob type {} where {} was expected",
                                     static_cast<int>(info.type), static_cast<int>(type)));
  if (info.crc && BlobCrc(blob) != *info.crc) return Damaged(what, "CRC mismatch");
  std::string_view payload;
  std::string decrypted;
  if (info.fingerprint) {
    if (!key)
      return FailedPreconditionError(
          fmt::format("{} is encrypted with key {}, and no encryption key is configured", what,
                      crypt::FingerprintString(*info.fingerprint)));
    if (key->fingerprint() != *info.fingerprint)
      return PermissionDeniedError(
          fmt::format("{} is encrypted with key {}, not with the configured key {}", what,
                      crypt::FingerprintString(*info.fingerprint),
                      crypt::FingerprintString(key->fingerprint())));
    const auto* iv = reinterpret_cast<const uint8_t*>(blob.data() + 64);
    const auto* tag = reinterpret_cast<const uint8_t*>(blob.data() + 76);
    Status s =
        key->Decrypt(blob.substr(kBlobEncryptedHeaderSize), BlobAad(blob), iv, tag, &decrypted);
    if (!s.ok()) return Damaged(what, "authentication failed (GCM tag mismatch)");
    payload = decrypted;
  } else {
    if (key && type == BlobType::kManifest)
      return PermissionDeniedError(
          fmt::format("{} is not encrypted, but the storage has an encryption key", what));
    payload = blob.substr(kBlobHeaderSize);
  }
  std::string plain;
  if (info.flags & kBlobZstd) {
    unsigned long long content = ZSTD_getFrameContentSize(payload.data(), payload.size());
    if (content != info.raw_size) return Damaged(what, "compressed frame size mismatch");
    plain.resize(info.raw_size);
    size_t n = ZSTD_decompressDCtx(ThreadDctx(), plain.data(), plain.size(), payload.data(),
                                   payload.size());
    if (ZSTD_isError(n) || n != info.raw_size)
      return Damaged(
          what, fmt::format("zstd: {}", ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame"));
  } else if (info.flags & kBlobLz4) {
    if (payload.empty() || payload.size() >= info.raw_size)
      return Damaged(what, "compressed block size mismatch");
    plain.resize(info.raw_size);
    // Safe on hostile input: never reads or writes outside the two buffers.
    int n = LZ4_decompress_safe(payload.data(), plain.data(), static_cast<int>(payload.size()),
                                static_cast<int>(plain.size()));
    if (n < 0 || static_cast<uint64_t>(n) != info.raw_size)
      return Damaged(what, n < 0 ? "lz4: malformed block" : "lz4: short block");
  } else {
    if (payload.size() != info.raw_size) return Damaged(what, "payload size mismatch");
    plain.assign(payload);
  }
  Digest got =
      info.fingerprint ? key->KeyedDigest(plain.data(), plain.size()) : crypt::Sha256(plain);
  if (got != info.digest) return Damaged(what, "digest mismatch");
  if (expected && *expected != info.digest)
    return Damaged(what, "content does not match its name or reference");
  return plain;
}

std::string EncodeIndex(const std::vector<IndexEntry>& entries) {
  std::string out(kIndexMagic, 8);
  PutU64(&out, entries.empty() ? 0 : entries.back().end);
  PutU64(&out, entries.size());
  out.reserve(out.size() + entries.size() * kIndexEntrySize);
  for (const auto& e : entries) {
    PutU64(&out, e.end);
    out.append(reinterpret_cast<const char*>(e.digest.bytes.data()), 32);
  }
  return out;
}

Result<std::vector<IndexEntry>> ParseIndex(std::string_view data, const std::string& what) {
  if (data.size() < kIndexHeaderSize || std::memcmp(data.data(), kIndexMagic, 6) != 0)
    return Damaged(what, "not a ctdump index");
  if (data[6] != kIndexMagic[6] || data[7] != kIndexMagic[7])
    return Damaged(what, "unsupported index version");
  uint64_t length = GetU64(data.data() + 8);
  uint64_t count = GetU64(data.data() + 16);
  if (count > (data.size() - kIndexHeaderSize) / kIndexEntrySize ||
      data.size() != kIndexHeaderSize + count * kIndexEntrySize)
    return Damaged(what, "entry count does not match the size");
  std::vector<IndexEntry> out(count);
  uint64_t prev = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const char* p = data.data() + kIndexHeaderSize + i * kIndexEntrySize;
    out[i].end = GetU64(p);
    if (out[i].end <= prev) return Damaged(what, fmt::format("entry {} is out of order", i));
    prev = out[i].end;
    std::memcpy(out[i].digest.bytes.data(), p + 8, 32);
  }
  if (prev != length) return Damaged(what, "stream length does not match the last entry");
  return out;
}

bool Entry::is_regular() const { return S_ISREG(mode) && !is_hardlink(); }

void EncodeEntry(const Entry& e, std::string* out) {
  size_t start = out->size();
  PutU32(out, 0);  // length, patched below
  PutU32(out, e.flags);
  PutU32(out, e.mode);
  PutU32(out, e.uid);
  PutU32(out, e.gid);
  PutU64(out, static_cast<uint64_t>(e.mtime_sec));
  PutU32(out, e.mtime_nsec);
  PutU64(out, static_cast<uint64_t>(e.ctime_sec));
  PutU32(out, e.ctime_nsec);
  PutU64(out, e.ino);
  PutU64(out, e.size);
  PutU64(out, e.rdev);
  PutU64(out, e.data_offset);
  PutU64(out, e.data_length);
  PutStr(out, e.path);
  PutStr(out, e.link);
  PutU32(out, static_cast<uint32_t>(e.xattrs.size()));
  for (const auto& [n, v] : e.xattrs) {
    PutStr(out, n);
    PutStr(out, v);
  }
  PutStr(out, e.acl_access);
  PutStr(out, e.acl_default);
  PutU32(out, static_cast<uint32_t>(e.sparse.size()));
  for (const auto& [o, l] : e.sparse) {
    PutU64(out, o);
    PutU64(out, l);
  }
  uint32_t len = static_cast<uint32_t>(out->size() - start - 4);
  for (int i = 0; i < 4; ++i) (*out)[start + i] = static_cast<char>(len >> (8 * i));
}

Result<size_t> DecodeEntry(std::string_view data, Entry* e, const std::string& what) {
  if (data.size() < 4) return size_t{0};
  uint32_t len = GetU32(data.data());
  if (len > kMaxRecordSize || len < kRecordFixedSize - 4)
    return Damaged(what, fmt::format("record length {} is out of range", len));
  if (data.size() - 4 < len) return size_t{0};
  Reader r(data.substr(4, len));
  uint32_t xattrs = 0, regions = 0;
  bool ok = r.U32(&e->flags) && r.U32(&e->mode) && r.U32(&e->uid) && r.U32(&e->gid) &&
            r.I64(&e->mtime_sec) && r.U32(&e->mtime_nsec) && r.I64(&e->ctime_sec) &&
            r.U32(&e->ctime_nsec) && r.U64(&e->ino) && r.U64(&e->size) && r.U64(&e->rdev) &&
            r.U64(&e->data_offset) && r.U64(&e->data_length) && r.Str(&e->path) &&
            r.Str(&e->link) && r.U32(&xattrs);
  if (!ok) return Damaged(what, "truncated record");
  if (e->flags & ~kEntryKnownFlags) return Damaged(what, "unknown record flags");
  if (e->mtime_nsec >= 1'000'000'000 || e->ctime_nsec >= 1'000'000'000)
    return Damaged(what, fmt::format("bad timestamp in the record of '{}'", e->path));
  e->xattrs.clear();
  if (xattrs > r.left() / 8) return Damaged(what, "xattr count exceeds the record");
  for (uint32_t i = 0; i < xattrs; ++i) {
    std::string n, v;
    if (!r.Str(&n) || !r.Str(&v)) return Damaged(what, "truncated xattr");
    e->xattrs.emplace_back(std::move(n), std::move(v));
  }
  if (!r.Str(&e->acl_access) || !r.Str(&e->acl_default) || !r.U32(&regions))
    return Damaged(what, "truncated record");
  e->sparse.clear();
  if (regions > r.left() / 16) return Damaged(what, "sparse map exceeds the record");
  uint64_t end = 0, stored = 0;
  for (uint32_t i = 0; i < regions; ++i) {
    uint64_t o = 0, l = 0;  // set by U64: the region count was checked against left()
    r.U64(&o);
    r.U64(&l);
    if (o < end || l > e->size || o > e->size - l)
      return Damaged(what, fmt::format("bad sparse map in the record of '{}'", e->path));
    end = o + l;
    stored += l;
    e->sparse.emplace_back(o, l);
  }
  if (r.left() != 0) return Damaged(what, "trailing bytes in a record");
  if (!e->sparse.empty() && stored != e->data_length)
    return Damaged(what, fmt::format("sparse map of '{}' does not match its data", e->path));
  if (e->data_offset + e->data_length < e->data_offset)
    return Damaged(what, "data range overflows");
  return size_t{4} + len;
}

const ManifestFile* Manifest::File(std::string_view name) const {
  for (const auto& f : files)
    if (f.name == name) return &f;
  return nullptr;
}

uint64_t Manifest::Stat(const char* key) const {
  auto it = stats.find(key);
  if (it == stats.end() || !it->is_number_unsigned()) return 0;
  return it->get<uint64_t>();
}

nlohmann::json ManifestJson(const Manifest& m) {
  nlohmann::json j;
  j["format"] = kManifestFormat;
  j["version"] = m.version;
  j["vmid"] = m.vmid;
  j["backup-time"] = m.backup_time;
  if (m.version == 1 || !m.private_part) {
    j["guest-config"] = m.guest_config;
    j["firewall-config"] = m.firewall_config ? nlohmann::json(*m.firewall_config) : nullptr;
  } else {
    j["private"] = *m.private_part;
  }
  j["unprivileged"] = m.unprivileged;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : m.files)
    files.push_back({{"name", f.name}, {"size", f.size}, {"digest", f.digest.Hex()}});
  j["files"] = files;
  j["parent"] = m.parent ? nlohmann::json(*m.parent) : nullptr;
  j["key-fingerprint"] = m.key_fingerprint ? nlohmann::json(*m.key_fingerprint) : nullptr;
  if (m.wrapped_key) j["rsa-encrypted-key"] = *m.wrapped_key;
  if (m.master_fingerprint) j["master-key-fingerprint"] = *m.master_fingerprint;
  j["chunker"] = {{"min", m.chunk_min}, {"avg", m.chunk_avg}, {"max", m.chunk_max}};
  j["stats"] = m.stats;
  if (m.signature) j["signature"] = *m.signature;
  return j;
}

std::string EncodeManifest(const Manifest& m) {
  return ManifestJson(m).dump(1, '\t', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<Manifest> ParseManifest(std::string_view text, const std::string& what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Damaged(what, "not a JSON object");
  Manifest m;
  try {
    if (j.at("format").get<std::string>() != kManifestFormat)
      return Damaged(what, "not a ctdump snapshot manifest");
    // get<integer>() of a floating-point number outside the integer's range
    // is undefined behaviour: integer fields must hold JSON integers.
    const auto& c = j.at("chunker");
    const nlohmann::json* integers[] = {&j.at("version"), &j.at("backup-time"), &c.at("min"),
                                        &c.at("avg"), &c.at("max")};
    for (const nlohmann::json* v : integers)
      if (!v->is_number_integer()) return Damaged(what, "bad manifest field: not an integer");
    int version = j.at("version").get<int>();
    if (version != 1 && version != kManifestVersion)
      return Damaged(what, fmt::format("unsupported manifest version {}", version));
    m.version = version;
    m.vmid = j.at("vmid").get<std::string>();
    m.backup_time = j.at("backup-time").get<int64_t>();
    if (version >= 2 && j.contains("private")) {
      // Sealed under a key (manifest.h): the configs are in "private".
      m.private_part = j["private"].get<std::string>();
      m.sensitive = false;
      if (j.contains("guest-config") || j.contains("firewall-config"))
        return Damaged(what, "a sealed manifest with its configs in the clear");
    } else {
      m.guest_config = j.at("guest-config").get<std::string>();
      if (!j.at("firewall-config").is_null())
        m.firewall_config = j.at("firewall-config").get<std::string>();
    }
    if (version >= 2 && j.contains("signature")) {
      m.signature = j["signature"].get<std::string>();
      if (!Digest::FromHex(*m.signature).ok()) return Damaged(what, "malformed signature");
    }
    if (j.contains("rsa-encrypted-key")) m.wrapped_key = j["rsa-encrypted-key"].get<std::string>();
    if (j.contains("master-key-fingerprint"))
      m.master_fingerprint = j["master-key-fingerprint"].get<std::string>();
    m.unprivileged = j.value("unprivileged", false);
    for (const auto& f : j.at("files")) {
      ManifestFile mf;
      mf.name = f.at("name").get<std::string>();
      if (!f.at("size").is_number_integer())
        return Damaged(what, "bad manifest field: not an integer");
      mf.size = f.at("size").get<uint64_t>();
      auto d = Digest::FromHex(f.at("digest").get<std::string>());
      if (!d.ok()) return Damaged(what, "bad file digest");
      mf.digest = *d;
      m.files.push_back(std::move(mf));
    }
    if (j.contains("parent") && !j["parent"].is_null()) m.parent = j["parent"].get<std::string>();
    if (j.contains("key-fingerprint") && !j["key-fingerprint"].is_null())
      m.key_fingerprint = j["key-fingerprint"].get<std::string>();
    m.chunk_min = c.at("min").get<uint32_t>();
    m.chunk_avg = c.at("avg").get<uint32_t>();
    m.chunk_max = c.at("max").get<uint32_t>();
    if (j.contains("stats") && j["stats"].is_object()) m.stats = j["stats"];
  } catch (const nlohmann::json::exception& e) {
    return Damaged(what, fmt::format("bad manifest field: {}", e.what()));
  }
  if (!m.File(kMetaIndexName) || !m.File(kDataIndexName))
    return Damaged(what, "manifest lists no metadata or data index");
  // A v2 manifest under a key is sealed: signed, its configs private. One
  // without a key has neither.
  if (m.version >= 2 && m.key_fingerprint.has_value() != m.signature.has_value())
    return Damaged(what, m.signature ? "a signature without a key fingerprint"
                                     : "encrypted backup without a signature");
  if (m.version >= 2 && m.key_fingerprint.has_value() != m.private_part.has_value())
    return Damaged(what, "the private part does not fit the key fingerprint");
  return m;
}

}  // namespace ctdump::datastore
