#include "backup/task_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "base/utf8.h"

namespace ctdump::backup {

bool IsUtf8(std::string_view text) { return IsValidUtf8(text); }

std::string EscapeControl(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [&out](unsigned char c) { out += fmt::format("\\x{:02x}", c); };
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '\n')
        out += "\\n";
      else if (c == '\r')
        out += "\\r";
      else if ((c < 0x20 && c != '\t') || c == 0x7F)
        hex(c);
      else
        out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t n = Utf8SequenceLength(text, i, &cp);
    if (n == 0 || cp <= 0x9F) {
      // Not UTF-8, or a C1 control (U+0080-U+009F): every byte shown.
      size_t len = n == 0 ? 1 : n;
      for (size_t k = 0; k < len; ++k) hex(static_cast<unsigned char>(text[i + k]));
      i += len;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string_view LevelPrefix(LogLevel level) {
  switch (level) {
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kErr:
      break;
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
      fmt::print(file_, "{} {}: {}\n", FormatTime(::time(nullptr)), LevelPrefix(level),
                 EscapeControl(message));
      ::fflush(file_);
    } catch (...) {
      // A full disk must not stop the job's cleanup; the task log still gets the line.
    }
  }
  parent_->Log(level, message);
}

}  // namespace ctdump::backup
