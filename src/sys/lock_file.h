// Advisory locks on files (flock), with the holder's pid written inside.
//
// The kernel drops a flock when its holder dies, so a lock can never stay
// "stuck"; the pid in the file lets ctdump tell the user who holds a lock, and
// warn when it takes over a lock file left behind by a dead process.
#ifndef CTDUMP_SYS_LOCK_FILE_H_
#define CTDUMP_SYS_LOCK_FILE_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include "ctdump/status.h"
#include "sys/unique_fd.h"

namespace ctdump::sys {

class LockFile {
 public:
  LockFile() = default;
  LockFile(LockFile&&) = default;
  LockFile& operator=(LockFile&&) = default;
  ~LockFile() { Release(); }

  // Takes an exclusive lock on `path` (created 0644 if missing), waiting up to
  // `wait` (zero: try once). On timeout: Unavailable naming the path and the
  // holder's pid. `warn` is called with a message when the file names a dead
  // process (a stale lock taken over). The lock is released by Release() or
  // the destructor, and on process death by the kernel.
  static Result<LockFile> Acquire(const std::string& path, std::chrono::milliseconds wait,
                                  const std::function<void(const std::string&)>& warn);

  void Release();
  bool held() const { return fd_.valid(); }

 private:
  std::string path_;
  UniqueFd fd_;
};

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_LOCK_FILE_H_
