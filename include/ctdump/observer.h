// How the core reports to whoever runs it: log lines, warnings, progress.
//
// The core never prints. The CLI's observer writes the task log (stderr, with
// vzdump's "INFO: " / "WARN: " / "ERROR: " prefixes), the per-container log
// file, a progress bar on a terminal, or JSON events for machines.
#ifndef CTDUMP_OBSERVER_H_
#define CTDUMP_OBSERVER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ctdump {

enum class LogLevel { kInfo, kWarn, kErr };

// Cumulative progress of the current operation (phase). A new phase, or
// bytes going down, starts a new bar / rate / ETA.
struct Progress {
  uint64_t bytes = 0;
  uint64_t files = 0;
  std::optional<uint64_t> total_bytes;  // where known (previous backup, tree size)
  std::optional<uint64_t> total_files;
  // What the work is, one of the names docs/json-events.md lists ("backup",
  // "rsync-first", "rsync-final", "remove-copy", "restore", "verify",
  // "gc-mark", "gc-sweep", ...). Empty: the command's main work.
  std::string phase;
  // The path being worked on, for the terminal bar only (may be empty).
  std::string current;
};

class Observer {
 public:
  virtual ~Observer() = default;
  // One line (callers split multi-line text). kWarn counts as a task warning.
  // Must not throw: cleanup paths (restarting a container) log too, and an
  // output that fails (a closed terminal, a full disk) must not stop them.
  virtual void Log(LogLevel level, std::string_view message) noexcept = 0;
  virtual void OnProgress(const Progress& progress) noexcept {}
};

}  // namespace ctdump

#endif  // CTDUMP_OBSERVER_H_
