// A Renderer that passes everything on to another one and keeps every log
// line ("INFO: ...", also those a quiet renderer hides) for the job's
// notification. A kept line is escaped as the task log escapes it
// (backup::EscapeControl): a message may carry text from inside a container
// (a path, a name), and its line breaks or control bytes must not forge lines
// in the mail body (a lone "." ends a message for sendmail without -i) nor
// put raw bytes into a JSON body. The inner renderer gets the raw message.
#ifndef CTDUMP_CLI_LOG_CAPTURE_H_
#define CTDUMP_CLI_LOG_CAPTURE_H_

#include <string>
#include <string_view>
#include <vector>

#include "backup/task_log.h"
#include "cli/renderer.h"

namespace ctdump::cli {

class LogCapture : public Renderer {
 public:
  explicit LogCapture(Renderer& inner) : inner_(inner) {}

  void Log(LogLevel level, std::string_view message) noexcept override {
    Keep(level, message);
    inner_.Log(level, message);
  }
  void OnProgress(const Progress& p) noexcept override { inner_.OnProgress(p); }
  void OnJobStart(const JobInfo& job) noexcept override { inner_.OnJobStart(job); }
  void OnGuestStart(std::string_view vmid) noexcept override { inner_.OnGuestStart(vmid); }
  void OnGuestEnd(const GuestSummary& g) noexcept override { inner_.OnGuestEnd(g); }
  void JobEnd(const backup::JobResult& r) override { inner_.JobEnd(r); }
  void SetQuiet(bool quiet) override { inner_.SetQuiet(quiet); }
  // An error is an "ERROR: " line of the log.
  void Error(std::string_view message, int exit_code) noexcept override {
    Keep(LogLevel::kErr, message);
    inner_.Error(message, exit_code);
  }
  void OnResult(bool ok, int exit_code, const nlohmann::json& data) override {
    inner_.OnResult(ok, exit_code, data);
  }

  const std::vector<std::string>& lines() const { return lines_; }

 private:
  void Keep(LogLevel level, std::string_view message) noexcept {
    try {
      lines_.push_back(std::string(backup::LevelPrefix(level)) + ": " +
                       backup::EscapeControl(message));
    } catch (...) {
      // Out of memory: the line still goes to the task log.
    }
  }

  Renderer& inner_;
  std::vector<std::string> lines_;
};

}  // namespace ctdump::cli

#endif  // CTDUMP_CLI_LOG_CAPTURE_H_
