// Reading a task log as PVE's GET /nodes/{node}/tasks/{upid}/log does:
// numbered lines, a window (start, limit), the total.
#ifndef CTDUMP_TASKS_TASK_LOG_H_
#define CTDUMP_TASKS_TASK_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::tasks {

struct LogLine {
  uint64_t n = 0;  // 1-based line number
  std::string t;   // the line without its newline, valid UTF-8
  friend bool operator==(const LogLine&, const LogLine&) = default;
};

struct LogPage {
  std::vector<LogLine> lines;
  uint64_t total = 0;  // lines in the file
};

// Default `limit` of the endpoint.
inline constexpr uint64_t kDefaultLogLimit = 50;

// Lines [start, start + limit) of `content` (start 0-based; limit 0: to the
// end). A last line without "\n" counts. An empty content gives the single
// line {1, "no content"} and total 1 (pve-common's dump_logfile). Bytes that
// are not valid UTF-8 become U+FFFD.
LogPage PageLog(std::string_view content, uint64_t start, uint64_t limit);

// PageLog of the file at `path`; NotFound "no such task" when it is missing.
Result<LogPage> ReadTaskLog(const std::string& path, uint64_t start, uint64_t limit);

}  // namespace ctdump::tasks

#endif  // CTDUMP_TASKS_TASK_LOG_H_
