#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datastore/blob_format.h"
#include "datastore/codec.h"
#include "datastore/datastore_test_util.h"
#include "datastore/entry_format.h"
#include "datastore/index_format.h"
#include "datastore/manifest_format.h"

namespace ctdump::datastore {
namespace {

using testing::Contains;
using testing::ExpectSameEntry;
using testing::RandomBytes;
using testing::TestKey;
using testing::TextBytes;

const std::string kWhat = "chunk 'chunks/abcd/test'";

std::string Encode(std::string_view plain, BlobType type, int zstd_level, const crypt::Key* key,
                   Compression compression = Compression::kZstd) {
  BlobOptions o;
  o.type = type;
  o.compression = compression;
  o.zstd_level = zstd_level;
  o.key = key;
  auto blob = EncodeBlob(plain, ComputeDigest(key, plain), o);
  EXPECT_TRUE(blob.ok()) << blob.status().ToString();
  return blob.ok() ? *blob : std::string();
}

void PutU64At(std::string* s, size_t pos, uint64_t v) {
  for (int i = 0; i < 8; ++i) (*s)[pos + i] = static_cast<char>(v >> (8 * i));
}

// ---------------------------------------------------------------------------
// Blobs

TEST(BlobTest, RoundTripEveryTypeCompressionAndKey) {
  const crypt::Key key = TestKey(1);
  const BlobType types[] = {BlobType::kChunk, BlobType::kIndex, BlobType::kManifest,
                            BlobType::kText};
  struct Content {
    const char* name;
    std::string bytes;
    bool compressible;
  };
  const std::vector<Content> contents = {
      {"empty", "", false},
      {"one byte", "x", false},
      {"63 bytes of text", TextBytes(63), false},  // below the compression threshold
      {"text", TextBytes(100 * 1024), true},
      {"random", RandomBytes(100 * 1024, 1), false},
  };
  struct Codec {
    Compression compression;
    int level;
  };
  const Codec codecs[] = {{Compression::kZstd, 0},
                          {Compression::kZstd, 1},
                          {Compression::kZstd, 9},
                          {Compression::kLz4, 0},
                          {Compression::kNone, 1}};
  for (BlobType type : types) {
    for (const Codec& codec : codecs) {
      const int level = codec.level;
      for (const crypt::Key* k : {static_cast<const crypt::Key*>(nullptr), &key}) {
        for (const Content& c : contents) {
          SCOPED_TRACE(::testing::Message() << "type " << static_cast<int>(type) << ", "
                                            << CompressionName(codec.compression) << " " << level
                                            << ", key " << (k != nullptr) << ", " << c.name);
          std::string blob = Encode(c.bytes, type, level, k, codec.compression);
          auto info = ParseBlobHeader(blob, kWhat);
          ASSERT_TRUE(info.ok()) << info.status().ToString();
          EXPECT_EQ(info->type, type);
          const bool lz4 = codec.compression == Compression::kLz4 && c.compressible;
          const bool zstd = codec.compression == Compression::kZstd && level > 0 && c.compressible;
          EXPECT_EQ(info->flags, (zstd ? kBlobZstd : 0) | (lz4 ? kBlobLz4 : 0) |
                                     (k ? kBlobEncrypted | kBlobCrc : 0));
          EXPECT_EQ(BlobCompression(info->flags), zstd  ? Compression::kZstd
                                                  : lz4 ? Compression::kLz4
                                                        : Compression::kNone);
          EXPECT_EQ(info->crc.has_value(), k != nullptr);
          EXPECT_EQ(info->raw_size, c.bytes.size());
          EXPECT_EQ(info->digest, ComputeDigest(k, c.bytes));
          EXPECT_EQ(info->fingerprint.has_value(), k != nullptr);
          if (k) {
            EXPECT_EQ(*info->fingerprint, k->fingerprint());
          }
          const size_t header = k ? kBlobEncryptedHeaderSize : kBlobHeaderSize;
          if (zstd || lz4) {
            EXPECT_LT(blob.size(), header + c.bytes.size() / 2);
          } else {
            EXPECT_EQ(blob.size(), header + c.bytes.size());
          }
          if (k == nullptr && !zstd && !lz4) {
            EXPECT_EQ(blob.substr(header), c.bytes);  // stored raw
          }
          if (k != nullptr && c.bytes.size() >= 64 && !zstd && !lz4) {
            EXPECT_EQ(blob.find(c.bytes.substr(0, 64)), std::string::npos);  // really encrypted
          }
          Digest d = ComputeDigest(k, c.bytes);
          auto plain = DecodeBlob(blob, type, k, &d, kWhat);
          ASSERT_TRUE(plain.ok()) << plain.status().ToString();
          EXPECT_EQ(*plain, c.bytes);
        }
      }
    }
  }
}

TEST(BlobTest, EncryptionUsesFreshIvs) {
  const crypt::Key key = TestKey(2);
  std::string a = Encode("same plaintext", BlobType::kChunk, 0, &key);
  std::string b = Encode("same plaintext", BlobType::kChunk, 0, &key);
  // The same header (the CRC apart: it covers the IV and ciphertext too).
  EXPECT_EQ(a.substr(0, kBlobCrcOffset), b.substr(0, kBlobCrcOffset));
  EXPECT_EQ(a.substr(kBlobCrcOffset + 4, kBlobAadSize - kBlobCrcOffset - 4),
            b.substr(kBlobCrcOffset + 4, kBlobAadSize - kBlobCrcOffset - 4));
  EXPECT_NE(a.substr(kBlobAadSize), b.substr(kBlobAadSize));
}

TEST(BlobTest, TooLargeIsRejected) {
  std::string big(kMaxBlobRawSize + 1, 'a');
  auto blob = EncodeBlob(big, Digest{}, BlobOptions{});
  ASSERT_FALSE(blob.ok());
  EXPECT_EQ(blob.status().code(), Code::kInvalidArgument);
}

TEST(BlobTest, KeyedDigestsDifferFromSha256) {
  const crypt::Key a = TestKey(3), b = TestKey(4);
  for (const std::string& s : {std::string(), std::string("abc"), TextBytes(5000)}) {
    EXPECT_EQ(ComputeDigest(nullptr, s), crypt::Sha256(s));
    EXPECT_NE(ComputeDigest(&a, s), crypt::Sha256(s));
    EXPECT_NE(ComputeDigest(&a, s), ComputeDigest(&b, s));
    EXPECT_EQ(ComputeDigest(&a, s), ComputeDigest(&a, s));
    EXPECT_EQ(ComputeDigest(&a, s), TestKey(3).KeyedDigest(s.data(), s.size()));
  }
  EXPECT_NE(a.fingerprint(), b.fingerprint());
}

TEST(BlobTest, WrongKeyIsPermissionDeniedNamingBothFingerprints) {
  const crypt::Key a = TestKey(5), b = TestKey(6);
  std::string blob = Encode(TextBytes(1000), BlobType::kChunk, 1, &a);
  auto r = DecodeBlob(blob, BlobType::kChunk, &b, nullptr, kWhat);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_TRUE(Contains(r.status().message(), kWhat)) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), crypt::FingerprintString(a.fingerprint())));
  EXPECT_TRUE(Contains(r.status().message(), crypt::FingerprintString(b.fingerprint())));
}

TEST(BlobTest, MissingKeyIsFailedPreconditionNamingTheFingerprint) {
  const crypt::Key a = TestKey(7);
  for (BlobType type : {BlobType::kChunk, BlobType::kManifest}) {
    std::string blob = Encode("secret", type, 0, &a);
    auto r = DecodeBlob(blob, type, nullptr, nullptr, kWhat);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
    EXPECT_TRUE(Contains(r.status().message(), kWhat)) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), crypt::FingerprintString(a.fingerprint())))
        << r.status().message();
  }
}

TEST(BlobTest, UnencryptedManifestUnderAKeyIsPermissionDenied) {
  const crypt::Key a = TestKey(8);
  {
    std::string blob = Encode(TextBytes(300), BlobType::kManifest, 1, nullptr);
    auto r = DecodeBlob(blob, BlobType::kManifest, &a, nullptr, kWhat);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
    EXPECT_TRUE(Contains(r.status().message(), kWhat)) << r.status().message();
  }
  // Indexes are plain in every store (the authenticated manifest pins them).
  {
    std::string plain = TextBytes(300);
    std::string blob = Encode(plain, BlobType::kIndex, 1, nullptr);
    auto r = DecodeBlob(blob, BlobType::kIndex, &a, nullptr, kWhat);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(*r, plain);
  }
  // An unencrypted chunk cannot pass for the keyed id it is stored under.
  std::string plain = TextBytes(300);
  std::string blob = Encode(plain, BlobType::kChunk, 1, nullptr);
  Digest keyed = ComputeDigest(&a, plain);
  auto r = DecodeBlob(blob, BlobType::kChunk, &a, &keyed, kWhat);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
}

TEST(BlobTest, ExpectedDigestAndTypeMismatchAreDataLoss) {
  const crypt::Key a = TestKey(9);
  for (const crypt::Key* k : {static_cast<const crypt::Key*>(nullptr), &a}) {
    std::string blob = Encode("payload", BlobType::kChunk, 0, k);
    Digest other = ComputeDigest(k, "other payload");
    auto r = DecodeBlob(blob, BlobType::kChunk, k, &other, kWhat);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(r.status().message(), kWhat)) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), "does not match")) << r.status().message();

    auto t = DecodeBlob(blob, BlobType::kIndex, k, nullptr, kWhat);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(t.status().message(), kWhat)) << t.status().message();
  }
}

// Positions to damage: all of a small blob; the headers, a sample and the
// tail of a big one.
std::vector<size_t> Positions(size_t size) {
  std::vector<size_t> out;
  if (size <= 8192) {
    for (size_t i = 0; i < size; ++i) out.push_back(i);
    return out;
  }
  for (size_t i = 0; i < kBlobEncryptedHeaderSize + 64; ++i) out.push_back(i);
  for (size_t i = kBlobEncryptedHeaderSize + 64; i < size - 16; i += size / 29) out.push_back(i);
  for (size_t i = size - 16; i < size; ++i) out.push_back(i);
  return out;
}

// Every byte flip, truncation and extension of `blob` (which encodes
// `plain`) must be detected with an error naming kWhat. Returns how many
// flips inside a zstd frame decoded to the very same plaintext (harmless:
// proven by the digest), which the caller bounds.
size_t ExpectDamageDetected(const std::string& blob, const std::string& plain, BlobType type,
                            const crypt::Key* key) {
  auto info = ParseBlobHeader(blob, kWhat);
  EXPECT_TRUE(info.ok());
  if (!info.ok()) return 0;
  const bool encrypted = info->flags & kBlobEncrypted;
  // A flipped bit of a compressed payload may decode to the same bytes.
  const bool zstd = info->flags & (kBlobZstd | kBlobLz4);
  const size_t payload = encrypted ? kBlobEncryptedHeaderSize : kBlobHeaderSize;
  size_t harmless = 0;
  std::string bad = blob;
  for (size_t i : Positions(blob.size())) {
    for (uint8_t flip : {0x01, 0x80, 0xff}) {
      bad[i] = static_cast<char>(blob[i] ^ flip);
      auto r = DecodeBlob(bad, type, key, nullptr, kWhat);
      bad[i] = blob[i];
      if (r.ok()) {
        EXPECT_TRUE(zstd && !encrypted && i >= payload)
            << "undetected flip 0x" << std::hex << int{flip} << " at " << std::dec << i;
        EXPECT_EQ(*r, plain);
        ++harmless;
        continue;
      }
      const Status& s = r.status();
      EXPECT_TRUE(Contains(s.message(), kWhat)) << "flip at " << i << ": " << s.message();
      if (encrypted && !info->crc && i >= kBlobHeaderSize &&
          i < kBlobHeaderSize + crypt::kFingerprintSize) {
        EXPECT_EQ(s.code(), Code::kPermissionDenied) << "flip at " << i << ": " << s.message();
      } else if (!encrypted && i == 9) {
        // The flags now claim encryption: no key configured.
        EXPECT_TRUE(s.code() == Code::kDataLoss || s.code() == Code::kFailedPrecondition)
            << s.message();
      } else {
        EXPECT_EQ(s.code(), Code::kDataLoss)
            << "flip 0x" << std::hex << int{flip} << " at " << std::dec << i << ": " << s.message();
      }
    }
  }
  std::vector<size_t> cuts = {0,
                              1,
                              7,
                              8,
                              9,
                              16,
                              24,
                              55,
                              56,
                              57,
                              63,
                              64,
                              75,
                              76,
                              91,
                              92,
                              93,
                              blob.size() / 2,
                              blob.size() - 2,
                              blob.size() - 1};
  for (size_t n : cuts) {
    if (n >= blob.size()) continue;
    auto r = DecodeBlob(std::string_view(blob).substr(0, n), type, key, nullptr, kWhat);
    if (r.ok()) {
      ADD_FAILURE() << "truncated to " << n << " bytes and still decoded";
      continue;
    }
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), kWhat)) << r.status().message();
  }
  for (const std::string& tail : {std::string(1, '\0'), std::string("garbage")}) {
    auto r = DecodeBlob(blob + tail, type, key, nullptr, kWhat);
    if (r.ok()) {
      ADD_FAILURE() << "extended by " << tail.size() << " bytes and still decoded";
      continue;
    }
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), kWhat)) << r.status().message();
  }
  return harmless;
}

TEST(BlobCorruptionTest, CompressedPlainBlob) {
  std::string plain = TextBytes(32 * 1024);
  std::string blob = Encode(plain, BlobType::kChunk, 3, nullptr);
  ASSERT_EQ(blob[9] & kBlobZstd, kBlobZstd);
  size_t harmless = ExpectDamageDetected(blob, plain, BlobType::kChunk, nullptr);
  EXPECT_LE(harmless, 16u) << "too many flips left the zstd frame decodable";
}

TEST(BlobCorruptionTest, Lz4PlainBlob) {
  std::string plain = TextBytes(32 * 1024);
  std::string blob = Encode(plain, BlobType::kChunk, 0, nullptr, Compression::kLz4);
  ASSERT_EQ(blob[9] & kBlobLz4, kBlobLz4);
  size_t harmless = ExpectDamageDetected(blob, plain, BlobType::kChunk, nullptr);
  EXPECT_LE(harmless, 16u) << "too many flips left the LZ4 block decodable to the same bytes";
}

TEST(BlobCorruptionTest, Lz4EncryptedBlob) {
  const crypt::Key key = TestKey(2);
  std::string plain = TextBytes(20 * 1024);
  std::string blob = Encode(plain, BlobType::kChunk, 0, &key, Compression::kLz4);
  ASSERT_EQ(blob[9] & kBlobLz4, kBlobLz4);
  EXPECT_EQ(ExpectDamageDetected(blob, plain, BlobType::kChunk, &key), 0u);
}

// A hostile LZ4 payload (a worker cannot write blobs, but a damaged or
// tampered store can hold anything) is refused, never read past its ends.
TEST(BlobCorruptionTest, Lz4PayloadThatDoesNotDecodeToTheRawSize) {
  std::string plain = TextBytes(8 * 1024);
  std::string blob = Encode(plain, BlobType::kChunk, 0, nullptr, Compression::kLz4);
  ASSERT_EQ(blob[9] & kBlobLz4, kBlobLz4);
  // Claims more plaintext than the block holds.
  std::string longer = blob;
  PutU64At(&longer, 16, plain.size() + 1);
  auto r = DecodeBlob(longer, BlobType::kChunk, nullptr, nullptr, kWhat);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "lz4")) << r.status().message();
  // The block cut short.
  std::string cut = blob.substr(0, blob.size() - 7);
  r = DecodeBlob(cut, BlobType::kChunk, nullptr, nullptr, kWhat);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  // A payload as long as the plaintext cannot be a compressed one.
  std::string raw = Encode(plain, BlobType::kChunk, 0, nullptr, Compression::kNone);
  raw[9] = static_cast<char>(kBlobLz4);
  r = DecodeBlob(raw, BlobType::kChunk, nullptr, nullptr, kWhat);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "size mismatch")) << r.status().message();
  EXPECT_FALSE(CheckBlobWithoutKey(raw, BlobType::kChunk, nullptr, kWhat).ok());
}

TEST(BlobTest, CompressionNamesRoundTrip) {
  for (Compression c : {Compression::kNone, Compression::kZstd, Compression::kLz4}) {
    auto parsed = ParseCompression(CompressionName(c));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, c);
  }
  auto bad = ParseCompression("gzip");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(bad.status().message(), "lz4, zstd or none")) << bad.status().message();
}

TEST(BlobCorruptionTest, RawPlainBlob) {
  std::string plain = RandomBytes(3000, 2);
  std::string blob = Encode(plain, BlobType::kIndex, 3, nullptr);
  ASSERT_EQ(blob[9], 0);
  EXPECT_EQ(ExpectDamageDetected(blob, plain, BlobType::kIndex, nullptr), 0u);
}

TEST(BlobCorruptionTest, EmptyPlainBlob) {
  std::string blob = Encode("", BlobType::kText, 1, nullptr);
  EXPECT_EQ(ExpectDamageDetected(blob, "", BlobType::kText, nullptr), 0u);
}

TEST(BlobCorruptionTest, EncryptedCompressedBlob) {
  const crypt::Key key = TestKey(10);
  std::string plain = TextBytes(64 * 1024, 5);
  std::string blob = Encode(plain, BlobType::kManifest, 1, &key);
  ASSERT_EQ(blob[9], kBlobZstd | kBlobEncrypted | kBlobCrc);
  EXPECT_EQ(ExpectDamageDetected(blob, plain, BlobType::kManifest, &key), 0u);
}

TEST(BlobCorruptionTest, EncryptedRawBlob) {
  const crypt::Key key = TestKey(11);
  std::string plain = RandomBytes(2000, 3);
  std::string blob = Encode(plain, BlobType::kChunk, 1, &key);
  ASSERT_EQ(blob[9], kBlobEncrypted | kBlobCrc);
  EXPECT_EQ(ExpectDamageDetected(blob, plain, BlobType::kChunk, &key), 0u);
}

TEST(BlobCorruptionTest, EncryptedEmptyBlob) {
  const crypt::Key key = TestKey(12);
  std::string blob = Encode("", BlobType::kIndex, 1, &key);
  EXPECT_EQ(blob.size(), kBlobEncryptedHeaderSize);
  EXPECT_EQ(ExpectDamageDetected(blob, "", BlobType::kIndex, &key), 0u);
}

TEST(BlobCorruptionTest, BigRawBlobSampled) {
  std::string random = RandomBytes(256 * 1024, 4);
  EXPECT_EQ(ExpectDamageDetected(Encode(random, BlobType::kChunk, 1, nullptr), random,
                                 BlobType::kChunk, nullptr),
            0u);
}

TEST(BlobCorruptionTest, BigEncryptedBlobSampled) {
  const crypt::Key key = TestKey(13);
  std::string text = TextBytes(256 * 1024, 9);
  EXPECT_EQ(
      ExpectDamageDetected(Encode(text, BlobType::kChunk, 1, &key), text, BlobType::kChunk, &key),
      0u);
}

TEST(BlobCorruptionTest, BigCompressedBlobSampled) {
  std::string text;  // compresses to about half: a blob big enough to sample
  for (uint64_t i = 0; text.size() < 256 * 1024; ++i)
    text += TextBytes(4096, i) + RandomBytes(4096, i);
  EXPECT_LE(ExpectDamageDetected(Encode(text, BlobType::kChunk, 1, nullptr), text, BlobType::kChunk,
                                 nullptr),
            16u);
}

TEST(BlobCorruptionTest, HeaderFieldsAreChecked) {
  std::string blob = Encode(TextBytes(200), BlobType::kChunk, 0, nullptr);
  struct Case {
    const char* name;
    std::function<void(std::string*)> damage;
    const char* problem;
  };
  const Case cases[] = {
      {"magic", [](std::string* b) { (*b)[0] = 'X'; }, "not a ctdump blob"},
      {"version", [](std::string* b) { (*b)[7] = 2; }, "version"},
      {"type 0", [](std::string* b) { (*b)[8] = 0; }, "unknown blob type"},
      {"type 5", [](std::string* b) { (*b)[8] = 5; }, "unknown blob type"},
      {"flags", [](std::string* b) { (*b)[9] = 0x10; }, "flags"},
      {"zstd and LZ4", [](std::string* b) { (*b)[9] = kBlobZstd | kBlobLz4; }, "both"},
      {"CRC field without its flag", [](std::string* b) { (*b)[11] = 1; }, "reserved"},
      {"CRC flag without a CRC", [](std::string* b) { (*b)[9] = kBlobCrc; }, "CRC mismatch"},
      {"reserved", [](std::string* b) { (*b)[15] = 1; }, "reserved"},
      {"raw size", [](std::string* b) { PutU64At(b, 16, kMaxBlobRawSize + 1); }, "size"},
      {"digest", [](std::string* b) { (*b)[40] ^= 1; }, "digest"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string bad = blob;
    c.damage(&bad);
    auto r = DecodeBlob(bad, BlobType::kChunk, nullptr, nullptr, kWhat);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kDataLoss);
    EXPECT_TRUE(Contains(r.status().message(), kWhat)) << r.status().message();
    EXPECT_TRUE(Contains(r.status().message(), c.problem)) << r.status().message();
  }
}

// Without the key, the CRC finds every flipped byte of an encrypted blob
// (verify without the key), and header damage besides.
TEST(BlobCorruptionTest, EncryptedBlobDamageIsFoundWithoutTheKey) {
  const crypt::Key key = TestKey(14);
  for (const std::string& plain : {TextBytes(20000, 3), RandomBytes(3000, 4), std::string()}) {
    std::string blob = Encode(plain, BlobType::kChunk, 1, &key);
    const Digest id = ComputeDigest(&key, plain);
    auto info = CheckBlobWithoutKey(blob, BlobType::kChunk, &id, kWhat);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_TRUE(info->crc.has_value());
    EXPECT_EQ(info->raw_size, plain.size());
    std::string bad = blob;
    for (size_t i : Positions(blob.size())) {
      for (uint8_t flip : {0x01, 0x80}) {
        bad[i] = static_cast<char>(blob[i] ^ flip);
        auto r = CheckBlobWithoutKey(bad, BlobType::kChunk, &id, kWhat);
        bad[i] = blob[i];
        ASSERT_FALSE(r.ok()) << "undetected flip at " << i;
        EXPECT_EQ(r.status().code(), Code::kDataLoss) << r.status().message();
        EXPECT_TRUE(Contains(r.status().message(), kWhat)) << r.status().message();
      }
    }
    // Cut short, or named by another id, or of another type.
    EXPECT_FALSE(
        CheckBlobWithoutKey(blob.substr(0, blob.size() - 1), BlobType::kChunk, &id, kWhat).ok());
    Digest other = id;
    other.bytes[0] ^= 1;
    EXPECT_FALSE(CheckBlobWithoutKey(blob, BlobType::kChunk, &other, kWhat).ok());
    EXPECT_FALSE(CheckBlobWithoutKey(blob, BlobType::kIndex, &id, kWhat).ok());
  }
}

// Encrypted blobs written before the CRC existed (flags 0x02, bytes 10..15
// zero) still decode, and without the key their header and sizes are checked.
TEST(BlobTest, EncryptedBlobWithoutCrcStillDecodes) {
  const crypt::Key key = TestKey(15);
  const std::string plain = RandomBytes(5000, 6);
  const Digest d = ComputeDigest(&key, plain);
  std::string header(kBlobHeaderSize, '\0');
  std::memcpy(header.data(), kBlobMagic, 8);
  header[8] = static_cast<char>(BlobType::kChunk);
  header[9] = static_cast<char>(kBlobEncrypted);
  PutU64At(&header, 16, plain.size());
  std::memcpy(header.data() + 24, d.bytes.data(), 32);
  header.append(reinterpret_cast<const char*>(key.fingerprint().data()), crypt::kFingerprintSize);
  uint8_t iv[crypt::kIvSize], tag[crypt::kTagSize];
  std::string cipher;
  ASSERT_TRUE(key.Encrypt(plain, header, iv, tag, &cipher).ok());
  std::string blob = header;
  blob.append(reinterpret_cast<const char*>(iv), sizeof(iv));
  blob.append(reinterpret_cast<const char*>(tag), sizeof(tag));
  blob += cipher;
  auto got = DecodeBlob(blob, BlobType::kChunk, &key, &d, kWhat);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, plain);
  auto info = CheckBlobWithoutKey(blob, BlobType::kChunk, &d, kWhat);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(info->crc.has_value());
  EXPECT_EQ(ExpectDamageDetected(blob, plain, BlobType::kChunk, &key), 0u);
}

}  // namespace
}  // namespace ctdump::datastore
