// The task directory, `<log-dir>/tasks/` (CTDUMP_LOG_DIR, default
// /var/log/ctdump, as backup::Paths::log_dir):
//
//   <hex digit>/<UPID>   each task's log (0640), in the subdirectory named by
//                        the last hex digit of its starttime (as PVE)
//   index                one line per ended task, in the order they ended:
//                        "<UPID> <endtime HEX8> <exit status>"
//   index.1              the previous index: when `index` passes
//                        kIndexMaxLines it becomes index.1, and the logs that
//                        only the old index.1 named are removed
//   active/<UPID>        an empty file per task that has not ended; a listing
//                        moves the entries whose worker is gone to `index`
//   .lock                flock held while `index` or `active/` changes
#ifndef CTDUMP_TASKS_TASK_DIR_H_
#define CTDUMP_TASKS_TASK_DIR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctdump/status.h"
#include "sys/unique_fd.h"
#include "tasks/upid.h"

namespace ctdump::tasks {

inline constexpr size_t kIndexMaxLines = 1000;

// One task of a listing.
struct TaskEntry {
  Upid upid;
  std::optional<uint32_t> endtime;  // none while running
  std::string status;               // "RUNNING", "OK", "WARNINGS: n", the error text
  friend bool operator==(const TaskEntry&, const TaskEntry&) = default;
};

// GET /nodes/{node}/tasks's parameters (facts §4), defaults as there.
struct TaskFilter {
  uint64_t start = 0;
  uint64_t limit = 50;     // entries returned at most (0: none, only the total)
  std::string userfilter;  // case-insensitive substring of the user
  std::string typefilter;  // exact type
  std::string vmid;        // exact id
  bool errors = false;     // only tasks whose status is not OK
  enum class Source { kArchive, kActive, kAll };
  Source source = Source::kArchive;
  std::optional<int64_t> since, until;  // bounds on starttime (inclusive)
  // Classes to keep: "ok", "warning", "error", "unknown" (kUnexpectedStatus);
  // empty: all. Running tasks match no class.
  std::vector<std::string> statusfilter;
};

struct TaskList {
  std::vector<TaskEntry> entries;  // newest first: running ones, then by end, latest first
  uint64_t total = 0;              // entries matching the filter
};

// "ok", "warning", "error", "unknown" or "running" for an exit status.
std::string StatusClass(std::string_view status);

// "<UPID> <endtime HEX8> <status>"; nullopt for a malformed line.
std::optional<TaskEntry> ParseIndexLine(std::string_view line);
std::string FormatIndexLine(const Upid& upid, uint32_t endtime, std::string_view status);

// A value naming the directory; every call goes to the file system. Safe to
// use from several processes and threads at once.
class TaskDir {
 public:
  // `log_dir`: the directory that holds `tasks/`.
  explicit TaskDir(const std::string& log_dir);

  const std::string& root() const { return root_; }
  std::string LogPath(const Upid& upid) const;
  std::string ActivePath(const Upid& upid) const;

  // Creates the directories (0755; the logs are 0640) if missing.
  Status Prepare() const;
  // Creates the task's log O_EXCL (AlreadyExists for a UPID used before),
  // 0640, opened for appending.
  Result<sys::UniqueFd> CreateLog(const Upid& upid) const;
  Status AddActive(const Upid& upid) const;
  // The task's end: under the lock, appends its index line (rotating the
  // index when it passes kIndexMaxLines) and removes active/<UPID>.
  Status Finish(const Upid& upid, uint32_t endtime, std::string_view status) const;

  // The tasks matching `filter`. A listing that reads active/ first moves
  // the entries of tasks that are no longer running to the index (endtime:
  // the log's modification time; status: its last line).
  Result<TaskList> List(const TaskFilter& filter) const;

 private:
  Result<sys::UniqueFd> Lock() const;
  Status AppendIndexLocked(const std::string& line) const;
  Result<std::vector<TaskEntry>> ReadIndex(const std::string& name) const;
  Result<std::vector<TaskEntry>> ReadActive() const;

  std::string root_;
};

}  // namespace ctdump::tasks

#endif  // CTDUMP_TASKS_TASK_DIR_H_
