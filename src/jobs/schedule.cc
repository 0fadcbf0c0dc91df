#include "jobs/schedule.h"

#include <time.h>

#include <algorithm>

namespace ctdump::jobs {
namespace {

int64_t Base(const JobState& s, int64_t now) {
  std::optional<int64_t> base;
  for (const auto& t : {s.created, s.last_start, s.last_skip})
    if (t) base = base ? std::max(*base, *t) : *t;
  // In the future: the clock was ahead when it was written.
  return base ? std::min(*base, now) : now;
}

}  // namespace

Due ComputeDue(const JobConfig& job, const JobState& state, int64_t now,
               std::optional<int64_t> startup_tick) {
  Due due;
  if (!job.schedule) return due;
  std::optional<int64_t> next = job.schedule->NextAfter(Base(state, now));
  if (!next) return due;
  if (*next > now) {
    due.next_run = job.enabled ? next : std::nullopt;
    return due;
  }
  due.missed = startup_tick && *startup_tick - *next >= kMissedAfterSeconds;
  if (!job.enabled || (due.missed && !job.repeat_missed)) {
    due.action = DueAction::kSkip;
    due.next_run = job.enabled ? job.schedule->NextAfter(now) : std::nullopt;
    return due;
  }
  due.action = DueAction::kRun;
  due.next_run = next;
  return due;
}

bool ClampFutureTimes(JobState* state, int64_t now) {
  bool clamped = false;
  for (std::optional<int64_t>* t :
       {&state->created, &state->last_start, &state->last_end, &state->last_skip}) {
    if (*t && **t > now) {
      *t = now;
      clamped = true;
    }
  }
  return clamped;
}

std::optional<int64_t> NextRun(const JobConfig& job, const JobState& state, int64_t now) {
  if (!job.enabled || !job.schedule) return std::nullopt;
  // In the past when overdue (no scheduler running, or it is busy).
  return job.schedule->NextAfter(Base(state, now));
}

std::string FormatLocalTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  ::localtime_r(&tt, &tm);
  char buf[64];
  ::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace ctdump::jobs
