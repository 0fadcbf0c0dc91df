#include "tasks/task_status.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "sys/file.h"
#include "sys/unique_fd.h"

namespace ctdump::tasks {

Result<uint64_t> ProcessStartTime(pid_t pid) {
  if (pid <= 0) return NotFoundError(fmt::format("no process {}", pid));
  std::string path = fmt::format("/proc/{}/stat", pid);
  auto stat = sys::ReadFile(path);
  if (!stat.ok()) return stat.status();
  // "pid (comm) state ..." where comm may hold spaces and ')': fields start
  // after the last ')'; field 3 (state) is the first one there.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return DataLossError(fmt::format("\"{}\" has no ')'", path));
  std::string_view rest = std::string_view(*stat).substr(close + 1);
  int field = 2;
  while (!rest.empty()) {
    size_t skip = rest.find_first_not_of(' ');
    if (skip == std::string_view::npos) break;
    rest.remove_prefix(skip);
    size_t end = rest.find(' ');
    std::string_view value = rest.substr(0, end);
    if (++field == 22) {
      uint64_t v = 0;
      for (char c : value) {
        if (c < '0' || c > '9')
          return DataLossError(fmt::format("\"{}\": start time '{}' is not a number", path, value));
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      return v;
    }
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end);
  }
  return DataLossError(fmt::format("\"{}\" has fewer than 22 fields", path));
}

bool IsRunning(const Upid& upid) {
  auto start = ProcessStartTime(static_cast<pid_t>(upid.pid));
  return start.ok() && *start == upid.pstart;
}

std::string ExitStatusOfLine(std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  if (line == "TASK OK") return "OK";
  constexpr std::string_view kError = "TASK ERROR: ", kWarnings = "TASK WARNINGS: ";
  if (line.starts_with(kError) && line.size() > kError.size())
    return std::string(line.substr(kError.size()));
  if (line.starts_with(kWarnings) && line.size() > kWarnings.size()) {
    std::string_view n = line.substr(kWarnings.size());
    if (n.find_first_not_of("0123456789") == std::string_view::npos)
      return fmt::format("WARNINGS: {}", n);
  }
  return std::string(kUnexpectedStatus);
}

Result<std::string> ReadLastLine(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open \"{}\"", path));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return ErrnoError(errno, fmt::format("Failed to stat \"{}\"", path));
  // The final line is short; 16 KiB covers a long error message too.
  constexpr off_t kTail = 16 * 1024;
  off_t from = st.st_size > kTail ? st.st_size - kTail : 0;
  std::string buf(static_cast<size_t>(st.st_size - from), '\0');
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n =
        ::pread(fd.get(), buf.data() + got, buf.size() - got, from + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("Failed to read \"{}\"", path));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  if (!buf.empty() && buf.back() == '\n') buf.pop_back();
  size_t nl = buf.rfind('\n');
  return nl == std::string::npos ? buf : buf.substr(nl + 1);
}

Result<std::string> ReadExitStatus(const std::string& log_path) {
  auto line = ReadLastLine(log_path);
  if (!line.ok()) {
    if (line.status().code() == Code::kNotFound) return NotFoundError("no such task");
    return line.status();
  }
  return ExitStatusOfLine(*line);
}

Result<TaskState> GetTaskState(const Upid& upid, const std::string& log_path) {
  if (!sys::PathExists(log_path)) return NotFoundError("no such task");
  TaskState s;
  s.running = IsRunning(upid);
  if (s.running) return s;
  ASSIGN_OR_RETURN(s.exitstatus, ReadExitStatus(log_path));
  return s;
}

Result<bool> AbortTask(const Upid& upid) {
  if (!IsRunning(upid)) return false;
  if (::kill(-static_cast<pid_t>(upid.pid), SIGTERM) != 0) {
    if (errno == ESRCH) return false;  // ended in between
    return ErrnoError(errno, fmt::format("Failed to signal task {}", EncodeUpid(upid)));
  }
  return true;
}

}  // namespace ctdump::tasks
