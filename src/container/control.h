// Container control behind an interface: what the backup job and the modes
// do with a container (state, shutdown, start, freeze, thaw). The real one is
// liblxc's (container.h); tests drive the job and the modes with fakes.
#ifndef CTDUMP_CONTAINER_CONTROL_H_
#define CTDUMP_CONTAINER_CONTROL_H_

#include <chrono>
#include <memory>
#include <string>

#include "ctdump/status.h"

namespace ctdump::container {

enum class State {
  kStopped,
  kStarting,
  kRunning,
  kStopping,
  kAborting,
  kFreezing,
  kFrozen,
  kThawed,
  kUnknown
};

// How long a start may take before it is an error.
inline constexpr std::chrono::seconds kStartTimeout{60};

// One container. Not thread-safe; the calls block until done.
class Control {
 public:
  virtual ~Control() = default;

  virtual const std::string& name() const = 0;
  virtual State GetState() const = 0;
  virtual bool IsRunning() const = 0;
  // Clean shutdown waiting up to `timeout`; on timeout an error naming the
  // container, which is left running (never killed).
  virtual Status Shutdown(std::chrono::seconds timeout) = 0;
  // Starts the container and waits until it runs.
  virtual Status Start(std::chrono::seconds timeout) = 0;
  // Freezes every task; `attempts`, if given, receives how many freezes it took.
  virtual Status Freeze(int* attempts) = 0;
  virtual Status Thaw() = 0;
};

// Opens containers by name; the job gets one of these (liblxc's by default).
class Opener {
 public:
  virtual ~Opener() = default;
  // NotFound when no container `name` is defined under `lxcpath`.
  virtual Result<std::unique_ptr<Control>> Open(const std::string& name,
                                                const std::string& lxcpath) = 0;
};

}  // namespace ctdump::container

#endif  // CTDUMP_CONTAINER_CONTROL_H_
