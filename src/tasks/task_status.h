// A task's state: running (from /proc) or stopped with an exit status (the
// last line of its log), and abort.
#ifndef CTDUMP_TASKS_TASK_STATUS_H_
#define CTDUMP_TASKS_TASK_STATUS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "ctdump/status.h"
#include "tasks/upid.h"

namespace ctdump::tasks {

// The exit status PVE reports when a log has no final line (a SIGKILLed
// worker, a reboot).
inline constexpr std::string_view kUnexpectedStatus = "unexpected status";

// Field 22 (starttime, clock ticks after boot) of /proc/<pid>/stat;
// NotFound when there is no such process.
Result<uint64_t> ProcessStartTime(pid_t pid);

// PVE's rule: running iff /proc/<pid>/stat exists and its start time equals
// pstart (a later process with the same pid is not the task).
bool IsRunning(const Upid& upid);

// The exit status a final log line gives: "TASK OK" -> "OK", "TASK WARNINGS:
// <n>" -> "WARNINGS: <n>", "TASK ERROR: <msg>" -> "<msg>" (non-empty), any
// other line -> kUnexpectedStatus. A trailing "\n" is ignored.
std::string ExitStatusOfLine(std::string_view last_line);

// The last line of the file (without its newline); empty for an empty file.
// Reads only the file's tail.
Result<std::string> ReadLastLine(const std::string& path);

// ExitStatusOfLine of the log's last line; NotFound "no such task" when the
// log does not exist.
Result<std::string> ReadExitStatus(const std::string& log_path);

struct TaskState {
  bool running = false;
  std::string exitstatus;  // when stopped
};
// The state of the task whose log is `log_path`: NotFound "no such task" when
// the log does not exist.
Result<TaskState> GetTaskState(const Upid& upid, const std::string& log_path);

// Stops a running task: SIGTERM to its process group (the worker leads its
// own). Returns whether it was running (a stopped task is left alone, as in
// PVE). The worker's signal handling makes the subcommand clean up and end
// with "TASK ERROR: interrupted by signal".
Result<bool> AbortTask(const Upid& upid);

}  // namespace ctdump::tasks

#endif  // CTDUMP_TASKS_TASK_STATUS_H_
