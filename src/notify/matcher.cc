// Matcher evaluation as proxmox-notify's MatcherConfig::matches.
#include "notify/matcher.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <regex>

namespace ctdump::notify {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> SplitBy(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// SAFE_ID: [A-Za-z0-9_][A-Za-z0-9._\-]*
bool IsSafeId(std::string_view s) {
  auto ok = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (!first && (c == '.' || c == '-'));
  };
  if (s.empty() || !ok(s[0], true)) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) { return ok(c, false); });
}

// 0 = Monday ... 6 = Sunday.
int ParseWeekday(std::string_view s) {
  static const char* kShort[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  static const char* kLong[] = {"monday", "tuesday",  "wednesday", "thursday",
                                "friday", "saturday", "sunday"};
  for (int i = 0; i < 7; ++i) {
    if (s == kShort[i] || s == kLong[i]) return i;
  }
  return -1;
}

// "H" or "H:MM" -> minutes; hour 0..24 (24 only as 24:00, for an end).
int ParseTimeOfDay(std::string_view s) {
  size_t colon = s.find(':');
  std::string_view h = s.substr(0, colon);
  std::string_view m = colon == s.npos ? "0" : s.substr(colon + 1);
  auto num = [](std::string_view d, int max) {
    if (d.empty() || d.size() > 2) return -1;
    int v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v <= max ? v : -1;
  };
  int hour = num(h, 24);
  int minute = colon == s.npos ? 0 : (m.size() == 2 ? num(m, 59) : -1);
  if (hour < 0 || minute < 0 || (hour == 24 && minute != 0)) return -1;
  return hour * 60 + minute;
}

}  // namespace

Result<FieldMatch> ParseFieldMatch(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(fmt::format("invalid match-field statement '{}': {}", text, why));
  };
  FieldMatch fm;
  std::string_view rest;
  if (text.substr(0, 6) == "exact:") {
    rest = text.substr(6);
  } else if (text.substr(0, 6) == "regex:") {
    fm.is_regex = true;
    rest = text.substr(6);
  } else {
    return bad("expected exact:<field>=<values> or regex:<field>=<regex>");
  }
  size_t eq = rest.find('=');
  if (eq == std::string_view::npos) return bad("missing '='");
  fm.field = std::string(rest.substr(0, eq));
  if (!IsSafeId(fm.field)) return bad(fmt::format("invalid field name '{}'", fm.field));
  std::string_view value = rest.substr(eq + 1);
  if (fm.is_regex) {
    fm.pattern = std::string(value);
    try {
      fm.re = std::make_shared<const std::regex>(fm.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return bad(fmt::format("invalid regex: {}", e.what()));
    }
  } else {
    for (std::string_view v : SplitBy(value, ',')) fm.values.emplace_back(Trim(v));
  }
  return fm;
}

Result<std::vector<Severity>> ParseSeverityList(std::string_view text) {
  std::vector<Severity> out;
  for (std::string_view s : SplitBy(text, ',')) {
    ASSIGN_OR_RETURN(Severity sev, ParseSeverity(Trim(s)));
    out.push_back(sev);
  }
  return out;
}

Result<DailyDuration> ParseDailyDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError(fmt::format("invalid match-calendar '{}': {}", text, why));
  };
  DailyDuration d;
  d.text = std::string(text);
  std::string_view s = Trim(text);
  std::string_view times = s;
  size_t space = s.find(' ');
  if (space != std::string_view::npos) {
    d.days = 0;
    for (std::string_view part : SplitBy(s.substr(0, space), ',')) {
      size_t dots = part.find("..");
      size_t sep_len = 2;
      if (dots == std::string_view::npos) {
        dots = part.find('-');
        sep_len = 1;
      }
      int from = ParseWeekday(part.substr(0, dots));
      int to = dots == std::string_view::npos ? from : ParseWeekday(part.substr(dots + sep_len));
      if (from < 0 || to < 0) return bad(fmt::format("invalid weekday '{}'", part));
      for (int i = from;; i = (i + 1) % 7) {
        d.days |= 1 << i;
        if (i == to) break;
      }
    }
    times = Trim(s.substr(space + 1));
  }
  size_t dash = times.find('-');
  if (dash == std::string_view::npos) return bad("expected a time range like 8:00-17:00");
  d.start_minute = ParseTimeOfDay(times.substr(0, dash));
  d.end_minute = ParseTimeOfDay(times.substr(dash + 1));
  if (d.start_minute < 0 || d.end_minute < 0 || d.start_minute >= 24 * 60) {
    return bad("invalid time");
  }
  if (d.end_minute <= d.start_minute) return bad("the end must be after the start");
  return d;
}

bool DurationContains(const DailyDuration& d, int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  if (!localtime_r(&tt, &tm)) return false;
  int weekday = (tm.tm_wday + 6) % 7;  // Monday = 0
  if (!(d.days & (1 << weekday))) return false;
  int minute = tm.tm_hour * 60 + tm.tm_min;
  return minute >= d.start_minute && minute < d.end_minute;
}

namespace {

bool FieldMatches(const FieldMatch& fm, const Notification& n) {
  auto it = n.fields.find(fm.field);
  if (it == n.fields.end()) return false;
  if (fm.is_regex) return std::regex_search(it->second, *fm.re);
  return std::find(fm.values.begin(), fm.values.end(), it->second) != fm.values.end();
}

}  // namespace

bool MatcherMatches(const Matcher& m, const Notification& n) {
  bool any = m.mode_any;
  auto apply = [any](bool acc, bool v) { return any ? (acc || v) : (acc && v); };
  bool neutral = !any;
  bool result = neutral;
  bool no_matchers = true;
  auto group = [&](const auto& entries, auto pred) {
    if (entries.empty()) return;
    no_matchers = false;
    bool g = neutral;
    for (const auto& e : entries) g = apply(g, pred(e));
    result = apply(result, g);
  };
  group(m.match_severity, [&](const std::vector<Severity>& list) {
    return std::find(list.begin(), list.end(), n.severity) != list.end();
  });
  group(m.match_field, [&](const FieldMatch& fm) { return FieldMatches(fm, n); });
  group(m.match_calendar, [&](const DailyDuration& d) { return DurationContains(d, n.timestamp); });
  return no_matchers || result != m.invert_match;
}

std::vector<std::string> MatchingTargets(const Config& config, const Notification& n) {
  std::vector<std::string> selected;
  for (const Matcher& m : config.matchers) {
    if (m.disable || !MatcherMatches(m, n)) continue;
    for (const std::string& t : m.targets) {
      if (std::find(selected.begin(), selected.end(), t) == selected.end()) selected.push_back(t);
    }
  }
  // Config order, enabled targets only.
  std::vector<std::string> out;
  for (const Target& t : config.targets) {
    if (!t.disable && std::find(selected.begin(), selected.end(), t.name) != selected.end()) {
      out.push_back(t.name);
    }
  }
  return out;
}

}  // namespace ctdump::notify
