// A job of jobs.cfg with its state, as `ctdump job list|show` and the API's
// GET /ctdump/jobs show it (moved here from cli/cmd_job.cc): the state from
// <state-dir>/jobs/<key>.json, running while its lock is held, the next run.
#ifndef CTDUMP_JOBS_JOB_LIST_H_
#define CTDUMP_JOBS_JOB_LIST_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "jobs/job_config.h"
#include "jobs/job_state.h"

namespace ctdump::jobs {

struct ListedJob {
  const JobConfig* job = nullptr;
  JobState state;
  bool running = false;
  std::optional<int64_t> next_run;
};

// `job`'s state and next run at `now`; a state or lock that cannot be read
// is a line in *warnings (may be null) and an empty state / not running.
ListedJob DescribeJob(const std::string& state_dir, const std::string& run_dir,
                      const JobConfig& job, int64_t now, std::vector<std::string>* warnings);

// "running", "aborted" (started, never ended), "-" (never ran), or the
// state's result ("ok", "error").
std::string JobResultText(const ListedJob& l);

// The section's keys as written (as PVE's /cluster/backup lists them), id,
// type, schedule, enabled, repeat-missed, next-run, last-run, last-run-end,
// result, message, pid (running).
nlohmann::json JobJson(const ListedJob& l);

}  // namespace ctdump::jobs

#endif  // CTDUMP_JOBS_JOB_LIST_H_
