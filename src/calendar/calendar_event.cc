// Parsing mirrors proxmox-time's nom parser combinator by combinator
// (calendar_event.rs: parse_calendar_event_incomplete, parse_date_spec,
// parse_time_spec, parse_date_time_comp_list; parse_helpers.rs:
// parse_time_comp; week_days.rs: parse_weekdays_range), including where it
// backtracks: every failure there is a recoverable nom::Err::Error, so an
// `opt(...)` that fails leaves the input as it was. That is why, as upstream,
// "25:00" is minute 25 second 0 (the hour list fails, the whole is re-read as
// minute[:second]). The evaluation is compute_next_event with its TmEditor:
// struct tm fields set and renormalized through timegm (UTC) or mktime with
// tm_isdst = -1 (local time).
#include "calendar/calendar_event.h"

#include <fmt/format.h>

#include <cctype>
#include <climits>
#include <ctime>
#include <utility>

namespace ctdump::calendar {

using Kind = DateTimeValue::Kind;
using List = std::vector<DateTimeValue>;

namespace {

// A field: its name for messages, the value `*/step` starts at, and the
// exclusive upper bound parse_time_comp checks (year 2200 as systemd).
struct Field {
  const char* name;
  uint32_t start;
  uint32_t max;
};
constexpr Field kYear{"year", 0, 2200};
constexpr Field kMonth{"month", 1, 13};
constexpr Field kDay{"day", 1, 32};
constexpr Field kHour{"hour", 0, 24};
constexpr Field kMinute{"minute", 0, 60};
constexpr Field kSecond{"second", 0, 60};

constexpr const char* kWeekdayNames[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr uint8_t kAllDays = 0x7f;

template <typename T>
struct Parsed {
  std::string_view rest;
  T value;
};
template <typename T>
using Maybe = std::optional<Parsed<T>>;

bool Contains(const DateTimeValue& v, uint64_t value) {
  switch (v.kind) {
    case Kind::kSingle:
      return v.start == value;
    case Kind::kRange:
      return value >= v.start && value <= v.end;
    case Kind::kRepeated:
      if (value < v.start) return false;
      if (v.step == 0) return v.start == value;
      return (value - v.start) % v.step == 0 && (!v.has_end || value <= v.end);
  }
  return false;
}

bool ListContains(const List& list, uint64_t value) {
  for (const DateTimeValue& v : list) {
    if (Contains(v, value)) return true;
  }
  return false;
}

// DateTimeValue::find_next: the smallest value > `value` some element allows.
// Not bounded by the field's maximum (an open repetition may give minute 65),
// as upstream: the caller's renormalization carries it into the next hour.
std::optional<uint64_t> FindNext(const List& list, uint64_t value) {
  std::optional<uint64_t> next;
  auto offer = [&next](uint64_t v) {
    if (!next || v < *next) next = v;
  };
  for (const DateTimeValue& v : list) {
    switch (v.kind) {
      case Kind::kSingle:
        if (v.start > value) offer(v.start);
        break;
      case Kind::kRange:
        if (value < v.start) {
          offer(v.start);
        } else if (value + 1 <= v.end) {
          offer(value + 1);
        }
        break;
      case Kind::kRepeated:
        if (value < v.start) {
          offer(v.start);
        } else if (v.step > 0) {
          uint64_t n = v.start + ((value - v.start + v.step) / v.step) * v.step;
          if (!v.has_end || n <= v.end) offer(n);
        }
        break;
    }
  }
  return next;
}

std::string_view SkipSpace(std::string_view i) {  // nom's space0: spaces and tabs
  while (!i.empty() && (i[0] == ' ' || i[0] == '\t')) i.remove_prefix(1);
  return i;
}

bool StartsWith(std::string_view i, std::string_view prefix) {
  return i.substr(0, prefix.size()) == prefix;
}

}  // namespace

// The parser. Failures are nullopt (nom's recoverable Error: the caller tries
// its alternative); the explanation of the failure furthest into the text is
// kept for the message.
class EventParser {
 public:
  explicit EventParser(std::string_view text) : text_(text) {}

  Result<CalendarEvent> Parse();

 private:
  void Fail(std::string_view at, std::string why) {
    size_t pos = static_cast<size_t>(at.data() - text_.data());
    if (!why_.empty() && pos < why_pos_) return;
    why_pos_ = pos;
    why_ = std::move(why);
  }
  Status Error(std::string why) const {
    return InvalidArgumentError(fmt::format("invalid calendar event '{}': {}", text_, why));
  }

  Maybe<uint32_t> Number(std::string_view i, const Field& f, const char* what);
  Maybe<DateTimeValue> Value(std::string_view i, const Field& f);
  Maybe<List> ValueList(std::string_view i, const Field& f);
  Maybe<uint8_t> Weekday(std::string_view i);
  Maybe<uint8_t> WeekdayRange(std::string_view i);
  bool DateSpec(std::string_view& i, CalendarEvent& event);
  bool TimeSpec(std::string_view& i, CalendarEvent& event);
  static std::optional<CalendarEvent> Alias(std::string_view i);

  std::string_view text_;
  size_t why_pos_ = 0;
  std::string why_;
};

// parse_time_comp(max): digits as a u32, below the field's bound.
Maybe<uint32_t> EventParser::Number(std::string_view i, const Field& f, const char* what) {
  size_t n = 0;
  uint64_t v = 0;
  bool overflow = false;
  while (n < i.size() && std::isdigit(static_cast<unsigned char>(i[n]))) {
    v = v * 10 + static_cast<uint64_t>(i[n] - '0');
    if (v > UINT32_MAX) {
      overflow = true;
      v = UINT32_MAX + uint64_t{1};
    }
    ++n;
  }
  if (n == 0) return std::nullopt;
  if (overflow || v >= f.max) {
    Fail(i, fmt::format("{} {} '{}' out of range (at most {})", f.name, what, i.substr(0, n),
                        f.max - 1));
    return std::nullopt;
  }
  return Parsed<uint32_t>{i.substr(n), static_cast<uint32_t>(v)};
}

// parse_date_time_comp: n | n..m | n/step | n..m/step.
Maybe<DateTimeValue> EventParser::Value(std::string_view i, const Field& f) {
  Maybe<uint32_t> start = Number(i, f, "value");
  if (!start) return std::nullopt;
  std::string_view rest = start->rest;
  DateTimeValue v{Kind::kSingle, start->value, start->value, 0, false};
  if (StartsWith(rest, "..")) {
    if (Maybe<uint32_t> end = Number(rest.substr(2), f, "value")) {
      if (v.start > end->value) {
        Fail(end->rest,
             fmt::format("{} range {}..{}: start is bigger than end", f.name, v.start, end->value));
        return std::nullopt;
      }
      v = {Kind::kRange, v.start, end->value, 0, false};
      rest = end->rest;
      if (!StartsWith(rest, "/")) return Parsed<DateTimeValue>{rest, v};
      Maybe<uint32_t> step = Number(rest.substr(1), f, "repetition");
      if (!step) return std::nullopt;
      return Parsed<DateTimeValue>{step->rest,
                                   {Kind::kRepeated, v.start, v.end, step->value, true}};
    }
  }
  if (!StartsWith(rest, "/")) return Parsed<DateTimeValue>{rest, v};
  Maybe<uint32_t> step = Number(rest.substr(1), f, "repetition");
  if (!step) return std::nullopt;
  return Parsed<DateTimeValue>{step->rest, {Kind::kRepeated, v.start, 0, step->value, false}};
}

// parse_date_time_comp_list: `*`, `*/step` (step > 0), or values separated by commas.
Maybe<List> EventParser::ValueList(std::string_view i, const Field& f) {
  if (StartsWith(i, "*")) {
    std::string_view rest = i.substr(1);
    if (StartsWith(rest, "/")) {
      Maybe<uint32_t> step = Number(rest.substr(1), f, "repetition");
      if (!step) return std::nullopt;
      if (step->value > 0) {
        return Parsed<List>{step->rest, {{Kind::kRepeated, f.start, 0, step->value, false}}};
      }
    }
    return Parsed<List>{rest, {}};
  }
  Maybe<DateTimeValue> first = Value(i, f);
  if (!first) return std::nullopt;
  Parsed<List> out{first->rest, {first->value}};
  while (StartsWith(out.rest, ",")) {
    Maybe<DateTimeValue> next = Value(out.rest.substr(1), f);
    if (!next) break;  // separated_list1 stops before the separator
    out.value.push_back(next->value);
    out.rest = next->rest;
  }
  return out;
}

// parse_weekday: a run of letters naming a day, any case.
Maybe<uint8_t> EventParser::Weekday(std::string_view i) {
  size_t n = 0;
  while (n < i.size() && std::isalpha(static_cast<unsigned char>(i[n]))) ++n;
  if (n == 0) return std::nullopt;
  std::string word(i.substr(0, n));
  for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr const char* kLong[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                           "friday", "saturday", "sunday"};
  for (int d = 0; d < 7; ++d) {
    if (word == kWeekdayNames[d] || word == kLong[d]) {
      return Parsed<uint8_t>{i.substr(n), static_cast<uint8_t>(1u << d)};
    }
  }
  Fail(i, fmt::format("'{}' is not a weekday (mon..sun) nor a keyword (minutely, hourly, daily, "
                      "weekly, monthly, yearly, annually, quarterly, semiannually)",
                      i.substr(0, n)));
  return std::nullopt;
}

// parse_weekdays_range: day or day..day; fri..mon wraps over the weekend.
Maybe<uint8_t> EventParser::WeekdayRange(std::string_view i) {
  Maybe<uint8_t> start = Weekday(i);
  if (!start) return std::nullopt;
  if (!StartsWith(start->rest, "..")) return start;
  Maybe<uint8_t> end = Weekday(start->rest.substr(2));
  if (!end) return start;  // opt(pair(..)) leaves ".." unconsumed
  auto range = [](unsigned from, unsigned to) {
    unsigned bits = 0;
    for (unsigned b = from; b <= to; b <<= 1) bits |= b;
    return static_cast<uint8_t>(bits);
  };
  uint8_t bits = start->value <= end->value
                     ? range(start->value, end->value)
                     : static_cast<uint8_t>(range(start->value, 64) | range(1, end->value));
  return Parsed<uint8_t>{end->rest, bits};
}

// parse_date_spec: year-month-day, else month-day.
bool EventParser::DateSpec(std::string_view& i, CalendarEvent& event) {
  if (Maybe<List> year = ValueList(i, kYear); year && StartsWith(year->rest, "-")) {
    if (Maybe<List> month = ValueList(year->rest.substr(1), kMonth);
        month && StartsWith(month->rest, "-")) {
      if (Maybe<List> day = ValueList(month->rest.substr(1), kDay)) {
        event.year_ = std::move(year->value);
        event.month_ = std::move(month->value);
        event.day_ = std::move(day->value);
        i = day->rest;
        return true;
      }
    }
  }
  if (Maybe<List> month = ValueList(i, kMonth); month && StartsWith(month->rest, "-")) {
    if (Maybe<List> day = ValueList(month->rest.substr(1), kDay)) {
      event.month_ = std::move(month->value);
      event.day_ = std::move(day->value);
      i = day->rest;
      return true;
    }
  }
  return false;
}

// parse_time_spec: [hours ":"] minutes [":" seconds]; seconds default to 0,
// hours to any.
bool EventParser::TimeSpec(std::string_view& i, CalendarEvent& event) {
  std::string_view rest = i;
  List hour;
  if (Maybe<List> h = ValueList(i, kHour); h && StartsWith(h->rest, ":")) {
    hour = std::move(h->value);
    rest = h->rest.substr(1);
  }
  Maybe<List> minute = ValueList(rest, kMinute);
  if (!minute) return false;
  rest = minute->rest;
  List second = {{Kind::kSingle, 0, 0, 0, false}};
  if (StartsWith(rest, ":")) {
    if (Maybe<List> s = ValueList(rest.substr(1), kSecond)) {
      second = std::move(s->value);
      rest = s->rest;
    }
  }
  event.hour_ = std::move(hour);
  event.minute_ = std::move(minute->value);
  event.second_ = std::move(second);
  i = rest;
  return true;
}

// The keywords, exactly as written (case matters, as upstream).
std::optional<CalendarEvent> EventParser::Alias(std::string_view i) {
  const List zero = {{Kind::kSingle, 0, 0, 0, false}};
  const List one = {{Kind::kSingle, 1, 1, 0, false}};
  auto months = [](std::initializer_list<uint32_t> ms) {
    List l;
    for (uint32_t m : ms) l.push_back({Kind::kSingle, m, m, 0, false});
    return l;
  };
  CalendarEvent e;
  e.second_ = zero;
  if (i == "minutely") return e;
  e.minute_ = zero;
  if (i == "hourly") return e;
  e.hour_ = zero;
  if (i == "daily") return e;
  if (i == "weekly") {
    e.days_ = 1;
    return e;
  }
  e.day_ = one;
  if (i == "monthly") return e;
  if (i == "yearly" || i == "annually") {
    e.month_ = one;
    return e;
  }
  if (i == "quarterly") {
    e.month_ = months({1, 4, 7, 10});
    return e;
  }
  if (i == "semiannually" || i == "semi-annually") {
    e.month_ = months({1, 7});
    return e;
  }
  return std::nullopt;
}

Result<CalendarEvent> EventParser::Parse() {
  std::string_view i = text_;
  bool utc = false;
  if (i.size() >= 3 && i.substr(i.size() - 3) == "UTC") {
    utc = true;
    i.remove_suffix(3);
    while (!i.empty() && i.back() == ' ') i.remove_suffix(1);
  }
  CalendarEvent event;
  bool has_spec = false;
  if (!i.empty() && std::isalpha(static_cast<unsigned char>(i[0]))) {
    if (std::optional<CalendarEvent> alias = Alias(i)) {
      alias->text_ = std::string(text_);
      alias->utc_ = utc;
      return *std::move(alias);
    }
    Maybe<uint8_t> days = WeekdayRange(i);
    if (!days) return Error(why_);
    event.days_ = days->value;
    i = days->rest;
    while (StartsWith(i, ",")) {
      Maybe<uint8_t> more = WeekdayRange(i.substr(1));
      if (!more) break;
      event.days_ |= more->value;
      i = more->rest;
    }
    i = SkipSpace(i);
    has_spec = true;
  }
  if (DateSpec(i, event)) {
    i = SkipSpace(i);
    has_spec = true;
  }
  if (TimeSpec(i, event)) {
    has_spec = true;
  } else {
    event.hour_ = event.minute_ = event.second_ = {{Kind::kSingle, 0, 0, 0, false}};
  }
  if (!has_spec || !i.empty()) {
    // Say what stopped the parse where it stopped (or further), if anything
    // did; else what is missing or left over.
    size_t pos = static_cast<size_t>(i.data() - text_.data());
    if (!why_.empty() && why_pos_ >= pos) return Error(why_);
    if (!has_spec) return Error("expected a weekday, a date or a time");
    return Error(fmt::format("unexpected '{}'", SkipSpace(i)));
  }
  event.text_ = std::string(text_);
  event.utc_ = utc;
  return event;
}

Result<CalendarEvent> CalendarEvent::Parse(std::string_view text) {
  return EventParser(text).Parse();
}

namespace {

// proxmox-time's TmEditor: a broken-down time whose setters reset the smaller
// fields and renormalize. Arithmetic that would leave int fails like a failed
// timegm.
//
// In local time upstream renormalizes with mktime(tm_isdst = -1). Where the
// wall-clock time is ambiguous (it happens twice when the clocks go back) or
// does not exist (clocks go forward), glibc's mktime answers from a guess it
// keeps from its previous call, so upstream's result depends on the process's
// history. We fix the answer to the one glibc gives in its usual state (the
// guess is the offset in force before the transition, as in a scheduler that
// has been running through the night): a missing time is read with the old
// offset (02:30 becomes 03:30 when 02:00 jumps to 03:00), an ambiguous one is
// its first instance not before the time the search started from, so every
// wall-clock time happens once and a result is never before the start.
class TmEditor {
 public:
  static std::optional<TmEditor> WithEpoch(int64_t epoch, bool utc) {
    TmEditor t;
    t.utc_ = utc;
    t.start_ = t.epoch_ = epoch;
    time_t time = static_cast<time_t>(epoch);
    if ((utc ? gmtime_r(&time, &t.tm_) : localtime_r(&time, &t.tm_)) == nullptr) {
      return std::nullopt;
    }
    return t;
  }

  int64_t year() const { return int64_t{tm_.tm_year} + 1900; }
  int64_t month() const { return tm_.tm_mon + 1; }
  int64_t day() const { return tm_.tm_mday; }
  int64_t day_num() const { return (tm_.tm_wday + 6) % 7; }  // Monday = 0
  int64_t hour() const { return tm_.tm_hour; }
  int64_t min() const { return tm_.tm_min; }
  int64_t sec() const { return tm_.tm_sec; }

  bool AddYears(int64_t years) {
    if (years == 0) return true;
    tm_.tm_mon = 0;
    tm_.tm_mday = 1;
    tm_.tm_hour = tm_.tm_min = tm_.tm_sec = 0;
    return Add(tm_.tm_year, years) && Normalize();
  }
  bool AddMonths(int64_t months) {
    if (months == 0) return true;
    tm_.tm_mday = 1;
    tm_.tm_hour = tm_.tm_min = tm_.tm_sec = 0;
    return Add(tm_.tm_mon, months) && Normalize();
  }
  bool AddDays(int64_t days) {
    if (days == 0) return true;
    tm_.tm_hour = tm_.tm_min = tm_.tm_sec = 0;
    return Add(tm_.tm_mday, days) && Normalize();
  }
  bool SetTime(int64_t hour, int64_t min, int64_t sec) {
    return Set(tm_.tm_hour, hour) && Set(tm_.tm_min, min) && Set(tm_.tm_sec, sec) && Normalize();
  }
  bool SetMinSec(int64_t min, int64_t sec) {
    return Set(tm_.tm_min, min) && Set(tm_.tm_sec, sec) && Normalize();
  }
  bool SetSec(int64_t sec) { return Set(tm_.tm_sec, sec) && Normalize(); }

  // into_epoch: normalizes once more (as upstream) and returns the time.
  std::optional<int64_t> IntoEpoch() {
    if (!Normalize()) return std::nullopt;
    return epoch_;
  }

 private:
  static bool Add(int& field, int64_t delta) {
    int64_t v = int64_t{field} + delta;
    return Set(field, v);
  }
  static bool Set(int& field, int64_t v) {
    if (v < INT_MIN || v > INT_MAX) return false;
    field = static_cast<int>(v);
    return true;
  }
  bool Normalize() {
    struct tm wall = tm_;
    wall.tm_isdst = 0;
    time_t w = timegm(&wall);                        // the wall-clock fields, carried, as seconds
    if (w == static_cast<time_t>(-1)) return false;  // as upstream, even for a real -1
    if (utc_) {
      tm_ = wall;
      epoch_ = w;
      return true;
    }
    std::optional<int64_t> t = ResolveLocal(w);
    if (!t) return false;
    time_t tt = static_cast<time_t>(*t);
    if (localtime_r(&tt, &tm_) == nullptr) return false;
    epoch_ = *t;
    return true;
  }

  // The instant whose local wall-clock time is `wall` (seconds as if UTC).
  std::optional<int64_t> ResolveLocal(int64_t wall) const {
    std::optional<long> before = Offset(wall - 86400);  // zones move by less than a day
    std::optional<long> after = Offset(wall + 86400);
    if (!before || !after) return std::nullopt;
    std::optional<int64_t> first_from_start, last_before_start;
    for (long off : {*before, *after}) {
      int64_t t = wall - off;
      if (Offset(t) != off) continue;  // not a reading of `wall` with this offset
      if (t >= start_) {
        if (!first_from_start || t < *first_from_start) first_from_start = t;
      } else if (!last_before_start || t > *last_before_start) {
        last_before_start = t;
      }
    }
    if (first_from_start) return first_from_start;
    if (last_before_start) return last_before_start;
    return wall - *before;  // in the gap: read with the old offset
  }

  static std::optional<long> Offset(int64_t t) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    if (localtime_r(&tt, &tm) == nullptr) return std::nullopt;
    return tm.tm_gmtoff;
  }

  bool utc_ = false;
  struct tm tm_ = {};
  int64_t start_ = 0;  // where the search started (`after` + 1)
  int64_t epoch_ = 0;
};

}  // namespace

std::optional<int64_t> CalendarEvent::NextAfter(int64_t after) const {
  return NextAfter(after, utc_);
}

// compute_next_event: at most 1001 rounds; each checks the fields from the
// year down and, at the first that does not match, jumps that field to its next
// allowed value (resetting the smaller ones) or carries into the larger one.
std::optional<int64_t> CalendarEvent::NextAfter(int64_t after, bool utc) const {
  if (after == INT64_MAX) return std::nullopt;
  std::optional<TmEditor> t = TmEditor::WithEpoch(after + 1, utc);
  if (!t) return std::nullopt;
  const bool all_days = days_ == 0 || days_ == kAllDays;
  for (int round = 0; round <= 1000; ++round) {
    if (!year_.empty()) {
      int64_t year = t->year();
      if (year < 0 || year > UINT32_MAX) return std::nullopt;  // u32::try_from fails upstream
      if (!ListContains(year_, year)) {
        std::optional<uint64_t> n = FindNext(year_, year);
        if (!n || !t->AddYears(static_cast<int64_t>(*n) - year)) return std::nullopt;
        continue;
      }
    }
    if (!month_.empty() && !ListContains(month_, t->month())) {
      std::optional<uint64_t> n = FindNext(month_, t->month());
      if (!(n ? t->AddMonths(static_cast<int64_t>(*n) - t->month()) : t->AddYears(1))) {
        return std::nullopt;
      }
      continue;
    }
    if (!day_.empty() && !ListContains(day_, t->day())) {
      std::optional<uint64_t> n = FindNext(day_, t->day());
      if (!(n ? t->AddDays(static_cast<int64_t>(*n) - t->day()) : t->AddMonths(1))) {
        return std::nullopt;
      }
      continue;
    }
    if (!all_days) {
      int64_t day_num = t->day_num();
      if ((days_ & (1u << day_num)) == 0) {
        int64_t n = day_num + 1;
        while (n < 7 && (days_ & (1u << n)) == 0) ++n;
        if (!t->AddDays(n - day_num)) return std::nullopt;  // n == 7: next week's Monday
        continue;
      }
    }
    if (!hour_.empty() && !ListContains(hour_, t->hour())) {
      std::optional<uint64_t> n = FindNext(hour_, t->hour());
      if (!(n ? t->SetTime(static_cast<int64_t>(*n), 0, 0) : t->AddDays(1))) return std::nullopt;
      continue;
    }
    if (!minute_.empty() && !ListContains(minute_, t->min())) {
      std::optional<uint64_t> n = FindNext(minute_, t->min());
      if (!(n ? t->SetMinSec(static_cast<int64_t>(*n), 0) : t->SetTime(t->hour() + 1, 0, 0))) {
        return std::nullopt;
      }
      continue;
    }
    if (!second_.empty() && !ListContains(second_, t->sec())) {
      std::optional<uint64_t> n = FindNext(second_, t->sec());
      if (!(n ? t->SetSec(static_cast<int64_t>(*n)) : t->SetMinSec(t->min() + 1, 0))) {
        return std::nullopt;
      }
      continue;
    }
    return t->IntoEpoch();
  }
  return std::nullopt;
}

namespace {

std::string FormatList(const List& list, int width) {
  if (list.empty()) return "*";
  std::string out;
  for (const DateTimeValue& v : list) {
    if (!out.empty()) out += ',';
    out += fmt::format("{:0{}}", v.start, width);
    if (v.kind == Kind::kRange || (v.kind == Kind::kRepeated && v.has_end)) {
      out += fmt::format("..{:0{}}", v.end, width);
    }
    if (v.kind == Kind::kRepeated) out += fmt::format("/{}", v.step);
  }
  return out;
}

std::string FormatDays(uint8_t days) {
  std::string out;
  for (int d = 0; d < 7;) {
    if ((days & (1u << d)) == 0) {
      ++d;
      continue;
    }
    int last = d;
    while (last + 1 < 7 && (days & (1u << (last + 1))) != 0) ++last;
    if (!out.empty()) out += ',';
    out += kWeekdayNames[d];
    if (last > d) out += fmt::format("..{}", kWeekdayNames[last]);
    d = last + 1;
  }
  return out;
}

}  // namespace

std::string CalendarEvent::ToString() const {
  std::string out;
  if (days_ != 0) out = FormatDays(days_) + " ";
  out += fmt::format("{}-{}-{} {}:{}:{}", FormatList(year_, 0), FormatList(month_, 2),
                     FormatList(day_, 2), FormatList(hour_, 2), FormatList(minute_, 2),
                     FormatList(second_, 2));
  if (utc_) out += " UTC";
  return out;
}

bool CalendarEvent::operator==(const CalendarEvent& o) const {
  return utc_ == o.utc_ && days_ == o.days_ && second_ == o.second_ && minute_ == o.minute_ &&
         hour_ == o.hour_ && day_ == o.day_ && month_ == o.month_ && year_ == o.year_;
}

}  // namespace ctdump::calendar
