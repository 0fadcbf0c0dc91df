#include "sys/signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace ctdump::sys {
namespace {

std::atomic<int> g_signal{0};
std::atomic<int> g_count{0};
int g_pipe[2] = {-1, -1};

void Handler(int sig) {
  int saved = errno;
  g_signal.store(sig);
  g_count.fetch_add(1);
  if (g_pipe[1] >= 0) {
    char c = 1;
    [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &c, 1);
  }
  errno = saved;
}

}  // namespace

void InstallInterruptHandlers() {
  if (g_pipe[0] >= 0) return;
  if (::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) g_pipe[0] = g_pipe[1] = -1;
  struct sigaction sa {};
  sa.sa_handler = Handler;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int InterruptSignal() { return g_signal.load(); }

int InterruptCount() { return g_count.load(); }

Status CheckInterrupted() {
  if (g_signal.load() != 0) return CancelledError("interrupted by signal");
  return Status::OK();
}

int InterruptFd() { return g_pipe[0]; }

void ResetInterruptForTest() {
  g_signal.store(0);
  g_count.store(0);
  char buf[64];
  while (g_pipe[0] >= 0 && ::read(g_pipe[0], buf, sizeof(buf)) > 0) {
  }
}

}  // namespace ctdump::sys
