#include "calendar/calendar_event.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "base/test_util.h"

namespace ctdump::calendar {
namespace {

using ::ctdump::testing::ScopedTz;

// Runs every test in UTC unless it sets another zone, so that events without
// "UTC" do not depend on the machine's zone.
class CalendarEventTest : public ::testing::Test {
 protected:
  ScopedTz utc_{"UTC"};
};

constexpr int64_t kMin = 60;
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;
constexpr int64_t kNever = -1;  // in the tables: NextAfter gives nullopt

CalendarEvent MustParse(const std::string& text) {
  Result<CalendarEvent> e = CalendarEvent::Parse(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status().ToString();
  if (!e.ok()) return *CalendarEvent::Parse("daily");
  return *std::move(e);
}

int64_t Next(const std::string& text, int64_t after) {
  return MustParse(text).NextAfter(after).value_or(kNever);
}

// "YYYY-MM-DD HH:MM:SS" in the current TZ -> seconds since the epoch.
int64_t Local(const char* text) {
  struct tm tm = {};
  int n = sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                 &tm.tm_min, &tm.tm_sec);
  EXPECT_EQ(n, 6) << text;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_isdst = -1;
  return mktime(&tm);
}

// Formats `t` in the current TZ, for failure messages.
std::string Show(int64_t t) {
  if (t == kNever) return "never";
  time_t tt = t;
  struct tm tm;
  localtime_r(&tt, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%F %T %Z", &tm);
  return std::to_string(t) + " (" + buf + ")";
}

struct NextCase {
  const char* event;
  int64_t after;
  int64_t expected;  // kNever: no occurrence
};

void ExpectTable(const std::vector<NextCase>& cases) {
  for (const NextCase& c : cases) {
    int64_t got = Next(c.event, c.after);
    EXPECT_EQ(got, c.expected) << "'" << c.event << "' after " << Show(c.after) << ": got "
                               << Show(got) << ", want " << Show(c.expected);
  }
}

// ---------------------------------------------------------------------------
// Upstream vectors: proxmox-rs, proxmox-time/src/test.rs, test_compute_next_event
// (proxmox-time 2.1.1). Its test_value() appends " UTC" to every event; so
// does this table.

constexpr int64_t kThursday0000 = 0;           // make_test_time(0, 0, 0)
constexpr int64_t kThursday1500 = 15 * kHour;  // make_test_time(0, 15, 0)
constexpr int64_t kJul312020 = 1596153600;     // Friday, 2020-07-31 00:00:00
constexpr int64_t kDec312020 = 1609372800;     // Thursday, 2020-12-31 00:00:00

TEST_F(CalendarEventTest, UpstreamComputeNextEvent) {
  const int64_t t = kThursday0000;
  ExpectTable({
      // minute only syntax
      {"0 UTC", t, t + kHour},
      {"* UTC", t, t + kMin},
      {"*:0 UTC", t, t + kHour},
      {"*:* UTC", t, t + kMin},
      {"*:*:* UTC", t, t + 1},
      {"*:3:5 UTC", t, t + 3 * kMin + 5},
      {"mon *:* UTC", t, t + 4 * kDay},
      {"mon 2:* UTC", t, t + 4 * kDay + 2 * kHour},
      {"mon 2:50 UTC", t, t + 4 * kDay + 2 * kHour + 50 * kMin},
      {"tue UTC", t, t + 5 * kDay},
      {"wed UTC", t, t + 6 * kDay},
      {"thu UTC", t, t + 7 * kDay},
      {"fri UTC", t, t + 1 * kDay},
      {"sat UTC", t, t + 2 * kDay},
      {"sun UTC", t, t + 3 * kDay},
      // repeated ranges
      {"4..10/2:0 UTC", t, t + 4 * kHour},
      {"4..10/2:0 UTC", t + 5 * kHour, t + 6 * kHour},
      {"4..10/2:0 UTC", t + 11 * kHour, t + 1 * kDay + 4 * kHour},
      // multiple values for a single field; the order does not matter
      {"5,10:4,8 UTC", t, t + 5 * kHour + 4 * kMin},
      {"10,5:8,4 UTC", t, t + 5 * kHour + 4 * kMin},
      {"6,4..10:23,5/5 UTC", t, t + 4 * kHour + 5 * kMin},
      {"4..10,6:5/5,23 UTC", t, t + 4 * kHour + 5 * kMin},
      // month wrapping
      {"sat UTC", kJul312020, kJul312020 + 1 * kDay},
      {"sun UTC", kJul312020, kJul312020 + 2 * kDay},
      {"mon UTC", kJul312020, kJul312020 + 3 * kDay},
      {"tue UTC", kJul312020, kJul312020 + 4 * kDay},
      {"wed UTC", kJul312020, kJul312020 + 5 * kDay},
      {"thu UTC", kJul312020, kJul312020 + 6 * kDay},
      {"fri UTC", kJul312020, kJul312020 + 7 * kDay},
      // year wrapping
      {"fri UTC", kDec312020, kDec312020 + 1 * kDay},
      {"sat UTC", kDec312020, kDec312020 + 2 * kDay},
      {"sun UTC", kDec312020, kDec312020 + 3 * kDay},
      {"mon UTC", kDec312020, kDec312020 + 4 * kDay},
      {"tue UTC", kDec312020, kDec312020 + 5 * kDay},
      {"wed UTC", kDec312020, kDec312020 + 6 * kDay},
      {"thu UTC", kDec312020, kDec312020 + 7 * kDay},
      {"daily UTC", t, t + kDay},
      {"daily UTC", t + 1, t + kDay},
      // date functionality
      {"2020-07-31 UTC", 0, kJul312020},
      {"02-28 UTC", 0, (31 + 27) * kDay},
      {"02-29 UTC", 0, 2 * 365 * kDay + (31 + 28) * kDay},  // 1972-02-29
      {"1965/5-01-01 UTC", -1, t},
      {"2020-7..9-2/2 UTC", kJul312020, kJul312020 + 2 * kDay},
      {"2020,2021-12-31 UTC", kJul312020, kDec312020},
      // keyword shortcuts
      {"minutely UTC", t, t + kMin},
      {"hourly UTC", t, t + kHour},
      {"weekly UTC", t, t + 4 * kDay},  // next Monday
      {"monthly UTC", 0, 31 * kDay},
      {"quarterly UTC", 0, (31 + 28 + 31) * kDay},
      {"semiannually UTC", 0, (31 + 28 + 31 + 30 + 31 + 30) * kDay},
      {"semi-annually UTC", 0, (31 + 28 + 31 + 30 + 31 + 30) * kDay},
      {"yearly UTC", 0, 365 * kDay},
      {"annually UTC", 0, 365 * kDay},
      // test_never
      {"2021-02-29 UTC", 0, kNever},
      {"02-30 UTC", 0, kNever},
  });
}

// The chained parts of test_compute_next_event: each result is the next `after`.
TEST_F(CalendarEventTest, UpstreamChains) {
  const int64_t t = kThursday0000;
  int64_t n = t;
  for (int64_t hour : {5, 7, 9, 11}) {
    n = Next("5/2:0 UTC", n);
    EXPECT_EQ(n, t + hour * kHour);
  }
  n = t;
  for (int64_t i = 1; i < 100; ++i) {
    n = Next("*:* UTC", n);
    ASSERT_EQ(n, t + i * kMin) << i;
  }
  n = t;
  for (int64_t i = 1; i < 100; ++i) {
    n = Next("*:0 UTC", n);
    ASSERT_EQ(n, t + i * kHour) << i;
  }
  n = kThursday1500;
  for (int64_t i = 1; i < 100; ++i) {
    n = Next("1:0 UTC", n);
    ASSERT_EQ(n, t + i * kDay + kHour) << i;
  }
}

// proxmox-time/src/test.rs, test_calendar_event_weekday: these parse.
TEST_F(CalendarEventTest, UpstreamWeekdaysParse) {
  for (const char* text :
       {"mon,wed..fri", "fri..mon", "mon",      "MON",         "monDay",
        "tue",          "Tuesday",  "wed",      "wednesday",   "thu",
        "thursday",     "fri",      "friday",   "sat",         "saturday",
        "sun",          "sunday",   "mon..fri", "mon,tue,fri", "mon,tue..wednesday,fri..sat"}) {
    EXPECT_TRUE(CalendarEvent::Parse(text).ok()) << text;
  }
}

// The examples of CalendarEvent's and verify_calendar_event's doc comments
// (proxmox-time/src/calendar_event.rs).
TEST_F(CalendarEventTest, UpstreamDocExamples) {
  EXPECT_EQ(Next("daily UTC", 0), 86400);
  EXPECT_EQ(Next("mon..fri *:00 UTC", 0), 3600);  // epoch 0 is a Thursday
  EXPECT_NE(Next("2020-07-31 12:00 UTC", 0), kNever);
  EXPECT_TRUE(CalendarEvent::Parse("daily").ok());
  EXPECT_TRUE(CalendarEvent::Parse("mon..fri *:00").ok());
  EXPECT_FALSE(CalendarEvent::Parse("not valid!").ok());
}

// PVE's table from before it moved to proxmox-time (pve-common,
// test/calendar_event_test.pl), evaluated in UTC as there. proxmox-time gives
// the same next events; it differs in one parse: 'Fri..Mon' was "wrong order"
// there and wraps over the weekend here (WrappingWeekdayRange).
TEST_F(CalendarEventTest, PveCommonVectors) {
  ExpectTable({
      {"*", 0, 60},
      {"*", 30, 60},
      {"*", 59, 60},
      {"*", 60, 120},
      {"*/10", 0, 600},
      {"*/10", 599, 600},
      {"*/10", 600, 1200},
      {"*/10", 50 * 60, 60 * 60},
      {"*/12:0", 10, 43200},
      {"*/12:0", 13 * 3600, 24 * 3600},
      {"1/12:0/15", 0, 3600},
      {"1/12:0/15", 3600, 3600 + 15 * 60},
      {"1/12:0/15", 3600 + 16 * 60, 3600 + 30 * 60},
      {"1/12:0/15", 3600 + 30 * 60, 3600 + 45 * 60},
      {"1/12:0/15", 3600 + 45 * 60, 3600 + 12 * 3600},
      {"1/12:0/15", 13 * 3600 + 1, 13 * 3600 + 15 * 60},
      {"1/12:0/15", 13 * 3600 + 15 * 60, 13 * 3600 + 30 * 60},
      {"1/12:0/15", 13 * 3600 + 30 * 60, 13 * 3600 + 45 * 60},
      {"1/12:0/15", 13 * 3600 + 45 * 60, 25 * 3600},
      {"1,4,6", 0, 60},
      {"1,4,6", 60, 4 * 60},
      {"1,4,6", 4 * 60 + 60, 6 * 60},
      {"1,4,6", 6 * 60, 3600 + 60},
      {"Mon", 0, 4 * 86400},
      {"Mon", 4 * 86400, 11 * 86400},
      {"Mon", 11 * 86400, 18 * 86400},
      {"sat..sun", 0, 2 * 86400},
      {"sat..sun", 2 * 86400, 3 * 86400},
      {"sat..sun", 3 * 86400, 9 * 86400},
      {"22/1:0", 0, 22 * 60 * 60},
      {"22/1:0", 22 * 60 * 60, 23 * 60 * 60},
      {"22/1:0", 22 * 60 * 60 + 59 * 60, 23 * 60 * 60},
      {"*/2:*", 0, 60},
      {"*/2:*", 60 * 60, 2 * 60 * 60},
      {"*/2:*", 2 * 60 * 60, 2 * 60 * 60 + 60},
      {"20..22:*/30", 0, 20 * 60 * 60},
      {"20..22:*/30", 20 * 60 * 60, 20 * 60 * 60 + 30 * 60},
      {"20..22:*/30", 22 * 60 * 60 + 30 * 60, 44 * 60 * 60},
      // Parsed only there; here with their first event.
      {"0..3", 0, 60},
      {"23..23:0..3", 0, 23 * 3600},
      {"sun..sat", 0, 86400},
      {"wed,mon..tue,fri", 0, 86400},
      {"mon */15", 0, 4 * 86400},
  });
}

// ---------------------------------------------------------------------------
// Parsing: what fails, and that the message names what is wrong.

TEST_F(CalendarEventTest, ParseErrorsNameTheProblem) {
  struct Case {
    const char* text;
    const char* why;  // a part of the message after "invalid calendar event '<text>': "
  };
  const Case cases[] = {
      {"", "expected a weekday, a date or a time"},
      {"UTC", "expected a weekday, a date or a time"},
      {" daily", "expected a weekday, a date or a time"},  // no trimming, as upstream
      {"foo", "'foo' is not a weekday"},
      {"not valid!", "'not' is not a weekday"},
      {"Daily", "'Daily' is not a weekday"},  // keywords are lower case
      {"daily ", "'daily' is not a weekday"},
      {"mon,", "unexpected ','"},
      {"mon, wed", "unexpected ', wed'"},
      {"mon,xyz", "'xyz' is not a weekday"},
      // PVE's old error cases; proxmox-time rejects them as well.
      {"61", "minute value '61' out of range (at most 59)"},
      {"*/61", "minute repetition '61' out of range (at most 59)"},
      {"0..80", "minute value '80' out of range (at most 59)"},
      {"12:60", "minute value '60' out of range (at most 59)"},
      {"1:2:60", "second value '60' out of range (at most 59)"},
      {"5..3", "minute range 5..3: start is bigger than end"},
      {"2020-13-01", "out of range (at most 12)"},
      {"2020-12-32", "day value '32' out of range (at most 31)"},
      {"2200-01-01", "out of range"},
      {"99999999999", "out of range"},
      {"*/0", "unexpected '/0'"},  // `*/0` is `*` and a stray "/0"
      {"mon 02:00 extra", "unexpected 'extra'"},
      {"02:00 mon", "unexpected 'mon'"},  // weekdays come first
  };
  for (const Case& c : cases) {
    Result<CalendarEvent> e = CalendarEvent::Parse(c.text);
    ASSERT_FALSE(e.ok()) << "'" << c.text << "' parsed as " << e->ToString();
    EXPECT_EQ(e.status().code(), Code::kInvalidArgument) << c.text;
    std::string prefix = std::string("invalid calendar event '") + c.text + "': ";
    EXPECT_EQ(e.status().message().rfind(prefix, 0), 0u) << e.status().message();
    EXPECT_NE(e.status().message().find(c.why), std::string::npos)
        << "'" << c.text << "': " << e.status().message() << " (want: " << c.why << ")";
  }
}

// The keywords, as PBS's documentation writes them out.
TEST_F(CalendarEventTest, KeywordsNormalize) {
  struct Case {
    const char* keyword;
    const char* normalized;
  };
  for (const Case& c :
       {Case{"minutely", "*-*-* *:*:00"}, Case{"hourly", "*-*-* *:00:00"},
        Case{"daily", "*-*-* 00:00:00"}, Case{"weekly", "mon *-*-* 00:00:00"},
        Case{"monthly", "*-*-01 00:00:00"}, Case{"yearly", "*-01-01 00:00:00"},
        Case{"annually", "*-01-01 00:00:00"}, Case{"quarterly", "*-01,04,07,10-01 00:00:00"},
        Case{"semiannually", "*-01,07-01 00:00:00"}, Case{"semi-annually", "*-01,07-01 00:00:00"},
        Case{"daily UTC", "*-*-* 00:00:00 UTC"}}) {
    CalendarEvent e = MustParse(c.keyword);
    EXPECT_EQ(e.ToString(), c.normalized) << c.keyword;
    EXPECT_EQ(e, MustParse(c.normalized)) << c.keyword;
    EXPECT_EQ(e.text(), c.keyword);
  }
}

// Defaults: fields left of the first one given are "any", right of it 0.
TEST_F(CalendarEventTest, DefaultsAsProxmoxTime) {
  struct Case {
    const char* text;
    const char* normalized;
  };
  for (const Case& c : {
           Case{"sat", "sat *-*-* 00:00:00"},
           Case{"*/15", "*-*-* *:00/15:00"},  // a lone list is minutes
           Case{"02:00", "*-*-* 02:00:00"},
           Case{"mon..fri 02:30", "mon..fri *-*-* 02:30:00"},
           Case{"mon,wed,fri", "mon,wed,fri *-*-* 00:00:00"},
           Case{"mon,tue,wed,thu,fri", "mon..fri *-*-* 00:00:00"},
           Case{"2020-07-31", "2020-07-31 00:00:00"},
           Case{"12-24", "*-12-24 00:00:00"},
           Case{"sat *-1..7 15:00 UTC", "sat *-*-01..07 15:00:00 UTC"},
           Case{"mon..fri 8..17,22:0/15", "mon..fri *-*-* 08..17,22:00/15:00"},
           Case{"*:*:*", "*-*-* *:*:*"},
           Case{"1965/5-01-01", "1965/5-01-01 00:00:00"},
           Case{"4..10/2:0", "*-*-* 04..10/2:00:00"},
       }) {
    EXPECT_EQ(MustParse(c.text).ToString(), c.normalized) << c.text;
  }
}

// Where proxmox-time's combinators backtrack, and so do we.
TEST_F(CalendarEventTest, UpstreamQuirks) {
  // The hour list fails on 24/25, the whole is re-read as minute:second.
  EXPECT_EQ(MustParse("25:00").ToString(), "*-*-* *:25:00");
  EXPECT_EQ(Next("24:00", 0), 24 * kMin);
  // Weekday ranges wrap; days are letters in any case.
  EXPECT_EQ(MustParse("fri..mon").ToString(), "mon,fri..sun *-*-* 00:00:00");
  EXPECT_EQ(MustParse("FRIDAY..Monday"), MustParse("fri..mon"));
  // "UTC" is cut off the end with the spaces before it, or none.
  EXPECT_EQ(MustParse("dailyUTC"), MustParse("daily UTC"));
  EXPECT_TRUE(MustParse("daily   UTC").utc());
  // The space between the parts is optional, tabs count as spaces.
  EXPECT_EQ(MustParse("mon2020-01-01"), MustParse("mon 2020-01-01"));
  EXPECT_EQ(MustParse("mon\t02:00"), MustParse("mon 02:00"));
  // Month 0 parses and never matches.
  EXPECT_EQ(Next("2020-00-01", 0), kNever);
  // An open repetition runs past the field's end and carries over: minute
  // 5/10 after :55 is :65, i.e. the next hour's :05.
  EXPECT_EQ(Next("5/10", 55 * kMin), kHour + 5 * kMin);
}

TEST_F(CalendarEventTest, ToStringParsesBackToAnEqualEvent) {
  for (const char* text :
       {"sat", "*/15", "mon..fri 02:00", "fri..mon", "2020,2021-12-31", "2020-7..9-2/2",
        "4..10,6:5/5,23", "5/0", "4..10/0:0", "*-*-31", "*/2-*/3-*/5 */2:*/7:*/11 UTC",
        "sun *-03-25..31 03:00", "quarterly", "minutely UTC", "1/12:0/15"}) {
    CalendarEvent e = MustParse(text);
    Result<CalendarEvent> again = CalendarEvent::Parse(e.ToString());
    ASSERT_TRUE(again.ok()) << text << " -> " << e.ToString() << ": " << again.status().ToString();
    EXPECT_EQ(*again, e) << text << " -> " << e.ToString();
  }
}

// ---------------------------------------------------------------------------
// Our own vectors. Expected values were checked against proxmox-time itself
// (the crate built from proxmox-rs, same glibc, same TZ).

TEST_F(CalendarEventTest, LeapYearsAndMonthEnds) {
  ExpectTable({
      {"*-02-29", Local("2021-01-01 00:00:00"), Local("2024-02-29 00:00:00")},
      {"*-02-29", Local("2024-02-29 00:00:00"), Local("2028-02-29 00:00:00")},
      {"*-02-29 23:59:59", Local("2024-02-29 23:59:58"), Local("2024-02-29 23:59:59")},
      {"2100-02-29", 0, kNever},  // 2100 is no leap year
      {"2000-02-29", 0, Local("2000-02-29 00:00:00")},
      {"2021-02-30", 0, kNever},  // parses, never happens
      {"*-02-30", 0, kNever},     // gives up after 1000 steps
      {"*-*-31", Local("2024-04-01 00:00:00"), Local("2024-05-31 00:00:00")},
      {"*-*-31", Local("2024-05-31 00:00:00"), Local("2024-07-31 00:00:00")},
      {"*-*-31", Local("2024-07-31 00:00:00"), Local("2024-08-31 00:00:00")},
      {"*-*-30,31", Local("2024-02-01 00:00:00"), Local("2024-03-30 00:00:00")},
      {"monthly", Local("2024-01-31 12:00:00"), Local("2024-02-01 00:00:00")},
      {"yearly", Local("2024-12-31 23:59:59"), Local("2025-01-01 00:00:00")},
      // Friday the 29th of February: 2036 after 2008.
      {"fri *-02-29", Local("2010-01-01 00:00:00"), Local("2036-02-29 00:00:00")},
      // Far ahead in few steps (a minute-by-minute walk would hit the bound).
      {"2199-12-31 23:59:59", 0, Local("2199-12-31 23:59:59")},
      // Years that have passed.
      {"2020-01-01", Local("2021-01-01 00:00:00"), kNever},
      {"2020,2021-12-31", Local("2022-01-01 00:00:00"), kNever},
  });
}

TEST_F(CalendarEventTest, StrictlyAfter) {
  EXPECT_EQ(Next("daily", 0), kDay);
  EXPECT_EQ(Next("daily", -1), 0);
  EXPECT_EQ(Next("*:*:*", 100), 101);
  EXPECT_EQ(Next("1965/5-01-01 UTC", 0), Local("1975-01-01 00:00:00"));
}

TEST_F(CalendarEventTest, ExtremeTimesGiveNoneNotACrash) {
  CalendarEvent e = MustParse("*:*:*");
  EXPECT_FALSE(e.NextAfter(INT64_MAX).has_value());
  EXPECT_FALSE(e.NextAfter(INT64_MAX - 1).has_value());
  EXPECT_FALSE(e.NextAfter(INT64_MIN).has_value());
  EXPECT_FALSE(MustParse("2020-01-01").NextAfter(int64_t{1} << 50).has_value());
  EXPECT_FALSE(MustParse("yearly").NextAfter(int64_t{67768036191676700}).has_value());
}

// Local time (TZ) unless the event says UTC; NextAfter(t, utc) overrides.
TEST_F(CalendarEventTest, LocalTimeAndUtc) {
  ScopedTz vienna("Europe/Vienna");
  const int64_t jan1 = 1704067200;                       // 2024-01-01 00:00 UTC, 01:00 CET
  EXPECT_EQ(Next("02:00", jan1), jan1 + 1 * kHour);      // 02:00 CET
  EXPECT_EQ(Next("02:00 UTC", jan1), jan1 + 2 * kHour);  // 02:00 UTC
  EXPECT_EQ(MustParse("02:00").NextAfter(jan1, true), jan1 + 2 * kHour);
  EXPECT_EQ(MustParse("02:00 UTC").NextAfter(jan1, false), jan1 + 1 * kHour);
  EXPECT_FALSE(MustParse("02:00").utc());
  EXPECT_TRUE(MustParse("02:00 UTC").utc());
}

// Europe/Vienna: 2024-03-31 02:00 CET -> 03:00 CEST, 2024-10-27 03:00 CEST -> 02:00 CET.
// Times are set through mktime with tm_isdst = -1 as in proxmox-time, so a
// wall-clock time that does not exist is skipped (the day's run is lost, as
// in PVE), and one that exists twice happens once, at its second (CET) instance.
TEST_F(CalendarEventTest, DaylightSavingTransitionsVienna) {
  ScopedTz vienna("Europe/Vienna");
  ExpectTable({
      // Spring forward: 02:30 does not exist on 2024-03-31.
      {"02:30", Local("2024-03-31 00:00:00"), Local("2024-04-01 02:30:00")},
      {"03:00", Local("2024-03-31 00:00:00"), Local("2024-03-31 03:00:00")},
      {"hourly", Local("2024-03-31 00:00:00"), Local("2024-03-31 01:00:00")},
      {"hourly", Local("2024-03-31 01:00:00"), Local("2024-03-31 03:00:00")},
      {"minutely", 1711846799, 1711846800},  // 01:59:59 CET -> 03:00:00 CEST
      {"*:59", Local("2024-03-31 01:00:00"), Local("2024-03-31 01:59:00")},
      // The last Sunday of March at 02:00 never exists in Vienna.
      {"sun *-03-25..31 02:00", Local("2024-03-30 00:00:00"), kNever},
      {"sun *-03-25..31 03:00", Local("2024-03-30 00:00:00"), Local("2024-03-31 03:00:00")},
      // Fall back: 02:00..02:59 happen twice, first CEST (00:xx UTC), then CET (01:xx UTC).
      {"02:30", 1729980000, 1729989000},   // from 00:00 CEST to 02:30 CEST (00:30 UTC)
      {"02:30", 1729987200, 1729989000},   // from 02:00 CEST to 02:30 CEST
      {"02:30", 1729989000, 1730079000},   // from 02:30 CEST: 02:30 CET does not run again
      {"02:30", 1729990800, 1729992600},   // from 02:00 CET: the first 02:30 after it is CET
      {"hourly", 1729987200, 1729994400},  // 02:00 CEST -> 03:00 CET (02:00 CET is not again)
      {"*/30", 1729987200, 1729989000},    // 02:00 CEST -> 02:30 CEST
      {"*/30", 1729989000, 1729994400},    // 02:30 CEST -> 03:00 CET
      // Started inside the repeated hour: never before the start.
      {"minutely", 1729992600, 1729992660},  // 02:30 CET -> 02:31 CET
      {"*:*:*", 1729992600, 1729992601},
  });
  // Each day still has its 02:30 once, across both transitions.
  CalendarEvent e = MustParse("02:30");
  int64_t t = Local("2024-03-29 12:00:00");
  std::vector<int64_t> runs;
  for (int i = 0; i < 5; ++i) runs.push_back(t = *e.NextAfter(t));
  EXPECT_EQ(runs, (std::vector<int64_t>{Local("2024-03-30 02:30:00"), Local("2024-04-01 02:30:00"),
                                        Local("2024-04-02 02:30:00"), Local("2024-04-03 02:30:00"),
                                        Local("2024-04-04 02:30:00")}));
}

// A zone with a half-hour DST shift (Australia/Lord_Howe: +10:30 <-> +11).
TEST_F(CalendarEventTest, HalfHourDaylightSaving) {
  ScopedTz lord_howe("Australia/Lord_Howe");
  // 2024-10-06 02:00 -> 02:30: 02:15 does not exist, 02:45 does.
  EXPECT_EQ(Next("02:15", Local("2024-10-06 00:00:00")), Local("2024-10-07 02:15:00"));
  EXPECT_EQ(Next("02:45", Local("2024-10-06 00:00:00")), Local("2024-10-06 02:45:00"));
}

}  // namespace
}  // namespace ctdump::calendar
