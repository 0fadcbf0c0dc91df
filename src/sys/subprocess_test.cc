#include "sys/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "sys/signals.h"

namespace ctdump::sys {
namespace {

std::string ReadAllFd(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

TEST(SubprocessTest, CapturesStdoutAndExitCode) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo hi; exit 3"};
  o.pipe_stdout = true;
  auto p = Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(ReadAllFd(p->stdout_fd().get()), "hi\n");
  auto st = p->Wait();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(DescribeWaitStatus(*st), "exited with code 3");
  EXPECT_FALSE(ExitedOk(*st));
}

TEST(SubprocessTest, PassedDescriptorsArriveAsThreeFourAndNothingElse) {
  int a[2], b[2], other[2];
  ASSERT_EQ(::pipe(a), 0);
  ASSERT_EQ(::pipe(b), 0);
  ASSERT_EQ(::pipe(other), 0);  // not passed: must not reach the program
  SpawnOptions o;
  // Swapped on purpose: b's write end becomes 3, a's 4 (sources and
  // targets may overlap).
  o.argv = {"sh", "-c", "echo three >&3; echo four >&4; ls /proc/self/fd | sort -n | tr '\\n' ' '"};
  o.pass_fds = {b[1], a[1]};
  o.pipe_stdout = true;
  auto p = Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ::close(a[1]);
  ::close(b[1]);
  std::string fds = ReadAllFd(p->stdout_fd().get());
  ASSERT_TRUE(p->Wait().ok());
  EXPECT_EQ(ReadAllFd(b[0]), "three\n");
  EXPECT_EQ(ReadAllFd(a[0]), "four\n");
  // 0, 1, 2, 3, 4 and the one ls opens to list the directory.
  EXPECT_EQ(fds.substr(0, 10), "0 1 2 3 4 ") << fds;
  EXPECT_EQ(std::count(fds.begin(), fds.end(), ' '), 6) << fds;
  for (int fd : {a[0], b[0], other[0], other[1]}) ::close(fd);
}

// After an earlier signal (a job-abort hook runs after the interruption)
// RunCommand waits for its command without spinning on the self-pipe.
TEST(SubprocessTest, RunCommandAfterASignalDoesNotSpin) {
  InstallInterruptHandlers();
  ::kill(::getpid(), SIGHUP);
  ASSERT_NE(InterruptCount(), 0);
  struct rusage before, after;
  ::getrusage(RUSAGE_SELF, &before);
  SpawnOptions o;
  o.argv = {"sleep", "0.5"};
  auto r = RunCommand(o);
  ::getrusage(RUSAGE_SELF, &after);
  ResetInterruptForTest();
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto cpu_us = [](const struct rusage& u) {
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000L + u.ru_utime.tv_usec +
           u.ru_stime.tv_usec;
  };
  // Spinning for the half second would burn about that much CPU.
  EXPECT_LT(cpu_us(after) - cpu_us(before), 100000L);
}

TEST(SubprocessTest, ExecFailureIsAnErrorNamingTheProgram) {
  SpawnOptions o;
  o.argv = {"/nonexistent/ctdump-provider"};
  auto p = Spawn(o);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kNotFound);
  EXPECT_NE(p.status().message().find("/nonexistent/ctdump-provider"), std::string::npos);
}

TEST(SubprocessTest, WaitForTimesOutThenDestructorKills) {
  pid_t pid;
  {
    SpawnOptions o;
    o.argv = {"sleep", "100"};
    auto p = Spawn(o);
    ASSERT_TRUE(p.ok());
    pid = p->pid();
    auto r = p->WaitFor(std::chrono::milliseconds(20));
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value());
  }
  EXPECT_EQ(::kill(pid, 0), -1);  // reaped: no such process
}

TEST(SubprocessTest, ExtraEnvOverrides) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "printf %s \"$CTDUMP_X\""};
  o.extra_env = {"CTDUMP_X=42"};
  o.pipe_stdout = true;
  auto p = Spawn(o);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(ReadAllFd(p->stdout_fd().get()), "42");
  ASSERT_TRUE(p->Wait().ok());
}

TEST(SubprocessTest, RunCommandMergesOutput) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo out; echo err >&2; exit 1"};
  auto r = RunCommand(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "out\nerr\n");
  EXPECT_TRUE(WIFEXITED(r->wait_status));
  EXPECT_EQ(WEXITSTATUS(r->wait_status), 1);
}

TEST(SubprocessTest, ChildHookFailureIsReported) {
  SpawnOptions o;
  o.argv = {"true"};
  SpawnHooks hooks;
  hooks.child = [](const char** stage) {
    *stage = "test stage";
    return EPERM;
  };
  auto p = Spawn(o, &hooks);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("test stage"), std::string::npos);
}

}  // namespace
}  // namespace ctdump::sys
