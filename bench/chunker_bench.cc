// Chunker measurements (never a test): Scan throughput, and the dedup ratio of
// candidate parameter sets on a 64 MiB buffer vs. a copy with 1 % of its
// 4 KiB blocks rewritten and a few insertions. The chosen defaults and these
// numbers are recorded in include/ctdump/chunker.h.
//
//   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
//   ninja -C build chunker_bench && build/src/chunker/chunker_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "ctdump/chunker.h"

namespace {

constexpr size_t kMiB = 1024 * 1024;

std::vector<uint8_t> RandomBytes(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i + 8 <= size; i += 8) {
    const uint64_t v = rng();
    for (int b = 0; b < 8; ++b) out[i + b] = static_cast<uint8_t>(v >> (8 * b));
  }
  return out;
}

ctdump::ChunkerParams ParamsFor(const benchmark::State& state) {
  const auto avg = static_cast<uint32_t>(state.range(0));
  return {avg / 4, avg, avg * 4};
}

// Calls `on_chunk(begin, size)` for every chunk of `data`.
template <typename OnChunk>
void ForEachChunk(const ctdump::ChunkerParams& p, const std::vector<uint8_t>& data,
                  OnChunk on_chunk) {
  ctdump::Chunker chunker(p);
  size_t start = 0, pos = 0;
  while (pos < data.size()) {
    const size_t n = chunker.Scan(data.data() + pos, data.size() - pos);
    pos = n == 0 ? data.size() : pos + n;
    on_chunk(start, pos - start);
    start = pos;
  }
}

void BM_Scan(benchmark::State& state) {
  static const std::vector<uint8_t> data = RandomBytes(256 * kMiB, 1);
  const ctdump::ChunkerParams p = ParamsFor(state);
  for (auto _ : state) {
    size_t chunks = 0;
    ForEachChunk(p, data, [&](size_t, size_t) { ++chunks; });
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Scan)->Arg(16 << 10)->Arg(128 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

// A copy of `base` with 1 % of its 4 KiB blocks rewritten at random and 8
// insertions of 1..4096 random bytes.
std::vector<uint8_t> Modified(const std::vector<uint8_t>& base) {
  std::mt19937_64 rng(7);
  std::vector<uint8_t> out = base;
  const size_t blocks = out.size() / 4096;
  for (size_t k = 0; k < blocks / 100; ++k) {
    const size_t block = rng() % blocks;
    for (size_t i = 0; i < 4096; ++i) out[block * 4096 + i] = static_cast<uint8_t>(rng());
  }
  for (int k = 0; k < 8; ++k) {
    const size_t at = rng() % out.size();
    std::vector<uint8_t> ins(1 + rng() % 4096);
    for (uint8_t& b : ins) b = static_cast<uint8_t>(rng());
    out.insert(out.begin() + static_cast<ptrdiff_t>(at), ins.begin(), ins.end());
  }
  return out;
}

void BM_Dedup(benchmark::State& state) {
  static const std::vector<uint8_t> base = RandomBytes(64 * kMiB, 2);
  static const std::vector<uint8_t> changed = Modified(base);
  const ctdump::ChunkerParams p = ParamsFor(state);
  size_t chunks = 0, stored = 0;
  for (auto _ : state) {
    std::unordered_set<std::string_view> known;
    auto view = [](const std::vector<uint8_t>& d, size_t begin, size_t size) {
      return std::string_view(reinterpret_cast<const char*>(d.data()) + begin, size);
    };
    ForEachChunk(p, base, [&](size_t b, size_t n) { known.insert(view(base, b, n)); });
    chunks = stored = 0;
    ForEachChunk(p, changed, [&](size_t b, size_t n) {
      ++chunks;
      if (known.insert(view(changed, b, n)).second) stored += n;
    });
  }
  state.counters["chunks"] = static_cast<double>(chunks);
  state.counters["mean_KiB"] = static_cast<double>(changed.size()) / chunks / 1024;
  state.counters["stored_pct"] = 100.0 * static_cast<double>(stored) / changed.size();
  state.counters["stored_MiB"] = static_cast<double>(stored) / kMiB;
  state.counters["index_KiB"] = chunks * 32.0 / 1024;
}
BENCHMARK(BM_Dedup)
    ->Arg(16 << 10)
    ->Arg(64 << 10)
    ->Arg(128 << 10)
    ->Arg(256 << 10)
    ->Arg(1 << 20)
    ->Arg(4 << 20)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
