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
#include <vector>

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

// What a backup job is about to do (Observer::OnJobStart).
struct JobInfo {
  std::vector<std::string> vmids;  // the selected containers, in job order
  std::string storage;             // storage id; empty with --dumpdir
  std::string dumpdir;             // --dumpdir, else empty
  std::string mode;                // stop | suspend | snapshot
};

// How one container's work ended (Observer::OnGuestEnd).
struct GuestSummary {
  std::string vmid;
  bool ok = true;
  std::string error;             // why it failed (empty when ok)
  std::string archive;           // the backup's name, when one was started
  std::optional<uint64_t> size;  // where known
  int64_t seconds = 0;
  int warnings = 0;
};

class Observer {
 public:
  virtual ~Observer() = default;
  // One line (callers split multi-line text). kWarn counts as a task warning.
  // Must not throw: cleanup paths (restarting a container) log too, and an
  // output that fails (a closed terminal, a full disk) must not stop them.
  virtual void Log(LogLevel level, std::string_view message) noexcept = 0;
  virtual void OnProgress(const Progress& progress) noexcept {}
  // The structure of the work, for machine output (docs/json-events.md:
  // job-start, guest-start, guest-end). A backup job calls OnJobStart once,
  // then OnGuestStart/OnGuestEnd around each container; a restore brackets
  // its new container the same way. Log lines and progress between
  // OnGuestStart and OnGuestEnd belong to that container. An Observer that
  // wraps another must forward these (the defaults drop them).
  virtual void OnJobStart(const JobInfo& job) noexcept {}
  virtual void OnGuestStart(std::string_view vmid) noexcept {}
  virtual void OnGuestEnd(const GuestSummary& guest) noexcept {}
};

}  // namespace ctdump

#endif  // CTDUMP_OBSERVER_H_
