#include "server/daemon.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "channel/channel.h"
#include "sys/file.h"

namespace ctdump::server {
namespace {

using Clock = std::chrono::steady_clock;

TEST(ListenTest, AddressesAndErrors) {
  auto fd = Listen("127.0.0.1:0");
  ASSERT_TRUE(fd.ok()) << fd.status().message();
  auto port = BoundPort(fd->get());
  ASSERT_TRUE(port.ok());
  EXPECT_GT(*port, 0);
  // The same port again is taken.
  auto again = Listen("127.0.0.1:" + std::to_string(*port));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("127.0.0.1:" + std::to_string(*port)), std::string::npos);
  EXPECT_TRUE(Listen("[::1]:0").ok() || Listen("[::]:0").ok());
  for (const char* bad : {"8007", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "host:80",
                          "[::1:80", "1.2.3.4.5:80", "127.0.0.1:-1", ":80x"}) {
    auto r = Listen(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("ADDR:PORT"), std::string::npos) << bad;
  }
}

// A "proxy" that breaks the protocol in a new way at each start, logging
// what it did and what came back to it.
constexpr const char* kHostileProxy = R"PY(
import os, socket, sys, time
log = sys.argv[1]
n = 1 + (sum(l.startswith("start") for l in open(log)) if os.path.exists(log) else 0)
def say(m):
    with open(log, "a") as f:
        f.write(m + "\n")
say("start %d" % n)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=3)
if n == 1:
    s.send(b"XXXX\x01\x00\x00\x00")            # a bad magic
elif n == 2:
    s.send(b"CTQ1\x07\x00\x00\x00")
    msg, fds, _, _ = socket.recv_fds(s, 64, 1)
    ch = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=fds[0])
    ch.sendall(b"CTR1\xff\xff\xff\x7f" + b"{" * 100)   # a 2 GiB header
    ch.settimeout(10)
    got = b""
    try:
        while True:
            b = ch.recv(4096)
            if not b:
                break
            got += b
    except Exception as e:
        say("error %s" % e)
    say("answer %d bytes" % len(got))
    socket.send_fds(s, [b"CTQ1\x08\x00\x00\x00"], [0])  # a descriptor from the proxy
else:
    say("calm")
time.sleep(60)
)PY";

TEST(DaemonTest, RootHostileProxyIsRestartedAndAnsweredNothing) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto dir = sys::MakeTempDir("/tmp/ctdump-daemon-test.");
  ASSERT_TRUE(dir.ok());
  const std::string log = *dir + "/proxy.log";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    DaemonOptions o;
    o.listen = {"127.0.0.1:0"};
    o.proxy_command = {"/usr/bin/python3", "-c", kHostileProxy, log};
    o.request_threads = 2;
    int answered = 0;
    Status s = RunDaemon(o, [&answered](int fd) {
      auto r = channel::ReadRequest(fd, Clock::now() + std::chrono::seconds(5));
      if (r.ok()) ++answered;  // never: no request here is well-formed
    });
    ::_exit(s.ok() && answered == 0 ? 0 : 1);
  }
  // Start 1: bad magic → restart (1 s); start 2: a bad request gets no
  // answer, then a descriptor → restart (2 s); start 3: calm.
  auto deadline = Clock::now() + std::chrono::seconds(30);
  std::string text;
  while (Clock::now() < deadline) {
    auto t = sys::ReadFile(log);
    text = t.ok() ? *t : "";
    if (text.find("calm") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // (The closed channel may also show as a reset: "error ... reset by peer".)
  EXPECT_EQ(text.find("start 1\nstart 2\n"), 0u) << text;
  EXPECT_NE(text.find("answer 0 bytes\nstart 3\ncalm\n"), std::string::npos) << text;
  // The daemon is up, and stops cleanly on SIGTERM (killing its proxy).
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "the daemon died";
  ::kill(pid, SIGTERM);
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  (void)sys::RemoveTree(*dir);
}

}  // namespace
}  // namespace ctdump::server
