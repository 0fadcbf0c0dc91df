// When a job runs: a pure function of the job's schedule, its state and "now",
// so that every case is a table row in a test.
//
// The base of the next run is the latest of the state's created, last-start
// and last-skip (now for a job never seen); the next run is the schedule's
// first occurrence after it. It is due once that is not in the future. With
// several occurrences passed, the job runs once.
//
// repeat-missed (PVE's jobs.cfg option, default 0): on the scheduler's first
// tick after it started, a run that was due more than kMissedAfterSeconds
// before that tick began (missed while ctdump was down) runs then with
// repeat-missed 1; with 0 it is skipped (recorded as last-skip) and the next
// run counts from now. A run that became due while an earlier job of the same
// tick ran is not missed: it runs.
//
// A time of the state in the future (the clock was ahead when it was written
// and has been corrected since) counts as now: the job is not suspended until
// the clock catches up. ClampFutureTimes rewrites such a state.
// A disabled job never runs; a run it would have had is skipped the same way,
// so that enabling it later does not start it at once.
#ifndef CTDUMP_JOBS_SCHEDULE_H_
#define CTDUMP_JOBS_SCHEDULE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "jobs/job_config.h"
#include "jobs/job_state.h"

namespace ctdump::jobs {

// A run this late at the scheduler's start counts as missed.
inline constexpr int64_t kMissedAfterSeconds = 60;

enum class DueAction {
  kWait,  // not yet (or never: no schedule / no next occurrence)
  kRun,   // start it now
  kSkip,  // record last-skip = now, do not run
};

struct Due {
  DueAction action = DueAction::kWait;
  // The next run: for kWait the coming one (nullopt: none), for kRun the
  // occurrence being run, for kSkip the next one counted from now.
  std::optional<int64_t> next_run;
  bool missed = false;  // the occurrence was missed during downtime
};

// `startup_tick`: on the scheduler's first tick since it started, the time
// that tick began (taken once per tick); nullopt on later ticks. `now`: the
// time the job is looked at (later than the tick's start when jobs before it
// ran).
Due ComputeDue(const JobConfig& job, const JobState& state, int64_t now,
               std::optional<int64_t> startup_tick);

// Sets every time of `state` that is after `now` to `now`; whether one was.
bool ClampFutureTimes(JobState* state, int64_t now);

// The next run as `job list` shows it (nullopt: disabled, no schedule, or
// none); in the past when the job is overdue.
std::optional<int64_t> NextRun(const JobConfig& job, const JobState& state, int64_t now);

// "2026-12-05 02:00:00" in the process's local time (TZ).
std::string FormatLocalTime(int64_t t);

}  // namespace ctdump::jobs

#endif  // CTDUMP_JOBS_SCHEDULE_H_
