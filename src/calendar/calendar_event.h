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

// One element of a field's list: a single value, a range a..b, or a repetition
// start[..end]/step.
struct DateTimeValue {
  uint32_t start = 0;
  uint32_t end = 0;       // == start for a single value
  uint32_t step = 0;      // 0: no repetition
  bool open_end = false;  // repetition without an end ("5/10": 5, 15, ... up to the field's max)

  bool Contains(uint32_t v) const;
  // The smallest value > `v` that Contains() accepts, if any (no upper bound check).
  std::optional<uint32_t> NextAfter(uint32_t v) const;
};

class CalendarEvent {
 public:
  // Parses proxmox-time's calendar-event syntax. Errors are InvalidArgument
  // "invalid calendar event '<text>': <why>".
  static Result<CalendarEvent> Parse(std::string_view text);

  // The first occurrence strictly after `after` (seconds since the epoch), in
  // the process's local time (TZ) unless the event ends in UTC; nullopt if
  // there is none (e.g. `2021-02-30`, or only years that have passed) within the
  // search horizon (year 9999 in proxmox-time terms).
  std::optional<int64_t> NextAfter(int64_t after) const;
  // As NextAfter, with the zone given: `utc` true evaluates in UTC whatever the
  // event says, false in the process's local time unless the event says UTC.
  std::optional<int64_t> NextAfter(int64_t after, bool utc) const;

  // The text it was parsed from.
  const std::string& text() const { return text_; }
  bool utc() const { return utc_; }

  // A normalized form, e.g. "mon..fri *-*-* 02:00:00" (parses back to the same event).
  std::string ToString() const;

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
