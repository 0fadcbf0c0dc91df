// The per-container task log, /var/log/ctdump/lxc-<ct>.log.
//
// A TaskLog is an Observer decorator: every line goes to the job's observer
// (the task log) and, with a timestamp and vzdump's level prefix, into the
// container's log file ("2026-11-26 06:00:00 INFO: ..."), which is later
// handed to the provider's backup_handle_log_file. It counts warnings. Lines
// in the file are escaped (EscapeControl); the parent gets the raw message.
#ifndef CTDUMP_BACKUP_TASK_LOG_H_
#define CTDUMP_BACKUP_TASK_LOG_H_

#include <cstdio>
#include <string>
#include <string_view>

#include "ctdump/observer.h"
#include "ctdump/status.h"

namespace ctdump::backup {

class TaskLog : public Observer {
 public:
  explicit TaskLog(Observer* parent) : parent_(parent) {}
  ~TaskLog() override { Close(); }

  // Opens (truncates) the log file. Without a file, lines only go to the parent.
  Status Open(const std::string& path);
  void Close();
  const std::string& path() const { return path_; }

  void Log(LogLevel level, std::string_view message) noexcept override;
  void OnProgress(const Progress& p) noexcept override { parent_->OnProgress(p); }
  void OnJobStart(const JobInfo& j) noexcept override { parent_->OnJobStart(j); }
  void OnGuestStart(std::string_view vmid) noexcept override { parent_->OnGuestStart(vmid); }
  void OnGuestEnd(const GuestSummary& g) noexcept override { parent_->OnGuestEnd(g); }

  int warnings() const { return warnings_; }

 private:
  Observer* parent_;
  std::string path_;
  FILE* file_ = nullptr;
  int warnings_ = 0;
};

// `text` made safe for a terminal and a line-based log: control characters
// (C0 but tab, DEL, the C1 range U+0080-U+009F) and bytes that are not valid
// UTF-8 become \xHH (newline and carriage return \n and \r); everything else,
// backslashes included, stays as it is. Names with escape codes (ESC, CSI)
// cannot drive the terminal, and one message stays one line.
std::string EscapeControl(std::string_view text);
// True when `text` is valid UTF-8 (what JSON strings can carry).
bool IsUtf8(std::string_view text);

// "INFO", "WARN", "ERROR".
std::string_view LevelPrefix(LogLevel level);
// Local time as "2026-11-26 06:00:00".
std::string FormatTime(int64_t unix_seconds);

}  // namespace ctdump::backup

#endif  // CTDUMP_BACKUP_TASK_LOG_H_
