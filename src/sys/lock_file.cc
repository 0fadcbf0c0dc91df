#include "sys/lock_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>  // flock
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <thread>

#include "sys/signals.h"
#include "sys/subprocess.h"

namespace ctdump::sys {
namespace {

pid_t ReadPid(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  return static_cast<pid_t>(std::atol(buf));
}

}  // namespace

Result<LockFile> LockFile::Acquire(const std::string& path, std::chrono::milliseconds wait,
                                   const std::function<void(const std::string&)>& warn) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("Failed to open lock file \"{}\"", path));
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) break;
    if (errno != EWOULDBLOCK && errno != EINTR)
      return ErrnoError(errno, fmt::format("Failed to lock \"{}\"", path));
    RETURN_IF_ERROR(CheckInterrupted());
    if (std::chrono::steady_clock::now() >= deadline) {
      pid_t holder = ReadPid(fd.get());
      std::string who = holder > 0 ? fmt::format("process {}", holder) : "another process";
      return UnavailableError(fmt::format("can't acquire lock \"{}\" - held by {}{}", path, who,
                                          wait.count() ? " (timeout)" : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  pid_t old = ReadPid(fd.get());
  if (old > 0 && old != ::getpid() && !ProcessAlive(old) && warn)
    warn(fmt::format("taking over lock \"{}\" left by dead process {}", path, old));
  std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0)
    return ErrnoError(errno, fmt::format("Failed to write lock file \"{}\"", path));
  LockFile lock;
  lock.path_ = path;
  lock.fd_ = std::move(fd);
  return lock;
}

void LockFile::Release() {
  if (!fd_.valid()) return;
  // Leave the file (unlinking would race with a waiter that opened it) but clear the pid.
  if (::ftruncate(fd_.get(), 0) != 0) {
  }
  fd_.Reset();
}

}  // namespace ctdump::sys
