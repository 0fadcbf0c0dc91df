// Retention marking (see ctdump/prune.h for the rule and its sources).
//
// Periods are compared as integer pairs computed from localtime_r() rather
// than as the strings PVE and PBS format ("%Y/%m/%d/%H", "%G/%V", ...); two
// backups share a pair exactly when they share those strings.
#include "ctdump/prune.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <limits>
#include <numeric>
#include <set>
#include <utility>

namespace ctdump {
namespace {

using PeriodId = std::pair<int64_t, int64_t>;
using PeriodFn = PeriodId (*)(int64_t ctime);

// Local calendar fields of a ctime, or nullopt when localtime_r() cannot
// represent it (the year overflows an int).
struct LocalTime {
  int64_t year;  // e.g. 2021
  int month;     // 0..11
  int mday;      // 1..31
  int hour;      // 0..23
  int yday;      // 0..365
  int wday;      // 0 = Sunday
};

static_assert(sizeof(time_t) >= sizeof(int64_t), "ctimes need a 64-bit time_t");

std::optional<LocalTime> ToLocal(int64_t ctime) {
  time_t t = static_cast<time_t>(ctime);
  struct tm tm;
  if (localtime_r(&t, &tm) == nullptr) return std::nullopt;
  return LocalTime{
      tm.tm_year + int64_t{1900}, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_yday, tm.tm_wday};
}

bool IsLeap(int64_t year) { return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0); }

int64_t DaysInYear(int64_t year) { return IsLeap(year) ? 366 : 365; }

// ISO 8601 week-year and week (strftime "%G" and "%V"): a week belongs to the
// year that holds its Thursday.
PeriodId IsoWeek(const LocalTime& lt) {
  int64_t monday_based = (lt.wday + 6) % 7;  // Monday = 0
  int64_t year = lt.year;
  int64_t thursday = lt.yday - monday_based + 3;  // day of year of that week's Thursday
  if (thursday < 0) {
    --year;
    thursday += DaysInYear(year);
  } else if (thursday >= DaysInYear(year)) {
    thursday -= DaysInYear(year);
    ++year;
  }
  return {year, thursday / 7 + 1};
}

// Every option's period of a ctime local time cannot represent.
PeriodId Unrepresentable(int64_t ctime) { return {std::numeric_limits<int64_t>::min(), ctime}; }

PeriodId LastPeriod(int64_t ctime) { return {ctime, 0}; }

PeriodId HourPeriod(int64_t ctime) {
  std::optional<LocalTime> lt = ToLocal(ctime);
  if (!lt) return Unrepresentable(ctime);
  return {lt->year, (lt->month * 32 + lt->mday) * 24 + lt->hour};
}

PeriodId DayPeriod(int64_t ctime) {
  std::optional<LocalTime> lt = ToLocal(ctime);
  if (!lt) return Unrepresentable(ctime);
  return {lt->year, lt->month * 32 + lt->mday};
}

PeriodId WeekPeriod(int64_t ctime) {
  std::optional<LocalTime> lt = ToLocal(ctime);
  if (!lt) return Unrepresentable(ctime);
  return IsoWeek(*lt);
}

PeriodId MonthPeriod(int64_t ctime) {
  std::optional<LocalTime> lt = ToLocal(ctime);
  if (!lt) return Unrepresentable(ctime);
  return {lt->year, lt->month};
}

PeriodId YearPeriod(int64_t ctime) {
  std::optional<LocalTime> lt = ToLocal(ctime);
  if (!lt) return Unrepresentable(ctime);
  return {lt->year, 0};
}

struct KeepOption {
  std::string_view key;
  std::optional<uint32_t> PruneOptions::*count;
  PeriodFn period;
};

// In PVE's processing order.
constexpr std::array<KeepOption, 6> kKeepOptions = {{
    {"keep-last", &PruneOptions::keep_last, LastPeriod},
    {"keep-hourly", &PruneOptions::keep_hourly, HourPeriod},
    {"keep-daily", &PruneOptions::keep_daily, DayPeriod},
    {"keep-weekly", &PruneOptions::keep_weekly, WeekPeriod},
    {"keep-monthly", &PruneOptions::keep_monthly, MonthPeriod},
    {"keep-yearly", &PruneOptions::keep_yearly, YearPeriod},
}};

uint32_t CountOf(const PruneOptions& opts, const KeepOption& option) {
  return (opts.*option.count).value_or(0);
}

// One option's pass over `order` (indexes into items, newest first); see
// steps 3a-3c in prune.h. nullopt in `marks` means undecided.
void MarkPass(const std::vector<PruneItem>& items, const std::vector<size_t>& order, uint32_t count,
              PeriodFn period, std::vector<std::optional<PruneMark>>& marks) {
  std::set<PeriodId> covered;
  for (size_t i : order) {
    if (marks[i] == PruneMark::kKeep) covered.insert(period(items[i].ctime));
  }
  std::set<PeriodId> selected;
  for (size_t i : order) {
    if (marks[i]) continue;
    PeriodId id = period(items[i].ctime);
    if (covered.contains(id)) continue;
    if (selected.contains(id)) {
      marks[i] = PruneMark::kRemove;
      continue;
    }
    if (selected.size() >= count) break;
    selected.insert(id);
    marks[i] = PruneMark::kKeep;
  }
}

std::string_view TrimBlank(std::string_view s) {
  constexpr std::string_view kBlank = " \t\r\n";
  size_t begin = s.find_first_not_of(kBlank);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kBlank) - begin + 1);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// PVE's JSONSchema boolean spellings.
std::optional<bool> ParseBool(std::string_view value) {
  std::string v = Lower(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  return std::nullopt;
}

std::optional<uint32_t> ParseCount(std::string_view value) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return n;
}

const KeepOption* FindKeepOption(std::string_view key) {
  for (const KeepOption& option : kKeepOptions) {
    if (option.key == key) return &option;
  }
  return nullptr;
}

Status ParseItem(std::string_view item, PruneOptions& opts, std::set<std::string>& seen) {
  size_t eq = item.find('=');
  if (eq == std::string_view::npos) {
    return InvalidArgumentError(
        fmt::format("invalid prune-backups item '{}': expected key=value", item));
  }
  std::string_view key = item.substr(0, eq);
  std::string_view value = item.substr(eq + 1);
  if (key != "keep-all" && FindKeepOption(key) == nullptr) {
    return InvalidArgumentError(fmt::format("unknown prune-backups option '{}'", key));
  }
  if (!seen.insert(std::string(key)).second) {
    return InvalidArgumentError(fmt::format("duplicate prune-backups option '{}'", key));
  }
  if (key == "keep-all") {
    std::optional<bool> b = ParseBool(value);
    if (!b) {
      return InvalidArgumentError(fmt::format(
          "invalid value '{}' for prune-backups option 'keep-all': expected a boolean", value));
    }
    opts.keep_all = *b;
    return Status::OK();
  }
  std::optional<uint32_t> n = ParseCount(value);
  if (!n) {
    return InvalidArgumentError(
        fmt::format("invalid value '{}' for prune-backups option '{}': expected an integer from 0 "
                    "to 4294967295",
                    value, key));
  }
  const KeepOption* option = FindKeepOption(key);
  opts.*(option->count) = *n > 0 ? std::optional<uint32_t>(*n) : std::nullopt;
  return Status::OK();
}

}  // namespace

bool PruneOptions::KeepsEverything() const {
  if (keep_all) return true;
  for (const KeepOption& option : kKeepOptions) {
    if (CountOf(*this, option) > 0) return false;
  }
  return true;
}

std::string PruneOptions::ToString() const {
  if (KeepsEverything()) return "keep-all=1";
  std::vector<std::string> parts;
  for (const KeepOption& option : kKeepOptions) {
    uint32_t n = CountOf(*this, option);
    if (n > 0) parts.push_back(fmt::format("{}={}", option.key, n));
  }
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += ", ";
    out += part;
  }
  return out;
}

Result<PruneOptions> ParsePruneOptions(std::string_view text) {
  PruneOptions opts;
  std::set<std::string> seen;
  for (;;) {
    size_t comma = text.find(',');
    std::string_view item = TrimBlank(text.substr(0, comma));
    if (!item.empty()) RETURN_IF_ERROR(ParseItem(item, opts, seen));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (opts.keep_all) {
    PruneOptions others = opts;
    others.keep_all = false;
    if (!others.KeepsEverything()) {
      return InvalidArgumentError(
          "prune-backups option 'keep-all' cannot be set together with other options");
    }
  }
  return opts;
}

std::string_view PruneMarkName(PruneMark mark) {
  switch (mark) {
    case PruneMark::kKeep:
      return "keep";
    case PruneMark::kRemove:
      return "remove";
    case PruneMark::kProtected:
      return "protected";
  }
  return "unknown";
}

std::vector<PruneMark> MarkBackups(const std::vector<PruneItem>& items, const PruneOptions& opts) {
  std::vector<std::optional<PruneMark>> marks(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].is_protected) marks[i] = PruneMark::kProtected;
  }
  if (opts.KeepsEverything()) {
    for (std::optional<PruneMark>& m : marks) {
      if (!m) m = PruneMark::kKeep;
    }
  } else {
    tzset();  // pick up the current TZ, as localtime() would
    std::vector<size_t> order(items.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return items[a].ctime > items[b].ctime; });
    for (const KeepOption& option : kKeepOptions) {
      uint32_t count = CountOf(opts, option);
      if (count > 0) MarkPass(items, order, count, option.period, marks);
    }
  }
  std::vector<PruneMark> result;
  result.reserve(items.size());
  for (const std::optional<PruneMark>& m : marks) result.push_back(m.value_or(PruneMark::kRemove));
  return result;
}

}  // namespace ctdump
