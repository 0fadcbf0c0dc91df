#include "ctdump/chunker.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <string>

namespace ctdump {
namespace {

// Part of the datastore format (see chunker.h): never change.
constexpr uint64_t kGearSeed = 0x6374647570636463;  // "ctdupcdc"
constexpr uint32_t kWindow = 64;                    // bytes that influence the 64-bit hash
constexpr uint32_t kMaxChunk = 16 * 1024 * 1024;

constexpr std::array<uint64_t, 256> MakeGearTable() {
  std::array<uint64_t, 256> table{};
  uint64_t state = kGearSeed;
  for (uint64_t& entry : table) {  // splitmix64
    state += 0x9E3779B97F4A7C15;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
    entry = z ^ (z >> 31);
  }
  return table;
}

constexpr std::array<uint64_t, 256> kGear = MakeGearTable();
static_assert(kGear[0] == 0x6fc4bc2469d5116a, "the gear table is part of the format");
static_assert(kGear[255] == 0xcb3cb82587180155, "the gear table is part of the format");

// A mask of the top `bits` bits of the hash.
constexpr uint64_t TopBits(int bits) { return ~uint64_t{0} << (64 - bits); }

// Feeds data[*i..] to the hash until the chunk is `until` bytes long or the
// data ends. With kTest, stops right after a byte whose hash has no bit of
// `mask` set and returns true (a cut).
template <bool kTest>
inline bool Advance(const uint8_t* data, size_t len, size_t* i, uint64_t* hash, uint32_t* length,
                    uint32_t until, uint64_t mask) {
  if (*length >= until) return false;
  const size_t n = std::min<size_t>(len - *i, until - *length);
  const uint8_t* p = data + *i;
  uint64_t h = *hash;
  auto cut = [&](size_t used, uint64_t at) {
    *i += used;
    *length += static_cast<uint32_t>(used);
    *hash = at;
    return true;
  };
  size_t k = 0;
  // Two bytes a step. Byte by byte, the shift and add of every byte form
  // one chain of dependent instructions (about 2 cycles a byte). Here
  // h2 = 4h + (2 g[a] + g[b]) has one shift and one add per two bytes on
  // that chain; the hash between, for its cut test, is computed beside it.
  // The same hashes modulo 2^64, so the same cuts.
  for (; k + 2 <= n; k += 2) {
    const uint64_t ga = kGear[p[k]], gb = kGear[p[k + 1]];
    const uint64_t h1 = (h << 1) + ga;
    const uint64_t h2 = (h << 2) + ((ga << 1) + gb);
    if (kTest && (h1 & mask) == 0) return cut(k + 1, h1);
    if (kTest && (h2 & mask) == 0) return cut(k + 2, h2);
    h = h2;
  }
  for (; k < n; ++k) {
    h = (h << 1) + kGear[p[k]];
    if (kTest && (h & mask) == 0) return cut(k + 1, h);
  }
  *i += n;
  *length += static_cast<uint32_t>(n);
  *hash = h;
  return false;
}

}  // namespace

Chunker::Chunker(const ChunkerParams& p) : params_(p) {
  if (!Validate(p).ok()) std::abort();
  const int bits = std::countr_zero(p.avg_size);
  mask_small_ = TopBits(bits + 2);
  mask_large_ = TopBits(bits - 2);
}

Status Chunker::Validate(const ChunkerParams& p) {
  auto error = [](std::string what) {
    return InvalidArgumentError("Invalid chunker parameters: " + what);
  };
  if (p.min_size < kWindow) return error("min_size " + std::to_string(p.min_size) + " is below 64");
  if (!std::has_single_bit(p.avg_size)) {
    return error("avg_size " + std::to_string(p.avg_size) + " is not a power of two");
  }
  if (p.avg_size <= p.min_size) return error("avg_size must be greater than min_size");
  if (p.max_size <= p.avg_size) return error("max_size must be greater than avg_size");
  if (p.max_size > kMaxChunk) {
    return error("max_size " + std::to_string(p.max_size) + " is above 16 MiB");
  }
  return Status::OK();
}

size_t Chunker::Scan(const uint8_t* data, size_t len) {
  size_t i = 0;
  // Skip the bytes that cannot influence the hash at min_size.
  const uint32_t skip_end = params_.min_size - kWindow;
  if (length_ < skip_end) {
    const size_t n = std::min<size_t>(len, skip_end - length_);
    i += n;
    length_ += static_cast<uint32_t>(n);
  }
  bool cut = false;
  if (i < len) {
    Advance<false>(data, len, &i, &hash_, &length_, params_.min_size - 1, 0);
    cut = Advance<true>(data, len, &i, &hash_, &length_, params_.avg_size - 1, mask_small_) ||
          Advance<true>(data, len, &i, &hash_, &length_, params_.max_size, mask_large_) ||
          length_ == params_.max_size;
  }
  if (!cut) return 0;
  Reset();
  return i;
}

void Chunker::Reset() {
  hash_ = 0;
  length_ = 0;
}

}  // namespace ctdump
