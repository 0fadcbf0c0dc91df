// libFuzzer target for Chunker.
//
// Input: 12 bytes of raw params (min, avg, max as little-endian uint32), then
// 4 bytes that derive small valid params, then the stream. Checks that
// Validate() fails only with InvalidArgument and that a valid raw set
// constructs; then, with the derived params (avg 128..16 KiB so short inputs
// cut), that Scan() never returns more than it was given, that whole-buffer,
// byte-by-byte and input-driven piecewise feeding give the same cuts, and that
// min <= size <= max for every chunk but the last (which is <= max).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ctdump/chunker.h"

namespace {

uint32_t Le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// End offsets of the chunks of data[0, len), fed in pieces of next_piece().
template <typename NextPiece>
std::vector<size_t> Cuts(const ctdump::ChunkerParams& p, const uint8_t* data, size_t len,
                         NextPiece next_piece) {
  ctdump::Chunker chunker(p);
  std::vector<size_t> cuts;
  size_t pos = 0;
  while (pos < len) {
    size_t end = pos + next_piece();
    if (end > len) end = len;
    while (pos < end) {
      const size_t n = chunker.Scan(data + pos, end - pos);
      if (n > end - pos) __builtin_trap();
      if (n == 0) break;
      pos += n;
      cuts.push_back(pos);
    }
    pos = end;
  }
  if (cuts.empty() || cuts.back() != len) cuts.push_back(len);
  return cuts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 16) return 0;
  const ctdump::ChunkerParams raw{Le32(data), Le32(data + 4), Le32(data + 8)};
  const ctdump::Status status = ctdump::Chunker::Validate(raw);
  if (status.ok()) {
    ctdump::Chunker chunker(raw);
  } else if (status.code() != ctdump::Code::kInvalidArgument) {
    __builtin_trap();
  }

  const uint32_t avg = 128u << (data[12] % 8);
  const ctdump::ChunkerParams p{64 + (Le32(data + 12) >> 8) % (avg - 64), avg,
                                avg + 1 + data[15] % (3 * avg)};
  if (!ctdump::Chunker::Validate(p).ok()) __builtin_trap();
  const uint8_t* stream = data + 16;
  const size_t len = size - 16;

  const std::vector<size_t> whole = Cuts(p, stream, len, [&] { return len; });
  if (Cuts(p, stream, len, [] { return size_t{1}; }) != whole) __builtin_trap();
  size_t k = 0;
  auto piece = [&] { return size_t{1} + stream[k++ % len] * 7; };
  if (Cuts(p, stream, len, piece) != whole) __builtin_trap();

  size_t prev = 0;
  for (size_t i = 0; i < whole.size(); ++i) {
    const size_t chunk = whole[i] - prev;
    prev = whole[i];
    if (chunk > p.max_size) __builtin_trap();
    if (i + 1 < whole.size() && chunk < p.min_size) __builtin_trap();
  }
  return 0;
}
