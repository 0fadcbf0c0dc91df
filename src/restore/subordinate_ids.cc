#include "restore/subordinate_ids.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace ctdump::restore {
namespace {

bool ParseNumber(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool Covered(const std::vector<IdRange>& ranges, uint64_t start, uint64_t count) {
  // Merged and sorted: one range must hold all of [start, start + count).
  for (const IdRange& r : ranges)
    if (start >= r.start && start + count <= r.start + r.count) return true;
  return false;
}

}  // namespace

std::vector<IdRange> DelegatedRanges(std::string_view text, std::string_view user,
                                     std::string_view user_id) {
  std::vector<IdRange> ranges;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view name = line.substr(0, c1);
    if (name != user && name != user_id) continue;
    IdRange r;
    if (!ParseNumber(line.substr(c1 + 1, c2 - c1 - 1), &r.start) ||
        !ParseNumber(line.substr(c2 + 1), &r.count) || r.count == 0)
      continue;
    ranges.push_back(r);
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const IdRange& a, const IdRange& b) { return a.start < b.start; });
  std::vector<IdRange> merged;
  for (const IdRange& r : ranges) {
    if (!merged.empty() && r.start <= merged.back().start + merged.back().count) {
      uint64_t end = std::max(merged.back().start + merged.back().count, r.start + r.count);
      merged.back().count = end - merged.back().start;
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

Status CheckDelegated(const IdMap& map, const std::vector<IdRange>& subuid,
                      const std::vector<IdRange>& subgid) {
  for (const IdMapEntry& e : map.entries()) {
    bool user = e.type == 'u';
    if (Covered(user ? subuid : subgid, e.host_start, e.count)) continue;
    return FailedPreconditionError(fmt::format(
        "ID map entry '{} {} {} {}' uses host {}ids {}-{}, which are not delegated to root in {}",
        e.type, e.ct_start, e.host_start, e.count, user ? "u" : "g", e.host_start,
        static_cast<uint64_t>(e.host_start) + e.count - 1, user ? "/etc/subuid" : "/etc/subgid"));
  }
  return Status::OK();
}

}  // namespace ctdump::restore
