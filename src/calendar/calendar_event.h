// Calendar events: the schedule syntax of Proxmox VE and Proxmox Backup Server.
//
// The grammar and its evaluation follow the Rust crate proxmox-time
// (src/calendar_event.rs, src/parse_helpers.rs), which PVE's pvescheduler and
// PBS use, so that a jobs.cfg `schedule` means here what it means there:
//
//   event    := alias | [weekdays] [date] [time] ["UTC"]      (at least one part)
//   alias    := minutely | hourly | daily | weekly | monthly | yearly | annually
//             | quarterly | semiannually | semi-annually
//   weekdays := wd ("," wd)*,  wd := day | day ".." day   (mon, tue, ... or monday, ...)
//   date     := [[year "-"] month "-"] day   (each a value list, see below)
//   time     := hour ":" minute [":" second]  |  minute   (a lone list means minutes)
//   list     := value ("," value)*,  value := "*" | n | n ".." m | (n | n ".." m) "/" step
//
// Unspecified fields default as in proxmox-time: fields left of the first given
// one are "any", fields right of it are 0 (`sat` = sat 00:00:00, `02:00` = every
// day at 02:00:00, `*/15` = minutes 0,15,30,45 of every hour).
//
// A CalendarEvent is an immutable value; it is safe to share between threads
// (NextAfter reads the time-zone database through localtime_r / mktime, which
// take the process's TZ).
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
