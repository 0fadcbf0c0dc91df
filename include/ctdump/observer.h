// How the core reports to whoever runs it: log lines, warnings, progress.
//
// The core never prints. The CLI's observer writes the task log (stderr, with
// vzdump's "INFO: " / "WARN: " / "ERROR: " prefixes), the per-container log
// file, a progress bar on a terminal, or JSON events for machines.
#ifndef CTDUMP_OBSERVER_H_
#define CTDUMP_OBSERVER_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace ctdump {

enum class LogLevel { kInfo, kWarn, kErr };

// Cumulative progress of the current operation.
struct Progress {
  uint64_t bytes = 0;
  uint64_t files = 0;
  std::optional<uint64_t> total_bytes;
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
