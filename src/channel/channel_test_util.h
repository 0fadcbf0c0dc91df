// Helpers of the channel's unit tests: socket pairs and a peer process.
#ifndef CTDUMP_CHANNEL_CHANNEL_TEST_UTIL_H_
#define CTDUMP_CHANNEL_CHANNEL_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <utility>

#include "channel/io.h"
#include "sys/fd_passing.h"

namespace ctdump::channel::testing {

inline sys::SocketPair StreamPair() {
  auto p = sys::MakeSocketPair(SOCK_STREAM);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(p).value();
}

inline Deadline In(std::chrono::milliseconds ms) { return Clock::now() + ms; }
inline Deadline Soon() { return In(std::chrono::seconds(10)); }

// A peer in a child process (the tests start no threads, so that they run
// in every sanitizer tree): runs `fn`, then exits with 0 if it returned
// true. Wait() reaps it and reports whether it succeeded.
class Peer {
 public:
  explicit Peer(const std::function<bool()>& fn) {
    pid_ = ::fork();
    if (pid_ == 0) ::_exit(fn() ? 0 : 1);
    EXPECT_GT(pid_, 0);
  }
  ~Peer() {
    if (pid_ > 0) Wait();
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;
  bool Wait() {
    int status = 0;
    pid_t pid = std::exchange(pid_, -1);
    if (pid <= 0 || ::waitpid(pid, &status, 0) != pid) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace ctdump::channel::testing

#endif  // CTDUMP_CHANNEL_CHANNEL_TEST_UTIL_H_
