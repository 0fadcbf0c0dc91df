// libFuzzer target for ParsePruneOptions() and MarkBackups().
//
// Input: a prune-backups string, optionally followed by a NUL byte and a
// backup group of 9-byte records (8 bytes little-endian ctime, 1 byte whose
// low bit is "protected"). Checks that parsing fails only with
// InvalidArgument, that ToString() parses back to equivalent options, and the
// marking invariants: one mark per item, protected exactly where flagged,
// nothing removed under keep-all, at most the sum of the counts kept, and the
// newest unprotected backup kept.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "ctdump/prune.h"

namespace {

using ctdump::PruneMark;
using ctdump::PruneOptions;

bool Equivalent(const PruneOptions& a, const PruneOptions& b) {
  if (a.KeepsEverything() || b.KeepsEverything()) {
    return a.KeepsEverything() == b.KeepsEverything();
  }
  return a == b;
}

uint64_t CountSum(const PruneOptions& o) {
  return uint64_t{o.keep_last.value_or(0)} + o.keep_hourly.value_or(0) + o.keep_daily.value_or(0) +
         o.keep_weekly.value_or(0) + o.keep_monthly.value_or(0) + o.keep_yearly.value_or(0);
}

std::vector<ctdump::PruneItem> DecodeItems(std::string_view data) {
  std::vector<ctdump::PruneItem> items;
  while (data.size() >= 9) {
    uint64_t raw = 0;
    for (int i = 7; i >= 0; --i) raw = (raw << 8) | static_cast<unsigned char>(data[i]);
    int64_t ctime;
    std::memcpy(&ctime, &raw, sizeof(ctime));
    items.push_back({ctime, (data[8] & 1) != 0});
    data.remove_prefix(9);
  }
  return items;
}

void CheckMarks(const std::vector<ctdump::PruneItem>& items, const PruneOptions& opts) {
  std::vector<PruneMark> marks = ctdump::MarkBackups(items, opts);
  if (marks.size() != items.size()) __builtin_trap();
  uint64_t kept = 0;
  const ctdump::PruneItem* newest = nullptr;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].is_protected != (marks[i] == PruneMark::kProtected)) __builtin_trap();
    if (opts.KeepsEverything() && marks[i] == PruneMark::kRemove) __builtin_trap();
    if (marks[i] == PruneMark::kKeep) ++kept;
    if (!items[i].is_protected && (newest == nullptr || items[i].ctime > newest->ctime)) {
      newest = &items[i];
    }
  }
  if (opts.KeepsEverything()) return;
  if (kept > CountSum(opts)) __builtin_trap();
  if (newest != nullptr) {
    bool newest_kept = false;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].ctime == newest->ctime && marks[i] == PruneMark::kKeep) newest_kept = true;
    }
    if (!newest_kept) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.find('\0');
  std::string_view text = input.substr(0, nul);

  ctdump::Result<PruneOptions> opts = ctdump::ParsePruneOptions(text);
  if (!opts.ok()) {
    if (opts.status().code() != ctdump::Code::kInvalidArgument) __builtin_trap();
    return 0;
  }
  ctdump::Result<PruneOptions> again = ctdump::ParsePruneOptions(opts->ToString());
  if (!again.ok() || !Equivalent(*opts, *again)) __builtin_trap();

  if (nul != std::string_view::npos) CheckMarks(DecodeItems(input.substr(nul + 1)), *opts);
  return 0;
}
