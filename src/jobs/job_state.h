// What the scheduler and `ctdump job run` remember of a job between runs:
// <state_dir>/jobs/<type>-<id>.json, written atomically (sys::WriteFileAtomic).
//
//   {"created": 1764900000, "last-start": 1764907200, "last-end": 1764907260,
//    "result": "ok", "message": "", "pid": 4242, "last-skip": 1764903600}
//
// `created`: when the scheduler first saw the job (the base of its first
// run); `pid`: set while `job run` runs it (for the user; whether the job runs
// is decided by its lock, below, not by this pid, which may be reused); `last-skip`: a due run the
// scheduler left out on purpose (disabled job, or missed during downtime with repeat-missed 0).
// Every field is optional.
//
// The job lock <run_dir>/job-<key>.lock (a sys::LockFile flock): `job run`
// holds it for its whole run; "running" means it is held. Every
// read-modify-write of a job's state happens under it, so a scheduler and a
// `job run` by hand never overwrite each other's state, and a run that started
// and has no end while the lock is free died (a crash, SIGKILL, power loss).
#ifndef CTDUMP_JOBS_JOB_STATE_H_
#define CTDUMP_JOBS_JOB_STATE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "ctdump/status.h"

namespace ctdump::jobs {

struct JobState {
  std::optional<int64_t> created;
  std::optional<int64_t> last_start;
  std::optional<int64_t> last_end;
  std::optional<int64_t> last_skip;
  std::string result;   // "" (never ended), "ok" or "error"
  std::string message;  // the error of the last run
  std::optional<int64_t> pid;

  bool operator==(const JobState&) const = default;
};

// "<state_dir>/jobs/<key>.json", key = JobConfig::StateKey().
std::string JobStatePath(const std::string& state_dir, const std::string& key);

// "<run_dir>/job-<key>.lock".
std::string JobLockPath(const std::string& run_dir, const std::string& key);
// Whether someone holds the job lock at `path` (a missing file: no). Tests
// with a shared non-blocking flock, released at once, and writes nothing.
Result<bool> JobLockHeld(const std::string& path);

// The state says the last run started and has no end after its start.
bool StartedWithoutEnd(const JobState& state);

std::string EncodeJobState(const JobState& state);
// InvalidArgument naming `what` for text that is no state.
Result<JobState> DecodeJobState(const std::string& text, const std::string& what);

// A missing file is an empty state.
Result<JobState> LoadJobState(const std::string& path);
// Creates the directory; atomic replace.
Status SaveJobState(const std::string& path, const JobState& state);

}  // namespace ctdump::jobs

#endif  // CTDUMP_JOBS_JOB_STATE_H_
