#include "backup/task_log.h"

#include <fcntl.h>
#include <unistd.h>
#include <time.h>

#include <cerrno>

#include <fmt/format.h>

namespace ctdump::backup {

std::string_view LevelPrefix(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kErr: break;
  }
  return "ERROR";
}

std::string FormatTime(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  ::localtime_r(&t, &tm);
  char buf[32];
  ::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

Status TaskLog::Open(const std::string& path) {
  Close();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, fmt::format("Failed to open log file \"{}\"", path));
  file_ = ::fdopen(fd, "w");
  if (!file_) {
    int e = errno;
    ::close(fd);
    return ErrnoError(e, fmt::format("Failed to open log file \"{}\"", path));
  }
  path_ = path;
  return Status::OK();
}

void TaskLog::Close() {
  if (file_) ::fclose(file_);
  file_ = nullptr;
}

void TaskLog::Log(LogLevel level, std::string_view message) noexcept {
  if (level == LogLevel::kWarn) ++warnings_;
  if (file_) {
    try {
      fmt::print(file_, "{} {}: {}\n", FormatTime(::time(nullptr)), LevelPrefix(level), message);
      ::fflush(file_);
    } catch (...) {
      // A full disk must not stop the job's cleanup; the task log still gets the line.
    }
  }
  parent_->Log(level, message);
}

}  // namespace ctdump::backup
