// Calendar events: the schedule syntax of Proxmox VE and Proxmox Backup Server.
//
// The grammar and its evaluation follow the Rust crate proxmox-time
// (src/calendar_event.rs, src/parse_helpers.rs), which PVE's pvescheduler and
// PBS use, so that a jobs.cfg `schedule` means here what it means there:
//
//   event    := (keyword | [weekdays] [date] [time]) [" "* "UTC"]   (at least one part)
//   keyword  := minutely | hourly | daily | weekly | monthly | yearly | annually
//             | quarterly | semiannually | semi-annually          (lower case only)
//   weekdays := wd ("," wd)*,  wd := day | day ".." day   (mon..sun or monday..sunday, any
//                                                          case; fri..mon wraps)
//   date     := [years "-"] months "-" days
//   time     := [hours ":"] minutes [":" seconds]          (a lone list is minutes)
//   list     := "*" | "*/" step | value ("," value)*
//   value    := n | n ".." m | n "/" step | n ".." m "/" step
//
// Parts are separated by optional spaces or tabs; nothing else is skipped.
// Bounds as upstream: years 0..2199, months 0..12 (0 never matches), days
// 0..31, hours 0..23, minutes and seconds 0..59; a step is bounded likewise.
// `*/step` starts at the field's first value (1 for months and days, else 0).
// Defaults as in proxmox-time: no time part is 00:00:00; a time without
// seconds has second 0; a time without hours is every hour; no date or
// weekday part is every day. So `sat` = sat 00:00:00, `02:00` = daily
// 02:00:00, `*/15` = minutes 0, 15, 30, 45 of every hour. Where nom
// backtracks, so does this parser: `25:00` is every hour at minute 25 (the
// hour list fails and the text is read again as minute:second), as upstream.
//
// Evaluation is compute_next_event: fields from year down to second, each
// jumping to its next allowed value or carrying into the larger field, at
// most 1001 steps. In local time a wall-clock time that does not exist is
// read with the offset before the change (a daily 02:30 skips the spring
// transition day), and one that exists twice happens once, at its first
// instance not before the search start (see calendar_event.cc for where that
// pins down what glibc's mktime leaves to chance upstream).
//
// A CalendarEvent is an immutable value, safe to share between threads
// (NextAfter reads the zone through localtime_r and timegm; the zone is the
// process's TZ).
#ifndef CTDUMP_CALENDAR_CALENDAR_EVENT_H_
#define CTDUMP_CALENDAR_CALENDAR_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::calendar {

// One element of a field's list, as proxmox-time's DateTimeValue: a single
// value, a range a..b, or a repetition start[..end]/step (step 0: start only).
struct DateTimeValue {
  enum class Kind { kSingle, kRange, kRepeated };
  Kind kind = Kind::kSingle;
  uint32_t start = 0;
  uint32_t end = 0;      // kRange, and kRepeated when has_end
  uint32_t step = 0;     // kRepeated
  bool has_end = false;  // kRepeated: "4..10/2" has one, "5/10" repeats without a bound

  bool operator==(const DateTimeValue&) const = default;
};

class CalendarEvent {
 public:
  // Parses proxmox-time's calendar-event syntax. Errors are InvalidArgument
  // "invalid calendar event '<text>': <why>".
  static Result<CalendarEvent> Parse(std::string_view text);

  // The first occurrence strictly after `after` (seconds since the epoch), in
  // the process's local time (TZ) unless the event ends in UTC; nullopt if
  // there is none: `2021-02-30`, only years that have passed, or no match
  // within proxmox-time's bound of 1000 field steps (`*-02-30` gives up after
  // some hundred years; a weekday on a date such as `fri *-02-29` is found, 28
  // years take fewer steps). Steps jump field by field (year, month, day,
  // weekday, hour, minute, second), so it never walks minutes one by one.
  std::optional<int64_t> NextAfter(int64_t after) const;
  // As NextAfter, with the zone given: UTC if `utc`, else the process's local
  // time, whatever the event says (proxmox-time's compute_next_event(event,
  // last, utc)).
  std::optional<int64_t> NextAfter(int64_t after, bool utc) const;

  // The text it was parsed from.
  const std::string& text() const { return text_; }
  bool utc() const { return utc_; }

  // A normalized form, e.g. "mon..fri *-*-* 02:00:00" (parses back to an equal event).
  std::string ToString() const;

  // Equal when they match the same fields in the same way (the text aside).
  bool operator==(const CalendarEvent& other) const;

 private:
  CalendarEvent() = default;

  std::string text_;
  bool utc_ = false;
  uint8_t days_ = 0;  // bit i: weekday i (0 = Monday); 0 = any day
  std::vector<DateTimeValue> second_, minute_, hour_, day_, month_, year_;  // empty = any

  friend class EventParser;
};

}  // namespace ctdump::calendar

#endif  // CTDUMP_CALENDAR_CALENDAR_EVENT_H_
