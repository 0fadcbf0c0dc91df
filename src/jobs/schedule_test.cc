#include "jobs/schedule.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

namespace ctdump::jobs {
namespace {

// The schedules below are in local time: pin it.
const bool kUtc = [] {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  return true;
}();

constexpr int64_t kT0 = 1796342400;  // 2026-12-04 00:00:00 UTC
constexpr int64_t kHour = 3600, kDay = 86400;

JobConfig Job(const char* schedule, bool enabled = true, bool repeat_missed = false) {
  JobConfig j;
  j.id = "j";
  auto ev = calendar::CalendarEvent::Parse(schedule);
  EXPECT_TRUE(ev.ok()) << ev.status().message();
  if (ev.ok()) j.schedule = *ev;
  j.enabled = enabled;
  j.repeat_missed = repeat_missed;
  return j;
}

JobState Created(int64_t t) {
  JobState s;
  s.created = t;
  return s;
}

JobState Ran(int64_t created, int64_t start) {
  JobState s = Created(created);
  s.last_start = start;
  s.last_end = start + 10;
  s.result = "ok";
  return s;
}

struct Case {
  const char* name;
  JobConfig job;
  JobState state;
  int64_t now;
  bool startup;
  DueAction action;
  std::optional<int64_t> next;
  bool missed;
};

TEST(ScheduleTest, Table) {
  ASSERT_TRUE(kUtc);
  const int64_t two = kT0 + 2 * kHour;  // 02:00 today
  const Case cases[] = {
      {"BeforeTheFirstRun", Job("02:00"), Created(kT0), kT0 + kHour, false, DueAction::kWait, two,
       false},
      {"AtTheMinute", Job("02:00"), Created(kT0), two, false, DueAction::kRun, two, false},
      {"SecondsLate", Job("02:00"), Created(kT0), two + 5, false, DueAction::kRun, two, false},
      {"SchedulerWasBusyAnHour", Job("02:00"), Created(kT0), two + kHour, false, DueAction::kRun,
       two, false},
      {"StartupWithinTheMinuteIsNotMissed", Job("02:00"), Created(kT0), two + 30, true,
       DueAction::kRun, two, false},
      {"MissedDuringDowntimeSkipped", Job("02:00"), Created(kT0), two + kHour, true,
       DueAction::kSkip, two + kDay, true},
      {"MissedDuringDowntimeRepeated", Job("02:00", true, true), Created(kT0), two + kHour, true,
       DueAction::kRun, two, true},
      {"ManyMissedRunOnce", Job("02:00", true, true), Ran(kT0, two), two + 5 * kDay + kHour, true,
       DueAction::kRun, two + kDay, true},
      {"AfterARun", Job("02:00"), Ran(kT0, two + kHour), two + kHour + 60, false, DueAction::kWait,
       two + kDay, false},
      {"AfterASkip", Job("02:00"),
       [&] {
         JobState s = Ran(kT0, two - kDay);
         s.last_skip = two + kHour;
         return s;
       }(),
       two + kHour + 60, false, DueAction::kWait, two + kDay, false},
      {"DisabledNotDue", Job("02:00", false), Created(kT0), kT0 + kHour, false, DueAction::kWait,
       std::nullopt, false},
      {"DisabledDueIsSkipped", Job("02:00", false), Created(kT0), two, false, DueAction::kSkip,
       std::nullopt, false},
      {"NeverSeenCountsFromNow", Job("02:00"), JobState(), two, false, DueAction::kWait, two + kDay,
       false},
      {"Minutely", Job("minutely"), Created(kT0 + 10), kT0 + 60, false, DueAction::kRun, kT0 + 60,
       false},
      {"MinutelyNotYet", Job("minutely"), Ran(kT0, kT0 + 60), kT0 + 119, false, DueAction::kWait,
       kT0 + 120, false},
      {"NoMoreOccurrences", Job("2020-01-01 00:00"), Created(kT0), kT0 + kDay, true,
       DueAction::kWait, std::nullopt, false},
  };
  for (const Case& c : cases) {
    Due d =
        ComputeDue(c.job, c.state, c.now, c.startup ? std::optional<int64_t>(c.now) : std::nullopt);
    EXPECT_EQ(d.action, c.action) << c.name;
    EXPECT_EQ(d.next_run, c.next) << c.name;
    EXPECT_EQ(d.missed, c.missed) << c.name;
  }
}

TEST(ScheduleTest, NoScheduleNeverDue) {
  JobConfig j;
  Due d = ComputeDue(j, Created(kT0), kT0 + 10 * kDay, kT0 + 10 * kDay);
  EXPECT_EQ(d.action, DueAction::kWait);
  EXPECT_EQ(d.next_run, std::nullopt);
  EXPECT_EQ(NextRun(j, JobState(), kT0), std::nullopt);
}

TEST(ScheduleTest, NextRunAsJobListShowsIt) {
  const int64_t two = kT0 + 2 * kHour;
  EXPECT_EQ(NextRun(Job("02:00"), Created(kT0), kT0), two);
  EXPECT_EQ(NextRun(Job("02:00"), JobState(), kT0), two);
  EXPECT_EQ(NextRun(Job("02:00", false), Created(kT0), kT0), std::nullopt);
  // Overdue: shown in the past.
  EXPECT_EQ(NextRun(Job("02:00"), Created(kT0), two + kHour), two);
  EXPECT_EQ(NextRun(Job("sat 02:00"), Created(kT0), kT0), kT0 + kDay + 2 * kHour);
}

// Reboot at 01:59, the scheduler's first tick at 02:00:40 runs `nightly`
// (02:00) for 45 minutes; `gc` (02:00), looked at after it in the same tick,
// was not missed during downtime: it runs (it used to be skipped as missed).
TEST(ScheduleTest, HeldUpBehindAnotherJobOnTheFirstTickIsNotMissed) {
  const int64_t two = kT0 + 2 * kHour;
  const int64_t tick = two + 40;
  Due d = ComputeDue(Job("02:00"), Created(kT0), tick + 45 * 60, tick);
  EXPECT_EQ(d.action, DueAction::kRun);
  EXPECT_FALSE(d.missed);
  EXPECT_EQ(d.next_run, two);
  // Due before the scheduler started: missed, also when looked at later.
  d = ComputeDue(Job("01:00"), Created(kT0), tick + 45 * 60, tick);
  EXPECT_EQ(d.action, DueAction::kSkip);
  EXPECT_TRUE(d.missed);
}

// The last start is a day in the future (the clock was ahead, NTP corrected
// it): the job is not suspended for a day; its state is rewritten to now.
TEST(ScheduleTest, FutureLastStartCountsAsNow) {
  const int64_t two = kT0 + 2 * kHour;
  JobState s = Ran(kT0, two + kDay);  // tomorrow 02:00, last-end 02:00:10
  EXPECT_EQ(NextRun(Job("02:00"), s, kT0 + kHour), two);
  EXPECT_TRUE(ClampFutureTimes(&s, kT0 + kHour));
  EXPECT_EQ(s.last_start, kT0 + kHour);
  EXPECT_EQ(s.last_end, kT0 + kHour);
  EXPECT_EQ(s.created, kT0);
  EXPECT_FALSE(ClampFutureTimes(&s, kT0 + kHour));
  Due d = ComputeDue(Job("02:00"), s, kT0 + kHour, std::nullopt);
  EXPECT_EQ(d.action, DueAction::kWait);
  EXPECT_EQ(d.next_run, two);
  EXPECT_EQ(ComputeDue(Job("02:00"), s, two, std::nullopt).action, DueAction::kRun);
}

TEST(ScheduleTest, LocalTime) {
  EXPECT_EQ(FormatLocalTime(kT0 + 2 * kHour + 5), "2026-12-04 02:00:05");
}

}  // namespace
}  // namespace ctdump::jobs
