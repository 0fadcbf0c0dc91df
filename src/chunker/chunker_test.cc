#include "ctdump/chunker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace ctdump {
namespace {

constexpr size_t kMiB = 1024 * 1024;

// Deterministic pseudo-random bytes (splitmix64), stable across platforms.
std::vector<uint8_t> RandomBytes(size_t size, uint64_t seed) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; i += 8) {
    seed += 0x9E3779B97F4A7C15;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
    z ^= z >> 31;
    for (size_t b = 0; b < 8 && i + b < size; ++b) out[i + b] = static_cast<uint8_t>(z >> (8 * b));
  }
  return out;
}

// Feeds `data` in pieces of next_piece() bytes and returns the end offset of
// every chunk, the end of the stream included.
template <typename NextPiece>
std::vector<size_t> CutsInPieces(Chunker chunker, const std::vector<uint8_t>& data,
                                 NextPiece next_piece) {
  std::vector<size_t> cuts;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t end = std::min(data.size(), pos + next_piece());
    while (pos < end) {
      const size_t n = chunker.Scan(data.data() + pos, end - pos);
      if (n == 0) {
        pos = end;
        break;
      }
      EXPECT_LE(n, end - pos);
      pos += n;
      cuts.push_back(pos);
    }
  }
  if (cuts.empty() || cuts.back() != data.size()) cuts.push_back(data.size());
  return cuts;
}

std::vector<size_t> Cuts(const ChunkerParams& p, const std::vector<uint8_t>& data) {
  return CutsInPieces(Chunker(p), data, [&] { return data.size(); });
}

std::vector<size_t> Sizes(const std::vector<size_t>& cuts) {
  std::vector<size_t> sizes;
  size_t prev = 0;
  for (size_t c : cuts) {
    sizes.push_back(c - prev);
    prev = c;
  }
  return sizes;
}

ChunkerParams Params(uint32_t min, uint32_t avg, uint32_t max) { return {min, avg, max}; }

class ChunkerParamsTest : public ::testing::TestWithParam<ChunkerParams> {};

INSTANTIATE_TEST_SUITE_P(Sizes, ChunkerParamsTest,
                         ::testing::Values(ChunkerParams{}, Params(64, 256, 1024),
                                           Params(2048, 8192, 65536),
                                           Params(16 * 1024, 64 * 1024, 256 * 1024)));

TEST_P(ChunkerParamsTest, ByteByByteAndPiecesCutLikeWholeBuffer) {
  const std::vector<uint8_t> data = RandomBytes(8 * kMiB, 1);
  const std::vector<size_t> whole = Cuts(GetParam(), data);
  EXPECT_EQ(CutsInPieces(Chunker(GetParam()), data, [] { return 1; }), whole);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<size_t> piece(1, 200 * 1024);
  EXPECT_EQ(CutsInPieces(Chunker(GetParam()), data, [&] { return piece(rng); }), whole);
}

TEST_P(ChunkerParamsTest, SizesWithinBounds) {
  const ChunkerParams p = GetParam();
  const std::vector<size_t> sizes = Sizes(Cuts(p, RandomBytes(8 * kMiB, 2)));
  for (size_t i = 0; i + 1 < sizes.size(); ++i) {
    EXPECT_GE(sizes[i], p.min_size) << "chunk " << i;
    EXPECT_LE(sizes[i], p.max_size) << "chunk " << i;
  }
  EXPECT_LE(sizes.back(), p.max_size);
}

TEST_P(ChunkerParamsTest, MeanSizeNearAvgOnRandomData) {
  const ChunkerParams p = GetParam();
  // Enough data for ~256 chunks, so the mean is a fair estimate.
  const size_t total = std::max<size_t>(8 * kMiB, size_t{256} * p.avg_size);
  std::vector<size_t> cuts = Cuts(p, RandomBytes(total, 3));
  cuts.pop_back();  // the last chunk is cut by the end of the stream
  const double mean = static_cast<double>(cuts.back()) / static_cast<double>(cuts.size());
  EXPECT_GE(mean, 0.75 * p.avg_size);
  EXPECT_LE(mean, 1.25 * p.avg_size);
}

TEST_P(ChunkerParamsTest, InsertedByteMovesOnlyNearbyCuts) {
  const std::vector<uint8_t> data = RandomBytes(8 * kMiB, 4);
  std::vector<uint8_t> shifted(data.size() + 1, 0x5a);
  std::copy(data.begin(), data.end(), shifted.begin() + 1);

  const std::vector<size_t> before = Cuts(GetParam(), data);
  std::set<size_t> after;  // in content offsets of `data`
  for (size_t c : Cuts(GetParam(), shifted)) after.insert(c - 1);
  size_t kept = 0;
  for (size_t c : before) kept += after.count(c);
  // Only the first cut or two may move; the rest resynchronize.
  EXPECT_GE(kept + 2, before.size());
}

TEST_P(ChunkerParamsTest, AllZerosCutAtMax) {
  const ChunkerParams p = GetParam();
  const std::vector<uint8_t> zeros(std::max<size_t>(3 * size_t{p.max_size} + 5, 4096));
  const std::vector<size_t> sizes = Sizes(Cuts(p, zeros));
  for (size_t i = 0; i + 1 < sizes.size(); ++i) EXPECT_EQ(sizes[i], p.max_size) << "chunk " << i;
}

// The chunk format as chunker.h defines it, one byte at a time and nothing
// clever: the gear hash over the chunk from its start; a chunk of length L
// ends at a byte whose hash has none of the top log2(avg)+2 bits set for
// min <= L < avg, none of the top log2(avg)-2 for avg <= L < max, and at
// L == max regardless.
std::vector<size_t> DefinitionCuts(const ChunkerParams& p, const std::vector<uint8_t>& data) {
  std::array<uint64_t, 256> gear{};
  uint64_t state = 0x6374647570636463;  // "ctdupcdc", splitmix64
  for (uint64_t& g : gear) {
    state += 0x9E3779B97F4A7C15;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
    g = z ^ (z >> 31);
  }
  const int bits = std::countr_zero(p.avg_size);
  const uint64_t small = ~uint64_t{0} << (64 - (bits + 2)),
                 large = ~uint64_t{0} << (64 - (bits - 2));
  std::vector<size_t> cuts;
  uint64_t h = 0;
  size_t length = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    h = (h << 1) + gear[data[i]];
    ++length;
    const bool end = (length >= p.min_size && length < p.avg_size && (h & small) == 0) ||
                     (length >= p.avg_size && (h & large) == 0) || length == p.max_size;
    if (end) {
      cuts.push_back(i + 1);
      h = 0;
      length = 0;
    }
  }
  if (cuts.empty() || cuts.back() != data.size()) cuts.push_back(data.size());
  return cuts;
}

TEST_P(ChunkerParamsTest, CutsLikeTheDefinition) {
  const ChunkerParams p = GetParam();
  std::vector<uint8_t> text;  // low entropy: long runs without a cut
  for (size_t i = 0; text.size() < 2 * kMiB; ++i) {
    const std::string line = "line " + std::to_string(i % 977) + " of some text\n";
    text.insert(text.end(), line.begin(), line.end());
  }
  for (const auto& data : {RandomBytes(6 * kMiB + 3, 0xdef), text}) {
    EXPECT_EQ(Cuts(p, data), DefinitionCuts(p, data));
    std::mt19937 rng(7);
    EXPECT_EQ(CutsInPieces(Chunker(p), data, [&] { return 1 + rng() % 300; }),
              DefinitionCuts(p, data));
  }
}

TEST(ChunkerTest, GoldenCuts) {
  // Pins the chunk format: if this fails, existing datastores stop deduping.
  const std::vector<size_t> cuts = Cuts(ChunkerParams{}, RandomBytes(8 * kMiB, 0x60d));
  ASSERT_GE(cuts.size(), 6u);
  EXPECT_EQ(std::vector<size_t>(cuts.begin(), cuts.begin() + 5),
            (std::vector<size_t>{132535, 305322, 538821, 689328, 854425}));
}

TEST(ChunkerTest, DefaultParamsAreValid) { EXPECT_TRUE(Chunker::Validate({}).ok()); }

TEST(ChunkerTest, ValidateNamesTheBadField) {
  struct Case {
    ChunkerParams params;
    const char* field;
  };
  const Case cases[] = {
      {Params(63, 256, 1024), "min_size"},
      {Params(0, 256, 1024), "min_size"},
      {Params(64, 300, 1024), "avg_size"},
      {Params(64, 0, 1024), "avg_size"},
      {Params(256, 256, 1024), "avg_size"},
      {Params(512, 256, 1024), "avg_size"},
      {Params(64, 256, 256), "max_size"},
      {Params(64, 256, 100), "max_size"},
      {Params(1024, 4 * kMiB, 16 * kMiB + 1), "max_size"},
  };
  for (const Case& c : cases) {
    const Status s = Chunker::Validate(c.params);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.field;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s.message();
  }
  EXPECT_TRUE(Chunker::Validate(Params(64, 128, 129)).ok());
  EXPECT_TRUE(Chunker::Validate(Params(1024, 8 * kMiB, 16 * kMiB)).ok());
}

TEST(ChunkerDeathTest, ConstructorRejectsInvalidParams) {
  EXPECT_DEATH(Chunker(Params(64, 100, 1024)), "");
}

TEST(ChunkerTest, EmptyScanIsFeedMore) {
  Chunker chunker;
  EXPECT_EQ(chunker.Scan(nullptr, 0), 0u);
}

TEST(ChunkerTest, CutAtMaxWhenDataEndsThere) {
  const ChunkerParams p = Params(64, 256, 1024);
  const std::vector<uint8_t> zeros(p.max_size);
  Chunker chunker(p);
  EXPECT_EQ(chunker.Scan(zeros.data(), zeros.size() - 1), 0u);
  EXPECT_EQ(chunker.Scan(zeros.data(), 1), 1u);  // the 1024th byte ends the chunk
}

TEST(ChunkerTest, CopyContinuesIndependently) {
  const std::vector<uint8_t> data = RandomBytes(4 * kMiB, 5);
  Chunker a;
  ASSERT_EQ(a.Scan(data.data(), 100), 0u);
  Chunker b = a;
  const size_t na = a.Scan(data.data() + 100, data.size() - 100);
  const size_t nb = b.Scan(data.data() + 100, data.size() - 100);
  EXPECT_GT(na, 0u);
  EXPECT_EQ(na, nb);
  EXPECT_EQ(100 + na, Cuts(ChunkerParams{}, data).front());
}

TEST(ChunkerTest, ResetStartsANewStream) {
  const std::vector<uint8_t> data = RandomBytes(4 * kMiB, 6);
  Chunker fresh;
  const size_t expected = fresh.Scan(data.data(), data.size());
  Chunker used;
  ASSERT_EQ(used.Scan(data.data() + 7, 1000), 0u);
  used.Reset();
  EXPECT_EQ(used.Scan(data.data(), data.size()), expected);
}

}  // namespace
}  // namespace ctdump
